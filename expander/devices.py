"""Where models run and in which dtype: one rule for every stage (generation engines, serving, rendering, eval,
rewards), and how inference-only models load whole on every rank of a distributed run.

The default dtype is bf16 on CUDA (half the memory of fp32, and fast there) and fp32 elsewhere: on CPUs
without AVX-512 bf16, bf16 matmuls are several times slower than fp32. torch is imported only when the
device has to be detected, so importing this module costs nothing.

Reward, render and moderation models are never prepared by `accelerate`: they are not trained, so they must
hold the checkpoint's real weights on every process, on that process's own GPU (`rank_device`). Two library
features meant for the policy break that once `GRPOConfig`/`TrainingArguments` has been parsed under
`accelerate launch`, and `standalone_loading()` switches both off for the models loaded inside it:

- ZeRO-3 (`zero3_init_flag: true`): transformers keeps DeepSpeed's config in a module global
  (`transformers.integrations.deepspeed._hf_deepspeed_config_weak_ref`) and builds every later
  `from_pretrained` inside `deepspeed.zero.Init`: the weights are partitioned across ranks (shape `(0,)`).
- FSDP2 `cpu_ram_efficient_loading` (env `ACCELERATE_USE_FSDP` + `FSDP_CPU_RAM_EFFICIENT_LOADING`):
  transformers reads the checkpoint on local rank 0 only and overwrites every tensor with zeros on the other
  local ranks, expecting FSDP to broadcast them in `accelerator.prepare`.

`save_on_any_rank()` is the writing side: caches built by whichever rank wins their file lock get their
weights written even when that rank is not rank 0.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = [
    "default_device",
    "default_dtype",
    "has_cuda",
    "is_cuda",
    "local_process_index",
    "rank_device",
    "resolve_dtype",
    "save_on_any_rank",
    "standalone_loading",
]

_FSDP_ENV = ("ACCELERATE_USE_FSDP", "FSDP_CPU_RAM_EFFICIENT_LOADING")


def has_cuda() -> bool:
    """Whether torch sees a CUDA device."""
    import torch

    return torch.cuda.is_available()


def default_device() -> str:
    """`"cuda"` when a CUDA device is visible, else `"cpu"`."""
    return "cuda" if has_cuda() else "cpu"


def is_cuda(device: Any) -> bool:
    """Whether `device` (a string such as `"cuda:1"`, or a `torch.device`) is a CUDA device."""
    return str(getattr(device, "type", device)).startswith("cuda")


def default_dtype(device: Any = None) -> str:
    """The dtype name models load in on `device` when none is configured.

    Args:
        device: `"cuda"`, `"cuda:N"`, `"cpu"` or a `torch.device`; `None` or `""` = the default device.

    Returns:
        `"bfloat16"` on CUDA, `"float32"` otherwise.
    """
    if not device:
        device = default_device()
    return "bfloat16" if is_cuda(device) else "float32"


def resolve_dtype(dtype: str | None, device: Any = None) -> str:
    """The configured dtype as given (names are not normalised: callers key caches on them), else the default
    for `device` (`default_dtype`)."""
    return dtype if dtype else default_dtype(device)


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
    import torch

    if device is None or str(device) == "cuda":
        if not torch.cuda.is_available():
            return torch.device("cuda") if device is not None else torch.device("cpu")
        return torch.device("cuda", local_process_index())
    return torch.device(device)


@contextlib.contextmanager
def standalone_loading() -> Iterator[None]:
    """Load models whole on this rank: outside DeepSpeed ZeRO-3's `zero.Init` and FSDP's rank-0-only loading.

    Both are restored on exit, so the policy still gets ZeRO-3 / FSDP loading. Also usable as a decorator.
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


@contextlib.contextmanager
def save_on_any_rank() -> Iterator[None]:
    """Let `save_pretrained` write weights on every process while the block runs.

    transformers writes a model's weights only on rank 0 once a torch process group exists
    (`transformers.distributed.mixin.should_save_on_this_rank`). Our caches (the converted built-in model,
    merged adapters, tiny models) are built by whichever process wins their file lock, into a private
    temporary directory: under `torchrun`, a rank other than 0 would otherwise publish a directory without
    weights.
    """
    try:
        import transformers.distributed.mixin as mixin
    except ImportError:  # a transformers without the check
        yield
        return
    saved = mixin._is_torch_distributed_initialized
    mixin._is_torch_distributed_initialized = lambda: False
    try:
        yield
    finally:
        mixin._is_torch_distributed_initialized = saved
