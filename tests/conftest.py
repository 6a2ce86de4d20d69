"""Shared fixtures. Everything runs offline on a CPU: the built-in SmolLM2 and tiny random models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY_EVAL_CONFIG = REPO / "configs" / "eval" / "tiny_cpu.yaml"

# Offline and cached: the built-in model conversion happens once per cache dir (CI: once per clone).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("EXPANDER_CACHE", str(REPO / ".cache" / "expander"))


@pytest.fixture(scope="session")
def builtin_model_dir() -> Path:
    """The converted HF directory of the built-in SmolLM2-135M-Instruct (converted once, then cached)."""
    from expander.models import resolve_model

    return resolve_model("smollm2-135m")


@pytest.fixture(scope="session")
def tiny_chat_lm_dir(tmp_path_factory, builtin_model_dir) -> Path:
    """A 2-layer random Llama with SmolLM2's tokenizer and chat template (trains in a fraction of a second; about
    10 MB with its tokenizer files). Read-only for its users: copy it to change it."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("tiny_chat_lm")
    tokenizer = AutoTokenizer.from_pretrained(builtin_model_dir)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def eval_renderer():
    """The tiny random Krea 2 renderer of the tiny eval config, shared so `render_count` spans runs."""
    from expander.eval.config import load_eval_config
    from expander.eval.rendering import load_renderer

    return load_renderer(load_eval_config(TINY_EVAL_CONFIG))


@pytest.fixture(scope="session")
def eval_scorers():
    """The tiny eval config's scorers (tiny CLIP, aesthetic head, DINOv3, safety), loaded once."""
    from expander.eval.config import load_eval_config
    from expander.eval.scoring import build_scorers

    return build_scorers(load_eval_config(TINY_EVAL_CONFIG))
