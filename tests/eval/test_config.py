"""Eval configs: every YAML under configs/eval parses; bad values are named errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from expander.config import ConfigError
from expander.eval.config import load_eval_config

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", sorted((REPO / "configs" / "eval").rglob("*.yaml")), ids=lambda p: p.name)
def test_every_eval_config_parses(path):
    text = path.read_text()
    assert text.startswith("#") and "expander eval --config" in text.splitlines()[1] + text.splitlines()[0]
    cfg = load_eval_config(path)
    assert cfg.arms[0].creativity == "raw" and len(cfg.arms) >= 2
    assert cfg.prompt_file is None or (REPO / cfg.prompt_file).is_file()


def test_tiny_config_is_the_ci_size():
    cfg = load_eval_config(REPO / "configs/eval/tiny_cpu.yaml")
    assert (cfg.num_prompts, len(cfg.arms), cfg.seeds_per_prompt) == (8, 2, 2)
    assert cfg.renderer == "tiny:krea2"


def test_real_config_is_krea2_turbo_at_1024():
    cfg = load_eval_config(REPO / "configs/eval/krea2_turbo_parti.yaml")
    assert (cfg.height, cfg.width, cfg.preset) == (1024, 1024, "turbo")
    assert (cfg.suite, cfg.prompt_file) == ("parti", None)


@pytest.mark.parametrize("suite", ["geneval", "dpg"])
def test_benchmark_configs_render_4_images_per_prompt_at_1024_for_raw_and_expanded(suite):
    cfg = load_eval_config(REPO / f"configs/eval/krea2_{suite}.yaml")
    assert (cfg.suite, cfg.num_prompts, cfg.seeds_per_prompt, cfg.height, cfg.width) == (suite, None, 4, 1024, 1024)
    assert cfg.renderer != "tiny:krea2" and [a.is_raw for a in cfg.arms] == [True, False]
    tiny = load_eval_config(REPO / f"configs/eval/tiny_{suite}.yaml")
    assert (tiny.suite, tiny.num_prompts, tiny.renderer) == (suite, 8, "tiny:krea2")
    assert tiny.seeds_per_prompt == (4 if suite == "dpg" else 2) and tiny.arms[1].model == "smollm2-135m"


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["--arms", "[{name: raw}, {name: raw}]"], "unique; repeated: raw"),
        (["--arms", "[{name: raw}, {name: x, creativity: low}]"], "needs a `model`"),
        (["--arms", "[{name: raw}, {name: x, model: smollm2-135m, creativity: wild}]"], "unknown creativity 'wild'"),
        (["--arms", "[{name: 'a b'}]"], "only letters"),
        (["--arms", "[{name: x, model: m, creativity: low, adapter: /nonexistent}]"], "not a PEFT adapter"),
        (["--height", "100"], "multiples of 16"),
        (["--seeds_per_prompt", "0"], "seeds_per_prompt must be >= 1"),
        (["--win_metrics", "aesthetic,beauty"], "unknown win_metrics"),
        (["--ci_level", "95"], "ci_level must be in"),
        (["--num_prompt", "3"], "unknown key"),
        (["--reward_server.concurrency", "0"], "concurrency >= 1"),
        (["--suite", "coco"], "unknown suite 'coco'; choose one of parti, geneval, dpg, file"),
        (["--suite", "file"], "suite 'file' needs a `prompt_file`"),
        (["--suite", "dpg", "--seeds_per_prompt", "2"], "needs seeds_per_prompt >= 4 and height == width"),
        (["--suite", "dpg", "--seeds_per_prompt", "4", "--width", "128"], "got 4 seeds at 64x128"),
    ],
)
def test_bad_values_are_named(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_eval_config(REPO / "configs/eval/tiny_cpu.yaml", overrides)


def test_the_reward_server_section_is_the_rewards_config_one():
    from expander.rewards.config import RewardServerConfig, load_rewards_config

    cfg = load_eval_config(REPO / "configs/eval/tiny_remote.yaml")
    assert type(cfg.reward_server) is RewardServerConfig
    assert (cfg.reward_server.url, cfg.reward_server.concurrency) == ("http://127.0.0.1:8100/rewards", 2)
    # The same section loads on the service's side: copied between the two YAMLs, it means the same.
    rewards = load_rewards_config(REPO / "configs/rewards/tiny.yaml", ["--reward_server.concurrency", "2"])
    assert rewards.reward_server.concurrency == 2


def test_an_arm_built_in_code_raises_the_config_error_too():
    from expander.eval.config import ArmConfig

    with pytest.raises(ConfigError, match="needs a `url`"):
        ArmConfig(name="served", creativity="low", backend="api")
