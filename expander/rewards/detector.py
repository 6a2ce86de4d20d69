"""GenEval's object detector: a transformers Mask2Former COCO instance segmenter, post-processed as mmdet does.

    detector = Mask2FormerDetector.from_pretrained("facebook/mask2former-swin-small-coco-instance")
    raw = detector.detect(images)          # per image: {GenEval class name: [Detection, ...]} (masks at image size)
    kept = select_detections(raw[0], record["tag"])   # then GenEval's rules (`geneval_rules`)

Upstream (djghosh13/geneval, `evaluation/evaluate_images.py`) runs mmdet 2.x's Mask2Former Swin-S
(`mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco`) and reads, per class, `[x1, y1, x2, y2, score]` boxes and binary
masks. `instance_detections` reproduces mmdet's `MaskFormerFusionHead.instance_postprocess` on the HF model's
outputs: softmax over classes without "no object", the top `max_per_image` (100) (query, class) pairs, masks
upsampled to the padded input, cropped to the resized image and resized to the original (bilinear, then `> 0`), the
score = class probability x the mean mask probability inside the mask, the box the mask's tight extent with mmdet's
`mask2bbox` convention (`x2 = last column + 1`). No threshold, no NMS here: GenEval's `select_detections` applies
them (upstream's `max_overlap` default 1.0 means no NMS).

How this differs from upstream's detector:
* weights: the HF `facebook/mask2former-swin-*-coco-instance` checkpoints are Mask2Former's own (Detectron2)
  release, converted; upstream's are mmdet's re-training of the same architecture. Scores differ per image;
* preprocessing: the checkpoint's image processor (its `preprocessor_config.json`: resize with `size_divisor` 32,
  ImageNet mean/std) instead of mmdet's test pipeline;
* classes: the checkpoint's `id2label` mapped to GenEval's `object_names.txt` by name (`COCO_ALIASES`: `mouse` ->
  `computer mouse`, `remote` -> `tv remote`, `keyboard` -> `computer keyboard`, ...); a checkpoint that lacks one
  of the 80 classes is refused.
The published GenEval numbers come from upstream's script: run it on `official/` for those.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from expander.devices import rank_device, standalone_loading
from expander.rewards.errors import RewardModelError
from expander.rewards.geneval_rules import OBJECT_NAMES, Detection
from expander.rewards.tiny import resolve_ref

logger = logging.getLogger(__name__)

__all__ = [
    "COCO_ALIASES",
    "COCO_INSTANCE_LABELS",
    "MAX_PER_IMAGE",
    "Mask2FormerDetector",
    "geneval_class_map",
    "instance_detections",
    "mask_boxes",
]

MAX_PER_IMAGE = 100  # mmdet's Mask2Former `test_cfg.max_per_image`
# The 80 COCO instance classes as Detectron2 (and the HF Mask2Former checkpoints) name them, in COCO order.
COCO_INSTANCE_LABELS = tuple(
    n.replace("computer mouse", "mouse").replace("tv remote", "remote").replace("computer keyboard", "keyboard")
    for n in OBJECT_NAMES
)
# Other names of GenEval's classes that detectors use (after lower-casing and `_`/`-` -> space).
COCO_ALIASES = {
    "mouse": "computer mouse",
    "remote": "tv remote",
    "keyboard": "computer keyboard",
    "motorbike": "motorcycle",
    "aeroplane": "airplane",
    "sofa": "couch",
    "pottedplant": "potted plant",
    "diningtable": "dining table",
    "tvmonitor": "tv",
    "tv monitor": "tv",
    "hair dryer": "hair drier",
    "cellphone": "cell phone",
    "ball": "sports ball",
}


def geneval_class_map(id2label: Mapping[int, str]) -> dict[int, str]:
    """The detector's label ids -> GenEval class names (`OBJECT_NAMES`); labels that are none of them are left out.

    Raises:
        RewardModelError: a GenEval class that no label names (the message lists them), or two labels naming one.
    """
    out: dict[int, str] = {}
    for index, label in id2label.items():
        name = re.sub(r"[_\-]+", " ", str(label).strip().lower())
        name = COCO_ALIASES.get(name, name)
        if name in OBJECT_NAMES:
            if name in out.values():
                raise RewardModelError(f"the detector has two labels for GenEval's class {name!r}")
            out[int(index)] = name
    missing = [n for n in OBJECT_NAMES if n not in out.values()]
    if missing:
        raise RewardModelError(
            f"the detector's labels lack {len(missing)} of GenEval's 80 COCO classes ({', '.join(missing[:8])}"
            f"{' ...' if len(missing) > 8 else ''}): use a COCO instance checkpoint"
        )
    return out


def mask_boxes(masks: torch.Tensor) -> torch.Tensor:
    """mmdet's `mask2bbox`: `Tensor[N, H, W]` boolean masks -> `Tensor[N, 4]` float boxes `(first col, first row,
    last col + 1, last row + 1)`; an empty mask gives zeros."""
    boxes = torch.zeros(masks.shape[0], 4)
    if masks.numel() == 0:
        return boxes
    cols, rows = masks.any(dim=1), masks.any(dim=2)  # (N, W), (N, H)
    width, height = masks.shape[2], masks.shape[1]
    nonempty = cols.any(dim=1) & rows.any(dim=1)
    first_col = cols.float().argmax(dim=1)
    last_col = width - 1 - cols.flip(1).float().argmax(dim=1)
    first_row = rows.float().argmax(dim=1)
    last_row = height - 1 - rows.flip(1).float().argmax(dim=1)
    found = torch.stack([first_col, first_row, last_col + 1, last_row + 1], dim=1).float()
    boxes[nonempty] = found[nonempty].cpu()
    return boxes


def instance_detections(
    class_logits: torch.Tensor,
    mask_logits: torch.Tensor,
    classes: Mapping[int, str],
    *,
    input_size: tuple[int, int],
    resized_size: tuple[int, int],
    image_size: tuple[int, int],
    max_per_image: int = MAX_PER_IMAGE,
) -> dict[str, list[Detection]]:
    """One image's detections from Mask2Former's outputs, as mmdet's `instance_postprocess` makes them.

    Args:
        class_logits: `Tensor[Q, C + 1]` (the last class is "no object").
        mask_logits: `Tensor[Q, h, w]` over the padded input (a quarter of its size for Mask2Former).
        classes: label id -> GenEval class name (`geneval_class_map`); other labels are dropped after the top-k.
        input_size: (H, W) of the padded input the model saw.
        resized_size: (H, W) of the image inside it (before padding).
        image_size: (H, W) of the original image: masks and boxes are in its pixels.
        max_per_image: (query, class) pairs kept by score.

    Returns:
        `{class name: [Detection(box, score, mask)]}`, each list in the order of the top-k (not sorted:
        `select_detections` sorts); a detection's `mask` is a boolean `H x W` array.
    """
    num_classes = class_logits.shape[-1] - 1
    scores = F.softmax(class_logits.float(), dim=-1)[:, :-1]
    k = min(max_per_image, scores.numel())
    top_scores, top_indices = scores.flatten().topk(k, sorted=False)
    labels = top_indices % num_classes
    queries = top_indices // num_classes
    logits = mask_logits.float()[None]
    logits = F.interpolate(logits, size=input_size, mode="bilinear", align_corners=False)
    logits = logits[..., : resized_size[0], : resized_size[1]]
    logits = F.interpolate(logits, size=image_size, mode="bilinear", align_corners=False)[0]
    masks = logits[queries]
    binary = masks > 0
    mask_scores = (masks.sigmoid() * binary).flatten(1).sum(1) / (binary.flatten(1).sum(1) + 1e-6)
    det_scores = (top_scores * mask_scores).tolist()
    keep = [j for j, label in enumerate(labels.tolist()) if label in classes]
    boxes = mask_boxes(binary[keep]).tolist()
    masks_np = binary[keep].cpu().numpy()
    out: dict[str, list[Detection]] = {}
    for n, j in enumerate(keep):
        out.setdefault(classes[int(labels[j])], []).append(Detection(tuple(boxes[n]), det_scores[j], masks_np[n]))
    return out


class Mask2FormerDetector:
    """Pure core: PIL images -> GenEval-class detections (see the module docstring for the post-processing).

    Args:
        model: a `Mask2FormerForUniversalSegmentation` (eval mode, on its device).
        processor: its image processor.
        name: the ref, for logs and the summary.
    """

    def __init__(self, model, processor, name: str):
        self.model = model
        self.processor = processor
        self.name = name
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.classes = geneval_class_map(model.config.id2label)
        self.forwards = 0

    @classmethod
    def from_pretrained(cls, ref: str, device: str | None = None, dtype: str | None = None) -> Mask2FormerDetector:
        """Load a Mask2Former checkpoint (hub id, local directory or `tiny:mask2former`).

        Raises:
            RewardModelError: it cannot be loaded, or its labels are not COCO's 80 classes (the ref is named).
        """
        from transformers import AutoImageProcessor, Mask2FormerForUniversalSegmentation

        path = resolve_ref(ref)
        try:
            with standalone_loading():
                model = Mask2FormerForUniversalSegmentation.from_pretrained(path, dtype=dtype or "float32")
            processor = AutoImageProcessor.from_pretrained(path)
        except Exception as exc:
            raise RewardModelError(f"cannot load the GenEval detector {ref!r}: {_first_line(exc)}") from exc
        model = model.to(rank_device(device)).eval().requires_grad_(False)
        try:
            return cls(model, processor, ref)
        except RewardModelError as exc:
            raise RewardModelError(f"GenEval detector {ref!r}: {exc}") from None

    @torch.inference_mode()
    def detect(self, images: Sequence[Any]) -> list[dict[str, list[Detection]]]:
        """PIL images -> per image `{GenEval class: [Detection]}`, boxes and masks in the image's own pixels."""
        if not images:
            return []
        images = [im.convert("RGB") for im in images]
        inputs = self.processor(images=images, return_tensors="pt")
        pixel_values = inputs["pixel_values"].to(self.device, self.dtype)
        pixel_mask = inputs["pixel_mask"].to(self.device)
        outputs = self.model(pixel_values=pixel_values, pixel_mask=pixel_mask)
        self.forwards += 1
        input_size = tuple(pixel_values.shape[-2:])
        out = []
        for i, image in enumerate(images):
            valid = pixel_mask[i].bool()
            resized = (int(valid.any(dim=1).sum()), int(valid.any(dim=0).sum()))
            out.append(
                instance_detections(
                    outputs.class_queries_logits[i],
                    outputs.masks_queries_logits[i],
                    self.classes,
                    input_size=input_size,
                    resized_size=resized,
                    image_size=(image.height, image.width),
                )
            )
        return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
