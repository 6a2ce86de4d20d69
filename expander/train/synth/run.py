"""The synthesis run: pick styles per caption, ask the teacher (or the rule writer), filter, append.

Output directory state (append-safe; a kill loses at most one chunk, nothing already written):
`pairs.jsonl` is appended first, then `progress.jsonl`; a caption is done once its progress line landed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from expander.constraints.added_subjects import added_subjects
from expander.errors import MissingExtraError
from expander.files import append_jsonl, atomic_write_json, read_jsonl, write_jsonl
from expander.train.data import Caption, load_captions
from expander.train.synth.config import SynthConfig, SynthError
from expander.train.synth.constraint_pairs import CONSTRAINT_STYLES, choose_writers, constraint_candidates
from expander.train.synth.dataset import totals, write_dataset
from expander.train.synth.filters import (
    NearDuplicateIndex,
    add_typo,
    clean_short,
    creativity_for,
    filter_short,
    rule_short,
)
from expander.train.synth.styles import STYLES, UserStyle, quoted_texts, teacher_messages

logger = logging.getLogger(__name__)

__all__ = ["SynthResult", "pick_styles", "run_synth", "split_of"]


@dataclass
class SynthResult:
    """What a run left in `output_dir`: pair counts per split, and the totals over all runs there."""

    output_dir: Path
    num_train: int
    num_test: int
    captions_done: int
    captions_new: int
    accepted_by_style: dict[str, int]
    rejected_by_reason: dict[str, int]


def _stable_int(*parts: object) -> int:
    return int(hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()[:8], 16)


def pick_styles(caption: Caption, cfg: SynthConfig) -> list[UserStyle]:
    """The styles a caption gets: `styles_per_caption` distinct ones drawn by share, seeded per caption."""
    rng = random.Random(_stable_int(cfg.seed, "styles", caption.id))
    has_quote = bool(quoted_texts(caption.caption))
    pool = {n: float(s) for n, s in cfg.style_shares.items() if s > 0 and (has_quote or not STYLES[n].needs_quote)}
    chosen = []
    while pool and len(chosen) < cfg.styles_per_caption:
        names = list(pool)
        name = rng.choices(names, weights=[pool[n] for n in names])[0]
        chosen.append(STYLES[name])
        del pool[name]
    return chosen


def split_of(caption_id: str, cfg: SynthConfig) -> str:
    """`test` for a stable `test_fraction` of captions, else `train` (by caption, so no caption leaks)."""
    return "test" if _stable_int("split", caption_id) % 10_000 < cfg.test_fraction * 10_000 else "train"


def run_synth(cfg: SynthConfig, engine=None) -> SynthResult:
    """Make (short -> long) pairs for every caption of the corpus not yet done in `cfg.output_dir`.

    Args:
        cfg: the recipe.
        engine: an open `GenerationEngine` to use as teacher (tests share one); by default one is created
            from `cfg.teacher` / `cfg.backend` (and closed at the end). Ignored for `method: rule`.

    Returns:
        Counts over everything in the output directory (earlier runs included).
    """
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    _check_same_recipe(out, cfg)
    captions = load_captions(
        cfg.corpus,
        caption_column=cfg.caption_column,
        id_column=cfg.id_column,
        category_column=cfg.category_column,
        split=cfg.corpus_split,
        limit=cfg.corpus_limit,
    )
    pairs, progress = _read_state(out)
    done = {p["caption_id"] for p in progress}
    todo = [c for c in captions if c.id not in done]
    logger.info("synth: %d captions, %d already done, %d to do", len(captions), len(done), len(todo))

    constraint_check = _constraint_checker() if cfg.check_constraints else None
    dedup = NearDuplicateIndex(cfg.near_duplicate_threshold, cfg.embedder)
    dedup.add([p["short"] for p in pairs])
    teacher_name = "rule-based" if cfg.method == "rule" else cfg.teacher
    teacher = _LazyTeacher(cfg, engine)
    bar = tqdm(total=len(todo), unit="caption", desc="synth", disable=not todo)
    try:
        for start in range(0, len(todo), cfg.chunk_size):
            chunk = todo[start : start + cfg.chunk_size]
            t0 = time.time()
            new_pairs, new_progress = _synth_chunk(chunk, cfg, teacher, teacher_name, constraint_check, dedup)
            append_jsonl(out / "pairs.jsonl", new_pairs)
            append_jsonl(out / "progress.jsonl", new_progress)  # after the pairs: a caption is done only now
            pairs.extend(new_pairs)
            progress.extend(new_progress)
            write_dataset(out, pairs, progress, cfg)
            logger.info(
                "synth: chunk of %d captions -> %d pairs in %.0f s (%d/%d captions)",
                len(chunk),
                len(new_pairs),
                time.time() - t0,
                len(progress),
                len(captions),
            )
            bar.update(len(chunk))
            bar.set_postfix(pairs=len(pairs))
    finally:
        bar.close()
        teacher.close()
    if not (out / "data" / "train.parquet").is_file() or not todo:
        write_dataset(out, pairs, progress, cfg)
    counts = totals(progress)
    splits = Counter(p["split"] for p in pairs)
    return SynthResult(
        output_dir=out,
        num_train=splits.get("train", 0),
        num_test=splits.get("test", 0),
        captions_done=len(progress),
        captions_new=len(todo),
        accepted_by_style=counts["accepted_by_style"],
        rejected_by_reason=counts["rejected_by_reason"],
    )


def _constraint_checker():
    try:
        from expander.constraints import check
    except ImportError as exc:
        raise MissingExtraError(
            "synth's constraint filter", "constraints", exc, hint="or set check_constraints: false"
        ) from exc
    return check


class _LazyTeacher:
    """The teacher engine, started on first use (a run whose generations are all cached starts none)."""

    def __init__(self, cfg: SynthConfig, engine=None):
        self.cfg = cfg
        self.engine = engine
        self.owned = False

    def get(self):
        if self.engine is None:
            from expander.engine import create_engine

            cfg = self.cfg
            self.engine = create_engine(
                cfg.teacher, backend=cfg.backend, adapter=cfg.teacher_adapter, **cfg.engine_kwargs
            )
            self.owned = True
        return self.engine

    def close(self) -> None:
        if self.owned and self.engine is not None:
            self.engine.close()
        self.engine = None


def _synth_chunk(chunk, cfg, teacher, teacher_name, constraint_check, dedup):
    """Pairs and per-caption counts for one chunk of captions.

    Attempt `k` asks the teacher once (seed `cfg.seed + k`) for every (caption, style) not yet accepted, so a
    retry costs only the rejected ones; `candidates_per_style` bounds the attempts.
    """
    jobs = [(cap, style) for cap in chunk for style in pick_styles(cap, cfg)]
    per_caption = {cap.id: {"generated": Counter(), "accepted": Counter(), "rejected": Counter()} for cap in chunk}
    accepted = [False] * len(jobs)
    new_pairs = []
    attempts = 1 if cfg.method == "rule" else cfg.candidates_per_style
    for attempt in range(attempts):
        open_jobs = [i for i, done in enumerate(accepted) if not done]
        if not open_jobs:
            break
        if cfg.method == "rule":
            candidates = [
                (
                    rule_short(
                        jobs[i][0].caption,
                        jobs[i][1],
                        random.Random(_stable_int(cfg.seed, jobs[i][0].id, jobs[i][1].name)),
                    ),
                    None,
                    False,
                )
                for i in open_jobs
            ]
        else:
            from expander.engine import SamplingParams

            params = SamplingParams(
                n=1,
                seed=cfg.seed + attempt,
                temperature=cfg.temperature,
                top_p=cfg.top_p,
                max_new_tokens=cfg.max_new_tokens,
            )
            candidates = [c[0] for c in _teacher_candidates([jobs[i] for i in open_jobs], cfg, teacher, params)]
        # Filters first, then one batched embedding call for every survivor (one call per candidate is slow).
        cleaned = [clean_short(raw, jobs[i][1], truncated) for i, (raw, _, truncated) in zip(open_jobs, candidates)]
        subject_check = added_subjects if cfg.reject_dropped_subjects else None
        reasons = [
            filter_short(short, jobs[i][0].caption, jobs[i][1], cfg, constraint_check, subject_check)
            for i, short in zip(open_jobs, cleaned)
        ]
        survivors = [short for short, r in zip(cleaned, reasons) if r is None]
        embedded = dedup.embed(survivors) if survivors and dedup.model is not None else [None] * len(survivors)
        embeddings = iter(embedded)
        for i, short, reason, (raw, seed, _) in zip(open_jobs, cleaned, reasons, candidates):
            cap, style = jobs[i]
            stats = per_caption[cap.id]
            stats["generated"][style.name] += 1
            emb = next(embeddings) if reason is None else None
            if reason is None and dedup.is_duplicate(short, emb):
                reason = "near_duplicate"
            if reason is not None:
                stats["rejected"][reason] += 1
                continue
            dedup.add([short], emb)  # the clean short: a typo must not let a near-duplicate through
            if style.typos:
                short = _with_typo(short, cap, style, cfg, constraint_check)
            stats["accepted"][style.name] += 1
            accepted[i] = True
            new_pairs.append(_pair(cap, style.name, short, cap.caption, cfg, cfg.method, teacher_name, seed, raw))
    if cfg.constraint_pairs_per_caption:
        subject_check = added_subjects if cfg.reject_dropped_subjects else None
        for cap in chunk:
            new_pairs += _constraint_pairs(cap, cfg, constraint_check, subject_check, dedup, per_caption[cap.id])
    progress = [
        {
            "caption_id": cap.id,
            "generated": dict(per_caption[cap.id]["generated"]),
            "accepted": dict(per_caption[cap.id]["accepted"]),
            "rejected": dict(per_caption[cap.id]["rejected"]),
        }
        for cap in chunk
    ]
    return new_pairs, progress


def _pair(cap: Caption, style: str, short: str, long: str, cfg: SynthConfig, method, teacher, seed, raw) -> dict:
    return {
        "pair_id": f"{cap.id}:{style}",
        "caption_id": cap.id,
        "category": cap.category,
        "style": style,
        "short": short,
        "long": long,
        "creativity": creativity_for(long),
        "split": split_of(cap.id, cfg),
        "method": method,
        "teacher": teacher,
        "seed": seed,
        "teacher_output": raw,
        "corpus": cap.source,
        "augmented": long != cap.caption,
    }


def _constraint_pairs(cap: Caption, cfg: SynthConfig, constraint_check, subject_check, dedup, stats) -> list[dict]:
    """The rule-made constraint pairs of one caption (`constraint_pairs.py`), through the same filters: each
    chosen writer's candidates in order, the first that passes is kept."""
    rng = random.Random(_stable_int(cfg.seed, "constraint_pairs", cap.id))
    candidates = constraint_candidates(cap.caption, rng, cap.category)
    out = []
    negation_added = rng.random() < cfg.negation_added_share
    for name in choose_writers(candidates, cfg.constraint_pairs_per_caption, rng, negation_added):
        style = CONSTRAINT_STYLES[name]
        for _, short, long in (c for c in candidates if c[0] == name):
            stats["generated"][name] += 1
            reason = filter_short(short, long, style, cfg, constraint_check, subject_check)
            if reason is None and dedup.is_duplicate(short):
                reason = "near_duplicate"
            if reason is not None:
                stats["rejected"][reason] += 1
                continue
            dedup.add([short])
            stats["accepted"][name] += 1
            out.append(_pair(cap, name, short, long, cfg, "rule", "rule-based", None, None))
            break
    return out


