"""Prompt validation shared by the CLI and the API: control and invisible characters."""

from __future__ import annotations

import pytest

from expander.prompts import PromptError, validate_prompt


@pytest.mark.parametrize("prompt", ["\x00\x00\x00", "\x1b\x07", "\u200b\u200b", "\u200e\ufeff \x00", "\x7f\x85"])
def test_a_prompt_of_only_control_or_invisible_characters_is_empty(prompt):
    with pytest.raises(PromptError, match="only control or invisible characters"):
        validate_prompt(prompt)


def test_control_characters_are_dropped_and_the_rest_kept():
    assert validate_prompt("a red\x00 fox\x1b in snow") == "a red fox in snow"
    assert validate_prompt("  a fox\nin snow\t") == "a fox\nin snow"
    assert validate_prompt("\U0001f98a\u200d") == "\U0001f98a\u200d"  # an emoji (with a joiner) is content


def test_whitespace_only_is_plainly_empty():
    with pytest.raises(PromptError, match="^prompt is empty$"):
        validate_prompt(" \t\n ")
