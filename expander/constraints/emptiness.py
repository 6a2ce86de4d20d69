"""Emptiness: words that empty a scene of living figures, and the check that nobody was put back.

"an empty subway station at night", "a deserted beach", "a man alone on a bench", "nobody around", "no one in
sight", "not a soul", "no sign of life", "nothing but sand dunes": the user asks for a scene with no person or
animal in it beyond the ones the prompt itself names. `emptiness(ctx)` turns each such word into a
``negation`` constraint with ``target == EMPTY`` and ``value`` "people" (or "other people" when the prompt
names a person: the value is what a negative prompt may exclude). `check_emptiness(c, doc, prompt)` fails when
the expansion depicts a person, animal or creature (`added_subjects.subject_mentions`: negated mentions,
compounds, food and objects shaped like one are not depictions) that the prompt does not name: "an empty
street, a stray cat" lets the cat in; "a man alone on a bench" lets the man in (also as "gentleman" or
"figure"), and nobody else. A scene word that implies people ("an empty market", "an empty classroom") implies
none once it is empty.

What is not emptiness:

* "empty" about a container ("an empty glass", "the bowl is empty"): the glass has no contents;
* "empty of X" / "void of X": a negation of X (`extract_scene.negations`);
* a negated emptiness word ("not empty", "never alone", "isn't deserted");
* "nobody's fool": a possessive is a name, not a cue.
"""

from __future__ import annotations

from functools import lru_cache

from expander.constraints.added_subjects import (
    ANIMAL_GENERIC,
    HUMAN_ACTIVITIES,
    PERSON_PRONOUNS,
    YOUNG,
    subject_mentions,
)
from expander.constraints.check_scene import negated_after, negated_at
from expander.constraints.concepts import CONCEPTS
from expander.constraints.prompt_context import PromptContext, adjective_like
from expander.constraints.tables import BOUNDARY
from expander.constraints.text import CLAUSE_END, noun_forms, tokenize
from expander.constraints.types import Constraint

__all__ = ["EMPTY", "check_emptiness", "emptiness", "is_emptiness"]

EMPTY = "emptiness"
"""`Constraint.target` of a negation that empties the scene (no person or animal beyond the prompt's own)."""

# Words that empty a scene. The first group is claimed as a negation only (the word says nothing else); the
# second also stays an attribute the expansion must keep ("an empty street" must still read as empty).
_CLAIMED = frozenset("deserted uninhabited unpopulated unoccupied peopleless nobody noone".split())
_ALSO_ATTRIBUTE = frozenset("empty vacant desolate alone lifeless".split())
# "not empty", "never alone", "isn't deserted": the emptiness is denied.
_DENIALS = frozenset("not never hardly isn't wasn't aren't weren't nor no".split())
# Nouns whose emptiness is about their contents, not about who is in the picture.
CONTAINERS = frozenset(
    """
    glass glasses bottle bottles cup cups mug mugs teacup bowl bowls plate plates dish dishes jar jars vase vases
    box boxes crate crates can cans tin tins bucket buckets basket baskets bag bags pocket pockets wallet purse
    tank tanks tub bathtub frame frames canvas page pages notebook notepad sheet shelf shelves drawer drawers fridge
    refrigerator pot pots pan pans kettle carton cartons jug pitcher vessel container containers envelope suitcase
    case barrel barrels bin bins trash wineglass flask cart trolley hands hand stomach speech bubble bubbles
    socket sockets cartridge tray trays sack sacks pouch mailbox inbox
    """.split()
)
# Person words that name nobody in particular: when the prompt has a person, the expansion may call them so (in
# the singular: "a figure", not "figures" or "people").
_GENERIC_PERSON = frozenset("person figure human individual someone somebody silhouette soul".split())
# Person words that are several people: a pronoun ("she sits alone") allows one person, not these.
_GROUP_PERSON = frozenset("crowd audience couple family".split())


def is_emptiness(c: Constraint) -> bool:
    """Whether `c` is an emptiness constraint (checked by `check_emptiness`, which needs the prompt)."""
    return c.kind == "negation" and c.target == EMPTY


# --- extraction ----------------------------------------------------------------------------------


def emptiness(ctx: PromptContext) -> list[Constraint]:
    """The emptiness constraints of a prompt, in order; claims "nobody", "no one", "not a soul", "nothing but",
    "deserted"-like words (so they are no subject or negation of their own) and leaves "empty", "alone",
    "vacant", "desolate", "lifeless" free for the attribute extractor."""
    words, n = ctx.words, ctx.n
    value = "other people" if any(m.kind == "person" for m in subject_mentions(ctx.prompt)) else "people"
    out: list[Constraint] = []

    def add(i: int, j: int, claim: bool) -> None:
        text, span = ctx.span_text(i, j)
        out.append(Constraint("negation", text, value=value, target=EMPTY, span=span))
        if claim:
            ctx.mark(i, j)

    i = 0
    while i < n:
        w = words[i]
        if ctx.used[i] or ctx.tokens[i].is_punct:
            i += 1
            continue
        denied = i > 0 and words[i - 1] in _DENIALS
        two = words[i + 1] if i + 1 < n else ""
        if w == "no" and two == "one":  # "no one", "no-one"
            add(i, i + 2, True)
            i += 2
        elif w in ("not", "no", "without") and _soul_end(words, i):
            end = _soul_end(words, i)
            add(i, end, True)
            i = end
        elif w == "nothing" and two == "but":
            add(i, i + 2, True)
            i += 2
        elif w == "life" and _life_cue(ctx, i) is not None:  # "no sign of life", "devoid of life"
            add(_life_cue(ctx, i), i + 1, True)
            i += 1
        elif w in _CLAIMED and not denied:
            add(i, i + 1, True)
            i += 1
        elif w in _ALSO_ATTRIBUTE and not denied and two != "of" and not _about_contents(ctx, i):
            add(i, i + 1, False)
            i += 1
        else:
            i += 1
    return out


