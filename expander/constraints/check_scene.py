"""Checking the scene-wide kinds: quoted text, negation, style and viewpoint, one checker per kind.

Each checker takes a `Constraint` and the `ExpansionDoc` of the expansion and returns None when the
constraint holds, else a short reason naming the change ("viewpoint 'close-up' became 'wide shot'").
"""

from __future__ import annotations

from expander.constraints import lexicon as lx
from expander.constraints.expansion import ExpansionDoc
from expander.constraints.negation import OF_CUES, PARTITIVES, excluded_forms
from expander.constraints.style_terms import check_style_term
from expander.constraints.tables import BOUNDARY, NEGATION_CUES, decade, tables
from expander.constraints.text import CLAUSE_END, forms, is_plural, is_verb_form, pos_tags, split_phrases
from expander.constraints.types import Constraint

__all__ = ["check_negation", "check_quoted_text", "check_style", "check_viewpoint", "negated_after", "negated_at"]


# --- quoted_text ----------------------------------------------------------------------------------


def check_quoted_text(c: Constraint, doc: ExpansionDoc) -> str | None:
    """``quoted_text``: holds when the quoted text appears verbatim (whitespace and curly quotes
    normalised); fails as "changed to" when it appears in another case, else as "missing"."""
    norm = " ".join(doc.text.replace("\u201c", '"').replace("\u201d", '"').split())
    want = " ".join(c.value.split())
    if want in norm:
        return None
    if want.lower() in norm.lower():
        i = norm.lower().index(want.lower())
        return f"quoted text '{want}' changed to '{norm[i : i + len(want)]}'"
    return f"quoted text '{want}' missing"


# --- negation -------------------------------------------------------------------------------------


# "no sign of cars", "not a trace of people", "not a sheet of paper" (the prompt side's partitives): the mention is
# still inside the negated phrase.
_TRACE_NOUNS = frozenset("sign signs trace traces hint hints evidence kind sort type".split()) | PARTITIVES
_IN_NEGATED_PHRASE = frozenset("any one single other more".split())


def _opens_negation(words: list[str], j: int) -> bool:
    """A cue at j: "no", "without", "not", ...; or the "of" of "free of", "devoid of", "instead of", "none of";
    the "from" of "free from"; the "than" of "rather than"."""
    w, prev = words[j], words[j - 1] if j > 0 else ""
    return (
        w in NEGATION_CUES
        or (w == "of" and prev in OF_CUES | {"instead", "none", "short"})
        or (w == "from" and prev == "free")
        or (w == "than" and prev == "rather")
    )


def _list_closed(words: list[str], j: int, k: int) -> bool:
    """Whether a comma at j inside a negated list is closed by "or"/"nor" ("no people, cars or signs")."""
    for x in words[j + 1 : min(len(words), k + 5)]:
        if x in CLAUSE_END:
            return False
        if x in ("or", "nor"):
            return True
    return False


def negated_at(doc: ExpansionDoc, k: int) -> bool:
    """Whether the mention at k is inside the noun phrase a negation cue opens: "no cars", "not a single car",
    "free of parked cars", "no sign of cars", "no people, cars or signs", "apples instead of bananas", "the
    now-absent statue". The phrase ends at a clause end, a function word, an article that no cue or list joint
    precedes, or a comma that no "or"/"nor" closes: "no people, cars parked along the curb" mentions cars."""
    words = doc.words
    for j in range(k - 1, max(-1, k - 9), -1):
        w = words[j]
        if _opens_negation(words, j) or (j == k - 1 and w in _ABSENT_BEFORE):
            return True
        if w in CLAUSE_END or (w == "," and not _list_closed(words, j, k)):
            return False
        if w in (",", "or", "nor", "and") or w in _IN_NEGATED_PHRASE:
            continue
        if w in ("a", "an", "the"):
            if j > 0 and (_opens_negation(words, j - 1) or words[j - 1] in ("or", "nor", "of", ",")):
                continue
            return False
        if w == "of" and j > 0 and words[j - 1] in _TRACE_NOUNS:
            continue
        if w in BOUNDARY or (is_verb_form(w) and not w.endswith(("ed", "ing"))):
            return False  # "no people with cars", "no one drives cars": the phrase has ended
    return False


_AFTER_NEGATION = frozenset("missing absent gone removed blank bare empty".split())
_ABSENT_BEFORE = frozenset("missing absent vanished".split())


_ABSENT_AFTER_NOT = frozenset(
    "present visible there here seen shown pictured included anywhere arrived around in yet".split()
)


