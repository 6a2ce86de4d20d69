"""The repeat guard: a sample cannot write the same run of `n` tokens twice, in both backends.

The shipped 135M expander loops at the API's default level (creativity `medium`, temperature 0.5): "A thin line of
light from the left fills the room ... from the right fills the room ... fills the room". Measured on the 64
held-out prompts, 39 % of its expansions repeat more than a tenth of their word trigrams, which spends the Krea 2
text budget on nothing and is most of why it reads less diverse than its SFT adapter (issue #26).
`repetition_penalty` cannot stop it without also pushing the model off the user's own words (vLLM and
transformers apply it to the prompt's tokens too).

The guard is `no_repeat_ngram_size` (transformers' `NoRepeatNGramLogitsProcessor`) over the **output only**:
at each step, the tokens that would complete an `n`-token run already in the sample's own output are masked, so
restating the prompt is free and a loop is cut where it would start repeating. `n` is in tokens. The default,
`expander.expand.NO_REPEAT_NGRAM` = 4, from the shipped adapter on the 64 held-out prompts + 38 paraphrase
triples (creativity `medium`, seed 0, vLLM, k = 1 as sampled, exclusion guard on; `benchmarks/expander_quality.py
--no-repeat-ngram N`; diversity: 4 samples of each held-out prompt):

    n     looping  pass   added subj  all 3 phrasings  distinct-2  MiniLM  words
    off   0.391    0.953  0.000       0.974            0.620       0.154   85.2
    6     0.203    0.953  0.016       0.974            0.676       0.143   81.6
    4     0.000    0.953  0.000       0.947            0.700       0.137   80.6

MiniLM distance falls because loops had inflated it: in the 13 groups where no sample looped it is 0.120 with the
guard and without; in the 51 where one did, 0.163 -> 0.141 (a looping text is far from its siblings by repeating
one sentence of them, not by describing something else).

One core (`repeated_ngram_tokens`), two front-ends: `NoRepeatLogitsProcessor` (transformers `generate`, one `n`
per batch row) and the vLLM v1 logits processor of `vllm_exclusion_guard` (a request turns it on with
`SamplingParams.extra_args[EXTRA_ARG]`). Same output + same `n` = same mask, so both backends cut the same loops.
"""

from __future__ import annotations

from collections.abc import Sequence

from expander.errors import ConfigError

__all__ = ["EXTRA_ARG", "NoRepeatLogitsProcessor", "check_size", "mask_repeats", "repeated_ngram_tokens"]

EXTRA_ARG = "expander_no_repeat_ngram"
"""Key of `vllm.SamplingParams.extra_args` that carries a request's `n` (an int >= 2; absent or 0: off)."""


def check_size(n: int, key: str = "no_repeat_ngram") -> None:
    """The one check of a run length (sampling params, the serve config, the CLI; `key` names the setting).

    Raises:
        ConfigError: `n` is neither 0 (off) nor >= 2 (a 1-token "run" would forbid every token used once).
    """
    if n < 0 or n == 1:
        raise ConfigError(f"{key} must be 0 (off) or >= 2 tokens, got {n}")


def repeated_ngram_tokens(output_ids: Sequence[int], n: int) -> set[int]:
    """The tokens that would make `output_ids` repeat an `n`-token run it already holds.

    The last `n - 1` tokens are the run's start; every earlier place where the same `n - 1` tokens stand
    contributes the token that followed it there. Empty when `n < 2` or the output is shorter than `n`.
    """
    if n < 2 or len(output_ids) < n:
        return set()
    ids = list(output_ids)
    head = ids[len(ids) - n + 1 :]
    first = head[0]
    blocked = set()
    # Runs that end before the current position: start at i, the token after them at i + n - 1.
    for i in range(len(ids) - n + 1):
        if ids[i] == first and ids[i : i + n - 1] == head:
            blocked.add(ids[i + n - 1])
    return blocked


def mask_repeats(logits, blocked: set[int]):
    """Mask a row of logits in place: -inf on `blocked`, unless that would leave no token to sample.

    Runs after the exclusion guard, which may leave a single token writable (the rest of a compound the prompt
    wrote: "window" + "less"); if that token would repeat a run, the exclusion guard wins and the row is left as it
    was (a repeated run is a lesser fault than a word the prompt excluded, and an all -inf row samples garbage).
    """
    if blocked:
        idx = list(blocked)
        kept = logits[idx].clone()
        logits[idx] = float("-inf")
        if bool((logits == float("-inf")).all()):
            logits[idx] = kept
    return logits


class NoRepeatLogitsProcessor:
    """transformers `LogitsProcessor`: one `n` (0 = off) per batch row; `prompt_len` is the padded prompt
    length, so a row's output is `input_ids[row, prompt_len:]`. Put it after the exclusion guard's processor and
    before the sampler."""

    def __init__(self, sizes: list[int], prompt_len: int):
        self.sizes = sizes
        self.prompt_len = prompt_len

    def __call__(self, input_ids, scores):
        for row, n in enumerate(self.sizes):
            if n:
                mask_repeats(scores[row], repeated_ngram_tokens(input_ids[row, self.prompt_len :].tolist(), n))
        return scores
