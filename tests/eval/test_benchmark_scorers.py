"""The benchmark scorers' config: where they apply, and the GPU configs failing here with one-line errors."""

from __future__ import annotations

import pytest

from expander.config import ConfigError
from expander.eval.config import load_eval_config
from expander.eval.scoring import ScorerUnavailable, build_benchmark_scorers
from expander.rewards.benchmark_data import BenchmarkDataError

from .conftest import REPO, TINY_CONFIG


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["--detector.model", "tiny:mask2former"], "detector scores GenEval records: it needs suite 'geneval'"),
        (["--suite", "dpg", "--seeds_per_prompt", "4", "--dpg_questions", "q.csv"], "dpg_questions feeds the vqa"),
        (["--suite", "geneval", "--vqa.model", "tiny:vqa", "--vqa.fail_below", "2"], "vqa.fail_below must be in"),
        (["--suite", "geneval", "--detector.threshold", "1.5"], "detector.threshold and counting_threshold"),
    ],
)
def test_benchmark_scorer_settings_are_checked_at_load(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_eval_config(TINY_CONFIG, overrides)


@pytest.mark.parametrize(
    "config, overrides, error, names",
    [
        ("krea2_geneval", [], ScorerUnavailable, "'facebook/mask2former-swin-small-coco-instance'"),
        ("krea2_dpg", [], BenchmarkDataError, "dpg_bench.csv: DPG-Bench question file not found"),
        ("krea2_dpg", ["--dpg_questions", "null"], ScorerUnavailable, "VQA model 'Qwen/Qwen3-VL-4B-Instruct'"),
    ],
)
def test_gpu_benchmark_configs_load_and_their_scorers_fail_here_in_one_line(config, overrides, error, names):
    cfg = load_eval_config(REPO / f"configs/eval/{config}.yaml", overrides)
    with pytest.raises(error) as caught:  # no weights, no hub (HF_HUB_OFFLINE): refused at once, named
        build_benchmark_scorers(cfg)
    assert names in str(caught.value) and "\n" not in str(caught.value)


def test_the_gpu_geneval_run_stops_at_start_with_one_line_on_stderr(tmp_path, capsys):
    from expander.cli import main

    code = main(["eval", "--config", str(REPO / "configs/eval/krea2_geneval.yaml"), "--output_dir", str(tmp_path)])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(err) == 1 and "krea/Krea-2-Turbo-diffusers" in err[0]
