"""Run with `torchrun --nproc_per_node 2`: diversity of groups split across the two processes.

Writes `<out>/rank<r>.json` with each check's verdict (asserted by tests/distributed/test_diversity_gather.py).
"""

import json
import sys
from pathlib import Path

import torch
from accelerate import PartialState
from accelerate.utils import gather_object

from expander.rewards.diversity import gathered_group_diversity, group_diversity

state = PartialState(cpu=True)
out = Path(sys.argv[1])
rank, world = state.process_index, state.num_processes
verdicts = {}

# 1. Exact: three groups of 4 in consecutive per-rank chunks of 6, as TRL cuts them (group b split 2/2).
g = torch.Generator().manual_seed(0)
all_emb = [torch.randn(8, generator=g) for _ in range(12)]
all_emb[9] = None  # a failed render: left out of its group's means
all_ids = ["a"] * 4 + ["b"] * 4 + ["c"] * 4
chunk = len(all_ids) // world
mine = slice(rank * chunk, (rank + 1) * chunk)
got = gathered_group_diversity(all_emb[mine], all_ids[mine], gather_object)
want = group_diversity(all_emb, all_ids)[mine]
verdicts["exact"] = [got, want]
local_only = group_diversity(all_emb[mine], all_ids[mine])
verdicts["local_differs"] = local_only != want

# 2. The reward suite's `diversity` function, one member of each 2-group per process (alone it is None).
from expander.rewards import RewardSuite, load_rewards_config

cfg = load_rewards_config(
    "configs/rewards/tiny.yaml", {"rewards": ["diversity"], "gates.safety": False, "gates.constraints": False}
)
suite = RewardSuite(cfg, num_generations=2)
suite.group_gather = gather_object
[diversity] = suite.funcs
shorts = ["a castle on a hill", "a castle on a hill", "a red fox in snow", "a red fox in snow"]
texts = [
    "A stone castle on a green hill at dusk, pixel art.",
    "A ruined castle on a hill under storm clouds.",
    "A red fox in deep snow at dawn, telephoto.",
    "A fox curled asleep in the snow, watercolor.",
]
# TRL's layout with per_device_train_batch_size 1: process r gets rows r, r+2 (one member of each group).
idx = [rank, rank + 2] if world == 2 else list(range(4))
values = diversity([shorts[i] for i in idx], [texts[i] for i in idx], step=0)
everyone = gather_object([(i, v) for i, v in zip(idx, values)])
if state.is_main_process:
    suite.group_gather = None  # one process, whole groups: the reference
    reference = diversity(shorts, texts, step=0)
    verdicts["suite"] = [[v for _, v in sorted(everyone)], reference]
(out / f"rank{rank}.json").write_text(json.dumps(verdicts))
# Leave together and take the process group down before exit: a rank that exits while its peer still computes the
# reference can abort in gloo's teardown ("terminate called without an active exception", seen once in CI).
state.wait_for_everyone()
if torch.distributed.is_initialized():
    torch.distributed.destroy_process_group()
