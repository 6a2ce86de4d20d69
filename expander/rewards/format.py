"""Format and length of the raw completion, judged against the expansion contract (`expander.prompts`).

Score in [0, 1], the product of:

* length: 1 inside [min_words, max_words] (words of the cleaned text); outside, the ratio
  `words / min_words` or `max_words / words`, so a near miss costs little and a one-liner costs a lot;
* cleanliness: 0.5 when `clean_output` had to strip something (thinking text, a preamble such as
  "Here is the prompt:", labels, chatty trailers, wrapping quotes), else 1;
* refusal: 0 when the completion refuses a benign prompt (the text safety policy does not block the short
  prompt), else 1. Refusing a blocked prompt is not penalised;
* repetition: 1 while at most `max_repeated` of the text's word trigrams repeat an earlier one of the same text;
  above, `1 - 2 * (share - max_repeated)` (floor 0). A loop ("A thin line of light from the left fills the room.
  ... A thin line of light from the right fills the room.") spends the image model's text budget on nothing. Held
  out, the adapter shipped before issue #26 looped in 80 of 171 expansions (more than 10 % of trigrams repeated)
  and its SFT adapter in 2; GRPO rollouts are sampled hotter than the API's levels, so they loop less often than
  served texts, and the tolerance keeps ordinary text at exactly 1 (a group z-scores each reward, so any noise
  here would be amplified into a push).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from expander.prompts import clean_output
from expander.rewards.text_diversity import distinct_n
from expander.safety import classify_text

__all__ = ["MAX_REPEATED", "FormatCheck", "format_check", "is_refusal", "repeated_share"]

_REFUSAL_RE = re.compile(
    r"\b(?:i\s*(?:'m| am)\s+(?:sorry|unable|not able)|i\s+(?:can(?:'|no)t|cannot|won't|will not)\s+"
    r"(?:help|assist|create|generate|write|provide|fulfil+|comply|do that)|as an ai\b|i must decline|"
    r"(?:this|that|your) request (?:violates|goes against)|against (?:my|our) (?:guidelines|policy|policies))",
    re.IGNORECASE,
)


MAX_REPEATED = 0.05


def repeated_share(text: str, n: int = 3) -> float:
    """The share of the text's word n-grams (lowercased) that repeat an earlier n-gram of the same text: 1 - its
    distinct-n (the measure GRPO's diversity log and the benchmarks use, over one text); 0.0 when it has fewer
    than n words."""
    distinct = distinct_n([text], n)
    return 1.0 - distinct if distinct else 0.0


def is_refusal(text: str) -> bool:
    """Whether the text reads as a refusal rather than an image description (checked in the first 300 chars)."""
    return bool(_REFUSAL_RE.search(text[:300]))


@dataclass
class FormatCheck:
    score: float
    words: int
    cleaned: bool
    refusal: bool
    repeated: float = 0.0


def format_check(
    short_prompt: str, completion: str, min_words: int, max_words: int, max_repeated: float = MAX_REPEATED
) -> FormatCheck:
    """Score one completion's format (see the module docstring)."""
    cleaned = clean_output(completion)
    words = len(cleaned.split())
    if words == 0:
        length = 0.0
    elif words < min_words:
        length = words / min_words
    elif words > max_words:
        length = max_words / words
    else:
        length = 1.0
    needed_cleaning = cleaned != " ".join(completion.split())
    refusal = is_refusal(completion) and not classify_text(short_prompt).blocked
    repeated = repeated_share(cleaned)
    looping = max(0.0, 1.0 - 2.0 * max(0.0, repeated - max_repeated))
    score = length * (0.5 if needed_cleaning else 1.0) * (0.0 if refusal else 1.0) * looping
    return FormatCheck(score=score, words=words, cleaned=needed_cleaning, refusal=refusal, repeated=repeated)
