"""Extraction of the scene-wide kinds: quoted text, negation, style and viewpoint, one function per kind.

They pin down the picture as a whole rather than one object, and are fixed phrases, so `extract` runs them
before the noun phrases are found; each marks the words it claims as used (`PromptContext.mark`).
"""

from __future__ import annotations

import re

from expander.constraints import lexicon as lx
from expander.constraints.expansion import negation_targets
from expander.constraints.negation import (
    DENIALS,
    DOUBLE_NEGATIVE_HEADS,
    LABEL_FIRST,
    LABEL_NOUNS,
    NOT_VISUAL_FREE,
    OF_CUES,
    PARTITIVES,
    POSTNOMINAL_ENDS,
    PROMPT_CUES,
)
from expander.constraints.prompt_context import PromptContext, noun_like
from expander.constraints.tables import (
    BOUNDARY,
    decade,
    tables,
)
from expander.constraints.text import CLAUSE_END, forms, is_verb_form
from expander.constraints.types import Constraint

__all__ = ["negations", "quoted_text", "styles", "viewpoints"]

_QUOTE_RE = re.compile(r"\"([^\"]+)\"|\u201c([^\u201d]+)\u201d|(?<![\w'])'([^']+)'(?![\w])")
# Words that negate a thing they do not contain ("deserted", "uninhabited" empty a scene: `emptiness.py`).
_IMPLIED_NEGATIONS = {"cloudless": "cloud"}
_WEAK_STYLE_WORDS = frozenset(
    "painting drawing sketch illustration render pencil ink charcoal chalk crayon clay film comic graffiti "
    "mosaic sculpture statue pixel sprite oils 3d analog pastels pastel painted drawn illustrated rendered "
    "sketched embroidered sculpted blender vector flat cartoon polaroid photo".split()
)
_MEDIUM_NOUNS = frozenset(
    "of style drawing sketch painting illustration art artwork render print photo "
    "photograph portrait image picture rendering aesthetic".split()
)


# --- quoted_text ---------------------------------------------------------------------------------


def quoted_text(prompt: str) -> tuple[list[Constraint], list[tuple[int, int]]]:
    """``quoted_text``: text in double, curly or single quotes ('a sign that says "OPEN"'); the
    expansion must contain it verbatim, case included. Empty quotes pin nothing.

    Returns the constraints and the character spans of every quote (their words are no other kind's).
    """
    out, quoted = [], []
    for m in _QUOTE_RE.finditer(prompt):
        inner = next(g for g in m.groups() if g is not None)
        quoted.append((m.start(), m.end()))
        if inner.strip():
            out.append(Constraint("quoted_text", m.group(), value=inner.strip(), span=(m.start(), m.end())))
    return out, quoted


# --- negation ------------------------------------------------------------------------------------


def _cue_width(ctx: PromptContext, i: int) -> int:
    """How many words the negation cue at i takes (0: none): "no", "without", "lacking" (1); "free of",
    "devoid of", "a lack of", "free from" (2). A denied cue ("not without charm") and "no-" in a hyphenated
    compound ("a no-frills diner") are none."""
    words, n = ctx.words, ctx.n
    w, nxt = words[i], words[i + 1] if i + 1 < n else ""
    if i > 0 and words[i - 1] in DENIALS:
        return 0
    if w == "no" and nxt and ctx.gap_after(i) == "-":
        ctx.mark(i, i + 2)  # "no-frills", "no-nonsense": an adjective, neither cue nor noun
        return 0
    if w in PROMPT_CUES:
        return 1
    return 2 if (w in OF_CUES and nxt == "of") or (w == "free" and nxt == "from") else 0


