"""An eval run on a disk that fills up (a small tmpfs) or is read-only: the render cache and the outputs stay whole,
the error names the path, and the next run renders only what is missing. Reuses this folder's tiny renderer and
scorers (session fixtures)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from expander.files import DiskWriteError
from tests.eval.conftest import TINY_CONFIG
from tests.faults import disks
from tests.faults.disks import fill, leftovers

small_disk, lockable_dir = disks.small_disk, disks.lockable_dir  # the fault folder's fixtures, used here too


def _eval_config(disk: Path, name: str = "run"):
    from expander.eval.config import load_eval_config

    return load_eval_config(
        TINY_CONFIG,
        [
            "--arms",
            "[{name: raw}]",
            "--num_prompts",
            "2",
            "--seeds_per_prompt",
            "1",
            "--stratify_by",
            "none",
            "--bootstrap_samples",
            "100",
            "--output_dir",
            str(disk / name),
            "--cache_dir",
            str(disk / "cache"),
        ],
    )


class _FillingScorer:
    """An eval scorer (the `Scorer` interface) that scores nothing and fills the disk: the disk fills up while
    the run scores, after its start-up check and its renders."""

    name = "fill_disk"

    def __init__(self, disk: Path):
        self.disk, self.ballast = disk, None

    def describe(self) -> dict:
        return {}

    def score(self, rows, inputs) -> dict:
        self.ballast = fill(self.disk)
        return {}


class _FillingRenderer:
    """The real renderer; its first `render` call fills the disk once the images are made, before they are
    written to the render cache."""

    def __init__(self, renderer, disk: Path):
        self.renderer, self.disk, self.ballast = renderer, disk, None

    def render(self, *args, **kwargs):
        images = self.renderer.render(*args, **kwargs)
        if self.ballast is None:
            self.ballast = fill(self.disk)
        return images

    def __getattr__(self, name):
        return getattr(self.renderer, name)


def test_eval_outputs_and_render_cache_on_a_full_disk_stay_whole_and_the_next_run_renders_what_is_missing(
    eval_renderer, eval_scorers, small_disk, lockable_dir
):
    from PIL import Image

    from expander.eval.run import run_eval

    renderer, scorers = eval_renderer, eval_scorers
    disk = small_disk("16m")
    cfg = _eval_config(disk)
    first = run_eval(cfg, renderer=renderer, scorers=scorers, progress=False)
    assert first.rendered == 2
    outputs = {name: (disk / "run" / name).read_bytes() for name in ("results.parquet", "summary.json", "report.html")}

    # Full while writing the outputs (every render cached): the previous outputs stay, byte for byte.
    filler = _FillingScorer(disk)
    with pytest.raises(DiskWriteError, match=rf"^cannot write {disk / 'run' / 'results.parquet'}: no space left"):
        run_eval(cfg, renderer=renderer, scorers=[*scorers, filler], progress=False)
    assert {name: (disk / "run" / name).read_bytes() for name in outputs} == outputs and leftovers(disk) == []
    filler.ballast.unlink()

    # Full while writing renders: a lost render is made again but cannot be written; nothing partial is left.
    renders = sorted((disk / "cache" / "renders").rglob("*.png"))
    renders[0].unlink()
    filling = _FillingRenderer(renderer, disk)
    with pytest.raises(DiskWriteError, match=rf"^cannot write {disk / 'cache' / 'renders'}/\S+\.png: no space left"):
        run_eval(cfg, renderer=filling, scorers=scorers, progress=False, write_report=False)
    assert filling.ballast is not None and leftovers(disk) == []
    assert sorted((disk / "cache" / "renders").rglob("*.png")) == renders[1:]
    for path in renders[1:]:
        Image.open(path).verify()  # the renders written before are whole PNGs
    assert {name: (disk / "run" / name).read_bytes() for name in outputs} == outputs

    filling.ballast.unlink()
    before = renderer.render_count
    again = run_eval(cfg, renderer=renderer, scorers=scorers, progress=False, write_report=False)
    assert again.rendered == 1 and renderer.render_count - before == 1  # only the missing one
    keys = ["prompt_id", "seed_index", "render_key"]
    assert again.results[keys].equals(first.results[keys]) and leftovers(disk) == []
    # The re-rendered images score as the first ones did (the same text and seed, up to float rounding).
    assert again.results["aesthetic"].to_numpy() == pytest.approx(first.results["aesthetic"].to_numpy(), abs=1e-4)

    # A read-only output dir is named before anything is rendered or scored.
    folder, lock = lockable_dir
    lock()
    before = renderer.render_count
    with pytest.raises(DiskWriteError, match=rf"^cannot write output_dir {folder / 'run'}: (read-only|permission)"):
        run_eval(_eval_config(folder), renderer=renderer, scorers=scorers, progress=False)
    assert renderer.render_count == before and not os.listdir(folder)
