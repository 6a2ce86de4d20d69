"""Multi-process preconditions checked at start: a shared output_dir (two torchrun processes, gloo), one GPU
per process."""

from __future__ import annotations

import os

import pytest

from tests.distributed.conftest import SCRIPTS, torchrun


@pytest.fixture(scope="module")
def output_dir_verdicts(tmp_path_factory):
    """Both modes of scripts/shared_output_dir.py in one two-process launch."""
    root = tmp_path_factory.mktemp("shared_output_dir")
    torchrun(
        [str(SCRIPTS / "shared_output_dir.py"), str(root), "per-rank", "shared"],
        env={"EXPANDER_CACHE": os.environ["EXPANDER_CACHE"]},
    )
    return root


def test_an_output_dir_not_shared_by_every_process_fails_on_every_process(output_dir_verdicts):
    for rank in (0, 1):
        verdict = (output_dir_verdicts / "per-rank" / f"verdict{rank}.txt").read_text()
        assert "is not shared by all processes" in verdict and "process 1" in verdict  # no hang, both raise


def test_a_shared_output_dir_passes_and_leaves_no_marker(output_dir_verdicts):
    shared = output_dir_verdicts / "shared"
    assert [(shared / f"verdict{r}.txt").read_text() for r in (0, 1)] == ["ok", "ok"]
    assert not list((shared / "run").glob(".expander_shared_*"))


def test_an_explicit_gpu_shared_by_every_process_of_a_machine_is_refused_at_start(monkeypatch):
    from types import SimpleNamespace

    from expander.train.grpo import run
    from expander.train.grpo.config import GRPOScriptArguments, GRPOSetupError

    monkeypatch.setattr(run, "PartialState", lambda: SimpleNamespace(num_processes=4, is_main_process=True))
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    training = SimpleNamespace(per_device_train_batch_size=2, steps_per_generation=1, num_generations=4)
    tiny = "configs/rewards/tiny.yaml"
    with pytest.raises(GRPOSetupError, match=r"render.device cuda:1 .* shared by all 4 processes"):
        run.check_distributed_setup(
            GRPOScriptArguments(rewards_config=tiny, rewards_overrides={"render.device": "cuda:1"}), training
        )
    run.check_distributed_setup(
        GRPOScriptArguments(rewards_config=tiny, rewards_overrides={"render.device": "cuda"}), training
    )  # each process's own GPU: fine
