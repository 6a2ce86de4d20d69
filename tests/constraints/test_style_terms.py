"""Style and medium words (`extract_scene.styles`, `style_terms`, `style_words`): the curated list and the
"X painting / X illustration / X photo / in the style of X" patterns are must-keep terms."""

from __future__ import annotations

import pytest

from expander.constraints import check, extract


def _styles(prompt: str) -> list[str]:
    return [c.value for c in extract(prompt) if c.kind == "style"]


@pytest.mark.parametrize(
    "prompt,values",
    [
        ("watercolor painting of a fox", ["watercolor"]),
        ("isometric illustration of an office", ["isometric", "illustration"]),
        ("a digital painting of a castle", ["term:digital", "painting"]),
        ("a botanical illustration of a fern", ["term:botanical", "illustration"]),
        ("a product shot of a perfume bottle", ["term:product"]),
        ("a Pixar style render of a robot", ["term:pixar", "3d render"]),
        ("a wheat field in the style of Van Gogh", ["term:van gogh"]),
        ("a harbor painting by Monet", ["term:monet"]),
        ("a tilt-shift photo of a station", ["tilt shift", "photo"]),
        ("a noir photo of a detective", ["noir", "photo"]),
        # content, colours, opinions and scene attributes before a medium noun are no style terms
        ("a dog painting", ["painting"]),
        ("a beautiful red painting at night", []),
        ("a famous old photo", ["photo"]),
    ],
)
def test_style_words_of_a_prompt(prompt, values):
    assert _styles(prompt) == values, extract(prompt)


@pytest.mark.parametrize(
    "prompt,kept,dropped",
    [
        ("watercolor painting of a fox", "A loose watercolor of a fox.", "A painting of a fox."),
        (
            "isometric illustration of an office",
            "An isometric illustration of an office.",
            "An illustration of an office.",
        ),
        ("a digital painting of a castle", "A digitally painted castle on a cliff.", "An oil painting of a castle."),
        (
            "a wheat field in the style of Van Gogh",
            "A wheat field after Van Gogh's skies.",
            "A wheat field, oil on canvas.",
        ),
        (
            "a surrealist painting of a clock",
            "A surreal painting of a melting clock.",
            "A realistic painting of a clock.",
        ),
    ],
)
def test_a_style_word_must_be_kept(prompt, kept, dropped):
    assert check(prompt, kept).ok, check(prompt, kept).violated
    report = check(prompt, dropped)
    assert [v.constraint.kind for v in report.violated if v.constraint.hard] == ["style"], report.violated
