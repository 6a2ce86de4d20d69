"""Serving fixtures: real `expander serve` processes (one vLLM server per session, transformers servers per
module, both on free ports), and a tiny LoRA adapter for SmolLM2 built in code."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
VLLM_START_TIMEOUT_S = 420  # ~60 s alone; the 2-core machine is shared, so leave room
SERVE = "import sys; from expander.cli import main; sys.exit(main())"  # `expander serve ...` as `python -c`


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServerProcess:
    """A running `expander serve` process."""

    proc: subprocess.Popen
    base_url: str
    log_path: Path
    health_codes: list[int] = field(default_factory=list)  # every /health status seen while starting

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stopped_gracefully(self) -> bool:
        """Exited after the app's shutdown ran (uvicorn re-raises SIGTERM once done, so the code is -15)."""
        return self.proc.returncode in (0, -15) and "expander stopped: in-flight requests finished" in self.log()

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


def start_server(
    log_dir: Path,
    args: list[str],
    env: dict[str, str] | None = None,
    timeout: float = 180,
    expect_healthy: bool = True,
    code: str = SERVE,
) -> ServerProcess:
    """Start `expander serve ARGS --port <free>` and wait until /health says 200 (or, with
    `expect_healthy=False`, until /health answers at all). `code`: the `python -c` program that runs the CLI
    (a fault test prepends its fault injector)."""
    port = free_port()
    log_path = log_dir / f"serve-{port}.log"
    full_env = {**os.environ, **(env or {})}
    cmd = [
        sys.executable,
        "-c",
        code,
        "serve",
        *args,
        "--port",
        str(port),
    ]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    server = ServerProcess(proc, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{server.log()}")
        try:
            code = httpx.get(server.base_url + "/health", timeout=5).status_code
            server.health_codes.append(code)
            if code == 200 or not expect_healthy:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"server did not become healthy in {timeout} s:\n{server.log()}")


@pytest.fixture(scope="session")
def tiny_lora_dir(tmp_path_factory, builtin_model_dir) -> Path:
    """A rank-4 LoRA adapter for SmolLM2 with random (non-zero) B matrices, so it changes the model's output."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    out = tmp_path_factory.mktemp("lora") / "tuned"
    lm = AutoModelForCausalLM.from_pretrained(builtin_model_dir, dtype=torch.float32)
    peft_model = get_peft_model(lm, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.5)
    peft_model.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory, builtin_model_dir, tiny_lora_dir):
    """The default server (configs/serve.yaml: vLLM; the shipped adapter is the default model) with one more
    adapter `tuned`, no API key. One per session."""
    logs = tmp_path_factory.mktemp("vllm-server")
    server = start_server(
        logs,
        [
            "--config",
            "configs/serve.yaml",
            "--adapters",
            f"{{tuned: {tiny_lora_dir}}}",
            "--max_lora_rank",
            "16",
            "--request_timeout_s",
            "600",
        ],  # the shared 2-core machine can be very slow; timeouts are tested elsewhere
        env={"EXPANDER_API_KEY": ""},
        timeout=VLLM_START_TIMEOUT_S,
    )
    yield server
    code = server.stop(timeout=180)
    assert server.stopped_gracefully(), f"vLLM server exited {code} on SIGTERM:\n{server.log()}"


@pytest.fixture(scope="session")
def launch_server():
    """`start_server` for tests that need a server of their own (the caller stops it)."""
    return start_server
