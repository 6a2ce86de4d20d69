"""Base vs current vs new expander, with and without verification, on held-out short prompts.

    .venv/bin/python benchmarks/expander_quality.py [--adapter default] [--new-adapter runs/sft/tiny_cpu/final] \
        [--candidates 1,2,4] [--prompts benchmarks/data/short_prompts.txt | --pairs outputs/synth/tiny_cpu] \
        [--num-prompts 32] [--creativity medium] [--seed 0] [--cache DIR] [--json PATH]

Arms: `base` (the bare model), `current` (`--adapter`, default the model's shipped adapter) and, with
`--new-adapter DIR`, `new`. Each arm expands the same prompts with the same per-prompt seeds through
`expander.expand.expand_prompts` once per k of `--candidates`: k = 1 is plain sampling, k > 1 is verified
expansion (k candidates in one batched call, the first that keeps the hard constraints and adds no subject is
returned); every (arm, k) is sampled with `fallback=False` and is also scored as the default settings return it
(`+fallback`: the same samples, each verified, the faithful fallback where it fails). Every arm samples with the
exclusion guard of the default settings (`expander.engine.exclusion_guard`; `--exclusion-guard off` samples as
before it existed). Prints one row per (arm, k):
constraint pass rate, added-subject share (expansions that add a
person/animal/creature the prompt neither names nor implies: `expander.constraints.added_subjects`),
added-negation share (expansions that state an exclusion the prompt did not ask for, "There are no boats in the
frame": `expander.constraints.added_negations`), looping share (expansions with more than 10 % of their word
trigrams repeated within the text: `expander.rewards.format.repeated_share`),
description share of the raw completions and of the cleaned texts, mean words, seconds per expansion (wall
time of the batched call / prompts, on this machine's load: compare rows of one run, not across runs).
Prompts: one a line from `--prompts` (default: 32 hand-written held-out prompts), or the `test`-split
shorts of a synth output with `--pairs DIR`. `--json PATH` also writes every expansion.

A second table (issue #26) reads the same runs over the held-out prompts plus the paraphrase triples of
`--paraphrases` (default `benchmarks/data/paraphrase_triples.txt`: the same content in three phrasings; `none`
skips them): the negation and style subsets (prompts with a `negation` constraint, emptiness words included, or a
`style` constraint: the share whose constraints of that kind all hold), the pass rate (`check(...).ok`) on each
phrasing of the triples and the share of triples whose three phrasings all pass.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

# An expansion loops when more than this share of its word trigrams repeat an earlier one of the same text (the
# format reward's loop factor is 0.9 there: `expander.rewards.format`).
LOOPING = 0.10
KEYS = (
    "constraint_pass_rate",
    "added_subject_share",
    "added_negation_share",
    "looping_share",
    "raw_description_share",
    "description_share",
    "mean_words",
    "fallback_share",
    "seconds_per_expansion",
)


def load_triples(path: str | None, limit: int | None = None) -> list[tuple[str, str, str]]:
    """The paraphrase triples of a file (`a | b | c` a line, `#` comments); none for `none` or no path."""
    if not path or path == "none":
        return []
    triples = []
    for line in Path(path).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            parts = tuple(p.strip() for p in line.split("|"))
            if len(parts) != 3 or not all(parts):
                raise SystemExit(f"{path}: not three phrasings separated by '|': {line!r}")
            triples.append(parts)
    return triples[:limit]


def robustness(texts: dict[str, str], triples: list[tuple[str, str, str]], check=None) -> dict:
    """Negation and style subsets over every prompt of `texts` (prompt -> expansion), and paraphrase robustness.

    Returns:
        `negation_kept` / `style_kept`: the share of prompts with a constraint of that kind whose constraints of
        that kind all hold (`negation_n` / `style_n` prompts); `paraphrase_pass_1..3`: the share of triples whose
        phrasing 1, 2 or 3 passes (`ok`); `paraphrase_all_pass`: the share whose three phrasings all pass.
    """
    if check is None:
        from expander.constraints import check
    reports = {p: check(p, t) for p, t in texts.items()}
    out: dict[str, float | int | None] = {}
    for kind in ("negation", "style"):
        kept = [
            not any(v.constraint.kind == kind for v in r.violated)
            for r in reports.values()
            if any(c.kind == kind for c in r.satisfied + [v.constraint for v in r.violated])
        ]
        out[f"{kind}_kept"] = sum(kept) / len(kept) if kept else None
        out[f"{kind}_n"] = len(kept)
    for i in range(3):
        out[f"paraphrase_pass_{i + 1}"] = sum(reports[t[i]].ok for t in triples) / len(triples) if triples else None
    out["paraphrase_all_pass"] = sum(all(reports[p].ok for p in t) for t in triples) / len(triples) if triples else None
    out["triples"] = len(triples)
    return out


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


def _guard_key(prompts: list[str]) -> list:
    """What the exclusion guard keeps out of each prompt, and the code that decides it: a changed word list or
    scope rule is a new run."""
    from expander.engine.exclusion_guard import guard_fingerprint, guard_words

    words = json.dumps([guard_words(p) for p in prompts])
    return ["exclusion-guard", guard_fingerprint(), hashlib.sha1(words.encode()).hexdigest()]


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
            + (_guard_key(prompts) if args.exclusion_guard == "on" else [])  # off: the keys runs had before
            + ([f"no-repeat-{args.no_repeat_ngram}"] if args.no_repeat_ngram else [])  # 0: the keys runs had before
        ).encode()
    ).hexdigest()[:16]
    return Path(args.cache) / f"{key}.json"


def run_arm(
    adapter: str | None, prompts: list[str], ks: list[int], args, diversity_prompts: list[str] = ()
) -> dict[int | str, dict]:
    """`{k: {"texts", "raw", "seconds"}}` for one arm; one engine for every k, cached runs read back. With
    `diversity_prompts` and `args.diversity_samples` > 1, also `"diversity"`: `n` samples of each of those prompts
    (seeds seed..seed+n-1, k = 1, as sampled), `texts` flat, prompt by prompt."""
    from expander.engine import create_engine
    from expander.expand import expand_prompts

    jobs: list[tuple[int | str, list[str], int, int]] = [(k, prompts, k, 1) for k in ks]
    if diversity_prompts and args.diversity_samples > 1:
        jobs.append(("diversity", list(diversity_prompts), 1, args.diversity_samples))
    out, engine = {}, None
    try:
        for key, job_prompts, k, n in jobs:
            cached = _cache_path(args, adapter, job_prompts, k if n == 1 else f"{k}x{n}")
            if cached is not None and cached.is_file():
                out[key] = json.loads(cached.read_text())
                continue
            if engine is None:
                kwargs = {"batch_size": args.batch_size} if args.backend == "transformers" else {}
                engine = create_engine(args.model, backend=args.backend, adapter=adapter, **kwargs)
            start = time.perf_counter()
            got = expand_prompts(
                engine,
                job_prompts,
                creativity=args.creativity,
                n=n,
                seed=args.seed,
                candidates=k,
                fallback=False,
                exclusion_guard=args.exclusion_guard == "on",
                no_repeat_ngram=args.no_repeat_ngram,
            )
            out[key] = {
                "texts": [e.text for group in got for e in group],
                "raw": [e.raw_text for group in got for e in group],
                "seconds": time.perf_counter() - start,
            }
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                tmp = cached.with_suffix(".tmp")
                tmp.write_text(json.dumps(out[key]))
                os.replace(tmp, cached)
    finally:
        if engine is not None:
            engine.close()
    return out


def with_fallback(prompts: list[str], run: dict, creativity: str) -> dict:
    """The run as the default settings return it: each kept sample verified, and the faithful fallback
    (`expander.expand.faithful_fallback`) where it fails. The same selection `expand_prompts(..., fallback=True)`
    makes on the same samples (the kept sample of k > 1 is the best candidate, the one the fallback builds on)."""
    from expander.engine import Generation
    from expander.expand import plan_expansion, select_candidates

    texts = []
    for prompt, raw in zip(prompts, run["raw"]):
        plan = plan_expansion(prompt, creativity)
        [choice] = select_candidates(plan, [Generation(raw, 0, 0, 0, "stop")], 1, fallback=True)
        texts.append(plan.expansion_text(choice.generation.text)[0])
    return run | {"texts": texts}


def diversity(texts: list[str], n: int) -> dict:
    """Within-group diversity of `n` samples per prompt (`texts` prompt by prompt): the mean pairwise cosine
    distance of their all-MiniLM-L6-v2 embeddings and distinct-2, each averaged over prompts; the measures GRPO
    logs per step (`expander.train.grpo.diversity_log`)."""
    from expander.rewards.text_diversity import embed_nonempty, load_minilm
    from expander.train.grpo.diversity_log import group_distinct_n, group_pairwise_distance

    return {
        "minilm_pairwise": group_pairwise_distance(embed_nonempty(load_minilm(device="cpu"), texts), n),
        "distinct_2": group_distinct_n(texts, n),
        "identical_groups": sum(len(set(texts[i : i + n])) == 1 for i in range(0, len(texts), n)) / (len(texts) // n),
    }


def measure(prompts: list[str], run: dict) -> dict:
    from expander.constraints.added_negations import added_negations
    from expander.constraints.added_subjects import added_subjects
    from expander.eval.quality import summarize
    from expander.rewards.format import repeated_share

    summary = asdict(summarize(prompts, run["texts"], raw=run["raw"]))
    added = [bool(added_subjects(p, t)) for p, t in zip(prompts, run["texts"])]
    negated = [bool(added_negations(p, t)) for p, t in zip(prompts, run["texts"])]
    looping = [repeated_share(t) > LOOPING for t in run["texts"]]
    return summary | {
        "looping_share": sum(looping) / max(len(looping), 1),
        "added_subject_share": sum(added) / max(len(added), 1),
        "added_negation_share": sum(negated) / max(len(negated), 1),
        "seconds_per_expansion": run["seconds"] / max(len(prompts), 1),
    }


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--adapter", default="default", help="the current adapter ('default': the model's shipped one)")
    p.add_argument("--new-adapter", default=None, help="a candidate adapter directory, compared with the current")
    p.add_argument("--sft-adapter", default=None, help="the SFT adapter the candidate was trained from (arm 'sft')")
    p.add_argument(
        "--diversity-samples",
        type=int,
        default=4,
        help="samples per held-out prompt for the within-group diversity table (1 = no table)",
    )
    p.add_argument("--candidates", default="1,2,4", help="comma-separated k values (1 = no verification)")
    p.add_argument("--arms", default="base,sft,current,new", help="which of base,sft,current,new to run")
    p.add_argument(
        "--prompts",
        default=str(Path(__file__).parent / "data" / "short_prompts.txt"),
        help="text file, one prompt a line",
    )
    p.add_argument("--pairs", default=None, help="use the test-split shorts of this synth output dir instead")
    p.add_argument(
        "--paraphrases",
        default=str(Path(__file__).parent / "data" / "paraphrase_triples.txt"),
        help="paraphrase triples ('a | b | c' a line; 'none' to skip), expanded with the prompts",
    )
    p.add_argument("--num-triples", type=int, default=None, help="use the first N triples (default all)")
    p.add_argument("--num-prompts", type=int, default=32)
    p.add_argument("--creativity", default="medium")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", choices=("transformers", "vllm"), default="transformers")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument(
        "--exclusion-guard",
        choices=("on", "off"),
        default="on",
        help="keep each prompt's excluded things out at decode time (the default settings); off: as sampled before",
    )
    p.add_argument(
        "--no-repeat-ngram",
        type=int,
        default=None,
        help="the repeat guard's run length in tokens (default: the API's, expander.expand.NO_REPEAT_NGRAM; 0 = off)",
    )
    p.add_argument("--json", default=None, help="write numbers and expansions here")
    p.add_argument("--cache", default=None, help="directory caching each (arm, k) run (rerun = instant)")
    args = p.parse_args(argv)
    if args.no_repeat_ngram is None:
        from expander.expand import NO_REPEAT_NGRAM

        args.no_repeat_ngram = NO_REPEAT_NGRAM

    from expander.models import resolve_adapter

    ks = sorted({int(k) for k in args.candidates.split(",")})
    prompts = load_prompts(args)
    triples = load_triples(args.paraphrases, args.num_triples)
    # Every distinct prompt is expanded once per arm and k: the held-out prompts first (the first table reads
    # only those), then the phrasings of the triples.
    everything = list(dict.fromkeys(prompts + [p for t in triples for p in t]))
    arms = {"base": None, "current": resolve_adapter(args.model, args.adapter)}
    if args.sft_adapter:
        arms = {"base": None, "sft": args.sft_adapter, "current": arms["current"]}
    if args.new_adapter:
        arms["new"] = args.new_adapter
    arms = {name: ref for name, ref in arms.items() if name in args.arms.split(",")}
    results, runs, robust, texts, diverse = {}, {}, {}, {}, {}
    for name, adapter in arms.items():
        runs[name] = run_arm(adapter, everything, ks, args, diversity_prompts=prompts)
        if "diversity" in runs[name]:
            diverse[name] = diversity(runs[name]["diversity"]["texts"], args.diversity_samples)
        for k in ks:
            sampled = runs[name][k]
            # The default settings: the same samples, with the faithful fallback.
            texts[f"{name} k={k}"] = sampled["texts"]
            fell_back = with_fallback(everything, sampled, args.creativity)
            texts[f"{name} k={k} +fallback"] = fell_back["texts"]
            for row, run in ((f"{name} k={k}", sampled), (f"{name} k={k} +fallback", fell_back)):
                held_out = {key: run[key][: len(prompts)] for key in ("texts", "raw")}
                held_out["seconds"] = run["seconds"] * len(prompts) / len(everything)
                results[row] = measure(prompts, held_out)
                # Held-out expansions the faithful fallback rewrote (the model's own text failed the checker).
                changed = [a != b for a, b in zip(run["texts"], sampled["texts"])][: len(prompts)]
                results[row]["fallback_share"] = sum(changed) / max(len(changed), 1)
                robust[row] = robustness(dict(zip(everything, run["texts"])), triples)

    print(
        f"{len(prompts)} held-out prompts, creativity {args.creativity}, seed {args.seed}, backend {args.backend}; "
        f"arms: {arms}"
    )
    print(f"| arm | k | {' | '.join(KEYS)} |")
    print("|---|---:|" + "---:|" * len(KEYS))
    for row, r in results.items():
        name, k = row.split(" k=", 1)
        cells = [
            f"{r[key]:.1f}"
            if key == "mean_words"
            else f"{r[key]:.2f}"
            if key.startswith("seconds")
            else f"{r[key]:.3f}"
            for key in KEYS
        ]
        print(f"| {name} | {k} | " + " | ".join(cells) + " |")
    first = next(iter(robust.values()), None)
    if first is not None:
        print(
            f"\nnegation subset: {first['negation_n']} prompts, style subset: {first['style_n']} prompts (held-out and "
            f"triples); {first['triples']} paraphrase triples"
        )
        columns = "negation kept | style kept | phrasing 1 pass | phrasing 2 pass | phrasing 3 pass | all three pass"
        print(f"| arm | k | {columns} |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        keys = ("negation_kept", "style_kept", "paraphrase_pass_1", "paraphrase_pass_2", "paraphrase_pass_3")
        for row, r in robust.items():
            name, k = row.split(" k=", 1)
            cells = ["-" if r[key] is None else f"{r[key]:.3f}" for key in (*keys, "paraphrase_all_pass")]
            print(f"| {name} | {k} | " + " | ".join(cells) + " |")
    if diverse:
        print(
            f"\nwithin-group diversity: {args.diversity_samples} samples of each held-out prompt (k = 1, as sampled, "
            "seeds seed..seed+n-1)"
        )
        print("| arm | MiniLM pairwise distance | distinct-2 | groups with n identical texts |")
        print("|---|---:|---:|---:|")
        for name, d in diverse.items():
            print(f"| {name} | {d['minilm_pairwise']:.3f} | {d['distinct_2']:.3f} | {d['identical_groups']:.3f} |")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "args": vars(args),
                    "arms": arms,
                    "results": results,
                    "robustness": robust,
                    "diversity": diverse,
                    "triples": triples,
                    "expansions": [
                        {"prompt": p, **{row: got[i] for row, got in texts.items()}} for i, p in enumerate(everything)
                    ],
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
