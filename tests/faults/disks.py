"""Real disk faults: a small tmpfs that fills up (ENOSPC) or is remounted read-only (EROFS).

The fixtures are defined here so that tests living beside the session fixtures they reuse (tests/eval) get them
too: tests/faults/conftest.py imports them, a module elsewhere assigns them (`small_disk = disks.small_disk`).

Mounting needs root (CAP_SYS_ADMIN), which this machine kind and its CI have; elsewhere the full-disk tests skip
with that reason. chmod cannot make a directory unwritable for root, so read-only is a read-only remount, and
chmod 0o500 only for a user who is not root.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest


def _mount(*args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["mount", *args], capture_output=True, text=True)
    except OSError as exc:  # no mount(8) here
        return subprocess.CompletedProcess(["mount", *args], 1, "", str(exc))


@pytest.fixture
def small_disk(tmp_path):
    """`small_disk(size, name="disk")` -> a directory on a fresh tmpfs of `size` ("1m", "64m"); unmounted after."""
    mounted: list[Path] = []

    def make(size: str, name: str = "disk") -> Path:
        path = tmp_path / name
        path.mkdir()
        done = _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
        if done.returncode:
            pytest.skip(f"a full disk needs a small tmpfs, and mount failed here: {done.stderr.strip()}")
        mounted.append(path)
        return path

    yield make
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def resize(path: Path, size: str) -> None:
    """Grow (or shrink, down to what it holds) a tmpfs made by `small_disk`."""
    done = _mount("-o", f"remount,size={size}", str(path))
    assert done.returncode == 0, done.stderr


def fill(path: Path) -> Path:
    """Write a ballast file under `path` until its filesystem is full; returns it (delete it to free the space)."""
    ballast = path / "ballast.bin"
    with open(ballast, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError:
            pass
    with open(ballast, "ab", buffering=0) as fh:  # the last pages a 64 KiB write could not take
        try:
            while True:
                fh.write(b"\0" * 512)
        except OSError:
            pass
    return ballast


@pytest.fixture
def lockable_dir(tmp_path, small_disk):
    """`(directory, lock)`: write into the directory, then `lock()` makes nothing writable under it any more: a
    read-only remount of a tmpfs for root (chmod does not stop root), chmod 0o500 for anyone else."""
    if os.geteuid() == 0:
        path = small_disk("16m", "lockable")

        def lock() -> None:
            done = _mount("-o", "remount,ro", str(path))
            assert done.returncode == 0, done.stderr

        yield path, lock
    else:
        path = tmp_path / "lockable"
        path.mkdir()
        yield path, lambda: path.chmod(0o500)
        path.chmod(0o700)


def leftovers(root: Path) -> list[str]:
    """Temporary files and directories of an interrupted write (atomic writes, conversions, checkpoints)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if ".tmp" in p.name or p.name == ".expander-saving")
