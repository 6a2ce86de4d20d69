"""GRPO's per-step diversity log: zero-spread groups, within-group MiniLM distance and distinct-2."""

from __future__ import annotations

import pytest
import torch

from expander.train.grpo.diversity_log import (
    DIVERSITY_REWARDS,
    GroupDiversityLog,
    group_distinct_n,
    group_pairwise_distance,
    zero_spread_share,
)

E1, E2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])


def test_pairwise_distance_is_averaged_within_then_over_groups():
    # group 0: orthogonal pair (distance 1); group 1: identical pair (0); group 2: opposite pair (2)
    assert group_pairwise_distance([E1, E2, E1, E1, E1, -E1], 2) == pytest.approx(1.0)
    # a group of three: pairs (E1,E2)=1, (E1,E1)=0, (E2,E1)=1 -> mean over pairs 2/3
    assert group_pairwise_distance([E1, E2, E1], 3) == pytest.approx(2 / 3)
    # a missing embedding (an empty completion) is left out; a group left with one member does not count
    assert group_pairwise_distance([E1, None, E1, E2], 2) == pytest.approx(1.0)
    assert group_pairwise_distance([E1, None], 2) is None
    with pytest.raises(ValueError, match="groups of 4"):
        group_pairwise_distance([E1, E2], 4)


def test_distinct_2_is_measured_within_each_group_then_averaged():
    same = ["a red fox", "a red fox"]  # 4 bigrams, 2 distinct -> 0.5
    differ = ["a red fox", "the blue bird"]  # 4 bigrams, all distinct -> 1.0
    assert group_distinct_n(same + differ, 2) == pytest.approx(0.75)
    # across groups the same text is not a repeat: a whole-batch distinct-2 would give 0.5 here
    assert group_distinct_n(["a red fox", "the blue bird", "a red fox", "the blue bird"], 2) == 1.0


def test_the_task_zero_spread_share_ignores_the_diversity_terms():
    names = ["faithfulness", "format", "text_diversity", "gate"]
    spread = torch.tensor(
        [
            [0.0, 0.0, 0.2, 0.0],  # only the diversity term separates the members: zero spread for the task
            [0.3, 0.0, 0.1, 0.0],  # faithfulness separates them
            [0.0, 0.0, 0.0, 0.0],  # nothing does
            [0.0, 0.0, 0.0, 0.5],  # the gate does
        ]
    )
    assert zero_spread_share(spread, names) == 0.25
    assert zero_spread_share(spread, names, DIVERSITY_REWARDS) == 0.5
    out = GroupDiversityLog(1, load_embedder=_unavailable)(["a", "b", "c", "d"], 0.25, spread, names)
    assert (out["diversity/zero_spread_groups"], out["diversity/zero_spread_groups_task"]) == (0.25, 0.5)


def test_the_step_log_uses_the_real_minilm_and_passes_the_zero_spread_share_through():
    log = GroupDiversityLog(group_size=2)
    fox = "A red fox stands in deep fresh snow at the edge of a pine forest at dawn."
    lamp = "A brass desk lamp with a green glass shade glows on an oak writing desk."
    collapsed = log([fox, fox, lamp, lamp], zero_spread=0.5)
    assert collapsed["diversity/zero_spread_groups"] == 0.5
    assert collapsed["diversity/minilm_pairwise"] == pytest.approx(0.0, abs=1e-5)
    assert collapsed["diversity/distinct_2"] == pytest.approx(0.5)
    spread = log([fox, lamp, lamp, fox], zero_spread=0.0)
    assert spread["diversity/minilm_pairwise"] > 0.3 and spread["diversity/distinct_2"] == 1.0
    # the contract's cleaning runs first: a preamble is not counted as a difference
    assert log([fox, "Sure! Here is the expanded prompt: " + fox], 0.0)["diversity/minilm_pairwise"] == pytest.approx(
        0.0, abs=1e-5
    )


def _unavailable():
    raise RuntimeError("no MiniLM here")


def test_without_a_model_the_other_metrics_still_log():
    log = GroupDiversityLog(group_size=2, load_embedder=_unavailable)
    out = log(["a red fox", "a red fox"], 1.0)
    assert out == {"diversity/zero_spread_groups": 1.0, "diversity/distinct_2": 0.5}
