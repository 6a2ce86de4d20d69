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

Modules: `styles` (user styles, the teacher prompt), `config` (`SynthConfig`), `filters` (cleaning, filters,
the rule writer, near-duplicates), `run` (the run loop and its state files), `dataset` (Parquet splits, the
card, `load_pairs`). Everything public is importable from `expander.train.synth`.
"""

from expander.train.synth.config import SynthConfig, SynthError
from expander.train.synth.constraint_pairs import CONSTRAINT_STYLES, NEGATABLE, constraint_candidates
from expander.train.synth.dataset import dataset_card, load_pairs
from expander.train.synth.filters import (
    NearDuplicateIndex,
    add_typo,
    clean_short,
    content_words,
    creativity_for,
    filter_short,
    grounding,
    is_garbage,
    rule_short,
)
from expander.train.synth.run import SynthResult, pick_styles, run_synth, split_of
from expander.train.synth.styles import (
    DEFAULT_STYLE_SHARES,
    STYLES,
    TEACHER_SYSTEM_PROMPT,
    UserStyle,
    quoted_texts,
    teacher_messages,
)

__all__ = [
    "CONSTRAINT_STYLES",
    "DEFAULT_STYLE_SHARES",
    "NEGATABLE",
    "STYLES",
    "TEACHER_SYSTEM_PROMPT",
    "NearDuplicateIndex",
    "SynthConfig",
    "SynthError",
    "SynthResult",
    "UserStyle",
    "add_typo",
    "clean_short",
    "constraint_candidates",
    "content_words",
    "creativity_for",
    "dataset_card",
    "filter_short",
    "grounding",
    "is_garbage",
    "load_pairs",
    "pick_styles",
    "quoted_texts",
    "rule_short",
    "run_synth",
    "split_of",
    "teacher_messages",
]
