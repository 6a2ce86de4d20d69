"""What `expander grpo` reads: the script arguments beside TRL's `GRPOConfig`, the model config, the parser.

    expander grpo --config configs/grpo/tiny_cpu.yaml --max_steps 2 --rewards.render.height 64

Every key of the three dataclasses is a YAML key and a `--key value` flag (TRL's parser). Rewards-config keys
are overridden like every other `expander` command's keys: a mapping in the YAML (`rewards_overrides:
{render.height: 512}`) or `--rewards.KEY VALUE` flags, both applied by `expander.config`'s loader.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field

import yaml
from trl import GRPOConfig, ModelConfig, TrlParser

from expander.config import parse_overrides
from expander.errors import ExpanderError
from expander.prompts import DEFAULT_CREATIVITY

__all__ = [
    "METRICS_FILE",
    "REWARDS_FLAG_PREFIX",
    "SHORT_COLUMN",
    "TRACKER_FILE",
    "GRPOModelConfig",
    "GRPOParser",
    "GRPOScriptArguments",
    "GRPOSetupError",
    "make_parser",
    "rewards_override_args",
    "split_rewards_flags",
]

SHORT_COLUMN = "short_prompt"
"""Training-set column holding the user's short prompt; the reward functions receive it as a keyword argument
(`expander.rewards` judges faithfulness and derives render seeds from it)."""

TRACKER_FILE = "zero_std_prompts.json"
METRICS_FILE = "metrics.jsonl"


class GRPOSetupError(ExpanderError, ValueError):
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
        rewards_config: the reward suite's config (`expander.rewards.load_rewards_config`).
        reward_weight_overrides: reward name -> weight, replacing the rewards config's weights (the gate's
            weight is re-derived from them). TRL's `reward_weights` is refused: it would bypass that.
        rewards_overrides: rewards-config key -> value (dotted for sections: `{render.height: 512,
            format.max_words: 30}`), applied as `--KEY VALUE` overrides by `expander.config`'s loader. On the
            command line: `--rewards.render.height 512` (one flag per key, merged over the YAML's mapping).
        image_grid_steps: save an image grid every this many steps (0 = never).
        image_grid_prompts: rows of the grid (groups shown); columns are the group members.
        save_images: write each step's images to `images/step_XXXXXX/` so the completions table holds
            file paths (JPEG, about 50 KB per 512x512 image).
        torch_threads: CPU threads of torch in this process (policy, renderer, reward models). On a CPU
            shared with other jobs, 1 avoids thread oversubscription (measured here under load: 8 x 16-token
            generation took 12 s with 1 thread, 211 s with 2).
        drop_zero_std_epochs: drop a prompt after its group had zero reward variance in this many consecutive
            epochs (0 = never drop). At least one generation batch of prompts is always kept.
        rollout_no_repeat_ngram: sample the rollouts with the serving repeat guard (`expander.engine.repeat_guard`):
            a completion cannot write the same run of this many tokens twice (0 = off; else >= 2). The API samples
            with 4 (`expander.expand.NO_REPEAT_NGRAM`), so 4 trains on completions distributed as served ones.
            Transformers rollouts only (`use_vllm` refuses it).
    """

    dataset_name: str | None = field(default=None, metadata={"help": "synth dataset dir/file or hub id"})
    dataset_split: str = field(default="train", metadata={"help": "split of dataset_name"})
    prompt_column: str = field(default="short", metadata={"help": "column with the short prompt"})
    prompt_files: list[str] | None = field(default=None, metadata={"help": "extra .txt/.jsonl prompt files"})
    max_prompts: int | None = field(default=None, metadata={"help": "keep the first N distinct prompts"})
    creativity: str = field(default=DEFAULT_CREATIVITY, metadata={"help": "low, medium or high"})
    rewards_config: str | None = field(default=None, metadata={"help": "rewards config YAML (configs/rewards/)"})
    reward_weight_overrides: dict | str | None = field(
        default=None, metadata={"help": "JSON object, e.g. '{\"format\": 2.0}'"}
    )
    rewards_overrides: dict | str | None = field(
        default=None,
        metadata={
            "help": "rewards-config overrides: in YAML a mapping {render.height: 512}; on the "
            "command line --rewards.render.height 512 (one flag per key)"
        },
    )
    image_grid_steps: int = field(default=10, metadata={"help": "image grid every N steps (0: off)"})
    image_grid_prompts: int = field(default=4, metadata={"help": "grid rows (prompts)"})
    drop_zero_std_epochs: int = field(default=0, metadata={"help": "drop prompts with k zero-std epochs"})
    save_images: bool = field(default=True, metadata={"help": "save every rendered image (JPEG) for the table"})
    torch_threads: int | None = field(default=None, metadata={"help": "torch CPU threads (None: torch's default)"})
    rollout_no_repeat_ngram: int = field(
        default=0, metadata={"help": "repeat guard on rollouts: no repeated N-token run (0: off; the API uses 4)"}
    )


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


REWARDS_FLAG_PREFIX = "--rewards."


def split_rewards_flags(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """Take the `--rewards.KEY VALUE` / `--rewards.KEY=VALUE` flags out of `argv`.

    Returns:
        The remaining argv (for TRL's parser) and the rewards overrides as `{KEY: VALUE}` strings.
    """
    rest: list[str] = []
    flags: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith(REWARDS_FLAG_PREFIX):
            flags.append("--" + arg[len(REWARDS_FLAG_PREFIX) :])
            if "=" not in arg and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                flags.append(argv[i + 1])
                i += 1
        else:
            rest.append(arg)
        i += 1
    return rest, parse_overrides(flags)


def _as_mapping(overrides: dict | str | None) -> dict:
    if overrides is None:
        return {}
    if isinstance(overrides, str):  # `--rewards_overrides '{render.height: 512}'` arrives as a string
        try:
            overrides = yaml.safe_load(overrides)
        except yaml.YAMLError:
            pass
    if not isinstance(overrides, dict):
        raise GRPOSetupError(
            "rewards_overrides must map rewards-config keys to values: `rewards_overrides: {render.height: 512}` "
            f"in the YAML, or `--rewards.render.height 512` on the command line; got {overrides!r}"
        )
    return overrides


def rewards_override_args(overrides: dict | str | None) -> list[str]:
    """`rewards_overrides` as `--KEY=VALUE` override strings for `expander.rewards.load_rewards_config`.

    Raises:
        GRPOSetupError: `overrides` is not a mapping (a YAML/JSON mapping string is parsed first).
    """
    return [
        f"--{str(key).removeprefix('--')}={value if isinstance(value, str) else json.dumps(value)}"
        for key, value in _as_mapping(overrides).items()
    ]


class GRPOParser(TrlParser):
    """TRL's parser over (script args, `GRPOConfig`, model config), taking `--rewards.KEY VALUE` flags too."""

    def parse_args_and_config(self, args=None, *rest, **kwargs):
        argv, rewards = split_rewards_flags(list(sys.argv[1:] if args is None else args))
        parsed = super().parse_args_and_config(argv, *rest, **kwargs)
        if rewards:  # the command line wins over the YAML's mapping, key by key
            parsed[0].rewards_overrides = {**_as_mapping(parsed[0].rewards_overrides), **rewards}
        return parsed


def make_parser() -> GRPOParser:
    """The `--config YAML` + `--key value` parser over (script args, `GRPOConfig`, model config)."""
    return GRPOParser((GRPOScriptArguments, GRPOConfig, GRPOModelConfig), prog="expander grpo")
