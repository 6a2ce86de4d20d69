"""The text-reward GRPO recipe (configs/grpo/text_cpu.yaml) and the thinking switch of the policy."""

from __future__ import annotations


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
