"""Multi-node preconditions, checked at start on two processes (torchrun, gloo): a shared output_dir."""

from __future__ import annotations

import os

from tests.distributed.conftest import SCRIPTS, torchrun


def test_an_output_dir_not_shared_by_every_process_fails_on_every_process(tmp_path):
    torchrun([str(SCRIPTS / "shared_output_dir.py"), str(tmp_path), "per-rank"],
             env={"EXPANDER_CACHE": os.environ["EXPANDER_CACHE"]})
    for rank in (0, 1):
        verdict = (tmp_path / f"verdict{rank}.txt").read_text()
        assert "is not shared by all processes" in verdict and "process 1" in verdict  # no hang, both raise


def test_a_shared_output_dir_passes_and_leaves_no_marker(tmp_path):
    torchrun([str(SCRIPTS / "shared_output_dir.py"), str(tmp_path), "shared"],
             env={"EXPANDER_CACHE": os.environ["EXPANDER_CACHE"]})
    assert [(tmp_path / f"verdict{r}.txt").read_text() for r in (0, 1)] == ["ok", "ok"]
    assert not list((tmp_path / "run").glob(".expander_shared_*"))
