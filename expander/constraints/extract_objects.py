"""Extraction of the kinds bound to objects: spatial relations, counts, colours, attributes and subjects.

Relation and count phrases are claimed before the noun phrases are found (`spatial_phrases`,
`count_phrases`) and bound to their objects afterwards (`spatial`, `counts`); colours, attributes and
subjects read the noun phrases that are left. One function per kind (attributes: three, by where they sit).
"""

from __future__ import annotations

from expander.constraints import lexicon as lx
from expander.constraints.prompt_context import Phrase, PromptContext, adjective_like
from expander.constraints.tables import (
    BOUNDARY,
    COUNT_STOP,
    SCENE_GROUPS,
    attr_group,
    color_family,
    tables,
)
from expander.constraints.text import CLAUSE_END, can_be_noun, is_plural, is_verb_form, noun_forms, pos_tags
from expander.constraints.types import Constraint

__all__ = [
    "article_counts",
    "colors",
    "count_phrases",
    "counts",
    "phrase_attributes",
    "scene_attributes",
    "spatial",
    "spatial_phrases",
    "state_attributes",
    "subjects",
]

# Colour names that are also nouns but read as colours before a noun in prompts ("a gold ring").
_PROMPT_AMBIGUOUS_COLORS = frozenset(
    "gold silver orange ivory cream amber bronze copper turquoise fuchsia lavender violet lilac magenta indigo".split()
)

# --- spatial -------------------------------------------------------------------------------------


def spatial_phrases(ctx: PromptContext) -> list[tuple[int, int, str]]:
    """The relation phrases of the prompt ("on top of", "left of"), claimed before the noun phrases are
    found; `spatial` binds them to their objects afterwards. Returns (start, end, relation) per phrase."""
    hits = []
    for i, j, rel in tables().spatial_prompt_index.find(ctx.words):
        if ctx.free(i, j):
            hits.append((i, j, rel))
            ctx.mark(i, j)
    return hits


def spatial(ctx: PromptContext, relations: list[tuple[int, int, str]]) -> list[Constraint]:
    """``spatial``: a relation between the noun before it and the noun after it ("a cat under a table":
    binds_to cat, target table, value "under"), or a side of the frame ("a dog on the left": no target).
    A relation with no object before it pins nothing. The expansion fails when the relation between the
    two objects became another one (or its opposite), or is not stated; plain "on" fails only on a clash.
    """
    words, toks, n = ctx.words, ctx.tokens, ctx.n
    out = []
    for i, j, rel in relations:
        a = ctx.prev_head(i)
        if a is None:
            continue
        b = ctx.next_head(j)
        target = words[b] if b is not None else None
        if b is None and rel not in ("left of", "right of"):
            # The object may sit inside another constraint's phrase ("under a full moon"): its last word.
            k = j
            while k < n and words[k] in lx.DETERMINERS:
                k += 1
            while k < n and not toks[k].is_punct and words[k] not in BOUNDARY:
                k += 1
            if k == j or words[k - 1] in lx.DETERMINERS:
                continue
            target = words[k - 1]
        if rel in ("left of", "right of") and b is not None and words[j - 1] in ("left", "right"):
            b, target = None, None  # "a dog on the left, a cat ...": a side of the frame, not an object
        end = (b + 1) if b is not None else (k if target is not None else j)
        text, span = ctx.span_text(a, end)
        out.append(Constraint("spatial", text, binds_to=words[a], value=rel, target=target, span=span))
    return out


# --- count ---------------------------------------------------------------------------------------


def count_phrases(ctx: PromptContext) -> list[tuple[int, int, int]]:
    """The counts of the prompt (number words, digits up to 1000, "a pair of", "a single"), claimed before
    the noun phrases are found; `counts` binds them afterwards. Partitives ("one of the cats") and numbers
    that are settings or years ("f/1.8", "4:3", "2020") are not counts. Returns (start, end, value)."""
    words, n = ctx.words, ctx.n
    found = []
    for i, j, value in tables().count_index.find(words):
        if not ctx.free(i, j) or (j < n and words[j] == "of" and words[i] not in ("a",) and "of" not in words[i:j]):
            continue  # "one of the cats" is not a count
        found.append((i, j, int(value)))
        ctx.mark(i, j)
    for i, w in enumerate(words):
        # A bare number counts; "f/1.8", "4:3" and "2020" do not.
        near = ctx.prompt[max(0, ctx.tokens[i].start - 1) : ctx.tokens[i].end + 1]
        if not ctx.used[i] and w.isdigit() and 0 < int(w) <= 1000 and not any(ch in near for ch in "./:"):
            found.append((i, i + 1, int(w)))
            ctx.mark(i, i + 1)
    return found


