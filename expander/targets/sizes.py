"""Image size read from a prompt: an aspect ratio and a width/height (multiples of 16) near a target's area.

`suggest_size` looks for a reason in the prompt, strongest first, and answers None when there is none (the
caller keeps its own size):

1. an explicit ratio ("16:9", "in 2:3", "aspect ratio 4:5") or pixel size ("1920x1080");
2. an orientation ("vertical", "portrait orientation", "in landscape", "widescreen", "square format");
3. a format that has one ("panorama", "phone wallpaper", "poster", "banner", "album cover", "app icon");
4. a subject that does ("a tall lighthouse", "a towering skyscraper", "full-body", "a portrait of ...",
   "a mountain landscape").

Like Qwen-Image's enhancer (which answers a `wh_ratio` beside the prompt) and Ideogram's AUTO aspect ratio,
but rule-based, so the same prompt always gets the same size.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from fractions import Fraction

from expander.targets.catalog import TargetError, get_target

__all__ = ["SIZE_MULTIPLE", "SizeSuggestion", "check_size", "size_for_ratio", "suggest_size"]

SIZE_MULTIPLE = 16
"""Every width/height is a multiple of this: the VAE's 8x downsampling times the transformer's 2x2 patches."""

_MAX_RATIO = 4.0  # wider than 4:1 (or taller than 1:4) is not an image size the targets are trained near


@dataclass(frozen=True)
class SizeSuggestion:
    """A suggested image size.

    Attributes:
        aspect_ratio: "W:H" as the prompt asked ("16:9", "21:9"; a pixel size in lowest terms).
        width, height: pixels, multiples of `SIZE_MULTIPLE`, about the target's native area.
        reason: the words of the prompt that gave it ("a tall lighthouse").
    """

    aspect_ratio: str
    width: int
    height: int
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)


def check_size(width: int | None, height: int | None) -> None:
    """Accept a caller's width/height: each None (not given) or a positive multiple of `SIZE_MULTIPLE`.

    Raises:
        TargetError: naming the bad value and the nearest valid ones.
    """
    for key, value in (("width", width), ("height", height)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise TargetError(f"{key} must be a positive whole number of pixels, got {value!r}")
        if value % SIZE_MULTIPLE:
            low = value // SIZE_MULTIPLE * SIZE_MULTIPLE
            near = f"{low} or {low + SIZE_MULTIPLE}" if low else str(SIZE_MULTIPLE)
            raise TargetError(f"{key} must be a multiple of {SIZE_MULTIPLE}, got {value} (use {near})")


def size_for_ratio(ratio: Fraction, pixels: int) -> tuple[int, int]:
    """(width, height), multiples of `SIZE_MULTIPLE`, of aspect `ratio` (width / height) and about `pixels`."""
    width = math.sqrt(pixels * ratio)
    height = math.sqrt(pixels / ratio)
    return _round16(width), _round16(height)


def _round16(x: float) -> int:
    return max(SIZE_MULTIPLE, int(round(x / SIZE_MULTIPLE)) * SIZE_MULTIPLE)


# An explicit ratio: "16:9", "16 : 9", "aspect ratio 16/9", "16 by 9"; and pixel sizes "1920x1080".
_RATIO = re.compile(r"(?<![\d:./])(\d{1,2})\s*(:|/|\bby\b)\s*(\d{1,2})(?![\d:./])", re.I)
_PIXELS = re.compile(r"(?<![\d.])(\d{3,5})\s*[x×]\s*(\d{3,5})(?![\d.])", re.I)
_RATIO_BEFORE = re.compile(r"\b(aspect|ratio|format|in)(\s+of)?\W*$", re.I)
_RATIO_AFTER = re.compile(r"^\W*(aspect|ratio|format|frame|crop)\b", re.I)
# Ratios people write as "W:H" without saying "aspect ratio" (so "10:30", a time, is not one; "3/4 view" and
# "2 by 4" need a ratio word).
_COMMON = {(1, 1), (4, 3), (3, 2), (16, 9), (21, 9), (2, 1), (5, 4), (16, 10), (7, 5), (3, 1), (12, 5), (32, 9)}

# (pattern, "W:H"), strongest first; the first that matches wins.
_CUES: tuple[tuple[str, str], ...] = (
    # orientation and format
    (r"\b(?:portrait|vertical|upright)\s+(?:orientation|format|aspect|mode|composition|frame|shot)\b", "9:16"),
    (r"\bin\s+portrait\b", "9:16"),
    (r"\b(?:landscape|horizontal)\s+(?:orientation|format|aspect|mode|composition|frame|shot)\b", "16:9"),
    (r"\bin\s+landscape\b", "16:9"),
    (r"\b(?:square)\s+(?:format|image|aspect|crop|frame|composition|canvas)\b", "1:1"),
    (r"\b(?:ultra-?wide|panoramas?|panoramic)\b", "21:9"),
    (r"\b(?:widescreen|cinematic\s+wide|anamorphic|letterbox(?:ed)?|banner|header\s+image)\b", "16:9"),
    (r"\b(?:phone|mobile|smartphone)\s+(?:wallpaper|background|screen)\b", "9:16"),
    (r"\b(?:instagram|tiktok)\s+(?:story|reel)\b|\bvertical\s+video\b", "9:16"),
    (r"\b(?:desktop\s+wallpaper|youtube\s+thumbnail|thumbnail)\b", "16:9"),
    (r"\b(?:movie\s+poster|poster|book\s+cover|magazine\s+cover|tarot\s+card|playing\s+card)\b", "2:3"),
    (r"\b(?:album\s+cover|app\s+icon|icon|logo|avatar|profile\s+picture|sticker|emoji)\b", "1:1"),
    # subjects with a shape
    (r"\b(?:tall|towering|soaring|narrow)\s+(?:\w+\s+){0,2}?\w+", "2:3"),
    (r"\b(?:skyscrapers?|spires?|obelisks?|lighthouses?|waterfalls?|giraffes?|totem\s+poles?)\b", "2:3"),
    (r"\bfull[-\s](?:body|length)\b", "2:3"),
    (r"\b(?:portrait|headshot|selfie)\b", "4:5"),
    (r"\b(?:skyline|vista|seascape|cityscape|landscape|horizon)\b", "16:9"),
)
_CUE_PATTERNS = tuple((re.compile(p, re.I), r) for p, r in _CUES)


def _fraction(w: int, h: int) -> Fraction | None:
    if w <= 0 or h <= 0:
        return None
    r = Fraction(w, h)
    return r if 1 / _MAX_RATIO <= r <= _MAX_RATIO else None


def _explicit_ratio(prompt: str) -> tuple[Fraction, str, str] | None:
    """(ratio, "W:H" as the prompt means it, the words) of an explicit ratio or pixel size, or None."""
    for m in _PIXELS.finditer(prompt):
        r = _fraction(int(m.group(1)), int(m.group(2)))
        if r is not None:
            return r, f"{r.numerator}:{r.denominator}", m.group()
    for m in _RATIO.finditer(prompt):
        w, sep, h = int(m.group(1)), m.group(2), int(m.group(3))
        r = _fraction(w, h)
        if r is None:
            continue
        before = prompt[max(0, m.start() - 16) : m.start()]
        after = prompt[m.end() : m.end() + 16]
        common = sep == ":" and (max(w, h), min(w, h)) in _COMMON
        if common or _RATIO_BEFORE.search(before) or _RATIO_AFTER.search(after):
            return r, f"{w}:{h}", m.group()
    return None


def suggest_size(prompt: str, *, target: str = "generic") -> SizeSuggestion | None:
    """The size `prompt` asks for, or None when it gives no reason for one (see the module doc for the cues).

    Args:
        prompt: the user's short prompt (the expansion is not read: the model may have invented the reason).
        target: a `TARGETS` name; its native pixel area sets the size.

    Returns:
        A `SizeSuggestion` whose width/height are multiples of 16, or None.

    Raises:
        TargetError: `target` is unknown.
    """
    pixels = get_target(target).pixels
    found = _explicit_ratio(prompt)
    if found is None:
        for pattern, ratio in _CUE_PATTERNS:
            m = pattern.search(prompt)
            if m:
                w, h = ratio.split(":")
                found = Fraction(int(w), int(h)), ratio, m.group()
                break
    if found is None:
        return None
    ratio, label, reason = found
    width, height = size_for_ratio(ratio, pixels)
    return SizeSuggestion(label, width, height, reason.strip())
