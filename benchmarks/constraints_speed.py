"""Checks per second of `expander.constraints.check` on one CPU core, after warm-up.

Runs 1,000 (prompt, expansion) pairs from the labelled set (faithful and unfaithful, cycled) through
`check` once to warm the caches (word forms, phrase tables, MiniLM and its word embeddings), then times
a second pass. The RL reward gate calls `check` on every completion of every step; the target is
>= 300 checks/s on one core.

    python benchmarks/constraints_speed.py [--pairs 1000] [--no-embeddings]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "constraints_labelled.jsonl"


def _pairs(rows: list[dict]) -> list[tuple[str, str]]:
    pairs = [(r["prompt"], e) for r in rows for e in r["faithful"]]
    return pairs + [(r["prompt"], u["text"]) for r in rows for u in r["unfaithful"]]


def load_pairs(n: int) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    return list(itertools.islice(itertools.cycle(_pairs(rows)), n))


def rate(fn, pairs) -> float:
    t0 = time.perf_counter()
    for p, e in pairs:
        fn(p, e)
    return len(pairs) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--no-embeddings", action="store_true", help="word lists only (no MiniLM fallback)")
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.no_embeddings:
        os.environ["EXPANDER_CONSTRAINTS_EMBEDDINGS"] = "0"
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import torch

    torch.set_num_threads(1)
    from expander.constraints import check

    # Unseen text: warm up on the first half of the labelled prompts, then time the other half once.
    # Their prompts and words are new, so this includes extraction and MiniLM encodes of new words.
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    seen, unseen = _pairs(rows[: len(rows) // 2]), _pairs(rows[len(rows) // 2:])
    t0 = time.perf_counter()
    rate(check, seen)
    warm = time.perf_counter() - t0
    cold = rate(check, unseen)

    pairs = load_pairs(args.pairs)
    rate(check, pairs)  # warm-up on the timed pairs themselves
    t0 = time.perf_counter()
    passed = sum(check(p, e).ok for p, e in pairs)
    elapsed = time.perf_counter() - t0
    print(f"warm-up {warm:.1f}s (word lists, lemminflect, MiniLM)")
    print(f"checks/s on {len(unseen)} unseen (prompt, expansion) pairs: {cold:.0f}")
    print(f"pairs={len(pairs)} timed={elapsed:.3f}s passed={passed}")
    print(f"checks/s (1 core, after warm-up): {len(pairs) / elapsed:.0f}")


if __name__ == "__main__":
    main()
