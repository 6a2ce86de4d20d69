"""The embedded Krea 2 runtime: load a diffusers-format Krea 2, render batches, reproduce, measure.

`Krea2Renderer` (renderer.py) wraps diffusers' `Krea2Pipeline` with a text-embedding cache, micro-batching
and per-image seeding; `presets.py` holds the `turbo` / `raw` sampling settings; `tiny.py` builds a tiny
random Krea 2 for CPU tests.
"""

from diffusion.presets import PRESETS, RenderPreset
from diffusion.renderer import Krea2ModelError, Krea2Renderer

__all__ = ["PRESETS", "Krea2ModelError", "Krea2Renderer", "RenderPreset"]
