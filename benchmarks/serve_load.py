"""Load benchmark of the expander API against vLLM's own OpenAI server: 64 concurrent clients x 4 requests.

Arms (`--arms`, run in this order):

* `peer`: our `/v1/chat/completions` and vLLM's own OpenAI server (`python -m vllm.entrypoints.openai.api_server`)
  on the same weights (the built-in expander merged, as our server loads it), the same engine arguments
  (`expander.engine.vllm_engine_args`: dtype, eager, max_model_len, max_num_seqs, seed, whole prefills on CPU) and
  the same requests (`expander.serve.loadgen.chat_request`: the contract's system prompt and user message, the
  creativity level's temperature and top-p, per-request seeds, max_tokens 80, repetition penalty 1.05 on both).
  Both servers are up at once and loaded one after the other, `--rounds` times in alternating order. Printed per
  arm: completion tokens/s and p50/p95 latency; the completion token totals (different totals mean different
  texts were sampled; equal totals do not prove equal texts); CPU ms per request of each server's front-end
  process and of its engine processes; and for ours the mean time per request in each server phase
  (`expander_phase_seconds`: input checks, chat template, engine, output checks, response; `http_rest` is HTTP,
  validation and serialisation). Target: ours / peer >= 0.95.
* `expand`: `POST /v1/expand` on our vLLM server, then one `prompts: [...]` batch of 32 against 32 concurrent
  single requests (expansions per second; target >= 1).
* `engine`: the expand workload straight on our vLLM engine in this process (target: API / engine >= 0.85).
* `transformers`: `/v1/expand` and the batch line on the transformers backend.

    .venv/bin/python benchmarks/serve_load.py                        # every arm, 64 x 4
    .venv/bin/python benchmarks/serve_load.py --arms peer --rounds 2 # the peer comparison only, twice
    .venv/bin/python benchmarks/serve_load.py --quick                # every arm at 8 x 2: does it run?

Numbers on the 2-core CPU machine measure the plumbing (SmolLM2-135M, fp32), not GPU serving latency; on a shared
machine compare arms of one run (the load average is printed beside each round).
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


def wait_healthy(proc: subprocess.Popen, url: str, log_path: Path, timeout: float = 900) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode}; see {log_path}")
        try:
            if httpx.get(url + "/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(1)
    proc.kill()
    raise RuntimeError(f"server did not start; see {log_path}")


def launch(cmd: list[str], log_path: Path, env: dict, cwd: Path = REPO) -> subprocess.Popen:
    with open(log_path, "w") as log:
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)


def start_server(
    backend: str, log_path: Path, extra: list[str], wait: bool = True, tree: Path = REPO
) -> tuple[subprocess.Popen, str]:
    """An `expander serve` process on a free port (no API key, no admission limit in the way), running the
    `expander` package of source tree `tree` (this checkout, or another commit's `git archive`)."""
    port = free_port()
    cmd = [
        sys.executable,
        "-c",
        "import sys; from expander.cli import main; sys.exit(main())",
        "serve",
        "--backend",
        backend,
        "--port",
        str(port),
        "--max_concurrent_requests",
        "1024",
        "--request_timeout_s",
        "3600",
        *extra,
    ]
    env = {**os.environ, "EXPANDER_API_KEY": "", "PYTHONPATH": str(tree)}
    proc = launch(cmd, log_path, env, cwd=tree)
    url = f"http://127.0.0.1:{port}"
    if wait:
        wait_healthy(proc, url, log_path)
    return proc, url


def peer_command(port: int) -> tuple[list[str], str]:
    """vLLM's own OpenAI server on the weights `expander serve` gives its engine (the built-in model with its
    shipped adapter merged, `ServedModels.engine_weights`), with the engine arguments our server passes
    (`vllm_engine_args`: dtype, eager, max_model_len, max_num_seqs, seed, and on CPU whole prefills), and the
    served name our default model has, so one request body fits both. Also sets the CPU environment both read.

    Returns:
        (the command, the served model name).
    """
    from expander.engine import vllm_engine_args
    from expander.serve.config import ServeConfig
    from expander.serve.models import ServedModels

    cfg = ServeConfig(backend="vllm")
    served = ServedModels.from_config(cfg)
    model_path, adapters = served.engine_weights()
    if adapters:
        raise RuntimeError("the peer arm needs merged weights (merge_default_adapter with one adapter)")
    opts = cfg.backend_options()
    kwargs = vllm_engine_args(
        model_path,
        dtype=opts["dtype"],
        max_model_len=opts["max_model_len"],
        enforce_eager=opts["enforce_eager"],
        max_num_seqs=opts["max_num_seqs"],
        gpu_memory_utilization=opts["gpu_memory_utilization"],
    )
    kwargs.update(opts["engine_args"])
    kwargs["disable_log_stats"] = True  # as our server's AsyncEngineArgs
    cmd = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--port",
        str(port),
        "--served-model-name",
        served.default_model,
    ]
    for key, value in kwargs.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            cmd.append(flag)
        elif value is False:
            cmd.append("--no-" + key.replace("_", "-"))
        else:
            cmd += [flag, str(value)]
    return cmd, served.default_model


