"""configs/grpo/constraint_prompts.txt is what scripts/constraint_prompts.py writes, holds none of the held-out
prompts, and every style or count prompt in it carries that constraint for the faithfulness reward."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _lines(path: Path) -> list[str]:
    return [x.strip() for x in path.read_text().splitlines() if x.strip() and not x.startswith("#")]


def test_the_committed_file_is_the_scripts_output(tmp_path):
    out = tmp_path / "prompts.txt"
    subprocess.run([sys.executable, str(REPO / "scripts/constraint_prompts.py"), "--out", str(out)], check=True)
    assert out.read_text() == (REPO / "configs/grpo/constraint_prompts.txt").read_text()


def test_weighted_to_styles_and_counts_and_disjoint_from_the_held_out_sets():
    from expander.constraints import extract

    prompts = _lines(REPO / "configs/grpo/constraint_prompts.txt")
    kinds = [{c.kind for c in extract(p)} for p in prompts]
    assert len(prompts) == len(set(prompts)) >= 150
    assert sum("style" in k for k in kinds) >= 0.4 * len(prompts)
    assert sum("count" in k for k in kinds) >= 0.2 * len(prompts)
    assert sum("negation" in k for k in kinds) >= 15
    held = set()
    for name in ("short_prompts.txt", "paraphrase_triples.txt"):
        for line in _lines(REPO / "benchmarks/data" / name):
            held.update(p.strip().lower() for p in line.split("|"))
    assert not held & {p.lower() for p in prompts}
