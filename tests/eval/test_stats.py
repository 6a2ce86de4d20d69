"""Statistics on synthetic cases whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from expander.eval.stats import arm_means, bootstrap_mean, paired_win_rate, win_rate_table


def test_dominating_arm_wins_everything_and_ties_are_half():
    rng = np.random.default_rng(1)
    base = rng.normal(size=60)
    clusters = np.repeat(np.arange(30), 2)
    always = paired_win_rate(base + 1.0, base, clusters, seed=0)
    assert always.win_rate == 1.0 and always.ci_low == 1.0 and always.ci_high == 1.0
    assert always.mean_diff == pytest.approx(1.0)
    never = paired_win_rate(base - 0.5, base, clusters, seed=0)
    assert never.win_rate == 0.0 and never.ci_high == 0.0
    tie = paired_win_rate(base.copy(), base, clusters, seed=0)
    assert tie.win_rate == 0.5 and tie.ci_low == 0.5 and tie.ci_high == 0.5


def test_known_win_probability_is_covered_with_binomial_width():
    # 400 prompts, one seed each: the arm wins on exactly 30% of them (shuffled), so the true rate is 0.3
    # and the 95% interval should be about +-1.96*sqrt(0.3*0.7/400) = +-0.045 around it.
    n = 400
    wins = np.zeros(n, dtype=bool)
    wins[: int(0.3 * n)] = True
    np.random.default_rng(7).shuffle(wins)
    other = np.zeros(n)
    arm = np.where(wins, 1.0, -1.0)
    res = paired_win_rate(arm, other, np.arange(n), n_boot=2000, seed=3)
    assert res.win_rate == pytest.approx(0.3)
    assert res.ci_low < 0.3 < res.ci_high
    half_width = (res.ci_high - res.ci_low) / 2
    assert half_width == pytest.approx(1.96 * np.sqrt(0.3 * 0.7 / n), rel=0.2)


def test_bootstrap_resamples_prompts_not_seeds():
    # 20 prompts x 10 seeds, outcome fully determined by the prompt: the interval must reflect
    # 20 independent units (wide), not 200 (narrow).
    prompts = np.repeat(np.arange(20), 10)
    arm = np.where(prompts < 10, 1.0, -1.0)
    res = paired_win_rate(arm, np.zeros_like(arm), prompts, n_boot=2000, seed=0)
    assert res.win_rate == pytest.approx(0.5)
    naive_half_width = 1.96 * np.sqrt(0.25 / 200)
    assert (res.ci_high - res.ci_low) / 2 > 2 * naive_half_width
    assert res.n_clusters == 20 and res.n_pairs == 200


def test_seeded_and_nan_pairs_dropped():
    a = np.array([1.0, np.nan, 3.0, 0.0, 2.0])
    b = np.array([0.0, 5.0, np.nan, 1.0, 1.0])
    r1 = paired_win_rate(a, b, np.arange(5), seed=11)
    r2 = paired_win_rate(a, b, np.arange(5), seed=11)
    assert r1 == r2
    assert r1.n_pairs == 3 and r1.win_rate == pytest.approx(2 / 3)
    empty = paired_win_rate(np.array([np.nan]), np.array([1.0]), np.array([0]))
    assert empty.n_pairs == 0 and np.isnan(empty.win_rate)
    with pytest.raises(ValueError, match="equal 1-D shapes"):
        paired_win_rate(np.zeros(3), np.zeros(4), np.arange(3))


def test_win_rate_table_breakdown_by_category_has_the_planted_answer():
    rows = []
    for p in range(40):
        category = "animals" if p < 20 else "vehicles"
        for s in range(2):
            base = float(p * 10 + s)
            rows.append(dict(prompt_id=f"p{p}", seed_index=s, category=category, arm="raw", score=base))
            # `expanded` beats raw on every animal prompt and loses on every vehicle prompt
            delta = 1.0 if category == "animals" else -1.0
            rows.append(dict(prompt_id=f"p{p}", seed_index=s, category=category, arm="expanded", score=base + delta))
    df = pd.DataFrame(rows)
    overall = win_rate_table(df, ["raw", "expanded"], ["score"], n_boot=500)
    assert len(overall) == 1 and overall[0].arm == "expanded" and overall[0].other == "raw"
    assert overall[0].win_rate == pytest.approx(0.5)
    by_cat = {r.group: r for r in win_rate_table(df, ["raw", "expanded"], ["score"], group_by="category", n_boot=500)}
    assert by_cat["animals"].win_rate == 1.0 and by_cat["vehicles"].win_rate == 0.0
    assert by_cat["animals"].n_pairs == 40

    means = arm_means(df, ["raw", "expanded"], ["score"], n_boot=500)
    assert means["expanded"]["score"]["mean"] == pytest.approx(means["raw"]["score"]["mean"])
    est = bootstrap_mean(np.array([1.0, 2.0, 3.0, np.nan]), np.arange(4))
    assert est.mean == pytest.approx(2.0) and est.n == 3 and est.ci_low <= 2.0 <= est.ci_high
