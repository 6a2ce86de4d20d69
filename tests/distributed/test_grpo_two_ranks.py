"""GRPO on two processes (torchrun, gloo) with each group split across them: one step of the tiny recipe.

`--num_generations 4 --per_device_train_batch_size 2`: the generation batch is one prompt's 4 completions,
2 on each process (TRL cuts the global batch into consecutive per-rank chunks).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from expander.prompts import clean_output
from tests.distributed.conftest import REPO, torchrun

TINY = REPO / "configs" / "grpo" / "tiny_cpu.yaml"


@pytest.fixture(scope="module")
def two_rank_run(tmp_path_factory, tiny_chat_lm_dir):
    # The policy is the session's tiny random chat Llama: the ranks' sharding of completions, renders and rewards
    # is the point, not the 135M model's generation (tests/train/test_grpo_text.py loads the recipe's policy).
    out = tmp_path_factory.mktemp("grpo2") / "run"
    proc = torchrun(
        [
            "-m",
            "expander.cli",
            "grpo",
            "--config",
            str(TINY),
            "--output_dir",
            str(out),
            "--model_name_or_path",
            str(tiny_chat_lm_dir),
            "--sft_adapter",
            "none",
            "--max_steps",
            "1",
            "--num_generations",
            "4",
            "--per_device_train_batch_size",
            "2",
            "--gradient_accumulation_steps",
            "1",
            "--max_completion_length",
            "16",
            "--save_steps",
            "1",
            "--image_grid_steps",
            "1",
            "--drop_zero_std_epochs",
            "1",
            "--report_to",
            "none",
        ],
        env={"EXPANDER_CACHE": os.environ["EXPANDER_CACHE"]},
    )
    rows = [json.loads(line) for line in (out / "completions" / "step_000001.jsonl").read_text().splitlines()]
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return out, proc.stdout, rows, {r["step"]: r for r in metrics if "reward" in r}


def test_the_completions_table_has_every_completion_once_with_its_image(two_rank_run):
    out, _, rows, _ = two_rank_run
    assert len(rows) == 4 and sorted(r["rank"] for r in rows) == [0, 0, 1, 1]
    assert len({r["short_prompt"] for r in rows}) == 1  # one group, split 2/2
    assert [r["group"] for r in rows] == [0, 0, 0, 0]
    images = [Path(r["image"]) for r in rows if clean_output(r["completion"])]
    assert len(images) >= 2 and all(p.is_file() for p in images) and len(set(images)) == len(images)
    assert (out / "image_grids" / "step_000001.png").is_file()


def test_render_counters_are_summed_over_processes(two_rank_run):
    _, _, rows, logged = two_rank_run
    # Each process renders its distinct non-empty completions once; the total is their sum, not the mean.
    per_rank = {
        rank: {clean_output(r["completion"]) for r in rows if r["rank"] == rank and clean_output(r["completion"])}
        for rank in (0, 1)
    }
    assert logged[1]["renders/total"] == sum(len(v) for v in per_rank.values())


def test_rewards_equal_a_one_process_scoring_of_the_same_completions(two_rank_run):
    from expander.rewards import RewardSuite, load_rewards_config

    _, _, rows, _ = two_rank_run
    suite = RewardSuite(load_rewards_config(REPO / "configs" / "rewards" / "tiny.yaml"), num_generations=4)
    # The rewards of step 1 were computed at global_step 0: the same render seeds.
    reference = suite.score_rows([r["short_prompt"] for r in rows], [r["completion"] for r in rows], step=0)
    for row, ref in zip(rows, reference):
        assert row["reward/diversity"] is not None
        for name, value in ref["rewards"].items():
            if value is None:
                assert row[f"reward/{name}"] is None, name
            else:
                assert row[f"reward/{name}"] == pytest.approx(value, abs=1e-5), name


def test_the_tracker_updates_on_every_process_and_the_summary_prints_once(two_rank_run):
    out, stdout, rows, _ = two_rank_run
    tracker = json.loads((out / "checkpoint-1" / "zero_std_prompts.json").read_text())
    assert set(tracker["streak"]) == {rows[0]["short_prompt"]}
    assert stdout.count("trained to step 1") == 1
