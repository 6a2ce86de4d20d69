"""Sampling presets of the two Krea 2 checkpoints.

`turbo` is the few-step distilled (TDM) checkpoint: 8 Euler steps, no classifier-free guidance, fixed
timestep shift (`is_distilled=True` in its pipeline config). This is what RL and evaluation render with.

`raw` is the undistilled base (midtrain) checkpoint: 28 steps with guidance 4.5 are the defaults that
diffusers' Krea2Pipeline documents for it. Krea 2's guidance convention is `cond + g * (cond - uncond)`, so
4.5 equals the usual CFG scale 5.5; each step then runs the transformer twice, so a raw image costs about
28 * 2 / 8 = 7x a turbo image. Use it for training-time comparisons with the base model, not for RL rewards.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from expander.errors import ConfigError

__all__ = ["PRESETS", "RenderPreset", "get_preset"]


@dataclass(frozen=True)
class RenderPreset:
    """Sampling defaults for one checkpoint kind.

    Attributes:
        name: `turbo` or `raw`.
        num_inference_steps: Euler flow-matching steps.
        guidance_scale: Krea 2 CFG scale (`0` disables guidance and the negative pass).
        distilled: whether the preset is meant for a checkpoint saved with `is_distilled=True`
            (a mismatch is allowed but logged: the checkpoint's config decides the timestep shift).
    """

    name: str
    num_inference_steps: int
    guidance_scale: float
    distilled: bool

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, RenderPreset] = {
    "turbo": RenderPreset("turbo", num_inference_steps=8, guidance_scale=0.0, distilled=True),
    "raw": RenderPreset("raw", num_inference_steps=28, guidance_scale=4.5, distilled=False),
}


def get_preset(name: str) -> RenderPreset:
    """The preset called `name`; `ConfigError` (a `ValueError`) naming the choices otherwise."""
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None
