"""Extraction: what a short prompt pins down, one function per kind.

`extract(prompt)` runs the extractors in a fixed order over one `PromptContext`; the order matters,
because a kind that claims words marks them used and later kinds skip them: quoted text first, then the
fixed phrases (negation, style, viewpoint, spatial, multi-word scene attributes, counts), then the noun
phrases of what is left (counts and relations bound to their objects, colours, attributes, subjects).
Finally one constraint is kept per (kind, value, binding).

The extractors live by what they pin down: `extract_scene.py` (quoted text, negation, style, viewpoint: the
picture as a whole), `emptiness.py` ("empty", "deserted", "alone", "nobody": negations that no person or animal
may break), `style_terms.py` (the style words of "X painting", "in the style of X") and `extract_objects.py`
(spatial, count, colour, attribute, subject: bound to objects).
"""

from __future__ import annotations

from functools import lru_cache

from expander.constraints.emptiness import emptiness
from expander.constraints.extract_objects import (
    article_counts,
    colors,
    count_phrases,
    counts,
    phrase_attributes,
    scene_attributes,
    spatial,
    spatial_phrases,
    state_attributes,
    subjects,
)
from expander.constraints.extract_scene import negations, quoted_text, styles, viewpoints
from expander.constraints.prompt_context import PromptContext
from expander.constraints.style_terms import style_terms
from expander.constraints.tables import lemma
from expander.constraints.types import Constraint

__all__ = ["extract", "extract_cached", "require_str"]


def require_str(name: str, value) -> str:
    """`value` itself; a ValueError naming the argument when it is not a str."""
    if not isinstance(value, str):
        # A wrong argument type from calling code (the CLI and the API hand over strings): a programming error.
        # It stays a ValueError, not a TypeError, because callers have caught it as one since the first release.
        raise ValueError(f"{name} must be a str, got {type(value).__name__}")
    return value


def extract(prompt: str) -> list[Constraint]:
    """The constraints a prompt pins down, in the order they appear.

    Args:
        prompt: the short user prompt.

    Returns:
        A new list of `Constraint` (extraction is cached per prompt; the list is a copy).

    Raises:
        ValueError: if `prompt` is not a str.
    """
    return list(extract_cached(require_str("prompt", prompt)))


@lru_cache(maxsize=8192)
def extract_cached(prompt: str) -> tuple[Constraint, ...]:
    """`extract` without the type check and the copy: the cached tuple `check` reads."""
    out, quoted = quoted_text(prompt)
    ctx = PromptContext.build(prompt, quoted)
    out += emptiness(ctx)  # before negations: "no one", "not a soul" are no negated nouns
    out += negations(ctx)
    out += styles(ctx)
    out += viewpoints(ctx)
    out += style_terms(ctx)  # after the curated styles and viewpoints: the words they leave
    relations = spatial_phrases(ctx)  # claimed now so that "on top of" is no object; bound after phrases
    out += scene_attributes(ctx)
    numbers = count_phrases(ctx)
    ctx.find_phrases()
    out += counts(ctx, numbers)
    out += spatial(ctx, relations)
    out += state_attributes(ctx)
    # The output is sorted by span, and a colour, an attribute and a subject of one phrase never share a
    # span, so three passes over the phrases give the order one mixed pass would.
    out += colors(ctx)
    out += phrase_attributes(ctx)
    out += subjects(ctx)
    out += article_counts(ctx, out)  # "a bear": one bear, unless the prompt counts or pluralises it
    return _one_per_binding(out)


def _one_per_binding(out: list[Constraint]) -> tuple[Constraint, ...]:
    """Prompt order, one constraint per (kind, value, binding): "a dog ... the dog" pins one dog."""
    seen, unique = set(), []
    for c in sorted(out, key=lambda c: c.span):
        if c.kind == "subject":
            key = (c.kind, lemma(c.value))
        elif c.kind == "attribute":
            key = (c.kind, c.value, c.span)
        else:
            key = (c.kind, c.value, c.binds_to, c.target)
        if key not in seen:
            seen.add(key)
            unique.append(c)
    return tuple(unique)
