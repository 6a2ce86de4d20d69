"""Outputs shaped for the image model they feed (issue #27 part 4): `shape(prompt, expansion, target)`.

A target (`TARGETS`: `krea2`, `krea2-turbo`, `flux`, `sdxl`, `sd3`, `generic`; `catalog.py` says what each
pipeline takes) decides

* the token budget, measured with the target encoder's own tokenizer (`tokens.py`): the prompt is cut at a
  sentence boundary to fit, never left for the pipeline to truncate mid-word, and the count is reported;
* `prompt_2`, a variant within 77 CLIP tokens for the second encoder of SDXL/SD3;
* the negative prompt: what the user's prompt excludes ("no cars" -> "cars", `negative.py`), or None where the
  model takes none (Krea 2 Turbo, FLUX.1);
* a suggested aspect ratio and width/height (multiples of 16) read from the prompt, or None (`sizes.py`).

Light to import (no torch, no transformers until a tokenizer is loaded). Used by the API (`target` field), the
CLI (`expander expand --target`), the client and the diffusers / ComfyUI integrations.
"""

from expander.targets.catalog import CLIP_TOKEN_LIMIT, DEFAULT_TARGET, TARGETS, TargetError, TargetModel, get_target
from expander.targets.negative import exclusions
from expander.targets.shaping import ShapedPrompt, shape
from expander.targets.sizes import SIZE_MULTIPLE, SizeSuggestion, check_size, suggest_size
from expander.targets.tokens import TargetTokenizerError, TokenCounter, fit_text, load_counter

__all__ = [
    "CLIP_TOKEN_LIMIT",
    "DEFAULT_TARGET",
    "SIZE_MULTIPLE",
    "TARGETS",
    "ShapedPrompt",
    "SizeSuggestion",
    "TargetError",
    "TargetModel",
    "TargetTokenizerError",
    "TokenCounter",
    "check_size",
    "exclusions",
    "fit_text",
    "get_target",
    "load_counter",
    "shape",
    "suggest_size",
]
