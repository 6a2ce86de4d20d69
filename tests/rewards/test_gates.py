"""Gate guarantee, checked against TRL 1.16's own normalize_then_sum code (see trl_aggregation.py)."""

from __future__ import annotations

import math
import statistics

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expander.rewards.gates import gate_weight, group_advantages
from tests.rewards.trl_aggregation import TRL_SOURCE, trl_advantages


def gdpo_by_hand(rows: list[list[float | None]], weights: list[float], group_size: int) -> list[float]:
    """GDPO's normalize_then_sum written out in plain Python: z-score each reward within its group (sample
    std, over the values present), weight and sum the z-scores a row has, then z-score those sums over the
    batch. A row without any reward (unscorable) is left out of every mean and gets advantage 0."""
    eps = 1e-4
    sums: list[float | None] = []
    for start in range(0, len(rows), group_size):
        group = rows[start : start + group_size]
        stats = []
        for k in range(len(weights)):
            present = [row[k] for row in group if row[k] is not None]
            stats.append((statistics.mean(present), statistics.stdev(present)))
        for row in group:
            if all(v is None for v in row):
                sums.append(None)
                continue
            sums.append(sum(w * (v - m) / (sd + eps) for w, v, (m, sd) in zip(weights, row, stats) if v is not None))
    scored = [s for s in sums if s is not None]
    mean, sd = statistics.mean(scored), statistics.stdev(scored)
    return [0.0 if s is None else (s - mean) / (sd + eps) for s in sums]


def test_extracted_trl_block_is_the_aggregation():
    # Exactly TRL's normalize_then_sum branch (not sum_then_normalize's lines), and it computes GDPO: checked
    # against the definition on a batch with a missing value and an unscorable row, whose handling (left out
    # of the baselines, advantage 0) is what makes `None` differ from a silent 0.
    assert "mean_grouped_rewards" not in TRL_SOURCE
    rows = [
        [1.0, 0.0],
        [3.0, 2.0],
        [None, None],  # unscorable
        [0.0, 4.0],
        [2.0, None],  # one reward could not score
        [4.0, 0.0],
    ]
    weights = [1.0, 2.0]
    matrix = torch.tensor([[math.nan if v is None else v for v in row] for row in rows], dtype=torch.float32)
    theirs = trl_advantages(matrix, weights, 3).tolist()
    assert theirs == pytest.approx(gdpo_by_hand(rows, weights, 3), rel=1e-5, abs=1e-5)
    assert theirs[2] == 0.0


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