def start_peer(log_path: Path, wait: bool = True) -> tuple[subprocess.Popen, str, str]:
    port = free_port()
    cmd, model = peer_command(port)
    proc = launch(cmd, log_path, dict(os.environ))  # after peer_command: it set the vLLM CPU environment
    url = f"http://127.0.0.1:{port}"
    if wait:
        wait_healthy(proc, url, log_path)
    return proc, url, model


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(120)
    except subprocess.TimeoutExpired:
        proc.kill()


async def engine_load(cfg, *, clients: int, requests_per_client: int, max_words: int) -> dict:
    """The `/v1/expand` workload straight on the engine that serve config `cfg` builds, no HTTP in between: the
    weights the API serves by default (for the built-in expander its shipped adapter, merged), so an API run and
    this one do the same work."""
    from expander.serve.backends import create_backend
    from expander.serve.loadgen import run_engine_load
    from expander.serve.models import ServedModels

    served = ServedModels.from_config(cfg)
    model_path, adapters = served.engine_weights()
    adapter = served.default_model if served.default_model in adapters else None
    engine = create_backend(cfg.backend, model_path, adapters, **cfg.backend_options())
    await engine.start()
    try:
        result = await run_engine_load(
            engine, clients=clients, requests_per_client=requests_per_client, max_words=max_words, adapter=adapter
        )
    finally:
        await engine.close()
    return result.to_dict()


async def engine_run(backend: str, args) -> dict:
    from expander.serve.config import ServeConfig

    return await engine_load(
        ServeConfig(backend=backend),
        clients=args.clients,
        requests_per_client=args.requests_per_client,
        max_words=args.max_words,
    )


def show(label: str, r: dict) -> None:
    print(
        f"{label:<30} {r['requests']:>4} req  {r['errors']:>3} err  {r['wall_s']:7.1f} s  "
        f"{r['req_per_s']:6.2f} req/s  {r['tok_per_s']:7.1f} tok/s  "
        f"p50 {r['p50_s']:6.1f} s  p95 {r['p95_s']:6.1f} s  p99 {r['p99_s']:6.1f} s",
        flush=True,
    )
    for kind, count in sorted(r.get("error_kinds", {}).items(), key=lambda kv: -kv[1]):
        print(f"{'':<32}{count} x {kind}", flush=True)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(CPU seconds of process `pid` itself, of all its descendants), user + system, from /proc (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    children: dict[int, list[int]] = {}
    for child, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(child)
    own = stats.get(pid, (0, 0.0))[1]
    rest, todo = 0.0, list(children.get(pid, []))
    while todo:
        child = todo.pop()
        rest += stats[child][1]
        todo += children.get(child, [])
    return own, rest


def scrape_phases(url: str) -> dict[tuple[str, str], tuple[float, float]]:
    """(route, phase) -> (count, seconds) of our server's `expander_phase_seconds` summary, and its HTTP
    latency per route (`expander_request_latency_seconds`) as phase `http_total`."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[tuple[str, str], list[float]] = {}
    for family in text_string_to_metric_families(httpx.get(url + "/metrics", timeout=30).text):
        if family.name not in ("expander_phase_seconds", "expander_request_latency_seconds"):
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                continue
            key = (sample.labels["route"], sample.labels.get("phase", "http_total"))
            slot = out.setdefault(key, [0.0, 0.0])
            if sample.name.endswith("_count"):
                slot[0] = sample.value
            elif sample.name.endswith("_sum"):
                slot[1] = sample.value
    return {k: (v[0], v[1]) for k, v in out.items()}


def scrape_regenerations(url: str) -> float:
    """Our server's count of expansions resampled because the first sample added a sensitive category (both
    samples' tokens are in the reply's usage)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(httpx.get(url + "/metrics", timeout=30).text):
        for sample in family.samples:
            if sample.name == "expander_regenerations_total":
                return sample.value
    return 0.0


