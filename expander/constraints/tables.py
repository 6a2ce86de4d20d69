"""Phrase tables and word classes shared by extraction and checking, built once per process.

`lexicon.py` holds the raw word lists as written by hand; this module turns them into lookups
(`PhraseIndex`es, word -> family maps) and names the small word classes both sides use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from expander.constraints import lexicon as lx
from expander.constraints.concepts import CONCEPTS
from expander.constraints.style_words import MORE_STYLE_FAMILIES
from expander.constraints.text import PhraseIndex, forms, normalise_phrase, noun_forms, number_words, split_phrases

# Scene-wide groups: a head noun of these ("sunset over the sea") is an attribute, not a subject.
SCENE_GROUPS = frozenset(
    "night day sunset sunrise dusk dawn golden hour morning evening snowy rainy foggy stormy sunny cloudy "
    "windy winter summer autumn spring full moon crescent moon starry underwater".split()
) | {"golden hour", "full moon", "crescent moon"}
# Words that open a negated noun phrase in an expansion on their own ("no cars", "without a soul"); "free",
# "devoid", "empty", "void" open one only with "of" after them (`negation.OF_CUES`): "an empty street lined with
# parked cars" mentions cars.
# ("except" is no cue: "all dark except one lit window" has a window.)
NEGATION_CUES = frozenset("no without not nor never lacking zero neither minus sans".split())
# Function words: they end a noun phrase.
BOUNDARY = lx.DETERMINERS | lx.PREPOSITIONS | lx.CONJUNCTIONS | lx.AUXILIARIES
# Words between a count and its noun that end the count's phrase; "front", "top", "left" and "right" are
# also nouns and adjectives ("two front teeth").
_COUNT_NOUNISH = frozenset({"front", "top", "left", "right", "of"})
COUNT_STOP = (lx.PREPOSITIONS - _COUNT_NOUNISH) | lx.CONJUNCTIONS | lx.AUXILIARIES
COUNT_THROUGH = _COUNT_NOUNISH | {"a", "an", "both"}

_DECADE_RE = re.compile(r"^(?:1[89]|20)?([0-9])0s$")
_DECADE_WORDS = {
    "twenties": "2",
    "thirties": "3",
    "forties": "4",
    "fifties": "5",
    "sixties": "6",
    "seventies": "7",
    "eighties": "8",
    "nineties": "9",
}


@dataclass(frozen=True)
class Tables:
    """The lexicon as lookups. Prompt-side indexes list the phrases that *state* a constraint; the
    accept sets and expansion-side indexes list every phrase that keeps or contradicts one."""

    color_of: dict[str, set[str]]
    """colour word -> its families ("teal" -> {"blue", "green"})."""
    style_prompt_index: PhraseIndex
    style_accept: dict[str, set[tuple[str, ...]]]
    style_report_index: PhraseIndex
    medium_of: dict[str, str]
    """style family -> medium group (two styles of one group clash, "watercolor" vs "oil painting")."""
    view_prompt_index: PhraseIndex
    view_accept: dict[str, set[tuple[str, ...]]]
    view_index: PhraseIndex
    attr: dict[str, tuple[set[tuple[str, ...]], set[tuple[str, ...]]]]
    """attribute group -> (phrases that keep it, phrases that contradict it)."""
    attr_index: PhraseIndex
    spatial_prompt_index: PhraseIndex
    spatial_index: PhraseIndex
    concept_of: dict[str, set[str]]
    """noun form -> the concepts it belongs to ("puppy" -> {"dog"})."""
    count_index: PhraseIndex


def _table(spec: dict[str, str]) -> dict[str, list[str]]:
    return {label: split_phrases(phrases) for label, phrases in spec.items()}


@lru_cache(maxsize=1)
def tables() -> Tables:
    """The process-wide `Tables` (built on first use: it needs lemminflect and inflect)."""
    color_of: dict[str, set[str]] = {}
    for family, members in lx.COLOR_FAMILIES.items():
        for word in members.split():
            color_of.setdefault(word, set()).add(family)
    style_families = {**lx.STYLE_FAMILIES, **MORE_STYLE_FAMILIES}
    style_prompt = {f: split_phrases(p) for f, (p, _) in style_families.items()}
    style_accept = {
        f: {normalise_phrase(x) for x in split_phrases(p) + split_phrases(e)} for f, (p, e) in style_families.items()
    }
    view = _table(lx.VIEWPOINT_FAMILIES)

    # In a prompt a phrase names the family it starts with: "bird's eye view" is bird's-eye, not top-down.
    def owned_by_other(f: str, p: str) -> bool:
        toks = normalise_phrase(p)
        return any(g != f and toks[: len(normalise_phrase(g))] == normalise_phrase(g) for g in view)

    view_prompt = {
        f: [p for p in ps if p not in lx.VIEWPOINT_PROMPT_EXCLUDE and not owned_by_other(f, p)]
        for f, ps in view.items()
    }
    # Attribute phrases name the group that carries their own name first ("dusk" -> dusk, not sunset).
    attr = {g: (split_phrases(m), split_phrases(o)) for g, (m, o) in lx.ATTRIBUTE_GROUPS.items()}
    attr_prompt: dict[str, list[str]] = {g: [g] for g in attr}
    for g, (members, _) in attr.items():
        for m in members:
            if m not in attr:
                attr_prompt[g].append(m)
    concept_of: dict[str, set[str]] = {}
    for name, words in CONCEPTS.items():
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
    return Tables(
        color_of=color_of,
        style_prompt_index=PhraseIndex(style_prompt),
        style_accept=style_accept,
        style_report_index=PhraseIndex(style_prompt),
        medium_of=medium_of,
        view_prompt_index=PhraseIndex(view_prompt),
        view_accept={f: {normalise_phrase(p) for p in ps} for f, ps in view.items()},
        view_index=PhraseIndex(view),
        attr={g: ({normalise_phrase(p) for p in m}, {normalise_phrase(p) for p in o}) for g, (m, o) in attr.items()},
        attr_index=PhraseIndex(attr_prompt),
        spatial_prompt_index=PhraseIndex(_table(lx.SPATIAL_PROMPT_PHRASES)),
        spatial_index=PhraseIndex(_table(lx.SPATIAL_FAMILIES)),
        concept_of=concept_of,
        count_index=PhraseIndex(counts),
    )


def decade(word: str) -> str | None:
    """ "1970s", "70s", "seventies" -> "70s"; None for any other word."""
    m = _DECADE_RE.match(word)
    if m:
        return m.group(1) + "0s"
    d = _DECADE_WORDS.get(word)
    return d + "0s" if d else None


def lemma(word: str) -> str:
    """The shortest base form of a word: one key for "dog" and "dogs"."""
    return min(forms(word), key=len)


def color_family(word: str) -> str:
    """The family a colour word names: itself when it is a family, else its first family."""
    fams = tables().color_of[word]
    return word if word in fams else sorted(fams)[0]


def attr_group(word: str) -> str | None:
    """The attribute group a single word names ("snowy" -> snowy, "dusk" -> dusk), or None."""
    hits = tables().attr_index.find([word])
    return hits[0][2] if hits else None
