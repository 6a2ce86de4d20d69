"""GRPO on rendered images: the expander learns from what Krea 2 actually draws.

    expander grpo --config configs/grpo/tiny_cpu.yaml [--max_steps 2 --output_dir DIR ...]

One linear `main(script_args, training_args, model_args)` in the TRL recipe style:

1. prompts: the short side of the synth dataset (column `short`) plus optional prompt files (txt: one
   prompt a line; jsonl: one object a line with the prompt column); each becomes the conversational prompt
   `expander.prompts.build_messages(short, creativity)` and keeps the short prompt as the `short_prompt`
   column, so the rewards judge faithfulness against what the user typed, never against the expansion;
2. policy: a model ref (`expander.models.resolve_model`: built-in name, local dir or hub id), LoRA by
   default, optionally continuing an SFT adapter;
3. rewards and weights from the reward registry (`expander.rewards.RewardSuite`, named by
   `rewards_config`, weights overridable by name); the suite renders each completion once per step
   (render cache) and adds the gate; TRL aggregates with `multi_objective_aggregation` (GDPO-style
   `normalize_then_sum`, which the gate guarantee assumes);
4. TRL `GRPOTrainer` with a thin subclass that adds what a tuning team looks at: the share of groups whose
   rewards had no variance (`frac_group_zero_std`, the "hard-but-not-hopeless" signal), a completions table
   per step (`completions/step_XXXXXX.jsonl`: every reward, the registry's extra columns such as gate
   reasons, and the path of each rendered image under `images/`), an image grid every `image_grid_steps`
   steps (`image_grids/step_XXXXXX.png`, also sent to tensorboard or wandb), and optionally dropping
   prompts whose groups had no reward variance for k epochs. The images come from the suite's render
   cache: nothing is rendered twice;
5. automatic resume: re-running into an output dir that holds checkpoints continues from the last one,
   with the same global step numbering; `metrics.jsonl` is cut back to the checkpoint so no step is
   logged twice.
"""

from __future__ import annotations

import json
import logging
import math
import os
import textwrap
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from trl import GRPOConfig, GRPOTrainer, ModelConfig, TrlParser, get_peft_config
from trl.trainer.utils import RepeatSampler, nanstd
from transformers import TrainerCallback

from expander.files import iter_jsonl
from expander.prompts import CREATIVITY_LEVELS, DEFAULT_CREATIVITY, PromptError, build_messages, validate_prompt

logger = logging.getLogger(__name__)

__all__ = [
    "ExpanderGRPOTrainer",
    "GRPOModelConfig",
    "GRPOScriptArguments",
    "GRPOSetupError",
    "ZeroVarianceTracker",
    "load_prompt_dataset",
    "main",
    "make_parser",
    "save_image_grid",
]

SHORT_COLUMN = "short_prompt"
"""Training-set column holding the user's short prompt; the reward functions receive it as a keyword argument
(`expander.rewards` judges faithfulness and derives render seeds from it)."""

TRACKER_FILE = "zero_std_prompts.json"
METRICS_FILE = "metrics.jsonl"


class GRPOSetupError(ValueError):
    """A GRPO config that cannot run (missing data, empty prompt set, weights that do not match the rewards)."""


