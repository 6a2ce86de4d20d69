"""Which directory a Krea 2 reference names, and whether it holds a complete diffusers-format model.

A reference is a local diffusers-format directory or a hub id (`org/name`). `tiny:krea2` names the tiny
random Krea 2 that `diffusion.tiny` builds; building it needs a tokenizer the runtime does not own, so that
reference is resolved one layer up (`expander.models.resolve_krea2_model`), which passes the built
directory back here.
"""

from __future__ import annotations

import os
from pathlib import Path

from expander.errors import ExpanderError

__all__ = ["TINY_KREA2_REF", "Krea2ModelError", "check_krea2_dir", "resolve_krea2"]

TINY_KREA2_REF = "tiny:krea2"
"""The reference of the tiny random Krea 2 of seed 0 (`diffusion.tiny.cached_tiny_krea2`)."""

# Component -> files that must exist in its subfolder (any one of each tuple).
_REQUIRED = {
    "scheduler": (("scheduler_config.json",),),
    "tokenizer": (("tokenizer.json", "vocab.json", "vocab.txt", "tokenizer.model"), ("tokenizer_config.json",)),
    "text_encoder": (("config.json",), ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")),
    "transformer": (
        ("config.json",),
        (
            "diffusion_pytorch_model.safetensors",
            "diffusion_pytorch_model.safetensors.index.json",
            "diffusion_pytorch_model.bin",
        ),
    ),
    "vae": (("config.json",), ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")),
}


class Krea2ModelError(ExpanderError, FileNotFoundError):
    """A Krea 2 reference that does not name a complete diffusers-format directory."""


def check_krea2_dir(path: str | os.PathLike) -> Path:
    """Check that `path` is a complete diffusers-format Krea 2 directory.

    Raises:
        Krea2ModelError: one message listing everything that is missing.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise Krea2ModelError(f"Krea 2 model directory {root} does not exist")
    missing = []
    if not (root / "model_index.json").is_file():
        missing.append("model_index.json")
    for component, groups in _REQUIRED.items():
        sub = root / component
        if not sub.is_dir():
            missing.append(f"{component}/ (the whole folder)")
            continue
        for names in groups:
            if not any((sub / name).is_file() for name in names):
                missing.append(f"{component}/{' or '.join(names)}")
    if missing:
        raise Krea2ModelError(f"incomplete Krea 2 model directory {root}: missing " + ", ".join(missing))
    return root


def resolve_krea2(ref: str | os.PathLike) -> Path:
    """A complete local directory for `ref`: a local diffusers-format directory, or a hub id `org/name`.

    Hub ids resolve through the local HF cache (`HF_HUB_OFFLINE=1`) or a download.

    Raises:
        Krea2ModelError: naming the reference and what was tried or is missing; for a `tiny:` reference,
            where it is resolved (`tiny:krea2`) or that no such tiny model exists.
    """
    text = str(ref).strip()
    if not text:
        raise Krea2ModelError("a Krea 2 model reference must be a non-empty path or hub id")
    if text.startswith("tiny:"):
        if text != TINY_KREA2_REF:
            raise Krea2ModelError(f"unknown tiny Krea 2 ref {text!r}; the tiny random Krea 2 is {TINY_KREA2_REF!r}")
        raise Krea2ModelError(
            f"{TINY_KREA2_REF!r} is built with the built-in SmolLM2 tokenizer: resolve it with "
            "expander.models.resolve_krea2_model, or build it with diffusion.tiny.cached_tiny_krea2"
        )
    path = Path(text).expanduser()
    parts = text.split("/")
    is_hub_id = len(parts) == 2 and all(parts) and not text.startswith((".", "~", "/"))
    if path.exists() or not is_hub_id:
        return check_krea2_dir(path)
    try:
        from huggingface_hub import snapshot_download

        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
        local = Path(snapshot_download(text, local_files_only=offline))
    except Exception as exc:  # noqa: BLE001 - any hub failure means "not reachable"; reported below
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise Krea2ModelError(
            f"cannot load Krea 2 model {text!r}: no local directory of that name, and the hub "
            f"gave {type(exc).__name__}: {first}"
        ) from None
    return check_krea2_dir(local)
