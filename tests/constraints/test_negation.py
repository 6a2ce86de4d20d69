"""Negation scope (`expander.constraints.negation`, `extract_scene.negations`, `check_scene.check_negation`): what
exactly a prompt excludes, what is no negation at all, and when an expansion's mention is inside a negation."""

from __future__ import annotations

import pytest

from expander.constraints import check, extract
from expander.constraints.negation import excluded_forms


def _negated(prompt: str) -> list[str]:
    return [c.value for c in extract(prompt) if c.kind == "negation"]


@pytest.mark.parametrize(
    "prompt,values",
    [
        ("a bowl of fruit without bananas", ["bananas"]),
        ("a pasta dish free of cheese", ["cheese"]),
        ("a pine forest lacking undergrowth", ["undergrowth"]),
        ("a room devoid of furniture", ["furniture"]),
        ("a sky clear of clouds", ["clouds"]),
        ("a car-free city square", ["car"]),
        ("a street with no people walking", ["people"]),  # the noun phrase ends at the verb
        # no negation at all: double negatives, idioms, titles, compounds, labels, non-visual "-free"
        ("a kitchen, not without charm", []),
        ("a greenhouse with no shortage of plants", []),
        ("no man's land at dawn", []),
        ("a poster for No Man's Sky", []),
        ("a no-frills diner", []),
        ("a no parking sign on a wall", []),
        ("a motel with a No Vacancy sign", []),
        ("a hands-free headset", []),
        ("all dark except one lit window", []),
    ],
)
def test_what_a_prompt_excludes(prompt, values):
    assert _negated(prompt) == values, extract(prompt)


def test_nobodys_fool_is_a_name_not_an_emptiness():
    assert not _negated("nobody's fool, a portrait of a clown")


def test_excluded_forms_are_the_thing_and_its_kinds_not_its_class_or_siblings():
    bananas = excluded_forms("bananas")
    assert "banana" in bananas and not {"fruit", "apple", "pear"} & bananas
    assert {"apple", "banana", "grape"} <= excluded_forms("fruit")
    assert {"woman", "child", "crowd"} <= excluded_forms("people")
    assert {"penguin", "sparrow", "chick"} <= excluded_forms("birds")
    assert {"fox", "horse", "penguin"} <= excluded_forms("animals") and "crane" not in excluded_forms("animals")
    assert {"hen", "rooster"} <= excluded_forms("chickens")
    assert {"automobile", "taxi"} <= excluded_forms("cars") and "truck" not in excluded_forms("cars")


@pytest.mark.parametrize(
    "expansion",
    [
        "A bowl of fruit: apples, pears and grapes, no bananas in sight.",
        "A bowl of fruit with apples and pears instead of bananas.",
        "A quiet street, not a single car in sight.",
        "A quiet street with no sign of cars.",
        "A car-free street with wet cobblestones.",
        "A street free of traffic and cars.",
        "A street with no people, cars or scooters.",
        "A street where the cars are absent.",
    ],
)
def test_a_mention_inside_a_negation_keeps_it(expansion):
    prompt = "a bowl of fruit without bananas" if "fruit" in expansion else "a street with no cars"
    assert check(prompt, expansion).ok, check(prompt, expansion).violated


@pytest.mark.parametrize(
    "expansion",
    [
        "An empty street lined with parked cars.",  # "empty" opens no negated phrase without "of"
        "A street with no people, cars parked along the curb.",  # the comma ends the negated phrase
        "A street free of litter, with cars parked along it.",
        "A street with no people and a taxi waiting at the corner.",  # a taxi is a car
    ],
)
def test_a_mention_outside_the_negated_phrase_breaks_it(expansion):
    report = check("a street with no cars", expansion)
    assert [v.constraint.kind for v in report.violated] == ["negation"], report.violated
