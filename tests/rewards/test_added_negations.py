"""The added-negation penalty reward: exclusions the short prompt never asked for, text only."""

from __future__ import annotations

import pytest

from expander.rewards import RewardSuite
from expander.rewards.added_negations import added_negations_score, score_added_negations
from expander.rewards.config import FaithfulnessConfig, FormatConfig, GateConfig, RewardsConfig, SafetyConfig

TREE = "a lone tree on a hill at sunset"
KEPT = "A lone oak on a grassy hill at sunset, long warm light on the bark, soft pink clouds, no other trees."
ADDS_ONE = "A lone oak on a grassy hill at sunset, long warm light on the bark. The scene shows no people anywhere."
ADDS_TWO = "A lone oak on a grassy hill at sunset. There are no people anywhere, and no boats on the lake below."


def test_score_is_one_over_one_plus_the_exclusions_added():
    assert score_added_negations(TREE, KEPT)[0] == 1.0
    assert score_added_negations(TREE, ADDS_ONE)[0] == pytest.approx(0.5)
    score, added = score_added_negations(TREE, ADDS_TWO)
    assert {a.value for a in added} == {"people", "boats"} and score == pytest.approx(1 / 3)
    assert added_negations_score([]) == 1.0


def test_text_suite_ranks_an_invented_exclusion_below_a_clean_expansion():
    cfg = RewardsConfig(
        rewards=["faithfulness", "added_negations", "format"],
        faithfulness=FaithfulnessConfig(clip_weight=0.0),
        safety=SafetyConfig(image_layer=False),
        format=FormatConfig(min_words=5),
        gates=GateConfig(safety=False, constraints=True),
        device="cpu",
    )
    suite = RewardSuite(cfg, num_generations=3)
    assert suite.renderer is None and suite.names == ["faithfulness", "added_negations", "format", "gate"]
    rows = suite.score_rows([TREE] * 3, [KEPT, ADDS_ONE, ADDS_TWO])
    assert [r["rewards"]["added_negations"] for r in rows] == pytest.approx([1.0, 0.5, 1 / 3])
    assert rows[0]["total"] > rows[1]["total"] > rows[2]["total"]
