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
* ``negation`` -- "no people", "without bananas", "windowless", "deserted": the thing must not appear;
* ``style`` -- medium, technique or era ("watercolor", "pixel art", "1970s film");
* ``viewpoint`` -- "close-up", "top-down", "low-angle", "wide shot";
* ``spatial`` -- "on top of", "under", "left of", "behind", "inside";
* ``attribute`` -- other facts about the scene or an object ("at night", "snowy", "wooden", "old").

Opinion words ("beautiful", "cozy") and adjectives no list knows are *soft* attributes: they lower the
score when lost but never fail the report. Everything else is *hard*.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from expander.constraints import lexicon as lx
from expander.constraints.text import (
    CLAUSE_END,
    PhraseIndex,
    Token,
    can_be_noun,
    forms,
    noun_forms,
    is_plural,
    is_verb_form,
    normalise_phrase,
    number_words,
    pos_tags,
    similarities,
    split_phrases,
    tokenize,
)

__all__ = ["KINDS", "Constraint", "ConstraintReport", "Violation", "check", "extract"]

KINDS = ("quoted_text", "count", "color", "subject", "negation", "style", "viewpoint", "spatial", "attribute")

SOFT_WEIGHT = 0.5
"""Weight of a soft constraint in `score` (a hard one weighs 1)."""

SYNONYM_SIMILARITY = 0.75
"""MiniLM cosine above which an unknown word counts as a synonym of a subject (puppy/dog 0.80, dog/cat 0.66)."""

SOFT_SIMILARITY = 0.6
"""MiniLM cosine above which a word paraphrases a soft attribute."""


@dataclass(frozen=True)
class Constraint:
    """One thing the prompt pins down.

    Attributes:
        kind: one of `KINDS`.
        text: the span of the prompt that states it ("three apples", "no people").
        binds_to: the object it is about ("vase" for "a blue vase"; the first object of a relation);
            None for scene-wide constraints.
        hard: whether a violation fails the report (`ok`); soft ones only lower `score`.
        value: the normalised content: colour family, count, style/viewpoint family, relation,
            attribute group, the negated or subject noun, or the quoted text.
        target: the second object of a spatial relation, or the first noun of a compound subject
            ("fence" in "fence post"); None otherwise.
        span: (start, end) character offsets of `text` in the prompt.
    """

    kind: str
    text: str
    binds_to: str | None = None
    hard: bool = True
    value: str | None = None
    target: str | None = None
    span: tuple[int, int] = (0, 0)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "text": self.text, "binds_to": self.binds_to, "hard": self.hard,
                "value": self.value, "target": self.target, "span": list(self.span)}


@dataclass(frozen=True)
class Violation:
    """A constraint the expansion broke, with a short human-readable reason."""

    constraint: Constraint
    reason: str

    def to_dict(self) -> dict:
        return {"constraint": self.constraint.to_dict(), "reason": self.reason}


