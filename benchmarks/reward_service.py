"""Rows/s of the reward suite in-process vs as a Ray Serve service (`expander reward-server`) with 1 and 2 replicas.

    python benchmarks/reward_service.py [--config configs/rewards/tiny.yaml] [--size 64] [--steps 3]
    python benchmarks/reward_service.py --config configs/rewards/krea2_turbo.yaml --size 512 \
        --num_gpus 1 --replicas 1 --num_cpus 4        # on a GPU node: renders/s of one replica

One step = 4 prompts x 4 completions, new seeds each step (everything is rendered). In-process: one reward
call of the 16 rows (one rank). Service: 4 concurrent callers of 4 rows (4 ranks), each through the GRPO
client (`RemoteRewards`), merged by `@serve.batch`. Per-request overhead: a cached group (no render) scored
through the service minus the same group scored in-process (HTTP, routing, batch wait, JSON). Medians over
`--steps` steps after one warm-up step. On a 2-core machine expect overhead, not speed-up: replicas share
the cores the in-process suite has to itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import time
import types
import uuid
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

REPO = Path(__file__).resolve().parents[1]
SHORTS = ["three red apples on a table", "a lighthouse at dusk", "a watercolor fox in snow", 'a sign that says "OPEN"']
TAILS = [
    ", soft window light, fine film grain and muted colours.",
    ", low angle, dramatic clouds, crisp detail.",
    ", wide shot, golden hour glow, gentle haze.",
    ", centred composition, diffuse light, rich texture.",
]


def groups(step: int) -> list[tuple[list[str], list[str]]]:
    return [([s] * 4, [f"{s[0].upper()}{s[1:]}{t} Take {step}." for t in TAILS]) for s in SHORTS]


def kwargs(step: int) -> dict:
    return {"trainer_state": types.SimpleNamespace(global_step=step)}


def time_in_process(suite, steps: list[int]) -> tuple[float, float]:
    """(median seconds per 16-row step, median seconds of one cached 4-row group)."""
    per_step, cached = [], []
    for step in steps:
        shorts = [s for g in groups(step) for s in g[0]]
        comps = [c for g in groups(step) for c in g[1]]
        t = time.perf_counter()
        for f in suite.funcs:
            f(shorts, comps, **kwargs(step))
        per_step.append(time.perf_counter() - t)
        g = groups(step)[0]
        t = time.perf_counter()
        for f in suite.funcs:
            f(g[0], g[1], **kwargs(step))
        cached.append(time.perf_counter() - t)
    return statistics.median(per_step[1:]), statistics.median(cached[1:])


def time_service(remote, steps: list[int]) -> tuple[float, float]:
    async def caller(shorts, comps, step):
        return await asyncio.gather(*(f(shorts, comps, **kwargs(step)) for f in remote.funcs))

    async def one_step(step):
        await asyncio.gather(*(caller(s, c, step) for s, c in groups(step)))

    per_step, cached = [], []
    for step in steps:
        t = time.perf_counter()
        asyncio.run(one_step(step))
        per_step.append(time.perf_counter() - t)
        g = groups(step)[0]
        t = time.perf_counter()
        asyncio.run(caller(g[0], g[1], step))
        cached.append(time.perf_counter() - t)
    assert remote.counts["failed_rows"] == 0, remote.counts
    return statistics.median(per_step[1:]), statistics.median(cached[1:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "rewards" / "tiny.yaml"))
    parser.add_argument("--size", type=int, default=64, help="render height and width")
    parser.add_argument("--steps", type=int, default=3, help="measured steps (after one warm-up step)")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--num_cpus", type=float, default=0.5, help="CPUs per replica")
    parser.add_argument("--num_gpus", type=float, default=0.0, help="GPUs per replica")
    parser.add_argument("--torch_threads", type=int, default=1)
    args = parser.parse_args(argv)

    import torch
    from ray import serve

    from expander.rewards import RewardSuite, load_rewards_config
    from expander.rewards.remote import RemoteRewards
    from expander.rewards.server import deploy, start_ray

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/rewards"
    base = [
        "--render.height",
        str(args.size),
        "--render.width",
        str(args.size),
        "--reward_server.torch_threads",
        str(args.torch_threads),
        "--reward_server.host",
        "127.0.0.1",
        "--reward_server.port",
        str(port),
        "--reward_server.num_cpus",
        str(args.num_cpus),
        "--reward_server.num_gpus",
        str(args.num_gpus),
        "--reward_server.batch_wait_timeout_s",
        "0.01",
    ]
    steps = list(range(1000, 1001 + args.steps))
    results = {}

    torch.set_num_threads(args.torch_threads)
    cfg = load_rewards_config(args.config, base)
    suite = RewardSuite(cfg)
    first = time_in_process(suite, steps)  # measured again after the service: a shared machine drifts

    start_ray(cfg, num_cpus=os.cpu_count(), namespace=uuid.uuid4().hex)
    try:
        for n in args.replicas:
            server_cfg = load_rewards_config(args.config, [*base, "--reward_server.replicas", str(n)])
            t = time.perf_counter()
            deploy(server_cfg)
            print(f"deployed {n} replica(s) in {time.perf_counter() - t:.1f} s", flush=True)
            remote = RemoteRewards(load_rewards_config(args.config, [*base, "--reward_server.url", url]))
            results[f"service, {n} replica(s)"] = time_service(remote, [s + 100 * n for s in steps])
    finally:
        serve.shutdown()
        import ray

        ray.shutdown()
    again = time_in_process(suite, [s + 1000 for s in steps])
    results = {"in-process": tuple(statistics.mean(v) for v in zip(first, again)), **results}
    print(f"in-process s/step before / after the service runs: {first[0]:.3f} / {again[0]:.3f}")

    ref_step, ref_cached = results["in-process"]
    print(
        f"\n{args.size}x{args.size}, 16 rows/step (4 prompts x 4 completions), medians of {args.steps} steps, "
        f"torch threads {args.torch_threads}, {os.cpu_count()} CPUs"
    )
    print(f"{'backend':<24} {'s/step':>8} {'rows/s':>8} {'vs in-process':>14} {'overhead ms/request':>20}")
    for name, (step_s, cached_s) in results.items():
        overhead = "" if name == "in-process" else f"{1000 * (cached_s - ref_cached):.1f}"
        print(f"{name:<24} {step_s:8.3f} {16 / step_s:8.1f} {ref_step / step_s:13.2f}x {overhead:>20}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
