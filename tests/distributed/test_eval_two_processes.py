"""Eval sharded over two processes (torchrun, gloo): the same results as one process, each image rendered once."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd

from tests.distributed.conftest import REPO, torchrun

TINY = REPO / "configs" / "eval" / "tiny_cpu.yaml"


def _eval_args(out) -> list[str]:
    # 3 prompts x 2 arms x 2 seeds; batch 2 makes several expansion and render chunks to deal out.
    return [
        "-m",
        "expander.cli",
        "eval",
        "--config",
        str(TINY),
        "--output-dir",
        str(out),
        "--no-progress",
        "--num_prompts",
        "3",
        "--render_batch_size",
        "2",
        "--report_max_prompts",
        "3",
        "--bootstrap_samples",
        "100",
    ]


def test_two_process_eval_equals_one_process_and_renders_each_image_once(tmp_path):
    env = {"EXPANDER_CACHE": os.environ["EXPANDER_CACHE"]}
    two, one = tmp_path / "two", tmp_path / "one"
    proc = torchrun(_eval_args(two), env=env)
    assert proc.stdout.count("results:") == 1  # the main process reports, once
    single = subprocess.run(
        [sys.executable, *_eval_args(one)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **env, "OMP_NUM_THREADS": "1"},
    )
    assert single.returncode == 0, single.stderr[-4000:]

    a, b = (pd.read_parquet(d / "results.parquet").drop(columns=["image_path"]) for d in (two, one))
    pd.testing.assert_frame_equal(a, b, check_exact=False, atol=1e-5, rtol=1e-5)
    counts = [json.loads((d / "summary.json").read_text())["counts"] for d in (two, one)]
    assert counts[0]["rendered_this_run"] == counts[1]["rendered_this_run"] > 0
    assert counts[0]["expanded_this_run"] == counts[1]["expanded_this_run"] > 0
    # Summed over the processes, the renders equal the distinct images: none was rendered by two processes.
    assert len(list((two / "cache" / "renders").rglob("*.png"))) == counts[0]["rendered_this_run"]
