"""The expansion contract: messages, creativity levels, output cleaning, validation."""

import pytest

from expander.prompts import (
    CREATIVITY_LEVELS,
    POLISH_SYSTEM_PROMPT,
    PromptError,
    build_messages,
    clean_output,
    creativity_settings,
    is_detailed,
    validate_prompt,
)


def test_messages_put_user_text_in_user_turn_only():
    msgs = build_messages("a red fox in snow")
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert msgs[1]["content"] == "a red fox in snow"
    assert "a red fox" not in msgs[0]["content"]


def test_levels_differ_in_sampling_and_budget():
    low, med, high = (creativity_settings(x) for x in ("low", "medium", "high"))
    assert low.temperature < med.temperature < high.temperature
    assert low.max_words < med.max_words <= high.max_words
    assert creativity_settings("raw") is None
    assert "120 words" in build_messages("a cat", "medium")[0]["content"]
    assert "40 words" in build_messages("a cat", "medium", max_words=40)[0]["content"]


def test_raw_and_unknown_levels():
    with pytest.raises(PromptError, match="unknown creativity 'wild'"):
        creativity_settings("wild")
    with pytest.raises(PromptError, match="raw"):
        build_messages("a cat", "raw")
    assert set(CREATIVITY_LEVELS) == {"raw", "low", "medium", "high"}


def test_detailed_prompt_takes_the_polish_path():
    long_prompt = " ".join(["a weathered lighthouse on a basalt cliff at dusk, waves below"] * 5)
    assert is_detailed(long_prompt) and not is_detailed("a lighthouse")
    system = build_messages(long_prompt)[0]["content"]
    assert system.startswith(POLISH_SYSTEM_PROMPT.split("\n")[0])


def test_keep_terms_are_named_in_the_system_prompt():
    system = build_messages("my brand mug", keep_terms=["ACME", "sks style"])[0]["content"]
    assert '"ACME"' in system and '"sks style"' in system


@pytest.mark.parametrize("bad, match", [("", "empty"), ("   \n\t", "empty"), ("x" * 2001, "limit"), (None, "string")])
def test_validate_prompt_rejects(bad, match):
    with pytest.raises(PromptError, match=match):
        validate_prompt(bad)


def test_validate_prompt_strips():
    assert validate_prompt("  a fox \n") == "a fox"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("<think>the user wants a fox</think>A red fox sits in deep snow.", "A red fox sits in deep snow."),
        ("<think>unterminated reasoning that never closes", ""),
        ("Sure! Here is the expanded prompt: A red fox in snow.", "A red fox in snow."),
        ("Certainly! Here's an enhanced version:\n\nA red fox in snow.", "A red fox in snow."),
        ("Expanded prompt: A red fox in snow.", "A red fox in snow."),
        ('"A red fox in snow."', "A red fox in snow."),
        ("\u201cA red fox in snow.\u201d", "A red fox in snow."),
        ("**Prompt:** A red fox in snow.", "A red fox in snow."),
        ("A red fox in snow.\n\nLet me know if you want changes!", "A red fox in snow."),
        ("A   red fox\n in snow.", "A red fox in snow."),
    ],
)
def test_clean_output(raw, expected):
    assert clean_output(raw) == expected


def test_clean_output_keeps_quoted_on_image_text():
    text = 'A neon sign reading "OPEN" above a door, the word "BAR" below.'
    assert clean_output(text) == text
    assert clean_output(f'"{text}"') == f'"{text}"'  # inner quotes: the outer pair is part of the text


def test_clean_output_truncates_at_a_sentence_end():
    text = "One two three. Four five six seven. Eight nine ten eleven twelve."
    assert clean_output(text, max_words=8) == "One two three. Four five six seven."
    assert len(clean_output("word " * 50, max_words=10).split()) == 10


def test_expansion_plan_is_the_one_place_budgets_and_cleaning_come_from():
    from expander.expand import max_new_tokens_for, plan_expansion
    from expander.prompts import build_messages, clean_output, creativity_settings

    assert plan_expansion("a red fox in snow", "raw") is None
    plan = plan_expansion("a red fox in snow", "low", max_words=30, keep_terms=["fox"])
    low = creativity_settings("low")
    assert plan.conversation == build_messages("a red fox in snow", "low", max_words=30, keep_terms=["fox"])
    assert (plan.temperature, plan.top_p, plan.max_words) == (low.temperature, low.top_p, 30)
    assert plan.max_new_tokens == max_new_tokens_for(30)
    long_prompt = " ".join(["word"] * 50)
    assert plan_expansion(long_prompt, "low", max_words=30).max_words == 50  # never cut below the prompt itself
    raw = "Sure! Here is the prompt: A red fox in deep snow."
    assert plan.finish(raw) == clean_output(raw, max_words=30)
    with pytest.raises(PromptError, match="max_words"):
        plan_expansion("a fox", "low", max_words=0)
    with pytest.raises(PromptError, match="unknown creativity"):
        plan_expansion("a fox", "wild")
