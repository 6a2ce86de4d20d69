"""Constraints: extraction, checking, the report format, the labelled set and the `expander check` CLI.

Everything runs the real checker (word lists, lemminflect, inflect and the shipped all-MiniLM-L6-v2).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from expander.constraints import KINDS, ConstraintReport, check, extract

DATA = Path(__file__).parent / "data" / "constraints_labelled.jsonl"


def _rows() -> list[dict]:
    return [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]


def _kinds(prompt: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for c in extract(prompt):
        out.setdefault(c.kind, []).append(c)
    return out


def _violated_kinds(report: ConstraintReport) -> set[str]:
    return {v.constraint.kind for v in report.violated if v.constraint.hard}


# --- extraction ---------------------------------------------------------------------------------


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


def test_black_and_white_object_is_two_colours_not_a_style():
    kinds = _kinds("a black and white cat on a sofa")
    assert "style" not in kinds
    assert {c.value for c in kinds["color"]} == {"black", "white"}


def test_count_words_do_not_count_partitives():
    assert "count" not in _kinds("one of the cats is asleep")


@pytest.mark.parametrize("prompt", ["a dog, shot at f/1.8", "a cat in 2020", "a cat, 16:9"])
def test_camera_settings_and_years_are_not_counts_or_subjects(prompt):
    kinds = _kinds(prompt)
    assert "count" not in kinds
    assert all(c.value.isalpha() for c in kinds["subject"])


def test_compound_subject_needs_both_words():
    report = check("a wooden fence post", "A weathered wooden post stands in a field of tall grass at dusk.")
    assert "subject" in _violated_kinds(report)
    assert check("a wooden fence post", "A weathered wooden fence post in tall grass at dusk.").ok


# --- paraphrases pass ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt,expansion",
    [
        ("three apples on a plate", "3 glossy apples rest on a white porcelain plate in soft window light."),
        ("12 eggs in a carton", "Twelve speckled eggs sit in an open cardboard carton on a kitchen counter."),
        ("a puppy on a rug", "A sleepy little dog curled up on a thick wool rug by the fireplace."),
        ("a blue vase on a shelf", "A cobalt blue ceramic vase stands on a floating oak shelf, backlit."),
        ("a deserted street at dawn", "An empty street at dawn, no people anywhere, pale pink light on wet asphalt."),
        ("a street with no people", "A deserted cobblestone street lined with shuttered shops in morning fog."),
        ("overhead shot of a desk", "Top-down view of a tidy desk with a laptop, notebook and a mug of tea."),
        ("a windowless office", "A cramped office with no windows, lit by buzzing fluorescent tubes."),
        ("a kitten in a basket", "A tiny cat, only weeks old, peeks out of a wicker basket lined with linen."),
        ("two cats on a couch", "A pair of tabby cats doze side by side on a sofa in afternoon light."),
    ],
)
def test_paraphrase_is_not_punished(prompt, expansion):
    report = check(prompt, expansion)
    assert report.ok, [v.reason for v in report.violated]
    assert report.score == 1.0


# --- changes are caught -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt,expansion,kind",
    [
        ("a red cube and a blue sphere", "A glossy blue cube beside a matte red sphere on gray concrete.", "color"),
        ("a lamp to the left of a sofa", "A brass lamp stands to the right of a velvet sofa in a dim room.", "spatial"),
        (
            "three apples on a plate",
            "Five glossy apples rest on a white porcelain plate in soft window light.",
            "count",
        ),
        ("three apples on a plate", "Glossy apples rest on a white porcelain plate in soft window light.", "count"),
        ("a dog on a rug", "A sleepy tabby cat curled up on a thick wool rug by the fireplace.", "subject"),
        ("a watercolor of a harbor", "A crisp photograph of a harbor at noon, shot on a 35mm lens.", "style"),
        (
            "a street with no cars",
            "A narrow street lined with parked cars and scooters under string lights.",
            "negation",
        ),
        ("a close-up of a rose", "A wide shot of a rose garden stretching to a distant manor house.", "viewpoint"),
        ("a city at night", "A city skyline under a bright midday sun, crisp shadows and blue sky.", "attribute"),
        ('a sign that says "OPEN"', 'A wooden sign that says "Open" hangs by a cafe door.', "quoted_text"),
        ("a cat on top of a fridge", "A cat crouches underneath an old fridge in a dim kitchen.", "spatial"),
    ],
)
def test_change_is_caught(prompt, expansion, kind):
    report = check(prompt, expansion)
    assert not report.ok
    assert kind in _violated_kinds(report), [v.reason for v in report.violated]
    assert report.score < 1.0


def test_reason_names_the_change():
    report = check("three apples in a bowl", "A bowl holding five shiny apples.")
    [violation] = report.violated
    assert violation.constraint.kind == "count"
    assert violation.reason == "count 'three apples' became 'five'"


def test_swapped_colour_names_both_objects():
    reasons = [
        v.reason for v in check("a red cube and a blue sphere", "A blue cube and a red sphere on a table.").violated
    ]
    assert any("red cube" in r and "blue" in r for r in reasons)
    assert any("blue sphere" in r and "red" in r for r in reasons)


def test_soft_attribute_lowers_score_but_keeps_ok():
    prompt = "a majestic lion on a rock"
    soft = [c for c in extract(prompt) if not c.hard]
    assert soft and soft[0].text == "majestic"
    report = check(prompt, "A lion rests on a flat granite rock under a pale sky.")
    assert report.ok
    assert 0.0 < report.score < 1.0


def test_prompt_without_constraints_scores_one():
    report = check("", "anything at all")
    assert report.ok and report.score == 1.0 and not report.satisfied and not report.violated


def test_empty_expansion_fails():
    report = check("a red fox in snow", "")
    assert not report.ok and report.score == 0.0


# --- report format and input errors -------------------------------------------------------------


def test_report_is_json_serialisable():
    report = check("two red apples, watercolor", "A watercolor of three green apples.")
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False
    assert 0.0 <= data["score"] <= 1.0
    assert data["n_constraints"] == len(data["satisfied"]) + len(data["violated"])
    assert {v["constraint"]["kind"] for v in data["violated"]} >= {"count", "color"}
    assert all(isinstance(v["reason"], str) and v["reason"] for v in data["violated"])


@pytest.mark.parametrize("args,name", [((None, "x"), "prompt"), (("x", 3), "expansion"), ((b"x", "x"), "prompt")])
def test_non_string_input_is_a_value_error(args, name):
    with pytest.raises(ValueError, match=name):
        check(*args)


def test_extract_rejects_non_string():
    with pytest.raises(ValueError, match="prompt"):
        extract(["a", "cat"])


def test_extract_returns_a_copy():
    first = extract("a red fox")
    first.clear()
    assert extract("a red fox")


# --- the labelled set ---------------------------------------------------------------------------


def test_labelled_set_is_large_and_covers_every_kind():
    rows = _rows()
    assert len(rows) >= 120
    assert all(r["faithful"] and r["unfaithful"] for r in rows)
    assert {u["kind"] for r in rows for u in r["unfaithful"]} == set(KINDS)
    for r in rows:
        for text in r["faithful"] + [u["text"] for u in r["unfaithful"]]:
            assert 30 <= len(text.split()) <= 120, text


def test_accuracy_on_labelled_set():
    rows = _rows()
    faithful = [(r["prompt"], e) for r in rows for e in r["faithful"]]
    unfaithful = [(r["prompt"], u["text"]) for r in rows for u in r["unfaithful"]]
    false_fails = [(p, [v.reason for v in check(p, e).violated]) for p, e in faithful if not check(p, e).ok]
    missed = [p for p, e in unfaithful if check(p, e).ok]
    pass_rate = 1 - len(false_fails) / len(faithful)
    catch_rate = 1 - len(missed) / len(unfaithful)
    assert pass_rate >= 0.95, false_fails
    assert catch_rate >= 0.90, missed


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_check_json(capsys):
    from expander.cli import main

    code = main(["check", "three apples", "Five apples in a bowl.", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0  # a failing expansion is a result, not an error
    assert out["ok"] is False and out["prompt"] == "three apples"
    assert out["violated"][0]["reason"] == "count 'three apples' became 'five'"


def test_cli_check_text(capsys):
    from expander.cli import main

    assert main(["check", "a red fox in snow", "A red fox trotting through fresh snow at dawn."]) == 0
    out = capsys.readouterr().out
    assert out.startswith("PASS")
    assert "subject" in out and "fox" in out


def test_cli_check_text_lists_added_subjects(capsys):
    from expander.cli import main

    assert main(["check", "a red fox in snow", "A red fox in snow; a large bear stands beside it."]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ADDS") and "adds 1 subject" in out
    assert "ADDED animal      'bear' (bear)" in out


def test_cli_check_empty_prompt_is_usage_error(capsys):
    from expander.cli import main

    assert main(["check", "  ", "something"]) == 2
    assert "PROMPT" in capsys.readouterr().err


# --- identity: a text keeps every constraint of its own ------------------------------------------

CAPTIONS = Path(__file__).resolve().parents[1] / "data" / "captions"


def test_identity_over_caption_corpus_and_labelled_texts():
    import time

    texts = [
        json.loads(line)["caption"]
        for f in sorted(CAPTIONS.glob("*.jsonl"))
        for line in f.read_text().splitlines()
        if line.strip()
    ]
    assert len(texts) >= 300
    texts += [t for r in _rows() for t in r["faithful"] + [u["text"] for u in r["unfaithful"]]]
    start = time.process_time()
    failures = [(t[:80], [v.reason for v in check(t, t).violated]) for t in texts if not check(t, t).ok]
    assert not failures, failures
    assert time.process_time() - start < 30


# --- regressions: one group per root cause of the identity failures ------------------------------


@pytest.mark.parametrize(
    "prompt,expansion",
    [
        # colour lists bind to the noun before them, not to the first colour of the list
        ("a rug in cream, charcoal, and mustard", "A wool rug in cream, charcoal, and mustard stripes lies on oak."),
        ("a rug in blue and pale pink", "A flat-woven rug in blue, white and pale pink on a tiled floor."),
        (
            "houses in ochre, rose, and pale blue",
            "The old houses, painted ochre, rose, and pale blue, line the harbor.",
        ),
        (
            "a palette of navy, coral, cream, and sea green",
            "A restrained palette of deep navy, coral, cream, and sea green throughout.",
        ),
        # compound colours are one colour
        ("walls painted mint green", "Kitchen walls painted mint green catch the morning light."),
        ("a butter yellow vase", "A vase glazed butter yellow stands on the sill."),
        ("a blue-grey coat", "He wears a long blue-grey wool coat."),
        ("a dog with reddish-orange hair", "A dog with shaggy reddish-orange hair naps in the sun."),
        ("a white fuchsia blossom", "A close-up of a white fuchsia blossom after rain."),
        # several colour + noun pairs in one sentence
        ("orange hair and a green scarf", "A girl with orange hair wears a green scarf and a red coat."),
        # counts restated with "both" / "a pair of"
        ("both hands on the wheel", "She grips the wheel with both hands, knuckles white."),
        ("a pair of over-ear headphones", "A pair of matte over-ear headphones rests on the desk."),
        ("two front teeth", "A grinning child missing two front teeth."),
        # side of the frame: the mention nearest its side phrase
        ("a scoop on the right", "A bowl of berries sits on the left, and a silver scoop rests on the right."),
        # "-less" words that are not negations
        ("a stainless steel sink", "A stainless steel sink with a few water stains near the drain."),
        ("a seamless white backdrop", "Studio shot against a seamless white backdrop, no seams or stains."),
        # negation scope ends with its noun phrase
        (
            "no harsh shadows, tactile and luxurious texture, playful and feminine mood",
            "Soft diffused light with no harsh shadows, a tactile and luxurious texture, playful and feminine mood.",
        ),
        # absence stated after the mention; a verb that can also name the thing
        (
            "an empty dinner table, no people",
            "An empty dinner table, no people are present, as if the guests have not yet arrived.",
        ),
        ("a desert highway, no people", "A desert highway at dusk where low mesas silhouette the distance."),
    ],
)
def test_restated_or_equivalent_constraints_are_kept(prompt, expansion):
    report = check(prompt, expansion)
    assert report.ok, [v.reason for v in report.violated]


@pytest.mark.parametrize(
    "prompt,expansion,kind",
    [
        ("a rug in cream, charcoal, and mustard", "A wool rug in cream and charcoal, a mustard cushion.", "color"),
        ("walls painted purple", "The walls are painted white, purple flowers in a vase.", "color"),
        ("a blue-grey coat", "He wears a long red coat.", "color"),
        ("a scoop on the right", "A bowl sits on the right, and a silver scoop rests on the left.", "spatial"),
        ("a pair of boots by the door", "Three leather boots by the door.", "count"),
        ("a windowless room", "A small room with one window.", "negation"),
        ("no cars, trucks, or buses", "An empty road, a truck parked on the shoulder.", "negation"),
        ("no people", "A lone hiker on the ridge.", "negation"),
    ],
)
def test_regression_changes_are_still_caught(prompt, expansion, kind):
    assert kind in _violated_kinds(check(prompt, expansion)), check(prompt, expansion).violated


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


# --- the constraints extra -----------------------------------------------------------------------


def test_importing_the_package_loads_none_of_the_extra():
    """`require_constraints` is meant to be called cheaply: the package imports no extra module."""
    import subprocess
    import sys

    code = (
        "import sys, expander.constraints as c; c.require_constraints(); "
        "print(sorted(m for m in ('inflect', 'lemminflect', 'sentence_transformers', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_require_constraints_names_the_extra_and_the_module(monkeypatch):
    import importlib.util

    from expander.constraints import require_constraints
    from expander.errors import ExpanderError, MissingExtraError

    require_constraints()  # installed in the test environment
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "inflect" else real(name, *a))
    with pytest.raises(MissingExtraError, match=r"expander\[constraints\].*inflect") as err:
        require_constraints()
    assert isinstance(err.value, ExpanderError) and isinstance(err.value, ImportError)
    with pytest.raises(MissingExtraError, match=r"^synth's filter needs .*; or set check_constraints: false$"):
        require_constraints("synth's filter", hint="or set check_constraints: false")


def test_a_missing_word_form_library_is_a_missing_extra_error(monkeypatch):
    import sys

    from expander.constraints import text
    from expander.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "lemminflect", None)  # import fails as if not installed
    text._lemma_lookup.cache_clear()
    try:
        with pytest.raises(MissingExtraError, match=r"constraint checks.*expander\[constraints\].*lemminflect"):
            text.is_verb_form("zorbling")
    finally:
        text._lemma_lookup.cache_clear()


def test_reports_do_not_depend_on_the_hash_seed():
    # Two opposites present: the reason must name the same one whatever order the phrase set iterates in
    # (before the fix, hash seeds 1 and 2 named "desolate" and "deserted").
    code = (
        "from expander.constraints import check\n"
        "r = check('a crowded street market', 'An empty, deserted and desolate street market at dawn.')\n"
        "print([v.to_dict() for v in r.violated])\n"
    )
    import subprocess
    import sys

    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": str(s)},
        ).stdout
        for s in (1, 2)
    }
    assert len(outs) == 1, outs
    assert "became" in outs.pop()
