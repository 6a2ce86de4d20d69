"""Supervised fine-tuning of the expander on synthetic (short -> long) pairs: TRL `SFTTrainer` + PEFT LoRA.

`main(script_args, training_args, model_args)` reads top to bottom:

1. pairs: the DatasetDict written by `expander synth` (`train` / `test`), turned into conversational
   prompt-completion examples with the expansion contract: prompt = `expander.prompts.build_messages(short,
   creativity)` (system + user), completion = the long caption as the assistant turn. Training and inference
   share one template; the loss is on the completion only (TRL's `completion_only_loss`, which works with
   any chat template, unlike `assistant_only_loss`, which needs generation markers SmolLM2's lacks);
2. model: a model ref (`expander.models.resolve_model`: built-in name, local HF dir or hub id); LoRA by
   default, full fine-tune with `--use_peft false`;
3. eval loss on the held-out split before training (kept across resumes) and after;
4. train, resuming automatically from the last checkpoint in `output_dir` when re-run;
5. the final adapter (or model) with its tokenizer in `output_dir/final`, a model card (`README.md`) with the
   data, the config and the eval losses, and `sft_metrics.json`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from trl import ModelConfig, SFTConfig, SFTTrainer, TrlParser, get_peft_config

from expander.errors import ExpanderError
from expander.files import atomic_write_json, atomic_write_text, require_writable_dir, writing
from expander.models import chat_template_kwargs
from expander.prompts import build_messages
from expander.train.checkpoints import CompleteCheckpoints, last_complete_checkpoint

logger = logging.getLogger(__name__)

__all__ = [
    "SFTModelConfig",
    "SFTScriptArguments",
    "SFTSetupError",
    "export_adapter",
    "find_resume_checkpoint",
    "main",
    "make_parser",
    "to_conversational",
    "with_template_kwargs",
]

FINAL_DIR = "final"
RUN_INFO = "sft_metrics.json"


class SFTSetupError(ExpanderError, ValueError):
    """An SFT run that cannot start: no pairs, a bad model ref, a missing checkpoint."""


@dataclass
class SFTScriptArguments:
    """Data keys of `expander sft` (the YAML also holds every `SFTConfig` and model key).

    Attributes:
        dataset_dir: output directory of `expander synth` (holds `data/train.parquet`, `data/test.parquet`).
        max_train_samples: use only the first N training pairs (tiny runs); `None` for all.
        max_eval_samples: evaluate on the first N held-out pairs (eval costs time on a CPU); `None` for all.
        eval_before_training: measure the held-out loss of the untrained model first (for the model card).
        enable_thinking: the chat template's thinking switch for every example (Qwen3-style templates). Off:
            training matches how the expander runs (`expander.models.chat_template_kwargs`); a template
            without the switch gets no argument either way.
    """

    dataset_dir: str = "outputs/synth/tiny_cpu"
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    eval_before_training: bool = True
    enable_thinking: bool = False


@dataclass
class SFTModelConfig(ModelConfig):
    """TRL's `ModelConfig` with a model *ref* and LoRA on by default.

    Attributes:
        model_name_or_path: built-in name (`smollm2-135m`), local HF dir or hub id.
        use_peft: LoRA (default); `false` fine-tunes every weight.
    """

    model_name_or_path: str | None = field(default="smollm2-135m", metadata={"help": "model ref"})
    use_peft: bool = field(default=True, metadata={"help": "train a LoRA adapter (false: full fine-tune)"})


def make_parser() -> TrlParser:
    """The `--config YAML` + `--key value` parser over (script args, `SFTConfig`, model config)."""
    return TrlParser((SFTScriptArguments, SFTConfig, SFTModelConfig), prog="expander sft")


def to_conversational(row: dict) -> dict:
    """A synthetic pair as a conversational prompt-completion example under the expansion contract.

    Args:
        row: with `short`, `long` and `creativity` (as written by `expander synth`).

    Returns:
        `{"prompt": [system, user], "completion": [assistant]}`.
    """
    return {
        "prompt": build_messages(row["short"], row["creativity"]),
        "completion": [{"role": "assistant", "content": row["long"]}],
    }


def with_template_kwargs(dataset, template_kwargs: dict):
    """`dataset` with a `chat_template_kwargs` column (TRL's SFT passes it to `apply_chat_template` per example);
    unchanged when `template_kwargs` is empty or `dataset` is None."""
    if dataset is None or not template_kwargs:
        return dataset
    return dataset.map(lambda _: {"chat_template_kwargs": dict(template_kwargs)})


def load_examples(script_args: SFTScriptArguments):
    """(train, eval) datasets of conversational examples; eval is `None` when there is no test split."""
    from expander.train.synth import SynthError, load_pairs

    try:
        pairs = load_pairs(script_args.dataset_dir)
    except SynthError as exc:
        raise SFTSetupError(str(exc)) from None
    for split, ds in pairs.items():
        missing = {"short", "long", "creativity"} - set(ds.column_names)
        if missing:
            raise SFTSetupError(f"{script_args.dataset_dir} split {split} lacks column(s) {', '.join(sorted(missing))}")
    train = pairs["train"]
    if script_args.max_train_samples is not None:
        train = train.select(range(min(script_args.max_train_samples, len(train))))
    if len(train) == 0:
        raise SFTSetupError(f"{script_args.dataset_dir} has no training pairs")
    evaluation = pairs["test"] if "test" in pairs and len(pairs["test"]) else None
    if evaluation is not None and script_args.max_eval_samples is not None:
        evaluation = evaluation.select(range(min(script_args.max_eval_samples, len(evaluation))))
    keep = ["prompt", "completion"]
    train = train.map(to_conversational, remove_columns=[c for c in train.column_names if c not in keep])
    if evaluation is not None:
        evaluation = evaluation.map(
            to_conversational, remove_columns=[c for c in evaluation.column_names if c not in keep]
        )
    return train, evaluation


def build_model(model_args: SFTModelConfig, training_args: SFTConfig):
    """(model, tokenizer, peft_config or None) for a model ref."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from expander.models import ModelNotFoundError, resolve_model

    try:
        path = str(resolve_model(model_args.model_name_or_path))
    except ModelNotFoundError as exc:
        raise SFTSetupError(str(exc)) from None
    dtype = model_args.dtype if model_args.dtype not in (None, "auto") else "float32"
    if dtype == "float32" and (training_args.bf16 or training_args.fp16):
        dtype = "bfloat16" if training_args.bf16 else "float16"
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
    peft_config = get_peft_config(model_args) if model_args.use_peft else None
    return model, tokenizer, peft_config


def find_resume_checkpoint(training_args: SFTConfig) -> str | None:
    """The checkpoint to resume from: `resume_from_checkpoint` if set, else the last complete one in
    `output_dir` (`expander.train.checkpoints`: one whose save failed or was killed is removed, not resumed)."""
    if training_args.resume_from_checkpoint:
        if not Path(training_args.resume_from_checkpoint).is_dir():
            raise SFTSetupError(f"resume_from_checkpoint {training_args.resume_from_checkpoint} does not exist")
        return training_args.resume_from_checkpoint
    return last_complete_checkpoint(training_args.output_dir)


class _SFTTrainer(CompleteCheckpoints, SFTTrainer):
    """TRL's `SFTTrainer` whose checkpoints are whole or absent (a full disk never leaves half of one)."""


def main(
    script_args: SFTScriptArguments,
    training_args: SFTConfig,
    model_args: SFTModelConfig,
    callbacks: list | None = None,
) -> SFTTrainer:
    """Fine-tune the expander on synthetic pairs; returns the trainer (its `state` has the history).

    Args:
        callbacks: extra `transformers.TrainerCallback`s (tests use one to interrupt a run).

    Writes to `training_args.output_dir`: `checkpoint-*`, `final/` (adapter or model + tokenizer),
    `README.md` (model card), `sft_metrics.json` (eval losses before/after, steps, wall time).
    """
    out = require_writable_dir(training_args.output_dir, "output_dir")  # a read-only or full disk fails now
    train, evaluation = load_examples(script_args)
    model, tokenizer, peft_config = build_model(model_args, training_args)
    # Thinking off (by default) in training as in serving, for templates that have the switch.
    template_kwargs = chat_template_kwargs(tokenizer, script_args.enable_thinking)
    train, evaluation = with_template_kwargs(train, template_kwargs), with_template_kwargs(evaluation, template_kwargs)
    if evaluation is None:
        training_args.eval_strategy = "no"
    if not training_args.label_names:
        # A PEFT-wrapped model's forward takes **kwargs, so Trainer cannot infer the label column and
        # evaluate() would return no eval_loss.
        training_args.label_names = ["labels"]
    checkpoint = find_resume_checkpoint(training_args)
    trainer = _SFTTrainer(
        model=model,
        args=training_args,
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )
    for name, ds in (("training", trainer.train_dataset), ("held-out", trainer.eval_dataset)):
        if ds is not None and len(ds) == 0:
            raise SFTSetupError(
                f"no {name} example survives max_length={training_args.max_length}: the prompt (system + short) "
                "fills it and the completion is cut away; raise max_length"
            )
    out.mkdir(parents=True, exist_ok=True)
    info = _read_info(out)
    info.setdefault("base_model", model_args.model_name_or_path)
    info["train_pairs"], info["eval_pairs"] = len(train), len(evaluation) if evaluation is not None else 0
    if evaluation is not None and script_args.eval_before_training and "eval_loss_before" not in info:
        # Measured once, on the untrained model; a resumed run keeps the first measurement.
        info["eval_loss_before"] = trainer.evaluate()["eval_loss"]
        _write_info(out, info)
    if checkpoint is not None:
        logger.info("sft: resuming from %s", checkpoint)
        info.setdefault("resumed_from", []).append(Path(checkpoint).name)
    start = time.time()
    trainer.train(resume_from_checkpoint=checkpoint)
    info["train_seconds"] = info.get("train_seconds", 0.0) + time.time() - start
    info["global_step"] = trainer.state.global_step
    info["train_loss_history"] = [
        {"step": e["step"], "loss": e["loss"]} for e in trainer.state.log_history if "loss" in e
    ]
    if evaluation is not None:
        info["eval_loss_after"] = trainer.evaluate()["eval_loss"]
    final = out / FINAL_DIR
    _save_atomic(trainer, tokenizer, final)
    _write_info(out, info)
    atomic_write_text(out / "README.md", model_card(script_args, training_args, model_args, info))
    if (final / "README.md").exists() or final.is_dir():
        atomic_write_text(final / "README.md", model_card(script_args, training_args, model_args, info))
    return trainer


def _read_info(out: Path) -> dict:
    path = out / RUN_INFO
    return json.loads(path.read_text()) if path.is_file() else {}


def _write_info(out: Path, info: dict) -> None:
    atomic_write_json(out / RUN_INFO, info)


def _save_atomic(trainer: SFTTrainer, tokenizer, final: Path) -> None:
    # Save beside, then swap: a kill mid-save leaves the previous final/ (or none), never half of one.
    import shutil

    tmp = final.with_name(f".{final.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    with writing(final, "the final model", partial=tmp):  # a full disk: the old final/ stays, no tmp is left
        trainer.save_model(str(tmp))
        tokenizer.save_pretrained(str(tmp))
    old = final.with_name(f".{final.name}.old")
    if final.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
    os.replace(tmp, final)
    if old.exists():
        shutil.rmtree(old)


def _dataset_summary(dataset_dir: str) -> str:
    card = Path(dataset_dir) / "README.md"
    if not card.is_file():
        return f"`{dataset_dir}`"
    for line in card.read_text().splitlines():
        if line.startswith("- pairs:"):
            return f"`{dataset_dir}` ({line[2:]})"
    return f"`{dataset_dir}`"


def model_card(script_args, training_args, model_args, info: dict) -> str:
    """Markdown model card: what was trained on what, how, and the held-out losses."""
    kind = "LoRA adapter" if model_args.use_peft else "full fine-tune"
    lora = (
        f"r={model_args.lora_r}, alpha={model_args.lora_alpha}, dropout={model_args.lora_dropout}, "
        f"targets={model_args.lora_target_modules or 'default'}"
        if model_args.use_peft
        else "n/a"
    )
    before, after = info.get("eval_loss_before"), info.get("eval_loss_after")
    fmt = lambda v: f"{v:.4f}" if isinstance(v, (int, float)) else "n/a"  # noqa: E731
    return "\n".join(
        [
            "---",
            f"base_model: {info.get('base_model')}",
            "library_name: peft" if model_args.use_peft else "library_name: transformers",
            "tags: [expander, prompt-expansion, krea-2, sft, trl]",
            "---",
            "",
            f"# expander SFT ({kind}) on `{info.get('base_model')}`",
            "",
            "Rewrites a short text-to-image prompt into a dense caption-like description under the expansion "
            "contract of `expander.prompts` (system prompt + creativity level). Use it through `expander expand "
            "--adapter <this dir>` or the engine (`create_engine(model, adapter=...)`).",
            "",
            "## Data",
            "",
            f"- synthetic pairs: {_dataset_summary(script_args.dataset_dir)}",
            f"- used: {info.get('train_pairs')} training pairs, {info.get('eval_pairs')} held-out pairs "
            "(held out by caption)",
            "- examples: prompt = `build_messages(short, creativity)`, completion = the long caption; "
            "loss on the completion only",
            "",
            "## Training",
            "",
            f"- {kind}; LoRA: {lora}",
            f"- steps: {info.get('global_step')}; learning rate {training_args.learning_rate}; "
            f"batch {training_args.per_device_train_batch_size} x accumulation "
            f"{training_args.gradient_accumulation_steps}; max_length {training_args.max_length}; "
            f"seed {training_args.seed}",
            f"- wall time: {info.get('train_seconds', 0.0) / 60:.1f} min"
            + (f"; resumed from {', '.join(info['resumed_from'])}" if info.get("resumed_from") else ""),
            "",
            "## Held-out loss (completion tokens)",
            "",
            "| before | after |",
            "|---:|---:|",
            f"| {fmt(before)} | {fmt(after)} |",
            "",
        ]
    )


def export_adapter(
    adapter_dir: str | Path, target_dir: str | Path, dtype: str = "bfloat16", base_model: str | None = None
) -> Path:
    """Copy a PEFT adapter with its weights cast to `dtype` (e.g. to ship a small bf16 adapter).

    Args:
        adapter_dir: a PEFT adapter directory (`adapter_config.json` + `adapter_model.safetensors`).
        target_dir: where to write it (replaced atomically).
        base_model: written as `base_model_name_or_path` (e.g. the built-in name instead of the local
            directory the adapter was trained from); `None` keeps the adapter's own.

    Returns:
        `target_dir`.
    """
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    src, dst = Path(adapter_dir), Path(target_dir)
    if not (src / "adapter_config.json").is_file() or not (src / "adapter_model.safetensors").is_file():
        raise SFTSetupError(f"{src} is not a PEFT adapter directory (adapter_config.json, adapter_model.safetensors)")
    tmp = dst.with_name(f".{dst.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    tensors = {
        k: v.to(getattr(torch, dtype)).contiguous()
        for k, v in load_file(str(src / "adapter_model.safetensors")).items()
    }
    save_file(tensors, str(tmp / "adapter_model.safetensors"), metadata={"format": "pt"})
    for name in ("adapter_config.json", "README.md"):
        if (src / name).is_file():
            shutil.copy2(src / name, tmp / name)
    if base_model is not None:
        config = json.loads((tmp / "adapter_config.json").read_text())
        config["base_model_name_or_path"] = base_model
        (tmp / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")
    if dst.exists():
        shutil.rmtree(dst)
    os.replace(tmp, dst)
    return dst
