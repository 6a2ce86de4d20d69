"""Tiny random reward models built in code, so the whole reward suite runs offline on a CPU.

A ref `tiny:<name>` is built deterministically (seed 0) at the real architecture with tiny sizes into
`$EXPANDER_CACHE/tiny/<name>` on first use: written to a temporary directory, then renamed into place
under a file lock, so concurrent processes build it once and a kill never leaves a half-built model.

| ref                   | what it builds                                                 | resolves to             |
|-----------------------|----------------------------------------------------------------|-------------------------|
| `tiny:krea2`          | diffusers Krea 2 pipeline (`models.resolve_krea2_model`)       | directory               |
| `tiny:clip`           | open_clip ViT (embed 32, 2 layers) + its BPE tokenizer config  | `local-dir:<directory>` |
| `tiny:dinov3`         | `DINOv3ViTModel` (hidden 32, 2 layers, patch 16, 4 registers)  | directory               |
| `tiny:aesthetic-head` | LAION-format MLP head (`layers.N.*`) on 32-d CLIP embeddings   | `.safetensors` file     |

Random weights prove plumbing, shapes, determinism and speed, never quality. `tiny:krea2` is the one Krea 2
cache every loader shares (`expander render`, eval, the rewards' renderer): this module only forwards it to
`expander.models.resolve_krea2_model`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from filelock import FileLock

from expander.devices import save_on_any_rank
from expander.errors import ExpanderError
from expander.files import cache_dir
from expander.models import resolve_krea2_model

__all__ = ["TINY_CLIP_CONFIG", "TINY_PREFIX", "TINY_REFS", "UnknownTinyModelError", "is_tiny", "resolve_ref"]

TINY_PREFIX = "tiny:"
TINY_CLIP_EMBED_DIM = 32
TINY_CLIP_CONFIG = {
    "embed_dim": TINY_CLIP_EMBED_DIM,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "patch_size": 16, "head_width": 16},
    # vocab_size must match open_clip's built-in BPE tokenizer (49408) so the tokenizer ships with the package.
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}
# Bump when a builder changes, so stale caches are rebuilt rather than silently reused.
_BUILD_VERSION = "1"


class UnknownTinyModelError(ExpanderError, ValueError):
    """A `tiny:<name>` reference whose name is not one of the tiny models built here."""


def _build_clip(path: Path) -> None:
    import open_clip
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = open_clip.factory.CLIP(**TINY_CLIP_CONFIG)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path / "open_clip_model.safetensors"))
    (path / "open_clip_config.json").write_text(
        json.dumps(
            {
                "model_cfg": TINY_CLIP_CONFIG,
                "preprocess_cfg": {
                    "mean": list(open_clip.OPENAI_DATASET_MEAN),
                    "std": list(open_clip.OPENAI_DATASET_STD),
                },
            },
            indent=2,
        )
    )


def _build_dinov3(path: Path) -> None:
    from transformers import DINOv3ViTConfig, DINOv3ViTImageProcessor, DINOv3ViTModel

    torch.manual_seed(0)
    config = DINOv3ViTConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        patch_size=16,
        num_register_tokens=4,
        image_size=64,
    )
    DINOv3ViTModel(config).eval().save_pretrained(path)
    DINOv3ViTImageProcessor(size={"height": 64, "width": 64}).save_pretrained(path)


def _build_aesthetic_head(path: Path) -> None:
    from safetensors.torch import save_file

    # Same layout as LAION's improved-aesthetic-predictor MLP (Linear/Dropout stack, indices 0,2,4,6,7),
    # at tiny widths over the tiny CLIP's embedding.
    torch.manual_seed(0)
    dims = [(0, TINY_CLIP_EMBED_DIM, 16), (2, 16, 8), (4, 8, 8), (6, 8, 4), (7, 4, 1)]
    state = {}
    for idx, d_in, d_out in dims:
        layer = torch.nn.Linear(d_in, d_out)
        state[f"layers.{idx}.weight"] = layer.weight.detach().contiguous()
        state[f"layers.{idx}.bias"] = layer.bias.detach().contiguous()
    save_file(state, str(path / "aesthetic_head.safetensors"))


# name -> (builder writing into an empty directory, function mapping the built directory to the ref)
TINY_REFS: dict[str, tuple[Callable[[Path], None], Callable[[Path], str]]] = {
    "clip": (_build_clip, lambda p: f"local-dir:{p}"),
    "dinov3": (_build_dinov3, lambda p: str(p)),
    "aesthetic-head": (_build_aesthetic_head, lambda p: str(p / "aesthetic_head.safetensors")),
}


def is_tiny(ref: str | None) -> bool:
    return isinstance(ref, str) and ref.startswith(TINY_PREFIX)


def resolve_ref(ref: str) -> str:
    """Resolve a model ref: `tiny:<name>` is built (once, cached) and mapped to a loadable ref; any other
    ref is returned unchanged.

    Returns:
        For `tiny:clip` an open_clip `local-dir:PATH` name; for `tiny:aesthetic-head` a file path; for the
        others a directory path.

    Raises:
        UnknownTinyModelError: an unknown tiny name.
        MissingExtraError: `tiny:krea2` without the Krea 2 runtime's dependencies.
    """
    if not is_tiny(ref):
        return ref
    name = ref[len(TINY_PREFIX) :]
    if name == "krea2":
        return str(resolve_krea2_model(ref))
    if name not in TINY_REFS:
        known = ", ".join(TINY_PREFIX + n for n in ("krea2", *TINY_REFS))
        raise UnknownTinyModelError(f"unknown tiny model {ref!r}; known: {known}")
    build, to_ref = TINY_REFS[name]
    root = cache_dir() / "tiny"
    final = root / f"{name}-v{_BUILD_VERSION}"
    if not final.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(root / f".{name}.lock")):
            if not final.is_dir():  # another process may have built it while we waited
                tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
                try:
                    with save_on_any_rank():  # under torchrun the building rank may not be rank 0
                        build(tmp)
                    tmp.rename(final)
                except BaseException:
                    shutil.rmtree(tmp, ignore_errors=True)
                    raise
    return to_ref(final)
