"""The GenEval and DPG-Bench suites end to end on the tiny configs: render, official layout, scores, report."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from expander.eval.cache import EvalCache
from expander.eval.config import load_eval_config
from expander.eval.run import run_eval

from .conftest import REPO

# The cheapest run that still has an expander arm: 2 steps, 32 px (the tiny configs' own), 8-word expansions.
ARMS = "[{name: raw}, {name: smollm2-low, model: smollm2-135m, creativity: low, max_words: 8}]"


# DPG-Bench's own prompts are 60-150 words, and the contract lets an expansion keep a prompt's length: expanding 8 of
# them x 4 seeds takes the CPU over a minute. The same loader on 8 short prompts with upstream-style ids proves the
# same plumbing (`test_suites.py` reads the shipped file).
DPG_SHORT = REPO / "tests/eval/data/dpg_short_prompts.jsonl"


def _run(suite: str, tmp_path, eval_renderer, eval_scorers, *extra: str):
    cfg = load_eval_config(
        REPO / f"configs/eval/tiny_{suite}.yaml",
        ["--output_dir", str(tmp_path), "--arms", ARMS, "--bootstrap_samples", "100", *extra],
    )
    return cfg, run_eval(cfg, renderer=eval_renderer, scorers=eval_scorers, progress=False)


def _image(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@pytest.mark.usefixtures("builtin_model_dir")
def test_tiny_geneval_run_writes_geneval_folders_per_arm(tmp_path, eval_renderer, eval_scorers):
    cfg, result = _run("geneval", tmp_path, eval_renderer, eval_scorers)
    df, cache = result.results, EvalCache(cfg.resolved_cache_dir())
    assert cfg.num_prompts == 8 and df["prompt_id"].nunique() == 8 and result.report_path.is_file()
    assert len(df) == 8 * 2 * cfg.seeds_per_prompt and df["category"].nunique() == 6  # stratified by tag
    assert df.loc[df["render_key"].notna(), "clip_score"].notna().all()
    records = [json.loads(line) for line in open(REPO / "data/prompts/geneval/evaluation_metadata.jsonl")]
    for arm in ("raw", "smollm2-low"):
        root = result.output_dir / "official" / arm / "geneval"
        assert result.official[arm].folder == root
        assert sorted(p.name for p in root.iterdir()) == sorted(df["prompt_id"].unique())
        for row in df[df["arm"] == arm].itertuples():
            folder = root / row.prompt_id
            assert (folder / "metadata.jsonl").read_text() == json.dumps(records[int(row.prompt_id)])
            sample = folder / "samples" / f"{row.seed_index:05}.png"
            if pd.isna(row.render_key):  # a blocked text is never rendered, so never laid out
                assert not sample.exists()
            else:
                assert sample.read_bytes() == cache.render_path(row.render_key).read_bytes()
        names = {f.name for f in root.glob("*/samples/*")}
        assert names <= {f"{i:05}.png" for i in range(cfg.seeds_per_prompt)}
        assert all(re.fullmatch(r"\d{5}", p.name) for p in root.iterdir())


@pytest.mark.usefixtures("builtin_model_dir")
def test_tiny_dpg_run_writes_a_2x2_grid_per_prompt_and_arm(tmp_path, eval_renderer, eval_scorers):
    cfg, result = _run("dpg", tmp_path, eval_renderer, eval_scorers, "--prompt_file", str(DPG_SHORT))
    df, cache = result.results, EvalCache(cfg.resolved_cache_dir())
    ids = [json.loads(line)["id"] for line in open(DPG_SHORT)]
    assert sorted(df["prompt_id"].unique()) == sorted(ids) and len(df) == 8 * 2 * 4 and result.report_path.is_file()
    side = cfg.height
    for arm in ("raw", "smollm2-low"):
        root = result.output_dir / "official" / arm / "dpg"
        rows = df[df["arm"] == arm]
        complete = rows.groupby("prompt_id")["render_key"].apply(lambda keys: keys.notna().all())
        assert sorted(f.name for f in root.iterdir()) == sorted(f"{pid}.png" for pid in complete[complete].index)
        assert complete.sum() >= 7  # the tiny expander's texts are (almost surely) not blocked
        assert all(p.stem in ids for p in root.iterdir())  # named by the original id, whatever the arm rendered
        for row in rows[rows["prompt_id"].isin(complete[complete].index)].itertuples():
            grid = _image(root / f"{row.prompt_id}.png")
            assert grid.shape == (2 * side, 2 * side, 3)
            col, r = row.seed_index % 2, row.seed_index // 2  # upstream's crop order: TL, TR, BL, BR
            tile = grid[r * side : (r + 1) * side, col * side : (col + 1) * side]
            assert np.array_equal(tile, _image(cache.render_path(row.render_key)))
