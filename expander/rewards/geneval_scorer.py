"""GenEval's scorer: the detector (`detector`), upstream's rules (`geneval_rules`) and CLIP naming colours.

    scorer = GenEvalScorer.from_config(DetectorConfig(), device="cuda")
    [verdict] = scorer.score([image], PromptRecord(record["prompt"], metadata=record))
    verdict.score, verdict.reason, verdict.items      # 1.0 / 0.0, upstream's reason, one dict per clause

Per image, as upstream's `evaluate_image` (`evaluation/evaluate_images.py` L223-258): detect, keep per class the
detections above the threshold (0.9 for `counting` prompts), most confident first, at most `max_objects`; name the
colour of each detection a clause asks a colour of, by CLIP zero-shot over GenEval's 10 colours with its 3 templates
on the crop of the box with everything outside the mask set to grey (#999, L81-106); then the include / exclude /
position rules.

Colour, and how it differs from upstream: upstream runs open_clip's PIL preprocessing (bicubic resize of the short
side, centre crop) under fp16 autocast; here the crop goes through `ClipModel`'s tensor preprocessing (the same
resize and crop, on tensors, antialiased) in fp32. A colour can flip where two colours score within rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from expander.rewards.clip_model import ClipModel, resize_center_crop
from expander.rewards.config import DetectorConfig
from expander.rewards.geneval_rules import (
    COLOR_TEMPLATES,
    COLORS,
    CROP_BACKGROUND,
    Detection,
    classify_colors,
    color_classifier,
    color_prompts,
    colors_needed,
    evaluate_detections,
    masked_crop,
    select_detections,
    validate_record,
)
from expander.rewards.prompt_scorers import ImageScore, PromptRecord

__all__ = ["GenEvalScorer"]


class GenEvalScorer:
    """GenEval's verdict on images of one GenEval prompt (`PromptRecord.metadata` is the record).

    Args:
        detector: anything with `detect(images) -> [{class: [Detection]}]` (`detector.Mask2FormerDetector`).
        clip: the `ClipModel` that names colours.
        cfg: thresholds (upstream's `--options`); the refs are read from it for `describe`.
    """

    name = "geneval"

    def __init__(self, detector, clip: ClipModel, cfg: DetectorConfig | None = None):
        self.detector = detector
        self.clip = clip
        self.cfg = cfg or DetectorConfig()
        self._classifiers: dict[str, torch.Tensor] = {}

    @classmethod
    def from_config(cls, cfg: DetectorConfig, device: str | None = None, clip: ClipModel | None = None):
        """Load `cfg.model` and `cfg.clip` (or reuse an already loaded `clip` of the same ref).

        Raises:
            RewardModelError: a model cannot be loaded (the ref is named).
        """
        from expander.rewards.detector import Mask2FormerDetector

        detector = Mask2FormerDetector.from_pretrained(cfg.model, device=device, dtype=cfg.dtype)
        return cls(detector, clip or ClipModel.from_config(cfg.clip, device), cfg)

    def describe(self) -> dict[str, Any]:
        c = self.cfg
        return {
            "geneval_detector": getattr(self.detector, "name", c.model),
            "geneval_clip": self.clip.name,
            "geneval_options": {
                "threshold": c.threshold,
                "counting_threshold": c.counting_threshold,
                "max_objects": c.max_objects,
                "max_overlap": c.max_overlap,
                "position_threshold": c.position_threshold,
            },
        }

    def score(self, images: Sequence[Any], record: PromptRecord) -> list[ImageScore]:
        """One verdict per image (`score` 1.0 correct / 0.0 not).

        Raises:
            BenchmarkDataError: `record.metadata` is not a valid GenEval record.
        """
        validate_record(record.metadata, f"GenEval record of prompt {record.prompt_id or record.prompt!r}")
        if not images:
            return []
        raw = self.detector.detect(list(images))
        return [self.judge(image, detections, record.metadata) for image, detections in zip(images, raw)]

    def judge(self, image, raw: dict[str, list[Detection]], metadata) -> ImageScore:
        """Upstream's verdict on one image from its raw detections (every score, any order)."""
        c = self.cfg
        kept = select_detections(
            raw,
            metadata["tag"],
            threshold=c.threshold,
            counting_threshold=c.counting_threshold,
            max_objects=c.max_objects,
            max_overlap=c.max_overlap,
        )
        pixels = np.asarray(image.convert("RGB"))
        for classname, n in colors_needed(kept, metadata).items():
            named = self.name_colors(pixels, kept[classname][:n], classname)
            kept[classname][:n] = [d.with_color(color) for d, color in zip(kept[classname][:n], named)]
        verdict = evaluate_detections(kept, metadata, position_threshold=c.position_threshold)
        return ImageScore(
            score=float(verdict.correct),
            items=tuple(_clause_dict(clause) for clause in verdict.clauses),
            reason=verdict.reason,
            # upstream's `details` column: the kept boxes of each class, with their scores
            details={k: [[*d.box, d.score] for d in v] for k, v in kept.items()},
        )

    def crops(self, pixels: np.ndarray, detections: Sequence[Detection]) -> torch.Tensor:
        """What CLIP sees of each detection: its box cropped from the image with everything outside its mask grey,
        resized and centre-cropped to CLIP's input; `Tensor[N, 3, h, w]` in [0, 1]."""
        out = []
        for d in detections:
            crop = masked_crop(pixels, d.box, d.mask)
            if crop.size == 0:  # a box narrower than a pixel after rounding: a background pixel, as PIL would pad
                crop = np.array([[CROP_BACKGROUND]], dtype=np.uint8)
            tensor = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).float().div(255)[None]
            out.append(resize_center_crop(tensor, self.clip.image_size))
        return torch.cat(out)

    @torch.inference_mode()
    def name_colors(self, pixels: np.ndarray, detections: Sequence[Detection], classname: str) -> list[str]:
        """The colour upstream's CLIP zero-shot gives each detection's masked crop (one of `COLORS`)."""
        embeddings = self.clip.encode_images(self.crops(pixels, detections))
        return classify_colors(embeddings, self._classifier(classname))

    def _classifier(self, classname: str) -> torch.Tensor:
        if classname not in self._classifiers:
            texts = [t for per_color in color_prompts(classname) for t in per_color]
            embeddings = self.clip.encode_texts(texts).view(len(COLORS), len(COLOR_TEMPLATES), -1)
            self._classifiers[classname] = color_classifier(embeddings)
        return self._classifiers[classname]


def _clause_dict(clause) -> dict[str, Any]:
    out = {
        "kind": clause.kind,
        "index": clause.index,
        "class": clause.class_name,
        "count": clause.count,
        "found": clause.found,
        "passed": clause.passed,
    }
    for key in ("color", "colors", "color_ok", "position", "position_ok", "relations", "reason"):
        value = getattr(clause, key)
        if value not in (None, "", ()):
            out[key] = list(value) if isinstance(value, tuple) else value
    return out
