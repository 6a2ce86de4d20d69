"""Evaluation harness: the same prompts x the same seeds x arms (raw, expanders) -> render -> score -> report.

    from expander.eval import load_eval_config, run_eval
    result = run_eval(load_eval_config("configs/eval/tiny_cpu.yaml"))

`run` is a short driver over one module per stage: `plan` (prompts x arms x seeds, every seed derived),
`expansions` (each arm's texts), `rendering` (rows, render jobs, the in-process renderer), `scoring` (a list of
scorers with one interface), `aggregate` (withheld images, counts, means, win rates), `report` (the outputs and
the self-contained HTML). Beside them: `config` (`EvalConfig`, `ArmConfig`), `prompt_sets` (PartiPrompts / JSONL /
CSV, stratified sampling), `cache` (content-keyed expansion and render caches), `remote` (the reward service as
render backend and image scorer), `sharding` (several processes), `stats` (paired win rates, bootstrap CIs),
`quality` (text-only measures), `browser` (headless Chromium screenshots for checking the report).
"""

from expander.eval.config import ArmConfig, EvalConfig, load_eval_config
from expander.eval.run import EvalResult, run_eval

__all__ = ["ArmConfig", "EvalConfig", "EvalResult", "load_eval_config", "run_eval"]
