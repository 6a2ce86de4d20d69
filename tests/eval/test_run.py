"""The tiny eval end to end: outputs, shared seeds, and resumability measured by the renderer's counter."""

from __future__ import annotations

import io
import json
import subprocess

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from expander.eval.config import load_eval_config
from expander.eval.plan import render_seed
from expander.eval.run import run_eval

from .conftest import REPO, TINY_CONFIG


def test_tiny_eval_writes_one_row_per_prompt_arm_seed(tiny_run, eval_renderer):
    cfg, result, before = tiny_run
    out = result.output_dir
    df = pd.read_parquet(out / "results.parquet")
    n_prompts = cfg.num_prompts
    assert len(df) == n_prompts * len(cfg.arms) * cfg.seeds_per_prompt == 32
    assert df.groupby(["prompt_id", "arm", "seed_index"]).size().max() == 1
    for col in (
        "aesthetic",
        "clip_score",
        "constraint_score",
        "constraint_ok",
        "dino_seed_diversity",
        "dino_dist_to_baseline",
        "expansion_words",
        "image_flagged",
        "text_flags",
        "withheld",
        "category",
        "challenge",
    ):
        assert col in df.columns, col
    rendered_rows = df[df["render_key"].notna()]
    assert rendered_rows["aesthetic"].notna().all() and rendered_rows["clip_score"].notna().all()
    # Every image was rendered exactly once, and the renderer's own counter agrees.
    assert result.rendered == rendered_rows["render_key"].nunique() > 0
    assert eval_renderer.render_count - before == result.rendered
    assert result.expanded == n_prompts * cfg.seeds_per_prompt  # the raw arm needs no model

    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["rows"] == len(df) and summary["counts"]["rendered_this_run"] == result.rendered
    if (REPO / ".git").exists():  # a source tarball has no commit to report
        sha = summary["git"]["commit"]
        assert len(sha) == 40
        assert subprocess.run(["git", "cat-file", "-e", f"{sha}^{{commit}}"], cwd=REPO).returncode == 0
    assert {w["arm"] for w in summary["win_rates"]} == {"smollm2-low"}
    assert {w["metric"] for w in summary["win_rates"]} == set(cfg.win_metrics)
    assert {w["group"] for w in summary["win_rates_by_category"]} == set(df["category"])
    assert {w["group"] for w in summary["win_rates_by_challenge"]} == set(df["challenge"])
    assert summary["renderer"]["runtime"]["preset"] == "turbo"
    assert (out / "report.html").stat().st_size > 10_000


def test_arms_share_prompts_and_seeds_and_expansions_differ(tiny_run):
    cfg, result, _ = tiny_run
    df = result.results
    raw = df[df["arm"] == "raw"].set_index(["prompt_id", "seed_index"]).sort_index()
    exp = df[df["arm"] == "smollm2-low"].set_index(["prompt_id", "seed_index"]).sort_index()
    assert (raw.index == exp.index).all()
    assert (raw["render_seed"] == exp["render_seed"]).all()
    assert all(render_seed(cfg.seed, p, i) == s for (_, i), p, s in zip(raw.index, raw["prompt"], raw["render_seed"]))
    assert (raw["expansion"] == raw["prompt"]).all()
    assert (exp["expansion"] != exp["prompt"]).mean() > 0.9
    assert exp["expansion_words"].mean() > raw["expansion_words"].mean()
    # k seeds give k different images per (prompt, arm): diversity across seeds is positive.
    assert (df["dino_seed_diversity"].dropna() > 0).all()
    assert df.loc[df["arm"] == "raw", "dino_dist_to_baseline"].isna().all()
    assert raw["constraint_ok"].mean() >= exp["constraint_ok"].mean()


def test_rerun_renders_and_expands_nothing_and_reproduces_scores(tiny_run, eval_renderer, eval_scorers):
    cfg, first, _ = tiny_run
    before = eval_renderer.render_count
    again = run_eval(cfg, renderer=eval_renderer, scorers=eval_scorers, progress=False)
    assert again.rendered == 0 and again.expanded == 0
    assert eval_renderer.render_count == before
    assert again.summary["counts"]["rendered_this_run"] == 0
    pd.testing.assert_frame_equal(
        first.results[["aesthetic", "clip_score", "constraint_score"]],
        again.results[["aesthetic", "clip_score", "constraint_score"]],
    )


