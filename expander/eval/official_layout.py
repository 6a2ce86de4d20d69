"""Stage 3b, official layouts: each arm's images also in the benchmark's own folder layout, so the official
scoring scripts run on them unchanged.

    reports = write_official_layouts(cfg.suite, plan, jobs.rows, cache, out_dir / "official")
    # <out>/official/<arm>/geneval/00042/metadata.jsonl, .../samples/00000.png ...
    # <out>/official/<arm>/dpg/<id>.png   (2x2 grid of seeds 0-3)

Every folder is keyed by the ORIGINAL prompt's id (`EvalPrompt.prompt_id`, the benchmark's own), whatever text
the arm rendered. Layouts follow upstream's code, not only its README:

* GenEval (djghosh13/geneval @ af4902f, `generation/diffusers_generate.py`): one folder per prompt index,
  `f"{index:0>5}"`, holding `metadata.jsonl` (the record, written by `json.dump`: no newline) and
  `samples/f"{i:05}".png` (the script writes 5 digits; the README's tree shows 4; `evaluation/evaluate_images.py`
  reads any `\\d+\\.png` in `samples/` of any all-digit folder). The optional `grid.png` is not written.
* DPG-Bench (TencentQQGYLab/ELLA @ 3c228f1, `dpg_bench/compute_dpg_bench.py`): one PNG per prompt, named
  `<id>.png` (the scorer looks up `basename.split('.')[0]` in `dpg_bench.csv`), a 2x2 grid that it crops into
  `--resolution`-sided tiles in the order top-left, top-right, bottom-left, bottom-right: seeds 0, 1, 2, 3.

Crash-safe: each file goes to a hidden temporary name (`.<name>.*.tmp`, which neither scorer's file pattern
takes for an image) and is renamed into place. Each folder holds exactly this run's images: files of
prompts or seeds that are not in the plan (an earlier, larger run) are removed. An image that was not rendered
(its text was blocked) is left out and reported; a DPG prompt without all four seeds gets no grid.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from expander.errors import ExpanderError
from expander.eval.cache import EvalCache
from expander.eval.plan import EvalPlan
from expander.eval.prompt_sets import EvalPrompt
from expander.files import atomic_write_bytes, atomic_write_text

__all__ = [
    "DPG_GRID_ORDER",
    "LAYOUTS",
    "LayoutReport",
    "OfficialLayoutError",
    "write_dpg_layout",
    "write_geneval_layout",
    "write_official_layouts",
]

logger = logging.getLogger(__name__)

# compute_dpg_bench.py's `crop_tuples_list`: tile k of the grid, as (column, row), for seed index k.
DPG_GRID_ORDER = ((0, 0), (1, 0), (0, 1), (1, 1))
_SOURCES_KEY = "expander-sources"  # PNG text chunk of a DPG grid: the tiles it was made from
_SAMPLE = re.compile(r"\d+\.png")  # evaluate_images.py's pattern (re.match: a prefix match)


class OfficialLayoutError(ExpanderError, ValueError):
    """Images or prompts that a benchmark's layout cannot hold (a non-numeric GenEval id, unequal DPG tiles)."""


@dataclass
class LayoutReport:
    """What one writer put in its folder.

    Attributes:
        folder: the folder to give the official scorer.
        prompts: prompts written (GenEval: folders; DPG: grids).
        images: image files written or already up to date (GenEval: samples; DPG: grids).
        missing: what is left out for want of a rendered image (`"<prompt_id>/<seed index>"`; DPG: the prompt id).
        removed: stale files or folders removed (from an earlier run with other prompts or seeds).
    """

    folder: Path
    prompts: int = 0
    images: int = 0
    missing: list[str] = field(default_factory=list)
    removed: int = 0


def _place(src: Path, dest: Path) -> None:
    """`dest` becomes a copy of `src` (a hard link where the filesystem allows), through a hidden temporary name."""
    if dest.exists() and os.path.samefile(src, dest):
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{secrets.token_hex(6)}.tmp"
    try:
        os.link(src, tmp)
    except OSError:  # another filesystem, or links not allowed: copy the bytes instead
        atomic_write_bytes(dest, src.read_bytes())
        return
    try:
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_geneval_layout(
    folder: str | Path, prompts: Sequence[EvalPrompt], images: Mapping[tuple[str, int], Path], seeds: int
) -> LayoutReport:
    """GenEval's layout of one arm: `<folder>/<index:05>/metadata.jsonl` and `samples/<seed index:05>.png`.

    Args:
        folder: the arm's GenEval folder (`evaluate_images.py`'s `imagedir`).
        prompts: GenEval prompts (`prompt_id` the zero-padded index, `metadata` the record).
        images: `{(prompt_id, seed index): PNG path}` of the arm's rendered images (PNG bytes are kept as is).
        seeds: seed indices 0..seeds-1 per prompt.

    Raises:
        OfficialLayoutError: a prompt id that is not all digits, or a prompt without its metadata record.
    """
    root = Path(folder)
    report = LayoutReport(root)
    wanted = {p.prompt_id for p in prompts}
    for p in prompts:
        if not p.prompt_id.isdigit() or not p.metadata:
            raise OfficialLayoutError(
                f"GenEval prompt {p.prompt_id!r}: the layout needs an all-digit id and its metadata record"
            )
        prompt_dir = root / p.prompt_id
        samples = prompt_dir / "samples"
        samples.mkdir(parents=True, exist_ok=True)
        # diffusers_generate.py: `json.dump(metadata, fp)`, so the same separators and no newline.
        atomic_write_text(prompt_dir / "metadata.jsonl", json.dumps(dict(p.metadata)))
        written = set()
        for i in range(seeds):
            src = images.get((p.prompt_id, i))
            if src is None:
                report.missing.append(f"{p.prompt_id}/{i}")
                continue
            name = f"{i:05}.png"
            _place(Path(src), samples / name)
            written.add(name)
            report.images += 1
        for stale in samples.iterdir():
            if _SAMPLE.match(stale.name) and stale.name not in written:
                stale.unlink()
                report.removed += 1
        report.prompts += 1
    for stale in root.iterdir():
        if stale.is_dir() and stale.name.isdigit() and stale.name not in wanted:
            shutil.rmtree(stale)
            report.removed += 1
    return report