def negated_after(doc: ExpansionDoc, k: int) -> bool:
    """ "the clock face is missing", "its face left blank", "the guests have not yet arrived", "a car-free
    street": a negation after the mention."""
    if k + 1 < len(doc.words) and doc.words[k + 1] == "free":
        if doc.text[doc.tokens[k].end : doc.tokens[k + 1].start] == "-":
            return True
    for j in range(k + 1, min(len(doc.words), k + 7)):
        w = doc.words[j]
        if w in CLAUSE_END or w == ",":
            return False
        if w in _AFTER_NEGATION:
            return True
        if (
            w in ("not", "never")
            and j + 1 < len(doc.words)
            and doc.words[j + 1] in _ABSENT_AFTER_NOT
            and all(x in lx.AUXILIARIES for x in doc.words[k + 1 : j])
        ):
            return True
    return False


def _verb_use(doc: ExpansionDoc, k: int) -> bool:
    """The word at k is a verb after a plural subject ("low mesas silhouette the distance", "people
    crowd the square"), not the thing it can also name."""
    w = doc.words
    return (
        0 < k < len(w) - 1
        and is_plural(w[k - 1])
        and not is_plural(w[k])
        and w[k + 1] in lx.DETERMINERS
        and "VERB" in pos_tags(w[k])
    )


def check_negation(c: Constraint, doc: ExpansionDoc, prompt: ExpansionDoc | None = None) -> str | None:
    """``negation``: holds unless the negated thing (any form, or a kind of it, `negation.excluded_forms`:
    "people" covers "woman", "crowd"; "bananas" does not cover "fruit" or "apples") is mentioned outside a
    negation ("no cars", "the face is missing", "the now-absent statue") and not as a verb ("people crowd the
    square"). For "no other X" the prompt's own
    things of that kind (`target`: "no other vehicles" beside "a truck") are not others. With `prompt` (the
    prompt as a doc), a compound the prompt itself names outside the negation is not the thing either: "the
    absence of bicycles" beside the prompt's own "bike rack" lets "bike rack" through, not "a bike"."""
    targets = excluded_forms(c.value)
    if c.target:  # "no other vehicles": the prompt's own truck is not another vehicle
        named = set().union(*(forms(w) for w in c.target.split()))
        targets = frozenset(t for t in targets if not forms(t) & named)
    own = _own_compounds(prompt, targets) if prompt is not None else frozenset()
    for k, f in enumerate(doc.forms):
        if f & targets and not negated_at(doc, k) and not negated_after(doc, k) and not _verb_use(doc, k):
            if k + 1 < len(doc.words) and (doc.words[k].lower(), doc.words[k + 1].lower()) in own:
                continue
            return f"negation '{c.text}' broken: '{doc.words[k]}' appears"
    return None


def _own_compounds(prompt: ExpansionDoc, targets: frozenset[str]) -> frozenset[tuple[str, str]]:
    """(word, next word) pairs of the prompt whose first word is an excluded form used outside a negation, as the
    first half of a noun compound ("bike rack")."""
    out = set()
    for k in range(len(prompt.words) - 1):
        if prompt.forms[k] & targets and not negated_at(prompt, k) and prompt.words[k + 1].isalpha():
            if "NOUN" in pos_tags(prompt.words[k + 1].lower()):
                out.add((prompt.words[k].lower(), prompt.words[k + 1].lower()))
    return frozenset(out)


# --- style ----------------------------------------------------------------------------------------


def check_style(c: Constraint, doc: ExpansionDoc) -> str | None:
    """``style``: holds when a phrase of the family (prompt or expansion-only wording) is there, or for
    an era the same decade. Fails naming the style or decade that replaced it (a style of the same
    medium group first), else as missing."""
    t = tables()
    if c.value.startswith("term:"):
        return check_style_term(c, doc)
    if c.value.startswith("era:"):
        want = c.value[4:]
        decades = {decade(w) for w in doc.words} - {None}
        if want in decades:
            return None
        return f"style '{c.text}' became '{sorted(decades)[0]}'" if decades else f"style '{c.text}' missing"
    if doc.has_any(t.style_accept[c.value]):
        return None
    medium = t.medium_of.get(c.value)
    found = [f for _, _, f in t.style_report_index.find(doc.words) if f != c.value]
    clash = [f for f in found if medium and t.medium_of.get(f) and t.medium_of[f] != medium] or found
    return f"style '{c.text}' became '{clash[0]}'" if clash else f"style '{c.text}' missing"


# --- viewpoint ------------------------------------------------------------------------------------


def check_viewpoint(c: Constraint, doc: ExpansionDoc) -> str | None:
    """``viewpoint``: holds when a phrase of the family is there; fails naming an opposite framing that
    took its place ("close-up" -> "wide shot"), else as missing."""
    t = tables()
    if doc.has_any(t.view_accept[c.value]):
        return None
    opposites = split_phrases(lx.VIEWPOINT_OPPOSITES.get(c.value, ""))
    for fam in opposites:
        hit = doc.has_any(t.view_accept[fam])
        if hit:
            return f"viewpoint '{c.text}' became '{' '.join(hit)}'"
    return f"viewpoint '{c.text}' missing"
