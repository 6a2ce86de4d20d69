"""The embedded Krea 2 runtime: load a diffusers-format Krea 2, render batches, reproduce, measure.

`Krea2Renderer` (renderer.py) wraps diffusers' `Krea2Pipeline` with a text-embedding cache, micro-batching
and per-image seeding; `model_dir.py` turns a reference into a checked model directory; `presets.py` holds
the `turbo` / `raw` sampling settings; `tiny.py` builds a tiny random Krea 2 for CPU tests.

The runtime uses only the project's foundation (`expander.errors`, `expander.devices`, `expander.files`):
whatever needs a project model (the tiny model's tokenizer) is passed in by the layer above.
"""

from diffusion.model_dir import Krea2ModelError
from diffusion.presets import PRESETS, RenderPreset
from diffusion.renderer import Krea2Renderer

__all__ = ["PRESETS", "Krea2ModelError", "Krea2Renderer", "RenderPreset"]