def refused_outputs(result: dict) -> int:
    """Requests of a load run refused by our output check (400 `output_refused`: the resample added a sensitive
    category too), from the load generator's named errors."""
    return sum(
        n
        for kind, n in result.get("error_kinds", {}).items()
        if kind.startswith("HTTP 400") and "output_refused" in kind
    )


def phase_table(before: dict, after: dict, route: str) -> dict[str, float]:
    """Mean milliseconds per request in each phase of `route` between two scrapes."""
    out = {}
    for (r, phase), (count, secs) in after.items():
        if r != route:
            continue
        c0, s0 = before.get((r, phase), (0.0, 0.0))
        if count > c0:
            out[phase] = 1000 * (secs - s0) / (count - c0)
    if "http_total" in out:  # what the phases leave out: HTTP, request validation, serialisation, the guard
        total = out.pop("http_total")
        out["http_rest"] = total - sum(out.values())
        out["http_total"] = total
    return out


def run_peer_comparison(args, log_dir: Path) -> dict:
    """Our `/v1/chat/completions` and vLLM's own OpenAI server, both up at once (an idle vLLM server sleeps),
    loaded one after the other with the same chat workload, `--rounds` times in alternating order."""
    from expander.serve.loadgen import run_chat_load

    ours, our_url = start_server("vllm", log_dir / "ours-chat.log", [], wait=False, tree=Path(args.ours_tree))
    try:
        peer, peer_url, model = start_peer(log_dir / "peer.log", wait=False)
    except BaseException:
        stop_server(ours)  # never leave our engine holding the cores (or a GPU) behind
        raise
    results: dict = {"rounds": []}
    try:
        wait_healthy(ours, our_url, log_dir / "ours-chat.log")
        wait_healthy(peer, peer_url, log_dir / "peer.log")
        workload = dict(
            model=model,
            clients=args.clients,
            requests_per_client=args.requests_per_client,
            max_tokens=args.chat_max_tokens,
        )
        # One short warm-up each (first requests pay lazy initialisation on both sides).
        for url in (our_url, peer_url):
            asyncio.run(run_chat_load(url, **{**workload, "clients": 2, "requests_per_client": 1}))
        for i in range(args.rounds):
            order = [("ours", our_url), ("peer", peer_url)]
            if i % 2:
                order.reverse()
            row = {"load_before": load_average()}
            for name, url in order:
                proc = ours if name == "ours" else peer
                before = scrape_phases(url) if name == "ours" else {}
                regenerated_before = scrape_regenerations(url) if name == "ours" else 0.0
                cpu0 = cpu_seconds(proc.pid)
                r = asyncio.run(run_chat_load(url, label=name, **workload)).to_dict()
                cpu1 = cpu_seconds(proc.pid)
                # CPU per request of the HTTP front end (the server process) and of the engine processes
                # (vLLM's engine core and worker, its children): on a shared CPU the front end's time is
                # taken from the engine.
                r["frontend_cpu_ms"] = 1000 * (cpu1[0] - cpu0[0]) / r["requests"]
                r["engine_cpu_ms"] = 1000 * (cpu1[1] - cpu0[1]) / r["requests"]
                # Completion tokens per CPU second of the whole server: what the wall-clock rate would be on a
                # machine it had to itself, so it holds when other jobs take the shared cores in turns.
                cpu_s = (r["frontend_cpu_ms"] + r["engine_cpu_ms"]) * r["requests"] / 1000
                r["tok_per_cpu_s"] = r["completion_tokens"] / cpu_s if cpu_s else float("nan")
                if name == "ours":
                    r["phases_ms"] = phase_table(before, scrape_phases(url), "/v1/chat/completions")
                    r["output_checks"] = {
                        "regenerated": scrape_regenerations(url) - regenerated_before,
                        "refused": refused_outputs(r),
                    }
                # Every request, served or refused, did its work: requests/s counts both (the token rate counts
                # a resampled expansion's two samples on our side).
                r["all_req_per_s"] = r["requests"] / r["wall_s"]
                row[name] = r
            row["load_after"] = load_average()
            row["ratio"] = row["ours"]["tok_per_s"] / row["peer"]["tok_per_s"]
            row["cpu_ratio"] = row["ours"]["tok_per_cpu_s"] / row["peer"]["tok_per_cpu_s"]
            row["req_ratio"] = row["ours"]["all_req_per_s"] / row["peer"]["all_req_per_s"]
            results["rounds"].append(row)
            print(f"round {i + 1}  (load average {row['load_before']} -> {row['load_after']})")
            show("  vLLM OpenAI server (peer)", row["peer"])
            show("  expander /v1/chat/completions", row["ours"])
            print(
                "  CPU ms per request, front end / engine processes: "
                f"ours {row['ours']['frontend_cpu_ms']:.0f} / {row['ours']['engine_cpu_ms']:.0f}, "
                f"peer {row['peer']['frontend_cpu_ms']:.0f} / {row['peer']['engine_cpu_ms']:.0f}; "
                f"completion tokens per server CPU second: ours {row['ours']['tok_per_cpu_s']:.1f}, "
                f"peer {row['peer']['tok_per_cpu_s']:.1f} "
                f"(ratio {row['cpu_ratio']:.2f})"
            )
            print(
                f"  completion tokens: ours {row['ours']['completion_tokens']}, peer "
                f"{row['peer']['completion_tokens']} (a difference means different texts were sampled)"
            )
            phases = row["ours"].get("phases_ms", {})
            if phases:
                print(
                    "  ours, mean ms per request in each server phase: "
                    + "  ".join(f"{k} {v:.1f}" for k, v in phases.items())
                )
            checks = row["ours"].get("output_checks", {})
            if checks:
                print(
                    f"  ours, output checks: {checks['regenerated']:.0f} expansions resampled (a sensitive category "
                    f"added; both samples' tokens in usage), {checks['refused']:.0f} refused after the resample "
                    "(400 output_refused: the errors above)"
                )
            print(
                f"  ours / peer completion tokens/s = {row['ratio']:.2f}   (target >= 0.95); requests/s, refused "
                f"ones included = {row['req_ratio']:.2f}",
                flush=True,
            )
    finally:
        stop_server(ours)
        stop_server(peer)
    ours_tok = sum(r["ours"]["completion_tokens"] for r in results["rounds"])
    peer_tok = sum(r["peer"]["completion_tokens"] for r in results["rounds"])
    ours_s = sum(r["ours"]["wall_s"] for r in results["rounds"])
    peer_s = sum(r["peer"]["wall_s"] for r in results["rounds"])
    results["ratio"] = (ours_tok / ours_s) / (peer_tok / peer_s)
    results["req_ratio"] = (sum(r["ours"]["requests"] for r in results["rounds"]) / ours_s) / (
        sum(r["peer"]["requests"] for r in results["rounds"]) / peer_s
    )
    results["cpu_ratio"] = (
        sum(r["ours"]["completion_tokens"] for r in results["rounds"])
        / sum(
            (r["ours"]["frontend_cpu_ms"] + r["ours"]["engine_cpu_ms"]) * r["ours"]["requests"]
            for r in results["rounds"]
        )
    ) / (
        sum(r["peer"]["completion_tokens"] for r in results["rounds"])
        / sum(
            (r["peer"]["frontend_cpu_ms"] + r["peer"]["engine_cpu_ms"]) * r["peer"]["requests"]
            for r in results["rounds"]
        )
    )
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--arms",
        default="peer,expand,engine,transformers",
        help="comma list of: peer (our chat API vs vLLM's own OpenAI server), expand (our /v1/expand on "
        "vLLM + the batch line), engine (the same workload straight on our vLLM engine), transformers "
        "(/v1/expand on the transformers backend)",
    )
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--requests-per-client", type=int, default=4)
    p.add_argument("--max-words", type=int, default=40, help="/v1/expand word budget (tokens ~ 1.6x + 16)")
    p.add_argument("--chat-max-tokens", type=int, default=80, help="completion budget of each chat request")
    p.add_argument("--rounds", type=int, default=1, help="peer arm: ours and the peer this many times, alternating")
    p.add_argument(
        "--batch",
        type=int,
        default=32,
        help="also time one batch of this many prompts against as many "
        "concurrent single requests on the same server (0 = skip)",
    )
    p.add_argument(
        "--ours-tree",
        default=str(REPO),
        help="peer arm: the source tree our server runs from (default "
        "this checkout; `git archive <commit> | tar -x -C DIR` measures another commit against the same peer)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="small counts (8 clients x 2, a batch of 8): a one-minute check that every arm runs, not a measurement",
    )
    p.add_argument("--out", default=None, help="write the results as JSON here")
    p.add_argument("--log-dir", default="/tmp/expander-serve-load")
    args = p.parse_args()
    if args.quick:
        args.clients, args.requests_per_client, args.batch = 8, 2, min(args.batch, 8)
    arms = set(args.arms.split(","))

    from expander.serve.loadgen import run_batch_vs_singles, run_http_load

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    log_dir = Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    print(
        f"workload: {args.clients} clients x {args.requests_per_client} requests; chat: max_tokens "
        f"{args.chat_max_tokens}; expand: max_words {args.max_words}; load average {load_average()} "
        f"on {os.cpu_count()} cores"
    )
    if "peer" in arms:
        results["peer"] = run_peer_comparison(args, log_dir)
    backends = [b for b in ("vllm", "transformers") if (b == "vllm" and "expand" in arms) or b in arms]
    for backend in backends:
        proc, url = start_server(backend, log_dir / f"{backend}.log", [])
        try:
            r = asyncio.run(
                run_http_load(
                    url, clients=args.clients, requests_per_client=args.requests_per_client, max_words=args.max_words
                )
            ).to_dict()
            if args.batch:
                pair = asyncio.run(run_batch_vs_singles(url, prompts=args.batch, max_words=args.max_words))
        finally:
            stop_server(proc)
        results[f"{backend}/http"] = r
        show(f"{backend} /v1/expand (HTTP)", r)
        if args.batch:
            for kind, label in (("batch", f"1 batch of {args.batch}"), ("singles", f"{args.batch} concurrent singles")):
                results[f"{backend}/{kind}"] = pair[kind].to_dict()
                show(label, results[f"{backend}/{kind}"])
    if "engine" in arms:
        r = asyncio.run(engine_run("vllm", args))
        results["vllm/engine"] = r
        show("vllm engine direct", r)
    print()
    if "peer" in arms:
        print(
            f"chat API: ours / vLLM's own OpenAI server, completion tokens/s over {args.rounds} round(s) = "
            f"{results['peer']['ratio']:.2f}   (target >= 0.95; load average now {load_average()})"
        )
        print(
            f"chat API: ours / vLLM's own OpenAI server, completion tokens per server CPU second = "
            f"{results['peer']['cpu_ratio']:.2f}   (the same ratio with other jobs' share of the cores taken out)"
        )
        print(
            f"chat API: ours / vLLM's own OpenAI server, requests/s (refused ones included) = "
            f"{results['peer']['req_ratio']:.2f}   (no resample's extra tokens on our side)"
        )
    if "vllm/engine" in results and "vllm/http" in results:
        ratio = results["vllm/http"]["req_per_s"] / results["vllm/engine"]["req_per_s"]
        results["vllm/api_over_engine"] = ratio
        print(f"vllm: /v1/expand / engine throughput = {ratio:.2f}   (target >= 0.85)")
    for backend in backends:
        if f"{backend}/batch" in results:
            ratio = results[f"{backend}/batch"]["req_per_s"] / results[f"{backend}/singles"]["req_per_s"]
            results[f"{backend}/batch_over_singles"] = ratio
            print(
                f"{backend}: one {args.batch}-prompt batch / {args.batch} concurrent single requests = {ratio:.2f}"
                "   (target >= 1)"
            )
    if "vllm/http" in results and "transformers/http" in results:
        ratio = results["vllm/http"]["req_per_s"] / results["transformers/http"]["req_per_s"]
        results["vllm_over_transformers"] = ratio
        print(f"vLLM / transformers API throughput = {ratio:.2f}   (target >= 3)")
    errors = sum(v["errors"] for v in results.values() if isinstance(v, dict) and "errors" in v)
    errors += sum(r[k]["errors"] for r in results.get("peer", {}).get("rounds", []) for k in ("ours", "peer"))
    # An expansion the output check refused twice is the contract at work, not a failure (the peer has no check).
    refused = sum(refused_outputs(r["ours"]) for r in results.get("peer", {}).get("rounds", []))
    errors -= refused
    print(f"errors: {errors}   (must be 0; besides, {refused} chat requests refused by our output check)")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
