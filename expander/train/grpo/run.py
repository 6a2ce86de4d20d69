"""`main(script_args, training_args, model_args)`: GRPO on rendered images, top to bottom.

Load the prompts, build the reward suite (it sets TRL's reward weights, gate included), load the policy,
train with `ExpanderGRPOTrainer`, resume from the last checkpoint of `output_dir` when there is one.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import torch
from accelerate import PartialState
from accelerate.utils import broadcast_object_list, gather_object
from transformers import TrainerCallback
from trl import GRPOConfig, get_peft_config

from expander.engine.repeat_guard import check_size
from expander.errors import ConfigError
from expander.files import append_jsonl, atomic_write_json, read_jsonl, require_writable_dir, write_jsonl
from expander.train.checkpoints import last_complete_checkpoint
from expander.train.grpo.config import (
    METRICS_FILE,
    TRACKER_FILE,
    GRPOModelConfig,
    GRPOScriptArguments,
    GRPOSetupError,
    rewards_override_args,
)
from expander.train.grpo.dataset import load_prompt_dataset
from expander.train.grpo.trainer import ExpanderGRPOTrainer

logger = logging.getLogger(__name__)

__all__ = [
    "build_policy",
    "build_rewards",
    "check_distributed_setup",
    "check_shared_output_dir",
    "find_resume_checkpoint",
    "main",
]


# ---------------------------------------------------------------------------------------------- policy


def build_policy(model_args: GRPOModelConfig, training_args: GRPOConfig):
    """Load the policy and its tokenizer from a model ref; returns `(model, tokenizer, peft_config)`.

    `peft_config` is a fresh LoRA config when `use_peft` and no SFT adapter, else None (the adapter, if
    any, is already loaded trainable into `model`).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from expander.models import chat_template_kwargs, resolve_adapter, resolve_model

    path = str(resolve_model(model_args.model_name_or_path))
    dtype = model_args.dtype if model_args.dtype not in (None, "auto") else "float32"
    if dtype == "float32" and (training_args.bf16 or training_args.fp16):
        dtype = "bfloat16" if training_args.bf16 else "float16"
    model = AutoModelForCausalLM.from_pretrained(
        path,
        dtype=dtype,
        revision=model_args.model_revision,
        attn_implementation=model_args.attn_implementation,
    )
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if training_args.chat_template_kwargs is None:
        # Thinking off unless the recipe says otherwise: a Qwen3 template would spend max_completion_length
        # on a <think> block. A template without the switch gets no argument.
        training_args.chat_template_kwargs = chat_template_kwargs(tokenizer, False) or None
    sft_adapter = model_args.sft_adapter
    if sft_adapter in ("default", "none"):
        sft_adapter = resolve_adapter(model_args.model_name_or_path, sft_adapter)
        logger.info("sft_adapter %s: %s", model_args.sft_adapter, sft_adapter or "none (bare model)")
    if sft_adapter:
        from peft import PeftModel

        adapter = Path(sft_adapter).expanduser()
        if not (adapter / "adapter_config.json").is_file():
            raise GRPOSetupError(f"sft_adapter {adapter} is not a PEFT adapter directory (no adapter_config.json)")
        model = PeftModel.from_pretrained(model, str(adapter), is_trainable=True)
        return model, tokenizer, None
    return model, tokenizer, get_peft_config(model_args)


# ---------------------------------------------------------------------------------------------- rewards


