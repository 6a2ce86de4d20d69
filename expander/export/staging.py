"""Write an export directory so that a reader sees either the old directory or the complete new one.

The files are written into a temporary sibling directory; only when everything is written is it renamed into
place. With `force`, an existing directory is first renamed aside and deleted after the new one is in place, so
an interrupted export (an error, Ctrl-C, a full disk) leaves the previous export untouched and no half-written
directory under the requested name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from expander.export.errors import ExportDirExistsError, ExportError

__all__ = ["check_output_dir", "staged_output_dir"]


def check_output_dir(out_dir: str | os.PathLike, force: bool = False) -> Path:
    """`out_dir` as a Path, after checking it may be written.

    Raises:
        ExportDirExistsError: it exists and `force` is false.
        ExportError: it exists and is not a directory (a file is never replaced).
    """
    out = Path(out_dir).expanduser()
    if out.exists() or out.is_symlink():
        if not out.is_dir() or out.is_symlink():
            raise ExportError(f"export path {out} exists and is not a directory; refusing to replace it")
        if not force:
            raise ExportDirExistsError(out)
    return out


@contextlib.contextmanager
def staged_output_dir(out_dir: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield an empty temporary directory beside `out_dir`; on a clean exit it becomes `out_dir`.

    Raises:
        ExportDirExistsError, ExportError: as `check_output_dir` (checked before anything is written, and again
            before the rename, in case another process created `out_dir` meanwhile).
    """
    out = check_output_dir(out_dir, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        check_output_dir(out, force)
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        if out.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
        try:
            os.replace(tmp, out)
        except OSError:
            if old.exists():  # put the previous export back
                os.replace(old, out)
            raise
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
