"""One interface for the scorers that judge images against what a prompt asked: detector, VQA and CLIP.

    scores = scorer.score(images, PromptRecord("two red apples"))    # one ImageScore per image
    scores[0].score, scores[0].items                                  # the verdict, and its per-item breakdown

A `PromptImageScorer` takes the images of ONE prompt (a GRPO group, an eval prompt's seeds) and its `PromptRecord`
and returns one `ImageScore` per image: `score` (GenEval: 1.0 when upstream's rules pass, else 0.0; VQA: the
question graph's mean after DPG's parent rule; CLIP: the cosine to the prompt) and `items`, the breakdown (GenEval:
one per include/exclude clause; VQA: one per question). The same objects serve `expander eval` (per prompt) and
the GRPO reward `faithfulness_vqa` (`score_by_prompt` over a batch of rows whose prompts differ).

Implementations: `expander.rewards.geneval_scorer.GenEvalScorer`, `expander.rewards.vqa.VqaScorer` and
`ClipPromptScorer` below (the CLIP cosine the `faithfulness` reward and eval's `clip_score` compute).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from expander.rewards.errors import map_isolated
from expander.rewards.question_graph import QuestionGraph

__all__ = ["ClipPromptScorer", "ImageScore", "PromptImageScorer", "PromptRecord", "score_by_prompt"]


@dataclass(frozen=True)
class PromptRecord:
    """What a scorer judges an image against.

    Attributes:
        prompt: what the user asked: the SHORT prompt (GRPO), the benchmark's prompt (eval), never an expansion.
        prompt_id: the benchmark's id of the prompt (GenEval `"00042"`, DPG `"0"`), or None.
        metadata: GenEval's record (`tag`, `include`, `exclude`) for the detector scorer; empty elsewhere.
        questions: DPG-Bench's question graph of this prompt for the VQA scorer; None: built from `prompt`.
    """

    prompt: str
    prompt_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    questions: QuestionGraph | None = None

    @property
    def key(self) -> tuple[str, str | None]:
        """Rows with the same key are one prompt (scored together)."""
        return (self.prompt, self.prompt_id)


@dataclass(frozen=True)
class ImageScore:
    """One image's verdict.

    Attributes:
        score: the scorer's number for the image (see the module docstring for each scale).
        items: the per-item breakdown, JSON-serialisable dicts (GenEval: clauses; VQA: questions).
        reason: a one-line summary where the scorer has one (GenEval: upstream's `reason`).
        details: scorer-specific extras (GenEval: upstream's `details`, the kept boxes per class).
    """

    score: float
    items: tuple[dict[str, Any], ...] = ()
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def items_json(self) -> str:
        """`items` as one JSON string (a table cell)."""
        return json.dumps(list(self.items), ensure_ascii=False, separators=(",", ":"))


class PromptImageScorer(Protocol):
    """Images of one prompt + its record -> one `ImageScore` per image."""

    name: str

    def describe(self) -> dict[str, Any]:
        """Refs and settings that decide the scores (for a run's summary)."""
        ...

    def score(self, images: Sequence[Any], record: PromptRecord) -> list[ImageScore]:
        """`images`: PIL images (RGB) of `record`'s prompt; one result per image, in order."""
        ...


def score_by_prompt(
    scorer: PromptImageScorer, images: Sequence[Any | None], records: Sequence[PromptRecord], max_retries: int = 0
) -> tuple[list[ImageScore | None], int]:
    """Score rows whose prompts differ: one `scorer.score` call per prompt (its rows' images together).

    Args:
        scorer: the scorer.
        images: one PIL image per row, or None (no image: that row gets None).
        records: one record per row; rows with the same `key` are one prompt.
        max_retries: retries of a call on a transient error (`expander.rewards.errors`).

    Returns:
        (one `ImageScore` or None per row, rows whose scoring failed). A prompt whose call fails is retried image by
        image, so one bad image costs one None.
    """
    if len(images) != len(records):  # rows built by code: a caller's bug, kept built-in
        raise ValueError(f"{len(images)} images but {len(records)} records")
    groups: dict[tuple, list[int]] = {}
    for i, (image, record) in enumerate(zip(images, records)):
        if image is not None:
            groups.setdefault(record.key, []).append(i)
    out: list[ImageScore | None] = [None] * len(images)
    failed = 0
    for rows in groups.values():
        record = records[rows[0]]
        scores, bad = map_isolated(
            lambda idx, record=record: scorer.score([images[i] for i in idx], record),
            rows,
            max_retries,
            getattr(scorer, "name", "scorer"),
        )
        failed += bad
        for i, s in zip(rows, scores):
            out[i] = s
    return out, failed


class ClipPromptScorer:
    """The CLIP cosine between each image and the prompt (`faithfulness`'s image signal, eval's `clip_score`).

    Args:
        clip: an `expander.rewards.clip_model.ClipModel`.
    """

    name = "clip"

    def __init__(self, clip):
        self.clip = clip

    def describe(self) -> dict[str, Any]:
        return {"clip": self.clip.name}

    def score(self, images: Sequence[Any], record: PromptRecord) -> list[ImageScore]:
        from expander.rewards.image_scorer import pil_to_tensor

        if not images:
            return []
        embeddings = self.clip.encode_images(pil_to_tensor(images))
        cosines = (embeddings.float() * self.clip.encode_texts([record.prompt])).sum(-1)
        return [ImageScore(float(c)) for c in cosines.tolist()]
