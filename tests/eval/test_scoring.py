"""Stage 4, score: a list of scorers adds columns; image scores come from the core or the service, NaN when not."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from expander.eval.cache import EvalCache
from expander.eval.scoring import (
    ConstraintScorer,
    RenderScorer,
    ScoreInputs,
    describe_scorers,
    distance_to_baseline,
    score_rows,
    seed_diversity,
)


class GreyCore:
    """An image scorer core: aesthetic = mean grey level, clip_score = words in the short prompt, a 2-d
    embedding at the grey level's angle, flagged `dark` below grey 0.1. Records the images it scored."""

    def __init__(self):
        self.scored = 0

    def score_images(self, images, short_prompts):
        self.scored += len(images)
        grey = images.mean(dim=(1, 2, 3)).numpy()
        angle = grey * np.pi / 2
        return {
            "aesthetic": grey,
            "clip_score": np.array([len(p.split()) for p in short_prompts], dtype=float),
            "embedding": np.stack([np.cos(angle), np.sin(angle)], axis=1).astype(np.float32),
            "image_flags": [["dark"] if g < 0.1 else [] for g in grey],
        }


def _rows(cache: EvalCache, greys: dict[tuple[str, str, int], int | None]) -> pd.DataFrame:
    """One row per (prompt_id, arm, seed index); a grey level renders a flat image, None: no render."""
    rows = []
    for (pid, arm, i), grey in greys.items():
        key = None
        if grey is not None:
            key = f"{pid}{arm}{i}".ljust(32, "0")
            cache.put_render(key, Image.new("RGB", (8, 8), (grey,) * 3))
        rows.append({"prompt_id": pid, "prompt": "a red fox", "arm": arm, "seed_index": i, "render_key": key})
    return pd.DataFrame(rows)


def test_render_scorer_scores_each_image_and_derives_diversity_and_distance(tmp_path):
    cache = EvalCache(tmp_path)
    rows = _rows(
        cache,
        {("p", "raw", 0): 255, ("p", "raw", 1): 0, ("p", "smol", 0): 255, ("p", "smol", 1): 255, ("q", "raw", 0): None},
    )
    core = GreyCore()
    out = score_rows(rows, [RenderScorer(core, {"clip_model": "fake"})], ScoreInputs(cache, baseline="raw"))
    assert core.scored == 4
    assert out["aesthetic"].tolist()[:4] == pytest.approx([1.0, 0.0, 1.0, 1.0])
    assert np.isnan(out.at[4, "aesthetic"]) and not out.at[4, "image_scored"]  # no render: NaN, never 0
    assert out["image_flagged"].tolist() == [False, True, False, False, False]
    assert out.at[1, "image_flags"] == "dark"
    # raw's two seeds are orthogonal (distance 1), smol's identical (0); smol vs raw per seed: 0 and 1.
    assert out["dino_seed_diversity"].tolist()[:4] == pytest.approx([1.0, 1.0, 0.0, 0.0])
    assert out["dino_dist_to_baseline"].tolist()[2:4] == pytest.approx([0.0, 1.0])
    assert out[out["arm"] == "raw"]["dino_dist_to_baseline"].isna().all()
    assert list(rows.columns) == list(out.columns[: len(rows.columns)])  # the input is kept, columns added


def test_prescored_images_are_not_scored_again_and_a_service_failure_stays_nan(tmp_path):
    cache = EvalCache(tmp_path)
    rows = _rows(cache, {("p", "raw", 0): 255, ("p", "raw", 1): 255, ("p", "raw", 2): 255})
    keys = list(rows["render_key"])
    prescored = {
        keys[0]: {"aesthetic": 0.5, "clip_score": 0.25, "embedding": [1.0, 0.0], "image_flags": []},
        keys[1]: {"aesthetic": None, "clip_score": None, "embedding": None, "image_flags": None},  # gave up
    }
    core = GreyCore()
    out = score_rows(rows, [RenderScorer(core)], ScoreInputs(cache, baseline="raw", prescored=prescored))
    assert core.scored == 1  # only the image the service did not send back
    assert out.at[0, "aesthetic"] == 0.5 and out.at[2, "aesthetic"] == pytest.approx(1.0)
    assert np.isnan(out.at[1, "aesthetic"]) and out["image_scored"].tolist() == [True, False, True]


def test_constraint_scorer_reports_violations_and_added_subjects():
    def check(short, expansion):
        violated = [SimpleNamespace(reason="colour red missing")] if "red" not in expansion else []
        added = [SimpleNamespace(word="man")] if "man" in expansion else []
        return SimpleNamespace(score=0.0 if violated else 1.0, ok=not violated, violated=violated, added=added)

    rows = pd.DataFrame({"prompt": ["a red fox"] * 2, "expansion": ["a red fox with a man", "a blue fox"]})
    out = score_rows(rows, [ConstraintScorer(check)], ScoreInputs(None))
    assert out["constraint_score"].tolist() == [1.0, 0.0] and out["constraint_ok"].tolist() == [1.0, 0.0]
    assert out["constraint_violations"].tolist() == ["", "colour red missing"]
    assert out["added_subject"].tolist() == [1.0, 0.0] and out["added_subjects"].tolist() == ["man", ""]


def test_constraint_scorer_reports_exclusions_the_prompt_never_asked_for():
    from expander.constraints import check

    rows = pd.DataFrame(
        {
            "prompt": ["a lone tree on a hill", "a street with no cars"],
            "expansion": [
                "A lone oak on a hill. There are no boats in the frame.",
                "A quiet street, no cars anywhere.",
            ],
        }
    )
    out = score_rows(rows, [ConstraintScorer(check)], ScoreInputs(None))
    assert out["added_negation"].tolist() == [1.0, 0.0] and out["added_negations"].tolist() == ["no boats", ""]


class Count:
    """A suite's own scorer: the words of each expansion, with one interface like the built-in ones."""

    name = "words"

    def __init__(self, n_values=None):
        self.n_values = n_values

    def describe(self):
        return {"words": "str.split"}

    def score(self, rows, inputs):
        values = [len(e.split()) for e in rows["expansion"]]
        return {"words": values[: self.n_values]}


def test_scorers_run_in_order_and_a_wrong_length_is_refused():
    rows = pd.DataFrame({"prompt": ["a fox"], "expansion": ["a fox in snow"]})
    out = score_rows(rows, [Count()], ScoreInputs(None))
    assert out["words"].tolist() == [4]
    assert describe_scorers([Count(), RenderScorer(GreyCore(), {"clip_model": "x"})]) == {
        "words": "str.split",
        "clip_model": "x",
    }
    with pytest.raises(RuntimeError, match="scorer 'words' gave 0 values"):
        score_rows(rows, [Count(n_values=0)], ScoreInputs(None))


def test_diversity_needs_two_images_and_distance_needs_the_baseline_image():
    rows = pd.DataFrame({"prompt_id": ["p", "p", "p"], "arm": ["raw", "raw", "b"], "seed_index": [0, 1, 0]})
    emb = {0: np.array([1.0, 0.0]), 2: np.array([0.0, 1.0])}  # row 1 has no image
    assert np.isnan(seed_diversity(rows, emb)).all()
    assert distance_to_baseline(rows, emb, "raw")[2] == pytest.approx(1.0)
    assert np.isnan(distance_to_baseline(rows, {2: emb[2]}, "raw")).all()
