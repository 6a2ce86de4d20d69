"""SFT: contract-built examples, completion-only loss, training lowers held-out loss, resume, adapter export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import TrainerCallback

from expander.prompts import build_messages
from expander.train.sft import SFTSetupError, export_adapter, main, make_parser, to_conversational

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _args(tmp_path, dataset_dir, model_dir, *extra):
    argv = [
        "--config",
        str(CONFIGS / "sft" / "tiny_cpu.yaml"),
        "--dataset_dir",
        str(dataset_dir),
        "--model_name_or_path",
        str(model_dir),
        "--output_dir",
        str(tmp_path / "run"),
        "--max_length",
        "400",
        "--per_device_train_batch_size",
        "2",
        "--max_eval_samples",
        "6",
        "--logging_steps",
        "1",
        "--eval_strategy",
        "no",
        "--warmup_steps",
        "0",
        "--save_steps",
        "2",
        "--save_total_limit",
        "3",
        *extra,
    ]
    return make_parser().parse_args_and_config(argv)


def test_every_sft_config_parses():
    # bf16 recipes (GPU) cannot be built on a CPU machine; every key is still checked against the dataclasses.
    cpu = [] if torch.cuda.is_available() else ["--bf16", "false"]
    for path in sorted((CONFIGS / "sft").rglob("*.yaml")):
        script_args, training_args, model_args = make_parser().parse_args_and_config(["--config", str(path), *cpu])
        assert training_args.completion_only_loss is True
        assert script_args.dataset_dir and model_args.model_name_or_path


def test_examples_are_built_with_the_expansion_contract():
    row = {"short": "a red fox in snow", "long": "A red fox in deep snow at dawn.", "creativity": "low"}
    example = to_conversational(row)
    assert example["prompt"] == build_messages("a red fox in snow", "low")
    assert example["completion"] == [{"role": "assistant", "content": row["long"]}]


class _StopAt(TrainerCallback):
    """Simulates a kill: raises after `step` optimizer steps (checkpoints up to then are on disk)."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            raise KeyboardInterrupt


class _CountSteps(TrainerCallback):
    def __init__(self):
        self.steps = []

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


def test_lora_training_lowers_held_out_loss_and_masks_the_prompt(tmp_path, rule_pairs_dir, tiny_chat_lm_dir):
    script_args, training_args, model_args = _args(
        tmp_path,
        rule_pairs_dir,
        tiny_chat_lm_dir,
        "--max_steps",
        "6",
        "--learning_rate",
        "2e-2",
    )
    trainer = main(script_args, training_args, model_args)

    # Loss only on the completion: the unmasked tokens decode to the long caption and the end-of-turn token.
    tokenizer = trainer.processing_class
    sample = trainer.train_dataset[0]
    completion = [t for t, label in zip(sample["input_ids"], sample["labels"]) if label != -100]
    prompt = [t for t, label in zip(sample["input_ids"], sample["labels"]) if label == -100]
    assert "You write prompts for a text-to-image model" in tokenizer.decode(prompt)
    assert tokenizer.decode(completion).strip().endswith("<|im_end|>")
    assert "You write prompts" not in tokenizer.decode(completion)

    info = json.loads((tmp_path / "run" / "sft_metrics.json").read_text())
    assert info["eval_loss_after"] < info["eval_loss_before"] - 0.05
    final = tmp_path / "run" / "final"
    assert (final / "adapter_config.json").is_file() and (final / "adapter_model.safetensors").is_file()
    card = (final / "README.md").read_text()
    assert f"{info['eval_loss_before']:.4f}" in card and "LoRA adapter" in card

    # The adapter changes the model, and exports to bf16 at half the size, loadable by PEFT.
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    shipped = export_adapter(final, tmp_path / "shipped", base_model="tiny-chat")
    assert json.loads((shipped / "adapter_config.json").read_text())["base_model_name_or_path"] == "tiny-chat"
    weights = load_file(str(shipped / "adapter_model.safetensors"))
    assert all(w.dtype == torch.bfloat16 for w in weights.values())
    assert any(k.endswith("lora_B.weight") and w.abs().sum() > 0 for k, w in weights.items())
    size = (shipped / "adapter_model.safetensors").stat().st_size
    assert size < 0.6 * (final / "adapter_model.safetensors").stat().st_size
    base = AutoModelForCausalLM.from_pretrained(tiny_chat_lm_dir)
    ids = torch.tensor([[1, 2, 3, 4]])
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_chat_lm_dir), str(shipped))
    assert not torch.allclose(base(ids).logits, tuned(ids).logits.float(), atol=1e-4)


