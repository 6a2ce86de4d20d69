"""Crash-safe file writes, JSON Lines I/O and the cache root, shared by every stage.

* `atomic_write_bytes/text/json`: write to a temporary sibling, fsync, `os.replace`: a reader (or a
  re-run after a kill) sees the old file or the complete new one, never a half-written file; two
  processes writing the same path each rename a complete file (the last one wins).
* `append_jsonl`: append whole lines and fsync; a kill can only tear the last line.
* `read_jsonl`: read an append-only log, ignoring a torn last line (the only line a kill can tear).
* `iter_jsonl`: read a user-supplied data file strictly; a bad line is an error naming `path:line`.
* `cache_dir`: the root of expander's caches (converted and tiny models, merged adapters, digests).
* Disk faults: a write that fails (disk full, read-only, permission denied, a path under a file) raises
  `DiskWriteError` naming the path and the reason, in one line, and leaves what was there before as it was.
  `writing(path)` gives the same error for writes done by other libraries (`save_pretrained`, `torch.save`);
  `require_writable_dir` checks a directory before a long run writes to it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from expander.errors import ExpanderError

__all__ = [
    "DiskWriteError",
    "append_jsonl",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "REPO_ROOT",
    "cache_dir",
    "iter_jsonl",
    "read_jsonl",
    "require_writable_dir",
    "resolve_data_path",
    "write_jsonl",
    "writing",
]

logger = logging.getLogger(__name__)

_UMASK = os.umask(0)
os.umask(_UMASK)


def cache_dir() -> Path:
    """Root of expander's caches: `$EXPANDER_CACHE`, else `~/.cache/expander`."""
    root = os.environ.get("EXPANDER_CACHE") or Path.home() / ".cache" / "expander"
    return Path(root).expanduser()


class DiskWriteError(ExpanderError, OSError):
    """A file or directory could not be written: disk full, read-only filesystem, no permission, a parent that
    is a file. The message names the path and the reason in one line; `errno` is the cause's (None if unknown).
    What the path held before is left as it was (the writers here never replace a file with a partial one)."""

    def __init__(self, path: str | Path, reason: str, what: str | None = None, err: int | None = None):
        super().__init__(f"cannot write {what + ' ' if what else ''}{path}: {reason}")
        self.path, self.reason = Path(path), reason
        self.errno = err


_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a parent path is a file, not a directory",
    errno.EEXIST: "a file is in the way of a directory",
    errno.EFBIG: "file too large for this filesystem or process limit",
}


def _reason(exc: OSError) -> str:
    return _REASONS.get(exc.errno, exc.strerror or str(exc) or type(exc).__name__)


def _write_problem(path: str | Path) -> tuple[str, int] | None:
    """Why nothing can be written under `path` right now (a probe: one 4 KiB file in the nearest existing
    directory, fsynced and removed), or None when a write succeeds."""
    folder = Path(path)
    while not folder.is_dir():
        if folder.exists():  # a file where a directory should be
            return _REASONS[errno.ENOTDIR], errno.ENOTDIR
        if folder.parent == folder:
            return None
        folder = folder.parent
    try:
        fd, probe = tempfile.mkstemp(prefix=".expander-probe-", dir=folder)
    except OSError as exc:
        return _reason(exc), exc.errno
    try:
        os.write(fd, b"\0" * 4096)
        os.fsync(fd)
    except OSError as exc:
        return _reason(exc), exc.errno
    finally:
        os.close(fd)
        Path(probe).unlink(missing_ok=True)
    return None


def _errno_of(exc: BaseException) -> int | None:
    """The OS error number inside `exc`: an `OSError` it was raised from, or one a library quotes in its
    message (safetensors: "No space left on device (os error 28)")."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno is not None:
            return seen.errno
        seen = seen.__cause__
    text = str(exc)
    found = re.search(r"os error (\d+)|\[Errno (\d+)\]", text)
    if found:
        return int(found.group(1) or found.group(2))
    return next((code for code in _REASONS if os.strerror(code) in text), None)


def disk_write_error(path: str | Path, exc: BaseException, what: str | None = None) -> DiskWriteError | None:
    """The `DiskWriteError` for a failed write under `path`, or None when `exc` is not a disk fault.

    An `OSError` is one (its errno says why). Other libraries wrap the OS error in their own exception
    (safetensors' `SafetensorError` quotes it; `torch.save`'s `RuntimeError` does not): then a probe write under
    `path` decides.
    """
    if isinstance(exc, DiskWriteError):
        return exc
    code = _errno_of(exc)
    if code is not None:
        return DiskWriteError(path, _REASONS.get(code, os.strerror(code)), what, code)
    problem = _write_problem(path)
    if problem is not None:
        return DiskWriteError(path, problem[0], what, problem[1])
    if isinstance(exc, OSError):
        return DiskWriteError(path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__, what)
    return None


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def writing(path: str | Path, what: str | None = None, partial: str | Path | None = None):
    """Turn a disk fault inside the block into a `DiskWriteError` naming `path`; remove `partial` on any failure.

    For writes that other libraries do (`save_pretrained`, `torch.save`, safetensors) into a temporary file or
    directory (`partial`) that is renamed into place at the end of the block: a failure leaves no partial item
    behind (the probe that names the reason runs first, while the partial item still holds the space). An
    exception that is not a disk fault (a bug, a bad value) is re-raised unchanged.
    """
    try:
        yield
    except BaseException as exc:
        error = disk_write_error(path, exc, what) if isinstance(exc, Exception) else None
        if partial is not None:
            _remove(Path(partial))
        if error is None or error is exc:
            raise
        raise error from exc


def require_writable_dir(path: str | Path, what: str | None = None, hint: str | None = None) -> Path:
    """Create `path` (and its parents) if needed and check that a file can be written in it now; returns it.

    Called before a long run writes there, so a read-only or full directory fails at start, not after hours.

    Raises:
        DiskWriteError: naming `path` (and `what`, e.g. "output_dir"), the reason and `hint` (what to do).
    """
    path = Path(path).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        problem = _write_problem(path)
    except OSError as exc:
        problem = _reason(exc), exc.errno
    if problem is not None:
        raise DiskWriteError(path, problem[0] + (f" ({hint})" if hint else ""), what, problem[1])
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary sibling and `os.replace` (never a half-written file).

    Raises:
        DiskWriteError: (an `OSError`) naming `path`; the old file, if any, is untouched and no temporary is left.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        # mkstemp makes 0600 files; outputs should be as readable as open() makes them.
        os.chmod(tmp, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, DiskWriteError):
            raise DiskWriteError(path, _reason(exc), err=exc.errno) from exc
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False, default=str) + "\n")


def _lines(rows: Iterable[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def append_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    """Append `rows` as JSON lines in one write, then fsync (a kill tears at most the last line).

    Raises:
        DiskWriteError: naming `path`; the lines already there are kept and a partly written line is cut off.
    """
    path = Path(path)
    text = _lines(rows)
    if not text:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            size = os.fstat(fd).st_size
            try:
                data = memoryview(text.encode("utf-8"))
                while data:
                    data = data[os.write(fd, data) :]
                os.fsync(fd)
            except OSError:
                # A full disk can take part of the lines: cut them, so the file still ends on a line boundary.
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)
                raise
        finally:
            os.close(fd)
    except OSError as exc:
        if isinstance(exc, DiskWriteError):
            raise
        raise DiskWriteError(path, _reason(exc), err=exc.errno) from exc


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