def _count_head(ctx: PromptContext, j: int) -> int | None:
    """The head a count ending before token j binds to: the noun phrase right after it. A verb or a
    preposition first means the count names something said before ("Both have shaggy hair", "one with
    hands", "four in outfits")."""
    words = ctx.words
    for k in range(j, min(ctx.n, j + 8)):
        if words[k] in CLAUSE_END or words[k] == ",":
            return None
        if ctx.head_at.get(k) is not None:
            return ctx.head_at[k]
        if k + 1 < ctx.n and ctx.gap_after(k) == "-":
            continue  # a hyphenated modifier ("a pair of over-ear headphones")
        if words[k] in COUNT_STOP or (k not in ctx.head_at and is_verb_form(words[k])):
            return None
    return None


def counts(ctx: PromptContext, numbers: list[tuple[int, int, int]]) -> list[Constraint]:
    """``count``: a number bound to the noun after it ("three apples", "12 eggs", "a single rose", "a pair
    of boots"); `value` is the number as a string, `binds_to` the noun. A count with no noun after it pins
    nothing. The expansion fails when the noun is gone or carries another number, a vague quantity
    ("several") or, for one, the plural.
    """
    out = []
    for i, j, value in numbers:
        h = _count_head(ctx, j)
        if h is None:
            continue
        text, span = ctx.span_text(i, h + 1)
        out.append(Constraint("count", text, binds_to=ctx.words[h], value=str(value), span=span))
    return out


# --- colour --------------------------------------------------------------------------------------


def _joined(ctx: PromptContext, k: int) -> bool:
    """Token k is fused with the next into one colour ("blue-grey", "reddish orange")."""
    return ctx.words[k].endswith("ish") or ctx.gap_after(k) == "-"


def _color_bind(ctx: PromptContext, i: int) -> int | None:
    """The noun a colour phrase starting at i describes: the previous head, passing over the other
    colours of a list ("a rug in cream, charcoal, and mustard" -> rug)."""
    color_of = tables().color_of
    for k in range(i - 1, max(-1, i - 16), -1):
        if ctx.words[k] in CLAUSE_END:
            return None
        h = ctx.head_at.get(k)
        if h is not None and h < i and ctx.words[h] not in color_of:
            return h
    return None


def _modifier_role(ctx: PromptContext, phrase: Phrase, k: int) -> str | None:
    """How token k of a phrase reads: "head" (the head itself, or a word of a compound colour like "mint
    green" or "blue-grey"), "plant" ("a white fuchsia blossom": fuchsia names the plant, white its
    colour), "color" (a colour word describing the phrase), or None (any other modifier)."""
    words, color_of, head = ctx.words, tables().color_of, phrase.head
    # A phrase headed by a colour is one compound colour ("mint green", "butter yellow", "blue-grey"):
    # its words describe the noun before it, not each other.
    compound = head is not None and words[head] in color_of and words[head] not in lx.AMBIGUOUS_COLOR_WORDS
    w = words[k]
    if k == head or (compound and w in color_of):
        return "head"
    if (
        w in lx.AMBIGUOUS_COLOR_WORDS
        and k + 1 == head
        and any(words[m] in color_of and not _joined(ctx, m) for m in phrase.tokens if m < k)
    ):
        return "plant"
    if w in color_of and (
        w not in lx.AMBIGUOUS_COLOR_WORDS
        or w in _PROMPT_AMBIGUOUS_COLORS
        or (k + 1 < ctx.n and words[k + 1] in color_of and words[k + 1] not in lx.AMBIGUOUS_COLOR_WORDS)
    ):
        return "color"
    return None


