"""Negation scope: what exactly a negation excludes, and which words open or close one.

The prompt side (`extract_scene.negations`) reads "no X", "without X", "free of X", "lacking X", "X-free" as
excluding X, and reads these as no negation at all: a double negative ("not without charm", "no shortage of
light", "no lack of"), an idiom or title ("no man's land", "No Man's Sky", "nobody's fool"), a hyphenated
compound ("a no-frills diner", "a no-nonsense look") and a sign's label ("a no parking sign", "No Vacancy sign").

The check side excludes the negated thing and its kinds, never its siblings or the class it belongs to:
"a bowl of fruit without bananas" excludes bananas, so "apples and pears" and "a bowl of fruit" keep it; "no
animals" excludes every animal, "no birds" every bird, "no people" every person word (`excluded_forms`).
"""

from __future__ import annotations

from functools import lru_cache

from expander.constraints.added_subjects import ANIMAL_GENERIC, ANIMAL_KIND, YOUNG
from expander.constraints.concepts import CONCEPTS
from expander.constraints.text import noun_forms

__all__ = [
    "DENIALS",
    "DOUBLE_NEGATIVE_HEADS",
    "LABEL_FIRST",
    "LABEL_NOUNS",
    "NOT_VISUAL_FREE",
    "OF_CUES",
    "PARTITIVES",
    "POSTNOMINAL_ENDS",
    "PROMPT_CUES",
    "excluded_forms",
]

PROMPT_CUES = frozenset("no without not zero nor lacking lacks minus sans".split())
"""Words that open a negated noun phrase in a prompt on their own ("without bananas", "lacking color")."""
OF_CUES = frozenset("free devoid bereft void empty clear lack absence".split())
"""Words that open one with "of" after them ("free of cars", "a sky clear of clouds", "a lack of light")."""
DENIALS = frozenset("not never hardly isn't wasn't aren't weren't".split())
"""Words that deny the negation after them: "not without charm", "never lacking light" keep the thing."""
DOUBLE_NEGATIVE_HEADS = frozenset("lack shortage absence scarcity end want".split())
"""After "no": "no shortage of light", "no lack of detail" ask for the thing."""
LABEL_NOUNS = frozenset("sign signs zone zones area areas sticker stickers notice placard symbol policy".split())
"""Nouns a "no ..." label names ("a no parking sign", "a no-fly zone"): the sign is there."""
LABEL_FIRST = frozenset("entry exit entrance access vacancy vacancies trespassing admittance through u".split())
"""Words of a sign's label after "no" that are not -ing forms ("No Vacancy", "no entry")."""
PARTITIVES = frozenset(
    "sheet sheets piece pieces drop drops scrap scraps speck specks bit bits shred grain blade item items "
    "trace traces hint sign signs kind type sort".split()
)
"""Heads of "X of Y" whose Y is what a negation excludes ("not a sheet of paper", "no sign of life")."""
POSTNOMINAL_ENDS = frozenset(
    "anywhere anyplace around about nearby present visible whatsoever here there else left remaining today "
    "tonight yet either".split()
)
"""Words after the negated noun that end its phrase, never its head: "no cars visible", "no people anywhere",
"no one else", "no furniture present" exclude cars, people and furniture."""
NOT_VISUAL_FREE = frozenset(
    "hands hand duty tax toll rent care scot cruelty risk stress worry hassle trouble error fee royalty".split()
)
"""First halves of "X-free" that exclude nothing visible ("hands-free", "duty-free shop")."""

# Animal words that are more often something else ("a construction crane", "a baseball bat", "fly over"): a
# negated animal class does not exclude them (`added_subjects` still reads them in context).
_AMBIGUOUS_ANIMALS = frozenset("fly bat seal crane mouse swallow ram kid turkey ray bug cricket kit pupil".split())


# Words that name a concept without being its key ("no people" names the person concept).
_CONCEPT_ALIASES = {"people": "person", "human": "person", "humans": "person", "folk": "person", "folks": "person"}


@lru_cache(maxsize=50_000)
def excluded_forms(word: str) -> frozenset[str]:
    """Every word form that brings a negated thing back: its own forms, the members of the concept it names
    ("people": "woman", "crowd"; "fruit": "apple"), and for animal words the animals of `added_subjects`
    ("no animals": any animal; "no birds": any bird, "penguin" and "chick" included). Not the class it belongs
    to, nor its siblings: "no bananas" leaves "fruit" and "apples" in. (Expansion words are matched by their
    base forms, so singulars are enough here.)

    Args:
        word: the negated noun as extracted ("bananas", "people", "window").
    """
    own = noun_forms(word)
    out = set(own)
    for f in own | {_CONCEPT_ALIASES[f] for f in own if f in _CONCEPT_ALIASES}:
        if f in CONCEPTS:
            for w in CONCEPTS[f].split():
                out |= noun_forms(w)
    animals: set[str] = set()
    if own & (ANIMAL_GENERIC | {"animal", "creature", "pet", "beast", "critter"}):
        animals = set(ANIMAL_KIND) | set(YOUNG)
    for kind in {ANIMAL_KIND[f] for f in own if ANIMAL_KIND.get(f) == f}:  # "no birds": the kind and its young
        animals |= {w for w, k in ANIMAL_KIND.items() if k == kind}
        animals |= {y for y, parents in YOUNG.items() if kind in parents.split()}
    return frozenset(out | (animals - _AMBIGUOUS_ANIMALS))