def test_killed_run_resumes_from_its_last_checkpoint(tmp_path, rule_pairs_dir, tiny_chat_lm_dir):
    args = _args(tmp_path, rule_pairs_dir, tiny_chat_lm_dir, "--max_steps", "6", "--eval_before_training", "false")
    with pytest.raises(KeyboardInterrupt):
        main(*args, callbacks=[_StopAt(5)])
    run = tmp_path / "run"
    assert sorted(p.name for p in run.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    assert not (run / "final").exists()

    counter = _CountSteps()
    args = _args(tmp_path, rule_pairs_dir, tiny_chat_lm_dir, "--max_steps", "6", "--eval_before_training", "false")
    trainer = main(*args, callbacks=[counter])
    assert counter.steps == [5, 6]  # continued after checkpoint-4, not from scratch
    assert trainer.state.global_step == 6
    logged = [e["step"] for e in trainer.state.log_history if "loss" in e]
    assert logged == sorted(set(logged)) and logged[-1] == 6
    info = json.loads((run / "sft_metrics.json").read_text())
    assert info["resumed_from"] == ["checkpoint-4"]
    assert (run / "final" / "adapter_config.json").is_file()


def test_full_finetune_by_flag_moves_the_weights(tmp_path, rule_pairs_dir, tiny_chat_lm_dir):
    args = _args(
        tmp_path,
        rule_pairs_dir,
        tiny_chat_lm_dir,
        "--max_steps",
        "2",
        "--use_peft",
        "false",
        "--eval_before_training",
        "false",
        "--learning_rate",
        "1e-3",
    )
    main(*args)
    from safetensors.torch import load_file

    final = tmp_path / "run" / "final"
    assert not (final / "adapter_config.json").exists()
    before = load_file(str(Path(tiny_chat_lm_dir) / "model.safetensors"))
    after = load_file(str(final / "model.safetensors"))
    moved = [k for k in before if k in after and not torch.equal(before[k], after[k])]
    assert moved


def test_missing_pairs_and_a_too_short_max_length_are_named_errors(tmp_path, rule_pairs_dir, tiny_chat_lm_dir):
    args = _args(tmp_path, tmp_path / "nothing", tiny_chat_lm_dir, "--max_steps", "1")
    with pytest.raises(SFTSetupError, match="no synthetic pairs"):
        main(*args)
    args = _args(tmp_path, rule_pairs_dir, tiny_chat_lm_dir, "--max_steps", "1", "--max_length", "64")
    with pytest.raises(SFTSetupError, match="raise max_length"):
        main(*args)


def test_cli_reports_bad_config(tmp_path, capsys):
    from expander.cli import main as cli_main

    assert cli_main(["sft", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli_main(["synth", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli_main(["synth", "--stepz", "3"]) == 2
    assert "unknown key(s) stepz" in capsys.readouterr().err


THINKING_TEMPLATE = (  # Qwen3's switch: with enable_thinking false an empty think block opens every assistant turn
    "{% set off = enable_thinking is defined and enable_thinking is false %}"
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['role'] == 'assistant' and off %}<think>\n\n</think>\n\n{% endif %}{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% if off %}<think>\n\n</think>\n\n{% endif %}"
    "{% endif %}"
)


def test_thinking_is_switched_off_in_sft_examples_when_the_template_has_the_switch(
    tmp_path, rule_pairs_dir, tiny_chat_lm_dir
):
    import shutil

    from transformers import AutoTokenizer

    model_dir = tmp_path / "thinking_lm"
    shutil.copytree(tiny_chat_lm_dir, model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.chat_template = THINKING_TEMPLATE
    tokenizer.save_pretrained(model_dir)
    script_args, training_args, model_args = _args(
        tmp_path,
        rule_pairs_dir,
        model_dir,
        "--max_steps",
        "1",
        "--max_train_samples",
        "4",
        "--eval_before_training",
        "false",
    )
    trainer = main(script_args, training_args, model_args)
    sample = trainer.train_dataset[0]
    masked = [t for t, label in zip(sample["input_ids"], sample["labels"]) if label == -100]
    # The prompt's last "\n\n" may merge with the caption's first token: the block itself is what matters.
    assert trainer.processing_class.decode(masked).rstrip().endswith("<|im_start|>assistant\n<think>\n\n</think>")
