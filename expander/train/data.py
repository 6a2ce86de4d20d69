"""Caption corpora: the long, dense captions that synthesis turns into (short -> long) pairs.

Sources (one string, `load_captions(source)` tells them apart):

* `shipped` - the corpus written by the team and shipped in the repo: every `data/captions/*.jsonl`
  (one object per line: `{"id": str, "category": str, "caption": str}`);
* a `.jsonl` / `.json` / `.parquet` file, or a directory of such files, with a configurable caption column;
* a local Hugging Face dataset directory (made by `save_to_disk`, or a dataset repo checkout);
* a hub id (`org/name`), read with `datasets.load_dataset` (needs the hub or its cache).

Every caption gets a stable id: the `id` column when there is one, else a hash of the caption text, so
synthesis can skip captions it has already done whatever the source order.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from expander.errors import ExpanderError
from expander.files import REPO_ROOT, iter_jsonl

__all__ = ["Caption", "CorpusError", "SHIPPED_CORPUS_DIR", "load_captions"]

SHIPPED_CORPUS_DIR = REPO_ROOT / "data" / "captions"
"""Where the shipped caption corpus lives (repo checkout)."""

_TABLE_SUFFIXES = (".jsonl", ".json", ".parquet")


class CorpusError(ExpanderError, ValueError):
    """A caption source that cannot be read: missing, empty, malformed, or without the caption column."""


@dataclass(frozen=True)
class Caption:
    """One dense caption. `source` names where it came from (file or dataset), for provenance."""

    id: str
    caption: str
    category: str = ""
    source: str = ""


def load_captions(
    source: str = "shipped",
    *,
    caption_column: str = "caption",
    id_column: str = "id",
    category_column: str = "category",
    split: str = "train",
    min_words: int = 1,
    limit: int | None = None,
) -> list[Caption]:
    """Load captions from a source (see the module docstring for the kinds of source).

    Args:
        source: `shipped`, a file, a directory, a local HF dataset directory or a hub id.
        caption_column: column (JSON key) holding the caption text.
        id_column: column with a stable id; rows without one get `sha1(caption)[:12]`.
        category_column: optional column with a category label (empty when absent).
        split: split to read from HF datasets (ignored for plain files).
        min_words: captions shorter than this are dropped (counted nowhere: they are not captions).
        limit: keep only the first `limit` captions (after de-duplication), for tiny runs.

    Returns:
        Captions in source order, de-duplicated by id (first wins).

    Raises:
        CorpusError: naming the source, file and line or column that is wrong.
    """
    if not isinstance(source, str) or not source.strip():
        raise CorpusError("caption source must be a non-empty string")
    source = source.strip()
    if source == "shipped":
        rows = _read_dir(SHIPPED_CORPUS_DIR, caption_column, id_column, category_column, label="shipped corpus")
    else:
        path = Path(source).expanduser()
        if path.is_file():
            rows = _read_file(path, caption_column, id_column, category_column)
        elif path.is_dir():
            if (path / "dataset_dict.json").is_file() or (path / "dataset_info.json").is_file():
                rows = _read_hf_disk(path, caption_column, id_column, category_column, split)
            else:
                rows = _read_dir(path, caption_column, id_column, category_column, label=str(path))
        elif _looks_like_hub_id(source):
            rows = _read_hub(source, caption_column, id_column, category_column, split)
        else:
            raise CorpusError(f"caption source {source!r} is not 'shipped', an existing file or directory, or a hub id")
    seen: set[str] = set()
    out: list[Caption] = []
    for cap in rows:
        if len(cap.caption.split()) < min_words or cap.id in seen:
            continue
        seen.add(cap.id)
        out.append(cap)
        if limit is not None and len(out) >= limit:
            break
    if not out:
        raise CorpusError(f"caption source {source!r} holds no captions (of at least {min_words} words)")
    return out


def caption_id(text: str) -> str:
    """Stable id of a caption without one: first 12 hex digits of the SHA-1 of its text."""
    return hashlib.sha1(text.strip().encode("utf-8")).hexdigest()[:12]


def _make(row: dict, caption_column: str, id_column: str, category_column: str, where: str) -> Caption:
    if caption_column not in row:
        raise CorpusError(f"{where}: no column {caption_column!r} (columns: {', '.join(map(str, row)) or 'none'})")
    text = row[caption_column]
    if not isinstance(text, str):
        raise CorpusError(f"{where}: column {caption_column!r} must be a string, got {type(text).__name__}")
    text = " ".join(text.split())
    raw_id = row.get(id_column)
    cid = str(raw_id) if raw_id not in (None, "") else caption_id(text)
    category = row.get(category_column) or ""
    return Caption(id=cid, caption=text, category=str(category), source=where.split(":")[0])


def _read_dir(path: Path, caption_column: str, id_column: str, category_column: str, label: str) -> list[Caption]:
    if not path.is_dir():
        raise CorpusError(f"{label}: directory {path} does not exist")
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in _TABLE_SUFFIXES)
    if not files:
        raise CorpusError(f"{label}: no {', '.join(_TABLE_SUFFIXES)} files in {path}")
    rows: list[Caption] = []
    for f in files:
        rows.extend(_read_file(f, caption_column, id_column, category_column))
    return rows


def _read_file(path: Path, caption_column: str, id_column: str, category_column: str) -> list[Caption]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a broken file
            raise CorpusError(f"{path}: not a readable Parquet file ({exc})") from None
        if caption_column not in table.column_names:
            raise CorpusError(f"{path}: no column {caption_column!r} (columns: {', '.join(table.column_names)})")
        return [
            _make(row, caption_column, id_column, category_column, f"{path}:row {i}")
            for i, row in enumerate(table.to_pylist())
        ]
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(data, list):
            raise CorpusError(f"{path}: a .json corpus must hold a list of objects")
        return [
            _make(_as_row(r, path, i), caption_column, id_column, category_column, f"{path}:item {i}")
            for i, r in enumerate(data)
        ]
    if path.suffix != ".jsonl":
        raise CorpusError(f"{path}: unsupported file type {path.suffix!r}; use .jsonl, .json or .parquet")
    return [
        _make(obj, caption_column, id_column, category_column, f"{path}:{lineno}")
        for lineno, obj in iter_jsonl(path, CorpusError)
    ]


def _as_row(obj: object, path: Path, where: int) -> dict:
    if not isinstance(obj, dict):
        raise CorpusError(f"{path}:{where}: expected a JSON object, got {type(obj).__name__}")
    return obj


def _rows_from_dataset(ds, label: str, caption_column: str, id_column: str, category_column: str) -> list[Caption]:
    if caption_column not in ds.column_names:
        raise CorpusError(f"{label}: no column {caption_column!r} (columns: {', '.join(ds.column_names)})")
    return [_make(row, caption_column, id_column, category_column, f"{label}:row {i}") for i, row in enumerate(ds)]


def _read_hf_disk(path: Path, caption_column: str, id_column: str, category_column: str, split: str) -> list[Caption]:
    from datasets import DatasetDict, load_from_disk

    ds = load_from_disk(str(path))
    if isinstance(ds, DatasetDict):
        if split not in ds:
            raise CorpusError(f"{path}: no split {split!r} (splits: {', '.join(ds)})")
        ds = ds[split]
    return _rows_from_dataset(ds, str(path), caption_column, id_column, category_column)


def _read_hub(ref: str, caption_column: str, id_column: str, category_column: str, split: str) -> list[Caption]:
    from datasets import load_dataset

    try:
        ds = load_dataset(ref, split=split)
    except Exception as exc:  # noqa: BLE001 - offline, missing and private datasets all mean "cannot read"
        raise CorpusError(
            f"cannot load dataset {ref!r} split {split!r} from the hub ({type(exc).__name__}: {exc})"
        ) from None
    return _rows_from_dataset(ds, ref, caption_column, id_column, category_column)


def _looks_like_hub_id(ref: str) -> bool:
    parts = ref.split("/")
    return len(parts) == 2 and all(parts) and not ref.startswith((".", "~"))
