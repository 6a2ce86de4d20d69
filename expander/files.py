"""Crash-safe file writes, JSON Lines I/O and the cache root, shared by every stage.

* `atomic_write_bytes/text/json`: write to a temporary sibling, fsync, `os.replace`: a reader (or a
  re-run after a kill) sees the old file or the complete new one, never a half-written file; two
  processes writing the same path each rename a complete file (the last one wins).
* `append_jsonl`: append whole lines and fsync; a kill can only tear the last line.
* `read_jsonl`: read an append-only log, ignoring a torn last line (the only line a kill can tear).
* `iter_jsonl`: read a user-supplied data file strictly; a bad line is an error naming `path:line`.
* `cache_dir`: the root of expander's caches (converted and tiny models, merged adapters, digests).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "append_jsonl",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "REPO_ROOT",
    "cache_dir",
    "iter_jsonl",
    "read_jsonl",
    "resolve_data_path",
    "write_jsonl",
]

logger = logging.getLogger(__name__)

_UMASK = os.umask(0)
os.umask(_UMASK)


def cache_dir() -> Path:
    """Root of expander's caches: `$EXPANDER_CACHE`, else `~/.cache/expander`."""
    root = os.environ.get("EXPANDER_CACHE") or Path.home() / ".cache" / "expander"
    return Path(root).expanduser()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary sibling and `os.replace` (never a half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes 0600 files; outputs should be as readable as open() makes them.
        os.chmod(tmp, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False, default=str) + "\n")


def _lines(rows: Iterable[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def append_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    """Append `rows` as JSON lines in one write, then fsync (a kill tears at most the last line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = _lines(rows)
    if not text:
        return
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    """Replace `path` with `rows` as JSON lines, atomically."""
    atomic_write_text(path, _lines(rows))


def read_jsonl(path: str | Path) -> list[dict]:
    """The objects of an append-only JSONL log; `[]` if it does not exist.

    A line that does not parse ends the read with a warning: only the last line of an append-only file can
    be torn (a kill mid-append), and nothing after it was ever written completely.
    """
    path = Path(path)
    rows: list[dict] = []
    if not path.is_file():
        return rows
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                logger.warning("ignoring a torn line at the end of %s", path)
                break
    return rows


def iter_jsonl(path: str | Path, error: type[Exception] = ValueError) -> Iterator[tuple[int, dict]]:
    """Yield `(line_number, object)` for each non-blank line of a `.jsonl` data file (numbers start at 1).

    Raises:
        error: (the caller's error class) for a line that is not valid JSON or not a JSON object, naming
            `path:line` and the problem.
    """
    path = Path(path)
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise error(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise error(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj


REPO_ROOT = Path(__file__).resolve().parents[1]


def resolve_data_path(path: str | Path) -> Path:
    """A data path as given if it exists, else relative to the repository root, so the shipped files under
    `data/` (prompt sets, benchmark metadata) are found from any working directory."""
    p = Path(path).expanduser()
    if p.exists() or p.is_absolute():
        return p
    return REPO_ROOT / p
