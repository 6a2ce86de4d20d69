"""stdout carries only a command's result; everything else, ours and third-party, goes to stderr.

`expander.cli.main` runs every command inside `logs_to_stderr()`: file descriptor 1 and `sys.stdout` point at
stderr, so a `print()` in a library, a logger bound to `sys.stdout` (DeepSpeed's, vLLM's), C/C++ code writing
to fd 1 and child processes (which inherit fd 1: vLLM's engine, Ray workers) all land on stderr. A command
prints its result, and only its result, with `print_result`, which writes to the stdout the process started
with. So `expander ... --json | jq` always parses.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator
from typing import TextIO

__all__ = ["logs_to_stderr", "print_result"]

# Where results go while `logs_to_stderr` is active; None outside it.
_result_stream: TextIO | None = None


def print_result(*values: object, sep: str = " ", end: str = "\n") -> None:
    """Print (as `print` does) part of the command's result on stdout, flushed at once.

    Outside `logs_to_stderr` (a command's `run` called directly from Python) it is `print`.
    """
    stream = _result_stream if _result_stream is not None else sys.stdout
    print(*values, sep=sep, end=end, file=stream, flush=True)


@contextlib.contextmanager
def logs_to_stderr() -> Iterator[None]:
    """Point fd 1 and `sys.stdout` at stderr until the block ends; `print_result` keeps the real stdout.

    Restores both on exit, so an in-process caller (a test, a notebook) gets its stdout back. Nested use is a
    no-op.
    """
    global _result_stream
    if _result_stream is not None:
        yield
        return
    original = sys.stdout
    _flush(original)
    saved_fd = os.dup(1)
    # A stdout on fd 1 (a terminal, a pipe) would follow fd 1 to stderr: results get their own descriptor, a
    # duplicate of the original fd 1. Any other stdout (pytest's capture, `contextlib.redirect_stdout`) is
    # not on fd 1 and keeps receiving the results itself.
    if _on_fd1(original):
        results = open(os.dup(saved_fd), "w", encoding=original.encoding, errors=original.errors)
    else:
        results = original
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _result_stream = results
    try:
        yield
    finally:
        # Output written to fd 1 during the command and still buffered (in Python's sys.__stdout__ or in C's
        # stdio) must reach stderr, where it was sent, before fd 1 is the real stdout again.
        for stream in (sys.stdout, sys.__stdout__, original):
            _flush(stream)
        _flush_c_stdio()
        _result_stream = None
        sys.stdout = original
        os.dup2(saved_fd, 1)
        os.close(saved_fd)
        if results is not original:
            results.close()


def _on_fd1(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.fileno() == 1
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation: no file descriptor behind it
        return False


def _flush(stream: TextIO | None) -> None:
    with contextlib.suppress(AttributeError, OSError, ValueError):  # None, closed or not flushable
        stream.flush()


def _flush_c_stdio() -> None:
    """fflush(NULL): C/C++ libraries print through libc's buffered `stdout`, flushed only at exit otherwise."""
    with contextlib.suppress(OSError, AttributeError, TypeError):  # no C library to load (e.g. Windows)
        ctypes.CDLL(None).fflush(None)
