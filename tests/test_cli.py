"""The `expander` CLI as a user runs it: real subprocesses, exit codes, JSON output."""

import json
import os
import subprocess
import sys

import pytest

from expander.cli import main


def run_cli(*args, timeout=600):
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.run(
        [sys.executable, "-m", "expander", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def test_expand_json_with_the_builtin_model(builtin_model_dir):
    proc = run_cli("expand", "a red fox in snow", "--json", "--seed", "0", "--n", "2", "--max-words", "60")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["model"] == "smollm2-135m" and out["backend"] == "transformers"
    assert out["adapter"].endswith("smollm2-135m-expander")  # the shipped adapter is the default
    assert [e["seed"] for e in out["expansions"]] == [0, 1]
    for e in out["expansions"]:
        assert len(e["text"].split()) > 3 * len("a red fox in snow".split())
    again = json.loads(run_cli("expand", "a red fox in snow", "--json", "--seed", "0", "--n", "2", "--max-words", "60").stdout)
    assert again["expansions"] == out["expansions"]
    bare = json.loads(run_cli("expand", "a red fox in snow", "--json", "--seed", "0", "--n", "2", "--max-words", "60",
                              "--adapter", "none").stdout)
    assert bare["adapter"] is None and bare["expansions"] != out["expansions"]


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
        (["expand", "a fox", "--model", "nobody/nothing"], "cannot load model 'nobody/nothing'"),
        (["expand", "a fox", "--adapter", "/no/such/adapter"], "not a PEFT adapter directory"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["expand", "a fox", "--n", "three"])
    assert info.value.code == 2
    assert "invalid int value" in capsys.readouterr().err


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
