"""Statistics of an eval run: paired win rates between arms and means, with seeded bootstrap 95% CIs.

Units are (prompt, seed) pairs: every arm is rendered from the same prompts with the same seeds, so
arm A's image for (prompt, seed) is compared with arm B's image for the same (prompt, seed). The
bootstrap resamples *prompts* (with all their seeds), because images of one prompt are not independent.
A NaN score (a scorer that could not score) drops that pair from the comparison; it is never a 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import combinations

import numpy as np

__all__ = [
    "LOWER_IS_BETTER",
    "MeanEstimate",
    "WinRate",
    "arm_means",
    "bootstrap_mean",
    "paired_win_rate",
    "win_rate_table",
]


@dataclass
class WinRate:
    """How often `arm` beats `other` on `metric` over paired units (ties count one half).

    Attributes:
        win_rate: fraction in [0, 1]; 0.5 = no difference. NaN when no pair could be scored.
        ci_low, ci_high: bootstrap percentile interval of `win_rate` at the requested level.
        mean_diff: mean of (arm - other) over the pairs, with its own interval `diff_ci_low/high`.
        n_pairs: pairs compared; n_clusters: distinct prompts among them.
        group: the category/challenge value this row is restricted to (`"all"` for the whole set).
    """

    metric: str
    arm: str
    other: str
    group_by: str
    group: str
    n_pairs: int
    n_clusters: int
    win_rate: float
    ci_low: float
    ci_high: float
    mean_diff: float
    diff_ci_low: float
    diff_ci_high: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class MeanEstimate:
    """Mean of a metric with a bootstrap interval (prompts resampled); NaN values are left out."""

    mean: float
    ci_low: float
    ci_high: float
    n: int


def _cluster_index(clusters) -> tuple[np.ndarray, int]:
    _, inverse = np.unique(np.asarray(clusters, dtype=object).astype(str), return_inverse=True)
    return inverse, int(inverse.max()) + 1 if len(inverse) else 0


def _bootstrap_ratio(num: np.ndarray, den: np.ndarray, n_boot: int, rng: np.random.Generator, level: float):
    """Percentile interval of sum(num[idx]) / sum(den[idx]) over cluster resamples `idx`."""
    n_clusters = len(num)
    if n_clusters == 0:
        return float("nan"), float("nan")
    if n_clusters == 1:
        value = float(num[0] / den[0])
        return value, value
    idx = rng.integers(0, n_clusters, size=(n_boot, n_clusters))
    stats = num[idx].sum(axis=1) / den[idx].sum(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    return float(low), float(high)


def paired_win_rate(
    scores: np.ndarray,
    other_scores: np.ndarray,
    clusters,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    metric: str = "",
    arm: str = "",
    other: str = "",
    group_by: str = "all",
    group: str = "all",
) -> WinRate:
    """Paired win rate of `scores` over `other_scores` with a cluster bootstrap interval.

    Args:
        scores, other_scores: shape (N,), the two arms' scores on the same N units, aligned.
        clusters: shape (N,), the resampling unit of each pair (the prompt id).
        n_boot: bootstrap resamples; level: interval coverage (0.95 = 95%); seed: the resampling seed.

    Returns:
        A `WinRate`; a win is `score > other`, a tie (equal within 1e-12) counts 0.5.
    """
    a = np.asarray(scores, dtype=float)
    b = np.asarray(other_scores, dtype=float)
    cl = np.asarray(clusters, dtype=object)
    if a.shape != b.shape or a.shape != cl.shape or a.ndim != 1:  # misaligned arrays: a caller's bug
        raise ValueError(f"scores {a.shape}, other_scores {b.shape} and clusters {cl.shape} must be equal 1-D shapes")
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b, cl = a[keep], b[keep], cl[keep]
    nan = float("nan")
    if len(a) == 0:
        return WinRate(metric, arm, other, group_by, group, 0, 0, nan, nan, nan, nan, nan, nan)
    diff = a - b
    wins = np.where(np.abs(diff) <= 1e-12, 0.5, (diff > 0).astype(float))
    inverse, n_clusters = _cluster_index(cl)
    count = np.bincount(inverse, minlength=n_clusters).astype(float)
    win_sum = np.bincount(inverse, weights=wins, minlength=n_clusters)
    diff_sum = np.bincount(inverse, weights=diff, minlength=n_clusters)
    # One generator per call, seeded: the same inputs give the same intervals.
    rng = np.random.default_rng(seed)
    low, high = _bootstrap_ratio(win_sum, count, n_boot, rng, level)
    d_low, d_high = _bootstrap_ratio(diff_sum, count, n_boot, rng, level)
    return WinRate(
        metric,
        arm,
        other,
        group_by,
        group,
        int(len(a)),
        n_clusters,
        float(wins.mean()),
        low,
        high,
        float(diff.mean()),
        d_low,
        d_high,
    )


def bootstrap_mean(values, clusters, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> MeanEstimate:
    """Mean of `values` (shape (N,)) with a bootstrap interval resampling `clusters` (shape (N,))."""
    v = np.asarray(values, dtype=float)
    cl = np.asarray(clusters, dtype=object)
    keep = ~np.isnan(v)
    v, cl = v[keep], cl[keep]
    if len(v) == 0:
        return MeanEstimate(float("nan"), float("nan"), float("nan"), 0)
    inverse, n_clusters = _cluster_index(cl)
    count = np.bincount(inverse, minlength=n_clusters).astype(float)
    total = np.bincount(inverse, weights=v, minlength=n_clusters)
    low, high = _bootstrap_ratio(total, count, n_boot, np.random.default_rng(seed), level)
    return MeanEstimate(float(v.mean()), low, high, int(len(v)))


# Metrics where less is better: an arm wins a pair when its value is LOWER.
LOWER_IS_BETTER = frozenset({"added_subject", "added_negation"})


def win_rate_table(
    results,
    arms: list[str],
    metrics: list[str],
    *,
    group_by: str | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> list[WinRate]:
    """Win rates of every later arm over every earlier arm (arms[0] is the baseline) on each metric.

    Args:
        results: DataFrame with columns `arm`, `prompt_id`, `seed_index`, the metric columns and, for a
            breakdown, the `group_by` column (`category` or `challenge`).
        arms: arm names in order; pairs are (arms[j] over arms[i]) for i < j.
        metrics: score columns; higher is better except for those in `LOWER_IS_BETTER` (compared negated, so
            a win is always "better on that metric").
        group_by: `None` for the whole set, else one table row per value of that column.

    Returns:
        One `WinRate` per (group, metric, pair).
    """
    groups: list[tuple[str, object]] = [("all", results)]
    if group_by is not None:
        groups = [(str(name), frame) for name, frame in results.groupby(group_by, sort=True)]
    out: list[WinRate] = []
    for group_name, frame in groups:
        for metric in metrics:
            wide = frame.pivot_table(
                index=["prompt_id", "seed_index"], columns="arm", values=metric, aggfunc="first", dropna=False
            )
            for i, j in combinations(range(len(arms)), 2):
                other, arm = arms[i], arms[j]
                if arm not in wide.columns or other not in wide.columns:
                    continue
                sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
                out.append(
                    paired_win_rate(
                        sign * wide[arm].to_numpy(dtype=float),
                        sign * wide[other].to_numpy(dtype=float),
                        wide.index.get_level_values("prompt_id").to_numpy(),
                        n_boot=n_boot,
                        level=level,
                        seed=seed,
                        metric=metric,
                        arm=arm,
                        other=other,
                        group_by=group_by or "all",
                        group=group_name,
                    )
                )
    return out


def arm_means(
    results, arms: list[str], metrics: list[str], *, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> dict:
    """`{arm: {metric: MeanEstimate-as-dict}}` over the whole set (metrics missing from `results` skipped)."""
    out: dict[str, dict] = {}
    for arm in arms:
        frame = results[results["arm"] == arm]
        out[arm] = {}
        for metric in metrics:
            if metric not in frame.columns:
                continue
            est = bootstrap_mean(
                frame[metric].to_numpy(dtype=float),
                frame["prompt_id"].to_numpy(),
                n_boot=n_boot,
                level=level,
                seed=seed,
            )
            out[arm][metric] = asdict(est)
    return out