def _soul_end(words: list[str], i: int) -> int | None:
    """The end of "not a soul", "no soul", "without a living soul", "not one soul" starting at i, or None."""
    k = i + 1
    if k < len(words) and words[k] in ("a", "one", "single"):
        k += 1
    if k < len(words) and words[k] == "living":
        k += 1
    return k + 1 if k < len(words) and words[k] in ("soul", "souls") else None


def _life_cue(ctx: PromptContext, i: int) -> int | None:
    """The free cue that negates "life" at i ("no life", "no sign of life", "devoid of life"), or None."""
    for k in range(i - 1, max(-1, i - 5), -1):
        if ctx.used[k] or ctx.words[k] in CLAUSE_END or ctx.words[k] == ",":
            return None
        if ctx.words[k] in ("no", "without", "devoid", "free", "lacking", "void", "bereft"):
            return k
    return None


def _about_contents(ctx: PromptContext, i: int) -> bool:
    """Whether the emptiness word at i describes a container: "an empty glass", "empty wine bottles", "the
    bowl is empty", "plates left empty"."""
    words, n = ctx.words, ctx.n
    for k in range(i + 1, min(n, i + 4)):  # the noun it modifies: the first one after it in its phrase
        w = words[k]
        if w in CLAUSE_END or w == "," or w in BOUNDARY:
            break
        if w in CONTAINERS:
            return True
        if not adjective_like(w):
            break
    for k in range(i - 1, max(-1, i - 5), -1):  # the subject of "the glass is (left) empty"
        w = words[k]
        if w in CLAUSE_END or w == ",":
            break
        if w in CONTAINERS:
            return True
    return False


# --- checking ------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _named(prompt: str) -> tuple[frozenset[str], frozenset[str], bool, bool, bool]:
    """What the prompt lets in: (person lemmas, animal and creature groups, any animal, any one person (a
    pronoun or a human activity names a doer without a person word), any person by a group word)."""
    mentions = subject_mentions(prompt)
    people = frozenset(m.lemma for m in mentions if m.kind == "person")
    groups = {m.group for m in mentions if m.kind != "person"}
    for m in mentions:
        groups.update(YOUNG.get(m.lemma, "").split())
    words = {t.text for t in tokenize(prompt)}
    any_animal = bool(words & ANIMAL_GENERIC)
    doer = bool(words & PERSON_PRONOUNS) or bool(
        words & HUMAN_ACTIVITIES and not any(m.kind == "animal" for m in mentions)
    )
    return people, frozenset(groups), any_animal, doer, bool(people & _GROUP_PERSON)


def _same_person(word: str, named: str) -> bool:
    """ "gentleman" for "man", "man" for "gentleman", "kid" for "child": one names the other's concept."""
    if word == named:
        return True
    for a, b in ((word, named), (named, word)):
        for concept in noun_forms(a) & CONCEPTS.keys():
            if concept != "person" and b in CONCEPTS[concept].split():
                return True
    return False


def _let_in(m, prompt: str, doer: list[str]) -> bool:
    """Whether mention `m` is something the prompt names. `doer` holds the person word an expansion first
    gave the prompt's unnamed doer ("she sits alone": "a young woman"); it is filled on the way."""
    people, groups, any_animal, has_doer, group_named = _named(prompt)
    if m.kind == "person":
        generic = m.lemma in _GENERIC_PERSON and m.word == m.lemma
        if people and (generic or any(_same_person(m.lemma, p) for p in people)):
            return True
        if "person" in people or group_named:
            return True  # "people on an empty beach", "a person alone": any person word may describe them
        if not has_doer or m.lemma in _GROUP_PERSON or m.word != m.lemma:
            return False
        if not doer:
            doer.append(m.lemma)
        return generic or _same_person(m.lemma, doer[0])
    if m.kind == "animal":
        return any_animal or m.group in groups or any(k in groups for k in YOUNG.get(m.lemma, "").split())
    return m.group in groups


def check_emptiness(c: Constraint, doc, prompt: str) -> str | None:
    """An emptiness constraint holds unless the expansion depicts a person, animal or creature the prompt does
    not name itself (mentions in a negation, "no people anywhere", "the guests have not yet arrived", are fine).

    Args:
        c: a constraint with `is_emptiness(c)`.
        doc: the `ExpansionDoc` of the expansion.
        prompt: the prompt `c` came from (what it names is let in).
    """
    starts, doer = [tok.start for tok in doc.tokens], []
    for m in subject_mentions(doc.text):
        if _let_in(m, prompt, doer):
            continue
        k = next((i for i, s in enumerate(starts) if s >= m.start), len(starts) - 1)
        if negated_at(doc, k) or negated_after(doc, k):
            continue
        return f"negation '{c.text}' broken: '{m.word}' appears"
    return None
