"""The reward registry: which names a rewards config may list, and what the suite built from it will hold.

A name is a built-in reward (`BUILTIN_REWARDS`; the `IMAGE_REWARDS` among them score renders) or a dotted path
`pkg.module:function` to any function with TRL's signature `fn(prompts, completions, **kwargs) -> list[float |
None]`. `reward_layout(cfg)` gives the logged names and weights, `gate` last when a gate is on, and
`needs_images(cfg)` whether the suite renders, both without loading a model: what a remote client
(`expander.rewards.remote`) needs to stand in for the suite (`expander.rewards.suite`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from expander.errors import ConfigError
from expander.rewards.config import KNOWN_REWARDS, RewardsConfig
from expander.rewards.gates import gate_weight

__all__ = [
    "BUILTIN_REWARDS",
    "IMAGE_REWARDS",
    "RewardFunc",
    "load_reward_function",
    "needs_images",
    "reward_layout",
]

RewardFunc = Callable[..., list[float | None]]
BUILTIN_REWARDS = tuple(name for name in KNOWN_REWARDS if name != "gate")  # the gate is added, never listed
IMAGE_REWARDS = ("aesthetic", "faithfulness", "faithfulness_vqa", "safety", "diversity")


def needs_images(cfg: RewardsConfig) -> bool:
    """Whether the rewards of `cfg` render the completions (an image reward, CLIP or VQA faithfulness or the image
    safety layer): then the suite holds a renderer and a render cache."""
    names = list(cfg.rewards)
    image_safety_on = ("safety" in names or cfg.gates.safety) and (
        cfg.safety.image_layer or bool(cfg.safety.image_classifier)
    )
    return (
        any(n in names for n in ("aesthetic", "diversity", "faithfulness_vqa"))
        or ("faithfulness" in names and cfg.faithfulness.clip_weight != 0)
        or image_safety_on
    )


def load_reward_function(path: str) -> RewardFunc:
    """The function a dotted-path reward name (`pkg.module:function` or `pkg.module.function`) names.

    Raises:
        ConfigError: the module or the attribute cannot be imported, or it is not callable.
    """
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"reward {path!r}: cannot import {attr!r} from {module_name!r} ({exc})") from None
    if not callable(fn):
        raise ConfigError(f"reward {path!r} is not callable")
    return fn


def reward_layout(cfg: RewardsConfig, num_generations: int | None = None) -> tuple[list[str], list[float]]:
    """The reward names (TRL's logged names, `gate` last when a gate is on) and weights `RewardSuite(cfg)` has,
    without loading a model: what a remote client (`expander.rewards.remote`) needs to stand in for the suite."""
    names = [n if n in BUILTIN_REWARDS else getattr(load_reward_function(n), "__name__", "reward") for n in cfg.rewards]
    weights = [cfg.weight(n) for n in cfg.rewards]
    if cfg.gates.safety or cfg.gates.constraints or cfg.gates.added_subjects:
        names.append("gate")
        weights.append(gate_weight(weights, num_generations or cfg.num_generations, cfg.gates.margin))
    return names, weights
