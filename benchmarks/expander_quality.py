"""Base vs current vs new expander, with and without verification, on held-out short prompts.

    .venv/bin/python benchmarks/expander_quality.py [--adapter default] [--new-adapter runs/sft/tiny_cpu/final] \
        [--candidates 1,2,4] [--prompts benchmarks/data/short_prompts.txt | --pairs outputs/synth/tiny_cpu] \
        [--num-prompts 32] [--creativity medium] [--seed 0] [--cache DIR] [--json PATH]

Arms: `base` (the bare model), `current` (`--adapter`, default the model's shipped adapter) and, with
`--new-adapter DIR`, `new`. Each arm expands the same prompts with the same per-prompt seeds through
`expander.expand.expand_prompts` once per k of `--candidates`: k = 1 is plain sampling, k > 1 is verified
expansion (k candidates in one batched call, the first that keeps the hard constraints and adds no subject is
returned). Prints one row per (arm, k): constraint pass rate, added-subject share (expansions that add a
person/animal/creature the prompt neither names nor implies: `expander.constraints.added_subjects`),
description share of the raw completions and of the cleaned texts, mean words, seconds per expansion (wall
time of the batched call / prompts, on this machine's load: compare rows of one run, not across runs).
Prompts: one a line from `--prompts` (default: 32 hand-written held-out prompts), or the `test`-split
shorts of a synth output with `--pairs DIR`. `--json PATH` also writes every expansion.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

KEYS = (
    "constraint_pass_rate",
    "added_subject_share",
    "raw_description_share",
    "description_share",
    "mean_words",
    "seconds_per_expansion",
)


def load_prompts(args) -> list[str]:
    if not args.pairs:
        lines = Path(args.prompts).read_text().splitlines()
        prompts = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    else:
        from expander.train.synth import load_pairs

        pairs = load_pairs(args.pairs)
        if "test" not in pairs:
            raise SystemExit(f"{args.pairs} has no test split; pass --prompts FILE")
        prompts = list(dict.fromkeys(pairs["test"]["short"]))  # keep order, drop repeats
    return prompts[: args.num_prompts]


def _cache_path(args, adapter: str | None, prompts: list[str], k: int) -> Path | None:
    if not args.cache:
        return None
    weights = Path(adapter) / "adapter_model.safetensors" if adapter else None
    key = hashlib.sha1(
        json.dumps(
            [
                args.model,
                adapter,
                weights.stat().st_mtime_ns if weights and weights.exists() else None,
                prompts,
                args.creativity,
                args.seed,
                args.backend,
                k,
                "verified-v1",
            ]
        ).encode()
    ).hexdigest()[:16]
    return Path(args.cache) / f"{key}.json"


def run_arm(adapter: str | None, prompts: list[str], ks: list[int], args) -> dict[int, dict]:
    """`{k: {"texts", "raw", "seconds"}}` for one arm; one engine for every k, cached runs read back."""
    from expander.engine import create_engine
    from expander.expand import expand_prompts

    out, engine = {}, None
    try:
        for k in ks:
            cached = _cache_path(args, adapter, prompts, k)
            if cached is not None and cached.is_file():
                out[k] = json.loads(cached.read_text())
                continue
            if engine is None:
                kwargs = {"batch_size": args.batch_size} if args.backend == "transformers" else {}
                engine = create_engine(args.model, backend=args.backend, adapter=adapter, **kwargs)
            start = time.perf_counter()
            got = expand_prompts(engine, prompts, creativity=args.creativity, n=1, seed=args.seed, candidates=k)
            out[k] = {
                "texts": [e[0].text for e in got],
                "raw": [e[0].raw_text for e in got],
                "seconds": time.perf_counter() - start,
            }
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                tmp = cached.with_suffix(".tmp")
                tmp.write_text(json.dumps(out[k]))
                os.replace(tmp, cached)
    finally:
        if engine is not None:
            engine.close()
    return out


def measure(prompts: list[str], run: dict) -> dict:
    from expander.constraints.added_subjects import added_subjects
    from expander.eval.quality import summarize

    summary = asdict(summarize(prompts, run["texts"], raw=run["raw"]))
    added = [bool(added_subjects(p, t)) for p, t in zip(prompts, run["texts"])]
    return summary | {
        "added_subject_share": sum(added) / max(len(added), 1),
        "seconds_per_expansion": run["seconds"] / max(len(prompts), 1),
    }


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--adapter", default="default", help="the current adapter ('default': the model's shipped one)")
    p.add_argument("--new-adapter", default=None, help="a candidate adapter directory, compared with the current")
    p.add_argument("--candidates", default="1,2,4", help="comma-separated k values (1 = no verification)")
    p.add_argument("--arms", default="base,current,new", help="which of base,current,new to run")
    p.add_argument(
        "--prompts",
        default=str(Path(__file__).parent / "data" / "short_prompts.txt"),
        help="text file, one prompt a line",
    )
    p.add_argument("--pairs", default=None, help="use the test-split shorts of this synth output dir instead")
    p.add_argument("--num-prompts", type=int, default=32)
    p.add_argument("--creativity", default="medium")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", choices=("transformers", "vllm"), default="transformers")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--json", default=None, help="write numbers and expansions here")
    p.add_argument("--cache", default=None, help="directory caching each (arm, k) run (rerun = instant)")
    args = p.parse_args(argv)

    from expander.models import resolve_adapter

    ks = sorted({int(k) for k in args.candidates.split(",")})
    prompts = load_prompts(args)
    arms = {"base": None, "current": resolve_adapter(args.model, args.adapter)}
    if args.new_adapter:
        arms["new"] = args.new_adapter
    arms = {name: ref for name, ref in arms.items() if name in args.arms.split(",")}
    results, runs = {}, {}
    for name, adapter in arms.items():
        runs[name] = run_arm(adapter, prompts, ks, args)
        for k in ks:
            results[f"{name} k={k}"] = measure(prompts, runs[name][k])

    print(
        f"{len(prompts)} held-out prompts, creativity {args.creativity}, seed {args.seed}, backend {args.backend}; "
        f"arms: {arms}"
    )
    print(f"| arm | k | {' | '.join(KEYS)} |")
    print("|---|---:|" + "---:|" * len(KEYS))
    for name in arms:
        for k in ks:
            r = results[f"{name} k={k}"]
            cells = [
                f"{r[key]:.1f}"
                if key == "mean_words"
                else f"{r[key]:.2f}"
                if key.startswith("seconds")
                else f"{r[key]:.3f}"
                for key in KEYS
            ]
            print(f"| {name} | {k} | " + " | ".join(cells) + " |")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "args": vars(args),
                    "arms": arms,
                    "results": results,
                    "expansions": [
                        {"prompt": p, **{f"{n} k={k}": runs[n][k]["texts"][i] for n in arms for k in ks}}
                        for i, p in enumerate(prompts)
                    ],
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
