"""What the exclusion guard costs at decode time: output tokens/s with it and without it, side by side.

    .venv/bin/python benchmarks/exclusion_guard_overhead.py [--backends vllm,transformers] [--rounds 2]

Every prompt excludes something (a "no X", or an emptiness word: the guard's worst case, ~590 words masked for
"an empty train station"); a prompt that excludes nothing has no guard and costs nothing. One engine per backend
(the shipped adapter), the same 24 prompts and seeds; guarded and unguarded calls alternate `--rounds` times so
the machine's drift falls on both. Prints tokens/s of each and the ratio guarded / unguarded, and how many of
the unguarded samples broke one of their prompt's negations (what the guard is for).
"""

from __future__ import annotations

import argparse
import os
import time

PROMPTS = [
    "a room with no windows",
    "an empty train station at night",
    "fruit bowl, no bananas",
    "a windowless room",
    "desk, no paper",
    "a street with no cars",
    "a deserted beach at dawn",
    "a forest path with no people",
    "a cloudless sky over a desert at noon",
    "watch, product shot, no logos",
    "a man alone on a park bench",
    "kitchen counter, clutter-free",
    "a bowl of fruit without bananas",
    "an empty subway station at night",
    "a playground with no children",
    "a parking lot without a single car",
    "a lake at dawn, no boats",
    "a meadow with no flowers",
    "a library with nobody in it",
    "a beach without umbrellas",
    "a garden with no fences",
    "an empty classroom",
    "a night sky with no moon",
    "a farm with no animals",
]


def run_backend(backend: str, model: str, rounds: int, max_new_tokens: int) -> dict:
    from expander.constraints import check
    from expander.engine import SamplingParams, create_engine
    from expander.expand import plan_expansion
    from expander.models import resolve_adapter

    plans = [plan_expansion(p, "medium", exclusion_guard=True) for p in PROMPTS]
    conversations = [plan.conversation for plan in plans]
    params = SamplingParams(n=1, seed=0, temperature=0.5, top_p=0.9, max_new_tokens=max_new_tokens)
    rates: dict[str, list[float]] = {"off": [], "on": []}
    broken: dict[str, int] = {}
    engine = create_engine(model, backend=backend, adapter=resolve_adapter(model, "default"))
    try:
        engine.generate(conversations[:2], SamplingParams(n=1, seed=0, max_new_tokens=8))  # warm-up
        engine.generate_full(conversations[:2], params, [plan.guard for plan in plans[:2]])  # loads the guard
        for _ in range(rounds):
            for mode in ("off", "on"):
                guards = [plan.guard for plan in plans] if mode == "on" else None
                t0 = time.perf_counter()
                outs = engine.generate_full(conversations, params, guards)
                elapsed = time.perf_counter() - t0
                rates[mode].append(sum(g.completion_tokens for gens in outs for g in gens) / elapsed)
                broken[mode] = sum(
                    any(v.constraint.kind == "negation" for v in check(p, plan.finish(gens[0].text)).violated)
                    for p, plan, gens in zip(PROMPTS, plans, outs)
                )
    finally:
        engine.close()
    return {"rates": rates, "broken": broken}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--backends", default="vllm,transformers")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=160)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    print(
        f"{len(PROMPTS)} prompts that exclude something, at most {args.max_new_tokens} new tokens, {args.rounds} rounds"
    )
    for backend in args.backends.split(","):
        got = run_backend(backend, args.model, args.rounds, args.max_new_tokens)
        off, on = (sum(got["rates"][m]) / args.rounds for m in ("off", "on"))
        print(
            f"{backend}: unguarded {off:.1f} tok/s, guarded {on:.1f} tok/s, ratio guarded / unguarded {on / off:.2f}; "
            f"samples breaking a negation: {got['broken']['off']}/{len(PROMPTS)} unguarded, "
            f"{got['broken']['on']}/{len(PROMPTS)} guarded",
            flush=True,
        )


if __name__ == "__main__":
    main()
