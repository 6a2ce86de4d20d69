"""Stage 5, aggregate (and the outputs): withheld images fail closed; the summary counts and compares arms."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from PIL import Image

from expander.eval.aggregate import mark_withheld, summarize
from expander.eval.cache import EvalCache
from expander.eval.config import ArmConfig, EvalConfig
from expander.eval.report import write_outputs

ARMS = [ArmConfig(name="raw"), ArmConfig(name="smol", creativity="low", model="smollm2-135m")]


def _scored(cache: EvalCache) -> pd.DataFrame:
    """Two prompts x two arms x two seeds; smol's aesthetic is higher everywhere. Row 1: text blocked; row 2:
    flagged image; row 3: a rendered image the service could not score."""
    rows = []
    for p, cat in (("p0", "A"), ("p1", "B")):
        for arm in ("raw", "smol"):
            for i in (0, 1):
                key = f"{p}{arm}{i}".ljust(32, "0")
                cache.put_render(key, Image.new("RGB", (4, 4)))
                rows.append(
                    {
                        "prompt_id": p,
                        "prompt": "a fox",
                        "category": cat,
                        "challenge": "Basic",
                        "arm": arm,
                        "seed_index": i,
                        "render_key": key,
                        "text_blocked": False,
                        "image_flagged": False,
                        "image_flags": "",
                        "image_scored": True,
                        "aesthetic": (2.0 if arm == "smol" else 1.0) + 0.1 * i,
                        "expansion_words": 3 if arm == "raw" else 30,
                    }
                )
    frame = pd.DataFrame(rows)
    frame.loc[1, ["text_blocked", "render_key"]] = [True, None]
    frame.loc[2, ["image_flagged", "image_flags"]] = [True, "sexual"]
    frame.loc[3, ["image_scored", "aesthetic"]] = [False, np.nan]
    return frame


def test_withheld_means_blocked_flagged_or_never_checked(tmp_path):
    cache = EvalCache(tmp_path)
    scored = _scored(cache)
    out = mark_withheld(scored, cache)
    assert out["withheld"].tolist()[:5] == [False, True, True, True, False]
    assert out.at[3, "image_flags"] == "not checked: unscored"
    assert pd.isna(out.at[1, "image_path"])
    assert out.at[0, "image_path"] == str(cache.render_path(out.at[0, "render_key"]))
    # An unscored row whose image does not exist (a failed render) is not an unchecked image to hide.
    cache.render_path(out.at[3, "render_key"]).unlink()
    assert not mark_withheld(scored, cache).at[3, "withheld"]


def test_summary_counts_means_and_win_rates_of_the_later_arm(tmp_path):
    cache = EvalCache(tmp_path)
    results = mark_withheld(_scored(cache), cache)
    cfg = EvalConfig(arms=ARMS, seeds_per_prompt=2, win_metrics=["aesthetic"], bootstrap_samples=100)
    summary = summarize(
        results,
        cfg,
        arms=[{"name": "raw"}, {"name": "smol"}],
        renderer={"renderer": "fake", "runtime": None},
        scorers={"clip_model": "fake"},
        expanded=4,
        rendered=7,
        seconds=1.234,
        git={"commit": "abc", "dirty": False},
    )
    counts = summary["counts"]
    assert (counts["prompts"], counts["arms"], counts["rows"], counts["seeds_per_prompt"]) == (2, 2, 8, 2)
    assert (counts["withheld"], counts["text_blocked"], counts["image_flagged"], counts["unscored"]) == (3, 1, 1, 1)
    assert (counts["expanded_this_run"], counts["rendered_this_run"]) == (4, 7)
    assert summary["means"]["smol"]["aesthetic"]["mean"] > summary["means"]["raw"]["aesthetic"]["mean"]
    assert "expansion_words" in summary["means"]["raw"] and "clip_score" not in summary["means"]["raw"]
    [win] = summary["win_rates"]
    assert (win["arm"], win["other"], win["metric"], win["win_rate"]) == ("smol", "raw", "aesthetic", 1.0)
    assert win["n_pairs"] == 3  # the NaN pair (row 3) is dropped, never counted as a loss
    assert {w["group"] for w in summary["win_rates_by_category"]} == {"A", "B"}
    assert summary["categories"] == {"A": 1, "B": 1} and summary["seconds"] == 1.23
    assert summary["baseline"] == "raw" and summary["config"]["bootstrap_samples"] == 100


def test_outputs_are_written_as_plain_json_and_parquet(tmp_path):
    cache = EvalCache(tmp_path / "cache")
    results = mark_withheld(_scored(cache), cache)
    summary = {"counts": {"rows": len(results)}, "nan": float("nan"), "int": np.int64(3), "path": tmp_path}
    write_outputs(tmp_path, results, summary, EvalConfig(arms=ARMS), report=False)
    assert json.loads((tmp_path / "summary.json").read_text()) == {
        "counts": {"rows": 8},
        "nan": None,
        "int": 3,
        "path": str(tmp_path),
    }
    assert len(pd.read_parquet(tmp_path / "results.parquet")) == 8
    assert not (tmp_path / "report.html").exists()
