"""Prompt sets for evaluation: PartiPrompts (TSV) or your own JSONL/CSV, sampled per category or challenge.

Every prompt carries a `category` and a `challenge` (PartiPrompts' two axes; `"-"` when a file has none),
so the statistics can break results down by either axis.
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expander.errors import ExpanderError
from expander.files import iter_jsonl, resolve_data_path
from expander.prompts import PromptError, validate_prompt

__all__ = [
    "DEFAULT_PROMPT_FILE",
    "EvalPrompt",
    "PromptSetError",
    "load_prompt_file",
    "resolve_data_path",
    "sample_prompts",
]

DEFAULT_PROMPT_FILE = "data/prompts/PartiPrompts.tsv"
UNLABELLED = "-"

# Column names accepted for each field (first match wins; matching ignores case).
_PROMPT_COLUMNS = ("prompt", "text", "caption")
_CATEGORY_COLUMNS = ("category",)
_CHALLENGE_COLUMNS = ("challenge",)


class PromptSetError(ExpanderError, ValueError):
    """A prompt file that cannot be read or sampled; the message names the file and the line."""


@dataclass(frozen=True)
class EvalPrompt:
    """One short prompt of the evaluation set.

    Attributes:
        prompt_id: the prompt's id in its source, the key of tables and reports: `p0042` (the row number) for a
            prompt file; a benchmark's loader uses the benchmark's own id, so outputs map back to it.
        text: the short prompt, as the user would type it.
        category: what the prompt shows (PartiPrompts: Animals, Vehicles, ...).
        challenge: what makes it hard (PartiPrompts: Quantity, Writing & Symbols, ...).
        metadata: what a benchmark's scorers need per prompt besides the text (e.g. the objects, counts and
            colours a detector must find); empty for prompt files. Not part of equality.
    """

    prompt_id: str
    text: str
    category: str = UNLABELLED
    challenge: str = UNLABELLED
    metadata: Mapping[str, Any] = field(default_factory=dict, compare=False)


def load_prompt_file(path: str | Path) -> list[EvalPrompt]:
    """Read a prompt file: `.tsv` (PartiPrompts: Prompt, Category, Challenge), `.csv`, or `.jsonl`.

    TSV/CSV need a header with a `prompt` (or `text`/`caption`) column; `category` and `challenge` are
    optional. JSONL holds one object per line with the same keys. Ids are `p<row number>`.

    Raises:
        PromptSetError: missing file, unknown extension, no prompt column, an empty or over-long prompt
            (naming the line), or a file with no prompts.
    """
    p = resolve_data_path(path)
    if not p.is_file():
        raise PromptSetError(f"prompt file {path} does not exist")
    suffix = p.suffix.lower()
    if suffix in (".tsv", ".csv"):
        records = _read_table(p, "\t" if suffix == ".tsv" else ",")
    elif suffix in (".jsonl", ".json"):
        records = _read_jsonl(p)
    else:
        raise PromptSetError(f"prompt file {p}: unknown format {suffix!r}; use .tsv, .csv or .jsonl")
    prompts = []
    for line_no, rec in records:
        try:
            text = validate_prompt(rec.get("prompt"))
        except PromptError as exc:
            raise PromptSetError(f"{p}, line {line_no}: {exc}") from None
        prompts.append(
            EvalPrompt(
                prompt_id=f"p{len(prompts):04d}",
                text=text,
                category=_label(rec.get("category")),
                challenge=_label(rec.get("challenge")),
            )
        )
    if not prompts:
        raise PromptSetError(f"prompt file {p} holds no prompts")
    return prompts


def _label(value: object) -> str:
    text = str(value).strip() if value is not None else ""
    return text or UNLABELLED


def _pick(row: dict, names: tuple[str, ...]) -> object:
    lowered = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
    for name in names:
        if name in lowered:
            return lowered[name]
    return None


def _read_table(p: Path, delimiter: str) -> list[tuple[int, dict]]:
    with p.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh, delimiter=delimiter)
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        if not any(name in header for name in _PROMPT_COLUMNS):
            raise PromptSetError(
                f"prompt file {p}: no prompt column in header {reader.fieldnames}; expected one of {_PROMPT_COLUMNS}"
            )
        out = []
        for row in reader:
            rec = {
                "prompt": _pick(row, _PROMPT_COLUMNS),
                "category": _pick(row, _CATEGORY_COLUMNS),
                "challenge": _pick(row, _CHALLENGE_COLUMNS),
            }
            out.append((reader.line_num, rec))
        return out


def _read_jsonl(p: Path) -> list[tuple[int, dict]]:
    out = []
    for line_no, obj in iter_jsonl(p, PromptSetError):
        rec = {
            "prompt": _pick(obj, _PROMPT_COLUMNS),
            "category": _pick(obj, _CATEGORY_COLUMNS),
            "challenge": _pick(obj, _CHALLENGE_COLUMNS),
        }
        out.append((line_no, rec))
    return out


def sample_prompts(
    prompts: list[EvalPrompt],
    num_prompts: int | None,
    *,
    stratify_by: str = "category",
    categories: list[str] | None = None,
    challenges: list[str] | None = None,
    seed: int = 0,
) -> list[EvalPrompt]:
    """A seeded, stratified sample: groups (by category or challenge) take turns, so small groups are seen.

    Args:
        prompts: the full set.
        num_prompts: how many to keep; `None` (or more than there are) keeps all that pass the filters.
        stratify_by: `category`, `challenge` or `none` (a plain random sample).
        categories, challenges: keep only prompts with these labels (exact match); `None` keeps all.
        seed: the sampling seed; the same seed gives the same sample.

    Returns:
        The sample, in source-file order (so tables read like the file).

    Raises:
        PromptSetError: an unknown `stratify_by`, `num_prompts < 1`, or filters that leave nothing
            (naming the labels that do exist).
    """
    if stratify_by not in ("category", "challenge", "none"):
        raise PromptSetError(f"stratify_by must be 'category', 'challenge' or 'none', got {stratify_by!r}")
    if num_prompts is not None and num_prompts < 1:
        raise PromptSetError(f"num_prompts must be >= 1, got {num_prompts}")
    pool = list(prompts)
    for axis, wanted in (("category", categories), ("challenge", challenges)):
        if wanted:
            known = sorted({getattr(p, axis) for p in pool})
            missing = [w for w in wanted if w not in known]
            if missing:
                raise PromptSetError(f"unknown {axis}(s) {missing}; the prompt set has: {', '.join(known)}")
            pool = [p for p in pool if getattr(p, axis) in wanted]
    if not pool:
        raise PromptSetError("no prompts left after filtering by category and challenge")
    if num_prompts is None or num_prompts >= len(pool):
        return pool
    rng = random.Random(seed)
    if stratify_by == "none":
        chosen = rng.sample(pool, num_prompts)
    else:
        groups: dict[str, list[EvalPrompt]] = defaultdict(list)
        for p in pool:
            groups[getattr(p, stratify_by)].append(p)
        for members in groups.values():
            rng.shuffle(members)
        order = sorted(groups)
        rng.shuffle(order)
        chosen = []
        # Round robin over shuffled groups: every group gets floor or ceil of its fair share (while it lasts).
        while len(chosen) < num_prompts:
            for name in order:
                if groups[name] and len(chosen) < num_prompts:
                    chosen.append(groups[name].pop())
    index = {p.prompt_id: i for i, p in enumerate(prompts)}
    return sorted(chosen, key=lambda p: index[p.prompt_id])
