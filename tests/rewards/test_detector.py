"""GenEval's detector scorer: mmdet's Mask2Former post-processing on hand-made outputs, the class-name mapping, the
masked crops CLIP names colours on, upstream's verdicts through the scorer, and the tiny Mask2Former end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from expander.rewards.clip_model import ClipModel, resize_center_crop
from expander.rewards.config import ClipConfig, DetectorConfig
from expander.rewards.detector import (
    COCO_INSTANCE_LABELS,
    Mask2FormerDetector,
    geneval_class_map,
    instance_detections,
    mask_boxes,
)
from expander.rewards.errors import RewardModelError
from expander.rewards.geneval_rules import COLORS, OBJECT_NAMES, Detection
from expander.rewards.geneval_scorer import GenEvalScorer
from expander.rewards.prompt_scorers import PromptRecord

TINY_CLIP = ClipConfig(model="tiny:clip", pretrained=None)


@pytest.fixture(scope="module")
def clip() -> ClipModel:
    return ClipModel.from_config(TINY_CLIP, "cpu")


@pytest.fixture(scope="module")
def detector() -> Mask2FormerDetector:
    return Mask2FormerDetector.from_pretrained("tiny:mask2former", device="cpu")


def test_boxes_are_the_masks_tight_extent_with_mmdets_plus_one():
    masks = torch.zeros(3, 5, 7, dtype=torch.bool)
    masks[0, 1:3, 2:5] = True  # rows 1-2, columns 2-4
    masks[2, 4, 6] = True  # one pixel in the corner
    assert mask_boxes(masks).tolist() == [[2, 1, 5, 3], [0, 0, 0, 0], [6, 4, 7, 5]]


def test_post_processing_scores_each_query_class_pair_as_mmdet_does():
    # 2 queries x 3 classes (+ "no object"); label 2 is no GenEval class: dropped after the top-k.
    classes = {0: "person", 1: "computer mouse"}
    class_logits = torch.tensor([[2.0, 0.0, 1.0, -1.0], [0.0, 1.0, 0.0, 0.5]])
    mask_logits = torch.full((2, 6, 6), -4.0)
    mask_logits[0, 1:3, 2:5] = 2.0
    mask_logits[0, 5, :] = 3.0  # in the padding rows: cropped away before the box is taken
    mask_logits[1, 0:4, 0:2] = 1.0
    got = instance_detections(
        class_logits, mask_logits, classes, input_size=(6, 6), resized_size=(4, 6), image_size=(4, 6)
    )
    assert set(got) == {"person", "computer mouse"}
    probs = torch.softmax(class_logits, -1)[:, :-1]
    mask_score = [torch.sigmoid(torch.tensor(2.0)).item(), torch.sigmoid(torch.tensor(1.0)).item()]
    for name, label in (("person", 0), ("computer mouse", 1)):
        by_box = {d.box: d for d in got[name]}
        assert set(by_box) == {(2.0, 1.0, 5.0, 3.0), (0.0, 0.0, 2.0, 4.0)}  # one detection per query
        for query, box in enumerate([(2.0, 1.0, 5.0, 3.0), (0.0, 0.0, 2.0, 4.0)]):
            d = by_box[box]
            assert d.score == pytest.approx(probs[query, label].item() * mask_score[query], rel=1e-5)
            assert d.mask.shape == (4, 6) and d.mask.sum() == (6 if query == 0 else 8)


def test_checkpoint_labels_map_to_genevals_names_and_a_missing_class_is_refused():
    assert geneval_class_map(dict(enumerate(COCO_INSTANCE_LABELS))) == dict(enumerate(OBJECT_NAMES))
    voc_style = {i: n for i, n in enumerate(COCO_INSTANCE_LABELS)} | {3: "motorbike", 4: "Aeroplane", 80: "sky"}
    assert geneval_class_map(voc_style)[3] == "motorcycle" and 80 not in geneval_class_map(voc_style)
    with pytest.raises(RewardModelError, match="lack 2 of GenEval's 80 COCO classes \\(toaster, sink\\)"):
        geneval_class_map({i: n for i, n in enumerate(COCO_INSTANCE_LABELS) if n not in ("toaster", "sink")})


def test_clip_sees_the_box_with_everything_outside_the_mask_grey(clip):
    scorer = GenEvalScorer(None, clip)
    pixels = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    mask = np.zeros((20, 30), dtype=bool)
    mask[5:15, 10:25] = True
    mask[5, 10] = False
    [crop] = scorer.crops(pixels, [Detection((8.0, 4.0, 26.0, 16.0), 0.9, mask)])
    assert crop.shape == (3, *clip.image_size)
    expected = pixels.copy()
    expected[~mask] = 153  # upstream's "#999"
    expected = torch.from_numpy(expected[4:16, 8:26]).permute(2, 0, 1).float().div(255)[None]
    assert torch.allclose(crop, resize_center_crop(expected, clip.image_size)[0], atol=1e-6)


COUNT_GIRAFFES = {"tag": "counting", "include": [{"class": "giraffe", "count": 3}], "prompt": "three giraffes"}


def test_the_scorer_applies_upstreams_threshold_per_tag_and_reports_each_clause(clip):
    scorer = GenEvalScorer(None, clip, DetectorConfig(model="unused", clip=TINY_CLIP))
    image = Image.new("RGB", (64, 64))
    raw = {"giraffe": [Detection((0, 0, 10, 10), s) for s in (0.95, 0.85, 0.93)], "cat": [Detection((0, 0, 5, 5), 0.5)]}
    # counting: 0.9 (L230): the 0.85 giraffe is not kept, so two of three are found.
    verdict = scorer.judge(image, raw, COUNT_GIRAFFES)
    assert (verdict.score, verdict.reason) == (0.0, "expected giraffe>=3, found 2")
    clause = {"kind": "include", "index": 0, "class": "giraffe", "count": 3, "found": 2, "passed": False}
    assert verdict.items == ({**clause, "reason": "expected giraffe>=3, found 2"},)
    assert verdict.details == {"giraffe": [[0, 0, 10, 10, 0.95], [0, 0, 10, 10, 0.93]]}  # the 0.5 cat is not kept
    two_objects = {**COUNT_GIRAFFES, "tag": "two_object", "exclude": [{"class": "cat", "count": 1}]}
    verdict = scorer.judge(image, raw, two_objects)  # 0.3 elsewhere: three giraffes, but a cat that must not be
    assert (verdict.score, verdict.reason) == (0.0, "expected cat<1, found 1")
    assert [c["passed"] for c in verdict.items] == [True, False]
    assert scorer.judge(image, raw, {**COUNT_GIRAFFES, "tag": "two_object"}).score == 1.0


def test_tiny_detector_scores_a_colour_record_end_to_end(detector, clip):
    scorer = GenEvalScorer(detector, clip, DetectorConfig(model="tiny:mask2former", clip=TINY_CLIP, threshold=0.0))
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)) for _ in range(2)]
    raw = detector.detect(images)
    assert len(raw) == 2 and set(raw[0]) <= set(OBJECT_NAMES)
    assert sum(len(v) for v in raw[0].values()) == 100  # mmdet's max_per_image of 10 queries x 80 classes
    for d in [d for ds in raw[0].values() for d in ds]:
        assert d.mask.shape == (32, 48) and 0 <= d.score <= 1
        assert d.box == tuple(mask_boxes(torch.from_numpy(d.mask)[None])[0].tolist())
    name = next(iter(raw[0]))  # a class the random detector found in the first image
    record = {"tag": "colors", "include": [{"class": name, "count": 1, "color": "red"}], "prompt": f"a red {name}"}
    verdicts = scorer.score(images, PromptRecord(record["prompt"], "00001", record))
    # Threshold 0 keeps every detection of the class: the top one's colour is named, whichever it is.
    [clause] = verdicts[0].items
    assert clause["found"] == 1 and clause["colors"][0] in COLORS
    assert verdicts[0].score == float(clause["colors"] == ["red"]) and json.loads(verdicts[0].items_json())
    assert scorer.describe()["geneval_detector"] == "tiny:mask2former"


def test_the_clip_scorer_behind_the_same_interface_gives_the_faithfulness_cosine(clip):
    from expander.rewards.faithfulness import ClipSimilarity
    from expander.rewards.image_scorer import pil_to_tensor
    from expander.rewards.prompt_scorers import ClipPromptScorer

    rng = np.random.default_rng(1)
    images = [Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)) for _ in range(3)]
    got = ClipPromptScorer(clip).score(images, PromptRecord("a red fox"))
    expected = ClipSimilarity(clip).score(pil_to_tensor(images), ["a red fox"] * 3)
    assert [s.score for s in got] == pytest.approx(expected.tolist(), abs=1e-6) and all(s.items == () for s in got)
