"""The `expander` CLI as a user runs it: real subprocesses, exit codes, JSON output."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from expander.cli import main

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def run_cli(*args, timeout=600):
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.run(
        [sys.executable, "-m", "expander", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def test_raw_creativity_is_a_pass_through_without_a_model(capsys, monkeypatch):
    monkeypatch.setenv("EXPANDER_CACHE", "/nonexistent/never-used")  # a model load would fail here
    assert main(["expand", "  a red fox in snow  ", "--creativity", "raw", "--json", "--seed", "5"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["expansions"] == [{"text": "a red fox in snow", "seed": 5}] and out["backend"] is None


@pytest.mark.parametrize(
    "args, message",
    [
        (["expand", ""], "prompt is empty"),
        (["expand", "   "], "prompt is empty"),
        (["expand", "a fox", "--creativity", "wild"], "unknown creativity 'wild'"),
        (["expand", "a fox", "--n", "0"], "--n must be >= 1"),
        (["expand", "a fox", "--max-words", "0"], "--max-words must be >= 1"),
        (["expand", "a fox", "--no_repeat_ngram", "1"], "--no_repeat_ngram must be 0 (off) or >= 2 tokens, got 1"),
        (["expand", "a fox", "--model", "nobody/nothing"], "cannot load model 'nobody/nothing'"),
        (["expand", "a fox", "--adapter", "/no/such/adapter"], "not a PEFT adapter directory"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_value_of_the_wrong_type_exits_2_naming_the_key(capsys):
    assert main(["expand", "a fox", "--n", "three"]) == 2
    err = capsys.readouterr().err
    assert "n must be an integer, got 'three'" in err and "Traceback" not in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["expnd", "a fox"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
    assert main(["expand"]) == 2
    assert "missing PROMPT" in capsys.readouterr().err
    assert main(["expand", "a", "fox"]) == 2
    assert "unexpected argument(s) 'fox'" in capsys.readouterr().err
    assert main(["expand", "a fox", "--max-words"]) == 2
    assert "--max-words needs a value" in capsys.readouterr().err


def test_expand_reads_its_yaml_and_takes_repeated_and_bare_flags(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EXPANDER_CACHE", "/nonexistent/never-used")  # a model load would fail here
    recipe = tmp_path / "raw.yaml"
    recipe.write_text(
        (CONFIGS / "expand" / "builtin.yaml").read_text().replace("creativity: medium", "creativity: raw")
    )
    # The flag before the prompt is a bare bool: the prompt stays the positional argument.
    assert (
        main(
            [
                "expand",
                "--json",
                "  a red fox  ",
                "--config",
                str(recipe),
                "--seed=4",
                "--n",
                "2",
                "--keep",
                "snow, deep",
                "--keep",
                "dawn",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["creativity"] == "raw" and out["model"] == "smollm2-135m" and out["backend"] is None
    assert [e["seed"] for e in out["expansions"]] == [4, 5] and out["prompt"] == "a red fox"
    assert main(["expand", "a red fox", "--config", str(recipe), "--no-json"]) == 0
    assert capsys.readouterr().out.strip().splitlines() == ["a red fox"]


def test_builtin_expand_yaml_is_what_expand_config_reads():
    from expander.commands.expand import ExpandCommandConfig
    from expander.config import load_command_line

    line = load_command_line(
        [
            "a fox",
            "--config",
            str(CONFIGS / "expand" / "builtin.yaml"),
            "--keep",
            "a, b",
            "--keep",
            "c",
            "--max-words",
            "30",
        ],
        ExpandCommandConfig,
        prog="expander expand",
        positionals={"prompt": "p"},
    )
    cfg = line.config
    assert line.positionals == {"prompt": "a fox"} and line.config_path.endswith("builtin.yaml")
    assert (cfg.model, cfg.adapter, cfg.backend, cfg.creativity) == (
        "smollm2-135m",
        "default",
        "transformers",
        "medium",
    )
    assert cfg.vllm == {"dtype": "float32", "enforce_eager": True, "max_model_len": 2048}
    assert cfg.keep == ["a, b", "c"] and cfg.max_words == 30 and cfg.json is False


def test_no_stack_trace_for_unknown_model_in_a_real_process():
    proc = run_cli("expand", "a fox", "--model", "./missing-model-dir")
    assert proc.returncode == 2
    assert "cannot load model './missing-model-dir'" in proc.stderr and "Traceback" not in proc.stderr


def test_expand_json_on_vllm_keeps_stdout_clean(builtin_model_dir):
    """vLLM logs to stdout (also from its engine process): --json output must still parse."""
    proc = run_cli("expand", "a red fox in snow", "--json", "--seed", "0", "--backend", "vllm", "--max-words", "40")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["backend"] == "vllm" and out["expansions"][0]["seed"] == 0
    assert len(out["expansions"][0]["text"].split()) > 3 * len("a red fox in snow".split())


# --- help and imports -----------------------------------------------------------------------------

HEAVY = ("pydantic", "prometheus_client", "vllm", "diffusers", "fastapi", "torch")


def test_building_the_parser_imports_nothing_heavy():
    """`expander --help` and every non-serve command work without the serve extra (and start fast)."""
    code = (
        "from expander.cli import make_parser; make_parser(); import sys; "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_top_level_help_lists_every_command():
    proc = run_cli("--help", timeout=300)
    assert proc.returncode == 0, proc.stderr
    for name in (
        "check",
        "eval",
        "expand",
        "export",
        "grpo",
        "make-tiny-krea2",
        "render",
        "reward-server",
        "score",
        "serve",
        "sft",
        "synth",
    ):
        assert f"    {name} " in proc.stdout or f"    {name}\n" in proc.stdout


def _command_configs():
    from expander.commands.check import CheckCommandConfig
    from expander.commands.eval import EvalOptions
    from expander.commands.expand import ExpandCommandConfig
    from expander.commands.make_tiny_krea2 import MakeTinyKrea2Config
    from expander.commands.render import RenderCommandConfig
    from expander.commands.score import ScoreOptions
    from expander.eval.config import EvalConfig
    from expander.rewards.config import RewardsConfig
    from expander.serve.config import ServeConfig
    from expander.train.synth import SynthConfig

    return {
        "expand": [ExpandCommandConfig],
        "check": [CheckCommandConfig],
        "render": [RenderCommandConfig],
        "make-tiny-krea2": [MakeTinyKrea2Config],
        "score": [ScoreOptions, RewardsConfig],
        "eval": [EvalOptions, EvalConfig],
        "synth": [SynthConfig],
        "serve": [ServeConfig],
        "reward-server": [RewardsConfig],
    }


def _keys(cls, prefix=""):
    """(dotted key, help) of every leaf key of a config dataclass."""
    import dataclasses
    import typing

    from expander.config import field_help

    helps, hints = field_help(cls), typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            yield from _keys(hints[f.name], prefix + f.name + ".")
        else:
            yield prefix + f.name, helps[f.name]


@pytest.mark.parametrize(
    "command", ["expand", "check", "render", "make-tiny-krea2", "score", "eval", "synth", "serve", "reward-server"]
)
def test_command_help_lists_every_key_with_its_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for cls in _command_configs()[command]:
        for key, text in _keys(cls):
            assert f"--{key} " in out, key
            assert text and " ".join(text.split()) in out, key


def test_expand_returns_a_prompt_in_an_unsupported_language_unchanged_without_loading_a_model(capsys, monkeypatch):
    monkeypatch.setenv("EXPANDER_CACHE", "/nonexistent/never-used")  # a model load would fail here
    assert main(["expand", "un zorro rojo en la nieve", "--json", "--seed", "3", "--n", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["language"]["code"] == "es" and out["backend"] is None
    assert out["expansions"] == [
        {"text": "un zorro rojo en la nieve", "seed": s, "finish_reason": "language_unsupported"} for s in (3, 4)
    ]
    assert main(["expand", "un zorro rojo en la nieve"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == "un zorro rojo en la nieve" and "not one smollm2-135m expands" in captured.err
