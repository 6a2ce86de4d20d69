"""Spatial relations between two objects (`check_objects.check_spatial`): a direction stated the other way round
by another pair of mentions fails it; bare prepositions ("on its frame") and mentions that pair up with a nearer
one do not."""

from __future__ import annotations

import pytest

from expander.constraints import check


def _spatial_reasons(prompt: str, expansion: str) -> list[str]:
    return [v.reason for v in check(prompt, expansion).violated if v.constraint.kind == "spatial"]


def test_a_direction_stated_both_ways_fails():
    reasons = _spatial_reasons(
        "a dog to the left of a cat", "A dog to the left of a cat. Later the dog sits to the right of the cat."
    )
    assert len(reasons) == 1 and "also stated as 'right of'" in reasons[0]


@pytest.mark.parametrize(
    "prompt,expansion",
    [
        # "on its frame" is no relation between the remote and the cow
        ("a remote below a cow", "A remote below a cow. The remote has a reflector on its frame, and the cow sleeps."),
        # the first toothbrush pairs with the first bus, not with "the bus" after the second pair
        ("a bus below a toothbrush", "A bus below a toothbrush: a bus below a toothbrush, with the bus parked."),
        ("a dog to the left of a cat", "A dog to the left of a cat; the cat, to the right of the dog, sleeps."),
        # DPG-Bench prompts checked against themselves: coordinated relations, one noun for both objects, a word
        # that names both ("tower" is a building)
        ("shelves above and below the counter", "Shelves above and below the counter."),
        ("a green pepper left of a red pepper", "A green pepper left of a red pepper; the two peppers shine."),
        ("a clock tower above the buildings", "A clock tower, the tower rising above the buildings."),
    ],
)
def test_no_clash_from_bare_prepositions_or_farther_mentions(prompt, expansion):
    assert _spatial_reasons(prompt, expansion) == []
