"""Count the FLOPs a forward pass spends in linear layers and attention, at the token counts it actually ran.

    from diffusion.flops import FlopCounter
    with FlopCounter() as fc:
        transformer(**inputs)
    fc.total, fc.by_kind        # {"linear": ..., "attention": ...}

The counter is a `TorchFunctionMode`: it sees every `torch.nn.functional.linear` call (every `nn.Linear`) and every
`scaled_dot_product_attention` call (diffusers' `native` backend and the PyTorch attention paths) with their real
argument shapes, so padding trimmed away, text and image tokens of that call are what is counted. A
multiply-add is 2 FLOPs:

- linear `x[..., in] @ W[out, in]^T`: `2 * tokens * in * out` (`tokens` = every leading dimension of `x`);
  the bias add is not counted;
- attention `q[B, Hq, Lq, D]`, `k[B, Hkv, Lk, D]`, `v[B, Hkv, Lk, Dv]`: `2*B*Hq*Lq*Lk*D` for the scores and
  `2*B*Hq*Lq*Lk*Dv` for the weighted sum (grouped-query heads share k/v but every query head does the work); the
  softmax, the mask and the scaling are not counted.

Normalisations, activations, RoPE and elementwise gates are left out: they are memory-bound and well under 1%
of a DiT's matmul FLOPs. This is the dense-FLOP convention of MFU figures: achieved FLOP/s = counted FLOPs / wall
time, and a share of the card's dense bf16 peak (`BF16_DENSE_PEAK_TFLOPS`).
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

__all__ = ["BF16_DENSE_PEAK_TFLOPS", "FlopCounter", "attention_flops", "bf16_peak_tflops", "linear_flops"]

# Dense (no 2:4 sparsity) bf16 tensor-core peaks from the vendors' data sheets, TFLOP/s. Keys are matched as
# substrings of torch.cuda.get_device_name(), most specific first.
BF16_DENSE_PEAK_TFLOPS: dict[str, float] = {
    "H200": 989.0,
    "H100 PCIe": 756.0,
    "H100 NVL": 835.0,
    "H100": 989.0,  # SXM
    "A100": 312.0,
}


def bf16_peak_tflops(device_name: str) -> float | None:
    """The dense bf16 peak of a card named like `torch.cuda.get_device_name()`, or None when unknown (a CPU)."""
    for key, peak in BF16_DENSE_PEAK_TFLOPS.items():
        if key.lower() in device_name.lower():
            return peak
    return None


def linear_flops(input_shape: tuple[int, ...], in_features: int, out_features: int) -> int:
    """FLOPs of `F.linear` on an input of `input_shape` (last dim = `in_features`)."""
    return 2 * math.prod(input_shape[:-1]) * in_features * out_features


def attention_flops(q_shape: tuple[int, ...], k_shape: tuple[int, ...], v_shape: tuple[int, ...]) -> int:
    """FLOPs of `scaled_dot_product_attention(q, k, v)` with PyTorch's `[..., heads, L, D]` layout."""
    *lead, lq, d = q_shape
    lk, dv = k_shape[-2], v_shape[-1]
    return 2 * math.prod(lead) * lq * lk * (d + dv)


class FlopCounter(TorchFunctionMode):
    """Counts linear and attention FLOPs of everything run inside the `with` block (see the module docstring).

    Attributes:
        by_kind: `{"linear": int, "attention": int}`.
        calls: `{"linear": int, "attention": int}`: how many calls were counted.
    """

    def __init__(self):
        super().__init__()
        self.by_kind = {"linear": 0, "attention": 0}
        self.calls = {"linear": 0, "attention": 0}

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.linear:
            x = args[0] if args else kwargs["input"]
            w = args[1] if len(args) > 1 else kwargs["weight"]
            self.by_kind["linear"] += linear_flops(tuple(x.shape), w.shape[1], w.shape[0])
            self.calls["linear"] += 1
        elif func is F.scaled_dot_product_attention:
            names = ("query", "key", "value")
            q, k, v = (args[i] if len(args) > i else kwargs[names[i]] for i in range(3))
            self.by_kind["attention"] += attention_flops(tuple(q.shape), tuple(k.shape), tuple(v.shape))
            self.calls["attention"] += 1
        return func(*args, **kwargs)
