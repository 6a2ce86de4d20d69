"""Stage 3, render: one row per plan cell, blocked texts never rendered, identical images rendered once."""

from __future__ import annotations

import pytest
from PIL import Image

from expander.eval.cache import EvalCache
from expander.eval.config import ArmConfig, EvalConfig
from expander.eval.plan import EvalPlan
from expander.eval.prompt_sets import EvalPrompt
from expander.eval.rendering import RenderJobs, render_jobs, render_missing

ARMS = [ArmConfig(name="raw"), ArmConfig(name="smol", creativity="low", model="smollm2-135m")]
PROMPTS = [EvalPrompt("p0000", "a red fox", "Animals", "Basic"), EvalPrompt("p0001", "a knife fight", "People")]
SETTINGS = {"renderer": "fake", "height": 32, "width": 32}


def _expansions(plan: EvalPlan, smol_text) -> dict:
    raw = {
        (p.prompt_id, i): {"text": p.text, "seed": None, "finish_reason": "raw"} for p in plan.prompts for i in (0, 1)
    }
    smol = {(pid, i): {"text": smol_text(pid, i), "seed": i, "finish_reason": "stop"} for pid, i in raw}
    return {"raw": raw, "smol": smol}


def _policy(text: str) -> dict:
    blocked = "knife" in text
    return {"blocked": blocked, "categories": ["violence"] if blocked else []}


def test_rows_follow_the_plan_and_blocked_texts_get_no_render():
    plan = EvalPlan(PROMPTS, ARMS, seeds_per_prompt=2)
    lookup = {p.prompt_id: p for p in PROMPTS}
    expansions = _expansions(plan, lambda pid, i: f"{lookup[pid].text}, detailed view {i}")
    jobs = render_jobs(plan, expansions, SETTINGS, text_policy=_policy)
    frame = jobs.table()
    assert len(frame) == 8
    assert list(frame[["prompt_id", "arm", "seed_index"]].itertuples(index=False, name=None))[:3] == [
        ("p0000", "raw", 0),
        ("p0000", "raw", 1),
        ("p0000", "smol", 0),
    ]
    blocked = frame[frame["prompt_id"] == "p0001"]
    assert blocked["text_blocked"].all() and blocked["render_key"].isna().all()
    assert set(blocked["text_flags"]) == {"violence"}
    kept = frame[frame["prompt_id"] == "p0000"]
    assert set(kept["render_key"]) == set(jobs.jobs) and len(jobs.jobs) == 4
    assert all(jobs.shorts[k] == "a red fox" for k in jobs.jobs)
    first = kept.iloc[2]
    assert jobs.jobs[first["render_key"]] == (first["expansion"], first["render_seed"])
    assert first["expansion_words"] == len(first["expansion"].split()) and first["category"] == "Animals"


def test_arms_that_render_the_same_text_share_the_image_and_settings_change_the_key():
    plan = EvalPlan(PROMPTS[:1], ARMS, seeds_per_prompt=2)
    same = _expansions(plan, lambda pid, i: "a red fox")  # an expander that returns the prompt unchanged
    jobs = render_jobs(plan, same, SETTINGS, text_policy=_policy)
    rows = jobs.table()
    assert len(jobs.jobs) == 2  # 2 seeds; both arms' images of (p, i) are one render
    assert (rows[rows["arm"] == "raw"]["render_key"].values == rows[rows["arm"] == "smol"]["render_key"].values).all()
    other = render_jobs(plan, same, {**SETTINGS, "height": 64}, text_policy=_policy)
    assert not set(other.jobs) & set(jobs.jobs)


class CountingRenderer:
    """Renders a flat image whose grey level is the seed mod 256; records each call's batch."""

    def __init__(self):
        self.batches: list[list[str]] = []

    def render(self, prompts, seeds, *, height, width, num_inference_steps, guidance_scale, output_type):
        assert output_type == "pil"
        self.batches.append(list(prompts))
        return [Image.new("RGB", (width, height), (s % 256,) * 3) for s in seeds]


def test_render_missing_renders_only_what_the_cache_lacks_in_batches(tmp_path):
    cfg = EvalConfig(height=32, width=32, render_batch_size=2)
    cache = EvalCache(tmp_path)
    jobs = {f"{k:032x}": (f"text {k}", k) for k in range(5)}
    renderer = CountingRenderer()
    got, rendered = render_missing(jobs, cfg, cache, renderer, progress=False)
    assert got is renderer and rendered == 5 and [len(b) for b in renderer.batches] == [2, 2, 1]
    assert cache.get_render(f"{3:032x}").getpixel((0, 0)) == (3, 3, 3)

    cache.render_path(f"{4:032x}").unlink()
    renderer.batches.clear()
    _, rendered = render_missing(jobs, cfg, cache, renderer, progress=False)
    assert rendered == 1 and renderer.batches == [["text 4"]]
    # Nothing missing: no renderer is loaded at all.
    assert render_missing(jobs, cfg, cache, None, progress=False) == (None, 0)


def test_a_renderer_that_loses_images_is_a_bug_not_a_silent_gap(tmp_path):
    class Lossy(CountingRenderer):
        def render(self, prompts, seeds, **kw):
            return super().render(prompts, seeds, **kw)[:-1]

    cfg = EvalConfig(height=32, width=32, render_batch_size=4)
    with pytest.raises(RuntimeError, match="returned 1 images for 2 prompts"):
        render_missing({"a" * 32: ("x", 1), "b" * 32: ("y", 2)}, cfg, EvalCache(tmp_path), Lossy(), progress=False)


def test_render_jobs_is_plain_data():
    jobs = RenderJobs()
    assert jobs.table().empty and jobs.jobs == {} and jobs.shorts == {}
