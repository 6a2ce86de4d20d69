"""The synthesised dataset on disk: Parquet splits, the dataset card, and `load_pairs` to read it back."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from expander.files import atomic_write_bytes, atomic_write_text
from expander.train.synth.config import SynthConfig, SynthError
from expander.train.synth.constraint_pairs import CONSTRAINT_STYLES
from expander.train.synth.styles import STYLES

__all__ = ["dataset_card", "load_pairs", "totals", "write_dataset"]

_COLUMNS = (
    "pair_id",
    "caption_id",
    "category",
    "style",
    "short",
    "long",
    "creativity",
    "method",
    "teacher",
    "seed",
    "teacher_output",
    "corpus",
    "augmented",
)


def write_dataset(out: Path, pairs: list[dict], progress: list[dict], cfg: SynthConfig) -> None:
    """Rewrite `data/{train,test}.parquet` and the card from every pair so far, each file atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = out / "data"
    data.mkdir(exist_ok=True)
    types = {"seed": pa.int64(), "augmented": pa.bool_()}
    schema = pa.schema([(c, types.get(c, pa.string())) for c in _COLUMNS])
    for split in ("train", "test"):
        rows = [{c: p.get(c) for c in _COLUMNS} for p in pairs if p["split"] == split]
        buffer = pa.BufferOutputStream()
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), buffer)
        atomic_write_bytes(data / f"{split}.parquet", buffer.getvalue().to_pybytes())
    atomic_write_text(out / "README.md", dataset_card(pairs, progress, cfg))


def totals(progress: list[dict]) -> dict[str, dict[str, int]]:
    """Counts over every finished caption: generated and accepted candidates by style, rejections by reason."""
    out = {"generated_by_style": Counter(), "accepted_by_style": Counter(), "rejected_by_reason": Counter()}
    for p in progress:
        out["generated_by_style"].update(p["generated"])
        out["accepted_by_style"].update(p["accepted"])
        out["rejected_by_reason"].update(p["rejected"])
    return {k: dict(sorted(v.items())) for k, v in out.items()}


def dataset_card(pairs: list[dict], progress: list[dict], cfg: SynthConfig) -> str:
    """Markdown dataset card (HF format, YAML header) with counts by style, split and rejection reason."""
    counts = totals(progress)
    splits = Counter(p["split"] for p in pairs)
    categories = Counter(p["category"] or "(none)" for p in pairs)
    teacher = (
        "rule-based writer (fallback method, no model)" if cfg.method == "rule" else f"`{cfg.teacher}` ({cfg.backend})"
    )
    lines = [
        "---",
        "configs:",
        "- config_name: default",
        "  data_files:",
        "  - split: train",
        "    path: data/train.parquet",
        "  - split: test",
        "    path: data/test.parquet",
        "task_categories:",
        "- text-generation",
        "---",
        "",
        "# Synthetic short -> long prompt pairs",
        "",
        "Made by `expander synth`: a teacher wrote the short prompt a user would type for each dense caption "
        "(long -> short); the expander trains on short -> long. Each row keeps its provenance "
        "(caption id, style, teacher, seed, raw teacher output, corpus file).",
        "",
        f"- method: **{cfg.method}**; teacher: {teacher}",
        f"- corpus: `{cfg.corpus}`; captions processed: {len(progress)}",
        f"- pairs: {len(pairs)} (train {splits.get('train', 0)}, test {splits.get('test', 0)}; split by caption)",
        f"- seed: {cfg.seed}; candidates per (caption, style): {cfg.candidates_per_style}; "
        f"styles per caption: {cfg.styles_per_caption}",
        "",
        "## Pairs by style",
        "",
        "| style | share | candidates generated | accepted |",
        "|---|---:|---:|---:|",
    ]
    for name in (*STYLES, *CONSTRAINT_STYLES):
        if name in cfg.style_shares or name in counts["generated_by_style"]:
            lines.append(
                f"| {name} | {cfg.style_shares.get(name, 0)} | {counts['generated_by_style'].get(name, 0)} "
                f"| {counts['accepted_by_style'].get(name, 0)} |"
            )
    lines += ["", "## Rejected candidates by reason", "", "| reason | count |", "|---|---:|"]
    for reason, count in sorted(counts["rejected_by_reason"].items(), key=lambda kv: -kv[1]):
        lines.append(f"| {reason} | {count} |")
    lines += ["", "## Pairs by caption category", "", "| category | pairs |", "|---|---:|"]
    for cat, count in sorted(categories.items()):
        lines.append(f"| {cat} | {count} |")
    lines += [
        "",
        "## Filters",
        "",
        f"- constraints of the short must hold in the long (`expander.constraints.check`): {cfg.check_constraints} "
        "(a negation or emptiness word the long contradicts: `contradicted_negation`)",
        f"- rule-made constraint pairs per caption (negation, emptiness, style words; "
        f"`expander.train.synth.constraint_pairs`): {cfg.constraint_pairs_per_caption}, an added 'no X' for a "
        f"share {cfg.negation_added_share} of captions; a pair whose long got an appended sentence is `augmented`",
        f"- short words in [{cfg.min_short_words}, {cfg.max_short_words}], "
        f"short/long word ratio <= {cfg.max_length_ratio}",
        f"- content-word grounding in the long >= {cfg.min_grounding}",
        "- the short must name or imply every person, animal and creature of the long "
        f"(`expander.constraints.added_subjects(short, long)` empty; else `dropped_subject`): "
        f"{cfg.reject_dropped_subjects}",
        f"- refusals and garbage rejected; MiniLM near-duplicate cosine threshold {cfg.near_duplicate_threshold}",
        "",
        "## Config",
        "",
        "```json",
        json.dumps({k: v for k, v in vars(cfg).items()}, indent=2, default=str),
        "```",
        "",
    ]
    return "\n".join(lines)


def load_pairs(path: str | Path):
    """The synthetic pairs in `path` as a `datasets.DatasetDict` with `train` and `test` splits.

    Raises:
        SynthError: when `path` holds no synthesised dataset.
    """
    import pyarrow.parquet as pq
    from datasets import Dataset, DatasetDict

    data = Path(path) / "data"
    if not (data / "train.parquet").is_file():
        raise SynthError(f"{path} holds no synthetic pairs (no data/train.parquet); run `expander synth` first")
    splits = {}
    for split in ("train", "test"):
        if (data / f"{split}.parquet").is_file():
            table = pq.read_table(data / f"{split}.parquet")
            if split == "train" or table.num_rows:  # an empty test split is left out
                splits[split] = Dataset(table)  # in memory: no copy in the datasets cache
    return DatasetDict(splits)
