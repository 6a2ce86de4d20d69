"""Run with `torchrun --nproc_per_node 2 reward_models_sharded_env.py OUT MODE`: build the tiny reward suite in
the environment `accelerate launch` sets up for the policy and compare every reward/render model's weights
with its checkpoint files, on every process.

MODE `fsdp2`: the launcher's env (`ACCELERATE_USE_FSDP`, `FSDP_CPU_RAM_EFFICIENT_LOADING`) comes from the
test; transformers would load zeros on local rank 1. MODE `zero3`: DeepSpeed's global config as
`TrainingArguments` installs it under a ZeRO-3 launch; transformers would partition every model.
Writes `OUT/rank<r>.json`: `{"control": <tensors wrong in a bare load>, "models": {name: [checked, wrong]}}`.
"""

import json
import sys
from pathlib import Path

import torch
from accelerate import PartialState
from safetensors.torch import load_file

state = PartialState(cpu=True)
out, mode = Path(sys.argv[1]), sys.argv[2]
keep = None
if mode == "zero3":
    from transformers.integrations import HfDeepSpeedConfig

    keep = HfDeepSpeedConfig({"zero_optimization": {"stage": 3}, "train_micro_batch_size_per_gpu": 1})

from expander.models import resolve_krea2_model
from expander.rewards import RewardSuite, load_rewards_config
from expander.rewards.tiny import resolve_ref


def compare(module: torch.nn.Module, files: list[Path]) -> list[int]:
    """[tensors compared, tensors that differ from the checkpoint (shape or values)]."""
    state_dict = module.state_dict()
    ckpt = {}
    for f in files:
        ckpt.update(load_file(str(f)))
    # transformers 5 may prefix loaded keys (`layer.0...` -> `model.layer.0...`): match on the suffix.
    by_suffix = {}
    for key in state_dict:
        parts = key.split(".")
        for i in range(len(parts)):
            by_suffix.setdefault(".".join(parts[i:]), key)
    by_suffix.update({key: key for key in state_dict})  # an exact name wins over a suffix
    shared = {k: by_suffix[k] for k in ckpt if k in by_suffix}
    assert len(shared) >= 0.9 * len(ckpt), f"{len(shared)} of {len(ckpt)} checkpoint keys found in the module"
    wrong = [
        k
        for k, mk in shared.items()
        if state_dict[mk].shape != ckpt[k].shape or not torch.equal(state_dict[mk].cpu().to(ckpt[k].dtype), ckpt[k])
    ]
    return [len(shared), len(wrong)]


# Control: a bare load in this environment is wrong on some process (proves the environment is live).
from transformers import DINOv3ViTModel

dino_dir = Path(resolve_ref("tiny:dinov3"))
control = compare(DINOv3ViTModel.from_pretrained(str(dino_dir)), [dino_dir / "model.safetensors"])[1]

suite = RewardSuite(load_rewards_config("configs/rewards/tiny.yaml"))
krea = resolve_krea2_model("tiny:krea2")
clip_dir = Path(resolve_ref("tiny:clip").removeprefix("local-dir:"))
models = {
    "dinov3": compare(suite.dino.model, [dino_dir / "model.safetensors"]),
    "aesthetic_head": compare(suite.aesthetic.head, [Path(resolve_ref("tiny:aesthetic-head"))]),
}
for i, clip in enumerate(suite._clips.values()):
    models[f"clip{i}"] = compare(clip.model, [clip_dir / "open_clip_model.safetensors"])
for component in ("text_encoder", "transformer", "vae"):
    models[f"krea2.{component}"] = compare(
        getattr(suite.renderer.pipe, component), sorted((krea / component).glob("*.safetensors"))
    )
(out / f"rank{state.process_index}.json").write_text(json.dumps({"control": control, "models": models}))
