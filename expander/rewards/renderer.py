"""The reward suite's renderer: `load_renderer(cfg)` loads the Krea 2 renderer a rewards config names.

    renderer = load_renderer(cfg)   # diffusion.Krea2Renderer, for `RenderCache`

One resolver of Krea 2 refs for every caller (`expander.models.resolve_krea2_model`): a diffusers directory, a
hub id, or `tiny:krea2` (built once).
"""

from __future__ import annotations

from expander.errors import MissingExtraError
from expander.rewards.config import RewardsConfig
from expander.rewards.errors import RewardModelError

__all__ = ["load_renderer"]


def load_renderer(cfg: RewardsConfig):
    """The `diffusion.Krea2Renderer` of `cfg.render`.

    Raises:
        MissingExtraError: the Krea 2 runtime's dependencies are not installed.
        RewardModelError: the model cannot be loaded (the ref is named).
    """
    try:
        from diffusion import Krea2Renderer
    except ImportError as exc:
        raise MissingExtraError("image rewards (the Krea 2 renderer)", "diffusion", exc) from exc
    from expander.models import resolve_krea2_model

    r = cfg.render
    try:
        return Krea2Renderer.from_pretrained(
            resolve_krea2_model(r.model),
            preset=r.preset,
            dtype=r.dtype,
            device=r.device,
            offload=r.offload,
            batch_size=r.batch_size,
        )
    except RewardModelError:
        raise
    except Exception as exc:
        raise RewardModelError(f"cannot load the Krea 2 renderer {r.model!r}: {exc}") from exc
