"""Token counts with a target's own tokenizer, and fitting a text into a token budget at clean boundaries.

A tokenizer reference (`load_counter`) is one of:

* ``clip`` -- the CLIP BPE of every CLIP text encoder (SDXL's two, SD3's CLIP-L/G, FLUX.1's pooled one): a
  transformers `CLIPTokenizer` built from the merges file open_clip ships (`bpe_simple_vocab_16e6.txt.gz`,
  OpenAI's own), read without importing open_clip (which imports torch and torchvision); offline, in 0.1 s.
  Without open_clip installed, ``openai/clip-vit-large-patch14``'s tokenizer from the hub.
* a built-in model name (``smollm2-135m``): that model's tokenizer (`expander.models.resolve_model`);
* a local directory: a tokenizer directory, or a diffusers model directory whose target's subfolder
  (`TargetModel.tokenizer_subfolder`, e.g. ``tokenizer_2``) holds it;
* a hub id (``Qwen/Qwen3-VL-4B-Instruct``): from the local HF cache, or downloaded (tokenizer files only).

Counts include the special tokens the encoder adds (CLIP's BOS/EOS, T5's EOS), as the pipelines count
against their limits. Loaded tokenizers are kept per reference for the life of the process.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expander.errors import ExpanderError
from expander.sentences import CLAUSE_MARKS, SENTENCE_MARKS, split_sentences

__all__ = ["TargetTokenizerError", "TokenCounter", "fit_text", "load_counter"]

CLIP_HUB_TOKENIZER = "openai/clip-vit-large-patch14"


class TargetTokenizerError(ExpanderError, OSError):
    """A target's tokenizer that cannot be loaded (the message names the reference and how to set another)."""


@dataclass(frozen=True)
class TokenCounter:
    """Counts the tokens of a text as one encoder does.

    Attributes:
        name: the tokenizer reference it was loaded from (reported in responses).
        tokenizer: a transformers tokenizer.
    """

    name: str
    tokenizer: Any

    def count(self, text: str) -> int:
        """Tokens of `text`, special tokens included."""
        return len(self.tokenizer(text, add_special_tokens=True)["input_ids"])


def load_counter(ref: str, subfolder: str | None = None) -> TokenCounter:
    """The `TokenCounter` of tokenizer reference `ref` (see the module doc), cached per (ref, subfolder).

    Raises:
        TargetTokenizerError: it cannot be loaded; the message names `ref` and the cause.
    """
    return _load_counter(str(ref).strip(), subfolder)


@functools.lru_cache(maxsize=32)
def _load_counter(ref: str, subfolder: str | None) -> TokenCounter:
    try:
        return TokenCounter(ref, _load(ref, subfolder))
    except TargetTokenizerError:
        raise
    except Exception as exc:  # noqa: BLE001 - any loader failure is "this reference does not load"; we name it
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TargetTokenizerError(
            f"cannot load tokenizer {ref!r} ({type(exc).__name__}: {cause[:300]}); give a local tokenizer "
            "directory, a diffusers model directory, `clip` or a built-in model name instead"
        ) from exc


def _load(ref: str, subfolder: str | None):
    from transformers import AutoTokenizer

    if ref == "clip":
        merges = _open_clip_merges()
        return _clip_tokenizer(merges) if merges else AutoTokenizer.from_pretrained(CLIP_HUB_TOKENIZER)
    from expander.models import BUILTIN_MODELS, resolve_model

    if ref in BUILTIN_MODELS:
        return AutoTokenizer.from_pretrained(resolve_model(ref))
    path = Path(ref).expanduser()
    if path.exists():
        if subfolder and (path / subfolder).is_dir():
            path = path / subfolder
        return AutoTokenizer.from_pretrained(path)
    if subfolder:  # a diffusers repo keeps its tokenizer in the subfolder; a tokenizer repo at its root
        try:
            return AutoTokenizer.from_pretrained(ref, subfolder=subfolder)
        except Exception:  # noqa: BLE001 - not a diffusers repo: try the root below, which reports the failure
            pass
    return AutoTokenizer.from_pretrained(ref)


def _open_clip_merges() -> list[str] | None:
    """OpenAI CLIP's BPE merges from the file open_clip ships, or None without open_clip."""
    spec = importlib.util.find_spec("open_clip")  # finds the package without running its heavy __init__
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "bpe_simple_vocab_16e6.txt.gz"
    if not path.is_file():
        return None
    lines = gzip.open(path).read().decode("utf-8").split("\n")
    return lines[1 : 49152 - 256 - 2 + 1]  # exactly the merges CLIP uses (openai/CLIP simple_tokenizer.py)


def _clip_tokenizer(merges: list[str]):
    """CLIP's tokenizer from its merges: the vocabulary is the 256 byte symbols, the same with `</w>`, one entry
    per merge, then BOS and EOS (49,408 ids), in openai/CLIP's order, which is also `vocab.json`'s on the hub."""
    from transformers import CLIPTokenizer

    byte_symbols = list(_bytes_to_unicode().values())
    tokens = byte_symbols + [s + "</w>" for s in byte_symbols] + ["".join(m.split()) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    # 77: what CLIP pipelines pad and truncate to (openai/clip-vit-large-patch14 sets it); without it the tokenizer
    # has no limit and a pipeline truncating to `model_max_length` overflows.
    return CLIPTokenizer(
        vocab={t: i for i, t in enumerate(tokens)}, merges=[tuple(m.split()) for m in merges], model_max_length=77
    )


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table, which byte-level BPE vocabularies are written in."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def fit_text(text: str, limit: int, count) -> tuple[str, int]:
    """The longest start of `text` that counts at most `limit` tokens, cut at a clean boundary.

    Whole sentences are kept while they fit; if even the first does not, its clauses (up to a comma, semicolon or
    colon), then its words. Nothing is rewritten: the result is a prefix of `text` (trailing separators dropped).

    Args:
        text: the text to fit.
        limit: the token budget.
        count: `str -> int`, the encoder's token count (`TokenCounter.count`).

    Returns:
        (the fitted text, its token count); the text unchanged when it fits already.
    """
    text = text.strip()
    n = count(text)
    if n <= limit:
        return text, n
    for marks in (SENTENCE_MARKS, CLAUSE_MARKS):
        pieces = split_sentences(text, marks)
        kept, kept_n = "", 0
        for piece in pieces:
            candidate = f"{kept} {piece}".strip()
            m = count(_clean_end(candidate))
            if m > limit:
                break
            kept, kept_n = candidate, m
        if kept:
            return _clean_end(kept), kept_n
    # The first clause alone is too long: the most words that fit (binary search on the word count).
    words = text.split()
    lo, hi = 0, len(words)  # words[:lo] fits; words[:hi + 1] does not
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(_clean_end(" ".join(words[:mid]))) <= limit:
            lo = mid
        else:
            hi = mid - 1
    fitted = _clean_end(" ".join(words[:lo]))
    return fitted, count(fitted)


def _clean_end(text: str) -> str:
    return text.rstrip(" ,;:-–—")