@dataclass
class ConstraintReport:
    """The result of `check`.

    Attributes:
        ok: True when every hard constraint is satisfied.
        score: weighted share of satisfied constraints in [0, 1] (hard weigh 1, soft `SOFT_WEIGHT`);
            1.0 when the prompt pins nothing down.
        satisfied: constraints the expansion keeps.
        violated: constraints it breaks, each with a reason.
    """

    ok: bool
    score: float
    satisfied: list[Constraint] = field(default_factory=list)
    violated: list[Violation] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-serialisable form (used verbatim in API responses and evaluation tables)."""
        return {
            "ok": self.ok,
            "score": round(self.score, 4),
            "n_constraints": len(self.satisfied) + len(self.violated),
            "satisfied": [c.to_dict() for c in self.satisfied],
            "violated": [v.to_dict() for v in self.violated],
        }


# ---------------------------------------------------------------------------------------------------
# Tables built once per process
# ---------------------------------------------------------------------------------------------------

def _table(spec: dict[str, str]) -> dict[str, list[str]]:
    return {label: split_phrases(phrases) for label, phrases in spec.items()}


@lru_cache(maxsize=1)
def _tables():
    color_of: dict[str, set[str]] = {}
    for family, members in lx.COLOR_FAMILIES.items():
        for word in members.split():
            color_of.setdefault(word, set()).add(family)
    style_prompt = {f: split_phrases(p) for f, (p, _) in lx.STYLE_FAMILIES.items()}
    style_accept = {f: {normalise_phrase(x) for x in split_phrases(p) + split_phrases(e)}
                    for f, (p, e) in lx.STYLE_FAMILIES.items()}
    view = _table(lx.VIEWPOINT_FAMILIES)
    # In a prompt a phrase names the family it starts with: "bird's eye view" is bird's-eye, not top-down.
    def owned_by_other(f: str, p: str) -> bool:
        toks = normalise_phrase(p)
        return any(g != f and toks[:len(normalise_phrase(g))] == normalise_phrase(g) for g in view)

    view_prompt = {f: [p for p in ps if p not in lx.VIEWPOINT_PROMPT_EXCLUDE and not owned_by_other(f, p)]
                   for f, ps in view.items()}
    # Attribute phrases name the group that carries their own name first ("dusk" -> dusk, not sunset).
    attr = {g: (split_phrases(m), split_phrases(o)) for g, (m, o) in lx.ATTRIBUTE_GROUPS.items()}
    attr_prompt: dict[str, list[str]] = {g: [g] for g in attr}
    for g, (members, _) in attr.items():
        for m in members:
            if m not in attr:
                attr_prompt[g].append(m)
    concept_of: dict[str, set[str]] = {}
    for name, words in lx.CONCEPTS.items():
        for w in words.split():
            for f in noun_forms(w):
                concept_of.setdefault(f, set()).add(name)
    counts = {str(v): [k] for k, v in number_words().items()}
    for phrase, v in lx.COUNT_PHRASES.items():
        counts.setdefault(str(v), []).append(phrase)
    medium_of = {}
    for group, fams in lx.MEDIUM_GROUPS.items():
        for f in split_phrases(fams):
            medium_of[f] = group
    return {
        "color_of": color_of,
        "style_prompt_index": PhraseIndex(style_prompt),
        "style_accept": style_accept,
        "style_report_index": PhraseIndex(style_prompt),
        "medium_of": medium_of,
        "view_prompt_index": PhraseIndex(view_prompt),
        "view_accept": {f: {normalise_phrase(p) for p in ps} for f, ps in view.items()},
        "view_index": PhraseIndex(view),
        "attr": {g: ({normalise_phrase(p) for p in m}, {normalise_phrase(p) for p in o})
                 for g, (m, o) in attr.items()},
        "attr_index": PhraseIndex(attr_prompt),
        "spatial_prompt_index": PhraseIndex(_table(lx.SPATIAL_PROMPT_PHRASES)),
        "spatial_index": PhraseIndex(_table(lx.SPATIAL_FAMILIES)),
        "concept_of": concept_of,
        "count_index": PhraseIndex(counts),
    }


# Scene-wide groups: a head noun of these ("sunset over the sea") is an attribute, not a subject.
_SCENE_GROUPS = frozenset(
    "night day sunset sunrise dusk dawn golden hour morning evening snowy rainy foggy stormy sunny cloudy "
    "windy winter summer autumn spring full moon crescent moon starry underwater".split()
) | {"golden hour", "full moon", "crescent moon"}
_NEGATION_CUES = frozenset("no without not nor never free devoid absent absence lacking lack zero none "
                           "nobody neither minus sans void empty".split())
_IMPLIED_NEGATIONS = {"deserted": "people", "uninhabited": "people", "unpopulated": "people",
                      "unoccupied": "people", "peopleless": "people", "cloudless": "cloud"}
# Colour names that are also nouns but read as colours before a noun in prompts ("a gold ring").
_PROMPT_AMBIGUOUS_COLORS = frozenset(
    "gold silver orange ivory cream amber bronze copper turquoise fuchsia lavender violet lilac magenta indigo".split()
)
_WEAK_STYLE_WORDS = frozenset(
    "painting drawing sketch illustration render pencil ink charcoal chalk crayon clay film comic graffiti "
    "mosaic sculpture statue pixel sprite oils 3d analog pastels pastel painted drawn illustrated rendered "
    "sketched embroidered sculpted blender vector flat cartoon polaroid photo".split()
)
_MEDIUM_NOUNS = frozenset("of style drawing sketch painting illustration art artwork render print photo "
                          "photograph portrait image picture rendering aesthetic".split())
# The request around the content ("can you make ...", "I want a picture of ...") is not part of the image.
_REQUEST_RE = re.compile(
    r"(?:^|(?<=[.!?;]))\s*(?:(?:hey|hi|hello|ok|okay|so)\b[,!]?\s*)?(?:please\s+)?"
    r"(?:(?:can|could|would|will)\s+you\s+(?:please\s+)?|i\s*(?:'d|would)\s+like(?:\s+to\s+(?:see|have|get))?\s+"
    r"|i\s+(?:want|need)(?:\s+to\s+(?:see|have|get))?\s+|(?:let\s+me\s+see|give\s+me|show\s+me)\s+)?"
    r"(?:(?:make|draw|create|generate|render|paint|design|produce|imagine|show|give)\s+(?:me\s+|us\s+)?)?"
    r"(?:(?:(?:an?|the|some)\s+)?(?:picture|image|pic)s?\s+(?:of|showing|with)\s+)?"
    r"(?:please\s+)?",
    re.IGNORECASE,
)

_QUOTE_RE = re.compile(r"\"([^\"]+)\"|\u201c([^\u201d]+)\u201d|(?<![\w'])'([^']+)'(?![\w])")
_DECADE_RE = re.compile(r"^(?:1[89]|20)?([0-9])0s$")
_DECADE_WORDS = {"twenties": "2", "thirties": "3", "forties": "4", "fifties": "5", "sixties": "6",
                 "seventies": "7", "eighties": "8", "nineties": "9"}
_BOUNDARY = lx.DETERMINERS | lx.PREPOSITIONS | lx.CONJUNCTIONS | lx.AUXILIARIES
# Words between a count and its noun that end the count's phrase; "front", "top", "left" and "right" are
# also nouns and adjectives ("two front teeth").
_COUNT_NOUNISH = frozenset({"front", "top", "left", "right", "of"})
_COUNT_STOP = (lx.PREPOSITIONS - _COUNT_NOUNISH) | lx.CONJUNCTIONS | lx.AUXILIARIES
_COUNT_THROUGH = _COUNT_NOUNISH | {"a", "an", "both"}


def _decade(word: str) -> str | None:
    m = _DECADE_RE.match(word)
    if m:
        return m.group(1) + "0s"
    d = _DECADE_WORDS.get(word)
    return d + "0s" if d else None


def _require_str(name: str, value) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a str, got {type(value).__name__}")
    return value


# ---------------------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------------------

def extract(prompt: str) -> list[Constraint]:
    """The constraints a prompt pins down, in the order they appear.

    Args:
        prompt: the short user prompt.

    Returns:
        A new list of `Constraint` (extraction is cached per prompt; the list is a copy).

    Raises:
        ValueError: if `prompt` is not a str.
    """
    return list(_extract(_require_str("prompt", prompt)))


@lru_cache(maxsize=8192)
def _extract(prompt: str) -> tuple[Constraint, ...]:
    t = _tables()
    out: list[Constraint] = []

    quoted: list[tuple[int, int]] = []
    for m in _QUOTE_RE.finditer(prompt):
        inner = next(g for g in m.groups() if g is not None)
        quoted.append((m.start(), m.end()))
        if inner.strip():
            out.append(Constraint("quoted_text", m.group(), value=inner.strip(), span=(m.start(), m.end())))

    toks = [tok for tok in tokenize(prompt) if not any(a <= tok.start < b for a, b in quoted)]
    # A quoted span leaves a boundary behind so that words around it do not fuse into one phrase.
    for a, b in quoted:
        idx = next((i for i, tok in enumerate(toks) if tok.start >= b), len(toks))
        toks.insert(idx, Token(",", a, b))
    words = [tok.text for tok in toks]
    n = len(words)
    used = [w in (",",) or toks[i].is_punct for i, w in enumerate(words)]
    for m in _REQUEST_RE.finditer(prompt):
        if m.end() > m.start():
            for i, tok in enumerate(toks):
                if m.start() <= tok.start < m.end():
                    used[i] = True

    def span_text(i: int, j: int) -> tuple[str, tuple[int, int]]:
        s, e = toks[i].start, toks[j - 1].end
        return prompt[s:e], (s, e)

    def mark(i: int, j: int) -> None:
        for k in range(i, j):
            used[k] = True

    # Negation: a cue and the nouns in its scope; "-less" words; words that imply "no people".
    negated: list[tuple[int, int, int, str]] = []  # (cue start, head index, span end, noun)
    for i, w in enumerate(words):
        if used[i] and not toks[i].is_punct:
            continue
        if w in ("nobody", "noone") or (w == "no" and i + 1 < n and words[i + 1] == "one"):
            end = i + (2 if w == "no" else 1)
            negated.append((i, i, end, "people"))
            mark(i, end)
        elif w in ("no", "without", "not", "zero", "nor") or (
                w in ("free", "devoid") and i + 1 < n and words[i + 1] == "of"):
            k = i + (2 if w in ("free", "devoid") else 1)
            while k < n:
                while k < n and (words[k] in lx.DETERMINERS or words[k] in ("any", "visible", "single")
                                 or (is_verb_form(words[k]) and words[k].endswith("ing"))):
                    k += 1
                start = k
                while k < n and not toks[k].is_punct and words[k] not in _BOUNDARY:
                    k += 1
                if k == start:
                    break
                head = words[k - 1]
                if negated and negated[-1][0] == i and not _noun_like(head):
                    break  # the scope ends with the noun phrase: "no harsh shadows, tactile and playful"
                negated.append((i, k - 1, k, head))
                # Lists continue over "or"/"nor", and over commas only when an "or"/"nor" closes the list
                # ("no cars, trucks or buses"; but "no people, wide shot" ends at the comma).
                closes = any(x in ("or", "nor") for x in words[k:k + 6]) and not any(
                    x in CLAUSE_END for x in words[k:k + 6][:next((m for m, x in enumerate(words[k:k + 6])
                                                                  if x in ("or", "nor")), 0)])
                if k < n and (words[k] in ("or", "nor") or (words[k] in (",", "and") and closes)) \
                        and k + 1 < n and words[k + 1] not in lx.DETERMINERS:
                    k += 1
                    if k < n and words[k] in ("or", "nor"):
                        k += 1
                    continue
                break
            if negated and negated[-1][0] == i:
                mark(i, negated[-1][2])
        elif w in lx.NEGATING_LESS:
            negated.append((i, i, i + 1, w[:-4]))
            mark(i, i + 1)
        elif w in _IMPLIED_NEGATIONS:
            negated.append((i, i, i + 1, _IMPLIED_NEGATIONS[w]))
            mark(i, i + 1)
    for cue, head, end, noun in negated:
        text, span = span_text(cue, end)
        out.append(Constraint("negation", text, value=noun, span=span))

    # Style: multi-word phrases and unambiguous words always; weak words only where they name a medium.
    for i, j, family in t["style_prompt_index"].find(words):
        if any(used[i:j]):
            continue
        phrase = " ".join(words[i:j])
        nxt = words[j] if j < n else "."
        prev = words[i - 1] if i > 0 else "."
        if phrase == "black and white" and not (nxt in _MEDIUM_NOUNS or nxt in ".,;" or prev == "in"):
            continue  # "a black and white cat" is two colours
        if j - i == 1 and phrase in _WEAK_STYLE_WORDS and not (
            nxt in _MEDIUM_NOUNS or nxt in ".,;" or prev in ("in", "as", ",") or j == n
        ):
            continue  # "a clay pot", "a pencil on a desk"
        text, span = span_text(i, j)
        out.append(Constraint("style", text, value=family, span=span))
        mark(i, j)
    for i, w in enumerate(words):
        if not used[i] and _decade(w):
            text, span = span_text(i, i + 1)
            out.append(Constraint("style", text, value="era:" + _decade(w), span=span))
            mark(i, i + 1)

    for i, j, family in t["view_prompt_index"].find(words):
        if any(used[i:j]):
            continue
        end = j + 1 if j < n and words[j] in ("shot", "view", "angle", "perspective") else j
        text, span = span_text(i, end)
        out.append(Constraint("viewpoint", text, value=family, span=span))
        mark(i, end)

    # Spatial phrases are resolved to objects after chunking; mark them now so they are not subjects.
    spatial_hits = []
    for i, j, rel in t["spatial_prompt_index"].find(words):
        if not any(used[i:j]):
            spatial_hits.append((i, j, rel))
            mark(i, j)

    # Multi-word attribute phrases ("at night", "golden hour", "full moon") are unambiguous.
    for i, j, group in t["attr_index"].find(words):
        if j - i > 1 and not any(used[i:j]):
            text, span = span_text(i, j)
            out.append(Constraint("attribute", text, value=group, span=span))
            mark(i, j)

    # Counts: number words, digits and phrases like "a pair of"; bound to the noun that follows.
    counts = []
    for i, j, value in t["count_index"].find(words):
        if any(used[i:j]) or (j < n and words[j] == "of" and words[i] not in ("a",) and "of" not in words[i:j]):
            continue  # "one of the cats" is not a count
        counts.append((i, j, int(value)))
        mark(i, j)
    for i, w in enumerate(words):
        # A bare number counts; "f/1.8", "4:3" and "2020" do not.
        near = prompt[max(0, toks[i].start - 1):toks[i].end + 1]
        if not used[i] and w.isdigit() and 0 < int(w) <= 1000 and not any(ch in near for ch in "./:"):
            counts.append((i, i + 1, int(w)))
            mark(i, i + 1)

    chunks = _chunks(words, used, toks)
    head_at: dict[int, int] = {}  # token index -> chunk head index
    for chunk in chunks:
        for k in chunk["tokens"]:
            head_at[k] = chunk["head"]

    def next_head(j: int) -> int | None:
        for k in range(j, min(n, j + 8)):
            if words[k] in CLAUSE_END or words[k] == ",":
                return None
            if k in head_at and head_at[k] is not None:
                return head_at[k]
        return None

    def prev_head(i: int) -> int | None:
        for k in range(i - 1, max(-1, i - 10), -1):
            if words[k] in CLAUSE_END:
                return None
            if k in head_at and head_at[k] is not None:
                return head_at[k]
        return None

    def count_head(j: int) -> int | None:
        # A count binds to the noun phrase right after it; a verb or a preposition first means the count
        # names something said before ("Both have shaggy hair", "one with hands", "four in outfits").
        for k in range(j, min(n, j + 8)):
            if words[k] in CLAUSE_END or words[k] == ",":
                return None
            if k in head_at and head_at[k] is not None:
                return head_at[k]
            if k + 1 < n and prompt[toks[k].end:toks[k + 1].start] == "-":
                continue  # a hyphenated modifier ("a pair of over-ear headphones")
            if words[k] in _COUNT_STOP or (k not in head_at and is_verb_form(words[k])):
                return None
        return None

    for i, j, value in counts:
        h = count_head(j)
        if h is None:
            continue
        text, span = span_text(i, h + 1)
        out.append(Constraint("count", text, binds_to=words[h], value=str(value), span=span))

    for i, j, rel in spatial_hits:
        a = prev_head(i)
        if a is None:
            continue
        b = next_head(j)
        target = words[b] if b is not None else None
        if b is None and rel not in ("left of", "right of"):
            # The object may sit inside another constraint's phrase ("under a full moon"): its last word.
            k = j
            while k < n and words[k] in lx.DETERMINERS:
                k += 1
            while k < n and not toks[k].is_punct and words[k] not in _BOUNDARY:
                k += 1
            if k == j or words[k - 1] in lx.DETERMINERS:
                continue
            target = words[k - 1]
        if rel in ("left of", "right of") and b is not None and words[j - 1] in ("left", "right"):
            b, target = None, None  # "a dog on the left, a cat ...": a side of the frame, not an object
        end = (b + 1) if b is not None else (k if target is not None else j)
        text, span = span_text(a, end)
        out.append(Constraint("spatial", text, binds_to=words[a], value=rel, target=target, span=span))

    # A state after its noun ("a kitten sleeping in a box") is an attribute of that noun.
    modifiers = {k for chunk in chunks for k in chunk["tokens"]}
    for i, w in enumerate(words):
        if not used[i] and i not in modifiers and is_verb_form(w) and _attr_group(w, t):
            a = prev_head(i)
            out.append(Constraint("attribute", prompt[toks[i].start:toks[i].end],
                                  binds_to=words[a] if a is not None else None, value=_attr_group(w, t),
                                  span=(toks[i].start, toks[i].end)))

    color_of = t["color_of"]

    def joined(k: int) -> bool:
        """Token k is fused with the next into one colour ("blue-grey", "reddish orange")."""
        return words[k].endswith("ish") or prompt[toks[k].end:toks[k + 1].start] == "-"

    def color_bind(i: int) -> int | None:
        """The noun a colour phrase starting at i describes: the previous head, passing over the other
        colours of a list ("a rug in cream, charcoal, and mustard" -> rug)."""
        for k in range(i - 1, max(-1, i - 16), -1):
            if words[k] in CLAUSE_END:
                return None
            h = head_at.get(k)
            if h is not None and h < i and words[h] not in color_of:
                return h
        return None

    for chunk in chunks:
        head = chunk["head"]
        # A phrase headed by a colour is one compound colour ("mint green", "butter yellow", "blue-grey"):
        # its words describe the noun before it, not each other.
        compound = head is not None and words[head] in color_of and words[head] not in lx.AMBIGUOUS_COLOR_WORDS
        for k in chunk["tokens"]:
            w = words[k]
            if k == head or (compound and w in color_of):
                continue
            if w in lx.AMBIGUOUS_COLOR_WORDS and k + 1 == head and any(
                    words[m] in color_of and not joined(m) for m in chunk["tokens"] if m < k):
                continue  # "a white fuchsia blossom": fuchsia names the plant, white its colour
            if w in color_of and (w not in lx.AMBIGUOUS_COLOR_WORDS or w in _PROMPT_AMBIGUOUS_COLORS
                                  or (k + 1 < n and words[k + 1] in color_of
                                      and words[k + 1] not in lx.AMBIGUOUS_COLOR_WORDS)):
                bind = head if head is not None else color_bind(chunk["tokens"][0])
                if bind is None or bind == k:
                    continue
                first = k - 1 if k > 0 and words[k - 1] in lx.COLOR_QUALIFIERS else k
                text, span = span_text(min(first, bind), max(k, bind) + 1)
                out.append(Constraint("color", text, binds_to=words[bind], value=_color_family(w), span=span))
            elif head is not None:
                out.extend(_attribute_of(w, words[head], toks[k], t, prompt))
        if head is None:
            continue
        hw = words[head]
        if hw in color_of and hw not in lx.AMBIGUOUS_COLOR_WORDS:
            bind = color_bind(chunk["tokens"][0])  # "a woman in red", "the door is blue"
            if bind is not None:
                text, span = span_text(bind, head + 1)
                out.append(Constraint("color", text, binds_to=words[bind], value=_color_family(hw), span=span))
            continue
        group = _attr_group(hw, t)
        tags = pos_tags(hw)
        if group is not None and (group in _SCENE_GROUPS or "NOUN" not in tags or "ADJ" in tags):
            out.append(Constraint("attribute", prompt[toks[head].start:toks[head].end],
                                  value=group, span=(toks[head].start, toks[head].end)))
            continue
        if not can_be_noun(hw) or hw in lx.META_NOUNS or hw in lx.SUBJECTIVE_ADJECTIVES or len(hw) < 2 \
                or hw[0].isdigit():
            if "ADJ" in tags and hw not in lx.META_NOUNS:
                bind = prev_head(chunk["tokens"][0])
                out.extend(_attribute_of(hw, words[bind] if bind is not None else None, toks[head], t, prompt))
            continue
        first = chunk["tokens"][0]
        while first < head and (words[first] in color_of or _attr_group(words[first], t)
                                or "ADJ" in pos_tags(words[first]) and "NOUN" not in pos_tags(words[first])):
            first += 1
        text, span = span_text(first, head + 1)
        # A noun right before the head makes a compound ("fence post", "clock tower"): both words count.
        compound = words[head - 1] if head - 1 >= first and not _adjective_like(words[head - 1]) \
            and can_be_noun(words[head - 1]) and _attr_group(words[head - 1], t) is None else None
        out.append(Constraint("subject", text, value=hw, target=compound, span=span))

    # One constraint per (kind, value, binding): "a dog ... the dog" pins one dog.
    seen, unique = set(), []
    for c in sorted(out, key=lambda c: c.span):
        if c.kind == "subject":
            key = (c.kind, _lemma(c.value))
        elif c.kind == "attribute":
            key = (c.kind, c.value, c.span)
        else:
            key = (c.kind, c.value, c.binds_to, c.target)
        if key not in seen:
            seen.add(key)
            unique.append(c)
    return tuple(unique)


def _noun_like(word: str) -> bool:
    """A word that can head a noun phrase: not an adjective-only word, not an inflected verb."""
    tags = pos_tags(word)
    return can_be_noun(word) and not ("ADJ" in tags and "NOUN" not in tags) and not is_verb_form(word)


def _lemma(word: str) -> str:
    return min(forms(word), key=len)


def _color_family(word: str) -> str:
    fams = _tables()["color_of"][word]
    return word if word in fams else sorted(fams)[0]


def _attr_group(word: str, t) -> str | None:
    hits = t["attr_index"].find([word])
    return hits[0][2] if hits else None


def _attribute_of(word: str, head: str | None, tok, t, prompt: str) -> list[Constraint]:
    """An attribute constraint for a modifier, or nothing when the word is not an adjective-like fact."""
    group = _attr_group(word, t)
    span = (tok.start, tok.end)
    text = prompt[tok.start:tok.end]
    if group is not None:
        return [Constraint("attribute", text, binds_to=head, value=group, span=span)]
    tags = pos_tags(word)
    if word in lx.SUBJECTIVE_ADJECTIVES or ("ADJ" in tags and "NOUN" not in tags) or (
        tags and word.endswith("ing") and "VERB" in tags
    ):
        if word in lx.META_NOUNS or word in lx.COLOR_QUALIFIERS:
            return []
        return [Constraint("attribute", text, binds_to=head, hard=False, value=word, span=span)]
    return []


def _adjective_like(word: str) -> bool:
    return "ADJ" in pos_tags(word) or word in _tables()["color_of"] or word in lx.SUBJECTIVE_ADJECTIVES


def _chunks(words: list[str], used: list[bool], toks) -> list[dict]:
    """Runs of content words between function words; each run's head is its last noun-like word."""
    chunks, run = [], []

    def close():
        if run:
            head = None
            for k in reversed(run):
                if can_be_noun(words[k]) and not is_verb_form(words[k]):
                    head = k
                    break
            chunks.append({"tokens": list(run), "head": head})
            run.clear()

    color_of = _tables()["color_of"]
    for i, w in enumerate(words):
        boundary = used[i] or w in _BOUNDARY or toks[i].is_punct
        if w == "and" and run and words[run[-1]] in color_of and i + 1 < len(words) and words[i + 1] in color_of:
            continue  # "red and white umbrella" is one phrase
        if boundary:
            close()
            continue
        if is_verb_form(w):
            # "an empty swimming pool" keeps its -ing modifier; "a girl holding flowers" does not.
            nxt = i + 1
            keep = (w.endswith("ing") and nxt < len(words) and not toks[nxt].is_punct
                    and words[nxt] not in _BOUNDARY and can_be_noun(words[nxt])
                    and (not run or _adjective_like(words[run[-1]])))
            if not keep:
                close()
                continue
        # "a man reads a book": a 3rd-person verb after a singular noun ends the phrase.
        elif run and w.endswith("s") and "VERB" in pos_tags(w) and not is_plural(words[run[-1]]) \
                and "NOUN" in pos_tags(words[run[-1]]) and "ADJ" not in pos_tags(words[run[-1]]) \
                and (i + 1 >= len(words) or words[i + 1] in _BOUNDARY or toks[i + 1].is_punct):
            close()
            continue
        run.append(i)
    close()
    return chunks


