"""The model's tokenizer and the chat-template token ids every backend samples from."""

from __future__ import annotations

from pathlib import Path

from expander.engine.sampling import Conversation
from expander.models import chat_template_kwargs

__all__ = ["chat_ids", "load_tokenizer"]


def load_tokenizer(model_path: Path | str):
    """The model's tokenizer, padding on the left (generation appends on the right); pad = EOS if unset."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def chat_ids(tokenizer, conversation: Conversation, enable_thinking: bool = False) -> list[int]:
    """Token ids of `conversation` under the model's chat template, ending with the assistant's turn opener.

    `enable_thinking` reaches templates that have the switch (Qwen3's: `expander.models.chat_template_kwargs`);
    expansion runs with thinking off by default.
    """
    ids = tokenizer.apply_chat_template(
        conversation, add_generation_prompt=True, tokenize=True, **chat_template_kwargs(tokenizer, enable_thinking)
    )
    if hasattr(ids, "keys"):  # transformers 5 returns a BatchEncoding
        ids = ids["input_ids"]
    return list(ids)
