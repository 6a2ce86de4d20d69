"""Extraction (`expander.constraints.extract`): what a short prompt pins down, kind by kind.

Everything runs the real extractor (word lists, lemminflect and inflect).
"""

from __future__ import annotations

import pytest

from expander.constraints import KINDS, check, extract


def _kinds(prompt: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for c in extract(prompt):
        out.setdefault(c.kind, []).append(c)
    return out


# --- every kind ---------------------------------------------------------------------------------


def test_extract_finds_every_kind():
    prompt = (
        'a watercolor close-up of two red apples on top of a wooden crate at night, a sign reading "FRESH", no people'
    )
    kinds = _kinds(prompt)
    assert set(KINDS) <= set(kinds), f"missing kinds: {set(KINDS) - set(kinds)}"
    assert kinds["count"][0].value == "2" and kinds["count"][0].binds_to == "apples"
    assert kinds["color"][0].value == "red" and kinds["color"][0].binds_to == "apples"
    assert kinds["quoted_text"][0].value == "FRESH"
    assert kinds["negation"][0].value == "people"
    assert kinds["style"][0].value == "watercolor"
    assert kinds["viewpoint"][0].value == "close-up"
    spatial = kinds["spatial"][0]
    assert (spatial.binds_to, spatial.value, spatial.target) == ("apples", "on top of", "crate")
    assert {c.value for c in kinds["attribute"]} >= {"night", "wooden"}
    assert {c.value for c in kinds["subject"]} >= {"apples", "crate", "sign"}


def test_extract_spans_point_into_the_prompt():
    prompt = "a blue vase to the left of three lemons, pixel art"
    for c in extract(prompt):
        start, end = c.span
        assert prompt[start:end] == c.text


@pytest.mark.parametrize(
    "prompt,kind,value",
    [
        ("a single rose in a vase", "count", "1"),
        ("a pair of boots by the door", "count", "2"),
        ("12 eggs in a carton", "count", "12"),
        ("a dozen donuts in a box", "count", "12"),
        ("a windowless room", "negation", "window"),
        ("a street without cars", "negation", "cars"),
        ("a deserted plaza", "negation", "people"),
        ("a black and white photo of a cat", "style", "black and white photo"),
        ("a 1970s film photo of a diner", "style", "era:70s"),
        ("bird's-eye view of a city", "viewpoint", "bird's-eye"),
        ("a dog hiding under a table", "spatial", "under"),
    ],
)
def test_extract_recognises(prompt, kind, value):
    assert value in {c.value for c in _kinds(prompt).get(kind, [])}, extract(prompt)


# --- what is not a constraint of a kind ---------------------------------------------------------


def test_black_and_white_object_is_two_colours_not_a_style():
    kinds = _kinds("a black and white cat on a sofa")
    assert "style" not in kinds
    assert {c.value for c in kinds["color"]} == {"black", "white"}


def test_count_words_do_not_count_partitives():
    assert "count" not in _kinds("one of the cats is asleep")


@pytest.mark.parametrize("prompt", ["a dog, shot at f/1.8", "a cat in 2020", "a cat, 16:9"])
def test_camera_settings_and_years_are_not_counts_or_subjects(prompt):
    kinds = _kinds(prompt)
    assert [c.text for c in kinds["count"]] == [prompt[:5]]  # only the article's count of one: "a dog"
    assert all(c.value.isalpha() for c in kinds["subject"])


@pytest.mark.parametrize(
    "prompt,absent",
    [
        ("a stainless steel sink", "stain"),
        ("a seamless endless floor", "seam"),
        ("countless stars", "count"),
        ("a timeless spotless room", "spot"),
        ("no harsh shadows, tactile and playful or bright", "playful"),
    ],
)
def test_not_negations(prompt, absent):
    assert absent not in {c.value for c in _kinds(prompt).get("negation", [])}, extract(prompt)


def test_counts_do_not_bind_across_a_verb_or_preposition():
    assert "count" not in _kinds("Both have shaggy hair")
    assert "count" not in _kinds("one with hands raised")
    assert _kinds("a pair of over-ear headphones")["count"][0].binds_to == "headphones"


def test_compound_colour_binds_to_the_noun():
    colors = {(c.binds_to, c.value) for c in _kinds("walls painted mint green").get("color", [])}
    assert colors == {("walls", "green")}


@pytest.mark.parametrize(
    "prompt, subjects",
    [
        ("I want a picture of a red fox in snow", {"fox"}),
        ("can you make a lighthouse at dusk?", {"lighthouse"}),
        ("could you draw me a watercolor heron", {"heron"}),
        ('make me a poster that says "SALE"', {"poster"}),
        ("show me an old wooden boat", {"boat"}),
        ("hey, please generate an image of three cats", {"cats"}),
    ],
)
def test_request_framing_is_not_content(prompt, subjects):
    """The request around the content ("can you make", "I want a picture of") pins nothing down."""
    found = {c.text for c in extract(prompt) if c.kind == "subject"}
    assert found == subjects
    long = "A dense description: " + prompt.split(" ", 3)[-1] + ", soft light, detailed textures."
    assert not any(
        v.constraint.text in ("want", "make", "draw me", "make me", "show me") for v in check(prompt, long).violated
    )


def test_a_drawing_keeps_its_medium():
    assert any(c.text == "drawing" or "drawing" in c.text for c in extract("a drawing of a cat"))


# --- the API ------------------------------------------------------------------------------------


def test_extract_rejects_non_string():
    with pytest.raises(ValueError, match="prompt"):
        extract(["a", "cat"])


def test_extract_returns_a_copy():
    first = extract("a red fox")
    first.clear()
    assert extract("a red fox")
