"""Constraints: what a short prompt pins down, and whether an expansion keeps it.

`extract(prompt)` finds the constraints of a prompt; `check(prompt, expansion)` checks every one of them
against an expansion and returns a `ConstraintReport`. The checker is the RL reward gate (every
completion of every step), the per-expansion report of the API and a pass rate in evaluation, so it is
rule-based and fast: word lists (`lexicon.py`), lemminflect and inflect for word forms and numbers, and
all-MiniLM-L6-v2 word embeddings only as a fallback for subject synonyms no list knows.

Kinds:

* ``quoted_text`` -- text in quotes must appear verbatim (case included);
* ``count`` -- "three apples", "12 eggs", "a single rose", "a pair of boots";
* ``color`` -- a colour bound to its object ("a blue vase" needs a blue *vase*);
* ``subject`` -- the main nouns ("fox", "lighthouse");
* ``negation`` -- "no people", "without bananas", "free of", "lacking", "car-free", "windowless": the thing (or
  a kind of it, never its class: a bowl of fruit without bananas may show fruit) must not appear outside a
  negation; emptiness words ("empty", "deserted", "alone", "nobody", "nothing but") admit no person or animal the
  prompt does not name. Double negatives, "no-frills", "No Man's Sky", "nobody's fool" negate nothing;
* ``style`` -- medium, technique or era ("watercolor", "pixel art", "1970s film"), and the style words of
  "X painting / X illustration / X photo / in the style of X" ("a digital painting", "in the style of Van Gogh");
* ``viewpoint`` -- "close-up", "top-down", "low-angle", "wide shot";
* ``spatial`` -- "on top of", "under", "left of", "behind", "inside";
* ``attribute`` -- other facts about the scene or an object ("at night", "snowy", "wooden", "old").

Opinion words ("beautiful", "cozy") and adjectives no list knows are *soft* attributes: they lower the
score when lost but never fail the report. Everything else is *hard*.

Where things are, to review one kind at a time: `types.py` (the data and the report), `extract.py` (the
extraction order; one extractor per kind over a `PromptContext`, `prompt_context.py`: `extract_scene.py` for
quoted text, negation, style and viewpoint, `emptiness.py`, `style_terms.py`, `negation.py` for negation scope,
`extract_objects.py` for the kinds bound to objects), `check.py` (the report; one checker per kind over an
`ExpansionDoc`, `expansion.py`, in `check_scene.py` and `check_objects.py`), `tables.py`, `lexicon.py`,
`style_words.py` and `concepts.py` (word lists), `text.py` (tokens, word forms, MiniLM), `added_subjects.py`
(what an expansion must not add: people, animals, creatures the prompt neither names nor implies; listed in
`ConstraintReport.added`), `added_negations.py` (exclusions the prompt never asked for: "There are no boats in the
frame" for "a lone tree on a hill"; the RL penalty and a benchmark column, not part of the report).
`require_constraints()` raises `MissingExtraError` when the `constraints` extra is not installed.
"""

from expander.constraints.added_negations import AddedNegation, added_negations
from expander.constraints.added_subjects import AddedSubject, added_subjects
from expander.constraints.check import check
from expander.constraints.check_objects import SOFT_SIMILARITY
from expander.constraints.expansion import SYNONYM_SIMILARITY
from expander.constraints.extract import extract
from expander.constraints.text import require_constraints
from expander.constraints.types import KINDS, SOFT_WEIGHT, Constraint, ConstraintReport, Violation

__all__ = [
    "KINDS",
    "SOFT_SIMILARITY",
    "SOFT_WEIGHT",
    "SYNONYM_SIMILARITY",
    "AddedNegation",
    "AddedSubject",
    "Constraint",
    "ConstraintReport",
    "Violation",
    "added_negations",
    "added_subjects",
    "check",
    "extract",
    "require_constraints",
]