def test_lost_renders_are_redone_identically(tiny_run, eval_renderer, eval_scorers, tmp_path):
    cfg, first, _ = tiny_run
    from expander.eval.cache import EvalCache

    cache = EvalCache(cfg.resolved_cache_dir())
    keys = list(dict.fromkeys(first.results["render_key"].dropna()))[:3]
    old = {k: cache.render_path(k).read_bytes() for k in keys}
    for k in keys:  # as if the run had been killed before these three were written
        cache.render_path(k).unlink()
    before = eval_renderer.render_count
    resumed = run_eval(cfg, renderer=eval_renderer, scorers=eval_scorers, progress=False, write_report=False)
    assert resumed.rendered == 3 and eval_renderer.render_count - before == 3
    # The same (text, seed) gives the same image; the renderer promises equality up to float rounding
    # across batch shapes, so compare pixels, not PNG bytes.
    for k in keys:
        before_px = np.asarray(Image.open(io.BytesIO(old[k])), dtype=np.int16)
        after_px = np.asarray(Image.open(cache.render_path(k)), dtype=np.int16)
        assert np.abs(before_px - after_px).max() <= 2


def test_an_extra_arm_renders_only_its_own_images(tiny_run, eval_renderer, eval_scorers, tmp_path):
    cfg, first, _ = tiny_run
    # Four prompts of the tiny run, as a prompt file of their own, sharing the tiny run's cache:
    # the cache is keyed by content (settings, text, seed), not by run, so the two old arms cost nothing.
    picked = first.results.drop_duplicates("prompt_id").head(4)
    prompt_file = tmp_path / "four.jsonl"
    prompt_file.write_text(
        "".join(
            json.dumps({"prompt": p, "category": c, "challenge": h}) + "\n"
            for p, c, h in zip(picked["prompt"], picked["category"], picked["challenge"])
        )
    )
    common = [
        "--prompt_file",
        str(prompt_file),
        "--num_prompts",
        "4",
        "--output_dir",
        str(tmp_path / "run"),
        "--cache_dir",
        str(cfg.resolved_cache_dir()),
    ]
    old_arms = "[{name: raw}, {name: smollm2-low, model: smollm2-135m, creativity: low, max_words: 40}"
    before = eval_renderer.render_count
    same = run_eval(
        load_eval_config(TINY_CONFIG, common + ["--arms", old_arms + "]"]),
        renderer=eval_renderer,
        scorers=eval_scorers,
        progress=False,
        write_report=False,
    )
    assert same.rendered == 0 and same.expanded == 0 and eval_renderer.render_count == before

    extra = load_eval_config(
        TINY_CONFIG,
        common + ["--arms", old_arms + ", {name: smollm2-terse, model: smollm2-135m, creativity: low, max_words: 12}]"],
    )
    result = run_eval(extra, renderer=eval_renderer, scorers=eval_scorers, progress=False, write_report=False)
    df = result.results
    new_keys = set(df.loc[df["arm"] == "smollm2-terse", "render_key"].dropna()) - set(
        first.results["render_key"].dropna()
    )
    assert result.expanded == 4 * cfg.seeds_per_prompt  # only the new arm was expanded
    assert result.rendered == len(new_keys) > 0
    assert eval_renderer.render_count - before == len(new_keys)
    assert len(df) == 4 * 3 * cfg.seeds_per_prompt
    old = first.results.set_index(["prompt", "arm", "seed_index"])
    for r in df[df["arm"] != "smollm2-terse"].itertuples():  # old arms: the very same texts and scores
        assert old.loc[(r.prompt, r.arm, r.seed_index), "expansion"] == r.expansion
        # same cached image, scored in a batch of another size: only float rounding of the CPU matmuls differs
        assert old.loc[(r.prompt, r.arm, r.seed_index), "aesthetic"] == pytest.approx(r.aesthetic, abs=1e-5)
    pairs = {(w["arm"], w["other"]) for w in result.summary["win_rates"]}
    assert pairs == {("smollm2-low", "raw"), ("smollm2-terse", "raw"), ("smollm2-terse", "smollm2-low")}
    assert df.loc[df["arm"] == "smollm2-terse", "expansion_words"].max() <= 12


def test_flagged_images_are_withheld_from_the_report(tiny_run, eval_renderer, tmp_path):
    from expander.eval.scoring import build_scorers

    cfg, first, _ = tiny_run
    # A threshold below every cosine flags every image: the report must show none of them.
    strict = load_eval_config(
        TINY_CONFIG,
        [
            "--output_dir",
            str(tmp_path),
            "--cache_dir",
            str(cfg.resolved_cache_dir()),
            "--image_safety_threshold",
            "-1.0",
        ],
    )
    result = run_eval(strict, renderer=eval_renderer, scorers=build_scorers(strict), progress=False)
    assert result.rendered == 0
    assert result.results["withheld"].all() and result.summary["counts"]["withheld"] == len(result.results) == 32
    html = (tmp_path / "report.html").read_text()
    assert "class='grid-img'" not in html
    assert html.count("<div class='withheld'>withheld by safety") == 32
    assert "data-images='0'" in html
    # The scores are still measured (withholding hides images, it does not drop data).
    assert np.isfinite(result.results["aesthetic"]).all()
