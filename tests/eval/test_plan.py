"""Stage 1, plan: prompts x arms x seeds in table order, every arm on the same seeds, a suite's ids kept."""

from __future__ import annotations

import json

from expander.eval.config import ArmConfig, EvalConfig
from expander.eval.plan import EvalPlan, expansion_seed, load_prompts, make_plan, render_seed
from expander.eval.prompt_sets import EvalPrompt

ARMS = [ArmConfig(name="raw"), ArmConfig(name="smol", creativity="low", model="smollm2-135m")]


def test_cells_are_prompt_major_and_every_arm_shares_the_render_seeds():
    prompts = [EvalPrompt("p0000", "a red fox"), EvalPrompt("p0001", "two cats on a sofa")]
    plan = EvalPlan(prompts, ARMS, seeds_per_prompt=3, seed=7)
    cells = plan.cells()
    assert len(cells) == 2 * 2 * 3
    assert [(c.prompt.prompt_id, c.arm.name, c.seed_index) for c in cells[:4]] == [
        ("p0000", "raw", 0),
        ("p0000", "raw", 1),
        ("p0000", "raw", 2),
        ("p0000", "smol", 0),
    ]
    seeds = {}
    for c in cells:
        seeds.setdefault((c.prompt.prompt_id, c.seed_index), set()).add(c.render_seed)
    assert all(len(s) == 1 for s in seeds.values())  # arm A's and arm B's image of (p, i): the same noise
    assert len({next(iter(s)) for s in seeds.values()}) == 6  # but every (p, i) its own
    assert cells[0].render_seed == render_seed(7, "a red fox", 0) < 2**31
    assert [plan.expansion_seed(i) for i in range(3)] == [expansion_seed(7, i) for i in range(3)] == [7, 8, 9]
    assert plan.baseline == "raw"


def test_the_render_seed_follows_the_base_seed_and_the_text_not_the_id():
    assert render_seed(0, "a fox", 0) != render_seed(1, "a fox", 0)
    assert render_seed(0, "a fox", 0) != render_seed(0, "a fox", 1)
    same_text = EvalPlan([EvalPrompt("a", "a fox"), EvalPrompt("b", "a fox")], ARMS[:1], 1)
    assert len({c.render_seed for c in same_text.cells()}) == 1


def test_load_prompts_samples_the_file_and_make_plan_keeps_the_config_arms(tmp_path):
    path = tmp_path / "prompts.jsonl"
    rows = [{"prompt": f"a fox number {i}", "category": "A" if i % 2 else "B"} for i in range(10)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = EvalConfig(prompt_file=str(path), num_prompts=4, stratify_by="category", arms=ARMS, seeds_per_prompt=2)
    prompts = load_prompts(cfg)
    assert len(prompts) == 4 and {p.category for p in prompts} == {"A", "B"}
    assert load_prompts(cfg) == prompts  # seeded
    plan = make_plan(cfg, prompts)
    assert [a.name for a in plan.arms] == ["raw", "smol"] and plan.seeds_per_prompt == 2 and plan.seed == cfg.seed


def test_a_suite_loader_keeps_its_upstream_ids_and_metadata():
    # A benchmark's loader (GenEval, DPG-Bench) returns its own ids and what its scorers need per prompt.
    prompts = [EvalPrompt("00042", "a photo of two dogs", metadata={"include": [{"class": "dog", "count": 2}]})]
    plan = EvalPlan(prompts, ARMS, 1)
    assert {c.prompt.prompt_id for c in plan.cells()} == {"00042"}
    assert plan.cells()[0].prompt.metadata["include"][0]["count"] == 2
    assert prompts[0] == EvalPrompt("00042", "a photo of two dogs")  # metadata is not part of equality
