"""Token counts of Krea 2's prompt template, derived from the tokenizer actually loaded.

`Krea2Pipeline` wraps every prompt as `[system prefix | prompt | PAD | assistant suffix]` and hard-codes
two numbers for the Qwen tokenizer: it drops the first 34 encoder outputs (the system prefix) and reserves
5 slots for the suffix. Another tokenizer splits the same text differently (SmolLM2: prefix 34, suffix 6;
a BERT-style one: prefix 51), and a wrong prefix count silently feeds system-prompt states to the
transformer or drops prompt tokens. Both are plain attributes of the pipeline, not saved with it, so they
are set after every `from_pretrained` (`configure_prompt_template`).
"""

from __future__ import annotations

from typing import Any

from expander.errors import ExpanderError

__all__ = ["UnsupportedTokenizerError", "configure_prompt_template", "template_token_counts"]

# Probe prompts whose first characters differ, so a token merging the prefix's tail with the prompt's head
# cannot be mistaken for part of the prefix.
_PROBES = ("apple on a table", "Zebra 7", "; quiet", "\u00e9t\u00e9")


class UnsupportedTokenizerError(ExpanderError, ValueError):
    """A Krea 2 checkpoint whose tokenizer does not split the prompt template's system prefix the same way for
    every prompt, so the prefix positions cannot be told apart from the prompt's."""


def template_token_counts(tokenizer: Any, prefix: str, suffix: str) -> tuple[int, int]:
    """How many leading token positions belong to `prefix`, and how many tokens `suffix` adds.

    The prefix count is the length of the token sequence that `tokenizer(prefix + prompt)` shares across
    several unrelated prompts (special tokens the tokenizer prepends, such as BERT's `[CLS]`, included);
    the suffix count is the length of `tokenizer(suffix)`, exactly what the pipeline appends.

    Returns:
        `(prefix_tokens, suffix_tokens)`.

    Raises:
        UnsupportedTokenizerError: no token position is shared by every probe prompt.
    """
    rows = [tokenizer(prefix + probe)["input_ids"] for probe in _PROBES]
    shared = 0
    for column in zip(*rows):
        if len(set(column)) != 1:
            break
        shared += 1
    if shared == 0:
        raise UnsupportedTokenizerError("the tokenizer splits the Krea 2 system prefix differently for every prompt")
    suffix_tokens = len(tokenizer(suffix)["input_ids"])
    return shared, suffix_tokens


def configure_prompt_template(pipe: Any) -> tuple[int, int]:
    """Set `pipe.prompt_template_encode_start_idx` and `..._num_suffix_tokens` from `pipe.tokenizer`.

    Also makes the tokenizer pad on the right, which the `[prefix | prompt | PAD | suffix]` layout assumes.

    Returns:
        `(prefix_tokens, suffix_tokens)` now set on `pipe`.
    """
    pipe.tokenizer.padding_side = "right"
    prefix_tokens, suffix_tokens = template_token_counts(
        pipe.tokenizer, pipe.prompt_template_encode_prefix, pipe.prompt_template_encode_suffix
    )
    pipe.prompt_template_encode_start_idx = prefix_tokens
    pipe.prompt_template_encode_num_suffix_tokens = suffix_tokens
    return prefix_tokens, suffix_tokens
