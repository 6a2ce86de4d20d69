"""Synth pairs that carry negations, emptiness and style words (issue #26), and the contradiction filter."""

from __future__ import annotations

import json
import random

import pytest

from expander.errors import ConfigError
from expander.train.synth import (
    CONSTRAINT_STYLES,
    STYLES,
    SynthConfig,
    SynthError,
    constraint_candidates,
    filter_short,
    load_pairs,
    run_synth,
)

pytest.importorskip("expander.constraints")
from expander.constraints import check, extract  # noqa: E402

STREET = (
    "A narrow cobblestone street in an old hill town at noon, whitewashed walls and blue shutters, "
    "three cars parked along the curb, bougainvillea spilling over a balcony, hard midday light."
)
HALL = (
    "A vast empty concert hall seen from the back row, rows of red velvet seats, a black grand piano alone on the "
    "stage under a single spotlight, gilded balconies, warm dim light, no people present."
)
PAINTING = (
    "A loose watercolor painting of a harbor town at dawn, colorful houses stacked along a hillside above a "
    "quiet bay, soft wet-on-wet washes, visible cold-press paper texture."
)
CFG = SynthConfig(near_duplicate_threshold=1.0, min_grounding=0.0)


def test_a_negation_the_long_contradicts_is_rejected_by_name():
    # "with no cars" for a caption with three parked cars: trained on it, the expander learns to show cars.
    assert filter_short("a cobblestone street with no cars", STREET, STYLES["sentence"], CFG, check) == (
        "contradicted_negation"
    )
    assert filter_short("a cobblestone street with no boats", STREET, STYLES["sentence"], CFG, check) is None
    # An emptiness word against a long with a person in it is the same contradiction.
    busy = STREET.replace("three cars parked", "an old man sweeping")
    assert filter_short("a deserted cobblestone street", busy, STYLES["sentence"], CFG, check) == (
        "contradicted_negation"
    )
    # Another broken constraint keeps its own reason.
    assert filter_short("a cobblestone street at midnight", STREET, STYLES["sentence"], CFG, check) == "constraint"


def test_every_kept_candidate_states_its_constraint_and_the_long_keeps_it():
    rng = random.Random(0)
    by_name = {}
    for caption, category in ((STREET, "architecture"), (HALL, "interiors"), (PAINTING, "art_media")):
        for name, short, long in constraint_candidates(caption, rng, category):
            by_name.setdefault(name, []).append((short, long, caption))
    assert set(by_name) == set(CONSTRAINT_STYLES)
    for short, long, caption in by_name["negation_added"]:
        assert long.startswith(caption) and long != caption  # one sentence appended, nothing else changed
        negated = [c.value for c in extract(short) if c.kind == "negation" and c.target != "emptiness"]
        assert negated and negated[-1].rstrip("s") in long[len(caption) :].lower()
    for short, long, caption in by_name["style_word"]:
        assert long == caption and "watercolor" in short.lower()
    for short, long, caption in by_name["negation_kept"]:
        assert long == caption and "no people" in short.lower()
    for short, long, caption in by_name["emptiness_added"]:
        assert long != caption and any(c.target == "emptiness" for c in extract(short))
        assert check(short, long).ok


def test_emptiness_is_only_written_for_a_scene_without_people_or_animals():
    rng = random.Random(0)
    with_person = STREET.replace("three cars parked", "a woman walking")
    assert "emptiness_added" not in {n for n, _, _ in constraint_candidates(with_person, rng, "architecture")}
    assert "emptiness_added" not in {n for n, _, _ in constraint_candidates(STREET, rng, "food")}


def test_a_run_adds_constraint_pairs_that_pass_the_filters(tmp_path):
    corpus = tmp_path / "captions.jsonl"
    rows = [("c-street", "architecture", STREET), ("c-hall", "interiors", HALL), ("c-paint", "art_media", PAINTING)]
    corpus.write_text("".join(json.dumps({"id": i, "category": c, "caption": t}) + "\n" for i, c, t in rows))
    cfg = SynthConfig(
        corpus=str(corpus),
        method="rule",
        styles_per_caption=1,
        constraint_pairs_per_caption=2,
        negation_added_share=1.0,  # every caption may get one: three captions are too few for a share
        near_duplicate_threshold=1.0,
        test_fraction=0.0,
        output_dir=str(tmp_path / "out"),
    )
    result = run_synth(cfg)
    pairs = load_pairs(tmp_path / "out")["train"].to_list()
    made = [p for p in pairs if p["style"] in CONSTRAINT_STYLES]
    assert len(made) >= 4 and {p["style"] for p in made} >= {"negation_added", "style_word"}
    for p in made:
        assert check(p["short"], p["long"]).ok, p
        assert p["augmented"] == (p["long"] != dict((i, t) for i, _, t in rows)[p["caption_id"]])
    # The street's cars make some "no X" candidates contradictions; none of them was written.
    street_shorts = [p["short"] for p in made if p["caption_id"] == "c-street"]
    assert not any("no cars" in s or "without cars" in s or "no vehicles" in s for s in street_shorts)
    card = (tmp_path / "out" / "README.md").read_text()
    assert "| negation_added |" in card
    assert sum(result.accepted_by_style.get(n, 0) for n in CONSTRAINT_STYLES) == len(made)
    # Another number of constraint pairs is another recipe: refused in the same output dir.
    with pytest.raises(SynthError, match="constraint_pairs_per_caption"):
        run_synth(SynthConfig(**{**vars(cfg), "constraint_pairs_per_caption": 0}))
    # So is another share of "no X" pairs; with none, no caption gets one and the other writers still run.
    with pytest.raises(SynthError, match="negation_added_share"):
        run_synth(SynthConfig(**{**vars(cfg), "negation_added_share": 0.0}))
    run_synth(SynthConfig(**{**vars(cfg), "negation_added_share": 0.0, "output_dir": str(tmp_path / "none")}))
    styles = {p["style"] for p in load_pairs(tmp_path / "none")["train"].to_list()}
    assert "negation_added" not in styles and "style_word" in styles


def test_negation_added_share_is_validated_and_old_dirs_read_as_one():
    with pytest.raises(ConfigError, match="negation_added_share must be in"):
        SynthConfig(negation_added_share=1.5)
    from expander.train.synth.run import _RECIPE_DEFAULTS

    assert _RECIPE_DEFAULTS["negation_added_share"] == 1.0  # dirs made before the key gave every caption one


def test_an_output_dir_from_before_constraint_pairs_is_the_same_recipe_with_them_off(tmp_path, caption_file):
    out = tmp_path / "out"
    cfg = SynthConfig(
        corpus=str(caption_file),
        method="rule",
        check_constraints=False,
        near_duplicate_threshold=1.0,
        output_dir=str(out),
    )
    run_synth(cfg)
    recipe = json.loads((out / "recipe.json").read_text())
    del recipe["constraint_pairs_per_caption"]  # what a run before this key wrote
    (out / "recipe.json").write_text(json.dumps(recipe))
    assert run_synth(cfg).captions_new == 0
