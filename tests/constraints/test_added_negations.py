"""added_negations: exclusions an expansion states that its short prompt never asked for."""

from __future__ import annotations

import pytest

from expander.constraints.added_negations import added_negations


def _values(prompt: str, expansion: str) -> list[str]:
    return [a.value for a in added_negations(prompt, expansion)]


@pytest.mark.parametrize(
    ("prompt", "expansion", "added"),
    [
        # invented exclusions, one per thing, in order
        ("a lone tree on a hill", "A lone oak on a hill. The scene shows no people anywhere.", ["people"]),
        ("a red fox in snow", "A red fox in snow. There are no boats, and no people anywhere.", ["boats", "people"]),
        ("a red fox in snow", "A red fox in snow. Nobody is around. No one at all.", ["people"]),
        ("a swimming pool at dusk", "A pool at dusk, without lounge chairs or umbrellas.", ["chairs", "umbrellas"]),
        ("a street with no cars", "A street with no cars and no trucks. Nobody walks.", ["trucks", "people"]),
        # asked for: restated, a kind of it, emptiness, "no other" for a lone subject
        ("a street with no cars", "A quiet street, no cars anywhere, not a car in sight.", []),
        ("a street, no vehicles", "A quiet street, no cars or buses anywhere.", []),
        ("an empty subway station", "An empty station; no one waits, no commuters, no animals.", []),
        ("a deserted beach", "A deserted beach, nobody on the sand.", []),
        ("a lone tree on a hill", "A lone tree on a hill with no other trees around it.", []),
        ("a room with no windows", "A windowless room, no windows at all, a single lamp.", []),
        # not exclusions of scene content: light and quality, -less adjectives, verbs, emptiness as description
        ("a portrait of a woman", "A portrait of a woman in soft light with no harsh shadows, no glare.", []),
        ("a desert at noon", "A desert at noon under a cloudless sky, a leafless tree.", []),
        ("a cat on a sofa", "A cat on a sofa, not moving, not sure of the camera, beside an empty glass.", []),
        ("a man", "", []),
    ],
)
def test_added_negations(prompt, expansion, added):
    assert _values(prompt, expansion) == added


def test_report_names_the_phrase():
    (a,) = added_negations("a lone tree on a hill", "A lone tree. There are no boats in the frame.")
    assert a.text == "no boats" and a.to_dict() == {"text": "no boats", "value": "boats"}


def test_a_non_string_is_named():
    with pytest.raises(ValueError, match="prompt"):
        added_negations(None, "A lone tree.")
    with pytest.raises(ValueError, match="expansion"):
        added_negations("a lone tree", 3)
