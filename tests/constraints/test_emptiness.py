"""Emptiness (`expander.constraints.emptiness`): "empty", "deserted", "alone", "nobody", "no one", "not a soul",
"nothing but" are constraints that a person or animal the prompt does not name breaks."""

from __future__ import annotations

import pytest

from expander.constraints import check, extract
from expander.constraints.emptiness import EMPTY


def _emptiness(prompt: str) -> list[str]:
    return [c.text for c in extract(prompt) if c.kind == "negation" and c.target == EMPTY]


@pytest.mark.parametrize(
    "prompt,texts",
    [
        ("an empty subway station at night", ["empty"]),
        ("a deserted beach", ["deserted"]),
        ("a man alone on a bench", ["alone"]),
        ("a quiet street with nobody around", ["nobody"]),
        ("a pool with no-one in it", ["no-one"]),
        ("a trail with not a living soul on it", ["not a living soul"]),
        ("nothing but sand dunes", ["nothing but"]),
        # not emptiness: containers, a denied word, "empty of X" (a negation of X), a possessive
        ("an empty wine glass on a bar", []),
        ("a bar counter, the glass is empty", []),
        ("a station that is not empty", []),
        ("a room empty of furniture", []),
        ("nobody's fool", []),
    ],
)
def test_emptiness_words(prompt, texts):
    assert _emptiness(prompt) == texts, extract(prompt)


@pytest.mark.parametrize(
    "prompt,expansion,breaks",
    [
        (
            "an empty subway station at night",
            "An empty subway station at night, commuters on the platform.",
            "commuters",
        ),
        ("an empty subway station at night", "An empty subway station at night, a stray dog asleep on a bench.", "dog"),
        ("an empty classroom", "An empty classroom where three students read.", "students"),  # a scene of people
        ("a man alone on a bench", "A man sits alone on a bench; a woman sits down beside him.", "woman"),
        (
            "she reads alone in a library",
            "A young woman reads alone in a library while an old man pushes a cart.",
            "man",
        ),
        ("nothing but sand dunes", "Nothing but sand dunes, a camel caravan on the crest.", "camel"),
    ],
)
def test_an_added_person_or_animal_breaks_it(prompt, expansion, breaks):
    report = check(prompt, expansion)
    assert not report.ok
    assert any(v.constraint.target == EMPTY and f"'{breaks}'" in v.reason for v in report.violated), report.violated


@pytest.mark.parametrize(
    "prompt,expansion",
    [
        ("an empty subway station at night", "An empty subway station at night, no passengers, flickering lights."),
        ("an empty station, except for a stray cat", "A deserted station at dawn, a thin stray cat on the tiles."),
        ("a man alone on a bench", "An elderly gentleman sits alone on a park bench in the fog."),
        ("she reads alone in a library", "A young woman reads alone among towering library shelves."),
        ("a deserted street", "A deserted street at dawn; the guests have not yet arrived."),
        ("an empty wine glass on a bar", "An empty wine glass on a bar, a bartender polishing glasses behind it."),
    ],
)
def test_what_the_prompt_names_is_let_in(prompt, expansion):
    report = check(prompt, expansion)
    assert report.ok, report.violated
