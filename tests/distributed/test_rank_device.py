"""Each process's inference models on its own GPU (`rank_device`), offload included; the loading context
restores what it switched off. Pure functions: one process, no GPU needed."""

from __future__ import annotations

import os

import pytest
import torch

from expander.devices import rank_device, standalone_loading


@pytest.fixture(autouse=True)
def no_accelerate_state(monkeypatch):
    """`LOCAL_RANK` decides only while accelerate's state is uninitialised: an earlier in-process GRPO run
    (the dry-run test) leaves it initialised with local index 0."""
    from accelerate.state import PartialState

    monkeypatch.setattr(PartialState, "_shared_state", {})


@pytest.mark.parametrize("device, want", [(None, "cuda:1"), ("cuda", "cuda:1"), ("cuda:0", "cuda:0"), ("cpu", "cpu")])
def test_an_unset_or_bare_cuda_device_means_the_local_rank_gpu(monkeypatch, device, want):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert rank_device(device) == torch.device(want)


def test_without_cuda_an_unset_device_is_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert rank_device(None) == torch.device("cpu")


def test_offload_goes_to_the_local_rank_gpu(monkeypatch):
    import diffusers

    from diffusion import Krea2Renderer

    calls = {}

    class FakePipeline:
        class config:
            is_distilled = True

        @classmethod
        def from_pretrained(cls, path, dtype=None):
            return cls()

        def enable_model_cpu_offload(self, device=None):
            calls["offload"] = device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(diffusers, "Krea2Pipeline", FakePipeline)
    monkeypatch.setattr("diffusion.renderer.resolve_krea2", lambda ref: ref)
    monkeypatch.setattr(Krea2Renderer, "__init__", lambda self, pipe, **kw: None)
    Krea2Renderer.from_pretrained("some/dir", offload=True, dtype="fp32")
    assert calls["offload"] == torch.device("cuda", 1)


def test_standalone_loading_switches_zero3_and_fsdp_loading_off_and_restores_them(monkeypatch):
    import transformers.integrations.deepspeed as hf_deepspeed
    from transformers.integrations import is_deepspeed_zero3_enabled

    sentinel = object()
    monkeypatch.setattr(hf_deepspeed, "_hf_deepspeed_config_weak_ref", sentinel)
    monkeypatch.setenv("FSDP_CPU_RAM_EFFICIENT_LOADING", "true")
    monkeypatch.delenv("ACCELERATE_USE_FSDP", raising=False)
    with standalone_loading():
        assert hf_deepspeed._hf_deepspeed_config_weak_ref is None and not is_deepspeed_zero3_enabled()
        assert os.environ["FSDP_CPU_RAM_EFFICIENT_LOADING"] == "false"
    assert hf_deepspeed._hf_deepspeed_config_weak_ref is sentinel
    assert os.environ["FSDP_CPU_RAM_EFFICIENT_LOADING"] == "true" and "ACCELERATE_USE_FSDP" not in os.environ
