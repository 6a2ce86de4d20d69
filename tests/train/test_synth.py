"""Synthetic pairs: corpus loaders, the filters, style draws, append-safe runs, the real built-in teacher."""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from expander.errors import ConfigError
from expander.train.data import CorpusError, load_captions
from expander.train.synth import (
    STYLES,
    SynthConfig,
    SynthError,
    add_typo,
    clean_short,
    creativity_for,
    filter_short,
    grounding,
    load_pairs,
    pick_styles,
    run_synth,
    teacher_messages,
)
from tests.train.conftest import TEST_CAPTIONS

FOX = TEST_CAPTIONS[0]["caption"]
SIGN = TEST_CAPTIONS[1]["caption"]


# ------------------------------------------------------------------------------------------- corpus loaders


def test_shipped_corpus_loads_with_unique_ids():
    caps = load_captions("shipped")
    assert len(caps) >= 20
    assert len({c.id for c in caps}) == len(caps)
    assert all(len(c.caption.split()) >= 20 and c.category for c in caps)


def test_jsonl_parquet_and_hf_dir_with_a_custom_caption_column(tmp_path):
    rows = [{"text": c["caption"], "kind": c["category"]} for c in TEST_CAPTIONS]
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    parquet = tmp_path / "c.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    from datasets import Dataset

    hf_dir = tmp_path / "hf"
    Dataset.from_list(rows).save_to_disk(str(hf_dir))
    for source in (jsonl, parquet, hf_dir):
        caps = load_captions(str(source), caption_column="text", category_column="kind")
        assert [c.caption for c in caps] == [c["caption"] for c in TEST_CAPTIONS]
        assert caps[0].category == "animals"
        assert caps[0].id == load_captions(str(jsonl), caption_column="text")[0].id  # id = hash of the text


