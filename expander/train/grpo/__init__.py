"""GRPO on rendered images: the expander learns from what Krea 2 actually draws.

    expander grpo --config configs/grpo/tiny_cpu.yaml [--max_steps 2 --output_dir DIR --rewards.render.height 64]

One linear `main(script_args, training_args, model_args)` in the TRL recipe style:

1. prompts: the short side of the synth dataset (column `short`) plus optional prompt files (txt: one
   prompt a line; jsonl: one object a line with the prompt column); each becomes the conversational prompt
   `expander.prompts.build_messages(short, creativity)` and keeps the short prompt as the `short_prompt`
   column, so the rewards judge faithfulness against what the user typed, never against the expansion;
2. policy: a model ref (`expander.models.resolve_model`: built-in name, local dir or hub id), LoRA by
   default, optionally continuing an SFT adapter;
3. rewards and weights from the reward suite (`expander.rewards.RewardSuite`, named by
   `rewards_config`, any of its keys overridable with `rewards_overrides` / `--rewards.KEY VALUE`, weights
   by name); the suite renders each completion once per step
   (render cache) and adds the gate; TRL aggregates with `multi_objective_aggregation` (GDPO-style
   `normalize_then_sum`, which the gate guarantee assumes);
4. TRL `GRPOTrainer` with a thin subclass that adds what a tuning team looks at: the share of groups whose
   rewards had no variance (`frac_group_zero_std`, the "hard-but-not-hopeless" signal), a completions table
   per step (`completions/step_XXXXXX.jsonl`: every reward, the suite's extra columns such as gate
   reasons, and the path of each rendered image under `images/`), an image grid every `image_grid_steps`
   steps (`image_grids/step_XXXXXX.png`, also sent to tensorboard or wandb), and optionally dropping
   prompts whose groups had no reward variance for k epochs. The images come from the suite's render
   cache: nothing is rendered twice;
5. automatic resume: re-running into an output dir that holds checkpoints continues from the last one,
   with the same global step numbering; `metrics.jsonl` is cut back to the checkpoint so no step is
   logged twice.

Modules: `config` (the dataclasses and the parser), `dataset` (the prompts), `trainer` (`ExpanderGRPOTrainer`,
the zero-variance tracker), `image_grid`, `run` (`main`). Everything public is importable from here.
"""

from expander.train.grpo.config import (
    SHORT_COLUMN,
    GRPOModelConfig,
    GRPOParser,
    GRPOScriptArguments,
    GRPOSetupError,
    make_parser,
)
from expander.train.grpo.dataset import load_prompt_dataset
from expander.train.grpo.image_grid import save_image_grid
from expander.train.grpo.run import build_policy, build_rewards, find_resume_checkpoint, main
from expander.train.grpo.trainer import ExpanderGRPOTrainer, ZeroVarianceTracker

__all__ = [
    "SHORT_COLUMN",
    "ExpanderGRPOTrainer",
    "GRPOModelConfig",
    "GRPOParser",
    "GRPOScriptArguments",
    "GRPOSetupError",
    "ZeroVarianceTracker",
    "build_policy",
    "build_rewards",
    "find_resume_checkpoint",
    "load_prompt_dataset",
    "main",
    "make_parser",
    "save_image_grid",
]
