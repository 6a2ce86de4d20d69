"""`ExpanderGRPOTrainer`: TRL's `GRPOTrainer` plus what a tuning team looks at, and the zero-variance tracker.

Per step, beside TRL's metrics: the share of groups whose rewards had no variance, a completions table
(`completions/step_XXXXXX.jsonl`), the rendered images (`images/step_XXXXXX/`), an image grid every
`image_grid_steps` steps and a wall-time split. The images come from the reward suite's render cache:
nothing is rendered twice. With the reward service (`reward_server.url`) the cache is `RemoteImages`: on the steps
this trainer reads images (`save_images`, grid steps) the service sends each row's render back with its scores.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import gather_object
from transformers import LogitsProcessorList, TrainerCallback
from trl import GRPOTrainer
from trl.trainer.utils import RepeatSampler, nanstd

from expander.engine.repeat_guard import NoRepeatLogitsProcessor
from expander.files import atomic_write_bytes, write_jsonl
from expander.prompts import clean_output
from expander.rewards.inputs import completion_text
from expander.train.checkpoints import CompleteCheckpoints
from expander.train.grpo.config import SHORT_COLUMN, GRPOScriptArguments
from expander.train.grpo.diversity_log import GroupDiversityLog
from expander.train.grpo.image_grid import save_image_grid, to_pil

logger = logging.getLogger(__name__)

__all__ = ["ExpanderGRPOTrainer", "ZeroVarianceTracker"]

# `log_metric` keys that are counts: summed over processes (TRL averages the rest).
SUMMED_METRICS = ("renders/", "rewards_none/")


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
        order = (
            torch.randperm(self.num_samples, generator=self.generator).tolist()
            if self.shuffle
            else list(range(self.num_samples))
        )
        active = [i for i in order if self.shorts[i] not in self.tracker.dropped]
        if len(active) < self.batch_size:  # never starve training: keep one full generation batch
            active = order[: self.batch_size]
        return active

    def __iter__(self):
        indexes = self._active()
        chunks = [indexes[i : i + self.batch_size] for i in range(0, len(indexes), self.batch_size)]
        for chunk in (c for c in chunks if len(c) == self.batch_size):
            for _ in range(self.repeat_count):
                for index in chunk:
                    for _ in range(self.mini_repeat_count):
                        yield index

    def __len__(self) -> int:
        kept = max(sum(s not in self.tracker.dropped for s in self.shorts), self.batch_size)
        return (kept // self.batch_size) * self.batch_size * self.mini_repeat_count * self.repeat_count


class ExpanderGRPOTrainer(CompleteCheckpoints, GRPOTrainer):
    """`GRPOTrainer` plus per-group variance stats, a completions table per step, image grids and a
    per-step time split; its checkpoints are whole or absent (`expander.train.checkpoints`).

    Everything is added around TRL's methods (`_generate`, `_calculate_rewards` after the rewards ran and
    before their extra columns are flushed, `training_step`), so TRL's own generation, aggregation, loss and
    logging are untouched.

    Logged per step, beside TRL's metrics: `frac_group_zero_std`, `prompts_dropped`, `diversity/*` (zero-spread
    group share, within-group MiniLM pairwise distance and distinct-2: `expander.train.grpo.diversity_log`), and
    `timing/*_s` (wall seconds): `generation`, `rendering` (the render cache's renderer calls), `scoring` (reward
    functions minus rendering), `backward` (loss forward + backward), `other` (the rest of the step: log-probs,
    tokenisation, optimizer, our table, grid and diversity log) and `step`.
    """

    def __init__(self, *args, script_args: GRPOScriptArguments, render_cache=None, **kwargs):
        self.script_args = script_args
        self.render_cache = render_cache
        if render_cache is not None and hasattr(render_cache, "wanted"):  # RemoteImages: ask for these steps only
            render_cache.wanted = self._images_wanted
        self.zero_std_tracker = ZeroVarianceTracker(script_args.drop_zero_std_epochs)
        self.diversity_log: GroupDiversityLog | None = None  # made once TRL has set `num_generations`
        self._phase: dict[str, float] = defaultdict(float)
        self._step_started: float | None = None
        super().__init__(*args, **kwargs)
        self.add_callback(_StepTimer(self))

    def _images_wanted(self, step: int) -> bool:
        """Whether this trainer reads the renders of the reward call at `step` (TRL's `global_step` then, one less
        than the step the table and grid are named after)."""
        every = self.script_args.image_grid_steps
        return self.script_args.save_images or (every > 0 and (step == 0 or (step + 1) % every == 0))

    @contextlib.contextmanager
    def _timed(self, phase: str):
        """Add the wall time of the block to `self._phase[phase]`."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self._phase[phase] += time.perf_counter() - start

    def _generate(self, prompts):
        with self._timed("generation"):
            return super()._generate(prompts)

    def _generate_single_turn(self, prompt_ids, *args, **kwargs):
        """TRL's transformers rollouts, with the serving repeat guard when `rollout_no_repeat_ngram` is set.

        TRL's `generate` call takes no logits processor, so the model TRL unwraps for it gets a `generate` that
        adds ours for this call only. TRL scores the sampled tokens with the unmasked policy: the guard only
        removes tokens, so every sampled token has its probability there (the same behaviour/target gap as a
        top-p rollout)."""
        n = self.script_args.rollout_no_repeat_ngram
        if not n:
            return super()._generate_single_turn(prompt_ids, *args, **kwargs)
        model = self.accelerator.unwrap_model(self.model_wrapped)  # what `unwrap_model_for_generation` yields
        own, plain = vars(model).get("generate"), model.generate

        def guarded(*gen_args, **gen_kwargs):
            rows = gen_kwargs["input_ids"].shape[0]
            guard = NoRepeatLogitsProcessor([n] * rows, prompt_len=gen_kwargs["input_ids"].shape[1])
            processors = list(gen_kwargs.pop("logits_processor", None) or []) + [guard]
            return plain(*gen_args, logits_processor=LogitsProcessorList(processors), **gen_kwargs)

        model.generate = guarded
        try:
            return super()._generate_single_turn(prompt_ids, *args, **kwargs)
        finally:
            if own is None:
                del model.generate
            else:
                model.generate = own

    def _prepare_inputs(self, generation_batch):
        with self._timed("prepare"):
            return super()._prepare_inputs(generation_batch)

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
            shorts=list(dataset[SHORT_COLUMN]),
            tracker=self.zero_std_tracker,
            data_source=dataset,
            mini_repeat_count=self.num_generations,
            batch_size=self.args.generation_batch_size // self.num_generations,
            repeat_count=self.num_iterations * self.args.steps_per_generation,
            shuffle=self.shuffle_dataset,
            seed=self.args.seed,
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
        self._sum_counters_over_processes(mode)
        # Rewards are gathered (global order) but inputs are this process's slice: gather what the table
        # needs. Every process makes the same collective calls in the same order.
        n_local = len(inputs)
        shorts = gather_object([x.get(SHORT_COLUMN, "") for x in inputs])
        texts = gather_object([completion_text(c) for c in completions])
        # Every process updates its tracker from the same gathered values: the samplers stay identical.
        self.zero_std_tracker.update(shorts[::group_size], zero_std.tolist())
        self._metrics[mode]["prompts_dropped"].append(float(len(self.zero_std_tracker.dropped)))
        if self.accelerator.is_main_process:  # every rank holds the same gathered texts; rank 0 logs
            self.diversity_log = self.diversity_log or GroupDiversityLog(group_size)
            metrics = self.diversity_log(texts, zero_std.float().mean().item(), spread, self.reward_func_names)
            for name, value in metrics.items():
                self._metrics[mode][name].append(value)
        step = self.state.global_step + 1  # the step these completions are about to train
        # Read (not cleared): TRL gathers and flushes these columns right after this method.
        extras = {
            k: gather_object(list(self._pending_extra_logs.get(k, [None] * n_local)))
            for k in sorted(set(gather_object(list(self._pending_extra_logs))))
        }
        extras["rank"] = [i // n_local for i in range(len(texts))]  # which process drew (and rendered) it
        images = self._rendered_images(inputs, completions)
        paths = None
        if images is not None and self.script_args.save_images:
            # Each process writes its own images into the shared output_dir; no image bytes cross processes.
            local_paths = self._save_images(step, images, offset=self.accelerator.process_index * n_local)
            # TRL's own completions table (log_completions: console, wandb, trackio) gets the paths too.
            self._log_completion_extra("image", local_paths)
            paths = extras["image"] = gather_object(local_paths)
        every = self.script_args.image_grid_steps
        grid_step = every > 0 and (step == 1 or step % every == 0)
        if self.accelerator.num_processes > 1 and (grid_step or paths is not None):
            self.accelerator.wait_for_everyone()  # the other processes' image files are written
        if self.accelerator.is_main_process:
            self._write_completions_table(step, shorts, texts, rewards_per_func, extras)
            if grid_step:
                self._save_grid(step, shorts, texts, images if self.accelerator.num_processes == 1 else paths)
        return rewards_per_func

    def _sum_counters_over_processes(self, mode: str) -> None:
        """Render and None counts are totals: sum them over processes (TRL averages `log_metric` values).

        `renders/total` is the process's cumulative render count (logged once per reward, so its last value);
        the others are counts per reward call (summed within the process).
        """
        local = {}
        for name in [k for k in self._pending_metrics if k.startswith(SUMMED_METRICS)]:
            values = self._pending_metrics.pop(name)
            local[name] = max(values) if name == "renders/total" else sum(values)
        if self.accelerator.num_processes == 1:
            for name, value in local.items():
                self._metrics[mode][name].append(value)
            return
        names = sorted(set(gather_object(list(local))))
        if not names:
            return
        mine = torch.tensor([float(local.get(n, 0.0)) for n in names], device=self.accelerator.device)
        totals = self.accelerator.gather(mine).view(-1, len(names)).sum(0).tolist()
        for name, value in zip(names, totals):
            self._metrics[mode][name].append(value)

    def _rendered_images(self, inputs, completions) -> list | None:
        """This step's images, read back from the suite's render cache (hits: nothing is rendered again)."""
        if self.render_cache is None:
            return None
        shorts = [x[SHORT_COLUMN] for x in inputs]
        # The registry renders the cleaned completion (an empty one has no image); the same key here is a
        # cache hit. The end-to-end test checks renders == distinct completions, so a drift shows up there.
        texts = [clean_output(completion_text(c)) for c in completions]
        return self.render_cache.images_for(shorts, texts, self.state.global_step)

    def _save_images(self, step: int, images: list, offset: int = 0) -> list[str | None]:
        """Write each completion's image to `images/step_XXXXXX/NNN.jpg` (NNN = `offset` + its index: its place in
        the global batch); returns the paths (None: no image)."""
        folder = Path(self.args.output_dir) / "images" / f"step_{step:06d}"
        paths: list[str | None] = []
        for i, image in enumerate(images):
            pil = to_pil(image)
            if pil is None:  # the render failed; its rewards are None
                paths.append(None)
                continue
            path = folder / f"{offset + i:03d}.jpg"
            jpeg = io.BytesIO()
            pil.save(jpeg, format="JPEG", quality=90)
            atomic_write_bytes(path, jpeg.getvalue())
            paths.append(str(path))
        return paths

    def _write_completions_table(self, step, shorts, texts, rewards_per_func, extras) -> None:
        rows = []
        for i, (short, text) in enumerate(zip(shorts, texts)):
            row = {"step": step, "group": i // self.num_generations, SHORT_COLUMN: short, "completion": text}
            for j, name in enumerate(self.reward_func_names):
                value = rewards_per_func[i, j].item()
                row[f"reward/{name}"] = None if math.isnan(value) else value
            for column, values in extras.items():
                if i < len(values):
                    row[column] = (
                        values[i] if isinstance(values[i], (str, int, float, bool, type(None))) else str(values[i])
                    )
            rows.append(row)
        write_jsonl(Path(self.args.output_dir) / "completions" / f"step_{step:06d}.jsonl", rows)

    def _save_grid(self, step, shorts, texts, images) -> None:
        """`images`: tensors or image paths (multi-process runs read the files the processes wrote)."""
        if not images:
            logger.warning("step %d: the rewards render no images; image grid skipped", step)
            return
        groups = min(self.script_args.image_grid_prompts, len(shorts) // self.num_generations)
        n = groups * self.num_generations
        path = Path(self.args.output_dir) / "image_grids" / f"step_{step:06d}.png"
        grid = save_image_grid(
            path,
            [shorts[i] for i in range(0, n, self.num_generations)],
            list(texts[:n]),
            list(images[:n]),
            self.num_generations,
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


class _StepTimer(TrainerCallback):
    """Starts the step clock at the first micro-step and closes it before the step's metrics are logged."""

    def __init__(self, trainer: ExpanderGRPOTrainer):
        self.trainer = trainer

    def on_step_begin(self, args, state, control, **kwargs):
        if self.trainer._step_started is None:
            self.trainer._step_started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.trainer._finish_step_timing()
