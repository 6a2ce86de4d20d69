"""The repeat guard's mask (`expander.engine.repeat_guard`); both backends on the real model: `test_engine.py`."""

import pytest
import torch

from expander.engine import SamplingParams
from expander.engine.repeat_guard import NoRepeatLogitsProcessor, mask_repeats, repeated_ngram_tokens
from expander.errors import ConfigError


def test_the_token_that_would_repeat_a_run_is_blocked():
    assert repeated_ngram_tokens([1, 2, 3, 4, 1, 2], 3) == {3}
    assert repeated_ngram_tokens([1, 2, 3, 1, 2, 9, 1, 2], 3) == {3, 9}  # every earlier continuation
    assert repeated_ngram_tokens([5, 5, 5], 2) == {5}
    assert repeated_ngram_tokens([1, 2, 3, 4, 1, 2], 4) == set()  # "1 2" + one more is not yet a 4-token run
    assert repeated_ngram_tokens([1, 2, 3, 1, 2, 3], 4) == {1}


def test_short_outputs_and_off_block_nothing():
    assert repeated_ngram_tokens([1, 2], 3) == set()
    assert repeated_ngram_tokens([1, 1, 1, 1], 0) == set()
    assert repeated_ngram_tokens([1, 1, 1, 1], 1) == set()


def test_no_output_ever_repeats_a_run_under_the_guard():
    # Greedy decoding of a "model" that always prefers to loop: the guard forces a new token exactly where a run
    # of n would repeat, and nothing else changes.
    gen = torch.Generator().manual_seed(0)
    prefer = torch.randn(50, 32, generator=gen)
    for n in (2, 3, 4):
        out = [0]
        for _ in range(60):
            scores = prefer[out[-1]].clone()
            blocked = repeated_ngram_tokens(out, n)
            if blocked:
                scores[list(blocked)] = float("-inf")
            out.append(int(scores.argmax()))
        runs = [tuple(out[i : i + n]) for i in range(len(out) - n + 1)]
        assert len(runs) == len(set(runs)), n
    # without it, the same argmax chain cycles within 32 tokens
    out = [0]
    for _ in range(60):
        out.append(int(prefer[out[-1]].argmax()))
    assert len({tuple(out[i : i + 4]) for i in range(57)}) < 57


def test_the_transformers_processor_reads_the_output_only():
    # Every row's prompt (first 3 columns) is "7 8 9"; only the output's runs count.
    ids = torch.tensor([[7, 8, 9, 7, 8, 7], [7, 8, 9, 5, 7, 8], [7, 8, 9, 7, 8, 7]])
    scores = torch.zeros(3, 12)
    NoRepeatLogitsProcessor([2, 3, 0], prompt_len=3)(ids, scores)
    assert torch.isinf(scores[0]).nonzero().flatten().tolist() == [8]  # output "7 8 7": "8" would repeat "7 8"
    assert not torch.isinf(scores[1]).any()  # "7 8" + "9" is the prompt's run, not the output's
    assert not torch.isinf(scores[2]).any()  # n = 0: off for that row


@pytest.mark.parametrize("bad", [-1, 1])
def test_the_run_length_is_validated(bad):
    with pytest.raises(ConfigError, match="no_repeat_ngram"):
        SamplingParams(no_repeat_ngram=bad)


def test_the_exclusion_guard_wins_where_both_would_leave_nothing():
    # The exclusion guard left one token writable (the rest of a compound the prompt wrote); the repeat guard would
    # mask it too. An all -inf row samples garbage, so the repeat guard yields there, and only there.
    row = torch.full((10,), float("-inf"))
    row[4] = 1.5
    mask_repeats(row, {4})
    assert row[4] == 1.5 and torch.isinf(row).sum() == 9
    row = torch.zeros(10)
    mask_repeats(row, {4, 7})
    assert torch.isinf(row).nonzero().flatten().tolist() == [4, 7]


def test_the_guards_compose_in_the_transformers_order(builtin_model_dir):
    # "a windowless room": after " window" only the compound's rest is writable; the output already holds
    # " the window" + that rest, so the repeat guard alone would block it. Composed, the row keeps that one token.
    from expander.engine import load_tokenizer
    from expander.engine.exclusion_guard import ExclusionGuard, ExclusionLogitsProcessor, guard_words

    tokenizer = load_tokenizer(builtin_model_dir)
    guard = ExclusionGuard(tokenizer, *guard_words("a windowless room"))
    compound = tokenizer.encode(" windowless", add_special_tokens=False)
    out = tokenizer.encode("A room, the", add_special_tokens=False) + compound
    out += tokenizer.encode(" walls bare; the", add_special_tokens=False) + compound[:1]
    assert repeated_ngram_tokens(out, 3) == {compound[1]}
    ids = torch.tensor([out])
    scores = torch.zeros(1, len(tokenizer))
    ExclusionLogitsProcessor([guard], prompt_len=0)(ids, scores)
    NoRepeatLogitsProcessor([3], prompt_len=0)(ids, scores)
    assert torch.isfinite(scores[0]).nonzero().flatten().tolist() == [compound[1]]
