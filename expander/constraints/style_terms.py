"""Style terms no list knows, read from the patterns that name a style: "X painting", "X illustration",
"X photo", "X render", "X style", "X-inspired", "in the style of X", "inspired by X", "a painting by X".

"a digital painting" must keep "digital", "a Pixar style render" "Pixar", "in the style of Van Gogh" "Van Gogh",
"a product photo" "product". Curated styles (`lexicon.STYLE_FAMILIES`, `style_words.MORE_STYLE_FAMILIES`) are
found first by `extract_scene.styles` and keep their families; these are the words left over. A word before a
medium noun names a style when it is an adjective that is no colour, opinion, size or scene attribute
("digital", "botanical", "candid"), a word the dictionary does not know (a name: "Monet", "risograph"), or a
genre (`style_words.GENRES`); nouns that are the picture's content ("a dog painting") stay subjects.

Each term is a ``style`` constraint with ``value`` "term:<words>"; the expansion keeps it when it has the words
in order (a possessive or a hyphen does not matter: "Van Gogh's"), or for one word a form or a word built on
the same stem ("surrealist" / "surrealism", "botanical" / "botany").
"""

from __future__ import annotations

from expander.constraints import lexicon as lx
from expander.constraints.prompt_context import PromptContext
from expander.constraints.style_words import GENRES, LOOSE_PATTERN_NOUNS, NOT_STYLE, PATTERN_NOUNS
from expander.constraints.tables import BOUNDARY, attr_group, decade, tables
from expander.constraints.text import forms, is_verb_form, number_words, pos_tags, tokenize
from expander.constraints.types import Constraint

__all__ = ["check_style_term", "style_terms"]

_OF_PATTERNS = (("in", "the", "style", "of"), ("style", "of"), ("inspired", "by"), ("in", "the", "manner", "of"))
_MAX_NAME_WORDS = 4


def _styleish(word: str, loose: bool) -> bool:
    """Whether a free prompt word before a medium noun names a style (see the module doc)."""
    if (
        not word.isalpha()
        or len(word) < 2
        or word in BOUNDARY
        or word in NOT_STYLE
        or word in lx.SUBJECTIVE_ADJECTIVES
        or word in lx.META_NOUNS
        or word in tables().color_of
        or word in number_words()
        or decade(word)
        or attr_group(word)
    ):
        return False
    tags = pos_tags(word)
    if loose or word in GENRES or not tags:
        return True
    return "ADJ" in tags and not is_verb_form(word)


def _term(ctx: PromptContext, i: int, j: int) -> Constraint:
    text, span = ctx.span_text(i, j)
    ctx.mark(i, j)
    return Constraint("style", text, value="term:" + " ".join(w.removesuffix("'s") for w in ctx.words[i:j]), span=span)


def style_terms(ctx: PromptContext) -> list[Constraint]:
    """``style`` constraints for the words the style patterns name and no earlier kind claimed (module doc)."""
    words, n, out = ctx.words, ctx.n, []
    for j, w in enumerate(words):
        if w not in PATTERN_NOUNS or ctx.tokens[j].is_punct:
            continue
        loose = w in LOOSE_PATTERN_NOUNS
        # "a candid street photo": each free style word right before the noun is a term of its own.
        k = j - 1
        while k >= 0 and k >= j - 2 and not ctx.used[k] and _styleish(words[k], loose):
            out.append(_term(ctx, k, k + 1))
            k -= 1
        # "a painting by Monet": a capitalised name after "by".
        if j + 2 < n and words[j + 1] == "by" and ctx.prompt[ctx.tokens[j + 2].start].isupper():
            out += _name_after(ctx, j + 2)
    for i in range(n):
        for pat in _OF_PATTERNS:
            if tuple(words[i : i + len(pat)]) == pat:
                out += _name_after(ctx, i + len(pat))
    return sorted(out, key=lambda c: c.span)


def _name_after(ctx: PromptContext, i: int) -> list[Constraint]:
    """The style named after "in the style of" / "inspired by" / "by": the free words up to punctuation or a
    function word ("Van Gogh", "a 1950s travel poster" -> "travel poster" once the decade is claimed)."""
    words, n = ctx.words, ctx.n
    while i < n and words[i] in ("a", "an", "the"):
        i += 1
    j = i
    while j < n and j - i < _MAX_NAME_WORDS and not ctx.tokens[j].is_punct and words[j] not in BOUNDARY:
        if ctx.used[j]:
            break
        j += 1
    return [_term(ctx, i, j)] if j > i else []


def _same_stem(a: str, b: str) -> bool:
    """ "surrealist" / "surrealism", "botanical" / "botany", "digital" / "digitally"; not "candid" / "candle"."""
    shortest = min(len(a), len(b))
    if shortest < 5:
        return False
    common = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), shortest)
    return common >= max(5, shortest - 3)


def _word_kept(want: str, got: str) -> bool:
    got = got.removesuffix("'s")
    return want == got or bool(forms(want) & forms(got)) or _same_stem(want, got)


def check_style_term(c: Constraint, doc) -> str | None:
    """A "term:" style holds when the expansion has its words in order (one word: any form or stem of it)."""
    want = [t.text for t in tokenize(c.value[5:])]
    got = doc.words
    if len(want) == 1:
        if any(_word_kept(want[0], w) for w in got):
            return None
    elif any(
        all(got[i + m].removesuffix("'s") == x for m, x in enumerate(want)) for i in range(len(got) - len(want) + 1)
    ):
        return None
    return f"style '{c.text}' missing"
