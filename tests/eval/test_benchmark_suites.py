"""The GenEval and DPG-Bench suites end to end on the tiny configs: render, official layout, scores (GenEval's
detector on the GenEval run, VQA over DPG's questions on the DPG run, tiny random models), report."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from expander.eval.benchmarks import PUBLISHED
from expander.eval.cache import EvalCache
from expander.eval.config import load_eval_config
from expander.eval.run import run_eval
from expander.eval.scoring import build_benchmark_scorers
from expander.rewards.geneval_rules import summarize
from expander.rewards.prompt_questions import questions_from_prompt
from expander.rewards.question_graph import read_dpg_questions

from .conftest import REPO

# The cheapest run that still has an expander arm: 2 steps, 32 px (the tiny configs' own), 8-word expansions.
ARMS = "[{name: raw}, {name: smollm2-low, model: smollm2-135m, creativity: low, max_words: 8}]"


# DPG-Bench's own prompts are 60-150 words, and the contract lets an expansion keep a prompt's length: expanding 8 of
# them x 4 seeds takes the CPU over a minute. The same loader on 8 short prompts with upstream-style ids proves the
# same plumbing (`test_suites.py` reads the shipped file).
DPG_SHORT = REPO / "tests/eval/data/dpg_short_prompts.jsonl"
# Hand-written questions of the DPG-Bench format for 3 of those 8 prompts; the other 5 are asked their own graph.
DPG_QUESTIONS = REPO / "tests/eval/data/dpg_short_questions.csv"
DETECTOR = ["--detector.model", "tiny:mask2former", "--detector.clip.model", "tiny:clip", "--detector.clip.pretrained"]
VQA = ["--vqa.model", "tiny:vqa", "--vqa.batch_size", "32"]


def _run(suite: str, tmp_path, eval_renderer, eval_scorers, *extra: str):
    cfg = load_eval_config(
        REPO / f"configs/eval/tiny_{suite}.yaml",
        ["--output_dir", str(tmp_path), "--arms", ARMS, "--bootstrap_samples", "100", *extra],
    )
    scorers = [*eval_scorers, *build_benchmark_scorers(cfg)]  # the shared tiny image scorers + this run's own
    return cfg, run_eval(cfg, renderer=eval_renderer, scorers=scorers, progress=False)


def _image(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@pytest.mark.usefixtures("builtin_model_dir")
def test_tiny_geneval_run_writes_geneval_folders_per_arm(tmp_path, eval_renderer, eval_scorers):
    cfg, result = _run("geneval", tmp_path, eval_renderer, eval_scorers, *DETECTOR, "null")
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
    _check_geneval_scores(df, result, records)


def _check_geneval_scores(df, result, records) -> None:
    """Every rendered image has upstream's verdict on its ORIGINAL record, and the summary is upstream's formula."""
    rendered = df["render_key"].notna()
    assert (
        df.loc[rendered, "geneval_correct"].isin([0.0, 1.0]).all() and df.loc[~rendered, "geneval_correct"].isna().all()
    )
    for row in df[rendered].itertuples():
        record = records[int(row.prompt_id)]
        clauses = json.loads(row.geneval_clauses)
        assert [(c["kind"], c["class"]) for c in clauses] == [
            *(("include", c["class"]) for c in record["include"]),
            *(("exclude", c["class"]) for c in record.get("exclude", [])),
        ]
        assert row.geneval_correct == all(c["passed"] for c in clauses) and (row.geneval_reason == "") == bool(
            row.geneval_correct
        )
    bench = result.summary["benchmarks"]["geneval"]
    for arm in ("raw", "smollm2-low"):
        rows = df[(df["arm"] == arm) & rendered]
        expected = summarize(
            {"tag": r.category, "correct": r.geneval_correct, "metadata": r.prompt_id} for r in rows.itertuples()
        )
        assert bench["arms"][arm]["score"] == pytest.approx(expected.overall)
        assert bench["arms"][arm]["per_tag"] == pytest.approx(expected.per_tag)
    html = result.report_path.read_text()
    assert "id='benchmark-geneval'" in html and all(f">{p.score:.2f}<" in html for p in PUBLISHED["geneval"])


@pytest.mark.usefixtures("builtin_model_dir")
def test_tiny_dpg_run_writes_a_2x2_grid_per_prompt_and_arm(tmp_path, eval_renderer, eval_scorers):
    cfg, result = _run(
        "dpg",
        tmp_path,
        eval_renderer,
        eval_scorers,
        "--prompt_file",
        str(DPG_SHORT),
        *VQA,
        "--dpg_questions",
        str(DPG_QUESTIONS),
    )
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
    _check_vqa_scores(df, result, {json.loads(line)["id"]: json.loads(line)["prompt"] for line in open(DPG_SHORT)})


def _check_vqa_scores(df, result, prompts: dict[str, str]) -> None:
    """DPG's questions where the file has them, the prompt's own graph elsewhere; the score is DPG's (x 100)."""
    graphs = read_dpg_questions(DPG_QUESTIONS)
    rendered = df[df["render_key"].notna()]
    assert rendered["vqa_score"].notna().all() and set(rendered["prompt_id"]) >= set(graphs)
    for row in rendered.itertuples():
        graph = graphs.get(row.prompt_id) or questions_from_prompt(prompts[row.prompt_id])
        items = json.loads(row.vqa_questions)
        assert [i["question"] for i in items] == [q.text for q in graph.questions]
        assert row.vqa_score == pytest.approx(np.mean([i["score"] for i in items]), rel=1e-4)
    bench = result.summary["benchmarks"]["vqa"]
    assert bench["scale"] == 100
    for arm in ("raw", "smollm2-low"):
        per_prompt = rendered[rendered["arm"] == arm].groupby("prompt_id")["vqa_score"].mean()
        assert bench["arms"][arm]["score"] == pytest.approx(per_prompt.mean() * 100)
    html = result.report_path.read_text()
    assert "id='benchmark-vqa'" in html and all(f">{p.score:.2f}<" in html for p in PUBLISHED["dpg"])
