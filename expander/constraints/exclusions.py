"""What a prompt excludes, as words a generator can be kept from writing: the exclusion guard's word side.

"a room with no windows", "fruit bowl, no bananas", "an empty train station at night": the expander reads the
prompt and then describes windows, a banana, a crowd on the platform (a 135M model's most common failure on the
team's held-out negation prompts). `excluded_words(prompt)` lists the words that would break one of the prompt's
negations if an expansion wrote them outside a negation, in every case a decoder meets them ("windows",
"Windows"); `in_negation(text, word)` says whether `word`, written right after `text`, would sit inside a
negation ("A room with no " + "windows": yes; "a single " + "window": no). The engine's exclusion guard
(`expander.engine.exclusion_guard`) masks those words at decode time unless `in_negation` holds, so the
expansion may still restate "no windows" but not describe one.

Both answers come from the checker itself, so the guard keeps exactly what `check` would fail:

* a plain negation ("no windows", "without bananas", "cloudless") excludes `negation.excluded_forms` of its
  value (the thing, its plurals, the members of the concept it names: "no people" -> "woman", "crowd");
* an emptiness word ("empty", "deserted", "alone", "nobody") excludes each person and animal word that
  `check_emptiness` would not let in: "a man alone on a bench" still lets the man (and "gentleman") in;
* a word the prompt itself uses outside a negation is never excluded ("a cat, no other cats" keeps "cat").

`allowed_compounds(prompt)` lists the prompt's own words that start with an excluded word ("windowless",
"car-free"), so the guard lets "window" begin "windowless" and nothing else.
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["allowed_compounds", "excluded_words", "in_negation"]

_MAX_SCOPE_WORDS = 24
"""Words of context `in_negation` reads back: a negated phrase ends within 8 (`check_scene.negated_at`)."""


@lru_cache(maxsize=4096)
def excluded_words(prompt: str) -> tuple[str, ...]:
    """Lower-case words that break one of `prompt`'s negation or emptiness constraints when written outside a
    negation, sorted (so the guard, and a seed, give the same text every run). Empty when the prompt excludes
    nothing.

    Raises:
        MissingExtraError: without the `constraints` extra.
    """
    from expander.constraints.emptiness import is_emptiness
    from expander.constraints.extract import extract
    from expander.constraints.negation import excluded_forms

    constraints = [c for c in extract(prompt) if c.kind == "negation"]
    if not constraints:
        return ()
    words: set[str] = set()
    for c in constraints:
        if is_emptiness(c):
            words |= _emptiness_words(prompt, c)
        else:
            words |= _surface(excluded_forms(c.value))
    return tuple(sorted(words - _prompt_own(prompt, constraints)))


@lru_cache(maxsize=4096)
def allowed_compounds(prompt: str) -> tuple[str, ...]:
    """The prompt's words that begin with one of its excluded words and are no mention of it ("windowless",
    "car-free", "cloudless"): the guard lets such a word be written whole."""
    excluded = excluded_words(prompt)
    if not excluded:
        return ()
    out = set()
    for piece in prompt.lower().split():
        word = piece.strip(".,;:!?\"'()")
        if word not in excluded and any(word.startswith(e) and len(word) > len(e) for e in excluded):
            out.add(word)
    return tuple(sorted(out))


def in_negation(text: str, word: str) -> bool:
    """Whether `word`, written right after `text` (the expansion so far), is inside a negation: "A room with
    no" + "windows", "not a single" + "car", "There are no people, cars or" + "bikes". The checker's own scope
    rule (`check_scene.negated_at`) on the last `_MAX_SCOPE_WORDS` words."""
    from expander.constraints.check_scene import negated_at
    from expander.constraints.expansion import ExpansionDoc

    tail = " ".join(text.split()[-_MAX_SCOPE_WORDS:])
    doc = ExpansionDoc(f"{tail} {word}")
    return bool(doc.words) and negated_at(doc, len(doc.words) - 1)


def _surface(base: frozenset[str]) -> set[str]:
    """Single words of `base` with their plurals and verb forms: the checker matches an expansion's words by
    their base forms ("cluttered" breaks "clutter-free"); a decoder writes surface ones."""
    from lemminflect import getAllInflections

    from expander.constraints.text import can_be_noun, forms, is_plural, noun_forms, plural_noun

    out = set()
    for f in base:
        if not f.isalpha():  # "man's", "other people": the bare word is in the set already
            continue
        out.add(f)
        if can_be_noun(f) and not is_plural(f):
            plural = plural_noun(f).lower()
            if plural.isalpha() and f in noun_forms(plural):
                out.add(plural)
        for inflected in getAllInflections(f, upos="VERB").values():
            out.update(w for w in inflected if w.isalpha() and f in forms(w))
    return out


def _emptiness_words(prompt: str, c) -> set[str]:
    """Person and animal words `check_emptiness` would fail for `prompt` (one witness sentence each)."""
    from expander.constraints.emptiness import check_emptiness
    from expander.constraints.expansion import ExpansionDoc

    return {w for w in _living_words() if check_emptiness(c, ExpansionDoc(f"A {w} is here."), prompt) is not None}


@lru_cache(maxsize=1)
def _living_words() -> frozenset[str]:
    """Every person and animal word the checker knows, with plurals."""
    from expander.constraints.negation import excluded_forms

    return frozenset(_surface(excluded_forms("people") | excluded_forms("animals")))


def _prompt_own(prompt: str, negations) -> set[str]:
    """Words the prompt uses outside its negations (`negations`: its negation constraints, by their spans):
    never excluded."""
    from expander.constraints.text import tokenize

    spans = [c.span for c in negations if c.span is not None]
    return {
        t.text.lower() for t in tokenize(prompt) if not any(start < t.end and t.start < end for start, end in spans)
    }
