"""Safety: the text layer (`expander.safety`, deterministic, model-free) plus an image layer.

Text layer: the completion must not be `blocked` (a hard category), and must not add a category the
short prompt did not have (`expander.safety.added_categories`). No second text policy lives here.

Image layer (`ImageSafety`): CLIP concept embeddings. Each category has concept phrases; an image is
flagged with the category when its cosine similarity to any phrase exceeds the category's threshold.
Category names are `expander.safety` categories, so an image flag is excused only when the user's own
short prompt carries that (soft) category; a hard category is never excused.

`safety_verdicts` combines both layers into one pass/fail per completion with reasons; the `safety`
reward is 1.0 (pass) / 0.0 (fail) and the gate uses the same verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from expander.errors import ConfigError
from expander.rewards.clip_model import ClipModel
from expander.rewards.config import SafetyConfig
from expander.safety import HARD_CATEGORIES, SOFT_CATEGORIES, added_categories, classify_text

__all__ = ["ImageClassifierSafety", "ImageSafety", "SafetyCheck", "text_safety", "combine_safety"]


class ImageSafety:
    """Pure core: images (or CLIP embeddings) -> flagged categories.

    Args:
        clip: the CLIP model.
        concepts: category -> phrases, or a whole `SafetyConfig` (its concepts and thresholds).
        thresholds: category -> cosine threshold (required with a concepts mapping).
    """

    def __init__(
        self, clip: ClipModel, concepts: dict[str, list[str]] | SafetyConfig, thresholds: dict[str, float] | None = None
    ):
        if isinstance(concepts, SafetyConfig):
            cfg = concepts
            concepts = cfg.concepts
            thresholds = {c: cfg.thresholds.get(c, cfg.threshold) for c in concepts}
        if thresholds is None or set(thresholds) != set(concepts):  # a config always gives both: a caller's bug
            raise ValueError("ImageSafety needs one threshold per concept category")
        unknown = sorted(set(concepts) - set(HARD_CATEGORIES) - set(SOFT_CATEGORIES))
        if unknown:
            raise ConfigError(
                f"safety.concepts has unknown categories {unknown}; use expander.safety categories: "
                f"{', '.join(HARD_CATEGORIES + SOFT_CATEGORIES)}"
            )
        if any(not phrases for phrases in concepts.values()):
            raise ConfigError("every safety.concepts category needs at least one phrase")
        self.clip = clip
        self.categories = list(concepts)
        self.thresholds = torch.tensor([thresholds[c] for c in self.categories])
        phrases = [(c, p) for c in self.categories for p in concepts[c]]
        self._phrase_category = torch.tensor([self.categories.index(c) for c, _ in phrases])
        self._phrase_emb = clip.encode_texts([p for _, p in phrases])

    @classmethod
    def from_config(cls, cfg: SafetyConfig, device: str | None = None, clip: ClipModel | None = None) -> ImageSafety:
        return cls(clip or ClipModel.from_config(cfg.clip, device), cfg)

    def similarities(self, image_embeddings: torch.Tensor) -> torch.Tensor:
        """`Tensor[N, D]` -> `Tensor[N, C]`: per category, the max cosine over its phrases."""
        sims = image_embeddings.float() @ self._phrase_emb.T  # (N, P)
        out = torch.full((sims.shape[0], len(self.categories)), -2.0)
        for c in range(len(self.categories)):
            out[:, c] = sims[:, self._phrase_category == c].max(dim=1).values
        return out

    def flags_from_embeddings(self, image_embeddings: torch.Tensor) -> list[list[str]]:
        over = self.similarities(image_embeddings) > self.thresholds
        return [[self.categories[c] for c in row.nonzero().flatten().tolist()] for row in over]

    def flags(self, images: torch.Tensor) -> list[list[str]]:
        """`Tensor[N, 3, H, W]` in [0, 1] -> per image, the flagged categories (empty: nothing flagged)."""
        return self.flags_from_embeddings(self.clip.encode_images(images))


class ImageClassifierSafety:
    """Pure core: a transformers image-classification model -> flagged categories.

    Args:
        model: an `AutoModelForImageClassification` (eval mode, on its device).
        size, mean, std: its preprocessing (from its image processor).
        label_categories: label -> `expander.safety` category; other labels are ignored.
        threshold: softmax probability at which a label counts.
        name: for logs and feature-cache keys.
    """

    def __init__(
        self, model, size: tuple[int, int], mean, std, label_categories: dict[str, str], threshold: float, name: str
    ):
        known = set(HARD_CATEGORIES) | set(SOFT_CATEGORIES)
        bad = sorted(c for c in label_categories.values() if c not in known)
        if bad:
            raise ConfigError(f"safety.image_classifier_labels maps to unknown categories {bad}; use {sorted(known)}")
        labels = {str(v): int(k) for k, v in model.config.id2label.items()}
        missing = sorted(set(label_categories) - set(labels))
        if missing:
            raise ConfigError(
                f"safety.image_classifier_labels names {missing}, not labels of {name} ({sorted(labels)})"
            )
        self.model = model
        self.size = size
        self.device = next(model.parameters()).device
        self.mean = torch.tensor(mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=self.device).view(1, 3, 1, 1)
        self.columns = [(labels[label], category) for label, category in label_categories.items()]
        self.threshold = threshold
        self.name = name
        self.forwards = 0

    @classmethod
    def from_config(cls, cfg: SafetyConfig, device: str | None = None) -> ImageClassifierSafety:
        """Load `cfg.image_classifier`. Raises `RewardModelError` naming the ref when it cannot."""
        from transformers import AutoImageProcessor, AutoModelForImageClassification

        from expander.rewards.clip_model import default_device
        from expander.rewards.errors import RewardModelError

        ref = cfg.image_classifier
        try:
            model = AutoModelForImageClassification.from_pretrained(ref)
            proc = AutoImageProcessor.from_pretrained(ref)
        except Exception as exc:
            raise RewardModelError(f"cannot load image safety classifier {ref!r}: {exc}") from exc
        size = proc.size
        size = (size["height"], size["width"]) if "height" in size else (size["shortest_edge"],) * 2
        model = model.to(default_device(device)).eval().requires_grad_(False)
        return cls(
            model,
            tuple(int(x) for x in size),
            proc.image_mean,
            proc.image_std,
            cfg.image_classifier_labels,
            cfg.image_classifier_threshold,
            name=str(ref),
        )

    @torch.inference_mode()
    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """`Tensor[N, 3, H, W]` in [0, 1] -> softmax probabilities `Tensor[N, labels]` (CPU)."""
        from expander.rewards.clip_model import resize_center_crop

        x = resize_center_crop(images.to(self.device, torch.float32), self.size)
        self.forwards += 1
        return self.model(pixel_values=(x - self.mean) / self.std).logits.float().softmax(-1).cpu()

    def flags_from_probabilities(self, probs: torch.Tensor) -> list[list[str]]:
        return [sorted({cat for col, cat in self.columns if row[col] >= self.threshold}) for row in probs]

    def flags(self, images: torch.Tensor) -> list[list[str]]:
        """`Tensor[N, 3, H, W]` in [0, 1] -> per image, the flagged categories."""
        return self.flags_from_probabilities(self.probabilities(images))


@dataclass
class SafetyCheck:
    """Safety verdict of one completion. `ok` is False when any layer failed; `reasons` say why."""

    ok: bool
    reasons: list[str] = field(default_factory=list)


def text_safety(short_prompt: str, completion: str) -> list[str]:
    """Reasons the completion fails the text layer (empty: it passes)."""
    reasons = []
    verdict = classify_text(completion)
    if verdict.blocked:
        reasons.append(f"text hard category: {', '.join(verdict.hard)}")
    added = [c for c in added_categories(short_prompt, completion) if c not in verdict.hard]
    if added:
        reasons.append(f"text adds categories: {', '.join(added)}")
    return reasons


def combine_safety(
    short_prompt: str,
    completion: str,
    image_flags: list[str] | None,
    image_layer: bool,
    classifier_added: list[str] | None = (),
) -> SafetyCheck:
    """One completion's verdict from the text layer and its image flags.

    Args:
        image_flags: categories the image layer flagged; `None` when the image could not be rendered or
            scored, which fails closed when the image layer is on (an unchecked image is not a safe one).
        image_layer: whether the image layer is on.
        classifier_added: labels the optional text classifier flagged on the completion but not on the
            short prompt; `None` when a configured classifier could not run (fails closed).
    """
    reasons = text_safety(short_prompt, completion)
    if classifier_added is None:
        reasons.append("text classifier could not run")
    elif classifier_added:
        reasons.append(f"text classifier flags: {', '.join(classifier_added)}")
    if image_layer:
        if image_flags is None:
            reasons.append("image could not be checked")
        else:
            allowed = set(classify_text(short_prompt).categories) - set(HARD_CATEGORIES)
            added = [c for c in image_flags if c not in allowed]
            if added:
                reasons.append(f"image flagged: {', '.join(added)}")
    return SafetyCheck(ok=not reasons, reasons=reasons)
