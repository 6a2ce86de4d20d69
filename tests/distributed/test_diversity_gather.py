"""Diversity when GRPO splits a group across processes: every process sees the whole group (2 ranks, gloo)."""

from __future__ import annotations

import json

import pytest

from tests.distributed.conftest import SCRIPTS, torchrun


def test_diversity_of_a_group_split_over_two_processes_equals_the_one_process_value(tmp_path):
    torchrun([str(SCRIPTS / "diversity_gather.py"), str(tmp_path)], env={"EXPANDER_CACHE": _cache()})
    for rank in (0, 1):
        verdicts = json.loads((tmp_path / f"rank{rank}.json").read_text())
        got, want = verdicts["exact"]
        assert [g is None for g in got] == [w is None for w in want]
        assert [g for g in got if g is not None] == pytest.approx([w for w in want if w is not None], abs=1e-6)
        assert verdicts["local_differs"], "the fixture does not split a group: the check proves nothing"
    got, want = json.loads((tmp_path / "rank0.json").read_text())["suite"]
    # One member of each group per process: without the gather every value would be None.
    assert None not in got and got == pytest.approx(want, abs=1e-5)


def _cache() -> str:
    import os

    return os.environ["EXPANDER_CACHE"]