def build_rewards(script_args: GRPOScriptArguments, training_args: GRPOConfig):
    """The reward suite of `rewards_config` (plus `rewards_overrides`), built for this run's group size; sets
    `training_args.reward_weights` to the suite's weights (gate included).

    GRPO builds the `RewardSuite` itself rather than calling `get_reward_funcs` (the thin adapter that returns
    only functions and weights): the trainer also reads the suite's render cache for its images.

    Returns:
        The `expander.rewards.RewardSuite` (its `funcs` go to the trainer, its `cache` holds the renders).
    """
    from expander.rewards import RewardSuite, load_rewards_config

    if not script_args.rewards_config:
        raise GRPOSetupError("rewards_config is required (e.g. configs/rewards/tiny.yaml)")
    if not Path(script_args.rewards_config).is_file():
        raise GRPOSetupError(f"rewards_config {script_args.rewards_config} does not exist")
    if training_args.reward_weights is not None:
        raise GRPOSetupError(
            "set weights by name with reward_weight_overrides (e.g. '{\"format\": 2.0}'), not reward_weights: "
            "the gate's weight is derived from the others"
        )
    try:
        cfg = load_rewards_config(script_args.rewards_config, rewards_override_args(script_args.rewards_overrides))
    except ValueError as exc:  # ConfigError names the key and the file
        raise GRPOSetupError(str(exc)) from None
    loose = format_range_warning(cfg, script_args.creativity)
    if loose:
        logger.warning(loose)
    overrides = script_args.reward_weight_overrides or {}
    if isinstance(overrides, str):
        try:
            overrides = json.loads(overrides)
        except json.JSONDecodeError as exc:
            raise GRPOSetupError(f"reward_weight_overrides is not a JSON object: {exc.msg}") from None
    if not isinstance(overrides, dict):
        raise GRPOSetupError(f"reward_weight_overrides must map reward names to weights, got {overrides!r}")
    for name, weight in overrides.items():
        if name not in cfg.rewards:
            raise GRPOSetupError(
                f"reward_weight_overrides: {name!r} is not a reward of {script_args.rewards_config} "
                f"({', '.join(cfg.rewards)})"
            )
        try:
            cfg.weights[name] = float(weight)
        except (TypeError, ValueError):
            raise GRPOSetupError(
                f"reward_weight_overrides: weight of {name!r} must be a number, got {weight!r}"
            ) from None
    if cfg.reward_server.url:
        # Rendering and scoring run in the reward service (`expander reward-server`, docs/scaling.md): async
        # reward functions with the same names and weights, no models and no render cache in this process.
        from expander.rewards.remote import RemoteRewards

        suite = RemoteRewards(cfg, num_generations=training_args.num_generations)
    else:
        suite = RewardSuite(cfg, num_generations=training_args.num_generations)
    training_args.reward_weights = list(suite.weights)
    logger.info("rewards: %s", ", ".join(f"{n}={w:g}" for n, w in zip(suite.names, suite.weights)))
    return suite


def format_range_warning(cfg, creativity: str) -> str | None:
    """A warning when the `format` reward accepts shorter texts than the training prompts' creativity level asks
    for, else None. Every other text reward is easier to satisfy in fewer words (fewer chances to break a constraint,
    add a subject or repeat a phrase), so RL then shortens the expansions: issue #26's first medium-creativity run,
    with `format.min_words` 30 against the level's 60, went from 91 to 32 words in 20 steps (27.5 held out)."""
    from expander.prompts import creativity_settings

    if "format" not in cfg.rewards or creativity == "raw":
        return None
    level = creativity_settings(creativity)
    if cfg.format.min_words >= level.min_words:
        return None
    return (
        f"rewards format.min_words {cfg.format.min_words} is below creativity {creativity!r}'s {level.min_words} "
        f"words: RL may learn to shorten the expansions (set --rewards.format.min_words {level.min_words} "
        f"--rewards.format.max_words {level.max_words})"
    )


# ---------------------------------------------------------------------------------------------- logging and resume


class _RunStateCallback(TrainerCallback):
    """Appends every log entry to `metrics.jsonl` (the zero-variance tracker is a checkpoint extra)."""

    def __init__(self, output_dir: Path):
        self.path = output_dir / METRICS_FILE

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            append_jsonl(self.path, [{"step": state.global_step, **logs}])


def _truncate_metrics(path: Path, last_step: int) -> None:
    """Drop log entries past `last_step` (logged after the checkpoint a resumed run restarts from), and a
    line torn by a kill mid-append."""
    if path.is_file():
        write_jsonl(path, [row for row in read_jsonl(path) if row.get("step", 0) <= last_step])


