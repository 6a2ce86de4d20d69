"""The exclusion guard: a prompt's excluded things cannot be written outside a negation, in both backends.

A 135M expander given "a room with no windows" restates the prompt and then describes "a single window at the
far end"; given "an empty train station" it puts "a few people" on the platform. The guard masks, at each
decoding step, the tokens that would write one of the prompt's excluded words (`expander.constraints.
exclusions.excluded_words`: "window", "windows", "Windows", ...) unless the text so far puts that word inside
a negation (`exclusions.in_negation`: "A room with no" + "windows" stays writable). A word the prompt itself
builds on an excluded one ("windowless", "car-free") may be written whole: after its excluded first part, only
its own continuation is allowed.

One core, two front-ends: `ExclusionGuard` (one sample: word list -> token sequences -> the tokens to mask
after a given output) is used by `ExclusionLogitsProcessor` (transformers `generate`, one guard per batch
row) and by `vllm_exclusion_guard.VLLMExclusionGuard` (a vLLM v1 logits processor, `vllm_engine_args` installs
it; a request turns it on with `SamplingParams.extra_args[EXTRA_ARG]`). Same words + same tokenizer = same masks, so the
two backends keep the same things out.

How it matches words: a word that is one token is masked at a word start, with and without a leading space and
capitalised (" windows", "windows", " Windows", "Windows"; the variant without the space only at a word
boundary, so "ant" stays writable inside "plant"). A word of several tokens is caught by its letters, however the
decoder splits it: once the letters since the last word start begin an excluded word, the pieces that would
finish it are masked (after " clut": "tering", "tered"; after " cl": "uttering"), so a split the tokenizer
would not make itself (" clut" + "tering" for " cl" + "uttering") does not slip through. A masked first token
also stops longer words that start with it ("car" in "carpool"): the model writes another word; the checker still
verifies the result (`expander.expand`), and the faithful fallback is still the last guard.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import lru_cache

__all__ = [
    "EXTRA_ARG",
    "ExclusionGuard",
    "ExclusionLogitsProcessor",
    "apply_masks",
    "cached_guard",
    "guard_fingerprint",
    "guard_words",
]

EXTRA_ARG = "expander_exclusions"
"""Key of `vllm.SamplingParams.extra_args` that carries a request's guard: `{"words": [...], "compounds":
[...]}`."""

_TAIL_TOKENS = 48
"""Output tokens decoded to read the scope of a word (`exclusions.in_negation` reads 24 words of them)."""


def guard_words(prompt: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the words the guard masks for `prompt`, the prompt's own words built on them): empty when the prompt
    excludes nothing.

    Raises:
        MissingExtraError: without the `constraints` extra.
    """
    from expander.constraints.exclusions import allowed_compounds, excluded_words

    return excluded_words(prompt), allowed_compounds(prompt)


@lru_cache(maxsize=1)
def guard_fingerprint() -> str:
    """A digest of the code that decides what the guard masks (this module and the constraints package: its word
    lists and scope rule): caches of guarded samples key on it, so a checker change is a new run."""
    from pathlib import Path

    import expander.constraints as constraints

    files = sorted(Path(constraints.__file__).parent.glob("*.py")) + [Path(__file__)]
    digest = hashlib.sha1()
    for f in files:
        digest.update(f.name.encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()[:16]


def _variants(word: str) -> list[tuple[str, bool]]:
    """(text, starts with a space) for each way a decoder writes `word` at a word start."""
    cap = word[:1].upper() + word[1:]
    return [(f" {word}", True), (word, False), (f" {cap}", True), (cap, False)]


class ExclusionGuard:
    """The guard of one sample: which tokens to mask after a given output.

    Args:
        tokenizer: the model's tokenizer (`encode` / `decode`).
        words: lower-case words to keep out of the output outside a negation.
        compounds: words that start with one of `words` and may be written whole ("windowless").
    """

    def __init__(self, tokenizer, words: Sequence[str], compounds: Sequence[str] = ()):
        self.tokenizer = tokenizer
        self.words = tuple(words)
        sequences: dict[tuple[int, ...], bool] = {}  # token ids -> written with a leading space
        for word in self.words:
            for text, spaced in _variants(word):
                ids = tuple(tokenizer.encode(text, add_special_tokens=False))
                if ids:
                    sequences.setdefault(ids, spaced)
        # (compound ids, length of the excluded sequence it starts with, written with a leading space)
        self.compounds: list[tuple[tuple[int, ...], int, bool]] = []
        for word in compounds:
            for text, spaced in _variants(word):
                ids = tuple(tokenizer.encode(text, add_special_tokens=False))
                starts = [len(s) for s in sequences if len(s) < len(ids) and ids[: len(s)] == s]
                if starts:
                    self.compounds.append((ids, min(starts), spaced))
        # A sequence that may begin a compound is not masked: after it, only the compound may go on.
        begins = {c[:first] for c, first, _ in self.compounds}
        kept = {ids: spaced for ids, spaced in sequences.items() if ids not in begins}
        self.single = {
            True: {ids[0] for ids, sp in kept.items() if len(ids) == 1 and sp},
            False: {ids[0] for ids, sp in kept.items() if len(ids) == 1 and not sp},
        }
        # Words of several tokens, by their letters: a decoder may split them any way (" clut" + "tering" as well
        # as " cl" + "uttering"), so the token that would finish one is found from the letters written so far.
        self.spelled: dict[str, list[str]] = {}
        for word in self.words:
            for text, _ in _variants(word)[::2]:
                if text.strip().isalpha():
                    self.spelled.setdefault(text.strip()[:1], []).append(text.strip())
        self.token_ids = _token_ids(tokenizer)

    def __bool__(self) -> bool:
        return bool(self.single[True] or self.single[False] or self.spelled or self.compounds)

    def masks(self, output_ids: Sequence[int]) -> tuple[set[int], set[int] | None]:
        """(token ids to mask, the only token ids allowed or None) after `output_ids` (the sample's output so
        far, prompt excluded)."""
        from expander.constraints.exclusions import in_negation

        out = list(output_ids)
        n = len(out)
        free: dict[int, bool] = {}
        texts: dict[int, str] = {}

        def before(start: int) -> str:
            if start not in texts:
                texts[start] = self.tokenizer.decode(out[max(0, start - _TAIL_TOKENS) : start])
            return texts[start]

        def excluded_at(start: int, spaced: bool) -> bool:
            """Whether a word starting at output position `start` would be outside a negation (the scope rule
            does not depend on the word) and, without a leading space, at a word boundary."""
            text = before(start)
            if not spaced and text and text[-1].isalnum():
                return False  # inside a longer word: "pl" + "ant"
            if start not in free:
                free[start] = not in_negation(text, "thing")
            return free[start]

        only: set[int] = set()
        for ids, first, spaced in self.compounds:  # inside a compound the prompt wrote: only its continuation
            for m in range(first, len(ids)):
                if n >= m and tuple(out[n - m :]) == ids[:m] and excluded_at(n - m, spaced):
                    only.add(ids[m])
        if only:
            return set(), only
        masked: set[int] = set()
        for spaced in (True, False):
            if self.single[spaced] and excluded_at(n, spaced):
                masked |= self.single[spaced]
        masked |= self._finishing(before(n), n)
        return masked, None

    def _finishing(self, tail: str, n: int) -> set[int]:
        """Tokens that would finish an excluded word begun at a word start outside a negation: after " clut",
        "tering" (cluttering) and "tered" (cluttered). `tail`: the last `_TAIL_TOKENS` of the `n` output tokens,
        decoded."""
        from expander.constraints.exclusions import in_negation

        begun = _WORD_END.search(tail)
        if begun is None:
            return set()
        part, start = begun.group(), begun.start()
        if start > 0 and tail[start - 1].isalnum() or start == 0 and n > _TAIL_TOKENS:
            return set()  # not at a word start (or the word began before the text read)
        ids = set()
        for word in self.spelled.get(part[:1], ()):
            if len(word) > len(part) and word.startswith(part):
                ids.update(self.token_ids.get(word[len(part) :], ()))
        if ids and in_negation(tail[:start], "thing"):
            return set()
        return ids


_WORD_END = re.compile(r"[A-Za-z]+$")


_GUARDS: dict[tuple, ExclusionGuard] = {}


def cached_guard(tokenizer, words: tuple[str, ...], compounds: tuple[str, ...]) -> ExclusionGuard:
    """The `ExclusionGuard` of (tokenizer, words, compounds), built once: the n samples of a prompt, and every
    request for it, share one (both backends call this)."""
    key = (str(getattr(tokenizer, "name_or_path", "")), len(tokenizer), words, compounds)
    guard = _GUARDS.get(key)
    if guard is None:
        if len(_GUARDS) >= 256:
            _GUARDS.clear()
        guard = _GUARDS[key] = ExclusionGuard(tokenizer, words, compounds)
    return guard


_TOKEN_IDS: dict[tuple[str, int], dict[str, list[int]]] = {}


def _token_ids(tokenizer) -> dict[str, list[int]]:
    """The tokenizer's pieces that continue a word (ASCII letters, no word-start marker such as "Ġ" or "▁"), by
    their text; built once per tokenizer (name and size)."""
    key = (str(getattr(tokenizer, "name_or_path", "")), len(tokenizer))
    if key not in _TOKEN_IDS:
        pieces: dict[str, list[int]] = {}
        for i, text in enumerate(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))):
            if text and text.isascii() and text.isalpha():
                pieces.setdefault(text, []).append(i)
        _TOKEN_IDS[key] = pieces
    return _TOKEN_IDS[key]


def apply_masks(logits, masked: set[int], only: set[int] | None):
    """Mask a row of logits in place: -inf on `masked`, or on everything but `only`."""
    if only is not None:
        keep = logits[list(only)].clone()
        logits.fill_(float("-inf"))
        logits[list(only)] = keep
    elif masked:
        logits[list(masked)] = float("-inf")
    return logits


class ExclusionLogitsProcessor:
    """transformers `LogitsProcessor`: one `ExclusionGuard` (or None) per batch row; `prompt_len` is the padded
    prompt length, so a row's output is `input_ids[row, prompt_len:]`. Put it before the sampler."""

    def __init__(self, guards: list[ExclusionGuard | None], prompt_len: int):
        self.guards = guards
        self.prompt_len = prompt_len

    def __call__(self, input_ids, scores):
        for row, guard in enumerate(self.guards):
            if guard:
                masked, only = guard.masks(input_ids[row, self.prompt_len :].tolist())
                apply_masks(scores[row], masked, only)
        return scores
