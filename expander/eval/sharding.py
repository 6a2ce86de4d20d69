"""Eval over several processes (`accelerate launch` / `torchrun`): this process's share of the work.

    shard = EvalShard.current()       # None in a single-process run
    check_sharded_eval(cfg, shard)    # EvalShardError for a setup that cannot work

The missing expansion and render chunks are dealt out over the processes (chunk j to process j mod N; the chunks
are the 1-process run's, so every batch, and so every text and image, is the same); the main process then
scores and writes the outputs alone. Every process must see the same `output_dir` and cache directory.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from pathlib import Path

from expander.errors import ExpanderError
from expander.eval.config import EvalConfig

__all__ = ["EvalShard", "EvalShardError", "check_sharded_eval"]


class EvalShardError(ExpanderError, ValueError):
    """A multi-process eval that cannot run (vLLM arms, an output or cache dir not shared by every process)."""


class EvalShard:
    """This process's place in a multi-process eval (`accelerate launch` / `torchrun`).

    Work is planned from the cache on every process between two barriers (no process writes while another
    is still reading what is missing), then chunk j goes to process j mod N.
    """

    def __init__(self, state):
        self.state = state
        self.rank, self.size = state.process_index, state.num_processes
        self.is_main = state.is_main_process

    @classmethod
    def current(cls) -> EvalShard | None:
        """The shard of this process, or None in a single-process run (no process group is started then)."""
        if int(os.environ.get("WORLD_SIZE", "1") or 1) <= 1:
            return None
        import torch
        from accelerate import PartialState

        # Without CUDA accelerate only starts a process group (gloo) when asked for CPU explicitly.
        state = PartialState(cpu=not torch.cuda.is_available())
        return cls(state) if state.num_processes > 1 else None

    def share(self, chunks: list) -> list:
        self.barrier()  # every process has listed what is missing before anyone writes
        return chunks[self.rank :: self.size]

    def barrier(self) -> None:
        self.state.wait_for_everyone()

    def total(self, count: int) -> int:
        from accelerate.utils import gather_object

        return sum(gather_object([count]))

    def from_main(self, obj):
        from accelerate.utils import broadcast_object_list

        return broadcast_object_list([obj if self.is_main else None])[0]


def check_sharded_eval(cfg: EvalConfig, shard: EvalShard | None) -> None:
    """Refuse a multi-process eval that cannot work; raises `EvalShardError`."""
    if shard is None:
        return
    if cfg.reward_server.url:
        raise EvalShardError(
            f"reward_server.url with {shard.size} processes: run the eval in one process (the reward "
            "service's replicas render in parallel; raise reward_server.concurrency to use them)"
        )
    vllm = [a.name for a in cfg.arms if a.backend == "vllm" and not a.is_raw]
    if vllm:
        raise EvalShardError(
            f"arms {vllm} use backend vllm, which is not supported with {shard.size} processes (each would start "
            "its own vLLM under torchrun's RANK/WORLD_SIZE); run the eval in one process (vLLM batches on its own) "
            "or use backend: transformers"
        )
    # Every process reads what the others wrote: output_dir and the cache must be one filesystem.
    token = shard.from_main(uuid.uuid4().hex)
    markers = [
        Path(cfg.output_dir) / f".expander_shared_{token}",
        cfg.resolved_cache_dir() / f".expander_shared_{token}",
    ]
    if shard.is_main:
        for marker in markers:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(socket.gethostname())
    shard.barrier()
    deadline = time.monotonic() + 10.0  # network filesystems cache directory listings
    while not (seen := all(m.is_file() for m in markers)) and time.monotonic() < deadline:
        time.sleep(0.5)
    from accelerate.utils import gather_object

    verdicts = gather_object([(shard.rank, socket.gethostname(), seen)])
    shard.barrier()
    if shard.is_main:
        for marker in markers:
            marker.unlink(missing_ok=True)
    blind = [(rank, host) for rank, host, ok in verdicts if not ok]
    if blind:
        raise EvalShardError(
            f"output_dir {cfg.output_dir} or cache_dir {cfg.resolved_cache_dir()} is not shared by all processes "
            f"(process {blind[0][0]} on host {blind[0][1]} cannot see it); use a filesystem every node mounts "
            f"({os.path.basename(str(markers[0]))} was the marker)"
        )
