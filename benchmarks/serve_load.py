"""Load benchmark of the expander API: 64 concurrent clients x 4 requests, measured side by side.

For each backend (vLLM, then transformers) it starts a real `expander serve` process, drives `POST /v1/expand`
with closed-loop clients (throughput, p50/p95/p99 latency, errors), stops it, then runs the same workload
straight on the engine in this process. It prints the API/engine throughput ratio (target >= 0.85) and the
vLLM/transformers ratio under the same HTTP load (target >= 3). On each server it also times one
`prompts: [...]` batch of 32 against 32 concurrent single requests (expansions per second; target >= 1).

    .venv/bin/python benchmarks/serve_load.py                       # both backends, 64 x 4
    .venv/bin/python benchmarks/serve_load.py --backends vllm --clients 16 --requests-per-client 2

Numbers on the 2-core CPU machine measure the plumbing (SmolLM2-135M, fp32), not GPU serving latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(backend: str, log_path: Path, extra: list[str]) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    cmd = [sys.executable, "-c", "import sys; from expander.cli import main; sys.exit(main())", "serve",
           "--backend", backend, "--port", str(port), "--max_concurrent_requests", "1024",
           "--request_timeout_s", "3600", *extra]
    env = {**os.environ, "EXPANDER_API_KEY": ""}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode}; see {log_path}")
        try:
            if httpx.get(url + "/health", timeout=5).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(1)
    proc.kill()
    raise RuntimeError(f"server did not start; see {log_path}")


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(120)
    except subprocess.TimeoutExpired:
        proc.kill()


async def engine_run(backend: str, args) -> dict:
    from expander.serve.backends import create_backend
    from expander.serve.config import ServeConfig
    from expander.serve.loadgen import run_engine_load
    from expander.serve.models import ServedModels

    cfg = ServeConfig(backend=backend)
    served = ServedModels.from_config(cfg)
    # The weights the API serves by default (the built-in expander's shipped adapter, merged), so both runs do the
    # same work.
    model_path, adapters = served.engine_weights()
    adapter = served.default_model if served.default_model in adapters else None
    engine = create_backend(backend, model_path, adapters, **cfg.backend_options())
    await engine.start()
    try:
        result = await run_engine_load(engine, clients=args.clients, requests_per_client=args.requests_per_client,
                                       max_words=args.max_words, adapter=adapter)
    finally:
        await engine.close()
    return result.to_dict()


def show(label: str, r: dict) -> None:
    print(f"{label:<22} {r['requests']:>4} req  {r['errors']:>3} err  {r['wall_s']:7.1f} s  "
          f"{r['req_per_s']:6.2f} req/s  {r['tok_per_s']:7.1f} tok/s  "
          f"p50 {r['p50_s']:6.1f} s  p95 {r['p95_s']:6.1f} s  p99 {r['p99_s']:6.1f} s", flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backends", default="vllm,transformers", help="comma list, run in this order")
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--requests-per-client", type=int, default=4)
    p.add_argument("--max-words", type=int, default=40, help="word budget per expansion (tokens ~ 1.6x + 16)")
    p.add_argument("--engine-backends", default="vllm", help="backends also measured straight on the engine")
    p.add_argument("--batch", type=int, default=32, help="also time one batch of this many prompts against as many "
                   "concurrent single requests on the same server (0 = skip)")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    p.add_argument("--log-dir", default="/tmp/expander-serve-load")
    args = p.parse_args()

    from expander.serve.loadgen import run_batch_vs_singles, run_http_load

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    log_dir = Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    print(f"workload: {args.clients} clients x {args.requests_per_client} requests, max_words {args.max_words}")
    for backend in args.backends.split(","):
        proc, url = start_server(backend, log_dir / f"{backend}.log", [])
        try:
            r = asyncio.run(run_http_load(url, clients=args.clients, requests_per_client=args.requests_per_client,
                                          max_words=args.max_words)).to_dict()
            if args.batch:
                pair = asyncio.run(run_batch_vs_singles(url, prompts=args.batch, max_words=args.max_words))
        finally:
            stop_server(proc)
        results[f"{backend}/http"] = r
        show(f"{backend} API (HTTP)", r)
        if args.batch:
            for kind, label in (("batch", f"1 batch of {args.batch}"), ("singles", f"{args.batch} concurrent singles")):
                results[f"{backend}/{kind}"] = pair[kind].to_dict()
                show(label, results[f"{backend}/{kind}"])
        if backend in args.engine_backends.split(","):
            r = asyncio.run(engine_run(backend, args))
            results[f"{backend}/engine"] = r
            show(f"{backend} engine direct", r)
    print()
    for backend in args.backends.split(","):
        if f"{backend}/engine" in results:
            ratio = results[f"{backend}/http"]["req_per_s"] / results[f"{backend}/engine"]["req_per_s"]
            results[f"{backend}/api_over_engine"] = ratio
            print(f"{backend}: API / engine throughput = {ratio:.2f}   (target >= 0.85)")
        if f"{backend}/batch" in results:
            ratio = results[f"{backend}/batch"]["req_per_s"] / results[f"{backend}/singles"]["req_per_s"]
            results[f"{backend}/batch_over_singles"] = ratio
            print(f"{backend}: one {args.batch}-prompt batch / {args.batch} concurrent single requests = {ratio:.2f}   (target >= 1)")
    if "vllm/http" in results and "transformers/http" in results:
        ratio = results["vllm/http"]["req_per_s"] / results["transformers/http"]["req_per_s"]
        results["vllm_over_transformers"] = ratio
        print(f"vLLM / transformers API throughput = {ratio:.2f}   (target >= 3)")
    errors = sum(v["errors"] for v in results.values() if isinstance(v, dict))
    print(f"errors: {errors}   (must be 0)")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