def _teacher_key(messages: list[dict], cfg: SynthConfig, params) -> str:
    blob = json.dumps(
        [
            cfg.teacher,
            cfg.teacher_adapter,
            cfg.backend,
            messages,
            params.n,
            params.seed,
            params.temperature,
            params.top_p,
            params.max_new_tokens,
        ],
        sort_keys=True,
    )
    return hashlib.sha1(blob.encode()).hexdigest()


def _teacher_candidates(jobs, cfg: SynthConfig, teacher: _LazyTeacher, params) -> list[list[tuple[str, int, bool]]]:
    """Teacher candidates per job, read from `cfg.teacher_cache` where present, generated (and cached) otherwise.

    The cache is keyed by teacher, messages and sampling, so changing only the filters re-runs in seconds.
    """
    conversations = [teacher_messages(cap.caption, style, cfg.teacher_caption_words) for cap, style in jobs]
    keys = [_teacher_key(conv, cfg, params) for conv in conversations]
    cache_path = Path(cfg.teacher_cache) if cfg.teacher_cache else None
    cached = {}
    if cache_path is not None:
        cached = {row["key"]: row["candidates"] for row in read_jsonl(cache_path)}
    missing = [i for i, k in enumerate(keys) if k not in cached]
    if missing:
        generations = teacher.get().generate_full([conversations[i] for i in missing], params)
        fresh = []
        for i, gens in zip(missing, generations):
            cached[keys[i]] = [[g.text, g.seed, g.finish_reason == "length"] for g in gens]
            fresh.append({"key": keys[i], "candidates": cached[keys[i]]})
        if cache_path is not None:
            append_jsonl(cache_path, fresh)
    return [[tuple(c) for c in cached[k]] for k in keys]


