"""What the repeat guard costs at decode time: output tokens/s with it and without it, side by side.

    .venv/bin/python benchmarks/repeat_guard_overhead.py [--backends vllm,transformers] [--rounds 3]

The guard (`expander/engine/repeat_guard.py`) masks, at each step, the tokens that would repeat a 4-token run of
the sample's own output: a scan of the output so far, so its cost grows with the text. One engine per backend (the
shipped adapter), 24 of the held-out prompts at creativity `medium` (the API default), the same seeds; the modes
alternate `--rounds` times, each first in turn, so the machine's drift falls on all. Three modes: `off`; `on`
(the guard at `--size`); and `scan`, the guard at a run length no text reaches twice (64 tokens), which does all
of the guard's work at every step but changes no text. Guarded texts are shorter (a loop ran to the token
budget), and transformers decodes a padded batch until its longest row stops, so `on` vs `off` tokens/s mixes
the guard's cost with the texts' lengths: **`scan` / `off` is the cost** (same texts, checked and printed).
Prints tokens/s of each, and how many samples loop (more than 10 % of their word trigrams repeated: the quality
benchmark's `looping_share`), which is what the guard is for.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

LOOPING = 0.10  # as benchmarks/expander_quality.py
SCAN = 64  # a run length no expansion repeats: the guard's full scan at every step, no text changed


def held_out(n: int) -> list[str]:
    lines = (Path(__file__).parent / "data" / "short_prompts.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")][:n]


def run_backend(backend: str, model: str, prompts: list[str], rounds: int, size: int) -> dict:
    from expander.engine import SamplingParams, create_engine
    from expander.expand import REPETITION_PENALTY, plan_expansion
    from expander.models import resolve_adapter
    from expander.rewards.format import repeated_share

    plans = [plan_expansion(p, "medium", exclusion_guard=False) for p in prompts]
    conversations = [plan.conversation for plan in plans]
    settings = dict(
        n=1,
        seed=0,
        temperature=plans[0].temperature,
        top_p=plans[0].top_p,
        max_new_tokens=max(p.max_new_tokens for p in plans),
        repetition_penalty=REPETITION_PENALTY,
    )
    rates: dict[str, list[float]] = {"off": [], "on": [], "scan": []}
    texts: dict[str, list[str]] = {}
    looping: dict[str, int] = {}
    engine = create_engine(model, backend=backend, adapter=resolve_adapter(model, "default"))
    try:
        engine.generate(conversations[:2], SamplingParams(n=1, seed=0, max_new_tokens=8))  # warm-up
        for r in range(rounds):
            modes = ("off", "on", "scan")
            for mode in modes[r % 3 :] + modes[: r % 3]:  # each mode runs first once in three rounds
                params = SamplingParams(**settings, no_repeat_ngram={"off": 0, "on": size, "scan": SCAN}[mode])
                t0 = time.perf_counter()
                outs = engine.generate_full(conversations, params)
                elapsed = time.perf_counter() - t0
                rates[mode].append(sum(g.completion_tokens for gens in outs for g in gens) / elapsed)
                texts[mode] = [plan.finish(gens[0].text) for plan, gens in zip(plans, outs)]
                looping[mode] = sum(repeated_share(text) > LOOPING for text in texts[mode])
    finally:
        engine.close()
    same = sum(a == b for a, b in zip(texts["off"], texts["scan"]))
    return {"rates": rates, "looping": looping, "scan_same_texts": same}


def main(argv: list[str] | None = None) -> None:
    from expander.expand import NO_REPEAT_NGRAM

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--backends", default="vllm,transformers")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--num-prompts", type=int, default=24)
    parser.add_argument("--size", type=int, default=NO_REPEAT_NGRAM or 4, help="the guard's run length in tokens")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    prompts = held_out(args.num_prompts)
    print(f"{len(prompts)} held-out prompts, creativity medium, no {args.size}-token run twice, {args.rounds} rounds")
    for backend in args.backends.split(","):
        got = run_backend(backend, args.model, prompts, args.rounds, args.size)
        off, on, scan = (sum(got["rates"][m]) / args.rounds for m in ("off", "on", "scan"))
        print(
            f"{backend}: off {off:.1f} tok/s, scan {scan:.1f} tok/s "
            f"(same text {got['scan_same_texts']}/{len(prompts)}), "
            f"cost ratio scan / off {scan / off:.2f}; guarded {on:.1f} tok/s; looping samples: "
            f"{got['looping']['off']}/{len(prompts)} off, {got['looping']['on']}/{len(prompts)} guarded",
            flush=True,
        )


if __name__ == "__main__":
    main()
