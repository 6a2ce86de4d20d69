"""GenEval on the text side (`expander.constraints.geneval_text.check_geneval`): each object, count, colour and
position of a GenEval record checked against hand-written texts, and every shipped prompt against its own record."""

from __future__ import annotations

import pytest

from expander.constraints.geneval_text import CLASS_NAMES, check_geneval
from expander.rewards.geneval_rules import OBJECT_NAMES, read_geneval_metadata


def _failed(record: dict, text: str) -> list[str]:
    return [f"{i.kind}: {i.reason}" for i in check_geneval(record, text).items if not i.ok]


def _obj(cls: str, count: int = 1, **extra) -> dict:
    return {"class": cls, "count": count, **extra}


def test_the_class_names_cover_exactly_the_detectors_80_classes():
    assert sorted(CLASS_NAMES) == sorted(OBJECT_NAMES)


def test_every_geneval_prompt_keeps_its_own_record():
    records = read_geneval_metadata()
    failing = {r["prompt"]: _failed(r, r["prompt"]) for r in records if not check_geneval(r, r["prompt"]).ok}
    assert len(records) == 553 and not failing


@pytest.mark.parametrize(
    "record,text",
    [
        ({"include": [_obj("couch")]}, "A deep green velvet sofa stands under a tall window."),
        ({"include": [_obj("cell phone")]}, "A smartphone lies face down on a wooden desk."),
        ({"include": [_obj("wine glass", 2)]}, "Two crystal wine glasses catch the candle light."),
        ({"include": [_obj("skis")]}, "A pair of skis leans against a log cabin wall."),
        ({"include": [_obj("clock", 4)], "exclude": [_obj("clock", 5)]}, "4 brass clocks hang in a row."),
        ({"include": [_obj("orange")]}, "An orange, half peeled, rests on a plate."),
        ({"include": [_obj("fire hydrant", color="blue")]}, "The hydrant, painted bright blue, stands alone."),
        (
            {"include": [_obj("teddy bear"), _obj("dog", position=["right of", 0])]},
            "A teddy bear sits to the left of a sleepy puppy on the rug.",
        ),
        ({"include": [_obj("kite"), _obj("wine glass", position=["above", 0])]}, "A wine glass on top of a kite."),
        ({"include": [_obj("cup"), _obj("couch", position=["below", 0])]}, "A couch sits beneath a floating mug."),
    ],
)
def test_paraphrases_keep_the_record(record, text):
    assert _failed(record, text) == []


@pytest.mark.parametrize(
    "record,text,failed",
    [
        ({"include": [_obj("dog")]}, "A hot dog with mustard on a paper plate.", ["object", "count"]),
        ({"include": [_obj("bear")]}, "A teddy bear on a shelf.", ["object", "count"]),
        ({"include": [_obj("tv")]}, "A tv remote on a sofa cushion.", ["object", "count"]),
        ({"include": [_obj("orange")]}, "An orange cat naps in the sun.", ["object", "count"]),
        ({"include": [_obj("bench")]}, "Two benches face a quiet pond.", ["count"]),
        ({"include": [_obj("bench")]}, "Benches line a quiet path.", ["count"]),
        ({"include": [_obj("clock", 2)], "exclude": [_obj("clock", 3)]}, "Clocks cover the wall.", ["count"]),
        (
            {"include": [_obj("clock", 2)], "exclude": [_obj("clock", 3)]},
            "Two clocks hang beside three clocks.",
            ["count"],
        ),
        ({"include": [_obj("car", color="pink")]}, "A red car parked by a pink wall.", ["color"]),
        (
            {"include": [_obj("teddy bear"), _obj("dog", position=["right of", 0])]},
            "A dog sits to the left of a teddy bear.",
            ["position"],
        ),
        (
            {"include": [_obj("teddy bear"), _obj("dog", position=["right of", 0])]},
            "A dog and a teddy bear share a rug.",
            ["position"],
        ),
        (
            {"include": [_obj("kite"), _obj("wine glass", position=["above", 0])]},
            "A wine glass under a kite.",
            ["position"],
        ),
        (
            {"include": [_obj("teddy bear"), _obj("dog", position=["right of", 0])]},
            "A dog right of a teddy bear. Later the dog sits to the left of the teddy bear.",
            ["position"],
        ),
    ],
)
def test_a_lost_or_changed_fact_fails_its_item(record, text, failed):
    assert [f.split(":")[0] for f in _failed(record, text)] == failed
