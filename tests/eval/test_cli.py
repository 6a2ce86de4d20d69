"""`expander eval`: the command runs the tiny config from the cache; bad input exits 2 with a named error."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from expander.cli import main

from .conftest import TINY_CONFIG


def test_eval_command_with_output_dir_override_reuses_the_cache(tiny_run, tmp_path, capsys):
    cfg, _, _ = tiny_run
    out = tmp_path / "run"
    code = main(
        [
            "eval",
            "--config",
            str(TINY_CONFIG),
            "--output-dir",
            str(out),
            "--cache_dir",
            str(cfg.resolved_cache_dir()),
            "--bootstrap_samples",
            "200",
            "--no-progress",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "rendered 0, expanded 0 this run" in printed and str(out / "report.html") in printed
    assert len(pd.read_parquet(out / "results.parquet")) == 32
    assert json.loads((out / "summary.json").read_text())["config"]["bootstrap_samples"] == 200


@pytest.mark.parametrize(
    "argv, message",
    [
        (["eval"], "--config is required"),
        (["eval", "--config", "configs/eval/nope.yaml"], "does not exist"),
        (["eval", "--config", str(TINY_CONFIG), "--num_promts", "3"], "unknown key(s) num_promts"),
        (["eval", "--config", str(TINY_CONFIG), "--suite", "coco"], "choose one of parti, geneval, dpg, file"),
        (["eval", "--config", str(TINY_CONFIG), "--output-dir"], "--output-dir needs a value"),
        (
            ["eval", "--config", str(TINY_CONFIG), "--prompt_file", "nowhere.tsv", "--output-dir", "{tmp}"],
            "prompt file nowhere.tsv does not exist",
        ),
        (
            ["eval", "--config", str(TINY_CONFIG), "--categories", "Dragons", "--output-dir", "{tmp}"],
            "unknown category",
        ),
        (
            ["eval", "--config", str(TINY_CONFIG), "--renderer", "{tmp}/no-krea2", "--output-dir", "{tmp}"],
            "no-krea2 does not exist",
        ),
    ],
)
def test_bad_input_exits_2_naming_the_problem(argv, message, capsys, tmp_path):
    code = main([a.replace("{tmp}", str(tmp_path / "run")) for a in argv])
    assert code == 2
    assert not (tmp_path / "run" / "results.parquet").exists()
    assert message in capsys.readouterr().err


def test_help_lists_the_config_keys(capsys):
    with pytest.raises(SystemExit) as info:
        main(["eval", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "seeds_per_prompt" in out and "win_metrics" in out
    assert "--progress  bool  [default: True]" in out and "`--no-progress` hides them" in out
