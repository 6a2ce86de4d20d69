"""Stage 5, aggregate: what the scored table says: withheld images, counts, means and win rates with CIs.

    results = mark_withheld(scored, cache)            # image_path, withheld (fail closed)
    summary = summarize(results, cfg, arms=..., renderer=..., scorers=..., expanded=..., rendered=...)

`summary` is the content of `summary.json`: provenance (git commit, config, arms, renderer, scorers), counts,
per-arm means and the paired win rates of every later arm over every earlier one, overall and per category
and challenge (`expander.eval.stats`: the bootstrap resamples prompts).
"""

from __future__ import annotations

import subprocess
from typing import Any

import numpy as np

from expander.config import config_to_dict
from expander.eval.config import EvalConfig
from expander.eval.stats import arm_means, win_rate_table
from expander.files import REPO_ROOT

__all__ = ["MEAN_METRICS", "git_commit", "mark_withheld", "summarize"]

# Columns whose per-arm means (with CIs) the summary reports, when the scorers made them.
MEAN_METRICS = (
    "aesthetic",
    "clip_score",
    "constraint_score",
    "constraint_ok",
    "added_subject",
    "added_negation",
    "dino_seed_diversity",
    "dino_dist_to_baseline",
    "expansion_words",
    "geneval_correct",
    "vqa_score",
)


def git_commit() -> dict:
    """`{"commit": sha or "unknown", "dirty": bool}` of the repository the code runs from."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if sha.returncode == 0:
            return {"commit": sha.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        pass
    return {"commit": "unknown", "dirty": False}


def _unscored(results) -> np.ndarray:
    """Rows with a render key whose image scores do not exist."""
    return np.array(
        [isinstance(k, str) and not ok for k, ok in zip(results["render_key"], results["image_scored"])], dtype=bool
    )


def mark_withheld(results, cache):
    """Add `image_path` and `withheld` to the scored rows (a copy).

    An image is withheld when its text was blocked, a safety layer flagged it, or its safety was never checked
    (the reward service could not score an image that exists): fail closed. The last get `image_flags`
    `not checked: unscored`.

    Args:
        results: the scored rows (`render_key`, `text_blocked`, `image_flagged`, `image_flags`, `image_scored`).
        cache: the `EvalCache` holding the renders (`render_path`, `has_render`).
    """
    out = results.copy()
    keys = out["render_key"]
    out["image_path"] = [str(cache.render_path(k)) if isinstance(k, str) else None for k in keys]
    exists = np.array([isinstance(k, str) and cache.has_render(k) for k in keys], dtype=bool)
    unchecked = _unscored(out) & exists
    out.loc[unchecked, "image_flags"] = "not checked: unscored"
    out["withheld"] = out["text_blocked"] | out["image_flagged"].fillna(False).astype(bool) | unchecked
    return out


def summarize(
    results,
    cfg: EvalConfig,
    *,
    arms: list[dict],
    renderer: dict[str, Any],
    scorers: dict[str, Any],
    expanded: int,
    rendered: int,
    seconds: float,
    git: dict | None = None,
) -> dict[str, Any]:
    """The run's summary (`summary.json`).

    Args:
        results: the rows after `mark_withheld`.
        cfg: the eval config (arms and baseline, win metrics, bootstrap settings; saved whole).
        arms: each arm's settings (`expansions.describe_arms`).
        renderer: the render settings, with the renderer's own under `runtime`.
        scorers: the scorers' refs (`scoring.describe_scorers`, plus the text policy).
        expanded, rendered: work done by this run (all processes).
        seconds: the run's wall time.
        git: the commit (None: `git_commit()`).
    """
    names = [a.name for a in cfg.arms]
    stats_kw = dict(n_boot=cfg.bootstrap_samples, level=cfg.ci_level, seed=cfg.stats_seed)
    metrics = [m for m in cfg.win_metrics if m in results.columns]
    mean_metrics = [m for m in MEAN_METRICS if m in results.columns]
    flagged = results["image_flagged"].fillna(False).astype(bool)

    def wins(group_by: str | None) -> list[dict]:
        return [w.to_dict() for w in win_rate_table(results, names, metrics, group_by=group_by, **stats_kw)]

    return {
        "git": git if git is not None else git_commit(),
        "config": config_to_dict(cfg),
        "arms": arms,
        "baseline": cfg.baseline,
        "renderer": renderer,
        "scorers": scorers,
        "counts": {
            "prompts": int(results["prompt_id"].nunique()),
            "arms": len(names),
            "seeds_per_prompt": cfg.seeds_per_prompt,
            "rows": len(results),
            "expanded_this_run": expanded,
            "rendered_this_run": rendered,
            "withheld": int(results["withheld"].sum()),
            "text_blocked": int(results["text_blocked"].sum()),
            "image_flagged": int(flagged.sum()),
            "unscored": int(_unscored(results).sum()),
        },
        "categories": results.groupby("category")["prompt_id"].nunique().to_dict(),
        "challenges": results.groupby("challenge")["prompt_id"].nunique().to_dict(),
        "means": arm_means(results, names, mean_metrics, **stats_kw),
        "win_rates": wins(None),
        "win_rates_by_category": wins("category"),
        "win_rates_by_challenge": wins("challenge"),
        "seconds": round(seconds, 2),
    }
