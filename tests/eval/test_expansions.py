"""Stage 2, expand: raw arms need no model; generated texts are cached per batch and never generated twice."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from expander.eval.cache import EvalCache
from expander.eval.config import ArmConfig
from expander.eval.expansions import arm_settings, describe_arms, expand_arm, expand_arms
from expander.eval.plan import EvalPlan
from expander.eval.prompt_sets import EvalPrompt

PROMPTS = [EvalPrompt(f"p{i:04d}", f"a red fox number {i}") for i in range(5)]


@pytest.fixture
def fake_engine(monkeypatch):
    """`create_engine` and `expand_prompts` stand-ins that record each generation call (texts, seed)."""
    import expander.engine
    import expander.expand

    calls: list[tuple[list[str], int]] = []

    class Engine:
        closed = False

        def close(self):
            Engine.closed = True

    def expand_prompts(engine, texts, *, creativity, n, seed, max_words):
        calls.append((list(texts), seed))
        return [
            [
                SimpleNamespace(
                    text=f"{t}, seed {seed}", raw_text=t, seed=seed, completion_tokens=4, finish_reason="stop"
                )
            ]
            for t in texts
        ]

    monkeypatch.setattr(expander.engine, "create_engine", lambda *a, **kw: Engine())
    monkeypatch.setattr(expander.expand, "expand_prompts", expand_prompts)
    return calls, Engine


def test_a_raw_arm_renders_the_prompt_as_typed_without_a_model(tmp_path, fake_engine):
    calls, _ = fake_engine
    plan = EvalPlan(PROMPTS, [ArmConfig(name="raw")], seeds_per_prompt=2)
    records, generated = expand_arm(plan.arms[0], plan, EvalCache(tmp_path))
    assert generated == 0 and not calls
    assert len(records) == 10 and records[("p0003", 1)]["text"] == "a red fox number 3"
    assert records[("p0003", 1)]["finish_reason"] == "raw" and records[("p0003", 1)]["seed"] is None
    assert describe_arms(plan.arms) == [{"name": "raw", "creativity": "raw"}]


def test_generated_texts_are_chunked_by_seed_index_cached_and_reused(tmp_path, fake_engine):
    calls, engine = fake_engine
    arm = ArmConfig(name="smol", creativity="low", model="smollm2-135m", batch_size=2)
    plan = EvalPlan(PROMPTS, [ArmConfig(name="raw"), arm], seeds_per_prompt=2, seed=10)
    cache = EvalCache(tmp_path)
    expansions, generated = expand_arms(plan, cache, progress=False)
    assert generated == 10 and engine.closed
    # One seed per index, batches of 2 within it: 3 calls for seed 10, 3 for seed 11.
    assert [seed for _, seed in calls] == [10, 10, 10, 11, 11, 11]
    assert [len(texts) for texts, _ in calls] == [2, 2, 1, 2, 2, 1]
    assert expansions["smol"][("p0004", 1)]["text"] == "a red fox number 4, seed 11"
    assert expansions["raw"][("p0004", 1)]["text"] == "a red fox number 4"

    calls.clear()
    again, generated = expand_arms(plan, cache, progress=False)
    assert generated == 0 and not calls  # every text came from the cache
    assert again["smol"][("p0004", 1)]["text"] == expansions["smol"][("p0004", 1)]["text"]

    # Another word budget is another arm: its texts are generated, the first arm's are untouched.
    terse = ArmConfig(name="terse", creativity="low", model="smollm2-135m", batch_size=8, max_words=12)
    assert arm_settings(terse) != arm_settings(arm)
    _, generated = expand_arm(terse, plan, cache, progress=False)
    assert generated == 10 and len(calls) == 2


def test_a_lost_chunk_is_the_only_one_generated_again(tmp_path, fake_engine):
    calls, _ = fake_engine
    arm = ArmConfig(name="smol", creativity="low", model="smollm2-135m", batch_size=2)
    plan = EvalPlan(PROMPTS, [arm], seeds_per_prompt=1)
    cache = EvalCache(tmp_path)
    expand_arm(arm, plan, cache, progress=False)
    lost = sorted(cache.root.glob("expansions/*.json"))[0]
    lost.unlink()  # as if the run had been killed before this one was written
    calls.clear()
    records, generated = expand_arm(arm, plan, cache, progress=False)
    assert generated == 1 and len(calls[0][0]) == 1 and len(records) == 5
