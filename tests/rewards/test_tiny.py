"""Tiny refs are built once, atomically: a failed build leaves nothing behind, concurrent callers share one."""

from __future__ import annotations

import threading
import time

import pytest

from expander.rewards import tiny


def test_failed_build_leaves_nothing_and_a_later_build_succeeds(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPANDER_CACHE", str(tmp_path))

    def broken(path):
        (path / "half.bin").write_bytes(b"x" * 10)
        raise RuntimeError("killed mid-build")

    monkeypatch.setitem(tiny.TINY_REFS, "probe", (broken, lambda p: str(p)))
    with pytest.raises(RuntimeError, match="killed mid-build"):
        tiny.resolve_ref("tiny:probe")
    assert [p.name for p in (tmp_path / "tiny").iterdir() if not p.name.endswith(".lock")] == []

    def good(path):
        (path / "weights.bin").write_bytes(b"ok")

    monkeypatch.setitem(tiny.TINY_REFS, "probe", (good, lambda p: str(p)))
    built = tiny.resolve_ref("tiny:probe")
    assert (tmp_path / "tiny").joinpath(built.rsplit("/", 1)[-1], "weights.bin").read_bytes() == b"ok"


def test_concurrent_callers_build_once(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPANDER_CACHE", str(tmp_path))
    calls = []

    def slow(path):
        calls.append(1)
        time.sleep(0.3)
        (path / "w").write_text("1")

    monkeypatch.setitem(tiny.TINY_REFS, "probe", (slow, lambda p: str(p)))
    results = []
    threads = [threading.Thread(target=lambda: results.append(tiny.resolve_ref("tiny:probe"))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(set(results)) == 1
