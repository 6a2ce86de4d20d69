"""Text-only quality measures of expansions (no rendering): what SFT must move, measured base vs tuned.

* constraint pass rate: `expander.constraints.check(short, expansion).ok` (nothing the user asked for is lost);
* description share: the output is an image description, not a chat reply (no "Sure", no question back,
  no "I can't", no "let me know") and not a story (no first-person or past-tense narration); measured on the
  cleaned text and, more tellingly, on the raw completion (`clean_output` strips chat preambles, so the
  cleaned share flatters an untuned model);
* mean words; distinct-n (unique n-grams / all n-grams over the whole set: low = repetitive, templated).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from expander.errors import MissingExtraError
from expander.rewards.text_diversity import distinct_n  # one definition: GRPO's diversity log uses it too

__all__ = ["QualitySummary", "distinct_n", "is_description", "is_story", "summarize"]

_CHAT_OPENERS = re.compile(
    r"^\s*(?:sure|certainly|of course|absolutely|okay|ok|great|hello|hi|hey|thanks|thank you|yes|no problem|"
    r"here(?:'s| is| are)|i(?:'m|'d| am| would| will| can| have|'ll)?\b|as an ai|let me|what|how|could you|"
    r"would you|do you|can you)\b",
    re.IGNORECASE,
)
_CHAT_PHRASES = re.compile(
    r"\b(?:let me know|i hope|feel free|i can(?:'t|not)|i'm sorry|i am sorry|as an ai|language model|"
    r"happy to help|would you like|do you want|you can use|this prompt|the prompt)\b",
    re.IGNORECASE,
)


_QUOTED = re.compile(r'"[^"]*"|\u201c[^\u201d]*\u201d')
_FIRST_PERSON = re.compile(r"\b(?:i|i'm|i'd|i've|i'll|me|my|mine|we|our|us)\b", re.IGNORECASE)
_PAST = re.compile(r"\b(?:was|were|had)\b", re.IGNORECASE)
_PRESENT = re.compile(r"\b(?:is|are|has|have)\b", re.IGNORECASE)


def is_story(text: str) -> bool:
    """Whether text narrates rather than describes: first person outside quotes ("As I stepped inside"), or
    past-tense narration (at least two of was/were/had, more than is/are/has/have). Image descriptions, like the
    captions the expander trains on, are written in the present tense and the third person."""
    plain = _QUOTED.sub(" ", text)
    if _FIRST_PERSON.search(plain):
        return True
    past = len(_PAST.findall(plain))
    return past >= 2 and past > len(_PRESENT.findall(plain))


def is_description(text: str) -> bool:
    """Whether an expansion reads as an image description rather than a chat reply or a story.

    False for: empty text, a question mark anywhere, a chat opener ("Sure", "Here is", "I ..."), chat
    phrases ("let me know", "I can't", "this prompt", "would you like"), or a story (`is_story`: first-person
    or past-tense narration, the untuned 135M base's usual failure under the contract).
    """
    text = text.strip()
    if not text or "?" in text:
        return False
    return not (_CHAT_OPENERS.match(text) or _CHAT_PHRASES.search(text) or is_story(text))


@dataclass
class QualitySummary:
    """Measures of one arm over the same prompts (rates in [0, 1])."""

    n: int
    constraint_pass_rate: float
    constraint_score: float
    description_share: float
    raw_description_share: float | None
    mean_words: float
    distinct_1: float
    distinct_2: float


def summarize(prompts: list[str], expansions: list[str], check=None, raw: list[str] | None = None) -> QualitySummary:
    """Quality of `expansions[i]` as an expansion of `prompts[i]`.

    Args:
        raw: the completions before `clean_output` (same order); gives `raw_description_share`.
        check: `fn(short, expansion) -> report with .ok and .score`; default `expander.constraints.check`.
    """
    # Lists of the wrong length are a caller's bug (benchmarks build them), not a user's input.
    if len(prompts) != len(expansions) or not prompts:
        raise ValueError("need one expansion per prompt, and at least one prompt")
    if raw is not None and len(raw) != len(expansions):
        raise ValueError("need one raw completion per expansion")
    if check is None:
        try:
            from expander.constraints import check
        except ImportError as exc:
            raise MissingExtraError("the constraint pass rate", "constraints", exc) from exc
    reports = [check(p, e) for p, e in zip(prompts, expansions)]
    n = len(prompts)
    return QualitySummary(
        n=n,
        constraint_pass_rate=sum(r.ok for r in reports) / n,
        constraint_score=sum(r.score for r in reports) / n,
        description_share=sum(is_description(e) for e in expansions) / n,
        raw_description_share=None if raw is None else sum(is_description(r) for r in raw) / n,
        mean_words=sum(len(e.split()) for e in expansions) / n,
        distinct_1=distinct_n(expansions, 1),
        distinct_2=distinct_n(expansions, 2),
    )
