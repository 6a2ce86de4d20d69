"""Official layouts: GenEval's prompt folders and DPG-Bench's 2x2 grids, as the upstream scripts read them."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest
from PIL import Image

from expander.eval.cache import EvalCache
from expander.eval.config import ArmConfig
from expander.eval.official_layout import (
    OfficialLayoutError,
    write_dpg_layout,
    write_geneval_layout,
    write_official_layouts,
)
from expander.eval.plan import EvalPlan
from expander.eval.prompt_sets import EvalPrompt

RECORDS = [
    {"tag": "counting", "include": [{"class": "dog", "count": 2}], "exclude": [{"class": "dog", "count": 3}],
     "prompt": "a photo of two dogs"},
    {"tag": "colors", "include": [{"class": "car", "count": 1, "color": "red"}], "prompt": "a photo of a red car"},
]  # fmt: skip
GENEVAL = [EvalPrompt(f"{i:05d}", r["prompt"], r["tag"], metadata=r) for i, r in zip((7, 42), RECORDS)]
DPG = [EvalPrompt("0", "eight cabbages in a field"), EvalPrompt("COCOval2014000000010363", "a red truck")]


def _png(path, seed: int, size=(16, 16)):
    """A fake render: random pixels (every image differs), saved as a PNG."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def _renders(tmp_path, prompts, seeds, size=(16, 16)):
    return {
        (p.prompt_id, i): _png(tmp_path / "renders" / f"{p.prompt_id}-{i}.png", 100 * n + i, size)
        for n, p in enumerate(prompts)
        for i in range(seeds)
    }


def _no_temporaries(root):
    assert not [f for _, _, names in os.walk(root) for f in names if f.endswith(".tmp")]


def test_geneval_layout_is_upstreams_generation_layout(tmp_path):
    images = _renders(tmp_path, GENEVAL, 4)
    root = tmp_path / "geneval"
    report = write_geneval_layout(root, GENEVAL, images, 4)
    assert (report.prompts, report.images, report.missing) == (2, 8, [])
    assert sorted(p.name for p in root.iterdir()) == ["00007", "00042"]
    for p, record in zip(GENEVAL, RECORDS):
        meta = (root / p.prompt_id / "metadata.jsonl").read_text()
        assert json.loads(meta) == record and meta == json.dumps(record)  # upstream: json.dump, no newline
        samples = sorted(f.name for f in (root / p.prompt_id / "samples").iterdir())
        assert samples == ["00000.png", "00001.png", "00002.png", "00003.png"]  # f"{sample_count:05}.png"
        assert all(re.match(r"\d+\.png", s) for s in samples)  # what evaluate_images.py takes
        for i in range(4):
            assert (root / p.prompt_id / "samples" / f"{i:05}.png").read_bytes() == images[
                (p.prompt_id, i)
            ].read_bytes()
    _no_temporaries(root)


def test_geneval_layout_reports_missing_images_and_removes_stale_ones(tmp_path):
    images = _renders(tmp_path, GENEVAL, 4)
    root = tmp_path / "geneval"
    write_geneval_layout(root, GENEVAL, images, 4)
    # A smaller re-run: one prompt, 2 seeds, the second not rendered (blocked text).
    report = write_geneval_layout(root, GENEVAL[:1], {("00007", 0): images[("00007", 0)]}, 2)
    assert report.missing == ["00007/1"] and report.images == 1 and report.removed == 4  # 3 samples + 1 folder
    assert sorted(p.name for p in root.iterdir()) == ["00007"]
    assert sorted(f.name for f in (root / "00007" / "samples").iterdir()) == ["00000.png"]


def test_geneval_layout_needs_the_index_and_the_record(tmp_path):
    with pytest.raises(OfficialLayoutError, match="'p0001'"):
        write_geneval_layout(tmp_path, [EvalPrompt("p0001", "a dog", metadata={"tag": "x"})], {}, 1)
    with pytest.raises(OfficialLayoutError, match="metadata record"):
        write_geneval_layout(tmp_path, [EvalPrompt("00001", "a dog")], {}, 1)


def _upstream_tiles(path, resolution):
    """compute_dpg_bench.py's `compute_dpg_one_sample`: the crops of the grid it scores, in its order."""
    generated_image = Image.open(path)
    crop_tuples_list = [
        (0, 0, resolution, resolution),
        (resolution, 0, resolution * 2, resolution),
        (0, resolution, resolution, resolution * 2),
        (resolution, resolution, resolution * 2, resolution * 2),
    ]
    return [generated_image.crop(c) for c in crop_tuples_list[:4]]


