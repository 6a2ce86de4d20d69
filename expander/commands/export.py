"""`expander export OUT_DIR --format hf|gguf|ollama [--key value ...]`: write the expander (adapter merged) for
other runtimes: a Hugging Face directory, GGUF files for llama.cpp, or an Ollama model (`expander.export`)."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass

from expander.commands._passthrough import add_passthrough_parser
from expander.commands._stdout import print_result


@dataclass
class ExportCommandConfig:
    """Settings of `expander export`.

    Attributes:
        format: `hf` (safetensors + tokenizer + chat template), `gguf` (GGUF files) or `ollama` (a GGUF and a
            Modelfile: `ollama create expander -f OUT_DIR/Modelfile`).
        model: built-in name (`smollm2-135m`), local HF model directory or hub id.
        adapter: LoRA adapter directory merged into the model, `default` (the model's shipped adapter) or `none`.
        gguf_types: GGUF weight types, comma-separated: `f16`, `q8_0`, `f32` (default: f16,q8_0 for gguf; q8_0
            for ollama, which takes one).
        name: base name of the GGUF files (`NAME-f16.gguf`) and the model name in them.
        creativity: the level whose system prompt and sampling the Modelfile and the GGUF metadata carry.
        pre_tokenizer: llama.cpp's name of the tokenizer's pre-tokenizer (`smollm`, `llama-bpe`, `qwen2`, ...),
            for a tokenizer the GGUF writer does not recognise (default: recognised from the tokenizer).
        force: replace OUT_DIR if it exists (the new export is written aside, then swapped in).
        json: print the export (directory, files) as one JSON object.
    """

    format: str = "gguf"
    model: str = "smollm2-135m"
    adapter: str = "default"
    gguf_types: list[str] | None = None
    name: str = "expander"
    creativity: str = "medium"
    pre_tokenizer: str | None = None
    force: bool = False
    json: bool = False


def register(sub: argparse._SubParsersAction) -> None:
    add_passthrough_parser(
        sub,
        "export",
        "export the expander as a HF directory, GGUF files or an Ollama model",
        run,
        arg_help="OUT_DIR, then --format hf|gguf|ollama and --key value options (see --help)",
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from expander.config import load_command_line
    from expander.export import export_model

    line = load_command_line(
        args.argv,
        ExportCommandConfig,
        prog="expander export",
        description="Merge the adapter into the model and write it as a HF directory, GGUF files or an Ollama model.",
        positionals={"out_dir": "directory to write (must not exist unless --force)"},
    )
    cfg = line.config
    result = export_model(
        line.positionals["out_dir"],
        format=cfg.format,
        model=cfg.model,
        adapter=cfg.adapter,
        gguf_types=cfg.gguf_types,
        name=cfg.name,
        creativity=cfg.creativity,
        pre_tokenizer=cfg.pre_tokenizer,
        force=cfg.force,
    )
    if cfg.json:
        print_result(json.dumps(result.to_dict(), indent=2))
    else:
        for file in result.files:
            print_result(Path(result.out_dir) / file)
    return 0
