"""Text-only quality measures of expansions (`expander.eval.quality`): description vs chat reply, distinct-n,
the summary the quality benchmark prints."""

from __future__ import annotations

import pytest

from expander.eval.quality import distinct_n, is_description, summarize


@pytest.mark.parametrize(
    "text, expected",
    [
        ("A red fox stands in deep snow at dawn, soft pink light on its frosted coat.", True),
        ("Sure! Here is a description of a fox in the snow.", False),
        ("What kind of fox would you like?", False),
        ("I can't create images, but a fox in snow could look like this.", False),
        ("A fox in snow. Let me know if you want changes.", False),
        ("The sun was golden, the snow was melting, the red fox was in the snow.", False),  # past-tense story
        ("As I stepped inside, the cabin is warm and quiet.", False),  # first-person narration
        ('A shop sign reads "WE ARE OPEN" above a door; the street is wet.', True),  # "we" only inside quotes
        ("A fox that was rescued sits in fresh snow; its coat is thick and the sky is pale.", True),
        ("", False),
    ],
)
def test_description_or_chat_reply(text, expected):
    assert is_description(text) is expected


def test_distinct_n_and_summary():
    assert distinct_n(["a b c", "a b c"], 1) == 0.5
    assert distinct_n(["a b", "c d"], 2) == 1.0
    summary = summarize(
        ["a red fox in snow", 'a sign that says "OPEN"'],
        ["A red fox sits in deep snow under a pale sky.", "Sure! What should the sign say?"],
    )
    assert summary.description_share == 0.5 and summary.constraint_pass_rate == 0.5
    assert summary.mean_words == (11 + 6) / 2
    assert summary.raw_description_share is None
    raw = summarize(["a red fox in snow"], ["A red fox sits in deep snow."], raw=["Sure! A red fox sits in deep snow."])
    assert raw.description_share == 1.0 and raw.raw_description_share == 0.0  # the cleaner hid the chat opener
