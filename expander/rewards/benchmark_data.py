"""The public benchmark files shipped under `data/prompts/`, and the one error for a bad benchmark file.

* GenEval (djghosh13/geneval, MIT): `data/prompts/geneval/evaluation_metadata.jsonl`, 553 records
  `{tag, include, exclude?, prompt}`, read and validated by `expander.rewards.geneval_rules`.
* DPG-Bench (TencentQQGYLab/ELLA, Apache-2.0): `data/prompts/dpg_bench/prompts.jsonl`, the 1,065 upstream
  `dpg_bench/prompts/<id>.txt` files as `{id, prompt}` lines, byte for byte (see that folder's README);
  read by `read_dpg_prompts`. Its question file `dpg_bench.csv` is not shipped; the user passes its path
  to `expander.rewards.question_graph.read_dpg_questions`.

Default paths are relative to the repository root, like `data/prompts/PartiPrompts.tsv` for the Parti suite.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from expander.errors import ExpanderError
from expander.files import iter_jsonl, resolve_data_path

__all__ = ["DPG_PROMPTS_FILE", "GENEVAL_METADATA_FILE", "BenchmarkDataError", "DpgPrompt", "read_dpg_prompts"]

GENEVAL_METADATA_FILE = "data/prompts/geneval/evaluation_metadata.jsonl"
DPG_PROMPTS_FILE = "data/prompts/dpg_bench/prompts.jsonl"


class BenchmarkDataError(ExpanderError, ValueError):
    """A benchmark file (prompts, metadata, questions) that cannot be used; the message names the file, the
    row or line, and the column or key."""


@dataclass(frozen=True)
class DpgPrompt:
    """One DPG-Bench prompt: `id` is upstream's file stem (`"0"`, `"COCOval2014000000010363"`, ...), the
    name its image must carry for the official scorer and the `item_id` of its questions in `dpg_bench.csv`.
    `text` is the file's content, unstripped (two upstream files end in whitespace)."""

    id: str
    text: str


def read_dpg_prompts(path: str | Path = DPG_PROMPTS_FILE) -> list[DpgPrompt]:
    """The prompts of a DPG-Bench JSONL (`{"id": str, "prompt": str}` per line), in file order.

    Raises:
        BenchmarkDataError: the file is missing, a line is not a JSON object, a key is missing or not a
            non-empty string, or an id repeats; the message names `path:line` and the key.
    """
    path = resolve_data_path(path)
    if not path.is_file():
        raise BenchmarkDataError(f"{path}: DPG-Bench prompt file not found")
    prompts: list[DpgPrompt] = []
    first_line: dict[str, int] = {}
    for lineno, row in iter_jsonl(path, error=BenchmarkDataError):
        for key in ("id", "prompt"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise BenchmarkDataError(
                    f"{path}:{lineno}: key {key!r} must be a non-empty string, got {row.get(key)!r}"
                )
        if row["id"] in first_line:
            raise BenchmarkDataError(f"{path}:{lineno}: id {row['id']!r} repeats line {first_line[row['id']]}")
        first_line[row["id"]] = lineno
        prompts.append(DpgPrompt(id=row["id"], text=row["prompt"]))
    return prompts