# ---------------------------------------------------------------------------------------------------
# The expansion side
# ---------------------------------------------------------------------------------------------------

class _Doc:
    """An expansion, tokenised once, with lazily built indexes shared by all checks."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.words = [tok.text for tok in self.tokens]
        self.forms = [forms(w) for w in self.words]
        self.all_forms: set[str] = set().union(*self.forms) if self.forms else set()
        self.clause = []
        c = 0
        for w in self.words:
            self.clause.append(c)
            if w in (".", "!", "?", ";"):
                c += 1
        self._ngrams: set[tuple[str, ...]] | None = None
        self._finds: dict[str, list[int]] = {}
        self._nearest: dict[str, str | None] = {}
        self._pos: dict[str, list[int]] | None = None

    @property
    def ngrams(self) -> set[tuple[str, ...]]:
        if self._ngrams is None:
            w, n = self.words, len(self.words)
            self._ngrams = {tuple(w[i:i + k]) for k in range(1, 6) for i in range(n - k + 1)}
        return self._ngrams

    def has_any(self, phrases) -> tuple[str, ...] | None:
        """The first phrase present; one-word phrases also match inflections ("grins" for "grin")."""
        grams, all_forms = self.ngrams, self.all_forms
        for p in phrases:
            if p in grams or (len(p) == 1 and p[0] in all_forms):
                return p
        return None

    def find(self, word: str, fuzzy: bool = True) -> list[int]:
        """Token positions that mention `word`: same lemma, same concept (puppy/dog), a longer word
        built on it (snow -> snowy), or with `fuzzy` a MiniLM synonym."""
        key = f"{word}|{fuzzy}"
        if key in self._finds:
            return self._finds[key]
        accepted, stem, concepts = _targets(word)
        hits = [i for i, f in enumerate(self.forms) if f & accepted]
        if not hits and len(stem) >= 3:
            # Compounds and derivations: snow -> snowy / snowfall, bee -> honeybee.
            hits = [i for i, w in enumerate(self.words) if len(w) > len(stem) and not w.endswith("less") and (
                (len(stem) >= 4 and w.startswith(stem)) or (w.endswith(stem) and len(w) - len(stem) >= 3))]
        if not hits and fuzzy and not concepts:
            # Only words our lists do not know: for a listed word the lists are authoritative, and
            # every MiniLM encode of new words costs milliseconds on the RL hot path.
            hits = self._similar(word, concepts)
        self._finds[key] = hits
        return hits

    def _similar(self, word: str, concepts: frozenset[str]) -> list[int]:
        concept_of = _tables()["concept_of"]
        cands = []
        for w in dict.fromkeys(self.words):
            if len(w) < 3 or not w.isalpha() or w in _BOUNDARY or w in lx.META_NOUNS or not can_be_noun(w) \
                    or w in _tables()["color_of"]:
                continue
            tags = pos_tags(w)
            if any(f in concept_of for f in noun_forms(w)) or ("ADJ" in tags and "NOUN" not in tags) \
                    or is_verb_form(w):
                continue  # a listed thing is not a synonym of an unlisted one; adjectives and verbs never are
            cands.append(w)
        sims = similarities(word, cands)
        if sims is None or not len(cands):
            return []
        best = int(sims.argmax())
        self._nearest[word] = cands[best] if float(sims[best]) >= 0.45 else None
        if float(sims[best]) < SYNONYM_SIMILARITY:
            return []
        return [i for i, w in enumerate(self.words) if w == cands[best]]

    def positions(self, word: str) -> list[int]:
        """Token positions of the exact normal-form word."""
        if self._pos is None:
            self._pos = {}
            for i, w in enumerate(self.words):
                self._pos.setdefault(w, []).append(i)
        return self._pos.get(word, [])

    def nearest(self, word: str) -> str | None:
        """The expansion word most similar to `word`, if a fuzzy `find` computed it (for reasons only)."""
        return self._nearest.get(word)


@lru_cache(maxsize=50_000)
def _targets(word: str) -> tuple[frozenset[str], str, frozenset[str]]:
    """(forms that count as the word, stem for prefix matches, concepts) for a prompt noun.

    A word that names a concept accepts its members ("man" accepts "gentleman", not "woman"; "dog"
    accepts "puppy"); any other word accepts the names of its concepts ("puppy" accepts "dog")."""
    concept_of = _tables()["concept_of"]
    own = noun_forms(word)
    named = [f for f in own if f in lx.CONCEPTS]
    accepted = set(forms(word))
    if named:
        concepts = frozenset(named)
        for c in concepts:
            for w in lx.CONCEPTS[c].split():
                accepted |= noun_forms(w)
    else:  # a specific word accepts its general name (puppy -> dog), not its siblings (poodle)
        concepts = frozenset().union(*(concept_of.get(f, set()) for f in own))
        for c in concepts:
            accepted |= noun_forms(c)
    return frozenset(accepted), _lemma(word), concepts


@lru_cache(maxsize=50_000)
def _negation_targets(word: str) -> frozenset[str]:
    """Every form that reintroduces a negated thing: its own forms and all concepts it belongs to."""
    concept_of = _tables()["concept_of"]
    own = noun_forms(word)
    out = set(own)
    for f in own:
        for c in concept_of.get(f, ()):
            for w in lx.CONCEPTS[c].split():
                out |= noun_forms(w)
        if f in lx.CONCEPTS:
            for w in lx.CONCEPTS[f].split():
                out |= noun_forms(w)
    return frozenset(out)


# ---------------------------------------------------------------------------------------------------
# Checks: each returns None when satisfied, else the reason
# ---------------------------------------------------------------------------------------------------

def _check_quoted(c: Constraint, doc: _Doc) -> str | None:
    norm = " ".join(doc.text.replace("\u201c", '"').replace("\u201d", '"').split())
    want = " ".join(c.value.split())
    if want in norm:
        return None
    if want.lower() in norm.lower():
        i = norm.lower().index(want.lower())
        return f"quoted text '{want}' changed to '{norm[i:i + len(want)]}'"
    return f"quoted text '{want}' missing"


def _window_back(doc: _Doc, p: int, size: int, through: frozenset[str] = frozenset()) -> list[int]:
    out = []
    for k in range(p - 1, max(-1, p - 1 - size), -1):
        w = doc.words[k]
        if w in through or (k + 1 < len(doc.tokens) and not doc.tokens[k].is_punct
                            and doc.text[doc.tokens[k].end:doc.tokens[k + 1].start] == "-"):
            out.append(k)  # through listed words and hyphenated compounds ("a pair of over-ear headphones")
            continue
        if doc.tokens[k].is_punct and w != ",":
            break
        if w in _BOUNDARY and w not in ("and",):
            if w in ("a", "an", "the", "one"):
                out.append(k)
            break
        if w == "and" and not (k > 0 and doc.words[k - 1] in _tables()["color_of"]):
            break
        out.append(k)
    return out


_FORWARD_COLOR_LINK = frozenset("painted glazed colored dyed tinted in of is are was were that which with "
                                "rendered finished lacquered stained washed shaded hued toned".split())


def _joined(doc: _Doc, k: int) -> bool:
    """Token k is fused with the next into one colour ("blue-grey", "reddish orange")."""
    return k + 1 < len(doc.tokens) and (
        doc.words[k].endswith("ish") or doc.text[doc.tokens[k].end:doc.tokens[k + 1].start] == "-")


def _list_goes_on(doc: _Doc, k: int) -> bool:
    """A colour list continues over the comma or conjunction at k: a colour follows, and after a bare
    comma that colour is itself followed by more of the list ("cream, charcoal, and mustard"; not
    "purple, mint leaves")."""
    color_of = _tables()["color_of"]
    words = doc.words
    j = k
    conj = False
    while j < len(words) and words[j] in (",", "and", "or"):
        conj |= words[j] != ","
        j += 1
    while j < len(words) and words[j] in lx.COLOR_QUALIFIERS:
        j += 1
    if j + 1 < len(words) and words[j] not in color_of and words[j].isalpha() and words[j] not in _BOUNDARY \
            and words[j + 1] in color_of:
        j += 1  # a compound with a modifier no list knows: "sea green", "brick red"
    if j >= len(words) or words[j] not in color_of:
        return False
    if conj:
        return True
    after = words[j + 1] if j + 1 < len(words) else "."
    return after in (",", "and", "or") or after in color_of or after in CLAUSE_END


def _colors_near(doc: _Doc, p: int) -> set[str]:
    color_of = _tables()["color_of"]
    fams: set[str] = set()
    back = _window_back(doc, p, 5)
    colored = [k for k in back if doc.words[k] in color_of]
    if len(colored) > 1 and colored[0] == p - 1 and doc.words[p - 1] in lx.AMBIGUOUS_COLOR_WORDS \
            and not any(_joined(doc, k) for k in colored[1:]):
        colored = colored[1:]  # "a white fuchsia blossom": fuchsia names the plant, white its colour
    for k in colored:
        fams |= color_of[doc.words[k]]
    in_list = False
    for k in range(p + 1, min(len(doc.words), p + 16)):
        w = doc.words[k]
        if w in color_of:
            fams |= color_of[w]
            # A compound ("mint green") or a list ("in cream, charcoal, and mustard") goes on.
            nxt = doc.words[k + 1:k + 4]
            if nxt and (nxt[0] in color_of or nxt[0] in lx.COLOR_QUALIFIERS):
                continue
            if nxt and nxt[0] in (",", "and", "or") and _list_goes_on(doc, k + 1):
                in_list = True
                continue
            break
        if in_list:  # separators, qualifiers and compound modifiers inside a list ("and sea green")
            if w in (",", "and", "or") or w in lx.COLOR_QUALIFIERS or (
                    k + 1 < len(doc.words) and doc.words[k + 1] in color_of):
                continue
            break
        if w == "," or w in _FORWARD_COLOR_LINK or w in lx.COLOR_QUALIFIERS or w.endswith("ly") or w == "and":
            if w == "and" and not (k > p + 1 and doc.words[k - 1] in color_of):
                break
            continue
        break
    return fams


def _check_color(c: Constraint, doc: _Doc) -> str | None:
    positions = doc.find(c.binds_to)
    if not positions:
        return f"color '{c.text}': no '{c.binds_to}' in the expansion"
    others: set[str] = set()
    for p in positions:
        fams = _colors_near(doc, p)
        if c.value in fams:
            return None
        others |= fams
    if others:
        return f"color '{c.text}' became '{' / '.join(sorted(others))} {c.binds_to}'"
    # The colour may sit on a part of the object ("its glossy blue glaze"): accept it in the same sentence.
    color_of = _tables()["color_of"]
    clauses = {doc.clause[p] for p in positions}
    for k, w in enumerate(doc.words):
        if doc.clause[k] in clauses and c.value in color_of.get(w, ()):
            return None
    return f"color '{c.text}': '{c.binds_to}' is not {c.value}"


def _counts_near(doc: _Doc, p: int) -> tuple[list[int], bool]:
    """(explicit counts, vague quantity) in the noun phrase before position p."""
    window = sorted(_window_back(doc, p, 6, through=_COUNT_THROUGH))
    words = [doc.words[k] for k in window]
    found = [(int(v), " ".join(words[i:j])) for i, j, v in _tables()["count_index"].find(words)]
    found += [(int(w), w) for w in words if w.isdigit() and len(w) <= 4]
    vague = any(w in lx.VAGUE_QUANTITIES for w in words)
    return found, vague


def _check_count(c: Constraint, doc: _Doc) -> str | None:
    want = int(c.value)
    positions = doc.find(c.binds_to)
    if not positions:
        return f"count '{c.text}': no '{c.binds_to}' in the expansion"
    seen: list[tuple[int, str]] = []
    vague = plural_bare = singular = False
    for p in positions:
        found, v = _counts_near(doc, p)
        if any(value == want for value, _ in found):
            return None
        seen += found
        vague |= v
        if is_plural(doc.words[p]):
            plural_bare |= not found
        else:
            singular = True
    if want == 1 and singular and not any(value > 1 for value, _ in seen):
        return None
    if seen:
        got = list(dict.fromkeys(text for _, text in seen))
        return f"count '{c.text}' became '{', '.join(got)}'"
    if vague:
        return f"count '{c.text}' became a vague quantity"
    if want == 1 and plural_bare:
        return f"count '{c.text}' became plural"
    return f"count '{c.text}' not stated"


def _check_subject(c: Constraint, doc: _Doc) -> str | None:
    if doc.find(c.value):
        if c.target and not doc.find(c.target):
            return f"subject '{c.text}' lost '{c.target}'"
        return None
    near = doc.nearest(c.value)
    return f"subject '{c.text}' missing" + (f" (closest: '{near}')" if near else "")


def _negated_at(doc: _Doc, k: int) -> bool:
    """Whether the mention at k sits in the scope of a negation cue ("no people, cars or signs")."""
    for j in range(k - 1, max(-1, k - 9), -1):
        w = doc.words[j]
        if w in (".", "!", "?", ";", ":"):
            return False
        if w in _NEGATION_CUES or (w == "of" and j > 0 and doc.words[j - 1] in ("free", "devoid", "absence")):
            return True
        if w in ("a", "an", "the") and j > 0 and doc.words[j - 1] not in _NEGATION_CUES | {"or", "nor"}:
            return False
        if w == "," and j + 1 < len(doc.words) and doc.words[j + 1] in lx.DETERMINERS:
            return False
    return False


_AFTER_NEGATION = frozenset("missing absent gone removed blank bare empty".split())


_ABSENT_AFTER_NOT = frozenset("present visible there here seen shown pictured included anywhere arrived "
                              "around in yet".split())


def _negated_after(doc: _Doc, k: int) -> bool:
    """"the clock face is missing", "its face left blank", "the guests have not yet arrived": a
    negation after the mention."""
    for j in range(k + 1, min(len(doc.words), k + 7)):
        w = doc.words[j]
        if w in CLAUSE_END or w == ",":
            return False
        if w in _AFTER_NEGATION:
            return True
        if w in ("not", "never") and j + 1 < len(doc.words) and doc.words[j + 1] in _ABSENT_AFTER_NOT \
                and all(x in lx.AUXILIARIES for x in doc.words[k + 1:j]):
            return True
    return False


def _verb_use(doc: _Doc, k: int) -> bool:
    """The word at k is a verb after a plural subject ("low mesas silhouette the distance", "people
    crowd the square"), not the thing it can also name."""
    w = doc.words
    return 0 < k < len(w) - 1 and is_plural(w[k - 1]) and not is_plural(w[k]) \
        and w[k + 1] in lx.DETERMINERS and "VERB" in pos_tags(w[k])


def _check_negation(c: Constraint, doc: _Doc) -> str | None:
    targets = _negation_targets(c.value)
    for k, f in enumerate(doc.forms):
        if f & targets and not _negated_at(doc, k) and not _negated_after(doc, k) and not _verb_use(doc, k):
            return f"negation '{c.text}' broken: '{doc.words[k]}' appears"
    return None


def _check_style(c: Constraint, doc: _Doc) -> str | None:
    t = _tables()
    if c.value.startswith("era:"):
        want = c.value[4:]
        decades = {_decade(w) for w in doc.words} - {None}
        if want in decades:
            return None
        return f"style '{c.text}' became '{sorted(decades)[0]}'" if decades else f"style '{c.text}' missing"
    if doc.has_any(t["style_accept"][c.value]):
        return None
    medium = t["medium_of"].get(c.value)
    found = [f for _, _, f in t["style_report_index"].find(doc.words) if f != c.value]
    clash = [f for f in found if medium and t["medium_of"].get(f) and t["medium_of"][f] != medium] or found
    return f"style '{c.text}' became '{clash[0]}'" if clash else f"style '{c.text}' missing"


def _check_viewpoint(c: Constraint, doc: _Doc) -> str | None:
    t = _tables()
    if doc.has_any(t["view_accept"][c.value]):
        return None
    opposites = split_phrases(lx.VIEWPOINT_OPPOSITES.get(c.value, ""))
    for fam in opposites:
        hit = doc.has_any(t["view_accept"][fam])
        if hit:
            return f"viewpoint '{c.text}' became '{' '.join(hit)}'"
    return f"viewpoint '{c.text}' missing"


def _check_attribute(c: Constraint, doc: _Doc) -> str | None:
    t = _tables()
    if c.value in t["attr"]:
        members, opposites = t["attr"][c.value]
        if c.binds_to:
            # Around the object first: "a glass and steel cabin in a pine forest" is not wooden.
            near = set()
            for p in doc.find(c.binds_to):
                ks = _window_back(doc, p, 5)
                for k in range(p + 1, min(len(doc.words), p + 7)):
                    if doc.words[k] in lx.DETERMINERS or doc.words[k] in CLAUSE_END:
                        break
                    ks.append(k)
                near |= {doc.words[k] for k in ks}
            near_grams = {(w,) for w in near}
            if not (near_grams & members):
                hit = near_grams & opposites
                if hit:
                    return f"attribute '{c.text}' of '{c.binds_to}' became '{sorted(hit)[0][0]}'"
        if doc.has_any(members) or doc.find(c.text.lower(), fuzzy=False):
            return None
        hit = doc.has_any(opposites)
        if hit:
            return f"attribute '{c.text}' became '{' '.join(hit)}'"
        return f"attribute '{c.text}' missing"
    if doc.find(c.value, fuzzy=False):
        return None
    cands = [w for w in dict.fromkeys(doc.words) if w.isalpha() and w not in _BOUNDARY]
    sims = similarities(c.value, cands)
    if sims is not None and len(cands) and float(sims.max()) >= SOFT_SIMILARITY:
        return None
    return f"attribute '{c.text}' missing"


def _check_spatial(c: Constraint, doc: _Doc) -> str | None:
    t = _tables()
    a_pos = doc.find(c.binds_to)
    if not a_pos:
        return f"spatial '{c.text}': no '{c.binds_to}' in the expansion"
    b_pos = doc.find(c.target) if c.target else []
    rels = t["spatial_index"].find(doc.words, overlapping=True)
    want, inverse = c.value, set(split_phrases(lx.SPATIAL_INVERSE.get(c.value, "")))
    opposite = set(split_phrases(lx.SPATIAL_OPPOSITES.get(c.value, "")))
    opposite_inverse = set()
    for o in opposite:
        opposite_inverse |= set(split_phrases(lx.SPATIAL_INVERSE.get(o, "")))

    def between(first, second, s, e) -> bool:
        return any(a < s and e <= b and b - a <= 16 and doc.clause[a] == doc.clause[b]
                   for a in first for b in second)

    if c.target is None:  # a side of the frame: the side word near the object
        # Any mention of the object on the wanted side keeps it ("a bowl on the left, the scoop on the
        # right"); the other side only counts when no mention is on the wanted one.
        # Each mention takes the side phrase nearest to it.
        sides = [(s, e, label) for s, e, label in rels
                 if label in (want, *opposite) and doc.words[s:e][-1] in ("left", "right")]
        clash_side = None
        for a in a_pos:
            near = [(abs(s - a) - (0.5 if s > a else 0), s, e, label) for s, e, label in sides
                    if abs(s - a) <= 10 and doc.clause[s] == doc.clause[a]]
            if not near:
                continue
            _, s, e, label = min(near)
            if label == want:
                return None
            clash_side = clash_side or " ".join(doc.words[s:e])
        if clash_side:
            return f"spatial '{c.text}' became '{clash_side}'"
        return f"spatial '{c.text}' not stated"
    # Between two mentions, the relation nearest the second one governs it: in "a bowl on the floor
    # below a windowsill" the bowl is below the windowsill, not on it.
    clash = None
    for first, second, ok_labels, bad_labels in ((a_pos, b_pos, {want}, opposite),
                                                 (b_pos, a_pos, inverse, opposite_inverse)):
        for a in first:
            for b in second:
                if not (a < b and b - a <= 16 and doc.clause[a] == doc.clause[b]):
                    continue
                inside = [(s, e, label) for s, e, label in rels
                          if a < s and e <= b and (label in ok_labels or label in bad_labels)]
                if not inside:
                    continue
                last = max(s for s, _, _ in inside)
                labels = {label for s, _, label in inside if s == last}
                if labels & ok_labels:
                    return None
                if clash is None:
                    clash = next(" ".join(doc.words[s:e]) for s, e, label in inside if s == last)
    if clash:
        return f"spatial '{c.text}' became '{clash}'"
    if c.value == "on":  # plain "on" is everywhere and often paraphrased away: only a clash fails it
        return None
    if not b_pos:  # the second object is paraphrased beyond our lists: the relation after the first will do
        for s, e, label in rels:
            if label == want and any(0 < s - a <= 6 and doc.clause[s] == doc.clause[a] for a in a_pos):
                return None
    return f"spatial '{c.text}' not stated"


_RESTATABLE = frozenset({"color", "count", "spatial"})


def _restated(c: Constraint, doc: _Doc) -> bool:
    """Whether the expansion restates the constraint's own span word for word ("two red apples on a
    crate"): the same words in the same order carry the same binding, whatever the rules make of the
    text around them. (Negations are not restated this way: "no people ... a crowd" breaks one.)"""
    want = _span_words(c.text)
    if not want:
        return False
    w, k = doc.words, len(want)
    return any(w[i:i + k] == want for i in doc.positions(want[0]))


@lru_cache(maxsize=50_000)
def _span_words(text: str) -> list[str]:
    return [t.text for t in tokenize(text)]


_CHECKS = {
    "quoted_text": _check_quoted, "count": _check_count, "color": _check_color, "subject": _check_subject,
    "negation": _check_negation, "style": _check_style, "viewpoint": _check_viewpoint,
    "spatial": _check_spatial, "attribute": _check_attribute,
}


def check(prompt: str, expansion: str) -> ConstraintReport:
    """Check an expansion against every constraint of the prompt.

    Args:
        prompt: the short prompt whose constraints must hold.
        expansion: the text to check (an expansion, or a long caption when filtering synthesised pairs).

    Returns:
        A `ConstraintReport`; `ok` is False when any hard constraint is violated.

    Raises:
        ValueError: if either argument is not a str.
    """
    constraints = _extract(_require_str("prompt", prompt))
    doc = _Doc(_require_str("expansion", expansion))
    satisfied, violated = [], []
    for c in constraints:
        reason = None if c.kind in _RESTATABLE and _restated(c, doc) else _CHECKS[c.kind](c, doc)
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
    )