def test_dpg_grid_quadrants_are_seeds_0_to_3_in_upstreams_crop_order(tmp_path):
    images = _renders(tmp_path, DPG, 5)  # a fifth seed is not part of the grid
    root = tmp_path / "dpg"
    report = write_dpg_layout(root, DPG, images, 5)
    assert (report.prompts, report.images, report.missing) == (2, 2, [])
    assert sorted(f.name for f in root.iterdir()) == ["0.png", "COCOval2014000000010363.png"]
    for p in DPG:
        path = root / f"{p.prompt_id}.png"
        assert path.name.split(".")[0] == p.prompt_id  # the scorer's key into dpg_bench.csv
        assert Image.open(path).size == (32, 32)
        for i, tile in enumerate(_upstream_tiles(path, 16)):
            assert np.array_equal(np.asarray(tile.convert("RGB")), np.asarray(Image.open(images[(p.prompt_id, i)])))
    _no_temporaries(root)


def test_dpg_grids_are_kept_when_their_sources_are_the_same_and_rebuilt_when_not(tmp_path):
    images = _renders(tmp_path, DPG, 4)
    root = tmp_path / "dpg"
    write_dpg_layout(root, DPG, images, 4)
    grid = root / "0.png"
    before = grid.stat().st_ino
    write_dpg_layout(root, DPG, images, 4)
    assert grid.stat().st_ino == before  # nothing re-encoded
    images[("0", 2)] = _png(tmp_path / "other.png", 999)
    write_dpg_layout(root, DPG, images, 4)
    assert grid.stat().st_ino != before
    assert np.array_equal(
        np.asarray(_upstream_tiles(grid, 16)[2].convert("RGB")), np.asarray(Image.open(images[("0", 2)]))
    )


def test_dpg_layout_leaves_out_incomplete_grids_and_stale_files(tmp_path):
    images = _renders(tmp_path, DPG, 4)
    root = tmp_path / "dpg"
    write_dpg_layout(root, DPG, images, 4)
    (root / "dpg-bench_results.txt").write_text("the scorer's own output stays")
    del images[("0", 3)]
    report = write_dpg_layout(root, DPG[:1], images, 4)
    assert report.missing == ["0"] and report.prompts == 0 and report.removed == 1
    assert sorted(f.name for f in root.iterdir()) == ["dpg-bench_results.txt"]


def test_dpg_layout_needs_4_square_tiles_of_one_size(tmp_path):
    with pytest.raises(OfficialLayoutError, match="needs 4 seeds"):
        write_dpg_layout(tmp_path, DPG, {}, 2)
    images = _renders(tmp_path, DPG[:1], 4, size=(16, 32))
    with pytest.raises(OfficialLayoutError, match="4 square images of one size"):
        write_dpg_layout(tmp_path / "dpg", DPG[:1], images, 4)


def test_every_arm_is_written_under_the_original_prompt_id(tmp_path):
    cache = EvalCache(tmp_path / "cache")
    arms = [ArmConfig(name="raw"), ArmConfig(name="smol", creativity="low", model="smollm2-135m")]
    plan = EvalPlan(GENEVAL, arms, 2)
    rows, pixels = [], {}
    for cell in plan.cells():
        key = f"{cell.arm.name}-{cell.prompt.prompt_id}-{cell.seed_index}".ljust(8, "x")
        image = Image.fromarray(np.full((16, 16, 3), len(rows) * 7 % 256, dtype=np.uint8))
        blocked = cell.arm.name == "smol" and cell.prompt.prompt_id == "00042" and cell.seed_index == 1
        if not blocked:
            cache.put_render(key, image)
            pixels[(cell.arm.name, cell.prompt.prompt_id, cell.seed_index)] = cache.render_path(key).read_bytes()
        rows.append(
            {"prompt_id": cell.prompt.prompt_id, "arm": cell.arm.name, "seed_index": cell.seed_index,
             "render_key": None if blocked else key}
        )  # fmt: skip
    reports = write_official_layouts("geneval", plan, rows, cache, tmp_path / "official")
    assert set(reports) == {"raw", "smol"} and reports["smol"].missing == ["00042/1"]
    for (arm, pid, i), data in pixels.items():
        assert (tmp_path / "official" / arm / "geneval" / pid / "samples" / f"{i:05}.png").read_bytes() == data
    assert write_official_layouts("parti", plan, rows, cache, tmp_path / "none") == {}
    assert not (tmp_path / "none").exists()
