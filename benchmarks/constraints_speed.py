"""Checks per second of `expander.constraints.check` on one CPU core, after warm-up.

Runs 1,000 (prompt, expansion) pairs from the labelled set (faithful and unfaithful, cycled) through
`check` once to warm the caches (word forms, phrase tables, MiniLM and its word embeddings), then times
a second pass. It also times one pass over unseen pairs (the second half of the set, after warming on
the first half), which includes MiniLM encodes of new words. The RL reward gate calls `check` on every
completion of every step; the target is >= 300 checks/s on one core. Rates are given per CPU second of
this process (what one core spends) and per wall-clock second (which also counts time other processes
took from the pinned core).

    python benchmarks/constraints_speed.py [--pairs 1000] [--no-embeddings]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "tests" / "constraints" / "data" / "constraints_labelled.jsonl"


def _pairs(rows: list[dict]) -> list[tuple[str, str]]:
    pairs = [(r["prompt"], e) for r in rows for e in r["faithful"]]
    return pairs + [(r["prompt"], u["text"]) for r in rows for u in r["unfaithful"]]


def load_pairs(n: int) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    return list(itertools.islice(itertools.cycle(_pairs(rows)), n))


def rate(fn, pairs) -> tuple[float, float]:
    """(checks per wall-clock second, checks per CPU second of this process)."""
    t0, c0 = time.perf_counter(), time.process_time()
    for p, e in pairs:
        fn(p, e)
    return len(pairs) / (time.perf_counter() - t0), len(pairs) / (time.process_time() - c0)


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
    seen, unseen = _pairs(rows[: len(rows) // 2]), _pairs(rows[len(rows) // 2 :])
    t0 = time.perf_counter()
    rate(check, seen)
    warm = time.perf_counter() - t0
    cold = rate(check, unseen)

    pairs = load_pairs(args.pairs)
    rate(check, pairs)  # warm-up on the timed pairs themselves
    wall, cpu = rate(check, pairs)
    passed = sum(check(p, e).ok for p, e in pairs)
    # CPU seconds are what one core spends; wall-clock rates also count time other processes took
    # from that core (on a shared machine the two differ a lot).
    print(f"warm-up {warm:.1f}s (word lists, lemminflect, MiniLM)")
    print(f"unseen pairs={len(unseen)}: {cold[1]:.0f} checks per CPU-second ({cold[0]:.0f}/s wall-clock)")
    print(f"pairs={len(pairs)} passed={passed}: {cpu:.0f} checks per CPU-second ({wall:.0f}/s wall-clock)")
    print(f"checks/s (1 core, after warm-up): {cpu:.0f}")


if __name__ == "__main__":
    main()