def find_resume_checkpoint(training_args: GRPOConfig) -> str | None:
    """The checkpoint to resume from: `resume_from_checkpoint` if set, else the last complete one in
    `output_dir` (`expander.train.checkpoints`: one whose save failed or was killed is removed, not resumed)."""
    if training_args.resume_from_checkpoint:
        if not Path(training_args.resume_from_checkpoint).is_dir():
            raise GRPOSetupError(f"resume_from_checkpoint {training_args.resume_from_checkpoint} does not exist")
        return training_args.resume_from_checkpoint
    return last_complete_checkpoint(training_args.output_dir)


# ---------------------------------------------------------------------------------------------- several processes


def check_distributed_setup(script_args: GRPOScriptArguments, training_args: GRPOConfig) -> None:
    """Refuse, at start, a multi-process layout that cannot work; log one that works but costs more.

    Raises:
        GRPOSetupError: an explicit `cuda:N` reward/render device that every process of a machine would share.
    """
    from expander.rewards import load_rewards_config

    state = PartialState()
    if state.num_processes == 1:
        return
    per_machine = max(int(os.environ.get("LOCAL_WORLD_SIZE", state.num_processes)), 1)
    if per_machine > 1 and script_args.rewards_config and Path(script_args.rewards_config).is_file():
        try:
            cfg = load_rewards_config(script_args.rewards_config, rewards_override_args(script_args.rewards_overrides))
        except ValueError as exc:
            raise GRPOSetupError(str(exc)) from None
        for key, device in (("device", cfg.device), ("render.device", cfg.render.device)):
            if device and str(device).startswith("cuda:"):
                raise GRPOSetupError(
                    f"rewards {key} {device} ({script_args.rewards_config}) would be shared by all {per_machine} "
                    f"processes on this machine; leave it unset or 'cuda' (each process uses cuda:<local rank>)"
                )
    per_rank = training_args.per_device_train_batch_size * training_args.steps_per_generation
    if per_rank % training_args.num_generations and state.is_main_process:
        logger.info(
            "groups are split across processes (per_device_train_batch_size x steps_per_generation = %d, "
            "num_generations = %d): diversity gathers each group's embeddings; identical completions of a "
            "group on different processes are rendered once per process",
            per_rank,
            training_args.num_generations,
        )


def check_shared_output_dir(out: Path, timeout_s: float = 10.0) -> None:
    """Check that every process sees the same `out` (one filesystem for all nodes); no-op in one process.

    Process 0 writes a marker file with a fresh token; every process looks for it (retrying for up to
    `timeout_s`: network filesystems cache directory listings). Checkpoints are written by process 0 only
    and every process resumes from them, so a disk per node cannot work.

    Raises:
        GRPOSetupError: on every process, naming one that cannot see the marker.
    """
    import socket
    import time
    import uuid

    state = PartialState()
    if state.num_processes == 1:
        return
    [token] = broadcast_object_list([uuid.uuid4().hex if state.is_main_process else None])
    marker = out / f".expander_shared_{token}"
    if state.is_main_process:
        marker.write_text(socket.gethostname())
    state.wait_for_everyone()
    deadline = time.monotonic() + timeout_s
    while not (seen := marker.is_file()) and time.monotonic() < deadline:
        time.sleep(0.5)
    verdicts = gather_object([(state.process_index, socket.gethostname(), seen)])
    state.wait_for_everyone()
    if state.is_main_process:
        marker.unlink(missing_ok=True)
    blind = [(rank, host) for rank, host, ok in verdicts if not ok]
    if blind:
        rank, host = blind[0]
        raise GRPOSetupError(
            f"output_dir {out} is not shared by all processes ({len(blind)} cannot see it, e.g. process {rank} on "
            f"host {host}); put output_dir on a filesystem every node mounts at the same path"
        )


# ---------------------------------------------------------------------------------------------- main


