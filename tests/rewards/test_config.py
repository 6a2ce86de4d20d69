"""Reward configs: every YAML under configs/rewards loads into RewardsConfig; bad values are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from expander.config import ConfigError
from expander.rewards import load_rewards_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "rewards"


@pytest.mark.parametrize("path", sorted(CONFIGS.rglob("*.yaml")), ids=lambda p: p.name)
def test_reward_configs_load(path):
    cfg = load_rewards_config(path)
    assert cfg.rewards and cfg.render.height % 16 == 0
    assert path.read_text().startswith("#"), "configs start with a header naming the command that runs them"


def test_real_config_names_the_real_checkpoints():
    cfg = load_rewards_config(CONFIGS / "krea2_turbo.yaml")
    assert (cfg.render.height, cfg.render.width, cfg.render.preset) == (512, 512, "turbo")
    assert (cfg.aesthetic.clip.model, cfg.aesthetic.clip.pretrained) == ("ViT-L-14", "openai")
    assert cfg.diversity.model == "facebook/dinov3-vitb16-pretrain-lvd1689m"


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["--rewards", "aesthetic,beauty"], "unknown reward 'beauty'"),
        (["--weights", "{gate: 3}"], "gate weight is derived"),
        (["--weights", "{asthetic: 2}"], "weights names 'asthetic'"),
        (["--render.height", "100"], "multiples of 16"),
        (["--num_generations", "1"], "num_generations must be >= 2"),
        (["--gates.margin", "1.0"], "gates.margin must be > 1"),
        (["--format.min_words", "50", "--format.max_words", "10"], "min_words <= max_words"),
        (["--format.max_repeated", "1.5"], "format.max_repeated must be in"),
        (["--render.hieght", "64"], "unknown key(s) render.hieght"),
        (["--reward_server.concurrency", "0"], "concurrency >= 1"),
    ],
)
def test_bad_values_are_named(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_rewards_config(CONFIGS / "tiny.yaml", overrides)
