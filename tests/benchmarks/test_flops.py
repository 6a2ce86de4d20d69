"""The FLOP counter of the render-efficiency line (diffusion/flops.py) against hand counts."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from diffusion.flops import FlopCounter, attention_flops, bf16_peak_tflops, linear_flops


class _ToyBlock(torch.nn.Module):
    """One grouped-query attention block: q/k/v/out projections, SDPA, a 2-layer MLP."""

    def __init__(self, dim=32, heads=4, kv_heads=2, hidden=64):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, dim // heads
        self.q = torch.nn.Linear(dim, dim)
        self.kv = torch.nn.Linear(dim, 2 * kv_heads * self.head_dim, bias=False)
        self.out = torch.nn.Linear(dim, dim)
        self.up = torch.nn.Linear(dim, hidden)
        self.down = torch.nn.Linear(hidden, dim)

    def forward(self, x, context):
        b, lq, _ = x.shape
        q = self.q(x).view(b, lq, self.heads, self.head_dim).transpose(1, 2)
        k, v = self.kv(context).view(b, -1, 2, self.kv_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, enable_gqa=True).transpose(1, 2).reshape(b, lq, -1)
        x = x + self.out(a)
        return x + self.down(torch.relu(self.up(x)))


def test_flop_counter_matches_a_hand_count_of_a_toy_attention_block():
    block = _ToyBlock()
    x, context = torch.randn(2, 5, 32), torch.randn(2, 7, 32)
    with FlopCounter() as fc:
        block(x, context)
    # Hand count, 2 FLOPs per multiply-add: tokens x in x out per linear; B x Hq x Lq x Lk x (D + Dv) for attention.
    linear = 2 * (
        2 * 5 * 32 * 32  # q
        + 2 * 7 * 32 * 32  # kv (2 kv heads x 8 x 2 = 32 outputs)
        + 2 * 5 * 32 * 32  # out
        + 2 * 5 * 32 * 64  # up
        + 2 * 5 * 64 * 32
    )  # down
    attention = 2 * 2 * 4 * 5 * 7 * (8 + 8)
    assert fc.by_kind == {"linear": linear, "attention": attention}
    assert fc.calls == {"linear": 5, "attention": 1}
    assert fc.total == linear + attention == 160_512


def test_flop_counter_matches_torch_and_a_hand_count_on_the_tiny_krea2_transformer():
    from torch.utils.flop_counter import FlopCounterMode

    from tests.benchmarks.tiny_krea2 import tiny_krea2_attention_flops, tiny_krea2_transformer

    transformer = tiny_krea2_transformer()
    text_len, grid = 6, 4
    pos = torch.zeros(text_len + grid * grid, 3, dtype=torch.long)
    inputs = dict(
        hidden_states=torch.randn(2, grid * grid, 16),
        encoder_hidden_states=torch.randn(2, text_len, 4, 32),
        timestep=torch.tensor([0.5, 0.5]),
        position_ids=pos,
    )
    with torch.no_grad(), FlopCounter() as ours:
        transformer(**inputs)
    with torch.no_grad(), FlopCounterMode(display=False) as theirs:
        transformer(**inputs)
    # Every matmul of the model is a linear layer: torch's counter (aten mm/addmm) gives the same total.
    assert ours.by_kind["linear"] == theirs.get_total_flops() == 8_965_120
    # Attention by hand: B=2, 6 text + 16 image tokens.
    assert ours.by_kind["attention"] == tiny_krea2_attention_flops(2, 6, 16) == 529_408
    assert ours.calls == {"linear": 40, "attention": 4}


def test_flop_helpers_and_peak_table():
    assert linear_flops((3, 4, 8), 8, 16) == 2 * 12 * 8 * 16
    assert attention_flops((1, 2, 3, 4), (1, 2, 5, 4), (1, 2, 5, 4)) == 2 * 2 * 3 * 5 * 8
    assert bf16_peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert bf16_peak_tflops("NVIDIA H200") == 989.0
    assert bf16_peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert bf16_peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert bf16_peak_tflops("cpu") is None
