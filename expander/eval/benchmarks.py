"""Benchmark scores of a run, per arm, beside the published numbers they are compared with.

    summary["benchmarks"] = benchmark_summary(results, cfg.suite)
    # {"geneval": {"arms": {"raw": {"score": 0.61, "per_tag": {...}, ...}}, "published": [...]}, "vqa": {...}}

* GenEval (`geneval_correct`, suite `geneval`): upstream's `summary_scores.py` per arm
  (`geneval_rules.summarize`): the mean over the six tags of each tag's share of correct images; on GenEval's 0-1
  scale.
* VQA (`vqa_score`): per arm the mean over prompts of the mean over a prompt's images; x 100 on suite `dpg`, as
  DPG-Bench prints its score (`question_graph.summarize_dpg`), else on 0-1.

`PUBLISHED` holds the numbers this project compares with: each is a model with its own prompts (raw) or with a
prompt rewriter (expanded). They were measured with the benchmarks' own scorers (GenEval: mmdet's Mask2Former;
DPG-Bench: mPLUG-large); ours use transformers detectors and VLMs unless you run the official scripts on the run's
`official/` images (README, "Score with the official scripts"), so compare the two arms of one run with each other,
and with the anchors only as a sanity check.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["PUBLISHED", "PublishedScore", "benchmark_summary"]


@dataclass(frozen=True)
class PublishedScore:
    """One published number: `system` (the image model, and the rewriter if any), `prompts` (`raw` or `expanded`),
    `score` on the benchmark's own scale, `source` (where it is reported)."""

    system: str
    prompts: str
    score: float
    source: str


PUBLISHED: dict[str, tuple[PublishedScore, ...]] = {
    "geneval": (
        PublishedScore("FLUX.1-dev", "raw", 0.66, "FLUX.1-dev's GenEval overall, as issue 25 cites it"),
        PublishedScore("FLUX.1-dev + RePrompt (GRPO rewriter)", "expanded", 0.76, "RePrompt, as issue 25 cites it"),
        PublishedScore("PromptRL (RL-trained rewriter)", "expanded", 0.97, "PromptRL, arXiv 2602.01382"),
    ),
    "dpg": (
        PublishedScore("FLUX.1-dev", "raw", 83.84, "FLUX.1-dev's DPG-Bench overall, as issue 25 cites it"),
        PublishedScore("Qwen-Image", "raw", 88.32, "Qwen-Image's DPG-Bench overall, as issue 25 cites it"),
    ),
}


def _arm_order(results) -> list[str]:
    return list(dict.fromkeys(results["arm"]))


def _geneval(results) -> dict[str, Any]:
    from expander.rewards.geneval_rules import summarize

    arms = {}
    for arm in _arm_order(results):
        rows = results[(results["arm"] == arm) & results["geneval_correct"].notna()]
        if rows.empty:
            continue
        summary = summarize(
            {"tag": r.category, "correct": bool(r.geneval_correct), "metadata": r.prompt_id} for r in rows.itertuples()
        )
        arms[arm] = {
            "score": summary.overall,
            "per_tag": summary.per_tag,
            "images": summary.images,
            "prompts": summary.prompts,
            "correct_images": summary.correct_images,
            "correct_prompts": summary.correct_prompts,
        }
    return arms


def _vqa(results, scale: float) -> dict[str, Any]:
    arms = {}
    for arm in _arm_order(results):
        rows = results[(results["arm"] == arm) & results["vqa_score"].notna()]
        if rows.empty:
            continue
        per_prompt = rows.groupby("prompt_id", sort=False)["vqa_score"].mean()
        arms[arm] = {"score": float(np.mean(per_prompt)) * scale, "prompts": len(per_prompt), "images": len(rows)}
    return arms


def benchmark_summary(results, suite: str) -> dict[str, Any]:
    """The benchmark scores of a scored results table (empty when no benchmark scorer ran).

    Args:
        results: the run's rows (`arm`, `prompt_id`, `category`; `geneval_correct` and/or `vqa_score`).
        suite: the eval's suite (decides the VQA scale and which published numbers are shown).

    Returns:
        `{"geneval": {"arms": {arm: {...}}, "published": [...]}, "vqa": {"arms": ..., "scale": 100 or 1,
        "published": [...]}}`, each key only when its column exists.
    """
    out: dict[str, Any] = {}
    if "geneval_correct" in results.columns:
        out["geneval"] = {
            "arms": _geneval(results),
            "published": [asdict(p) for p in PUBLISHED["geneval"]],
        }
    if "vqa_score" in results.columns:
        scale = 100.0 if suite == "dpg" else 1.0
        out["vqa"] = {
            "arms": _vqa(results, scale),
            "scale": scale,
            "published": [asdict(p) for p in PUBLISHED["dpg"]] if suite == "dpg" else [],
        }
    return out
