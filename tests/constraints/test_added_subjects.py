"""The added-subject check: people, animals and creatures an expansion adds that the prompt did not ask for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from expander.constraints.added_subjects import added_subjects, subject_mentions

LABELLED = [
    json.loads(line)
    for line in (Path(__file__).parent / "data" / "added_subjects_labelled.jsonl").read_text().splitlines()
    if line.strip()
]


@pytest.mark.parametrize("row", LABELLED, ids=[f"{r['prompt']}|{i}" for i, r in enumerate(LABELLED)])
def test_labelled_additions_are_found_exactly(row):
    got = sorted(a.group for a in added_subjects(row["prompt"], row["expansion"]))
    assert got == sorted(row["added"]), row.get("note")


def test_the_report_names_the_word_and_its_span():
    expansion = "A red fox in snow; a large bear stands beside it."
    [bear] = added_subjects("a red fox in snow", expansion)
    assert (bear.word, bear.kind, bear.group) == ("bear", "animal", "bear")
    assert expansion[bear.start : bear.end] == "bear"
    assert bear.to_dict()["start"] == bear.start


def test_one_entry_per_added_group():
    added = added_subjects("a pond", "A pond with two swans, a heron, and a woman and a man on the bank.")
    assert sorted(a.group for a in added) == ["person"]  # a pond implies birds; the two adults are one group


@pytest.mark.parametrize(
    "text",
    [
        "a bird's-eye view of the bay",
        "a fish-eye lens shot",
        "man-made canals",
        "a teddy bear on a shelf",
        "hot dogs on a grill",
        "chicken broth in a bowl",
        "grilled salmon on rice",
        "a computer mouse",
        "no people anywhere, not a soul",
        "a lion statue by the gate",
        "a cat-shaped lamp",
        "a child's bed",
        "fairy lights on a porch",
        "a red passenger train",
        "the kite flies high",
        "a cream fisherman sweater",
        "a cowboy hat on a hook",
        "a pirate ship in a bottle",
    ],
)
def test_things_that_are_not_subjects(text):
    assert subject_mentions(text) == []


def test_the_same_text_as_prompt_adds_nothing():
    for row in LABELLED:
        assert added_subjects(row["expansion"], row["expansion"]) == []
