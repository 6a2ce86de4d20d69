"""The negative prompt a user's own words imply: what the prompt excludes ("no cars" -> "cars"), nothing more.

The exclusions are the prompt's `negation` constraints (`expander.constraints.extract`), so they are the same
ones the constraint checker holds the expansion to. Nothing is invented: no stock "blurry, lowres" list.
"""

from __future__ import annotations

import re

__all__ = ["exclusions", "merge_negative"]

# The cue words that open a negation span ("no", "without", "free of", ...), and words the extractor skips
# after them ("no visible cars").
_CUE = re.compile(r"^(?:no|without|not|zero|nor|free\s+of|devoid\s+of)\b\s*", re.I)
_SKIP = re.compile(r"^(?:(?:any|visible|single|a|an|the)\b\s*)+", re.I)
_JOIN = re.compile(r"^[\s,]*(?:(?:or|nor|and)\b)?\s*", re.I)


def exclusions(prompt: str) -> list[str]:
    """The things `prompt` says must not appear, as short noun phrases, in prompt order, without repeats.

    "a street, no red cars, trucks or buses" -> ["red cars", "trucks", "buses"]; "a windowless room" ->
    ["window"]; "deserted beach" -> ["people"].

    Raises:
        MissingExtraError: the `constraints` extra is not installed.
    """
    from expander.constraints import extract, require_constraints

    require_constraints()
    found: list[str] = []
    previous: tuple[int, int] | None = None  # span of the last negation: a list shares its cue's start
    for c in extract(prompt):
        if c.kind != "negation":
            continue
        start, end = c.span
        if previous is not None and previous[0] == start and previous[1] <= end:
            phrase = _JOIN.sub("", prompt[previous[1] : end])  # the next item of "no cars, trucks or buses"
        elif c.target != "emptiness" and _CUE.match(c.text):
            phrase = _SKIP.sub("", _CUE.sub("", c.text))
        else:  # "windowless", "deserted", "no one": the words are not the thing; the extractor's value is
            phrase = c.value or ""
        previous = (start, end)
        phrase = phrase.strip(" ,.;:")
        if phrase and phrase.lower() not in (f.lower() for f in found):
            found.append(phrase)
    return found


def merge_negative(given: str | None, extra: list[str]) -> str:
    """`given` (a caller's negative prompt, kept first and as written) plus each of `extra` it does not already
    contain, comma-separated."""
    parts = [given.strip()] if given and given.strip() else []
    have = " ".join(parts).lower()
    parts += [e for e in extra if not re.search(rf"\b{re.escape(e.lower())}\b", have)]
    return ", ".join(parts)