def _head_role(ctx: PromptContext, phrase: Phrase) -> str | None:
    """What a phrase's head states: "color" ("a woman in red"), "scene" (a scene-wide attribute group:
    "at sunset", "snowy"), "adjective" ("the room is bright"), "subject", or None (no head, or a word
    that is none of these: "style", a number)."""
    if phrase.head is None:
        return None
    hw = ctx.words[phrase.head]
    if hw in tables().color_of and hw not in lx.AMBIGUOUS_COLOR_WORDS:
        return "color"
    group = attr_group(hw)
    tags = pos_tags(hw)
    if group is not None and (group in SCENE_GROUPS or "NOUN" not in tags or "ADJ" in tags):
        return "scene"
    if not can_be_noun(hw) or hw in lx.META_NOUNS or hw in lx.SUBJECTIVE_ADJECTIVES or len(hw) < 2 or hw[0].isdigit():
        return "adjective" if "ADJ" in tags and hw not in lx.META_NOUNS else None
    return "subject"


def colors(ctx: PromptContext) -> list[Constraint]:
    """``color``: a colour word bound to the noun it describes ("a blue vase": binds_to vase, value blue;
    "a woman in red" and "a rug in cream, charcoal, and mustard" bind to the noun before them). Colour
    words that are also nouns (`lexicon.AMBIGUOUS_COLOR_WORDS`: "rose", "olive") count only where they
    read as colours. `value` is the colour family. The expansion fails when the noun is gone, carries
    another colour, or nothing in its sentence has the colour.
    """
    words = ctx.words
    out = []
    for phrase in ctx.phrases:
        head = phrase.head
        for k in phrase.tokens:
            if _modifier_role(ctx, phrase, k) != "color":
                continue
            bind = head if head is not None else _color_bind(ctx, phrase.tokens[0])
            if bind is None or bind == k:
                continue
            first = k - 1 if k > 0 and words[k - 1] in lx.COLOR_QUALIFIERS else k
            text, span = ctx.span_text(min(first, bind), max(k, bind) + 1)
            out.append(Constraint("color", text, binds_to=words[bind], value=color_family(words[k]), span=span))
        if _head_role(ctx, phrase) == "color":
            bind = _color_bind(ctx, phrase.tokens[0])  # "a woman in red", "the door is blue"
            if bind is not None:
                text, span = ctx.span_text(bind, head + 1)
                out.append(Constraint("color", text, binds_to=words[bind], value=color_family(words[head]), span=span))
    return out


# --- attribute -----------------------------------------------------------------------------------


def scene_attributes(ctx: PromptContext) -> list[Constraint]:
    """``attribute`` (scene-wide, multi-word): phrases of `lexicon.ATTRIBUTE_GROUPS` such as "at night",
    "golden hour", "full moon" are unambiguous, so they are claimed before the noun phrases. `value` is
    the group. See `phrase_attributes` for when the expansion fails."""
    out = []
    for i, j, group in tables().attr_index.find(ctx.words):
        if j - i > 1 and ctx.free(i, j):
            text, span = ctx.span_text(i, j)
            out.append(Constraint("attribute", text, value=group, span=span))
            ctx.mark(i, j)
    return out


def state_attributes(ctx: PromptContext) -> list[Constraint]:
    """``attribute`` (a state after its noun): "a kitten sleeping in a box" -> "sleeping", bound to the
    noun before it, when the verb form belongs to an attribute group."""
    out = []
    modifiers = {k for phrase in ctx.phrases for k in phrase.tokens}
    for i, w in enumerate(ctx.words):
        if not ctx.used[i] and i not in modifiers and is_verb_form(w) and attr_group(w):
            a = ctx.prev_head(i)
            text, span = ctx.token_text(i)
            out.append(
                Constraint(
                    "attribute", text, binds_to=ctx.words[a] if a is not None else None, value=attr_group(w), span=span
                )
            )
    return out


def _word_attribute(ctx: PromptContext, k: int, head: str | None) -> list[Constraint]:
    """An attribute constraint for the word at k describing `head`, or nothing when the word is not an
    adjective-like fact. A word of an attribute group is hard; an opinion word ("cozy"), an adjective no
    list knows or an -ing modifier is soft (value: the word itself)."""
    word = ctx.words[k]
    group = attr_group(word)
    text, span = ctx.token_text(k)
    if group is not None:
        return [Constraint("attribute", text, binds_to=head, value=group, span=span)]
    tags = pos_tags(word)
    if (
        word in lx.SUBJECTIVE_ADJECTIVES
        or ("ADJ" in tags and "NOUN" not in tags)
        or (tags and word.endswith("ing") and "VERB" in tags)
    ):
        if word in lx.META_NOUNS or word in lx.COLOR_QUALIFIERS:
            return []
        return [Constraint("attribute", text, binds_to=head, hard=False, value=word, span=span)]
    return []


