"""`export_model`: the expander (a model with its adapter merged in) as a HF directory, GGUF files or an
Ollama model, written atomically into one directory."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from expander.export.errors import ExportError
from expander.export.gguf_llama import GGUF_TYPES, GGUFSampling, write_gguf
from expander.export.hf_dir import write_hf_dir
from expander.export.ollama import chat_template_parts, modelfile, ollama_settings, stop_sequences
from expander.export.staging import check_output_dir, staged_output_dir
from expander.models import DEFAULT_MODEL, merged_model_dir, resolve_adapter, resolve_model

__all__ = ["DEFAULT_GGUF_TYPES", "FORMATS", "MANIFEST", "ExportResult", "export_model"]

logger = logging.getLogger(__name__)

FORMATS = ("hf", "gguf", "ollama")
DEFAULT_GGUF_TYPES = {"gguf": ("f16", "q8_0"), "ollama": ("q8_0",)}
"""GGUF types written when none are asked for: both for `gguf`, one for `ollama` (a Modelfile names one file)."""
MANIFEST = "expander-export.json"
"""What was exported, from what, written into every export directory."""


@dataclass
class ExportResult:
    """An export: where, in which format, from which model and adapter, and the files written (names)."""

    out_dir: str
    format: str
    model: str
    adapter: str | None
    creativity: str
    gguf_types: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def export_model(
    out_dir: str | os.PathLike,
    *,
    format: str = "gguf",
    model: str = DEFAULT_MODEL,
    adapter: str | None = "default",
    gguf_types: list[str] | tuple[str, ...] | None = None,
    name: str = "expander",
    creativity: str = "medium",
    pre_tokenizer: str | None = None,
    force: bool = False,
) -> ExportResult:
    """Merge `adapter` into `model` and write it to `out_dir` as `format`.

    Formats:
        `hf`: safetensors weights, config, tokenizer and chat template (loads with `from_pretrained`, vLLM, TGI).
        `gguf`: `{name}-{type}.gguf` per GGUF type (default f16 and q8_0), with tokenizer, chat template and the
            creativity's sampling in the metadata (llama.cpp, LM Studio, transformers `gguf_file=`).
        `ollama`: one GGUF (default q8_0) and a `Modelfile` (`ollama create NAME -f Modelfile`).
    Every directory also gets `expander-export.json` (this result). The directory is written through a
    temporary sibling and renamed into place: a failed export leaves nothing, or the previous export, behind.

    Args:
        model: built-in name, local HF directory or hub id (`expander.models.resolve_model`).
        adapter: LoRA adapter directory, `default` (the model's shipped adapter) or `none`/None.
        gguf_types: GGUF weight types (`f32`, `f16`, `q8_0`); `ollama` takes exactly one.
        name: base name of the GGUF files and their `general.name`.
        creativity: the creativity level whose system prompt and sampling go into the Modelfile and the GGUF.
        pre_tokenizer: llama.cpp's pre-tokenizer name for the GGUF tokenizer (None: recognised from the
            tokenizer; `expander.export.gguf_vocab.PRE_TOKENIZERS`).
        force: replace an existing `out_dir`.

    Raises:
        ExportDirExistsError: `out_dir` exists and `force` is false (checked before any work).
        ExportError: an unknown format or type, a model the GGUF writer cannot convert.
        ModelNotFoundError, AdapterNotFoundError: the model or adapter cannot be found.
    """
    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    types = _gguf_types(format, gguf_types)
    if not name or "/" in name or name.startswith("."):
        raise ExportError(f"--name must be a plain file name, got {name!r}")
    # The creativity's system prompt and sampling go into GGUF metadata and the Modelfile; an unknown or `raw`
    # creativity fails here, before any work.
    settings = ollama_settings(creativity) if format != "hf" else None
    check_output_dir(out_dir, force)
    adapter_dir = resolve_adapter(model, adapter)
    source = Path(resolve_model(model))
    if adapter_dir is not None:
        source = merged_model_dir(source, adapter_dir)
    result = ExportResult(
        out_dir=str(Path(out_dir).expanduser()),
        format=format,
        model=model,
        adapter=str(adapter_dir) if adapter_dir else None,
        creativity=creativity,
        gguf_types=list(types),
    )
    with staged_output_dir(out_dir, force) as tmp:
        if format == "hf":
            write_hf_dir(source, tmp)
        else:
            sampling = GGUFSampling(settings.temperature, settings.top_p, settings.repeat_penalty)
            with _safetensors_dir(source) as hf_source:
                for gguf_type in types:
                    write_gguf(
                        hf_source,
                        tmp / f"{name}-{gguf_type}.gguf",
                        gguf_type,
                        name=name,
                        sampling=sampling,
                        pre_tokenizer=pre_tokenizer,
                    )
                if format == "ollama":
                    _write_modelfile(hf_source, tmp, name, f"{name}-{types[0]}.gguf", settings, result)
        result.files = sorted([p.name for p in tmp.iterdir()] + [MANIFEST])
        (tmp / MANIFEST).write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    logger.info("exported %s (%s) to %s", model, format, result.out_dir)
    return result


def _gguf_types(format: str, gguf_types) -> tuple[str, ...]:
    if format == "hf":
        if gguf_types:
            raise ExportError("--gguf-types applies to --format gguf and ollama, not hf")
        return ()
    types = tuple(gguf_types) if gguf_types else DEFAULT_GGUF_TYPES[format]
    unknown = [t for t in types if t not in GGUF_TYPES]
    if unknown:
        raise ExportError(f"unknown GGUF type {unknown[0]!r}; choose from {', '.join(GGUF_TYPES)}")
    if len(set(types)) != len(types):
        raise ExportError(f"--gguf-types lists a type twice: {', '.join(types)}")
    if format == "ollama" and len(types) != 1:
        raise ExportError(f"--format ollama writes one GGUF for its Modelfile; got --gguf-types {','.join(types)}")
    return types


def _write_modelfile(hf_source: Path, out: Path, name: str, gguf_name: str, settings, result: ExportResult) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(hf_source)
    parts = chat_template_parts(tokenizer)
    header = (
        f"Made by `expander export --format ollama` from {result.model}"
        + (f" + adapter {Path(result.adapter).name}" if result.adapter else "")
        + f"; SYSTEM and PARAMETERs are the `{result.creativity}` creativity's.\n"
        f"  ollama create {name} -f Modelfile\n"
        f'  ollama run {name} "a red fox in snow"'
    )
    text = modelfile(gguf_name, parts, settings, stop_sequences(tokenizer, parts), header=header)
    (out / "Modelfile").write_text(text)


@contextlib.contextmanager
def _safetensors_dir(source: Path) -> Iterator[Path]:
    """`source` itself when it holds safetensors weights, else a temporary HF copy written with transformers."""
    if any(source.glob("*.safetensors")):
        yield source
        return
    with tempfile.TemporaryDirectory(prefix="expander-export-") as tmp:
        write_hf_dir(source, tmp)
        yield Path(tmp)
