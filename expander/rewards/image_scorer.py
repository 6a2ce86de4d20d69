"""Per-image scores from one CLIP image forward and one DINOv3 forward per batch: eval's image scorer core.

    scorer = ImageScorer(clip, aesthetic, clip_similarity, dino, image_safety)
    scores = scorer.score_images(pil_to_tensor(images), short_prompts)

A pure core over the reward suite's loaded models: eval builds one from its scorer refs
(`expander.eval.scoring`), the reward service from its suite's models (`server.py`, `/v1/score_images`), so
in-process and remote eval compute the same numbers with the same code. The CLIP image embedding is computed
once per batch and feeds the aesthetic head, the CLIP similarity to the short prompt and the image-safety
concepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["ImageScorer", "pil_to_tensor"]


def pil_to_tensor(images) -> torch.Tensor:
    """List of PIL images (same size) -> float `Tensor[N, 3, H, W]` in [0, 1]."""
    import torch

    arrays = [np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0 for im in images]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


@dataclass
class ImageScorer:
    """The image models of one eval (or one reward-service replica), loaded once.

    Attributes:
        clip: the shared `ClipModel` (one image forward per batch feeds the three CLIP scores).
        aesthetic: `AestheticScorer` (`.score_embeddings(clip_emb) -> Tensor[N]`).
        clip_similarity: `ClipSimilarity` (`.score_embeddings(clip_emb, texts) -> Tensor[N]`).
        dino: `Dinov3Embedder` (`.embed(images) -> Tensor[N, D]`).
        image_safety: `ImageSafety` (`.flags_from_embeddings(clip_emb)` -> flagged categories per image), or
            None (no image-safety layer: every image gets no flags).
    """

    clip: Any
    aesthetic: Any
    clip_similarity: Any
    dino: Any
    image_safety: Any | None = None

    def score_images(self, images: torch.Tensor, short_prompts: list[str]) -> dict[str, Any]:
        """Image scores of one batch.

        Args:
            images: float `Tensor[N, 3, H, W]` in [0, 1].
            short_prompts: the N short prompts (CLIP faithfulness is measured against these).

        Returns:
            `{"aesthetic": ndarray[N], "clip_score": ndarray[N], "embedding": ndarray[N, D] (the DINOv3
            embedding, L2-normalised), "image_flags": list of N sorted lists of categories}`.
        """
        import torch

        with torch.inference_mode():
            clip_emb = self.clip.encode_images(images)
            aesthetic = self.aesthetic.score_embeddings(clip_emb).float().cpu().numpy().reshape(-1)
            similarity = self.clip_similarity.score_embeddings(clip_emb, list(short_prompts))
            clip_score = similarity.float().cpu().numpy().reshape(-1)
            emb = torch.nn.functional.normalize(self.dino.embed(images).float().cpu(), dim=-1).numpy()
            flags: list[list[str]] = [[] for _ in range(len(images))]
            if self.image_safety is not None:
                flags = [sorted(f) for f in self.image_safety.flags_from_embeddings(clip_emb)]
        return {"aesthetic": aesthetic, "clip_score": clip_score, "embedding": emb, "image_flags": flags}
