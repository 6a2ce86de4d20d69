"""Prompt files (PartiPrompts TSV, CSV, JSONL) and stratified sampling."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from expander.eval.prompt_sets import PromptSetError, load_prompt_file, sample_prompts

PARTI = "data/prompts/PartiPrompts.tsv"


@pytest.fixture(scope="module")
def parti():
    return load_prompt_file(PARTI)


def test_partiprompts_loads_with_both_axes(parti):
    assert len(parti) == 1632
    assert len({p.category for p in parti}) == 12 and len({p.challenge for p in parti}) == 11
    assert parti[0].text == "bond" and parti[0].category == "Abstract" and parti[0].challenge == "Basic"
    assert len({p.prompt_id for p in parti}) == len(parti)


def test_stratified_sample_is_balanced_seeded_and_in_file_order(parti):
    sample = sample_prompts(parti, 24, stratify_by="category", seed=0)
    counts = Counter(p.category for p in sample)
    assert len(sample) == 24 and len(counts) == 12 and set(counts.values()) == {2}
    assert sample == sample_prompts(parti, 24, stratify_by="category", seed=0)
    assert sample != sample_prompts(parti, 24, stratify_by="category", seed=1)
    ids = [int(p.prompt_id[1:]) for p in sample]
    assert ids == sorted(ids)
    # Small groups are kept whole, big ones fill the rest: 'Properties & Positioning' has only 35 prompts.
    by_challenge = Counter(p.challenge for p in sample_prompts(parti, 385, stratify_by="challenge", seed=3))
    assert by_challenge["Properties & Positioning"] == 35 and sum(by_challenge.values()) == 385
    # A plain random sample of 24 from 12 categories is (almost surely) unbalanced: stratifying matters.
    plain = Counter(p.category for p in sample_prompts(parti, 24, stratify_by="none", seed=0))
    assert plain != counts


def test_filters_and_their_errors(parti):
    quantity = sample_prompts(parti, None, challenges=["Quantity"])
    assert len(quantity) == 90 and {p.challenge for p in quantity} == {"Quantity"}
    with pytest.raises(PromptSetError, match="unknown category.*Animals"):
        sample_prompts(parti, 5, categories=["Animal"])
    with pytest.raises(PromptSetError, match="num_prompts must be >= 1"):
        sample_prompts(parti, 0)
    with pytest.raises(PromptSetError, match="stratify_by"):
        sample_prompts(parti, 5, stratify_by="colour")


def test_own_csv_and_jsonl(tmp_path):
    csv_file = tmp_path / "mine.csv"
    csv_file.write_text('prompt,category\n"a fox, in snow",animals\na red bus,\n')
    got = load_prompt_file(csv_file)
    assert [p.text for p in got] == ["a fox, in snow", "a red bus"]
    assert [p.category for p in got] == ["animals", "-"] and got[0].challenge == "-"
    jsonl = tmp_path / "mine.jsonl"
    jsonl.write_text(
        json.dumps({"text": "two cats", "challenge": "Quantity"}) + "\n\n" + json.dumps({"prompt": "a sign"}) + "\n"
    )
    assert [(p.text, p.challenge) for p in load_prompt_file(jsonl)] == [("two cats", "Quantity"), ("a sign", "-")]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("none.tsv", None, "does not exist"),
        ("bad.txt", "a fox\n", "unknown format"),
        ("nocol.csv", "caption_id,label\n1,x\n", "no prompt column"),
        ("empty_line.csv", "prompt\na fox\n   \n", r"line 3: prompt is empty"),
        ("bad.jsonl", '{"prompt": "a fox"}\n{oops\n', "bad.jsonl:2: not valid JSON"),
        ("list.jsonl", '["a fox"]\n', "list.jsonl:1: expected a JSON object"),
        ("header_only.csv", "prompt\n", "holds no prompts"),
    ],
)
def test_bad_files_are_named_errors(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(PromptSetError, match=message):
        load_prompt_file(path)
