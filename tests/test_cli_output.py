"""stdout carries only a command's result: JSON with `--json`; every log, ours and third-party, goes to stderr.

The `--json` commands run as real processes on a cold cache, which is where the bug was seen: the tiny reward and
Krea 2 models under `$EXPANDER_CACHE/tiny` are built on first use, `save_pretrained` imports DeepSpeed through
accelerate, and DeepSpeed's logger (bound to `sys.stdout` at import) warned "Setting accelerator to CPU" on
stdout, before the JSON. The built-in SmolLM2's conversion is not the point here: its converted directory is
linked in from the suite's cache.
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY_REWARDS = REPO / "configs" / "rewards" / "tiny.yaml"
DEEPSPEED_WARNING = "Setting accelerator to CPU"


@pytest.fixture
def cold_env(tmp_path, builtin_model_dir) -> dict:
    """The environment of a first run: empty expander, torch-extension, Triton, Inductor, vLLM and HF caches
    (all but the converted built-in model), and stdio buffered as it is for a user (no PYTHONUNBUFFERED)."""
    cache = tmp_path / "expander-cache"
    (cache / "models").mkdir(parents=True)
    (cache / "models" / builtin_model_dir.name).symlink_to(builtin_model_dir, target_is_directory=True)
    other = tmp_path / "other-caches"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONUNBUFFERED", "DS_ACCELERATOR")}
    env.update(
        EXPANDER_CACHE=str(cache),
        XDG_CACHE_HOME=str(other / "xdg"),
        HF_HOME=str(other / "hf"),
        TORCH_EXTENSIONS_DIR=str(other / "torch_extensions"),
        TRITON_CACHE_DIR=str(other / "triton"),
        TORCHINDUCTOR_CACHE_DIR=str(other / "inductor"),
        VLLM_CACHE_ROOT=str(other / "vllm"),
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    return env


def run(cmd: list[str], env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def expander(*args: str) -> list[str]:
    return [sys.executable, "-m", "expander", *args]


def deepspeed_warns_on_import() -> bool:
    """DeepSpeed warns "Setting accelerator to CPU" when it finds no accelerator (true on the CPU CI)."""
    if importlib.util.find_spec("deepspeed") is None:
        return False
    import torch

    return not torch.cuda.is_available()


def test_score_json_on_a_cold_cache_prints_only_json(cold_env, tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        json.dumps({"prompt": "a red fox in snow", "completion": "a red fox in deep snow at dawn, soft light"}) + "\n"
    )
    proc = run(expander("score", "--config", str(TINY_REWARDS), "--input", str(rows), "--json"), cold_env)
    out = json.loads(proc.stdout)  # the whole of stdout, nothing before or after
    assert [r["prompt"] for r in out["rows"]] == ["a red fox in snow"] and out["renders"] == 1
    assert (Path(cold_env["EXPANDER_CACHE"]) / "tiny").is_dir()  # the cache was cold: the tiny models were built
    if deepspeed_warns_on_import():  # the third-party line was printed, and went to stderr
        assert DEEPSPEED_WARNING in proc.stderr


def test_expand_json_with_the_builtin_model_on_a_cold_cache(cold_env):
    """The first run is on the cold cache; the second shows the adapter is applied. (That the same seed gives the
    same text in another process is tests/serve/test_serve_transformers.py's server-vs-in-process check.)"""
    args = ("expand", "a red fox in snow", "--json", "--seed", "0", "--n", "2", "--max-words", "30")
    out = json.loads(run(expander(*args), cold_env).stdout)
    assert out["model"] == "smollm2-135m" and out["backend"] == "transformers"
    assert out["adapter"].endswith("smollm2-135m-expander")  # the shipped adapter is the default
    assert [e["seed"] for e in out["expansions"]] == [0, 1]
    for e in out["expansions"]:
        assert len(e["text"].split()) > 3 * len("a red fox in snow".split())
    bare = json.loads(run(expander(*args, "--adapter", "none"), cold_env).stdout)
    assert bare["adapter"] is None and bare["expansions"] != out["expansions"]


@pytest.mark.parametrize(
    "entry_point",
    [
        pytest.param([sys.executable, "-m", "expander"], id="python -m expander"),
        pytest.param([sys.executable, "-m", "expander.cli"], id="python -m expander.cli"),
        pytest.param([str(Path(sys.executable).with_name("expander"))], id="expander script"),
    ],
)
def test_check_json_prints_only_json_from_every_entry_point(entry_point, cold_env):
    if not Path(entry_point[0]).is_file():
        pytest.skip(f"{entry_point[0]} is not installed")
    proc = run([*entry_point, "check", "three red apples", "three red apples on a wooden table", "--json"], cold_env)
    out = json.loads(proc.stdout)
    assert out["prompt"] == "three red apples" and out["ok"] is True


def test_make_tiny_krea2_prints_only_the_directory(cold_env, tmp_path):
    """A text result obeys the same rule: the built model's path, alone (building it imports DeepSpeed)."""
    target = tmp_path / "tiny-krea2"
    proc = run(expander("make-tiny-krea2", str(target)), cold_env)
    assert proc.stdout == f"{target}\n"
    assert (target / "model_index.json").is_file()


NOISY_COMMAND = textwrap.dedent(
    """
    import argparse, ctypes, logging, os, subprocess, sys

    import expander.cli as cli
    from expander.commands._stdout import print_result

    def noisy(args):
        print("noise: print")
        logging.getLogger("lib").addHandler(logging.StreamHandler(sys.stdout))  # as DeepSpeed and vLLM do
        logging.getLogger("lib").warning("noise: a logger bound to sys.stdout")
        sys.__stdout__.write("noise: sys.__stdout__\\n")
        os.write(1, b"noise: file descriptor 1\\n")
        ctypes.CDLL(None).printf(b"noise: C printf\\n")  # buffered by libc until exit unless flushed
        subprocess.run([sys.executable, "-c", "print('noise: a child process')"], check=True)
        print_result('{"result": 1}')
        return 0

    def make_parser():
        parser = argparse.ArgumentParser()
        parser.add_argument("-v", "--verbose", action="store_true")
        parser.add_subparsers(dest="command", required=True).add_parser("noisy").set_defaults(func=noisy)
        return parser

    cli.make_parser = make_parser
    code = cli.main(["noisy"])
    print('{"after": "main returned"}')  # the caller's stdout is back
    sys.exit(code)
    """
)


def test_every_kind_of_third_party_output_goes_to_stderr(cold_env):
    if sys.platform == "win32":
        pytest.skip("uses the C library's printf")
    proc = run([sys.executable, "-c", NOISY_COMMAND], cold_env)
    assert proc.stdout.splitlines() == ['{"result": 1}', '{"after": "main returned"}']
    noise = [line for line in proc.stderr.splitlines() if line.startswith("noise: ")]
    assert sorted(noise) == sorted(
        [
            "noise: print",
            "noise: a logger bound to sys.stdout",
            "noise: sys.__stdout__",
            "noise: file descriptor 1",
            "noise: C printf",
            "noise: a child process",
        ]
    )


def test_main_called_in_process_gives_stdout_back(capfd):
    from expander.cli import main

    before = sys.stdout
    assert main(["check", "three red apples", "three red apples on a table", "--json"]) == 0
    assert sys.stdout is before
    print("after")
    out = capfd.readouterr().out
    assert json.loads(out.removesuffix("after\n"))["prompt"] == "three red apples"
