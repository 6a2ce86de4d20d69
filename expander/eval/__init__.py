"""Evaluation harness: the same prompts x the same seeds x arms (raw, expanders) -> render -> score -> report.

    from expander.eval import load_eval_config, run_eval
    result = run_eval(load_eval_config("configs/eval/tiny_cpu.yaml"))

Modules: `prompt_sets` (PartiPrompts / JSONL / CSV, stratified sampling), `config` (`EvalConfig`, `ArmConfig`),
`cache` (content-keyed expansion and render caches), `run` (the resumable loop), `scoring` (reward-suite
scorers, constraints, safety), `stats` (paired win rates, bootstrap CIs), `report` (self-contained HTML),
`browser` (headless Chromium screenshots for checking the report).
"""

from expander.eval.config import ArmConfig, EvalConfig, load_eval_config
from expander.eval.run import EvalResult, run_eval

__all__ = ["ArmConfig", "EvalConfig", "EvalResult", "load_eval_config", "run_eval"]
