"""Eval sharded over two processes (torchrun, gloo): the same results as one process, each image rendered once."""

from __future__ import annotations

import json
import os

import pandas as pd
import torch

from tests.distributed.conftest import REPO, torchrun

TINY = REPO / "configs" / "eval" / "tiny_cpu.yaml"


# 3 prompts x 2 arms x 2 seeds; batch 2 makes several expansion and render chunks to deal out.
OVERRIDES = [
    "--num_prompts",
    "3",
    "--render_batch_size",
    "2",
    "--report_max_prompts",
    "3",
    "--bootstrap_samples",
    "100",
]


def test_two_process_eval_equals_one_process_and_renders_each_image_once(tmp_path, eval_renderer, eval_scorers):
    env = {"EXPANDER_CACHE": os.environ["EXPANDER_CACHE"]}
    two, one = tmp_path / "two", tmp_path / "one"
    cli = ["-m", "expander.cli", "eval", "--config", str(TINY), "--output-dir", str(two), "--no-progress"]
    proc = torchrun([*cli, *OVERRIDES], env=env)
    assert proc.stdout.count("results:") == 1  # the main process reports, once

    # The one-process reference runs in this process, on one torch thread like each rank (the tiny renderer and
    # scorers are the session's: the same checkpoints the ranks build).
    from expander.eval.config import load_eval_config
    from expander.eval.run import run_eval

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = load_eval_config(TINY, ["--output_dir", str(one), *OVERRIDES])
        run_eval(cfg, renderer=eval_renderer, scorers=eval_scorers, progress=False)
    finally:
        torch.set_num_threads(threads)

    a, b = (pd.read_parquet(d / "results.parquet").drop(columns=["image_path"]) for d in (two, one))
    pd.testing.assert_frame_equal(a, b, check_exact=False, atol=1e-5, rtol=1e-5)
    counts = [json.loads((d / "summary.json").read_text())["counts"] for d in (two, one)]
    assert counts[0]["rendered_this_run"] == counts[1]["rendered_this_run"] > 0
    assert counts[0]["expanded_this_run"] == counts[1]["expanded_this_run"] > 0
    # Summed over the processes, the renders equal the distinct images: none was rendered by two processes.
    assert len(list((two / "cache" / "renders").rglob("*.png"))) == counts[0]["rendered_this_run"]
