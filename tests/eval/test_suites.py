"""Eval suites: every loader keeps its benchmark's ids, and sampling works on each suite."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from expander.eval.config import EvalConfig
from expander.eval.plan import load_prompts
from expander.eval.prompt_sets import PromptSetError
from expander.eval.suites import SUITES, load_dpg, load_file, load_geneval, load_parti
from expander.rewards.benchmark_data import DPG_PROMPTS_FILE, GENEVAL_METADATA_FILE, read_dpg_prompts
from expander.rewards.geneval_rules import TAGS

ARMS = [{"name": "raw"}]


def _cfg(**kwargs) -> EvalConfig:
    from expander.eval.config import ArmConfig

    return EvalConfig(arms=[ArmConfig(**a) for a in ARMS], **kwargs)


def test_the_suite_mapping_lists_each_suite_once():
    assert list(SUITES) == ["parti", "geneval", "dpg", "file"]


def test_geneval_yields_one_prompt_per_record_keyed_by_its_zero_padded_line_index():
    prompts = load_geneval()
    lines = [json.loads(line) for line in open(GENEVAL_METADATA_FILE, encoding="utf-8")]
    assert len(prompts) == len(lines) == 553
    assert [p.prompt_id for p in prompts] == [f"{i:05d}" for i in range(553)]
    assert all(
        p.metadata == rec and p.text == rec["prompt"] and p.category == rec["tag"] for p, rec in zip(prompts, lines)
    )
    assert prompts[0].text == "a photo of a bench" and prompts[0].challenge == "-"
    assert Counter(p.category for p in prompts) == {
        "single_object": 80,
        "two_object": 99,
        "counting": 80,
        "colors": 94,
        "position": 100,
        "color_attr": 100,
    }


def test_dpg_yields_upstream_ids_and_texts():
    prompts = load_dpg()
    rows = read_dpg_prompts(DPG_PROMPTS_FILE)
    assert len(prompts) == 1065 and len({p.prompt_id for p in prompts}) == 1065
    assert [p.prompt_id for p in prompts] == [r.id for r in rows]
    assert all(p.text == r.text.strip() for p, r in zip(prompts, rows))
    assert prompts[0].prompt_id == "0" and "COCOval2014000000010363" in {p.prompt_id for p in prompts}


def test_parti_is_todays_default_and_file_needs_a_path(tmp_path):
    parti = load_parti()
    assert len(parti) == 1632 and parti[0].prompt_id == "p0000"
    with pytest.raises(PromptSetError, match="suite 'file' reads `prompt_file`"):
        load_file(None)
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps({"prompt": "a fox", "category": "Animals"}) + "\n")
    assert [(p.prompt_id, p.text, p.category) for p in load_file(path)] == [("p0000", "a fox", "Animals")]
    # The default config is the Parti suite: today's default behaviour.
    default = _cfg(num_prompts=None)
    assert default.suite == "parti" and load_prompts(default) == parti


def test_a_geneval_sample_is_stratified_by_tag_seeded_and_in_index_order():
    cfg = _cfg(suite="geneval", num_prompts=12, stratify_by="category", sample_seed=0)
    sample = load_prompts(cfg)
    assert len(sample) == 12 and Counter(p.category for p in sample) == {tag: 2 for tag in TAGS}
    assert [p.prompt_id for p in sample] == sorted(p.prompt_id for p in sample)
    assert sample == load_prompts(cfg) and sample != load_prompts(_cfg(suite="geneval", num_prompts=12, sample_seed=1))
    assert all(p.metadata["tag"] == p.category for p in sample)  # the record travels with the sampled prompt
    only = load_prompts(_cfg(suite="geneval", num_prompts=None, categories=["counting"]))
    assert len(only) == 80 and {p.metadata["tag"] for p in only} == {"counting"}


def test_a_dpg_sample_keeps_upstream_ids():
    sample = load_prompts(_cfg(suite="dpg", num_prompts=8, stratify_by="none", seeds_per_prompt=4))
    ids = {p.prompt_id for p in load_dpg()}
    assert len(sample) == 8 and {p.prompt_id for p in sample} <= ids


def test_a_suite_reads_a_file_of_its_upstream_format(tmp_path):
    meta = tmp_path / "meta.jsonl"
    meta.write_text(
        json.dumps({"tag": "counting", "include": [{"class": "dog", "count": 2}], "prompt": "a photo of two dogs"})
        + "\n"
    )
    (prompt,) = load_geneval(meta)
    assert (prompt.prompt_id, prompt.category, prompt.metadata["include"][0]["count"]) == ("00000", "counting", 2)
    dpg = tmp_path / "dpg.jsonl"
    dpg.write_text(json.dumps({"id": "a.b", "prompt": "x"}) + "\n")
    with pytest.raises(PromptSetError, match="DPG id 'a.b' cannot be an image file stem"):
        load_dpg(dpg)
