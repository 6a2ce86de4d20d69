"""The tiny Krea 2 transformer of diffusion/tiny.py and its attention FLOPs counted by hand, shared by the FLOP
counter's test and the dry-run's render test."""

from __future__ import annotations


def tiny_krea2_transformer():
    """diffusion/tiny.py's transformer layout with seed-0 weights, in eval mode."""
    import torch
    from diffusers import Krea2Transformer2DModel

    from diffusion.tiny import TINY_TRANSFORMER

    torch.manual_seed(0)
    return Krea2Transformer2DModel(**TINY_TRANSFORMER).eval()


def tiny_krea2_attention_flops(batch: int, text: int, image: int) -> int:
    """Attention FLOPs of one forward, 2 per multiply-add, B x H x Lq x Lk x (D + Dv) per attention:
    2 single-stream blocks over [text, image] with 4 heads of 16; the text fusion's layer-wise block across the 4
    tapped layers of each of the B x text tokens, and its refiner over the text tokens, 4 heads of 8."""
    n = text + image
    blocks = 2 * (2 * batch * 4 * n * n * (16 + 16))
    layerwise = 2 * (batch * text) * 4 * 4 * 4 * (8 + 8)
    refiner = 2 * batch * 4 * text * text * (8 + 8)
    return blocks + layerwise + refiner
