"""The added-subject penalty reward and gate: text only, no renderer, no image model."""

from __future__ import annotations

import pytest

from expander.rewards import RewardSuite
from expander.rewards.added_subjects import added_subjects_score, score_added_subjects
from expander.rewards.config import (
    FaithfulnessConfig,
    FormatConfig,
    GateConfig,
    RewardsConfig,
    SafetyConfig,
    load_rewards_config,
)

FOX = "a red fox in snow"
KEPT = "A red fox stands in deep fresh snow at the edge of a pine forest at dawn, soft pink light, long lens."
ADDS_ONE = "A red fox stands in deep snow at dawn while a small child watches from the edge of the pine forest."
ADDS_TWO = "A red fox stands in deep snow at dawn; a small child runs towards it and a large bear stands beside it."


def test_score_is_one_over_one_plus_the_added_groups():
    assert score_added_subjects(FOX, KEPT)[0] == 1.0
    assert score_added_subjects(FOX, ADDS_ONE)[0] == pytest.approx(0.5)
    score, added = score_added_subjects(FOX, ADDS_TWO)
    assert {a.word for a in added} == {"child", "bear"} and score == pytest.approx(1 / 3)
    assert added_subjects_score([]) == 1.0


def _text_suite(**gates) -> RewardSuite:
    cfg = RewardsConfig(
        rewards=["faithfulness", "added_subjects", "format"],
        faithfulness=FaithfulnessConfig(clip_weight=0.0),
        safety=SafetyConfig(image_layer=False),
        format=FormatConfig(min_words=5),  # every completion here in range: only the added subjects differ
        gates=GateConfig(**gates),
        device="cpu",
    )
    return RewardSuite(cfg, num_generations=3)


def test_text_suite_penalises_added_subjects_without_loading_an_image_model():
    suite = _text_suite(safety=True, constraints=True, added_subjects=False)
    assert suite.cache is None and suite.renderer is None and not suite._clips
    assert suite.names == ["faithfulness", "added_subjects", "format", "gate"]
    rows = suite.score_rows([FOX] * 3, [KEPT, ADDS_ONE, ADDS_TWO])
    assert [r["rewards"]["added_subjects"] for r in rows] == pytest.approx([1.0, 0.5, 1 / 3])
    assert all(r["gates"]["pass"] and r["gates"]["added_subjects"] is None for r in rows)
    assert rows[0]["total"] > rows[1]["total"] > rows[2]["total"]


def test_added_subject_gate_puts_an_adding_completion_below_every_clean_one():
    suite = _text_suite(safety=False, constraints=False, added_subjects=True)
    rows = suite.score_rows([FOX] * 3, [KEPT, ADDS_ONE, KEPT.replace("dawn", "dusk")])
    gates = [r["gates"] for r in rows]
    assert [g["pass"] for g in gates] == [True, False, True]
    assert gates[1]["reasons"] == ["added subjects: child"]
    assert rows[1]["total"] < min(rows[0]["total"], rows[2]["total"])


def test_text_rewards_config_loads_without_image_rewards():
    from pathlib import Path

    cfg = load_rewards_config(Path(__file__).resolve().parents[2] / "configs" / "rewards" / "text.yaml")
    assert cfg.rewards == ["faithfulness", "added_subjects", "added_negations", "format", "text_diversity"]
    assert cfg.faithfulness.clip_weight == 0 and cfg.safety.image_layer is False
