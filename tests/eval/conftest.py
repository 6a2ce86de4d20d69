"""Eval fixtures: one run of the tiny eval config (its renderer and scorers are session fixtures of tests/conftest.py,
shared with the two-process eval test)."""

from __future__ import annotations

import pytest

from tests.conftest import REPO
from tests.conftest import TINY_EVAL_CONFIG as TINY_CONFIG

__all__ = ["REPO", "TINY_CONFIG"]


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
