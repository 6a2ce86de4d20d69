"""`SynthConfig`: the recipe of `expander synth` (keys of configs/synth/*.yaml), and `SynthError`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from expander.errors import ConfigError, ExpanderError
from expander.train.synth.styles import DEFAULT_STYLE_SHARES, STYLES

__all__ = ["SynthConfig", "SynthError"]


class SynthError(ExpanderError, ValueError):
    """A synthesis output directory (or a recipe that does not match it) that cannot be used; bad config values
    are `ConfigError`s."""


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
        reject_dropped_subjects: reject a pair whose short prompt drops a person, animal or creature of the
            long caption (`expander.constraints.added_subjects(short, long)` non-empty, reason
            `dropped_subject`): trained on it, the expander learns to add subjects nobody asked for.
        constraint_pairs_per_caption: extra rule-made pairs per caption whose short carries a negation, an
            emptiness word or a style word (`expander.train.synth.constraint_pairs`; the teacher rarely keeps
            them, so without these pairs the expander learns to drop them); 0 = none. They pass the same
            filters; a short whose negation the caption contradicts is rejected as `contradicted_negation`.
        negation_added_share: share of captions (seeded draw per caption) that may get a `negation_added` pair
            ("..., no cars" with "There are no cars anywhere in the frame." appended to the caption). 1.0 gave
            every caption one and taught the expander to append an exclusion to any expansion (issue #26).
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
    reject_dropped_subjects: bool = True
    constraint_pairs_per_caption: int = 0
    negation_added_share: float = 0.25
    teacher_cache: str | None = None
    near_duplicate_threshold: float = 0.95
    embedder: str | None = None
    test_fraction: float = 0.1
    chunk_size: int = 48
    output_dir: str = "outputs/synth/tiny_cpu"

    def __post_init__(self) -> None:
        unknown = sorted(set(self.style_shares) - set(STYLES))
        if unknown:
            raise ConfigError(f"style_shares: unknown style(s) {', '.join(unknown)}; known: {', '.join(STYLES)}")
        if (
            not self.style_shares
            or any(float(v) < 0 for v in self.style_shares.values())
            or sum(float(v) for v in self.style_shares.values()) <= 0
        ):
            raise ConfigError("style_shares must give each style a share >= 0, with a positive total")
        for name, value, low in (
            ("styles_per_caption", self.styles_per_caption, 1),
            ("candidates_per_style", self.candidates_per_style, 1),
            ("max_new_tokens", self.max_new_tokens, 1),
            ("min_short_words", self.min_short_words, 1),
            ("chunk_size", self.chunk_size, 1),
            ("constraint_pairs_per_caption", self.constraint_pairs_per_caption, 0),
        ):
            if value < low:
                raise ConfigError(f"{name} must be >= {low}, got {value}")
        if self.max_short_words < self.min_short_words:
            raise ConfigError("max_short_words must be >= min_short_words")
        if not 0 <= self.negation_added_share <= 1:
            raise ConfigError(f"negation_added_share must be in [0, 1], got {self.negation_added_share}")
        if not 0 < self.max_length_ratio <= 1:
            raise ConfigError(f"max_length_ratio must be in (0, 1], got {self.max_length_ratio}")
        if not 0 <= self.min_grounding <= 1:
            raise ConfigError(f"min_grounding must be in [0, 1], got {self.min_grounding}")
        if not 0 < self.near_duplicate_threshold <= 1:
            raise ConfigError(f"near_duplicate_threshold must be in (0, 1], got {self.near_duplicate_threshold}")
        if not 0 <= self.test_fraction < 1:
            raise ConfigError(f"test_fraction must be in [0, 1), got {self.test_fraction}")
