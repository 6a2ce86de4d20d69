"""CPU compat patches for the CUDA-linked PyPI torchvision/torchaudio next to a +cpu torch. Idempotent.

1. torchvision registers fake kernels for `torchvision::nms`/`qnms` without checking that its C extension
   loaded, so `import torchvision` raises "operator torchvision::nms does not exist" (and with it
   `from transformers import LlamaConfig`). We guard both registrations on `_has_ops()`.
2. torchaudio raises OSError loading its CUDA-linked `_torchaudio`; we make that "extension unavailable".
Only the C ops (nms, roi_align, decode_jpeg, ...) stay unavailable; transforms, open_clip and the
transformers image processors work.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

MARK = "# expander-cpu-compat"


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)  # find_spec does not import the package
    return Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations else None


def patch_torchvision(root: Path) -> str:
    path = root / "_meta_registrations.py"
    text = path.read_text()
    if MARK in text:
        return "torchvision: already patched"
    for op in ("nms", "qnms"):
        old = f'@torch.library.register_fake("torchvision::{op}")\ndef meta_{op}('
        if old not in text:
            return f"torchvision: pattern for {op} not found, left unchanged"
        new = (
            f"def _fake_{op}_if_ops(fn):  {MARK}\n"
            f"    if torchvision.extension._has_ops():\n"
            f'        return torch.library.register_fake("torchvision::{op}")(fn)\n'
            f"    return fn\n\n\n"
            f"@_fake_{op}_if_ops\ndef meta_{op}("
        )
        text = text.replace(old, new)
    path.write_text(text)
    return "torchvision: guarded nms/qnms fake registrations"


def patch_torchaudio(root: Path) -> str:
    path = root / "_extension" / "__init__.py"
    text = path.read_text()
    if MARK in text:
        return "torchaudio: already patched"
    old = '_IS_TORCHAUDIO_EXT_AVAILABLE = _load_lib("_torchaudio")\n'
    if old not in text:
        return "torchaudio: pattern not found, left unchanged"
    new = (
        f"try:  {MARK}\n"
        '    _IS_TORCHAUDIO_EXT_AVAILABLE = _load_lib("_torchaudio")\n'
        "except OSError:  # CUDA-linked build next to a CPU torch\n"
        "    _IS_TORCHAUDIO_EXT_AVAILABLE = False\n"
    )
    path.write_text(text.replace(old, new))
    return "torchaudio: tolerate OSError from _torchaudio"


def main() -> int:
    for name, fn in (("torchvision", patch_torchvision), ("torchaudio", patch_torchaudio)):
        root = _package_dir(name)
        print(f"[setup] {fn(root) if root else name + ': not installed, skipped'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
