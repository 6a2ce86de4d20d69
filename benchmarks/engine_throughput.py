"""Output tokens/s of the two generation backends on the same 32 expansion requests, side by side.

    .venv/bin/python benchmarks/engine_throughput.py [--model smollm2-135m] [--max-new-tokens 160]

Each request stops at EOS or after --max-new-tokens. transformers runs at each batch size in
--hf-batch-sizes and its best is compared; vLLM gets all 32 requests at once (continuous batching).
Prints tokens/s of each, and the ratio vLLM / best transformers.
"""

from __future__ import annotations

import argparse
import os
import time

PROMPTS = [
    "a red fox in snow",
    "three lemons on a blue plate",
    "a lighthouse at dusk",
    "cyberpunk street market at night",
    "a watercolor of a heron",
    "an empty train station, no people",
    "a cat to the left of a vase",
    "close-up of a dewy spider web",
    "pixel art castle",
    'a neon sign that says "OPEN ALL NIGHT"',
    "a 1970s film photo of a diner",
    "top-down view of a ramen bowl",
    "an old wooden rowboat on a lake",
    "a charcoal portrait of an old fisherman",
    "isometric 3D render of a tiny office",
    "a pair of red sneakers",
    "a snowy mountain cabin under a full moon",
    "a golden retriever puppy in a field",
    "minimalist poster of a whale",
    "a bowl of ramen with steam",
    "a futuristic electric car in a showroom",
    "autumn forest path, fog",
    "a knitted wool sweater, macro texture",
    "a child flying a kite on a beach",
    "an oil painting of sunflowers",
    "a brutalist concrete library",
    "a hummingbird drinking from a flower",
    "a desert at noon, no clouds",
    "a cozy reading nook with plants",
    "a samurai in the rain, cinematic",
    "anime girl on a rooftop at sunset",
    "a glass perfume bottle on black velvet",
]


def run_backend(backend: str, model: str, max_new_tokens: int, **kwargs) -> tuple[float, int, float]:
    from expander.engine import SamplingParams, create_engine
    from expander.prompts import build_messages

    conversations = [build_messages(p, "medium") for p in PROMPTS]
    params = SamplingParams(
        n=1, seed=0, temperature=0.5, top_p=0.9, max_new_tokens=max_new_tokens, repetition_penalty=1.05
    )
    t0 = time.perf_counter()
    engine = create_engine(model, backend=backend, **kwargs)
    startup = time.perf_counter() - t0
    try:
        engine.generate(conversations[:2], SamplingParams(n=1, seed=0, max_new_tokens=8))  # warm-up
        t0 = time.perf_counter()
        outs = engine.generate_full(conversations, params)
        elapsed = time.perf_counter() - t0
    finally:
        engine.close()
    tokens = sum(g.completion_tokens for gens in outs for g in gens)
    return tokens / elapsed, tokens, startup


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--max-new-tokens", type=int, default=160)
    parser.add_argument("--hf-batch-sizes", default="8,16,32")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    print(f"{len(PROMPTS)} requests, at most {args.max_new_tokens} new tokens each, model {args.model}")
    hf = {}
    for bs in (int(b) for b in args.hf_batch_sizes.split(",")):
        rate, tokens, _ = run_backend("transformers", args.model, args.max_new_tokens, batch_size=bs)
        hf[bs] = rate
        print(f"transformers batch {bs:>2}: {rate:7.1f} output tokens/s ({tokens} tokens)", flush=True)
    best_bs = max(hf, key=hf.get)
    rate, tokens, startup = run_backend("vllm", args.model, args.max_new_tokens)
    print(f"vllm (continuous batching): {rate:7.1f} output tokens/s ({tokens} tokens; engine start {startup:.0f} s)")
    print(f"ratio vLLM / best transformers (batch {best_bs}): {rate / hf[best_bs]:.2f}x")


if __name__ == "__main__":
    main()
