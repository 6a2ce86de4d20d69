"""Per-step diversity of GRPO's completions: is RL collapsing each prompt's group to one phrasing?

Logged every step by `ExpanderGRPOTrainer` (every recipe, text and image), into TRL's metrics (metrics.jsonl,
TensorBoard):

* `diversity/zero_spread_groups`: share of prompt groups in which no reward separates the members (so the group's
  total reward has zero spread and it teaches nothing). The same number as the trainer's `frac_group_zero_std`,
  under the name the diversity dashboards read. Not TRL's `frac_reward_zero_std`: with the recipes'
  `normalize_then_sum` TRL takes that std over the whole batch, so it is 0 or 1, never a share of groups.
* `diversity/zero_spread_groups_task`: the same share over the task rewards only (every reward but the diversity
  terms `diversity` and `text_diversity`). A diversity term is continuous: it separates the members of almost every
  group, so with one on, `zero_spread_groups` falls to ~0 whether or not the task rewards still separate them.
* `diversity/minilm_pairwise`: within-group mean pairwise cosine distance (1 - cos) of the completions'
  all-MiniLM-L6-v2 embeddings, averaged over groups (one MiniLM batch per step).
* `diversity/distinct_2`: within-group distinct bigrams / bigrams, averaged over groups.

Groups are consecutive runs of `num_generations` completions (TRL's order; the completions table's `group`).
Texts are cleaned by the expansion contract first, as the rewards see them; an empty text has no embedding.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch

from expander.prompts import clean_output
from expander.rewards.diversity import group_diversity
from expander.rewards.text_diversity import distinct_n, embed_nonempty, load_minilm

logger = logging.getLogger(__name__)

__all__ = ["DIVERSITY_REWARDS", "GroupDiversityLog", "group_distinct_n", "group_pairwise_distance", "zero_spread_share"]

DIVERSITY_REWARDS = ("diversity", "text_diversity")
ZERO_SPREAD = 1e-6  # the trainer's `frac_group_zero_std` threshold


def _groups(n: int, group_size: int) -> list[range]:
    if group_size < 1 or n % group_size:  # sizes come from TRL's batch: a caller's bug, kept built-in
        raise ValueError(f"{n} completions do not split into groups of {group_size}")
    return [range(start, start + group_size) for start in range(0, n, group_size)]


def group_pairwise_distance(embeddings: Sequence[torch.Tensor | None], group_size: int) -> float | None:
    """Mean over groups of the group's mean pairwise cosine distance.

    Args:
        embeddings: N vectors (D,) in TRL's order, `None` for a completion with no embedding (left out).
        group_size: completions per group (consecutive).

    Returns:
        A float in [0, 2]; `None` when no group has two embedded members.
    """
    groups = _groups(len(embeddings), group_size)
    per_item = group_diversity(embeddings, [i // group_size for i in range(len(embeddings))])
    means = []
    for members in groups:
        values = [per_item[i] for i in members if per_item[i] is not None]
        if values:  # each item's mean over the others: their average is the mean over all pairs
            means.append(sum(values) / len(values))
    return sum(means) / len(means) if means else None


def zero_spread_share(spread: torch.Tensor, reward_names: Sequence[str], exclude: Sequence[str] = ()) -> float:
    """Share of groups in which none of the rewards (but those named in `exclude`) has a spread.

    Args:
        spread: `Tensor[groups, funcs]`, each reward's within-group std (NaN already replaced by 0).
        reward_names: the funcs' logged names, in column order.
    """
    keep = [j for j, name in enumerate(reward_names) if name not in exclude]
    return (spread[:, keep] < ZERO_SPREAD).all(dim=1).float().mean().item()


def group_distinct_n(texts: Sequence[str], group_size: int, n: int = 2) -> float:
    """Mean over groups of `distinct_n(group's texts, n)` (a group with no n-gram counts 0.0)."""
    groups = _groups(len(texts), group_size)
    return sum(distinct_n([texts[i] for i in g], n) for g in groups) / len(groups)


class GroupDiversityLog:
    """The `diversity/*` metrics of one step's completions.

    Args:
        group_size: GRPO's `num_generations`.
        load_embedder: returns an object with `embed(texts) -> Tensor[N, D]` (default: the offline
            all-MiniLM-L6-v2, `expander.rewards.text_diversity.load_minilm`, shared with the `text_diversity`
            reward). Called on the first step; if it fails, `diversity/minilm_pairwise` is left out (warned once).
    """

    def __init__(self, group_size: int, load_embedder: Callable[[], object] = load_minilm):
        self.group_size = group_size
        self._load = load_embedder
        self._embedder = None
        self._failed = False

    def _get_embedder(self):
        if self._embedder is None and not self._failed:
            try:
                self._embedder = self._load()
            except Exception as exc:  # a missing optional model must not stop training; the other metrics still log
                self._failed = True
                logger.warning("diversity/minilm_pairwise is not logged: %s", exc)
        return self._embedder

    def __call__(
        self,
        completions: Sequence[str],
        zero_spread: float,
        spread: torch.Tensor | None = None,
        reward_names: Sequence[str] = (),
    ) -> dict[str, float]:
        """Args: `completions` (raw texts, all processes', TRL's order); `zero_spread`: the step's share of groups
        with no reward spread (the trainer's `frac_group_zero_std`); `spread` (`Tensor[groups, funcs]`, each
        reward's within-group std) and `reward_names`: for `zero_spread_groups_task` (left out without them).
        Returns metric name -> value."""
        texts = [clean_output(t) for t in completions]
        out = {
            "diversity/zero_spread_groups": float(zero_spread),
            "diversity/distinct_2": group_distinct_n(texts, self.group_size, 2),
        }
        if spread is not None:
            out["diversity/zero_spread_groups_task"] = zero_spread_share(spread, reward_names, DIVERSITY_REWARDS)
        embedder = self._get_embedder()
        if embedder is not None:
            pairwise = group_pairwise_distance(embed_nonempty(embedder, texts), self.group_size)
            if pairwise is not None:
                out["diversity/minilm_pairwise"] = pairwise
        return out