def _with_typo(short: str, cap: Caption, style: UserStyle, cfg: SynthConfig, constraint_check) -> str:
    # A typo must not break the contract: try a few positions, keep the first the constraint check accepts.
    rng = random.Random(_stable_int(cfg.seed, "typo", cap.id, style.name))
    for _ in range(3):
        noisy = add_typo(short, rng)
        if noisy is None:
            break
        if constraint_check is None or constraint_check(noisy, cap.caption).ok:
            return noisy
    return short


# --------------------------------------------------------------------------------------------------------
# State and output files


def _read_state(out: Path) -> tuple[list[dict], list[dict]]:
    progress = read_jsonl(out / "progress.jsonl")
    done = {p["caption_id"] for p in progress}
    # Pairs of a chunk whose progress line never landed are dropped; that chunk is redone.
    pairs = [p for p in read_jsonl(out / "pairs.jsonl") if p["caption_id"] in done]
    seen, unique = set(), []
    for p in pairs:
        if p["pair_id"] not in seen:
            seen.add(p["pair_id"])
            unique.append(p)
    # Rewritten without the torn last line, so the next append starts on a line of its own.
    for name, rows in (("pairs.jsonl", unique), ("progress.jsonl", progress)):
        if (out / name).exists():
            write_jsonl(out / name, rows)
    return unique, progress