@pytest.mark.parametrize(
    "content, kwargs, message",
    [
        ('{"caption": "a b c"}\nnot json\n', {}, "c.jsonl:2: not valid JSON"),
        ('{"text": "a b c"}\n', {}, "no column 'caption' (columns: text)"),
        ("[1, 2]\n", {}, "expected a JSON object"),
        ('{"caption": "a b"}\n', {"min_words": 5}, "holds no captions"),
    ],
)
def test_bad_corpus_files_name_the_problem(tmp_path, content, kwargs, message):
    path = tmp_path / "c.jsonl"
    path.write_text(content)
    with pytest.raises(CorpusError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        load_captions(str(path), **kwargs)


def test_unknown_source_is_named():
    with pytest.raises(CorpusError, match="not 'shipped', an existing file"):
        load_captions("no/such/thing.jsonl")


# ------------------------------------------------------------------------------------------- filters


CFG = SynthConfig(check_constraints=False, near_duplicate_threshold=1.0)


@pytest.mark.parametrize(
    "short, style, reason",
    [
        ("a red fox in snow", "sentence", None),
        ("", "sentence", "empty"),
        ("I'm sorry, I cannot help with that", "sentence", "refusal"),
        ("Caption: fox fox fox", "sentence", "garbage"),
        ("fox fox fox in snow", "sentence", "garbage"),
        ("fox", "keywords", "too_short"),
        (" ".join(FOX.split()[:26]), "sentence", "too_long"),
        ("a golden retriever puppy in wildflowers", "sentence", "ungrounded"),
        ("a bakery sign at night", "quoted_text", "missing_quote"),
    ],
)
def test_filter_reasons(short, style, reason):
    long = SIGN if style == "quoted_text" else FOX
    assert filter_short(short, long, STYLES[style], CFG) == reason


def test_length_ratio_is_against_the_long():
    long = "A red fox in deep snow at dawn under pink light."
    assert filter_short("a red fox in deep snow at dawn", long, STYLES["sentence"], CFG) == "length_ratio"


def test_quoted_text_style_passes_when_the_quote_is_kept():
    assert filter_short('a bakery sign that says "OPEN LATE"', SIGN, STYLES["quoted_text"], CFG) is None


def test_grounding_counts_content_words_of_the_long():
    assert grounding("red foxes in the snow", FOX) == 1.0
    assert grounding("a purple dragon", FOX) == 0.0


def test_clean_short_drops_labels_quotes_and_dangling_clauses():
    assert clean_short('Prompt: "a red fox in snow"\nmore text', STYLES["sentence"], False) == "a red fox in snow"
    assert clean_short("red fox, deep snow, pine fore", STYLES["keywords"], True) == "red fox, deep snow"
    lower = clean_short('A Bakery Sign "OPEN LATE".', STYLES["lowercase_typos"], False)
    assert lower == 'a bakery sign "OPEN LATE"'


def test_typos_change_one_word_and_never_quoted_text():
    rng = random.Random(0)
    for _ in range(20):
        noisy = add_typo('bakery window sign "OPEN LATE" tonight', rng)
        assert noisy is not None and '"OPEN LATE"' in noisy and noisy != 'bakery window sign "OPEN LATE" tonight'
        assert sum(a != b for a, b in zip(noisy.split(), 'bakery window sign "OPEN LATE" tonight'.split())) >= 1


def test_creativity_level_fits_the_caption_length():
    assert creativity_for("word " * 70) == "low"
    assert creativity_for("word " * 100) == "medium"
    assert creativity_for("word " * 150) == "high"


def test_style_draws_follow_shares_and_quotes():
    from expander.train.data import Caption

    cfg = SynthConfig(styles_per_caption=6)
    plain = pick_styles(Caption("p", FOX), cfg)
    quoted = pick_styles(Caption("q", SIGN), cfg)
    assert "quoted_text" not in [s.name for s in plain] and len(plain) == 5
    assert "quoted_text" in [s.name for s in quoted]
    assert pick_styles(Caption("p", FOX), cfg) == plain  # seeded per caption
    only = SynthConfig(style_shares={"keywords": 1.0, "sentence": 0.0}, styles_per_caption=3)
    assert [s.name for s in pick_styles(Caption("p", FOX), only)] == ["keywords"]


def test_teacher_prompt_shares_its_few_shot_prefix_and_names_the_quote():
    quoted = teacher_messages(SIGN, STYLES["quoted_text"])
    plain = teacher_messages(FOX, STYLES["keywords"], max_caption_words=10)
    assert [m["role"] for m in quoted] == ["system"] + ["user", "assistant"] * len(STYLES) + ["user"]
    assert quoted[:-1] == plain[:-1]  # one prefix for every request: vLLM's prefix cache computes it once
    assert '"OPEN LATE"' in quoted[-1]["content"] and SIGN in quoted[-1]["content"]
    assert plain[-1]["content"].startswith("Caption: " + " ".join(FOX.split()[:10]) + " ...")


def test_every_few_shot_example_passes_its_own_filters():
    # The teacher imitates its examples: an example short that the filters would reject teaches rejects.
    from expander.constraints import check

    cfg = SynthConfig()
    captions = {s.example_caption for s in STYLES.values()}
    assert len(captions) == len(STYLES)  # one subject per style: the teacher has no single subject to copy
    for style in STYLES.values():
        short = clean_short(style.example, style, truncated=False)
        assert short == style.example, style.name
        assert filter_short(short, style.example_caption, style, cfg, check) is None, style.name


def test_request_styles_get_their_opener_only_when_missing():
    can, chat = STYLES["can_you_make"], STYLES["conversational"]
    assert clean_short("The heron on one leg at sunrise", can, False) == "can you make the heron on one leg at sunrise"
    assert clean_short("A heron at sunrise", chat, False) == "I want a picture of a heron at sunrise"
    assert clean_short("could you draw a heron", can, False) == "could you draw a heron"
    assert clean_short("Nordic church in snow", chat, False) == "I want a picture of Nordic church in snow"
    assert clean_short("heron at sunrise", STYLES["sentence"], False) == "heron at sunrise"


def test_bad_synth_config_values_are_named():
    with pytest.raises(ConfigError, match="unknown style"):
        SynthConfig(style_shares={"shouting": 1.0})
    with pytest.raises(ConfigError, match="max_length_ratio"):
        SynthConfig(max_length_ratio=2.0)


# ------------------------------------------------------------------------------------------- runs


def _rule_cfg(corpus, out, **kw):
    kw = {"check_constraints": False, **kw}
    return SynthConfig(
        corpus=str(corpus),
        method="rule",
        near_duplicate_threshold=0.95,
        styles_per_caption=3,
        test_fraction=0.25,
        chunk_size=2,
        output_dir=str(out),
        **kw,
    )


def test_rule_run_writes_splits_card_and_skips_done_captions(tmp_path, caption_file):
    out = tmp_path / "pairs"
    first = run_synth(_rule_cfg(caption_file, out))
    assert first.captions_new == 4 and first.num_train + first.num_test > 0
    ds = load_pairs(out)
    rows = ds["train"].to_list() + (ds["test"].to_list() if "test" in ds else [])
    assert {"caption_id", "style", "teacher", "seed", "short", "long", "creativity"} <= set(rows[0])
    assert all(r["teacher"] == "rule-based" and r["method"] == "rule" for r in rows)
    assert not {r["caption_id"] for r in ds["train"]} & {r["caption_id"] for r in ds.get("test", [])}
    card = (out / "README.md").read_text()
    assert "## Pairs by style" in card and "## Rejected candidates by reason" in card
    assert "rule-based writer" in card

    again = run_synth(_rule_cfg(caption_file, out))
    assert again.captions_new == 0 and again.num_train + again.num_test == first.num_train + first.num_test

    # A torn last line (a kill mid-append) and a new caption: only the new caption is processed.
    with (out / "pairs.jsonl").open("a") as fh:
        fh.write('{"pair_id": "torn')
    with caption_file.open("a") as fh:
        fh.write(json.dumps({"id": "t-new", "category": "x", "caption": FOX.replace("red fox", "grey wolf")}) + "\n")
    third = run_synth(_rule_cfg(caption_file, out))
    assert third.captions_new == 1 and third.captions_done == 5
    ids = [json.loads(line)["pair_id"] for line in (out / "pairs.jsonl").read_text().splitlines()]
    assert len(ids) == len(set(ids))


def test_other_recipe_in_the_same_output_dir_is_refused(tmp_path, caption_file):
    out = tmp_path / "pairs"
    run_synth(_rule_cfg(caption_file, out))
    with pytest.raises(SynthError, match="another recipe .*seed"):
        run_synth(_rule_cfg(caption_file, out, seed=1))


def test_near_duplicates_are_rejected(tmp_path):
    corpus = tmp_path / "dups.jsonl"
    # Same opening clause twice: the rule writer makes the same shorts; the second caption's are duplicates.
    corpus.write_text(
        json.dumps({"id": "a", "caption": FOX})
        + "\n"
        + json.dumps({"id": "b", "caption": FOX.replace("at dawn", "at dusk")})
        + "\n"
    )
    result = run_synth(_rule_cfg(corpus, tmp_path / "out"))
    assert result.rejected_by_reason.get("near_duplicate", 0) >= 1


@pytest.fixture(scope="module")
def builtin_teacher(builtin_model_dir):
    from expander.engine import create_engine

    engine = create_engine("smollm2-135m", backend="transformers")
    yield engine
    engine.close()


def test_builtin_teacher_run_and_cache(tmp_path, caption_file, builtin_teacher, monkeypatch):
    cfg = SynthConfig(
        corpus=str(caption_file),
        corpus_limit=2,
        method="teacher",
        teacher="smollm2-135m",
        backend="transformers",
        style_shares={"sentence": 1.0, "can_you_make": 1.0},
        styles_per_caption=2,
        candidates_per_style=1,
        max_new_tokens=24,
        check_constraints=False,
        near_duplicate_threshold=0.95,
        teacher_cache=str(tmp_path / "cache.jsonl"),
        output_dir=str(tmp_path / "a"),
    )
    first = run_synth(cfg, engine=builtin_teacher)
    card = (tmp_path / "a" / "README.md").read_text()
    assert "`smollm2-135m` (transformers)" in card
    generated = sum(
        json.loads(line)["generated"].get("sentence", 0) for line in (tmp_path / "a" / "progress.jsonl").open()
    )
    assert generated == 2
    assert len((tmp_path / "cache.jsonl").read_text().splitlines()) == 4
    pairs = [json.loads(line) for line in (tmp_path / "a" / "pairs.jsonl").open()]
    assert all(p["teacher"] == "smollm2-135m" and p["seed"] == 0 and p["teacher_output"] for p in pairs)

    # Same teacher and sampling, other filters, new output dir: read from the cache, no engine started.
    import expander.engine

    def no_engine(*a, **k):
        raise AssertionError("the teacher cache should have answered")

    monkeypatch.setattr(expander.engine, "create_engine", no_engine)
    cfg.output_dir, cfg.min_grounding = str(tmp_path / "b"), 0.0
    second = run_synth(cfg)
    assert second.captions_new == 2
    assert second.num_train + second.num_test >= first.num_train + first.num_test


def test_constraint_filter_rejects_what_the_long_does_not_show():
    constraints = pytest.importorskip("expander.constraints")
    if not hasattr(constraints, "check"):
        pytest.skip("expander.constraints.check is not there yet")
    cfg = SynthConfig(near_duplicate_threshold=1.0, min_grounding=0.0)
    assert filter_short("a red fox in snow", FOX, STYLES["sentence"], cfg, constraints.check) is None
    reason = filter_short('a red fox and a sign that says "HELLO"', FOX, STYLES["sentence"], cfg, constraints.check)
    assert reason == "constraint"


def test_a_missing_constraints_extra_is_named(tmp_path, caption_file, monkeypatch):
    import sys

    from expander.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "expander.constraints", None)  # what an uninstalled extra looks like
    with pytest.raises(MissingExtraError, match=r"pip install 'expander\[constraints\]'.*check_constraints: false"):
        run_synth(_rule_cfg(caption_file, tmp_path / "out", check_constraints=True))


