"""GRPO's training prompts: the short side of a synth dataset plus prompt files, under the expansion contract."""

from __future__ import annotations

from pathlib import Path

from expander.files import iter_jsonl
from expander.prompts import CREATIVITY_LEVELS, PromptError, build_messages, validate_prompt
from expander.train.grpo.config import SHORT_COLUMN, GRPOScriptArguments, GRPOSetupError

__all__ = ["load_prompt_dataset"]


def _read_prompt_file(path: Path, column: str) -> list[str]:
    if not path.is_file():
        raise GRPOSetupError(f"prompt file {path} does not exist")
    prompts: list[str] = []
    if path.suffix == ".jsonl":
        for n, row in iter_jsonl(path, GRPOSetupError):
            if not isinstance(row.get(column), str):
                raise GRPOSetupError(f"{path}:{n}: expected an object with a string {column!r} field")
            prompts.append(row[column])
    elif path.suffix in (".txt", ""):
        prompts = [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    else:
        raise GRPOSetupError(f"prompt file {path}: unsupported suffix {path.suffix!r} (use .txt or .jsonl)")
    return prompts


def _read_dataset_prompts(ref: str, split: str, column: str) -> list[str]:
    import datasets

    path = Path(ref).expanduser()
    if path.is_dir() and ((path / "dataset_dict.json").is_file() or (path / "dataset_info.json").is_file()):
        loaded = datasets.load_from_disk(str(path))
        table = loaded[split] if isinstance(loaded, datasets.DatasetDict) else loaded
    elif path.is_dir():
        files = sorted(str(p) for p in path.rglob(f"{split}*.parquet")) or sorted(
            str(p) for p in path.rglob(f"{split}/*.parquet")
        )
        if not files:
            raise GRPOSetupError(f"dataset directory {path} has no saved dataset and no {split}*.parquet files")
        table = datasets.load_dataset("parquet", data_files=files, split="train")
    elif path.is_file():
        kind = {".parquet": "parquet", ".jsonl": "json", ".json": "json"}.get(path.suffix)
        if kind is None:
            raise GRPOSetupError(f"dataset file {path}: unsupported suffix {path.suffix!r}")
        table = datasets.load_dataset(kind, data_files=str(path), split="train")
    else:
        try:
            table = datasets.load_dataset(ref, split=split)
        except Exception as exc:  # noqa: BLE001 - any loader failure is reported with the ref
            raise GRPOSetupError(
                f"cannot load dataset {ref!r} (split {split!r}): {type(exc).__name__}: {exc}"
            ) from None
    if column not in table.column_names:
        raise GRPOSetupError(f"dataset {ref!r} has no column {column!r}; columns: {', '.join(table.column_names)}")
    return list(table[column])


def load_prompt_dataset(script_args: GRPOScriptArguments):
    """The training prompts as a `datasets.Dataset` with columns `prompt` (chat messages) and `short`.

    Prompts from the dataset and the prompt files are validated (`expander.prompts.validate_prompt`),
    de-duplicated in order, and cut to `max_prompts`.

    Raises:
        GRPOSetupError: no source given, a source missing or malformed, an invalid prompt (with its source
            and position), or no prompts at all.
    """
    import datasets

    if script_args.creativity not in CREATIVITY_LEVELS or script_args.creativity == "raw":
        raise GRPOSetupError(
            f"creativity must be one of {', '.join(k for k in CREATIVITY_LEVELS if k != 'raw')}, "
            f"got {script_args.creativity!r}"
        )
    sources: list[tuple[str, list[str]]] = []
    if script_args.dataset_name:
        sources.append(
            (
                script_args.dataset_name,
                _read_dataset_prompts(script_args.dataset_name, script_args.dataset_split, script_args.prompt_column),
            )
        )
    for name in script_args.prompt_files or []:
        sources.append((name, _read_prompt_file(Path(name), script_args.prompt_column)))
    if not sources:
        raise GRPOSetupError("no prompts: set dataset_name and/or prompt_files")
    shorts: list[str] = []
    seen: set[str] = set()
    for name, prompts in sources:
        for i, raw in enumerate(prompts):
            try:
                text = validate_prompt(raw)
            except PromptError as exc:
                raise GRPOSetupError(f"{name}: prompt #{i + 1}: {exc}") from None
            if text not in seen:
                seen.add(text)
                shorts.append(text)
    if script_args.max_prompts is not None:
        shorts = shorts[: script_args.max_prompts]
    if not shorts:
        raise GRPOSetupError(f"no prompts found in {', '.join(n for n, _ in sources)}")
    return datasets.Dataset.from_dict(
        {
            "prompt": [build_messages(s, script_args.creativity) for s in shorts],
            SHORT_COLUMN: shorts,
        }
    )
