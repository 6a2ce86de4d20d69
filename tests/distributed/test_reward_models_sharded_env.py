"""Reward and render models load whole on every process under the environments `accelerate launch` sets up
for ZeRO-3 and FSDP2 (2 processes, gloo): none zeroed, none partitioned."""

from __future__ import annotations

import importlib.util
import json
import os

import pytest

from tests.distributed.conftest import SCRIPTS, torchrun

FSDP2_ENV = {"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2", "FSDP_CPU_RAM_EFFICIENT_LOADING": "true"}


@pytest.mark.parametrize(
    "mode, env",
    [
        ("fsdp2", FSDP2_ENV),
        pytest.param(
            "zero3",
            {},
            marks=pytest.mark.skipif(
                importlib.util.find_spec("deepspeed") is None,
                reason="deepspeed is not installed (the `train` extra pins it): ZeRO-3's zero.Init cannot be set up",
            ),
        ),
    ],
)
def test_every_reward_and_render_model_equals_its_checkpoint_on_every_process(tmp_path, mode, env):
    torchrun(
        [str(SCRIPTS / "reward_models_sharded_env.py"), str(tmp_path), mode],
        env={"EXPANDER_CACHE": os.environ["EXPANDER_CACHE"], **env},
    )
    verdicts = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert any(v["control"] > 0 for v in verdicts), f"a bare load is right under {mode}: the check proves nothing"
    for rank, v in enumerate(verdicts):
        assert set(v["models"]) >= {
            "dinov3",
            "aesthetic_head",
            "clip0",
            "krea2.text_encoder",
            "krea2.transformer",
            "krea2.vae",
        }
        for name, (checked, wrong) in v["models"].items():
            assert checked > 0 and wrong == 0, f"rank {rank}: {name}: {wrong} of {checked} tensors differ"
