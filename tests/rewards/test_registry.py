"""The reward registry (`expander.rewards.registry`): the names and weights a config gives, without a model."""

from __future__ import annotations

from pathlib import Path

import pytest

from expander.errors import ConfigError
from expander.rewards import load_rewards_config
from expander.rewards.gates import gate_weight
from expander.rewards.registry import BUILTIN_REWARDS, IMAGE_REWARDS, needs_images, reward_layout

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "rewards"


def test_layout_lists_the_rewards_in_config_order_with_the_gate_last():
    cfg = load_rewards_config(CONFIGS / "text.yaml")
    names, weights = reward_layout(cfg, num_generations=4)
    assert names == [*cfg.rewards, "gate"]
    assert weights[:-1] == [cfg.weight(n) for n in cfg.rewards]
    assert weights[-1] == gate_weight(weights[:-1], 4, cfg.gates.margin)  # derived for the group size given
    assert reward_layout(cfg, num_generations=8)[1][-1] != weights[-1]
    no_gates = ["--gates.safety", "false", "--gates.constraints", "false", "--gates.added_subjects", "false"]
    assert "gate" not in reward_layout(load_rewards_config(CONFIGS / "text.yaml", no_gates))[0]


def test_a_dotted_path_reward_is_logged_under_its_function_name():
    cfg = load_rewards_config(CONFIGS / "text.yaml", ["--rewards", "format,json:dumps"])
    assert reward_layout(cfg)[0][:2] == ["format", "dumps"]


@pytest.mark.parametrize(
    "ref, message",
    [("json:no_such_function", "cannot import 'no_such_function' from 'json'"), ("json:__doc__", "is not callable")],
)
def test_a_dotted_path_that_is_no_function_is_a_config_error_naming_it(ref, message):
    cfg = load_rewards_config(CONFIGS / "text.yaml", ["--rewards", f"format,{ref}"])
    with pytest.raises(ConfigError, match=f"reward '{ref}'.*{message}"):
        reward_layout(cfg)


def test_only_image_rewards_need_renders():
    assert set(IMAGE_REWARDS) <= set(BUILTIN_REWARDS)
    assert not needs_images(load_rewards_config(CONFIGS / "text.yaml"))  # faithfulness with clip_weight 0
    assert needs_images(load_rewards_config(CONFIGS / "tiny.yaml"))
    clip_faithfulness = ["--rewards", "faithfulness", "--faithfulness.clip_weight", "1.0"]
    assert needs_images(load_rewards_config(CONFIGS / "text.yaml", clip_faithfulness))
