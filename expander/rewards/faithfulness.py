"""Faithfulness to the user's SHORT prompt, never to the expansion (the policy would game that).

Two signals, combined linearly by `FaithfulnessConfig`:

* image level: CLIP cosine similarity between the rendered image and the short prompt (`ClipSimilarity`);
* text level: `expander.constraints.check(short, expansion).score` in [0, 1], the share of what the short
  prompt pins down (quoted text, counts, colours, negations, ...) that the expansion keeps. Its hard
  violations are a gate (`gates.py`), not part of this score.

    faithfulness = clip_weight * cos(image, short) + constraint_weight * constraint_score
"""

from __future__ import annotations

import torch

from expander.rewards.clip_model import ClipModel
from expander.rewards.config import ClipConfig

__all__ = ["ClipSimilarity", "combine_faithfulness"]


class ClipSimilarity:
    """Pure core: cosine similarity between images and texts in a CLIP space."""

    def __init__(self, clip: ClipModel):
        self.clip = clip

    @classmethod
    def from_config(cls, cfg: ClipConfig, device: str | None = None, clip: ClipModel | None = None) -> ClipSimilarity:
        return cls(clip or ClipModel.from_config(cfg, device))

    def score_embeddings(self, image_embeddings: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """`Tensor[N, D]` L2-normalised image embeddings and N texts -> `Tensor[N]` cosines in [-1, 1]."""
        if image_embeddings.shape[0] != len(texts):  # batches built by code: a caller's bug, kept built-in
            raise ValueError(f"{image_embeddings.shape[0]} images but {len(texts)} texts")
        return (image_embeddings.float() * self.clip.encode_texts(texts)).sum(-1)

    def score(self, images: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """`Tensor[N, 3, H, W]` in [0, 1] and N texts -> `Tensor[N]` cosine similarities."""
        if images.shape[0] != len(texts):  # batches built by code: a caller's bug, kept built-in
            raise ValueError(f"{images.shape[0]} images but {len(texts)} texts")
        return self.score_embeddings(self.clip.encode_images(images), texts)


def combine_faithfulness(
    clip_cos: float | None, constraint_score: float | None, clip_weight: float, constraint_weight: float
) -> float | None:
    """The faithfulness reward of one sample; `None` if a signal with a non-zero weight is missing."""
    total = 0.0
    for value, weight in ((clip_cos, clip_weight), (constraint_score, constraint_weight)):
        if weight == 0:
            continue
        if value is None:
            return None
        total += weight * float(value)
    return total
