"""Checking: whether an expansion keeps each constraint of its prompt, one checker per kind.

Every checker takes a `Constraint` and the `ExpansionDoc` of the expansion and returns None when the
constraint holds, else a short reason naming the change ("color 'a blue vase' became 'red vase'").
`check` runs them all and builds the `ConstraintReport` (the RL gate, the API's report, the eval pass
rate). A colour, count or relation restated word for word in the expansion holds whatever the rules
make of the words around it.

The checkers live beside their extractors' split: `check_scene.py` (quoted text, negation, style, viewpoint),
`emptiness.py` (the negations "empty", "deserted", "alone": it needs the prompt, to let in what it names) and
`check_objects.py` (colour, count, subject, attribute, spatial).
"""

from __future__ import annotations

from functools import lru_cache

from expander.constraints.added_subjects import added_subjects
from expander.constraints.check_objects import (
    check_attribute,
    check_color,
    check_count,
    check_spatial,
    check_subject,
    is_article_count,
    spatial_clash,
)
from expander.constraints.check_scene import check_negation, check_quoted_text, check_style, check_viewpoint
from expander.constraints.emptiness import check_emptiness, is_emptiness
from expander.constraints.expansion import ExpansionDoc, span_words
from expander.constraints.extract import extract_cached, require_str
from expander.constraints.types import SOFT_WEIGHT, Constraint, ConstraintReport, Violation

__all__ = ["check"]

_RESTATABLE = frozenset({"color", "count", "spatial"})


def _restated(c: Constraint, doc: ExpansionDoc) -> bool:
    """Whether the expansion restates the constraint's own span word for word ("two red apples on a
    crate"): the same words in the same order carry the same binding, whatever the rules make of the
    text around them. (Negations are not restated this way: "no people ... a crowd" breaks one; nor a count of
    "a"/"an": "a bear: two bears"; nor a direction stated the other way elsewhere: `spatial_clash`.)"""
    if is_article_count(c) or spatial_clash(c, doc):
        return False
    want = span_words(c.text)
    if not want:
        return False
    w, k = doc.words, len(want)
    return any(w[i : i + k] == want for i in doc.positions(want[0]))


_CHECKS = {
    "quoted_text": check_quoted_text,
    "count": check_count,
    "color": check_color,
    "subject": check_subject,
    "negation": check_negation,
    "style": check_style,
    "viewpoint": check_viewpoint,
    "spatial": check_spatial,
    "attribute": check_attribute,
}


@lru_cache(maxsize=4096)
def _prompt_doc(prompt: str) -> ExpansionDoc:
    return ExpansionDoc(prompt)


def check(prompt: str, expansion: str) -> ConstraintReport:
    """Check an expansion against every constraint of the prompt.

    Args:
        prompt: the short prompt whose constraints must hold.
        expansion: the text to check (an expansion, or a long caption when filtering synthesised pairs).

    Returns:
        A `ConstraintReport`; `ok` is False when any hard constraint is violated; `added` lists the subjects
        the expansion adds (`added_subjects`).

    Raises:
        ValueError: if either argument is not a str.
    """
    constraints = extract_cached(require_str("prompt", prompt))
    doc = ExpansionDoc(require_str("expansion", expansion))
    satisfied, violated = [], []
    for c in constraints:
        if c.kind in _RESTATABLE and _restated(c, doc):
            reason = None
        elif is_emptiness(c):  # what the prompt itself names may be there: it needs the prompt
            reason = check_emptiness(c, doc, prompt)
        elif c.kind == "negation":  # so does a compound of its own ("bike rack" beside "no bicycles")
            reason = check_negation(c, doc, _prompt_doc(prompt))
        else:
            reason = _CHECKS[c.kind](c, doc)
        if reason is None:
            satisfied.append(c)
        else:
            violated.append(Violation(c, reason))
    total = sum(1.0 if c.hard else SOFT_WEIGHT for c in constraints)
    kept = sum(1.0 if c.hard else SOFT_WEIGHT for c in satisfied)
    return ConstraintReport(
        ok=not any(v.constraint.hard for v in violated),
        score=kept / total if total else 1.0,
        satisfied=satisfied,
        violated=violated,
        added=added_subjects(prompt, expansion),
    )
