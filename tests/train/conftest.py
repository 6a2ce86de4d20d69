"""Fixtures for synthesis and SFT tests: a small caption file, rule-made pairs, a tiny random chat LM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# Hand-written test captions (not the shipped corpus): one with quoted text, varied lengths.
TEST_CAPTIONS = [
    dict(zip(("id", "category", "caption"), row))
    for row in [
        (
            "t-fox",
            "animals",
            "A red fox stands in deep fresh snow at the edge of a pine forest at dawn, its thick orange coat "
            "dusted with frost, breath visible in the cold air, soft pink light on the snow, shot with a long "
            "telephoto lens and a shallow depth of field.",
        ),
        (
            "t-sign",
            "posters",
            'A hand-lettered chalkboard sign reading "OPEN LATE" stands outside a small corner bakery at night, '
            "warm yellow light spilling from the window onto wet cobblestones, a bicycle leaning against the "
            "wall, and loaves of bread stacked on wooden shelves behind the glass.",
        ),
        (
            "t-lamp",
            "interiors",
            "A brass desk lamp with a green glass shade glows on an oak writing desk in a quiet study, an open "
            "leather notebook and a fountain pen beside it, shelves of old books fading into shadow, warm "
            "tungsten light and deep brown tones, photographed on medium format film.",
        ),
        (
            "t-bowl",
            "food",
            "A ceramic bowl of ramen with a soft boiled egg, slices of pork, spring onions and a sheet of nori, "
            "steam rising from the rich amber broth, chopsticks resting on the rim, on a dark slate table lit "
            "from the side by a window, overhead shot.",
        ),
    ]
]


@pytest.fixture
def caption_file(tmp_path: Path) -> Path:
    path = tmp_path / "captions.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in TEST_CAPTIONS))
    return path


@pytest.fixture(scope="session")
def rule_pairs_dir(tmp_path_factory) -> Path:
    """Pairs from the first 60 shipped captions by the rule-based writer (fast, deterministic, no model).

    Filters are off (constraints, near-duplicates, dropped subjects): SFT tests need enough pairs to see a loss
    fall, not clean data; the filters have their own tests in test_synth.py.
    """
    from expander.train.synth import SynthConfig, run_synth

    out = tmp_path_factory.mktemp("rule_pairs")
    cfg = SynthConfig(
        corpus="shipped",
        corpus_limit=60,
        method="rule",
        check_constraints=False,
        reject_dropped_subjects=False,
        near_duplicate_threshold=1.0,
        test_fraction=0.2,
        output_dir=str(out),
    )
    result = run_synth(cfg)
    assert result.num_train > 20 and result.num_test > 0
    return out
