"""Gates: a completion that fails safety or a hard constraint ends with a lower advantage than every
non-gated completion of its group, whatever the other rewards say.

Design: one extra reward function, `gate` (1.0 = passes every gate, 0.0 = gated; never `None`, an
unscorable gate fails closed), whose weight is derived from the group size and the other weights so
that it dominates them after TRL's normalisation. Per-component values (safety, constraints, reasons)
are still logged as their own columns.

How TRL 1.16 aggregates with `multi_objective_aggregation="normalize_then_sum"` (grpo_trainer.py,
`_generate_and_score_completions`), for G completions per group and reward functions k:

    z_k    = (r_k - nanmean_group(r_k)) / (nanstd_group(r_k) + 1e-4)     # nanstd: Bessel-corrected
    s      = nansum_k(w_k * z_k)                                          # NaN (None) terms count 0
    A      = (s - nanmean_batch(s)) / (nanstd_batch(s) + 1e-4)            # one affine map, same for all
    A      = nan_to_num(A, 0)                                             # rows where every reward is None

The last map is increasing and shared by the whole batch, so within a group the order of A is the order
of s. Two bounds give the weight:

1. Other rewards. Within a group, for any members i, j: |z_k,i - z_k,j| <= sqrt(2 (n - 1)) for the n
   non-NaN values of reward k (the range of a sample is at most sqrt(2 (n-1)) sample standard deviations;
   the +1e-4 only shrinks it). A NaN term counts 0, which lies between min and max of the z's (they
   have mean 0), and n <= G. So |sum_k w_k (z_k,i - z_k,j)| <= sum_k |w_k| * sqrt(2 (G - 1)) =: B.
2. The gate. With m of G members gated (0 < m < G), the gate's z gap between a passing and a gated
   member is 1 / (sigma_m + 1e-4), sigma_m = sqrt(m (G - m) / (G (G - 1))), smallest when m = G // 2:
   gap >= 1 / (sigma_max + 1e-4).

Hence any w_gate > B * (sigma_max + 1e-4) puts every gated member strictly below every passing one;
`gate_weight` returns `margin` (> 1) times that bound. With no gated member (or all gated) the gate's
z is 0 for everyone and the other rewards decide alone. The guarantee is for normalize_then_sum; under
TRL's default sum_then_normalize the raw scales of the rewards would enter the bound.

Cost of the design: in a batch with gated members the batch standard deviation of s grows, so the
other rewards' advantages shrink in that batch; a gated completion is still pushed down hardest.

`group_advantages` is the same arithmetic for reporting (`expander score`, eval); the property test in
tests/rewards checks it against TRL's own code, and the gate guarantee against TRL's code directly.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import torch

__all__ = ["gate_weight", "group_advantages"]

_TRL_EPS = 1e-4  # TRL's epsilon in (x - mean) / (std + eps)


def gate_weight(other_weights: Sequence[float], group_size: int, margin: float = 1.1) -> float:
    """Weight of the `gate` reward that makes a gated completion's advantage the minimum of its group.

    Args:
        other_weights: weights of every other reward function.
        group_size: GRPO `num_generations` (G >= 2).
        margin: factor > 1 above the exact bound (see the module docstring).

    Returns:
        The gate weight (> 0).
    """
    # RewardsConfig checks num_generations and gates.margin first: a bad value here is the caller's bug.
    if group_size < 2:
        raise ValueError(f"group_size must be >= 2, got {group_size}")
    if margin <= 1:
        raise ValueError(f"margin must be > 1, got {margin}")
    g = group_size
    m = g // 2
    sigma_max = math.sqrt(m * (g - m) / (g * (g - 1)))
    bound = sum(abs(w) for w in other_weights) * math.sqrt(2 * (g - 1)) * (sigma_max + _TRL_EPS)
    return margin * bound if bound > 0 else 1.0


def _nanstd(x: torch.Tensor, dim: int) -> torch.Tensor:
    mean = torch.nanmean(x, dim=dim, keepdim=True)
    var = torch.nanmean((x - mean) ** 2, dim=dim, keepdim=True)
    count = (~torch.isnan(x)).sum(dim=dim, keepdim=True)
    corr = torch.where(count > 1, count / (count - 1), torch.full_like(var, float("nan")))
    return torch.sqrt(var * corr)


def group_advantages(
    rewards: Sequence[Sequence[float | None]], weights: Sequence[float], group_ids: Sequence[Hashable]
) -> list[float]:
    """GDPO (normalize_then_sum) advantages of rows grouped by `group_ids`, as TRL computes them.

    Args:
        rewards: N rows of K values (`None` = could not score).
        weights: K weights (the gate's included when it is a column).
        group_ids: N labels; groups may have different sizes (TRL's are all `num_generations`).

    Returns:
        N advantages; 0.0 for a row where every reward is `None`, and within a group of one.
    """
    if len(rewards) != len(group_ids):  # shapes built by code, not by a user: built-in errors
        raise ValueError(f"{len(rewards)} rows but {len(group_ids)} group ids")
    if not rewards:
        return []
    r = torch.tensor([[math.nan if v is None else float(v) for v in row] for row in rewards], dtype=torch.float32)
    if r.shape[1] != len(weights):
        raise ValueError(f"rows have {r.shape[1]} rewards but {len(weights)} weights")
    unscorable = torch.isnan(r).all(dim=1)
    z = torch.full_like(r, math.nan)
    for g in dict.fromkeys(group_ids):
        idx = torch.tensor([i for i, gid in enumerate(group_ids) if gid == g])
        block = r[idx]
        mean = torch.nanmean(block, dim=0, keepdim=True)
        std = _nanstd(block, 0) if len(idx) > 1 else torch.zeros_like(mean)
        z[idx] = (block - mean) / (std + _TRL_EPS)
    s = (z * torch.tensor(weights, dtype=torch.float32).unsqueeze(0)).nansum(dim=1)
    s[unscorable] = math.nan
    std = _nanstd(s, 0) if s.numel() > 1 else torch.zeros_like(s)
    adv = (s - torch.nanmean(s)) / (std + _TRL_EPS)
    return torch.nan_to_num(adv, nan=0.0).tolist()
