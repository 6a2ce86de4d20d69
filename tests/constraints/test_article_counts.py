"""Counts the checker reads around a noun: "a bear" pins one bear (`extract_objects.article_counts`, checked
leniently by `check_objects.check_article_count`), and a number counts the noun it stands before, not a later one."""

from __future__ import annotations

import pytest

from expander.constraints import check, extract


def _counts(prompt: str) -> list[tuple[str, str]]:
    return [(c.text, c.value) for c in extract(prompt) if c.kind == "count"]


def test_an_article_pins_one_unless_the_prompt_counts_or_pluralises_the_noun():
    assert _counts("a photo of a hair drier and a bear") == [("a hair drier", "1"), ("a bear", "1")]
    assert _counts("a single rose and a bee") == [("a single rose", "1"), ("a bee", "1")]
    assert _counts("a dog chasing two dogs") == [("two dogs", "2")]
    assert _counts("an owl among owls") == []
    assert ("a man", "1") not in _counts("two men, a man in a hat")  # "men" counts "man" too


@pytest.mark.parametrize(
    "prompt,expansion,ok",
    [
        ("a photo of a hair drier and a bear", "A hair drier and a bear: two bears on a slope.", False),
        ("a photo of a hair drier and a bear", "A hair drier beside a bear; the bear's fur is wet.", True),
        ("a photo of a hair drier and a bear", "A hair drier and a bear. The bears of the valley sleep.", True),
        ("a red fox in snow", "A red fox in deep snow, 2 foxes behind it.", False),
        ("a person and a stop sign", "A person and a stop sign: two people wave.", False),
        ("a cat with two kittens", "A cat nursing two kittens in a basket.", True),  # kittens are not more cats
        ("a barn at dusk", "Two barn owls circle a red barn at dusk.", True),  # "barn" modifies owls
        ("a room at night", "A cozy three-room cabin; one room glows at night.", True),  # "three-room" modifies
    ],
)
def test_an_article_count_fails_only_on_a_larger_number_bound_to_the_same_noun(prompt, expansion, ok):
    report = check(prompt, expansion)
    kept = not any(v.constraint.kind == "count" for v in report.violated)
    assert kept is ok, report.violated


@pytest.mark.parametrize(
    "prompt,expansion",
    [
        ("a microwave", "A keyboard and a microwave, both holding a microwave."),  # "both" counts the two
        ("two dogs in a yard", "Two dogs in a yard, three people carrying dogs' toys."),
    ],
)
def test_a_number_counts_the_noun_right_after_it_not_a_later_one(prompt, expansion):
    assert not [v for v in check(prompt, expansion).violated if v.constraint.kind == "count"]


def test_a_year_is_no_count():
    assert check("a vibrant yellow porsche", "A vibrant yellow 2017 porsche on a coastal road.").ok