def _grid_png(tiles: Sequence, sources: str) -> bytes:
    """The 2x2 grid of four equal square tiles in `DPG_GRID_ORDER`, as PNG bytes tagged with `sources`."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    side = tiles[0].size[0]
    grid = Image.new("RGB", (2 * side, 2 * side))
    for (col, row), tile in zip(DPG_GRID_ORDER, tiles):
        grid.paste(tile.convert("RGB"), (col * side, row * side))
    info = PngInfo()
    info.add_text(_SOURCES_KEY, sources)
    buf = io.BytesIO()
    grid.save(buf, format="PNG", pnginfo=info, compress_level=1)  # lossless at any level; 1 is fast at 2048²
    return buf.getvalue()


def _grid_sources(path: Path) -> str | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.text.get(_SOURCES_KEY)
    except (FileNotFoundError, UnidentifiedImageError, OSError):
        return None


def write_dpg_layout(
    folder: str | Path, prompts: Sequence[EvalPrompt], images: Mapping[tuple[str, int], Path], seeds: int = 4
) -> LayoutReport:
    """DPG-Bench's layout of one arm: `<folder>/<id>.png`, the 2x2 grid of seed indices 0-3.

    A grid whose PNG already records the same four source images is kept (re-runs re-encode nothing).

    Args:
        folder: the arm's DPG folder (`compute_dpg_bench.py --image-root-path`).
        prompts: DPG prompts (`prompt_id` upstream's id).
        images: `{(prompt_id, seed index): PNG path}` of the arm's rendered images (square, all one size).
        seeds: the plan's seeds per prompt (>= 4; seeds 0-3 make the grid).

    Raises:
        OfficialLayoutError: fewer than 4 seeds, or tiles that are not square and of one size (the scorer
            crops `--resolution`-sided squares).
    """
    from PIL import Image

    if seeds < 4:
        raise OfficialLayoutError(f"the DPG-Bench grid needs 4 seeds per prompt, the plan has {seeds}")
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    report = LayoutReport(root)
    wanted = {f"{p.prompt_id}.png" for p in prompts}
    for p in prompts:
        dest = root / f"{p.prompt_id}.png"
        srcs = [images.get((p.prompt_id, i)) for i in range(4)]
        if any(s is None for s in srcs):
            report.missing.append(p.prompt_id)
            dest.unlink(missing_ok=True)  # an older grid is not this run's image
            continue
        sources = " ".join(Path(s).name for s in srcs)
        if _grid_sources(dest) != sources:
            tiles = []
            for s in srcs:
                with Image.open(s) as im:
                    tiles.append(im.convert("RGB"))
            sizes = {t.size for t in tiles}
            if len(sizes) != 1 or tiles[0].size[0] != tiles[0].size[1]:
                raise OfficialLayoutError(
                    f"DPG prompt {p.prompt_id!r}: the grid needs 4 square images of one size, got {sorted(sizes)}"
                )
            atomic_write_bytes(dest, _grid_png(tiles, sources))
        report.prompts += 1
        report.images += 1
    for stale in root.iterdir():
        if stale.is_file() and stale.suffix == ".png" and stale.name not in wanted:
            stale.unlink()
            report.removed += 1
    return report


# suite -> writer(folder, prompts, {(prompt_id, seed index): PNG path}, seeds per prompt); a suite without an
# official layout (parti, file) has no entry.
LAYOUTS: dict[str, Callable[..., LayoutReport]] = {"geneval": write_geneval_layout, "dpg": write_dpg_layout}


def write_official_layouts(
    suite: str, plan: EvalPlan, rows: Sequence[Mapping], cache: EvalCache, root: str | Path
) -> dict[str, LayoutReport]:
    """Every arm's images in `suite`'s official layout under `<root>/<arm>/<suite>/` (nothing for other suites).

    Args:
        suite: the eval's suite (`EvalConfig.suite`).
        plan: the plan (its prompts, arms and seeds per prompt).
        rows: the render stage's rows (`RenderJobs.rows`: `prompt_id`, `arm`, `seed_index`, `render_key`).
        cache: the eval cache holding the rendered PNGs.
        root: the run's `official` folder.

    Returns:
        `{arm: LayoutReport}`; empty for a suite without an official layout.
    """
    writer = LAYOUTS.get(suite)
    if writer is None:
        return {}
    by_arm: dict[str, dict[tuple[str, int], Path]] = {arm.name: {} for arm in plan.arms}
    for row in rows:
        key = row.get("render_key")
        if key and cache.has_render(key):
            by_arm[row["arm"]][(row["prompt_id"], int(row["seed_index"]))] = cache.render_path(key)
    reports = {}
    for arm in plan.arms:
        report = writer(Path(root) / arm.name / suite, plan.prompts, by_arm[arm.name], plan.seeds_per_prompt)
        if report.missing:
            logger.warning(
                "official %s layout of arm %s: %d image(s) not rendered (blocked text), left out: %s",
                suite,
                arm.name,
                len(report.missing),
                ", ".join(report.missing[:10]) + (" ..." if len(report.missing) > 10 else ""),
            )
        reports[arm.name] = report
    return reports
