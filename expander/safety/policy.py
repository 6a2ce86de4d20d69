"""The text safety policy: hard and soft categories, `classify_text` and `added_categories`.

Deterministic and model-free; the categories and what each one means are in the package docstring
(`expander.safety`).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from expander.safety.lexicons import (
    ASSAULT,
    DEGRADING,
    INTIMATE,
    MINOR,
    NON_CONSENT,
    REAL_PERSON,
    SEXUAL,
    SOFT_LEXICONS,
)
from expander.safety.normalization import normalized_views

__all__ = ["HARD_CATEGORIES", "SOFT_CATEGORIES", "SafetyVerdict", "added_categories", "classify_text"]

HARD_CATEGORIES = ("sexual_minors", "non_consensual_intimate", "real_person_intimate")
SOFT_CATEGORIES = ("sexual", "violence_gore", "self_harm", "hate_symbols", "drugs", "weapons")


@dataclass
class SafetyVerdict:
    """The policy's verdict on one text.

    Attributes:
        blocked: a hard category matched: the text must not be generated or served.
        categories: every category matched, hard and soft, in policy order.
        hard: the hard categories matched (a subset of `categories`).
        reasons: one human-readable reason per match, naming the words that triggered it.
    """

    blocked: bool = False
    categories: list[str] = field(default_factory=list)
    hard: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _found(pattern: re.Pattern[str], texts: tuple[str, ...]) -> list[str]:
    return sorted({m.group(0).lower() for text in texts for m in pattern.finditer(text)})


def classify_text(text: str) -> SafetyVerdict:
    """Apply the lexicon policy to `text` (a prompt or an expansion). Deterministic, no model.

    The lexicons are matched against the normalised views of the text (`normalized_views`), so look-alike
    characters, digits for letters, inserted symbols and spelled-out letters do not hide a category.

    Returns:
        A `SafetyVerdict`; `blocked` is true when any hard category matched.
    """
    if not isinstance(text, str):  # a wrong argument type from calling code: a programming error
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    norm = normalized_views(text)
    hard: list[str] = []
    reasons: list[str] = []
    sexual = _found(SEXUAL, norm)
    intimate = sexual + _found(INTIMATE, norm)

    minors = _found(MINOR, norm)
    if sexual and minors:
        hard.append("sexual_minors")
        reasons.append(f"sexual_minors: sexual terms {sexual} together with minor terms {minors}")

    assault = _found(ASSAULT, norm)
    non_consent = _found(NON_CONSENT, norm)
    if assault or (intimate and non_consent):
        hard.append("non_consensual_intimate")
        words = assault or (intimate + non_consent)
        reasons.append(f"non_consensual_intimate: {words}")

    people = _found(REAL_PERSON, norm)
    degrading = _found(DEGRADING, norm)
    # Sexual terms (not mere romance: "an intimate dinner with my wife") or degrading ones.
    if people and (sexual or degrading):
        hard.append("real_person_intimate")
        reasons.append(f"real_person_intimate: real person {people} with {sexual + degrading}")

    soft: list[str] = []
    for name, pattern in SOFT_LEXICONS.items():
        words = sexual if name == "sexual" else _found(pattern, norm)
        if words:
            soft.append(name)
            reasons.append(f"{name}: {words}")
    return SafetyVerdict(blocked=bool(hard), categories=hard + soft, hard=hard, reasons=reasons)


def added_categories(prompt: str, expansion: str) -> list[str]:
    """Categories (hard or soft) present in `expansion` but absent from `prompt`, in policy order.

    An expansion may enrich a scene but not make it more sensitive than the user asked for: a non-empty
    result means the expansion must be regenerated or refused.
    """
    before = set(classify_text(prompt).categories)
    return [c for c in classify_text(expansion).categories if c not in before]