def phrase_attributes(ctx: PromptContext) -> list[Constraint]:
    """``attribute`` (inside a noun phrase): a modifier that is not a colour ("a wooden cabin": value
    "wooden" group, binds_to cabin; "an old man"), a head that is a scene-wide group ("a sunset over the
    sea", no binding) or an adjective ("the room is bright", bound to the noun before it).

    Group attributes are hard: the expansion fails when no phrase of the group is there, or an opposite
    one is (near the bound noun first: "a glass cabin in a pine forest" is not wooden). Soft ones (opinion
    words, adjectives no list knows) pass on the word itself or a MiniLM paraphrase; they only lower the
    score.
    """
    words = ctx.words
    out = []
    for phrase in ctx.phrases:
        head = phrase.head
        if head is not None:
            for k in phrase.tokens:
                if _modifier_role(ctx, phrase, k) is None:
                    out.extend(_word_attribute(ctx, k, words[head]))
        role = _head_role(ctx, phrase)
        if role == "scene":
            text, span = ctx.token_text(head)
            out.append(Constraint("attribute", text, value=attr_group(words[head]), span=span))
        elif role == "adjective":
            bind = ctx.prev_head(phrase.tokens[0])
            out.extend(_word_attribute(ctx, head, words[bind] if bind is not None else None))
    return out


# --- subject -------------------------------------------------------------------------------------


def subjects(ctx: PromptContext) -> list[Constraint]:
    """``subject``: the head noun of each remaining noun phrase ("a red fox" -> fox), its text without
    the leading colour and adjective words. A noun right before the head makes a compound ("fence post",
    "clock tower"): `target` is that noun and both words must be kept. Meta nouns ("image", "style") and
    opinion words are no subjects. The expansion fails when neither the noun, a word of its concept
    (puppy/dog), a word built on it (snow/snowfall) nor a MiniLM synonym is there.
    """
    words, color_of = ctx.words, tables().color_of
    out = []
    for phrase in ctx.phrases:
        if _head_role(ctx, phrase) != "subject":
            continue
        head = phrase.head
        first = phrase.tokens[0]
        while first < head and (
            words[first] in color_of
            or attr_group(words[first])
            or "ADJ" in pos_tags(words[first])
            and "NOUN" not in pos_tags(words[first])
        ):
            first += 1
        text, span = ctx.span_text(first, head + 1)
        compound = (
            words[head - 1]
            if head - 1 >= first
            and not adjective_like(words[head - 1])
            and can_be_noun(words[head - 1])
            and attr_group(words[head - 1]) is None
            else None
        )
        out.append(Constraint("subject", text, value=words[head], target=compound, span=span))
    return out


def article_counts(ctx: PromptContext, found: list[Constraint]) -> list[Constraint]:
    """``count`` of one for a subject the prompt introduces with "a"/"an" ("a bear": binds_to bear, value 1),
    unless the prompt also names that noun in the plural or with a number (`found`: the constraints so far).
    Lenient (`check_objects.check_article_count`): only an explicit larger number bound to the same noun fails
    it ("two bears"); a bare plural or "several" does not. Never kept by restating its span: the expansion
    "a bear: two bears" changes the count."""
    words = ctx.words
    many = [w for w in words if is_plural(w)] + [c.binds_to for c in found if c.kind == "count" and c.binds_to]
    counted = set().union(*(noun_forms(w) for w in many))  # forms, not `lemma`: "men" and "man" tie in length
    out = []
    for phrase in ctx.phrases:
        head, first = phrase.head, phrase.tokens[0]
        if _head_role(ctx, phrase) != "subject" or first == 0 or words[first - 1] not in ("a", "an"):
            continue
        if is_plural(words[head]) or noun_forms(words[head]) & counted:
            continue
        text, span = ctx.span_text(first - 1, head + 1)
        out.append(Constraint("count", text, binds_to=words[head], value="1", span=span))
    return out
