"""An exported Hugging Face model directory: safetensors weights, config, tokenizer and chat template."""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["HF_FILES", "write_hf_dir"]

HF_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "added_tokens.json",
)
"""Files of a HF model directory copied as they are (besides the safetensors weights and their index)."""


def write_hf_dir(source: str | Path, out: str | Path) -> list[str]:
    """Write the model in the HF directory `source` into the (existing, empty) directory `out`.

    A directory that already holds safetensors weights (the built-in model's, a merged adapter's) is copied file
    by file, so the export is byte-identical to what the expander serves; any other (`.bin` weights) is loaded
    and saved with transformers.

    Returns:
        The names of the files written, sorted.
    """
    source, out = Path(source), Path(out)
    weights = sorted(source.glob("*.safetensors")) + sorted(source.glob("*.safetensors.index.json"))
    if weights:
        for file in [*weights, *(source / name for name in HF_FILES)]:
            if file.is_file():
                shutil.copy2(file, out / file.name)
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from expander.devices import save_on_any_rank

        model = AutoModelForCausalLM.from_pretrained(source, dtype="auto")
        with save_on_any_rank():
            model.save_pretrained(out, safe_serialization=True)
        AutoTokenizer.from_pretrained(source).save_pretrained(out)
    return sorted(p.name for p in out.iterdir())
