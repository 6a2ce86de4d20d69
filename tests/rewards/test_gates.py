"""Gate guarantee, checked against TRL 1.16's own normalize_then_sum code (see trl_aggregation.py)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expander.rewards.gates import gate_weight, group_advantages
from tests.rewards.trl_aggregation import TRL_SOURCE, trl_advantages


def test_extracted_trl_block_is_the_aggregation():
    assert "reward_k = (grouped - mean_k) / (std_k + 1e-4)" in TRL_SOURCE
    assert "advantages = (rewards - torch.nanmean(rewards)) / (std_rewards + 1e-4)" in TRL_SOURCE


reward_value = st.one_of(st.floats(-50, 50, allow_nan=False, width=32), st.none())


@st.composite
def batches(draw):
    g = draw(st.integers(2, 8))
    k = draw(st.integers(1, 5))
    n_groups = draw(st.integers(1, 3))
    weights = draw(st.lists(st.floats(-3, 3, allow_nan=False, width=32), min_size=k, max_size=k))
    rows, gated = [], []
    for _ in range(n_groups):
        for _ in range(g):
            rows.append(draw(st.lists(reward_value, min_size=k, max_size=k)))
        # every group: an arbitrary gate pattern; at least one group has a gated and a passing member
        gated.append(draw(st.lists(st.booleans(), min_size=g, max_size=g)))
    first = draw(st.integers(0, g - 1))
    if all(gated[0]) or not any(gated[0]):
        gated[0] = [i == first for i in range(g)]
    return g, weights, rows, [x for grp in gated for x in grp]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_gated_member_has_lowest_advantage_under_trl_aggregation(batch):
    g, weights, rows, gated = batch
    w_gate = gate_weight(weights, g)
    matrix = torch.tensor(
        [[math.nan if v is None else v for v in row] + [0.0 if gd else 1.0] for row, gd in zip(rows, gated)],
        dtype=torch.float32,
    )
    adv = trl_advantages(matrix, list(weights) + [w_gate], g).view(-1, g)
    gated_t = torch.tensor(gated).view(-1, g)
    for group_adv, group_gated in zip(adv, gated_t):
        if group_gated.any() and (~group_gated).any():
            assert group_adv[group_gated].max() < group_adv[~group_gated].min()


def test_small_gate_weight_fails_where_derived_one_holds():
    # G=4: the gated member has the best value of every other reward by a wide margin.
    rows = [[10.0, 10.0], [0.0, 0.0], [0.1, 0.0], [0.0, 0.1]]
    matrix = torch.tensor([r + [0.0 if i == 0 else 1.0] for i, r in enumerate(rows)])
    weak = trl_advantages(matrix, [1.0, 1.0, 1.0], 4)
    assert weak[0] > weak[1:].min()  # weight 1 gate: the gated completion still beats someone
    strong = trl_advantages(matrix, [1.0, 1.0, gate_weight([1.0, 1.0], 4)], 4)
    assert strong[0] < strong[1:].min()


@settings(max_examples=200, deadline=None)
@given(batches())
def test_group_advantages_matches_trl(batch):
    g, weights, rows, gated = batch
    full = [row + [0.0 if gd else 1.0] for row, gd in zip(rows, gated)]
    w = list(weights) + [gate_weight(weights, g)]
    ours = group_advantages(full, w, [i // g for i in range(len(full))])
    theirs = trl_advantages(
        torch.tensor([[math.nan if v is None else v for v in r] for r in full], dtype=torch.float32), w, g
    )
    assert ours == pytest.approx(theirs.tolist(), rel=1e-4, abs=1e-4)


def test_gate_weight_arguments():
    with pytest.raises(ValueError, match="group_size"):
        gate_weight([1.0], 1)
    with pytest.raises(ValueError, match="margin"):
        gate_weight([1.0], 4, margin=1.0)
    assert gate_weight([], 4) == 1.0
    assert gate_weight([1.0, -2.0], 8) > gate_weight([1.0, -2.0], 4)  # larger groups need a larger weight