def test_a_short_that_drops_a_subject_of_the_long_is_rejected():
    # Trained on "a bakery at night" -> "... a baker waves ...", the expander learns to add people.
    from expander.constraints import added_subjects

    long = "A small corner bakery at night, a baker in a white apron waving from the doorway, warm light on wet stones."
    cfg = SynthConfig(check_constraints=False, near_duplicate_threshold=1.0, min_grounding=0.0)
    sentence = STYLES["sentence"]
    assert (
        filter_short("a corner bakery at night", long, sentence, cfg, subject_check=added_subjects) == "dropped_subject"
    )
    assert (
        filter_short("a baker at a corner bakery at night", long, sentence, cfg, subject_check=added_subjects) is None
    )
    assert filter_short("a corner bakery at night", long, sentence, cfg) is None  # the filter off


def test_rule_run_counts_dropped_subjects_in_the_card(tmp_path, caption_file):
    with caption_file.open("a") as fh:
        fh.write(
            json.dumps(
                {
                    "id": "t-kid",
                    "category": "x",
                    "caption": "A red kite over a green hill on a windy "
                    "afternoon; a small boy holds the string and laughs, clouds racing across the sky.",
                }
            )
            + "\n"
        )
    result = run_synth(_rule_cfg(caption_file, tmp_path / "on"))
    assert result.rejected_by_reason.get("dropped_subject", 0) >= 1
    assert "| dropped_subject |" in (tmp_path / "on" / "README.md").read_text()
    off = run_synth(_rule_cfg(caption_file, tmp_path / "off", reject_dropped_subjects=False))
    assert "dropped_subject" not in off.rejected_by_reason
    assert off.num_train + off.num_test > result.num_train + result.num_test