def main(
    script_args: GRPOScriptArguments, training_args: GRPOConfig, model_args: GRPOModelConfig
) -> ExpanderGRPOTrainer:
    """Train the expander with GRPO on rendered images; returns the trainer (its `state` has the history).

    Writes to `training_args.output_dir`: checkpoints, the final adapter/model, `metrics.jsonl`,
    `completions/step_*.jsonl`, `image_grids/step_*.png` and the `report_to` logs.
    """
    if script_args.torch_threads is not None and script_args.torch_threads < 1:
        raise GRPOSetupError(f"torch_threads must be >= 1, got {script_args.torch_threads}")
    try:
        check_size(script_args.rollout_no_repeat_ngram, "rollout_no_repeat_ngram")
    except ConfigError as exc:
        raise GRPOSetupError(str(exc)) from None
    if script_args.rollout_no_repeat_ngram and training_args.use_vllm:
        raise GRPOSetupError(
            "rollout_no_repeat_ngram needs transformers rollouts: TRL's vLLM generation takes no logits processor "
            "(set use_vllm false, or rollout_no_repeat_ngram 0)"
        )
    previous_threads = torch.get_num_threads()
    if script_args.torch_threads is not None:
        torch.set_num_threads(script_args.torch_threads)
    try:
        return _train(script_args, training_args, model_args)
    finally:
        # The setting is this run's: an in-process caller (a notebook, the test suite) gets its own count back.
        torch.set_num_threads(previous_threads)


def _train(
    script_args: GRPOScriptArguments, training_args: GRPOConfig, model_args: GRPOModelConfig
) -> ExpanderGRPOTrainer:
    out = require_writable_dir(training_args.output_dir, "output_dir")  # a read-only or full disk fails now
    check_shared_output_dir(out)

    dataset = load_prompt_dataset(script_args)
    if len(dataset) * training_args.num_generations < training_args.generation_batch_size:
        raise GRPOSetupError(
            f"{len(dataset)} prompts x num_generations {training_args.num_generations} cannot fill one generation "
            f"batch of {training_args.generation_batch_size} completions; add prompts or lower the batch size"
        )
    check_distributed_setup(script_args, training_args)
    suite = build_rewards(script_args, training_args)
    if PartialState().num_processes > 1:
        # A group may be split across processes: diversity gathers its members' embeddings (a collective).
        suite.group_gather = gather_object
    model, tokenizer, peft_config = build_policy(model_args, training_args)

    trainer = ExpanderGRPOTrainer(
        model=model,
        processing_class=tokenizer,
        reward_funcs=list(suite.funcs),
        args=training_args,
        train_dataset=dataset,
        peft_config=peft_config,
        script_args=script_args,
        render_cache=suite.cache,
    )
    trainer.reward_suite = suite
    trainer.add_callback(_RunStateCallback(out))
    trainer.checkpoint_extras[TRACKER_FILE] = trainer.zero_std_tracker.state_dict

    # Process 0 decides where to resume and tells the others: every node resumes from the same step.
    [checkpoint] = broadcast_object_list(
        [find_resume_checkpoint(training_args) if trainer.accelerator.is_main_process else None]
    )
    last_step = 0
    if checkpoint is not None:
        last_step = int(json.loads((Path(checkpoint) / "trainer_state.json").read_text())["global_step"])
        tracker_file = Path(checkpoint) / TRACKER_FILE
        if tracker_file.is_file():  # every process: the samplers must drop the same prompts
            trainer.zero_std_tracker.load_state_dict(json.loads(tracker_file.read_text()))
        logger.info("resuming from %s (global step %d)", checkpoint, last_step)
    if trainer.accelerator.is_main_process:
        _truncate_metrics(out / METRICS_FILE, last_step)
    trainer.accelerator.wait_for_everyone()
    trainer.train(resume_from_checkpoint=checkpoint)

    trainer.save_model(str(out))
    if trainer.accelerator.is_main_process:
        tokenizer.save_pretrained(str(out))
        atomic_write_json(
            out / "grpo_run.json",
            {
                "model": model_args.model_name_or_path,
                "sft_adapter": model_args.sft_adapter,
                "rewards_config": script_args.rewards_config,
                "reward_funcs": trainer.reward_func_names,
                "reward_weights": list(training_args.reward_weights or []),
                "resumed_from": checkpoint,
                "global_step": trainer.state.global_step,
            },
        )
    return trainer
