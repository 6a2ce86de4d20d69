"""Base vs tuned expander on held-out short prompts: same contract, same seeds, text-only measures.

    .venv/bin/python benchmarks/expander_quality.py --adapter runs/sft/tiny_cpu/final \
        [--prompts benchmarks/data/short_prompts.txt | --pairs outputs/synth/tiny_cpu] [--num-prompts 40]
        [--creativity medium] [--seed 0]

Prompts: a text file with one prompt a line (`#` comments skipped; default: 32 hand-written held-out user
prompts in benchmarks/data/short_prompts.txt), or with `--pairs DIR` the shorts of the `test` split of a
synthesised pairs directory (captions never trained on). Both arms expand the same prompts with the same per-prompt seeds
through `expander.expand.expand_prompts`; the only difference is the adapter. Prints a table (constraint
pass rate, mean constraint score, description share of the raw completions and of the cleaned texts, mean
words, distinct-1/2) and the tuned - base deltas;
`--json PATH` also writes the numbers and every expansion.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict
from pathlib import Path


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


def run_arm(model: str, adapter: str | None, prompts: list[str], args) -> tuple[list[str], list[str], float]:
    """Expansions of one arm; read from `--cache` when this exact arm (weights included) already ran."""
    import hashlib

    from expander.engine import create_engine
    from expander.expand import expand_prompts

    weights = Path(adapter) / "adapter_model.safetensors" if adapter else None
    key = hashlib.sha1(json.dumps([
        model, adapter, weights.stat().st_mtime_ns if weights and weights.exists() else None, prompts,
        args.creativity, args.seed, args.backend, "raw",
    ]).encode()).hexdigest()[:16]
    cached = Path(args.cache) / f"{key}.json" if args.cache else None
    if cached is not None and cached.is_file():
        data = json.loads(cached.read_text())
        return data["texts"], data["raw"], data["seconds"]

    engine = create_engine(model, backend=args.backend, adapter=adapter, **({"batch_size": args.batch_size} if args.backend == "transformers" else {}))
    try:
        start = time.time()
        out = expand_prompts(engine, prompts, creativity=args.creativity, n=1, seed=args.seed)
        texts, raw, seconds = [e[0].text for e in out], [e[0].raw_text for e in out], time.time() - start
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(".tmp")
            tmp.write_text(json.dumps({"texts": texts, "raw": raw, "seconds": seconds}))
            os.replace(tmp, cached)
        return texts, raw, seconds
    finally:
        engine.close()


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--adapter", default=None, help="tuned LoRA adapter directory (required unless --only-base)")
    p.add_argument("--prompts", default=str(Path(__file__).parent / "data" / "short_prompts.txt"),
                   help="text file, one prompt a line")
    p.add_argument("--pairs", default=None, help="use the test-split shorts of this synth output dir instead")
    p.add_argument("--num-prompts", type=int, default=40)
    p.add_argument("--creativity", default="medium")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", choices=("transformers", "vllm"), default="transformers")
    p.add_argument("--batch-size", type=int, default=40)
    p.add_argument("--json", default=None, help="write numbers and expansions here")
    p.add_argument("--cache", default=None, help="directory caching each arm's expansions (rerun = instant)")
    p.add_argument("--only-base", action="store_true", help="expand the base arm only (fills --cache)")
    args = p.parse_args(argv)

    from expander.eval.quality import summarize

    if not args.adapter and not args.only_base:
        p.error("--adapter is required (or --only-base)")

    prompts = load_prompts(args)
    arms = {"base": None} if args.only_base else {"base": None, "tuned": args.adapter}
    results, texts, raws = {}, {}, {}
    for name, adapter in arms.items():
        texts[name], raws[name], seconds = run_arm(args.model, adapter, prompts, args)
        results[name] = asdict(summarize(prompts, texts[name], raw=raws[name])) | {"seconds": round(seconds, 1)}

    keys = ["constraint_pass_rate", "constraint_score", "raw_description_share", "description_share", "mean_words",
            "distinct_1", "distinct_2"]
    print(f"{len(prompts)} held-out prompts, creativity {args.creativity}, seed {args.seed}, backend {args.backend}")
    print(f"| arm | {' | '.join(keys)} |")
    print("|---|" + "---:|" * len(keys))
    for name in arms:
        print(f"| {name} | " + " | ".join(f"{results[name][k]:.3f}" if k != "mean_words" else f"{results[name][k]:.1f}" for k in keys) + " |")
    if args.only_base:
        return 0
    print("| tuned - base | " + " | ".join(f"{results['tuned'][k] - results['base'][k]:+.3f}" for k in keys) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "args": vars(args), "results": results,
            "expansions": [{"prompt": p, **{n: texts[n][i] for n in arms}, **{f"{n}_raw": raws[n][i] for n in arms}}
                           for i, p in enumerate(prompts)],
        }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
