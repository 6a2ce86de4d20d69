"""Where models run and in which dtype: one rule for every stage (generation engines, serving, rendering, eval).

The default dtype is bf16 on CUDA (half the memory of fp32, and fast there) and fp32 elsewhere: on CPUs
without AVX-512 bf16, bf16 matmuls are several times slower than fp32. torch is imported only when the
device has to be detected, so importing this module costs nothing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["default_device", "default_dtype", "has_cuda", "is_cuda", "resolve_dtype"]


def has_cuda() -> bool:
    """Whether torch sees a CUDA device."""
    import torch

    return torch.cuda.is_available()


def default_device() -> str:
    """`"cuda"` when a CUDA device is visible, else `"cpu"`."""
    return "cuda" if has_cuda() else "cpu"


def is_cuda(device: Any) -> bool:
    """Whether `device` (a string such as `"cuda:1"`, or a `torch.device`) is a CUDA device."""
    return str(getattr(device, "type", device)).startswith("cuda")


def default_dtype(device: Any = None) -> str:
    """The dtype name models load in on `device` when none is configured.

    Args:
        device: `"cuda"`, `"cuda:N"`, `"cpu"` or a `torch.device`; `None` or `""` = the default device.

    Returns:
        `"bfloat16"` on CUDA, `"float32"` otherwise.
    """
    if not device:
        device = default_device()
    return "bfloat16" if is_cuda(device) else "float32"


def resolve_dtype(dtype: str | None, device: Any = None) -> str:
    """The configured dtype as given (names are not normalised: callers key caches on them), else the default
    for `device` (`default_dtype`)."""
    return dtype if dtype else default_dtype(device)