@dataclass
class GRPOScriptArguments:
    """What GRPO trains on and what it reports, beside TRL's `GRPOConfig` and the model config.

    Attributes:
        dataset_name: the synth output (a `datasets` directory saved with `save_to_disk`, a directory of
            Parquet files named by split, one `.parquet`/`.jsonl` file) or a hub dataset id. Optional when
            `prompt_files` is given.
        dataset_split: split of `dataset_name` to train on.
        prompt_column: column of `dataset_name` holding the short prompt.
        prompt_files: extra prompt files: `.txt` (one prompt a line, `#` comments) or `.jsonl` (objects with
            `prompt_column`).
        max_prompts: keep only the first N distinct prompts (after de-duplication); None keeps all.
        creativity: creativity level the prompts are built with (`expander.prompts`), not `raw`.
        rewards_config: the reward registry config (`expander.rewards.load_rewards_config`).
        reward_weight_overrides: reward name -> weight, replacing the rewards config's weights (the gate's
            weight is re-derived from them). TRL's `reward_weights` is refused: it would bypass that.
        rewards_overrides: `KEY=VALUE` overrides of any rewards config key (dotted for sections:
            `format.max_words=30`, `render.height=512`), applied as `--KEY VALUE` by its loader.
        image_grid_steps: save an image grid every this many steps (0 = never).
        image_grid_prompts: rows of the grid (groups shown); columns are the group members.
        save_images: write each step's images to `images/step_XXXXXX/` so the completions table holds
            file paths (JPEG, about 50 KB per 512x512 image).
        torch_threads: CPU threads of torch in this process (policy, renderer, reward models). On a CPU
            shared with other jobs, 1 avoids thread oversubscription (measured here under load: 8 x 16-token
            generation took 12 s with 1 thread, 211 s with 2).
        drop_zero_std_epochs: drop a prompt after its group had zero reward variance in this many consecutive
            epochs (0 = never drop). At least one generation batch of prompts is always kept.
    """

    dataset_name: str | None = field(default=None, metadata={"help": "synth dataset dir/file or hub id"})
    dataset_split: str = field(default="train", metadata={"help": "split of dataset_name"})
    prompt_column: str = field(default="short", metadata={"help": "column with the short prompt"})
    prompt_files: list[str] | None = field(default=None, metadata={"help": "extra .txt/.jsonl prompt files"})
    max_prompts: int | None = field(default=None, metadata={"help": "keep the first N distinct prompts"})
    creativity: str = field(default=DEFAULT_CREATIVITY, metadata={"help": "low, medium or high"})
    rewards_config: str | None = field(default=None, metadata={"help": "reward registry YAML"})
    reward_weight_overrides: dict | str | None = field(
        default=None, metadata={"help": 'JSON object, e.g. \'{"format": 2.0}\''})
    rewards_overrides: list[str] | None = field(
        default=None, metadata={"help": "KEY=VALUE overrides of the rewards config, e.g. format.max_words=30"})
    image_grid_steps: int = field(default=10, metadata={"help": "image grid every N steps (0: off)"})
    image_grid_prompts: int = field(default=4, metadata={"help": "grid rows (prompts)"})
    drop_zero_std_epochs: int = field(default=0, metadata={"help": "drop prompts with k zero-std epochs"})
    save_images: bool = field(default=True, metadata={"help": "save every rendered image (JPEG) for the table"})
    torch_threads: int | None = field(default=None, metadata={"help": "torch CPU threads (None: torch's default)"})


@dataclass
class GRPOModelConfig(ModelConfig):
    """TRL's `ModelConfig` with LoRA on by default, a model *ref* and an optional SFT adapter.

    Attributes:
        model_name_or_path: a model ref: built-in name (`smollm2-135m`), local HF dir or hub id.
        sft_adapter: a PEFT adapter directory (from `expander sft`) to keep training, or `default` for the
            model's shipped default adapter (the built-in expander's SFT adapter; the bare model if none is
            shipped). LoRA settings then come from the adapter, not from `lora_*`.
    """

    model_name_or_path: str | None = field(default="smollm2-135m", metadata={"help": "model ref"})
    use_peft: bool = field(default=True, metadata={"help": "train a LoRA adapter (default) or all weights"})
    sft_adapter: str | None = field(default=None, metadata={"help": "SFT adapter dir to continue, or 'default'"})


def make_parser() -> TrlParser:
    """The `--config YAML` + `--key value` parser over (script args, `GRPOConfig`, model config)."""
    return TrlParser((GRPOScriptArguments, GRPOConfig, GRPOModelConfig), prog="expander grpo")


# ---------------------------------------------------------------------------------------------- prompts


