"""benchmarks/expander_quality.py: the paraphrase triples file and the negation / style / paraphrase measures,
on hand-written expansions (the real checker; no model)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))


def test_the_shipped_triples_are_thirty_or_more_with_negations_and_styles():
    import expander_quality

    from expander.constraints import extract

    triples = expander_quality.load_triples(str(REPO / "benchmarks" / "data" / "paraphrase_triples.txt"))
    assert len(triples) >= 30 and len({t[0] for t in triples}) == len(triples)
    kinds = [{c.kind for p in t for c in extract(p)} for t in triples]
    assert sum("negation" in k for k in kinds) >= 10 and sum("style" in k for k in kinds) >= 10


def test_robustness_counts_subsets_and_triples():
    import expander_quality

    triples = [("a street with no cars", "a street, not a single car on it", "street, no cars")]
    texts = {
        "a street with no cars": "A quiet street at dawn, no cars in sight, wet cobblestones.",
        "a street, not a single car on it": "A quiet street at dawn lined with parked cars.",  # breaks the negation
        "street, no cars": "A quiet street at dawn, not a car anywhere, wet cobblestones.",
        "watercolor painting of a fox": "A loose watercolor painting of a red fox.",
        "isometric illustration of a city": "An illustration of a city.",  # loses "isometric"
        "a red apple": "A shiny red apple on a table.",  # neither subset
    }
    r = expander_quality.robustness(texts, triples)
    assert (r["negation_n"], r["negation_kept"]) == (3, 2 / 3)
    assert (r["style_n"], r["style_kept"]) == (2, 0.5)
    assert (r["paraphrase_pass_1"], r["paraphrase_pass_2"], r["paraphrase_pass_3"]) == (1.0, 0.0, 1.0)
    assert r["paraphrase_all_pass"] == 0.0 and r["triples"] == 1


def test_within_group_diversity_is_zero_for_identical_samples_and_grows_with_different_ones():
    import expander_quality

    same = ["A red fox in deep snow at dawn, soft pink light."] * 3
    varied = [
        "A red fox in deep snow at dawn, soft pink light.",
        "A red fox curled asleep beside a frozen creek under a grey winter sky.",
        "Close-up of a red fox leaping into a snowdrift, flakes flying, bright noon sun.",
    ]
    collapsed = expander_quality.diversity(same + same, 3)  # two prompts, three samples each
    assert collapsed["minilm_pairwise"] < 1e-5 and collapsed["identical_groups"] == 1.0
    spread = expander_quality.diversity(varied + same, 3)
    assert spread["minilm_pairwise"] > 0.05 and spread["identical_groups"] == 0.5
    assert spread["distinct_2"] > collapsed["distinct_2"]


def test_measure_counts_expansions_that_state_an_exclusion_unasked():
    import expander_quality as eq

    prompts = ["a lone tree on a hill at sunset", "a street with no cars"]
    texts = [
        "A lone oak on a grassy hill at sunset, warm light on the bark. The scene shows no people anywhere.",
        "A quiet street at dawn with no cars, wet asphalt, shuttered shops and a pale pink sky.",
    ]
    m = eq.measure(prompts, {"texts": texts, "raw": texts, "seconds": 1.0})
    assert m["added_negation_share"] == 0.5 and m["added_subject_share"] == 0.0
