"""GenEval's decision rules on hand-made detections, each verdict worked out from upstream's code.

"L<n>" is a line of djghosh13/geneval `evaluation/evaluate_images.py` @ af4902f2, "S<n>" of
`evaluation/summary_scores.py`; each comment says which lines decide the case.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from expander.rewards.benchmark_data import BenchmarkDataError
from expander.rewards.geneval_rules import (
    COLORS,
    OBJECT_NAMES,
    Detection,
    classify_colors,
    color_classifier,
    color_prompts,
    colors_needed,
    compute_iou,
    evaluate_detections,
    masked_crop,
    pick_color,
    read_geneval_metadata,
    relative_position,
    select_detections,
    summarize,
)

REPO = Path(__file__).resolve().parents[2]
METADATA = REPO / "data/prompts/geneval/evaluation_metadata.jsonl"

DOG = {"tag": "single_object", "include": [{"class": "dog", "count": 1}], "prompt": "a photo of a dog"}
TWO_CLOCKS = {
    "tag": "counting",
    "include": [{"class": "clock", "count": 2}],
    "exclude": [{"class": "clock", "count": 3}],
    "prompt": "a photo of two clocks",
}
DOG_RIGHT_OF_BEAR = {
    "tag": "position",
    "include": [{"class": "teddy bear", "count": 1}, {"class": "dog", "count": 1, "position": ["right of", 0]}],
    "prompt": "a photo of a dog right of a teddy bear",
}
BEAR = Detection((0, 0, 100, 100), 0.95)


def det(x1, y1, x2, y2, score=0.95, color=None) -> Detection:
    return Detection((x1, y1, x2, y2), score, color=color)


def judge(raw: dict, record: dict, **options):
    return evaluate_detections(select_detections(raw, record["tag"], **options), record)


def test_the_confidence_threshold_is_strict_and_compared_in_float32():
    # L233 keeps `score > 0.3` on mmdet's float32 scores: float32(0.3) itself is out, the next float32 is in.
    at = det(0, 0, 10, 10, score=0.3)
    above = det(0, 0, 10, 10, score=float(np.nextafter(np.float32(0.3), np.float32(1))))
    assert select_detections({"dog": [at]}, "single_object") == {}  # empty classes are dropped (L243-244)
    assert select_detections({"dog": [at, above]}, "single_object")["dog"] == [above]
    # L176-179: nothing kept, so the include clause fails with upstream's message.
    verdict = judge({"dog": [at]}, DOG)
    assert not verdict.correct and verdict.reason == "expected dog>=1, found 0"
    assert judge({"dog": [above]}, DOG).correct


def test_counting_prompts_use_the_higher_threshold_for_every_class():
    # L230: tag "counting" -> 0.9, so the 0.85 clock is dropped; the same boxes under another tag keep all three.
    clocks = [det(0, 0, 10, 10, 0.95), det(20, 0, 30, 10, 0.92), det(40, 0, 50, 10, 0.85)]
    assert len(select_detections({"clock": clocks}, "counting")["clock"]) == 2
    assert len(select_detections({"clock": clocks}, "two_object")["clock"]) == 3
    # Two kept at > 0.9: include (>= 2, L176-177) passes and exclude (< 3, L217) passes.
    assert judge({"clock": clocks}, TWO_CLOCKS).correct
    # Only one above 0.9: L177-179 fails the include clause.
    verdict = judge({"clock": [clocks[0], clocks[2]]}, TWO_CLOCKS)
    assert verdict.reason == "expected clock>=2, found 1"
    assert [c.passed for c in verdict.clauses] == [False, True]


def test_exclude_means_fewer_than_count_over_all_kept_detections():
    # Three clocks above 0.9: the include clause takes the top 2 and passes; L217 `3 >= 3` fails the exclude.
    clocks = [det(i * 20, 0, i * 20 + 10, 10, 0.99 - i / 100) for i in range(3)]
    verdict = judge({"clock": clocks}, TWO_CLOCKS)
    assert not verdict.correct and verdict.reason == "expected clock<3, found 3"
    include, exclude = verdict.clauses
    assert include.passed and include.found == 2 and include.count_ok
    assert exclude.kind == "exclude" and not exclude.passed and exclude.found == 3


def test_at_most_max_objects_per_class_are_kept_so_the_exclude_clause_sees_sixteen():
    # L234 caps each class at 16 before any rule: 20 confident dogs count as 16, and `16 >= 17` is false (L217).
    dogs = [det(i, 0, i + 10, 10, 0.5 + i / 100) for i in range(20)]
    kept = select_detections({"dog": dogs}, "single_object")["dog"]
    assert len(kept) == 16 and kept[0] is dogs[-1]  # most confident first (L232)
    record = {**DOG, "exclude": [{"class": "dog", "count": 17}]}
    assert evaluate_detections({"dog": kept}, record).correct


def test_overlapping_boxes_all_count_unless_max_overlap_is_set():
    # L289: max_overlap defaults to 1.0 and L241 then keeps every box, duplicates included.
    twins = [det(0, 0, 9, 9, 0.99), det(0, 0, 9, 9, 0.98)]
    assert judge({"clock": twins}, TWO_CLOCKS).correct
    # With max_overlap 0.5 the twin (IoU 1.0 >= 0.5) is suppressed (L239-242) and only one clock is left.
    assert judge({"clock": twins}, TWO_CLOCKS, max_overlap=0.5).reason == "expected clock>=2, found 1"
    # L131: areas count pixels inclusively (+1): 10x10 boxes sharing a 5x10 strip -> 50 / 150.
    assert compute_iou((0, 0, 9, 9), (5, 0, 14, 9)) == pytest.approx(1 / 3)


def test_only_the_top_count_detections_are_colour_checked():
    # L176 keeps the most confident `count` (1) car; L183-184 checks its colour only, so the red one behind it
    # does not help; L187-189 lists the colours found in COLORS order.
    record = {
        "tag": "colors",
        "include": [{"class": "car", "count": 1, "color": "red"}],
        "prompt": "a photo of a red car",
    }
    cars = {"car": [det(0, 0, 10, 10, 0.9, "blue"), det(20, 0, 30, 10, 0.8, "red")]}
    assert colors_needed(cars, record) == {"car": 1}
    verdict = evaluate_detections(cars, record)
    assert verdict.reason == "expected red car>=1, found 0 red; and 1 blue"
    assert verdict.clauses[0].colors == ("blue",) and verdict.clauses[0].color_ok is False
    cars["car"][0] = cars["car"][0].with_color("red")
    assert evaluate_detections(cars, record).correct


def test_colour_mismatch_on_the_second_object_names_every_colour_found():
    # color_attr: each clause checks its own class (L181-190); the apple is red, so only clause 1 fails.
    record = {
        "tag": "color_attr",
        "include": [
            {"class": "wine glass", "count": 1, "color": "purple"},
            {"class": "apple", "count": 1, "color": "black"},
        ],
        "prompt": "a photo of a purple wine glass and a black apple",
    }
    raw = {"wine glass": [det(0, 0, 10, 10, color="purple")], "apple": [det(20, 0, 30, 10, color="red")]}
    verdict = evaluate_detections(raw, record)
    assert verdict.reason == "expected black apple>=1, found 0 black; and 1 red"
    assert [c.passed for c in verdict.clauses] == [True, False]
    # With count 2, both top detections are checked and the tally runs in COLORS order (red before white).
    record2 = {"tag": "colors", "include": [{"class": "dog", "count": 2, "color": "white"}], "prompt": "two white dogs"}
    dogs = {"dog": [det(0, 0, 10, 10, 0.9, "white"), det(20, 0, 30, 10, 0.8, "red")]}
    assert evaluate_detections(dogs, record2).reason == "expected white dog>=2, found 1 white; and 1 red, 1 white"


def test_a_colour_the_rules_need_but_nobody_classified_is_a_caller_error():
    record = {"tag": "colors", "include": [{"class": "car", "count": 1, "color": "red"}], "prompt": "a red car"}
    with pytest.raises(ValueError, match="colors_needed"):
        evaluate_detections({"car": [det(0, 0, 10, 10)]}, record)


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        # L140-157 with two 100x100 boxes: margin 0.1 * (100 + 100) = 20 px; dx = (x - 20) / x must exceed 0.5.
        (42, {"right of"}),  # (42 - 20) / 42 = 0.524: just inside
        (40, set()),  # (40 - 20) / 40 = 0.5, not > 0.5: just outside, and no other relation
        (20, set()),  # the margin eats the whole offset: L148 returns no relation
        (-60, {"left of"}),  # (-60 + 20) / 60 = -0.667
    ],
)
def test_position_margin_is_a_tenth_of_the_summed_sizes_on_box_centres(x, expected):
    assert relative_position((x, 0, x + 100, 100), BEAR.box) == expected


def test_the_position_margin_scales_with_the_boxes_and_y_grows_downwards():
    # 200-px-wide boxes: margin 40, so the 42-px offset that passed above is now (42 - 40) / 42 = 0.05.
    assert relative_position((42, 0, 242, 200), (0, 0, 200, 200)) == set()
    # A diagonal offset (100, 100): shrunk to (80, 80) / 141.4 = 0.566 on both axes (L151-156).
    assert relative_position((100, 100, 200, 200), BEAR.box) == {"right of", "below"}
    assert relative_position((0, -150, 100, -50), BEAR.box) == {"above"}


def test_the_position_rule_checks_the_object_against_its_target_clause():
    # L197-207: A is the clause's own object (the dog), B the target clause's object (the teddy bear).
    assert judge({"teddy bear": [BEAR], "dog": [det(42, 0, 142, 100)]}, DOG_RIGHT_OF_BEAR).correct
    verdict = judge({"teddy bear": [BEAR], "dog": [det(40, 0, 140, 100)]}, DOG_RIGHT_OF_BEAR)
    # An empty relation set joins to "" (L205): upstream's message then has two spaces.
    assert verdict.reason == "expected dog right of target, found  target"
    assert verdict.clauses[1].position_ok is False and verdict.clauses[1].relations == ()
    verdict = judge({"teddy bear": [BEAR], "dog": [det(-60, 0, 40, 100)]}, DOG_RIGHT_OF_BEAR)
    assert verdict.reason == "expected dog right of target, found left of target"
    # Two relations are joined in POSITIONS order (upstream joins a set: its order varies with the hash seed).
    above = {
        **DOG_RIGHT_OF_BEAR,
        "include": [DOG_RIGHT_OF_BEAR["include"][0], {"class": "dog", "count": 1, "position": ["above", 0]}],
    }
    verdict = judge({"teddy bear": [BEAR], "dog": [det(100, 100, 200, 200)]}, above)
    assert verdict.reason == "expected dog above target, found right of and below target"


def test_a_position_without_its_target_fails_with_no_target():
    # L177-179 fails the teddy bear clause, L213 stores None for it, L194-196 then fails the dog clause.
    verdict = judge({"dog": [det(42, 0, 142, 100)]}, DOG_RIGHT_OF_BEAR)
    assert verdict.reason == "expected teddy bear>=1, found 0\nno target for dog to be right of"
    assert verdict.clauses[1].position_ok is False


def test_every_object_pair_must_hold_and_a_failed_colour_skips_the_position_check():
    # count 2: both dogs against the bear (L198-209); the second dog is left of it, so the clause fails once.
    record = {
        "tag": "position",
        "include": [{"class": "teddy bear", "count": 1}, {"class": "dog", "count": 2, "position": ["right of", 0]}],
        "prompt": "two dogs right of a teddy bear",
    }
    verdict = judge({"teddy bear": [BEAR], "dog": [det(200, 0, 300, 100, 0.9), det(-200, 0, -100, 100, 0.8)]}, record)
    assert verdict.reason == "expected dog right of target, found left of target"
    # L191 `and matched`: a clause whose colour failed never reaches its position check.
    record = {
        "tag": "position",
        "include": [
            {"class": "teddy bear", "count": 1},
            {"class": "dog", "count": 1, "color": "red", "position": ["right of", 0]},
        ],
        "prompt": "a red dog right of a teddy bear",
    }
    verdict = judge({"teddy bear": [BEAR], "dog": [det(-200, 0, -100, 100, color="blue")]}, record)
    assert verdict.reason == "expected red dog>=1, found 0 red; and 1 blue"
    assert verdict.clauses[1].position_ok is None


def test_summary_is_the_mean_over_tags_of_per_tag_accuracy():
    # S40-45: per-tag mean of `correct`, then an unweighted mean over tags (0.5 and 1.0 -> 0.75, not 5/6);
    # S31: a prompt is correct when any of its images is.
    rows = [
        {"tag": "counting", "metadata": TWO_CLOCKS, "correct": True},
        {"tag": "counting", "metadata": TWO_CLOCKS, "correct": False},
    ] + [{"tag": "single_object", "metadata": json.dumps(DOG), "correct": True}] * 4
    summary = summarize(rows)
    assert summary.per_tag == {"counting": 0.5, "single_object": 1.0}
    assert summary.per_tag_counts["counting"] == (1, 2)
    assert summary.overall == pytest.approx(0.75) and summary.correct_images == pytest.approx(5 / 6)
    assert summary.images == 6 and summary.prompts == 2 and summary.correct_prompts == 1.0


def test_colour_classification_follows_clip_benchmark_and_upstreams_argmax():
    # L113-117 templates, filled with the class then the colour.
    assert color_prompts("fire hydrant")[0] == [
        "a photo of a red fire hydrant",
        "a photo of a red-colored fire hydrant",
        "a photo of a red object",
    ]
    assert pick_color([0.1] * 3 + [0.9] + [0.9] * 6) == "green"  # torch arg-max: the first maximum
    # Colour k's templates point along axis k (at different lengths: each is normalised before the mean).
    text = torch.zeros(10, 3, 16)
    for k in range(10):
        text[k, :, k] = torch.tensor([1.0, 5.0, 0.5])
    text[:, 2, 15] = 1.0  # the shared "object" template direction
    weights = color_classifier(text)
    assert weights.shape == (16, 10) and torch.allclose(weights.norm(dim=0), torch.ones(10))
    images = torch.zeros(2, 16)
    images[0, COLORS.index("purple")] = 3.0
    images[1, COLORS.index("white")] = 0.2
    assert classify_colors(images, weights) == ["purple", "white"]


def test_masked_crop_matches_pil_composite_and_crop():
    from PIL import Image

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    mask = rng.random((24, 32)) > 0.5
    pil = Image.fromarray(image)
    # L88, L98, L102: composite over "#999", then `crop(box[:4])` (PIL rounds half to even and pads with 0).
    for box in [(2.5, 3.5, 17.4, 12.6), (-3.0, 20.0, 10.0, 30.0)]:
        expected = Image.composite(pil, Image.new("RGB", pil.size, color="#999"), Image.fromarray(mask)).crop(box)
        assert np.array_equal(masked_crop(image, box, mask), np.asarray(expected))
    assert np.array_equal(masked_crop(image, (1, 1, 5, 4)), image[1:4, 1:5])


def test_malformed_records_name_the_line_and_key(tmp_path):
    bad = tmp_path / "meta.jsonl"
    bad.write_text(
        json.dumps(DOG) + "\n" + json.dumps({**DOG, "include": [{"class": "dog", "count": 1, "color": "teal"}]}) + "\n"
    )
    with pytest.raises(BenchmarkDataError, match=r"meta.jsonl:2: include\[0\].color 'teal'"):
        read_geneval_metadata(bad)
    forward = {
        **DOG_RIGHT_OF_BEAR,
        "include": [{"class": "dog", "count": 1, "position": ["right of", 1]}, {"class": "teddy bear", "count": 1}],
    }
    with pytest.raises(BenchmarkDataError, match=r"include\[0\].position"):
        evaluate_detections({}, forward)
    with pytest.raises(BenchmarkDataError, match="not one of the detector's 80 classes"):
        evaluate_detections({}, {**DOG, "include": [{"class": "unicorn", "count": 1}]})
    with pytest.raises(BenchmarkDataError, match="not found"):
        read_geneval_metadata(tmp_path / "missing.jsonl")


def test_the_shipped_metadata_is_upstreams_file_with_its_553_prompts():
    data = METADATA.read_bytes()
    # Upstream's git blob of prompts/evaluation_metadata.jsonl at af4902f2: the file is byte-identical.
    assert hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == "efc21c7e639cd45554a1e44fac87157211f16d51"
    records = read_geneval_metadata(METADATA)  # every record passes validate_record
    assert len(records) == 553
    # The per-task sizes reported for the GenEval paper (553 prompts); upstream's README lists none.
    assert Counter(r["tag"] for r in records) == {
        "single_object": 80,
        "two_object": 99,
        "counting": 80,
        "colors": 94,
        "position": 100,
        "color_attr": 100,
    }
    assert all("exclude" in r for r in records if r["tag"] == "counting")
    assert {c["class"] for r in records for c in r["include"]} <= set(OBJECT_NAMES)
    assert records[0] == {
        "tag": "single_object",
        "include": [{"class": "bench", "count": 1}],
        "prompt": "a photo of a bench",
    }
