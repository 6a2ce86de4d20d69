"""Prompt suites of `expander eval`: one loader per suite, each returning the suite's whole prompt set.

    prompts = SUITES[cfg.suite](cfg.prompt_file)     # then `plan.load_prompts` filters and samples them

A loader takes the suite's data file (None: the file the project ships) and returns `EvalPrompt`s that keep
the benchmark's own ids as `prompt_id`, so every output (tables, the official image layouts) maps back to it:

* `parti`: PartiPrompts (`data/prompts/PartiPrompts.tsv`, Apache-2.0); ids `p<row>`, category and challenge.
* `geneval`: GenEval (`data/prompts/geneval/evaluation_metadata.jsonl`, MIT); one prompt per metadata record,
  `prompt_id` the zero-padded line index (`00042`, upstream's image folder name), `category` the record's tag,
  `metadata` the record itself (what `metadata.jsonl` of the official layout holds and the detector rules read).
* `dpg`: DPG-Bench (`data/prompts/dpg_bench/prompts.jsonl`, Apache-2.0); `prompt_id` upstream's file stem
  (`"0"`, `"COCOval2014000000010363"`), the name of its image for the official scorer.
* `file`: your own `.tsv`/`.csv`/`.jsonl` (`prompt_file`, required); ids `p<row>`.

A new suite is one entry of `SUITES`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from expander.eval.prompt_sets import DEFAULT_PROMPT_FILE, EvalPrompt, PromptSetError, load_prompt_file
from expander.prompts import PromptError, validate_prompt

__all__ = ["SUITES", "geneval_prompt_id", "load_dpg", "load_file", "load_geneval", "load_parti"]


def geneval_prompt_id(index: int) -> str:
    """GenEval's id of the `index`-th metadata line: its folder name in upstream's layout (`f"{index:0>5}"`)."""
    return f"{index:0>5}"


def load_parti(path: str | Path | None = None) -> list[EvalPrompt]:
    """PartiPrompts (or the `.tsv`/`.csv`/`.jsonl` at `path`): ids `p<row>`, category and challenge."""
    return load_prompt_file(path or DEFAULT_PROMPT_FILE)


def load_file(path: str | Path | None = None) -> list[EvalPrompt]:
    """Your own prompt file (`.tsv`, `.csv` or `.jsonl`, see `load_prompt_file`); `path` is required."""
    if not path:
        raise PromptSetError("suite 'file' reads `prompt_file`; set it to a .tsv, .csv or .jsonl file")
    return load_prompt_file(path)


def load_geneval(path: str | Path | None = None) -> list[EvalPrompt]:
    """GenEval's metadata records (the shipped `evaluation_metadata.jsonl`, or one of the same format at `path`).

    Raises:
        BenchmarkDataError: a missing file or an invalid record (naming `path:line`).
        PromptSetError: a record whose prompt is empty or too long.
    """
    from expander.rewards.benchmark_data import GENEVAL_METADATA_FILE
    from expander.rewards.geneval_rules import read_geneval_metadata

    records = read_geneval_metadata(path or GENEVAL_METADATA_FILE)
    return [
        EvalPrompt(
            prompt_id=geneval_prompt_id(index),
            text=_text(record["prompt"], path or GENEVAL_METADATA_FILE, index + 1),
            category=record["tag"],
            metadata=record,
        )
        for index, record in enumerate(records)
    ]


def load_dpg(path: str | Path | None = None) -> list[EvalPrompt]:
    """DPG-Bench's prompts (the shipped `prompts.jsonl`, or one of the same `{id, prompt}` format at `path`).

    Raises:
        BenchmarkDataError: a missing file, a bad line or a repeated id (naming `path:line`).
        PromptSetError: an id that the official scorer could not match (it cuts a file name at the first `.`)
            or a prompt that is empty or too long.
    """
    from expander.rewards.benchmark_data import DPG_PROMPTS_FILE, read_dpg_prompts

    prompts = []
    for line, row in enumerate(read_dpg_prompts(path or DPG_PROMPTS_FILE), start=1):
        if "." in row.id or "/" in row.id:
            raise PromptSetError(f"{path or DPG_PROMPTS_FILE}:{line}: DPG id {row.id!r} cannot be an image file stem")
        prompts.append(EvalPrompt(prompt_id=row.id, text=_text(row.text, path or DPG_PROMPTS_FILE, line)))
    return prompts


def _text(prompt: object, path: str | Path, line: int) -> str:
    try:
        return validate_prompt(prompt)
    except PromptError as exc:
        raise PromptSetError(f"{path}:{line}: {exc}") from None


# name -> loader(the suite's data file or None) -> the whole prompt set, before filtering and sampling.
SUITES: dict[str, Callable[[str | Path | None], list[EvalPrompt]]] = {
    "parti": load_parti,
    "geneval": load_geneval,
    "dpg": load_dpg,
    "file": load_file,
}
