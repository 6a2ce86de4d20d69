"""Text-side faithfulness on GenEval and DPG-Bench: does the expansion still say what the prompt pins down?

    nice -n 15 .venv/bin/python benchmarks/text_faithfulness.py [--suites geneval,dpg] [--arms raw,base,adapter] \
        [--candidates 1,4] [--limit N] [--seed 0] [--creativity medium] [--cache runs/text_faithfulness] \
        [--no-fallback] [--json benchmarks/results/text_faithfulness_cpu.json]

For every GenEval prompt (553, `data/prompts/geneval/`) and every DPG-Bench prompt (1,065, `data/prompts/dpg_bench/`)
each arm expands the prompt through `expander.expand.expand_prompts`, exactly as `expander expand PROMPT --seed S
--candidates K` does for one prompt (same plan, token budget, seeds, verification and language check), and the
expansion is checked against what the prompt pins down:

* GenEval: the record's objects, counts, colours and positions (`expander.constraints.geneval_text`); a prompt
  passes when every fact holds. One column per GenEval tag (share of prompts passing) and `overall`, the mean of
  the tags (GenEval's own aggregation).
* DPG-Bench: the constraint checker's items of the prompt (`expander.constraints.check`); one column per
  constraint kind (share of items kept) and `prompts_ok`, the share of prompts keeping every hard item.

Arms: `raw` (the prompt itself: every column must be 1.0, a lower one is a checker bug), `base` (the bare model),
`adapter` (`--adapter`, default the model's shipped adapter). Each model arm runs once per K of `--candidates`:
K = 1 is one sample, K > 1 verified expansion; each is scored as sampled (`fallback=False`) and, unless
`--no-fallback`, with the faithful fallback (`+fallback`, from the same samples: `expander.expand.faithful_fallback`).
`adapter k=1 +fallback` is the default settings of the CLI and the server.

Engine: vLLM offline (the adapter merged into the weights, as `VLLMEngine` does by default). Every sample is
cached on disk under `--cache` by its full request (weights, chat ids, seed, sampling settings), so a rerun, a
larger K (its first candidate is the K = 1 sample) or a change to the verifier only re-scores. Progress and
timings go to stderr; the table to stdout; `--json` writes the numbers (and the failing items of each arm).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

logger = logging.getLogger("text_faithfulness")

GENEVAL_TAGS = ("single_object", "two_object", "counting", "colors", "position", "color_attr")
DPG_KINDS = ("quoted_text", "count", "color", "subject", "negation", "style", "viewpoint", "spatial", "attribute")


def load_suites(names: list[str], limit: int | None) -> dict[str, list[dict]]:
    """`{suite: [{"id", "prompt", "record"?}]}`; with `limit`, an evenly spread subset (every GenEval tag)."""
    from expander.rewards.benchmark_data import read_dpg_prompts
    from expander.rewards.geneval_rules import read_geneval_metadata

    out = {}
    if "geneval" in names:
        out["geneval"] = [
            {"id": f"{i:05d}", "prompt": r["prompt"], "record": r} for i, r in enumerate(read_geneval_metadata())
        ]
    if "dpg" in names:
        out["dpg"] = [{"id": p.id, "prompt": p.text} for p in read_dpg_prompts()]
    if limit:
        out = {name: rows[:: max(1, len(rows) // limit)][:limit] for name, rows in out.items()}
    return out


class SampleCache:
    """Samples on disk, one JSON line each, keyed by everything that decides the text (module doc)."""

    def __init__(self, path: Path, identity: list):
        self.path, self.identity = path, identity
        self.rows: dict[str, dict] = {}
        if path.is_file():
            for line in path.read_text().splitlines():
                if line.strip():
                    row = json.loads(line)
                    self.rows[row["key"]] = row

    def key(self, s) -> str:
        what = [self.identity, list(s.prompt_ids), s.seed, s.temperature, s.top_p, s.max_new_tokens]
        what.append(s.repetition_penalty)
        if s.excluded:  # the exclusion guard changes the text; unguarded keys are as they were
            from expander.engine.exclusion_guard import guard_fingerprint

            what.append([list(s.excluded), list(s.compounds), guard_fingerprint()])
        return hashlib.sha1(json.dumps(what).encode()).hexdigest()

    def add(self, rows: list[dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
        self.rows.update((r["key"], r) for r in rows)


MISSING_TOKENS = -1  # `prompt_tokens` of a placeholder for a sample the cache lacks (`--cached-only`)


def cached_engine(
    model: str, adapter: str | None, cache_root: Path, chunk: int, engine_kwargs: dict, cached_only: bool = False
):
    """A `GenerationEngine` that answers from the sample cache and starts vLLM only for samples it lacks. With
    `cached_only` it never starts vLLM: every sample of a conversation that lacks one comes back as a placeholder
    whose `prompt_tokens` is `MISSING_TOKENS`, so the caller can leave that prompt out."""
    from expander.engine import Generation, GenerationEngine, create_engine, load_tokenizer
    from expander.models import resolve_model, weights_revision

    path = resolve_model(model)
    identity = [model, weights_revision(path, *([adapter] if adapter else [])), "vllm"]
    cache = SampleCache(
        cache_root / f"samples-{hashlib.sha1(json.dumps(identity).encode()).hexdigest()[:12]}.jsonl", identity
    )

    class CachedEngine(GenerationEngine):
        def __init__(self):
            super().__init__(model=model, model_path=path, adapter=adapter)
            self.backend = "vllm"
            self.tokenizer = load_tokenizer(path)
            self.inner = None
            self.stats = {"samples_drawn": 0, "completion_tokens": 0, "seconds": 0.0}

        def draw(self, samples):
            keys = [cache.key(s) for s in samples]
            todo = [(k, s) for k, s in dict(zip(keys, samples)).items() if k not in cache.rows]
            if todo and self.inner is None:
                self.inner = create_engine(model, backend="vllm", adapter=adapter, **engine_kwargs)
            for start in range(0, len(todo), chunk):
                part = todo[start : start + chunk]
                t0 = time.perf_counter()
                gens = self.inner.draw([s for _, s in part])
                dt = time.perf_counter() - t0
                cache.add([{"key": k, **vars(g)} for (k, _), g in zip(part, gens)])
                tokens = sum(g.completion_tokens for g in gens)
                self.stats["samples_drawn"] += len(gens)
                self.stats["completion_tokens"] += tokens
                self.stats["seconds"] += dt
                logger.info(
                    "%s: %d/%d samples, %.0f tok/s", adapter or "base", start + len(part), len(todo), tokens / dt
                )
            return [Generation(**{f: cache.rows[k][f] for f in Generation.__dataclass_fields__}) for k in keys]

        def generate_full(self, conversations, params, guards=None):
            if not cached_only:
                return super().generate_full(conversations, params, guards)
            out = []
            for conv, guard in zip(conversations, guards or [((), ())] * len(conversations)):
                samples = self.samples(conv, params, guard)
                if all(cache.key(s) in cache.rows for s in samples):
                    out.append(self.draw(samples))
                else:
                    out.append([Generation("", s.seed, MISSING_TOKENS, 0, "stop") for s in samples])
            return out

        def close(self):
            if self.inner is not None:
                self.inner.close()

    return CachedEngine()


def expand_suite(engine, rows: list[dict], k: int, args, fallback: bool = False) -> list[str | None]:
    """The expansion of every prompt, each as `expander expand PROMPT --seed S --candidates k` gives it: prompts
    are batched by token budget, so each keeps the budget it has alone. None where `--cached-only` lacks a sample."""
    from expander.expand import expand_prompts, plan_expansion
    from expander.models import model_languages
    from expander.prompts import validate_prompt

    prompts = [r["prompt"] for r in rows]
    if engine is None:
        return [e[0].text for e in expand_prompts(None, prompts, creativity="raw")]
    groups = defaultdict(list)
    for i, p in enumerate(prompts):
        groups[plan_expansion(validate_prompt(p), args.creativity).max_new_tokens].append(i)
    texts: list[str] = [""] * len(prompts)
    for idx in groups.values():
        got = expand_prompts(
            engine,
            [prompts[i] for i in idx],
            creativity=args.creativity,
            seed=args.seed,
            candidates=k,
            languages=model_languages(args.model),
            fallback=fallback,
        )
        for i, e in zip(idx, got):
            texts[i] = None if e[0].prompt_tokens == MISSING_TOKENS else e[0].text
    return texts


def score_geneval(rows: list[dict], texts: list[str]) -> tuple[dict, list[dict]]:
    """Per-tag pass rates, `overall` (mean of the tags), per-fact-kind rates; and the failing prompts."""
    from expander.constraints.geneval_text import ITEM_KINDS, check_geneval

    passed, seen, items, kept, fails = Counter(), Counter(), Counter(), Counter(), []
    for row, text in zip(rows, texts):
        if text is None:
            continue
        report = check_geneval(row["record"], text)
        tag = row["record"]["tag"]
        seen[tag] += 1
        passed[tag] += report.ok
        for item in report.items:
            items[item.kind] += 1
            kept[item.kind] += item.ok
        if not report.ok:
            bad = [i.to_dict() for i in report.items if not i.ok]
            fails.append({"id": row["id"], "prompt": row["prompt"], "text": text, "failed": bad})
    out = {tag: passed[tag] / seen[tag] for tag in GENEVAL_TAGS if seen[tag]}
    out["overall"] = sum(out.values()) / max(len(out), 1)
    out |= {f"item:{kind}": kept[kind] / items[kind] for kind in ITEM_KINDS if items[kind]}
    return out, fails


def score_dpg(rows: list[dict], texts: list[str]) -> tuple[dict, list[dict]]:
    """Per-kind shares of constraint items kept, `prompts_ok` (every hard item kept); and the failing prompts."""
    from expander.constraints import check

    total, kept, ok, fails = Counter(), Counter(), 0, []
    for row, text in zip(rows, texts):
        if text is None:
            continue
        report = check(row["prompt"], text)
        for c in report.satisfied:
            total[c.kind] += 1
            kept[c.kind] += 1
        for v in report.violated:
            total[v.constraint.kind] += 1
        ok += report.ok
        if report.violated:
            bad = [
                {"kind": v.constraint.kind, "text": v.constraint.text, "hard": v.constraint.hard, "reason": v.reason}
                for v in report.violated
            ]
            fails.append({"id": row["id"], "prompt": row["prompt"], "text": text, "failed": bad})
    out = {kind: kept[kind] / total[kind] for kind in DPG_KINDS if total[kind]}
    out["prompts_ok"] = ok / max(sum(t is not None for t in texts), 1)
    return out, fails


SCORERS = {"geneval": score_geneval, "dpg": score_dpg}


def print_table(suite: str, rows: list[dict], results: dict) -> None:
    arms = results[suite]
    cols = list(dict.fromkeys(c for r in arms.values() for c in r["scores"]))
    print(f"\n{suite}: {len(rows)} prompts")
    print("| arm | k | n | " + " | ".join(cols) + " |")
    print("|---|---|---:|" + "---:|" * len(cols))
    for name, r in arms.items():
        arm, k = name.split(" k=", 1)
        print(
            f"| {arm} | {k} | {r['n']} | "
            + " | ".join(f"{r['scores'][c]:.3f}" if c in r["scores"] else "" for c in cols)
            + " |"
        )


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--adapter", default="default", help="the adapter arm ('default': the model's shipped adapter)")
    p.add_argument("--suites", default="geneval,dpg")
    p.add_argument("--arms", default="raw,base,adapter", help="which of raw,base,adapter to run")
    p.add_argument("--candidates", default="1,4", help="comma-separated K values (1 = no verification)")
    p.add_argument("--limit", type=int, default=None, help="an evenly spread subset of N prompts per suite")
    p.add_argument("--creativity", default="medium")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", default="runs/text_faithfulness", help="sample cache and per-prompt details")
    p.add_argument("--chunk", type=int, default=256, help="samples per engine call (each is cached when done)")
    p.add_argument("--max-num-seqs", type=int, default=64)
    p.add_argument(
        "--no-fallback",
        action="store_true",
        help="score each model arm as sampled only, not also with the faithful fallback (the default settings)",
    )
    p.add_argument(
        "--cached-only", action="store_true", help="score only the prompts whose samples are all cached (no engine)"
    )
    p.add_argument("--json", default=None, help="write the numbers and the failing items here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")

    from expander.models import resolve_adapter

    ks = sorted({int(k) for k in args.candidates.split(",")})
    fallbacks = [False] if args.no_fallback else [False, True]
    suites = load_suites(args.suites.split(","), args.limit)
    wanted = args.arms.split(",")
    arms = {"raw": "raw", "base": None, "adapter": resolve_adapter(args.model, args.adapter)}
    arms = {name: ref for name, ref in arms.items() if name in wanted}
    cache_root = Path(args.cache)
    results: dict = {suite: {} for suite in suites}
    fails: dict = {suite: {} for suite in suites}
    timing = {}
    for name, ref in arms.items():
        engine = None
        if name != "raw":
            engine = cached_engine(
                args.model, ref, cache_root, args.chunk, {"max_num_seqs": args.max_num_seqs}, args.cached_only
            )
        start = time.perf_counter()
        try:
            runs = [(1, False)] if name == "raw" else [(k, fb) for k in ks for fb in fallbacks]
            for k, fb in runs:
                row = f"{name} k={k}" + (" +fallback" if fb else "")
                for suite, rows in suites.items():
                    texts = expand_suite(engine, rows, k, args, fallback=fb)
                    scores, bad = SCORERS[suite](rows, texts)
                    results[suite][row] = {"scores": scores, "n": sum(t is not None for t in texts)}
                    fails[suite][row] = bad
                    details = cache_root / f"details-{suite}-{row.replace(' ', '_')}.jsonl"
                    details.parent.mkdir(parents=True, exist_ok=True)
                    details.write_text(
                        "".join(
                            json.dumps({"id": r["id"], "text": t}) + "\n" for r, t in zip(rows, texts) if t is not None
                        )
                    )
        finally:
            if engine is not None:
                engine.close()
        timing[name] = {"wall_seconds": time.perf_counter() - start, **(engine.stats if engine else {})}
        logger.info("%s done: %s", name, timing[name])

    print(
        f"creativity {args.creativity}, seed {args.seed}, model {args.model}, adapter {arms.get('adapter')}, "
        f"backend vllm; GenEval columns: share of prompts keeping every fact (overall = mean of tags); "
        f"DPG columns: share of constraint items kept (prompts_ok: every hard item kept)"
    )
    for suite, rows in suites.items():
        print_table(suite, rows, results)
    if args.json:
        out = {"args": vars(args), "arms": arms, "timing": timing, "results": results, "failures": fails}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