def negations(ctx: PromptContext) -> list[Constraint]:
    """``negation``: a cue (`negation.PROMPT_CUES`: "no", "without", "lacking", ...; "free of", "devoid of",
    "a lack of") and the nouns in its scope ("no cars, trucks or buses" is three); "X-free" ("car-free");
    "-less" words of `lexicon.NEGATING_LESS` ("windowless": window). `value` is the negated noun; the
    expansion fails when it mentions that thing outside a negation. Not negations (`negation.py`): double
    negatives ("not without charm", "no shortage of light"), "no man's land", "No Man's Sky", "no-frills", a
    sign's label ("a no parking sign"). Emptiness ("nobody", "deserted") is `emptiness.py`'s.
    """
    words, toks, n = ctx.words, ctx.tokens, ctx.n
    negated: list[tuple[int, int, int, str]] = []  # (cue start, head index, span end, noun)
    for i, w in enumerate(words):
        if ctx.used[i] and not toks[i].is_punct:
            continue
        width = _cue_width(ctx, i)
        if i + 1 < n and words[i + 1] == "free" and ctx.gap_after(i) == "-" and w.isalpha():
            if w not in NOT_VISUAL_FREE and w not in BOUNDARY:  # "a car-free street"; not "hands-free"
                negated.append((i, i, i + 2, w))
            ctx.mark(i, i + 2)
        elif width:
            k = i + width
            label = False  # "a no parking sign", "No Vacancy sign": a gerund or a label word before a sign noun
            while k < n:
                while k < n and (
                    words[k] in lx.DETERMINERS
                    or words[k] in ("any", "visible", "single")
                    or (is_verb_form(words[k]) and words[k].endswith("ing"))
                ):
                    label |= words[k].endswith("ing")
                    k += 1
                start = k
                if k < n and (words[k].endswith("'s") or words[k] in DOUBLE_NEGATIVE_HEADS):
                    ctx.mark(i, k + 1)  # "no man's land", "No Man's Sky"; "no shortage of light"
                    break
                label |= k < n and words[k] in LABEL_FIRST
                while k < n and not toks[k].is_punct and words[k] not in BOUNDARY:
                    if k > start and (is_verb_form(words[k]) or words[k] in POSTNOMINAL_ENDS):
                        break  # "no windows sits half buried", "no people walking", "no cars visible": it ended
                    k += 1
                if k == start:
                    break
                head = words[k - 1]
                if negated and negated[-1][0] == i and not noun_like(head):
                    break  # the scope ends with the noun phrase: "no harsh shadows, tactile and playful"
                if label and head in LABEL_NOUNS:
                    break  # the sign is there; its label is not a thing in the picture
                if head in PARTITIVES and k + 1 < n and words[k] == "of":
                    k += 1  # "not a sheet of paper", "no piece of furniture": the paper is what is excluded
                    continue
                negated.append((i, k - 1, k, head))
                # Lists continue over "or"/"nor", and over commas only when an "or"/"nor" closes the list
                # ("no cars, trucks or buses"; but "no people, wide shot" ends at the comma).
                closes = any(x in ("or", "nor") for x in words[k : k + 6]) and not any(
                    x in CLAUSE_END
                    for x in words[k : k + 6][
                        : next((m for m, x in enumerate(words[k : k + 6]) if x in ("or", "nor")), 0)
                    ]
                )
                if (
                    k < n
                    and (words[k] in ("or", "nor") or (words[k] in (",", "and") and closes))
                    and k + 1 < n
                    and words[k + 1] not in lx.DETERMINERS
                ):
                    k += 1
                    if k < n and words[k] in ("or", "nor"):
                        k += 1
                    continue
                break
            if negated and negated[-1][0] == i:
                ctx.mark(i, negated[-1][2])
        elif w in lx.NEGATING_LESS:
            negated.append((i, i, i + 1, w[:-4]))
            ctx.mark(i, i + 1)
        elif w in _IMPLIED_NEGATIONS:
            negated.append((i, i, i + 1, _IMPLIED_NEGATIONS[w]))
            ctx.mark(i, i + 1)
    out = []
    for cue, _, end, noun in negated:
        text, span = ctx.span_text(cue, end)
        out.append(Constraint("negation", text, value=noun, target=_others_named(ctx, cue, end, noun), span=span))
    return out


def _others_named(ctx: PromptContext, cue: int, end: int, noun: str) -> str | None:
    """For "no other vehicles": the prompt's own words of the negated kind outside the negation ("truck"),
    space-separated; they are what "other" sets apart, so mentioning them keeps the negation. None otherwise."""
    if not any(w in ("other", "another", "more") for w in ctx.words[cue:end]):
        return None
    targets = negation_targets(noun)
    own = [w for i, w in enumerate(ctx.words) if not cue <= i < end and forms(w) & targets]
    return " ".join(dict.fromkeys(own)) or None


# --- style ---------------------------------------------------------------------------------------


def styles(ctx: PromptContext) -> list[Constraint]:
    """``style``: a medium, technique or era (`lexicon.STYLE_FAMILIES`; "watercolor", "pixel art",
    "1970s"). Multi-word phrases and unambiguous words always count; weak words ("clay", "pencil",
    "black and white") only where they name a medium ("a clay figure" is not, "in clay" and "clay render"
    are). `value` is the family, or "era:70s" for a decade. The expansion fails when the family (or the
    decade) is gone or another one replaced it.
    """
    words, n = ctx.words, ctx.n
    out = []
    for i, j, family in tables().style_prompt_index.find(words):
        if not ctx.free(i, j):
            continue
        phrase = " ".join(words[i:j])
        nxt = words[j] if j < n else "."
        prev = words[i - 1] if i > 0 else "."
        if phrase == "black and white" and not (nxt in _MEDIUM_NOUNS or nxt in ".,;" or prev == "in"):
            continue  # "a black and white cat" is two colours
        if (
            j - i == 1
            and phrase in _WEAK_STYLE_WORDS
            and not (nxt in _MEDIUM_NOUNS or nxt in ".,;" or prev in ("in", "as", ",") or j == n)
        ):
            continue  # "a clay pot", "a pencil on a desk"
        text, span = ctx.span_text(i, j)
        out.append(Constraint("style", text, value=family, span=span))
        ctx.mark(i, j)
    for i, w in enumerate(words):
        if not ctx.used[i] and decade(w):
            text, span = ctx.token_text(i)
            out.append(Constraint("style", text, value="era:" + decade(w), span=span))
            ctx.mark(i, i + 1)
    return out


# --- viewpoint -----------------------------------------------------------------------------------


def viewpoints(ctx: PromptContext) -> list[Constraint]:
    """``viewpoint``: a camera position or framing (`lexicon.VIEWPOINT_FAMILIES`; "close-up", "top-down",
    "low-angle shot"). `value` is the family. The expansion fails when no phrase of the family is there,
    and names the opposite framing if it took its place ("close-up" -> "wide shot").
    """
    words, n = ctx.words, ctx.n
    out = []
    for i, j, family in tables().view_prompt_index.find(words):
        if not ctx.free(i, j):
            continue
        end = j + 1 if j < n and words[j] in ("shot", "view", "angle", "perspective") else j
        text, span = ctx.span_text(i, end)
        out.append(Constraint("viewpoint", text, value=family, span=span))
        ctx.mark(i, end)
    return out