def _read_prompt_file(path: Path, column: str) -> list[str]:
    if not path.is_file():
        raise GRPOSetupError(f"prompt file {path} does not exist")
    prompts: list[str] = []
    if path.suffix == ".jsonl":
        for n, row in iter_jsonl(path, GRPOSetupError):
            if not isinstance(row.get(column), str):
                raise GRPOSetupError(f"{path}:{n}: expected an object with a string {column!r} field")
            prompts.append(row[column])
    elif path.suffix in (".txt", ""):
        prompts = [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    else:
        raise GRPOSetupError(f"prompt file {path}: unsupported suffix {path.suffix!r} (use .txt or .jsonl)")
    return prompts


def _read_dataset_prompts(ref: str, split: str, column: str) -> list[str]:
    import datasets

    path = Path(ref).expanduser()
    if path.is_dir() and ((path / "dataset_dict.json").is_file() or (path / "dataset_info.json").is_file()):
        loaded = datasets.load_from_disk(str(path))
        table = loaded[split] if isinstance(loaded, datasets.DatasetDict) else loaded
    elif path.is_dir():
        files = sorted(str(p) for p in path.rglob(f"{split}*.parquet")) or sorted(
            str(p) for p in path.rglob(f"{split}/*.parquet")
        )
        if not files:
            raise GRPOSetupError(f"dataset directory {path} has no saved dataset and no {split}*.parquet files")
        table = datasets.load_dataset("parquet", data_files=files, split="train")
    elif path.is_file():
        kind = {".parquet": "parquet", ".jsonl": "json", ".json": "json"}.get(path.suffix)
        if kind is None:
            raise GRPOSetupError(f"dataset file {path}: unsupported suffix {path.suffix!r}")
        table = datasets.load_dataset(kind, data_files=str(path), split="train")
    else:
        try:
            table = datasets.load_dataset(ref, split=split)
        except Exception as exc:  # noqa: BLE001 - any loader failure is reported with the ref
            raise GRPOSetupError(f"cannot load dataset {ref!r} (split {split!r}): {type(exc).__name__}: {exc}") from None
    if column not in table.column_names:
        raise GRPOSetupError(f"dataset {ref!r} has no column {column!r}; columns: {', '.join(table.column_names)}")
    return list(table[column])


def load_prompt_dataset(script_args: GRPOScriptArguments):
    """The training prompts as a `datasets.Dataset` with columns `prompt` (chat messages) and `short`.

    Prompts from the dataset and the prompt files are validated (`expander.prompts.validate_prompt`),
    de-duplicated in order, and cut to `max_prompts`.

    Raises:
        GRPOSetupError: no source given, a source missing or malformed, an invalid prompt (with its source
            and position), or no prompts at all.
    """
    import datasets

    if script_args.creativity not in CREATIVITY_LEVELS or script_args.creativity == "raw":
        raise GRPOSetupError(
            f"creativity must be one of {', '.join(k for k in CREATIVITY_LEVELS if k != 'raw')}, "
            f"got {script_args.creativity!r}"
        )
    sources: list[tuple[str, list[str]]] = []
    if script_args.dataset_name:
        sources.append((script_args.dataset_name, _read_dataset_prompts(
            script_args.dataset_name, script_args.dataset_split, script_args.prompt_column)))
    for name in script_args.prompt_files or []:
        sources.append((name, _read_prompt_file(Path(name), script_args.prompt_column)))
    if not sources:
        raise GRPOSetupError("no prompts: set dataset_name and/or prompt_files")
    shorts: list[str] = []
    seen: set[str] = set()
    for name, prompts in sources:
        for i, raw in enumerate(prompts):
            try:
                text = validate_prompt(raw)
            except PromptError as exc:
                raise GRPOSetupError(f"{name}: prompt #{i + 1}: {exc}") from None
            if text not in seen:
                seen.add(text)
                shorts.append(text)
    if script_args.max_prompts is not None:
        shorts = shorts[: script_args.max_prompts]
    if not shorts:
        raise GRPOSetupError(f"no prompts found in {', '.join(n for n, _ in sources)}")
    return datasets.Dataset.from_dict({
        "prompt": [build_messages(s, script_args.creativity) for s in shorts],
        SHORT_COLUMN: shorts,
    })


# ---------------------------------------------------------------------------------------------- policy


def build_policy(model_args: GRPOModelConfig, training_args: GRPOConfig):
    """Load the policy and its tokenizer from a model ref; returns `(model, tokenizer, peft_config)`.

    `peft_config` is a fresh LoRA config when `use_peft` and no SFT adapter, else None (the adapter, if
    any, is already loaded trainable into `model`).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from expander.models import resolve_adapter, resolve_model

    path = str(resolve_model(model_args.model_name_or_path))
    dtype = model_args.dtype if model_args.dtype not in (None, "auto") else "float32"
    if dtype == "float32" and (training_args.bf16 or training_args.fp16):
        dtype = "bfloat16" if training_args.bf16 else "float16"
    model = AutoModelForCausalLM.from_pretrained(
        path, dtype=dtype, revision=model_args.model_revision,
        attn_implementation=model_args.attn_implementation,
    )
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
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
    """The reward suite of `rewards_config`, built for this run's group size; sets
    `training_args.reward_weights` to the suite's weights (gate included).

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
    overrides_argv: list[str] = []
    for item in script_args.rewards_overrides or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise GRPOSetupError(f"rewards_overrides: expected KEY=VALUE, got {item!r}")
        overrides_argv.append(f"--{key.strip().removeprefix('--')}={value}")
    try:
        cfg = load_rewards_config(script_args.rewards_config, overrides_argv)
    except ValueError as exc:  # ConfigError names the key and the file
        raise GRPOSetupError(str(exc)) from None
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
            raise GRPOSetupError(f"reward_weight_overrides: weight of {name!r} must be a number, got {weight!r}") from None
    suite = RewardSuite(cfg, num_generations=training_args.num_generations)
    training_args.reward_weights = list(suite.weights)
    logger.info("rewards: %s", ", ".join(f"{n}={w:g}" for n, w in zip(suite.names, suite.weights)))
    return suite


# ---------------------------------------------------------------------------------------------- trainer


class ZeroVarianceTracker:
    """Counts, per short prompt, the consecutive epochs in which its group's rewards had no variance.

    A prompt whose G completions all score the same teaches nothing (its advantages are all zero). After
    `patience` such epochs in a row it is dropped from sampling; one group with variance resets its count.
    Rewards are computed once per generation batch and each prompt is in one generation batch per epoch,
    so one update per prompt is one epoch.
    """

    def __init__(self, patience: int):
        self.patience = patience
        self.streak: dict[str, int] = {}
        self.dropped: set[str] = set()

    def update(self, shorts: list[str], zero_std: list[bool]) -> None:
        for short, zero in zip(shorts, zero_std):
            self.streak[short] = self.streak.get(short, 0) + 1 if zero else 0
            if self.patience > 0 and self.streak[short] >= self.patience:
                self.dropped.add(short)

    def state_dict(self) -> dict[str, Any]:
        return {"patience": self.patience, "streak": self.streak, "dropped": sorted(self.dropped)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.streak = {str(k): int(v) for k, v in state.get("streak", {}).items()}
        self.dropped = set(state.get("dropped", []))


class _DroppingRepeatSampler(RepeatSampler):
    """TRL's `RepeatSampler` over the prompts the tracker has not dropped (the set is read once per epoch)."""

    def __init__(self, shorts: list[str], tracker: ZeroVarianceTracker, **kwargs):
        super().__init__(**kwargs)
        self.shorts = shorts
        self.tracker = tracker

    def _active(self) -> list[int]:
        order = torch.randperm(self.num_samples, generator=self.generator).tolist() if self.shuffle else list(
            range(self.num_samples))
        active = [i for i in order if self.shorts[i] not in self.tracker.dropped]
        if len(active) < self.batch_size:  # never starve training: keep one full generation batch
            active = order[: self.batch_size]
        return active

    def __iter__(self):
        indexes = self._active()
        chunks = [indexes[i: i + self.batch_size] for i in range(0, len(indexes), self.batch_size)]
        for chunk in (c for c in chunks if len(c) == self.batch_size):
            for _ in range(self.repeat_count):
                for index in chunk:
                    for _ in range(self.mini_repeat_count):
                        yield index

    def __len__(self) -> int:
        kept = max(sum(s not in self.tracker.dropped for s in self.shorts), self.batch_size)
        return (kept // self.batch_size) * self.batch_size * self.mini_repeat_count * self.repeat_count


class ExpanderGRPOTrainer(GRPOTrainer):
    """`GRPOTrainer` plus per-group variance stats, a completions table per step, image grids and a
    per-step time split.

    Everything is added around TRL's methods (`_generate`, `_calculate_rewards` after the rewards ran and
    before their extra columns are flushed, `training_step`), so TRL's own generation, aggregation, loss and
    logging are untouched.

    Logged per step, beside TRL's metrics: `frac_group_zero_std`, `prompts_dropped`, and `timing/*_s`
    (wall seconds): `generation`, `rendering` (the render cache's renderer calls), `scoring` (reward
    functions minus rendering), `backward` (loss forward + backward), `other` (the rest of the step:
    log-probs, tokenisation, optimizer, our table and grid) and `step`.
    """

    def __init__(self, *args, script_args: GRPOScriptArguments, render_cache=None, **kwargs):
        self.script_args = script_args
        self.render_cache = render_cache
        self.zero_std_tracker = ZeroVarianceTracker(script_args.drop_zero_std_epochs)
        self._phase: dict[str, float] = defaultdict(float)
        self._step_started: float | None = None
        super().__init__(*args, **kwargs)
        self.add_callback(_StepTimer(self))

    def _generate(self, prompts):
        start = time.perf_counter()
        try:
            return super()._generate(prompts)
        finally:
            self._phase["generation"] += time.perf_counter() - start

    def _prepare_inputs(self, generation_batch):
        start = time.perf_counter()
        try:
            return super()._prepare_inputs(generation_batch)
        finally:
            self._phase["prepare"] += time.perf_counter() - start

    def training_step(self, model, inputs, num_items_in_batch):
        start = time.perf_counter()
        prepare_before = self._phase["prepare"]
        try:
            return super().training_step(model, inputs, num_items_in_batch)
        finally:
            self._phase["backward"] += time.perf_counter() - start - (self._phase["prepare"] - prepare_before)

    def _finish_step_timing(self) -> None:
        if self._step_started is None:
            return
        step = time.perf_counter() - self._step_started
        parts = {k: self._phase[k] for k in ("generation", "rendering", "scoring", "backward")}
        for name, value in parts.items():
            self._metrics["train"][f"timing/{name}_s"].append(value)
        self._metrics["train"]["timing/other_s"].append(step - sum(parts.values()))
        self._metrics["train"]["timing/step_s"].append(step)
        self._phase.clear()
        self._step_started = None

    def _get_train_sampler(self, dataset=None):
        if self.script_args.drop_zero_std_epochs <= 0:
            return super()._get_train_sampler(dataset)
        dataset = dataset if dataset is not None else self.train_dataset
        return _DroppingRepeatSampler(
            shorts=list(dataset[SHORT_COLUMN]), tracker=self.zero_std_tracker,
            data_source=dataset, mini_repeat_count=self.num_generations,
            batch_size=self.args.generation_batch_size // self.num_generations,
            repeat_count=self.num_iterations * self.args.steps_per_generation,
            shuffle=self.shuffle_dataset, seed=self.args.seed,
        )

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        start = time.perf_counter()
        rendered_before = self.render_cache.render_seconds if self.render_cache is not None else 0.0
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        rendering = (self.render_cache.render_seconds if self.render_cache is not None else 0.0) - rendered_before
        self._phase["rendering"] += rendering
        self._phase["scoring"] += time.perf_counter() - start - rendering
        mode = "train" if self.model.training else "eval"
        if mode != "train":
            return rewards_per_func
        group_size = self.num_generations
        grouped = rewards_per_func.view(-1, group_size, rewards_per_func.shape[1])
        # A group teaches nothing when no reward separates its members (NaN = unscored: ignored).
        spread = torch.nan_to_num(nanstd(grouped, dim=1), nan=0.0)  # (groups, funcs)
        zero_std = (spread < 1e-6).all(dim=1)
        self._metrics[mode]["frac_group_zero_std"].append(zero_std.float().mean().item())
        if self.accelerator.num_processes == 1:
            # Multi-process: rewards are gathered but inputs are local; the table and grid are written from
            # single-process runs only, where both line up.
            shorts = [x.get(SHORT_COLUMN, "") for x in inputs]
            self.zero_std_tracker.update(shorts[::group_size], zero_std.tolist())
            self._metrics[mode]["prompts_dropped"].append(float(len(self.zero_std_tracker.dropped)))
            step = self.state.global_step + 1  # the step these completions are about to train
            extras = {k: list(v) for k, v in self._pending_extra_logs.items()}
            images = self._rendered_images(inputs, completions)
            if images is not None and self.script_args.save_images:
                extras["image"] = self._save_images(step, images)
                # TRL's own completions table (log_completions: console, wandb, trackio) gets the paths too.
                self._log_completion_extra("image", extras["image"])
            self._write_completions_table(step, shorts, completions, rewards_per_func, extras)
            every = self.script_args.image_grid_steps
            if every > 0 and (step == 1 or step % every == 0):
                self._save_grid(step, shorts, completions, images)
        return rewards_per_func

    def _rendered_images(self, inputs, completions) -> list | None:
        """This step's images, read back from the suite's render cache (hits: nothing is rendered again)."""
        if self.render_cache is None:
            return None
        from expander.prompts import clean_output
        from expander.rewards.registry import completion_text

        shorts = [x[SHORT_COLUMN] for x in inputs]
        # The registry renders the cleaned completion (an empty one has no image); the same key here is a
        # cache hit. The end-to-end test checks renders == distinct completions, so a drift shows up there.
        texts = [clean_output(completion_text(c)) for c in completions]
        return self.render_cache.images_for(shorts, texts, self.state.global_step)

    def _save_images(self, step: int, images: list) -> list[str | None]:
        """Write each completion's image to `images/step_XXXXXX/NNN.jpg`; returns the paths (None: no image)."""
        folder = Path(self.args.output_dir) / "images" / f"step_{step:06d}"
        folder.mkdir(parents=True, exist_ok=True)
        paths: list[str | None] = []
        for i, image in enumerate(images):
            pil = _to_pil(image)
            if pil is None:  # the render failed; its rewards are None
                paths.append(None)
                continue
            path = folder / f"{i:03d}.jpg"
            tmp = folder / f".{i:03d}.tmp.jpg"
            pil.save(tmp, quality=90)
            os.replace(tmp, path)
            paths.append(str(path))
        return paths

    def _write_completions_table(self, step, shorts, completions, rewards_per_func, extras) -> None:
        out = Path(self.args.output_dir) / "completions"
        out.mkdir(parents=True, exist_ok=True)
        rows = []
        for i, (short, completion) in enumerate(zip(shorts, completions)):
            row = {"step": step, "group": i // self.num_generations, SHORT_COLUMN: short,
                   "completion": _completion_text(completion)}
            for j, name in enumerate(self.reward_func_names):
                value = rewards_per_func[i, j].item()
                row[f"reward/{name}"] = None if math.isnan(value) else value
            for column, values in extras.items():
                if i < len(values):
                    row[column] = values[i] if isinstance(values[i], (str, int, float, bool, type(None))) else str(values[i])
            rows.append(row)
        _atomic_write_text(out / f"step_{step:06d}.jsonl", "".join(json.dumps(r) + "\n" for r in rows))

    def _save_grid(self, step, shorts, completions, images) -> None:
        if not images:
            logger.warning("step %d: the rewards render no images; image grid skipped", step)
            return
        groups = min(self.script_args.image_grid_prompts, len(shorts) // self.num_generations)
        n = groups * self.num_generations
        path = Path(self.args.output_dir) / "image_grids" / f"step_{step:06d}.png"
        grid = save_image_grid(
            path, [shorts[i] for i in range(0, n, self.num_generations)],
            [_completion_text(c) for c in completions[:n]], list(images[:n]), self.num_generations,
        )
        self._send_grid(grid, step)

    def _send_grid(self, grid, step: int) -> None:
        import numpy as np
        from transformers.integrations import TensorBoardCallback

        for cb in self.callback_handler.callbacks:
            if isinstance(cb, TensorBoardCallback) and getattr(cb, "tb_writer", None) is not None:
                cb.tb_writer.add_image("image_grid", np.asarray(grid), step, dataformats="HWC")
        if "wandb" in (self.args.report_to or []):
            try:
                import wandb

                if wandb.run is not None:
                    wandb.log({"image_grid": wandb.Image(grid)}, step=step)
            except ImportError:
                pass


def _to_pil(image):
    """A PIL image from a PIL image or a float tensor (3, H, W) in [0, 1]; None for anything else."""
    if hasattr(image, "convert"):
        return image.convert("RGB")
    if isinstance(image, torch.Tensor) and image.ndim == 3:
        from PIL import Image

        array = (image.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        return Image.fromarray(array)
    return None


def _completion_text(completion) -> str:
    if isinstance(completion, list):  # conversational: [{"role": "assistant", "content": ...}]
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    return str(completion)


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_image_grid(path: Path, shorts: list[str], expansions: list[str], images: list, group_size: int,
                    tile: int = 256, text_lines: int = 6):
    """Write an image grid PNG: one row per prompt (its short prompt above the row), one column per group
    member, the expansion text under each image.

    Args:
        path: output PNG (written to a temp file, then renamed).
        shorts: the R short prompts, one per row.
        expansions: R * `group_size` completion texts, row-major.
        images: R * `group_size` images (PIL images, (3, H, W) tensors in [0, 1] or file paths), row-major.
        group_size: columns.
        tile: side of each image cell in pixels (images are resized to it).
        text_lines: lines of expansion text kept under each image.

    Returns:
        The grid as a PIL RGB image.
    """
    from PIL import Image, ImageDraw, ImageFont

    rows = len(shorts)
    if len(images) != rows * group_size or len(expansions) != rows * group_size:
        raise ValueError(f"need {rows} x {group_size} images and expansions, got {len(images)} and {len(expansions)}")
    font = ImageFont.load_default(12)
    line_h, pad = 14, 6
    header = line_h + pad
    caption = line_h * text_lines + pad
    chars = max(tile // 7, 10)
    grid = Image.new("RGB", (group_size * (tile + pad) + pad, rows * (header + tile + caption)), "white")
    draw = ImageDraw.Draw(grid)
    for r in range(rows):
        top = r * (header + tile + caption)
        draw.text((pad, top + 3), textwrap.shorten(f"[{r}] {shorts[r]}", width=chars * group_size), fill="black", font=font)
        for c in range(group_size):
            k = r * group_size + c
            image = _to_pil(images[k])
            if image is None:
                image = Image.open(images[k]) if isinstance(images[k], str) else Image.new("RGB", (tile, tile), "gray")
            x = pad + c * (tile + pad)
            grid.paste(image.convert("RGB").resize((tile, tile), Image.NEAREST), (x, top + header))
            lines = textwrap.wrap(expansions[k], width=chars)[:text_lines]
            for j, line in enumerate(lines):
                draw.text((x, top + header + tile + 2 + j * line_h), line, fill=(40, 40, 40), font=font)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + f".tmp-{os.getpid()}.png")
    grid.save(tmp)
    os.replace(tmp, path)
    return grid


# ---------------------------------------------------------------------------------------------- logging and resume


class _StepTimer(TrainerCallback):
    """Starts the step clock at the first micro-step and closes it before the step's metrics are logged."""

    def __init__(self, trainer: ExpanderGRPOTrainer):
        self.trainer = trainer

    def on_step_begin(self, args, state, control, **kwargs):
        if self.trainer._step_started is None:
            self.trainer._step_started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.trainer._finish_step_timing()


class _RunStateCallback(TrainerCallback):
    """Appends every log entry to `metrics.jsonl` and saves the zero-variance tracker with each checkpoint."""

    def __init__(self, output_dir: Path, tracker: ZeroVarianceTracker):
        self.path = output_dir / METRICS_FILE
        self.tracker = tracker

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            with self.path.open("a") as f:
                f.write(json.dumps({"step": state.global_step, **logs}) + "\n")

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if ckpt.is_dir():
                _atomic_write_text(ckpt / TRACKER_FILE, json.dumps(self.tracker.state_dict()))


def _truncate_metrics(path: Path, last_step: int) -> None:
    """Drop log entries past `last_step` (logged after the checkpoint a resumed run restarts from)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("step", 0) <= last_step:
                kept.append(line + "\n")
        except json.JSONDecodeError:
            continue  # a line torn by a kill mid-write
    _atomic_write_text(path, "".join(kept))


def find_resume_checkpoint(training_args: GRPOConfig) -> str | None:
    """The checkpoint to resume from: `resume_from_checkpoint` if set, else the last one in `output_dir`."""
    from transformers.trainer_utils import get_last_checkpoint

    if training_args.resume_from_checkpoint:
        if not Path(training_args.resume_from_checkpoint).is_dir():
            raise GRPOSetupError(f"resume_from_checkpoint {training_args.resume_from_checkpoint} does not exist")
        return training_args.resume_from_checkpoint
    out = Path(training_args.output_dir)
    return get_last_checkpoint(str(out)) if out.is_dir() else None


# ---------------------------------------------------------------------------------------------- main


def main(script_args: GRPOScriptArguments, training_args: GRPOConfig, model_args: GRPOModelConfig) -> ExpanderGRPOTrainer:
    """Train the expander with GRPO on rendered images; returns the trainer (its `state` has the history).

    Writes to `training_args.output_dir`: checkpoints, the final adapter/model, `metrics.jsonl`,
    `completions/step_*.jsonl`, `image_grids/step_*.png` and the `report_to` logs.
    """
    if script_args.torch_threads is not None:
        if script_args.torch_threads < 1:
            raise GRPOSetupError(f"torch_threads must be >= 1, got {script_args.torch_threads}")
        torch.set_num_threads(script_args.torch_threads)
    out = Path(training_args.output_dir)
    out.mkdir(parents=True, exist_ok=True)

    dataset = load_prompt_dataset(script_args)
    if len(dataset) * training_args.num_generations < training_args.generation_batch_size:
        raise GRPOSetupError(
            f"{len(dataset)} prompts x num_generations {training_args.num_generations} cannot fill one generation "
            f"batch of {training_args.generation_batch_size} completions; add prompts or lower the batch size"
        )
    suite = build_rewards(script_args, training_args)
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
    trainer.add_callback(_RunStateCallback(out, trainer.zero_std_tracker))

    checkpoint = find_resume_checkpoint(training_args)
    if checkpoint is not None:
        state = json.loads((Path(checkpoint) / "trainer_state.json").read_text())
        _truncate_metrics(out / METRICS_FILE, int(state["global_step"]))
        tracker_file = Path(checkpoint) / TRACKER_FILE
        if tracker_file.is_file():
            trainer.zero_std_tracker.load_state_dict(json.loads(tracker_file.read_text()))
        logger.info("resuming from %s (global step %d)", checkpoint, state["global_step"])
    else:
        _truncate_metrics(out / METRICS_FILE, 0)
    trainer.train(resume_from_checkpoint=checkpoint)

    trainer.save_model(str(out))
    if trainer.accelerator.is_main_process:
        tokenizer.save_pretrained(str(out))
        _atomic_write_text(out / "grpo_run.json", json.dumps({
            "model": model_args.model_name_or_path,
            "sft_adapter": model_args.sft_adapter,
            "rewards_config": script_args.rewards_config,
            "reward_funcs": trainer.reward_func_names,
            "reward_weights": list(training_args.reward_weights or []),
            "resumed_from": checkpoint,
            "global_step": trainer.state.global_step,
        }, indent=2))
    return trainer
