"""Loading inference-only models (reward, render, moderation) whole on every rank of a distributed run.

Reward and render models are never prepared by `accelerate`: they are not trained, so they must hold the
checkpoint's real weights on every process, on that process's own GPU. Two library features meant for the
policy break that once `GRPOConfig`/`TrainingArguments` has been parsed under `accelerate launch`:

- ZeRO-3 (`zero3_init_flag: true`): transformers keeps DeepSpeed's config in a module global
  (`transformers.integrations.deepspeed._hf_deepspeed_config_weak_ref`) and builds every later
  `from_pretrained` inside `deepspeed.zero.Init`: the weights are partitioned across ranks (shape `(0,)`).
- FSDP2 `cpu_ram_efficient_loading` (env `ACCELERATE_USE_FSDP` + `FSDP_CPU_RAM_EFFICIENT_LOADING`):
  transformers reads the checkpoint on local rank 0 only and overwrites every tensor with zeros on the other
  local ranks, expecting FSDP to broadcast them in `accelerator.prepare`.

`standalone_loading()` switches both off for the models loaded inside it and restores them afterwards, so
the policy still gets ZeRO-3 / FSDP loading. `rank_device()` gives each process its own GPU.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["local_process_index", "rank_device", "standalone_loading"]

_FSDP_ENV = ("ACCELERATE_USE_FSDP", "FSDP_CPU_RAM_EFFICIENT_LOADING")


@contextmanager
def standalone_loading() -> Iterator[None]:
    """Load models whole on this rank: outside DeepSpeed ZeRO-3's `zero.Init` and FSDP's rank-0-only loading.

    Not thread-safe (it changes a module global and the process environment): load models from one thread.
    """
    try:
        import transformers.integrations.deepspeed as hf_deepspeed
    except ImportError:  # no transformers: nothing to switch off
        hf_deepspeed = None
    # `DeepSpeedPlugin.zero3_init_context_manager(enable=False)` re-installs the same stage-3 config, so it
    # cannot be used here; clear the global itself (`unset_hf_deepspeed_config()` cannot restore it).
    ref = getattr(hf_deepspeed, "_hf_deepspeed_config_weak_ref", None)
    env = {k: os.environ.get(k) for k in _FSDP_ENV}
    if hf_deepspeed is not None:
        hf_deepspeed._hf_deepspeed_config_weak_ref = None
    os.environ["FSDP_CPU_RAM_EFFICIENT_LOADING"] = "false"  # transformers' is_fsdp_enabled() -> False
    try:
        yield
    finally:
        if hf_deepspeed is not None:
            hf_deepspeed._hf_deepspeed_config_weak_ref = ref
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def local_process_index() -> int:
    """This process's index on its machine: accelerate's state when initialised, else `LOCAL_RANK` (0)."""
    try:
        from accelerate.state import PartialState

        if PartialState._shared_state:  # initialised; never initialise it from here
            return int(PartialState().local_process_index)
    except ImportError:
        pass
    return int(os.environ.get("LOCAL_RANK", "0") or 0)


def rank_device(device: str | torch.device | None) -> torch.device:
    """The device an inference model of this process goes to.

    `None` or a bare `"cuda"` means `cuda:<local rank>` when CUDA is available (else CPU): diffusers' CPU
    offload and an explicit `.to("cuda")` would otherwise put every rank's model on GPU 0. Anything else
    (`"cpu"`, `"cuda:1"`, `"mps"`) is returned unchanged.
    """
    if device is None or str(device) == "cuda":
        if not torch.cuda.is_available():
            return torch.device("cuda") if device is not None else torch.device("cpu")
        return torch.device("cuda", local_process_index())
    return torch.device(device)
