"""Eval fixtures: the tiny renderer and scorers (loaded once), and one run of the tiny eval config."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TINY_CONFIG = REPO / "configs" / "eval" / "tiny_cpu.yaml"


@pytest.fixture(scope="session")
def eval_renderer():
    """The tiny random Krea 2 renderer of the tiny eval config, shared so `render_count` spans runs."""
    from expander.eval.config import load_eval_config
    from expander.eval.rendering import load_renderer

    return load_renderer(load_eval_config(TINY_CONFIG))


@pytest.fixture(scope="session")
def eval_scorers():
    from expander.eval.config import load_eval_config
    from expander.eval.scoring import build_scorers

    return build_scorers(load_eval_config(TINY_CONFIG))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, builtin_model_dir, eval_renderer, eval_scorers):
    """One full run of configs/eval/tiny_cpu.yaml (built-in SmolLM2 on transformers, tiny Krea 2, tiny scorers).

    Returns (config, result, render_count before the run).
    """
    from expander.eval.config import load_eval_config
    from expander.eval.run import run_eval

    out = tmp_path_factory.mktemp("tiny_eval")
    cfg = load_eval_config(TINY_CONFIG, ["--output_dir", str(out)])
    before = eval_renderer.render_count
    result = run_eval(cfg, renderer=eval_renderer, scorers=eval_scorers, progress=False)
    return cfg, result, before
