"""The text-reward GRPO recipe (configs/grpo/text_cpu.yaml) and the thinking switch of the policy."""

from __future__ import annotations

from pathlib import Path

import torch


def test_text_reward_recipe_parses_and_loads_no_image_model():
    from pathlib import Path

    from expander.rewards import load_rewards_config
    from expander.rewards.registry import IMAGE_REWARDS
    from expander.train.grpo import make_parser

    root = Path(__file__).resolve().parents[2]
    script_args, training_args, model_args = make_parser().parse_args_and_config(
        ["--config", str(root / "configs" / "grpo" / "text_cpu.yaml")]
    )
    rewards = load_rewards_config(root / script_args.rewards_config)
    assert "added_subjects" in rewards.rewards and not set(rewards.rewards) & (set(IMAGE_REWARDS) - {"faithfulness"})
    assert rewards.faithfulness.clip_weight == 0 and not rewards.safety.image_layer
    assert training_args.multi_objective_aggregation == "normalize_then_sum" and model_args.sft_adapter == "default"


def test_policy_thinks_off_by_default_when_its_template_has_the_switch(tmp_path, tiny_chat_lm_dir):
    import shutil

    from transformers import AutoTokenizer
    from trl import GRPOConfig

    from expander.train.grpo import GRPOModelConfig
    from expander.train.grpo.run import build_policy
    from tests.train.test_sft import THINKING_TEMPLATE

    model_dir = tmp_path / "thinking_lm"
    shutil.copytree(tiny_chat_lm_dir, model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.chat_template = THINKING_TEMPLATE
    tokenizer.save_pretrained(model_dir)
    args = GRPOConfig(output_dir=str(tmp_path / "run"), use_cpu=True, report_to=[])
    build_policy(GRPOModelConfig(model_name_or_path=str(model_dir), use_peft=False), args)
    assert args.chat_template_kwargs == {"enable_thinking": False}
    plain = GRPOConfig(output_dir=str(tmp_path / "run2"), use_cpu=True, report_to=[])
    build_policy(GRPOModelConfig(model_name_or_path=str(tiny_chat_lm_dir), use_peft=False), plain)
    assert plain.chat_template_kwargs is None  # SmolLM2's template has no switch: nothing is passed


def test_the_recipe_policy_is_the_shipped_adapter_on_the_builtin_model(tmp_path):
    """The GRPO recipes start from the built-in model with its shipped adapter, loaded trainable (the loop tests
    run a tiny random policy instead: this is where the recipe's own policy is checked)."""
    from safetensors.torch import load_file

    from expander.models import ADAPTERS_DIR
    from expander.train.grpo import make_parser
    from expander.train.grpo.run import build_policy

    root = Path(__file__).resolve().parents[2]
    _, training_args, model_args = make_parser().parse_args_and_config(
        ["--config", str(root / "configs" / "grpo" / "tiny_cpu.yaml"), "--output_dir", str(tmp_path)]
    )
    model, tokenizer, peft_config = build_policy(model_args, training_args)
    assert peft_config is None  # the adapter is loaded, not a fresh LoRA
    assert model.base_model.model.config.num_hidden_layers == 30  # SmolLM2-135M
    shipped = load_file(str(ADAPTERS_DIR / "smollm2-135m-expander" / "adapter_model.safetensors"))
    state = {k.replace(".default", ""): v for k, v in model.state_dict().items() if "lora_" in k}
    assert set(shipped) == set(state)
    for key, want in shipped.items():
        assert torch.equal(state[key].to(want.dtype), want), key
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert tokenizer.pad_token is not None


def test_a_format_range_looser_than_the_creativity_level_is_warned():
    from expander.rewards import load_rewards_config
    from expander.train.grpo.run import format_range_warning

    root = Path(__file__).resolve().parents[2]
    text = root / "configs" / "rewards" / "text.yaml"
    loose = load_rewards_config(text, ["--format.min_words", "30", "--format.max_words", "160"])
    message = format_range_warning(loose, "medium")
    assert message and "format.min_words 30" in message and "--rewards.format.min_words 60" in message
    assert format_range_warning(load_rewards_config(text, ["--format.min_words", "60"]), "medium") is None
    assert format_range_warning(load_rewards_config(text), "low") is None  # the recipe as committed
    no_format = load_rewards_config(text, ["--rewards", "faithfulness,added_subjects"])
    assert format_range_warning(no_format, "medium") is None


def test_a_bad_rollout_repeat_guard_is_a_setup_error(tmp_path):
    import pytest

    from expander.train.grpo import GRPOSetupError, main, make_parser

    root = Path(__file__).resolve().parents[2]
    base = ["--config", str(root / "configs" / "grpo" / "text_cpu.yaml"), "--output_dir", str(tmp_path / "run")]
    with pytest.raises(GRPOSetupError, match="rollout_no_repeat_ngram must be 0"):
        main(*make_parser().parse_args_and_config([*base, "--rollout_no_repeat_ngram", "1"]))
    with pytest.raises(GRPOSetupError, match="needs transformers rollouts"):
        main(*make_parser().parse_args_and_config([*base, "--rollout_no_repeat_ngram", "4", "--use_vllm", "true"]))