_RECIPE_KEYS = (
    "method",
    "teacher",
    "teacher_adapter",
    "seed",
    "style_shares",
    "styles_per_caption",
    "constraint_pairs_per_caption",
    "negation_added_share",
)
# Keys newer than some output dirs' recipe.json, with the value those dirs were made with.
_RECIPE_DEFAULTS = {"constraint_pairs_per_caption": 0, "negation_added_share": 1.0}


def _check_same_recipe(out: Path, cfg: SynthConfig) -> None:
    # Appending pairs of another recipe to an existing dataset would mix provenance silently.
    recipe = {k: getattr(cfg, k) for k in _RECIPE_KEYS}
    if cfg.method == "teacher":  # a changed few-shot prompt is another recipe too
        prefix = teacher_messages("", STYLES["keywords"])[:-1]
        recipe["teacher_prompt"] = hashlib.sha1(json.dumps(prefix).encode()).hexdigest()[:12]
    path = out / "recipe.json"
    if path.is_file():
        old = json.loads(path.read_text())
        diff = [k for k in recipe if old.get(k, _RECIPE_DEFAULTS.get(k)) != recipe[k]]
        if diff:
            raise SynthError(
                f"{out} holds pairs of another recipe (differs in {', '.join(diff)}); use a new output_dir"
            )
        return
    atomic_write_json(path, recipe)
