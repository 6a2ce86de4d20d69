"""TRL 1.16's own normalize_then_sum aggregation, cut out of its source and executed (for tests).

The aggregation lives inline in `GRPOTrainer._generate_and_score_completions`; we cut the exact block
out of TRL's source and execute it, so a change in TRL's arithmetic breaks the tests that use it rather
than silently voiding the gate guarantee.
"""

from __future__ import annotations

import inspect
import textwrap
import types

import torch


def _trl_normalize_then_sum_source() -> str:
    from trl.trainer.grpo_trainer import GRPOTrainer

    src = textwrap.dedent(inspect.getsource(GRPOTrainer._generate_and_score_completions))
    lines = src.splitlines()
    start = next(
        i for i, line in enumerate(lines) if 'elif self.multi_objective_aggregation == "normalize_then_sum":' in line
    )
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = next(
        i for i in range(start + 1, len(lines)) if lines[i].strip() and len(lines[i]) - len(lines[i].lstrip()) <= indent
    )
    body = textwrap.dedent("\n".join(lines[start + 1 : end]))
    unscorable = next(line.strip() for line in lines if line.strip().startswith("unscorable_mask = "))
    nan_to_num = next(s.strip() for s in lines if s.strip().startswith("advantages = torch.nan_to_num(advantages"))
    return "\n".join([unscorable, body, nan_to_num])


TRL_SOURCE = _trl_normalize_then_sum_source()


def trl_advantages(rewards_per_func: torch.Tensor, weights: list[float], num_generations: int) -> torch.Tensor:
    """Run TRL's own normalize_then_sum lines on a (B*G, K) reward matrix."""
    from trl.trainer.utils import nanstd

    fake_self = types.SimpleNamespace(
        reward_weights=torch.tensor(weights, dtype=torch.float32), reward_funcs=[None] * len(weights)
    )
    scope = {
        "self": fake_self,
        "rewards_per_func": rewards_per_func,
        "num_generations": num_generations,
        "device": rewards_per_func.device,
        "torch": torch,
        "nanstd": nanstd,
    }
    exec(TRL_SOURCE, scope)  # noqa: S102 - TRL's own code, see the module docstring
    return scope["advantages"]
