"""Fixtures of the disk-fault tests: small disks that fill up or turn read-only (`disks.py`), and a tiny LM to merge
and checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.disks import lockable_dir, small_disk  # noqa: F401 (fixtures of this folder)


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory, builtin_model_dir) -> Path:
    """A 2-layer random Llama with SmolLM2's tokenizer: about 10 MB on disk with its tokenizer files."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("faults_tiny_lm")
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
