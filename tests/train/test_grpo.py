"""GRPO on rendered images: prompt data, grid, zero-variance dropping, CLI errors, and the tiny recipe
end to end (2 steps, then a resume to step 3) with the real reward suite on tiny random models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from expander.prompts import build_messages, clean_output

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "grpo" / "tiny_cpu.yaml"


def _script_args(**kw):
    from expander.train.grpo import GRPOScriptArguments

    return GRPOScriptArguments(**kw)


# ------------------------------------------------------------------------------------------ prompt data


def test_prompts_from_synth_dataset_and_files_are_merged_and_deduplicated(tmp_path):
    import datasets

    from expander.train.grpo import SHORT_COLUMN, load_prompt_dataset

    synth = tmp_path / "synth"
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"short": ["a red fox in snow", "two cats"], "long": ["x", "y"]}),
            "test": datasets.Dataset.from_dict({"short": ["held out"], "long": ["z"]}),
        }
    ).save_to_disk(str(synth))
    txt = tmp_path / "p.txt"
    txt.write_text("# comment\ntwo cats\n\n  a blue vase  \n")
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text(json.dumps({"short": "a lighthouse, watercolor"}) + "\n")

    ds = load_prompt_dataset(
        _script_args(dataset_name=str(synth), prompt_files=[str(txt), str(jsonl)], creativity="low")
    )
    assert ds[SHORT_COLUMN] == ["a red fox in snow", "two cats", "a blue vase", "a lighthouse, watercolor"]
    assert ds[0]["prompt"] == build_messages("a red fox in snow", "low")  # the one contract, not a copy

    parquet_dir = tmp_path / "pq"
    parquet_dir.mkdir()
    datasets.Dataset.from_dict({"short": ["one", "two", "three"]}).to_parquet(str(parquet_dir / "train.parquet"))
    ds = load_prompt_dataset(_script_args(dataset_name=str(parquet_dir), max_prompts=2))
    assert ds[SHORT_COLUMN] == ["one", "two"]


@pytest.mark.parametrize(
    "files, kwargs, message",
    [
        ([], {}, "no prompts: set dataset_name"),
        (["missing.txt"], {}, "does not exist"),
        (["bad.jsonl"], {}, "bad.jsonl:2: not valid JSON"),
        (["nocol.jsonl"], {}, "expected an object with a string 'short' field"),
        (["empty.jsonl"], {}, "prompt #1: prompt is empty"),
        (["ok.txt"], {"creativity": "raw"}, "creativity must be one of"),
        (["p.csv"], {}, "unsupported suffix"),
    ],
)
def test_bad_prompt_sources_name_the_problem(tmp_path, files, kwargs, message):
    from expander.train.grpo import GRPOSetupError, load_prompt_dataset

    (tmp_path / "bad.jsonl").write_text('{"short": "ok"}\n{oops\n')
    (tmp_path / "nocol.jsonl").write_text('{"prompt": "ok"}\n')
    (tmp_path / "empty.jsonl").write_text('{"short": "   "}\n')
    (tmp_path / "ok.txt").write_text("a fox\n")
    (tmp_path / "p.csv").write_text("a fox\n")
    with pytest.raises(GRPOSetupError, match=message):
        load_prompt_dataset(_script_args(prompt_files=[str(tmp_path / f) for f in files], **kwargs))


def test_dataset_without_the_prompt_column_is_named(tmp_path):
    import datasets

    from expander.train.grpo import GRPOSetupError, load_prompt_dataset

    datasets.Dataset.from_dict({"caption": ["x"]}).to_parquet(str(tmp_path / "train.parquet"))
    with pytest.raises(GRPOSetupError, match="no column 'short'; columns: caption"):
        load_prompt_dataset(_script_args(dataset_name=str(tmp_path / "train.parquet")))


# ------------------------------------------------------------------------------------------ grid, dropping


def test_image_grid_places_each_member_in_its_row_and_column(tmp_path):
    from PIL import Image

    from expander.train.grpo import save_image_grid

    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255)]
    images = [torch.tensor(c, dtype=torch.float32).div(255).view(3, 1, 1).expand(3, 32, 32) for c in colours[:3]]
    images += [Image.new("RGB", (16, 16), c) for c in colours[3:]]
    path = tmp_path / "grid.png"
    grid = save_image_grid(path, ["a fox", "a vase"], [f"expansion {i} " * 8 for i in range(6)], images, 3, tile=64)
    assert path.is_file() and Image.open(path).size == grid.size
    tile, pad, header, caption = 64, 6, 20, 14 * 6 + 6
    for k, colour in enumerate(colours):
        r, c = divmod(k, 3)
        centre = (pad + c * (tile + pad) + tile // 2, r * (header + tile + caption) + header + tile // 2)
        assert grid.getpixel(centre) == colour
    with pytest.raises(ValueError, match="need 2 x 3 images"):
        save_image_grid(path, ["a", "b"], ["x"] * 6, images[:5], 3)


def test_prompts_without_reward_variance_are_dropped_after_k_epochs():
    from expander.train.grpo.trainer import ZeroVarianceTracker, _DroppingRepeatSampler

    tracker = ZeroVarianceTracker(patience=2)
    tracker.update(["a", "b", "c"], [True, True, False])
    tracker.update(["a", "b"], [True, False])  # b had variance: its streak resets
    assert tracker.dropped == {"a"} and tracker.streak == {"a": 2, "b": 0, "c": 0}
    restored = ZeroVarianceTracker(2)
    restored.load_state_dict(json.loads(json.dumps(tracker.state_dict())))
    assert restored.dropped == {"a"} and restored.streak == tracker.streak

    shorts = ["a", "b", "c", "d", "e"]
    sampler = _DroppingRepeatSampler(shorts, tracker, data_source=shorts, mini_repeat_count=2, batch_size=2, seed=0)
    order = list(sampler)
    assert 0 not in order and len(order) == len(sampler) == 8  # 4 kept prompts x 2 generations
    assert all(order[i] == order[i + 1] for i in range(0, len(order), 2))  # groups stay together
    tracker.dropped |= {"b", "c", "d", "e"}  # everything dropped: one generation batch is still sampled
    assert len(list(sampler)) == len(sampler) == 4


# ------------------------------------------------------------------------------------------ CLI


def _cli(argv):
    from expander.cli import main

    return main(argv)


def test_cli_reports_bad_configs_without_a_traceback(tmp_path, capsys):
    assert _cli(["grpo", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.read_text() + "\nnot_a_key: 1\n")
    assert _cli(["grpo", "--config", str(bad)]) == 2
    assert "not_a_key" in capsys.readouterr().err
    out = tmp_path / "out"
    assert (
        _cli(["grpo", "--config", str(TINY), "--output_dir", str(out), "--reward_weight_overrides", '{"sharpness": 1}'])
        == 2
    )
    assert "'sharpness' is not a reward" in capsys.readouterr().err
    assert _cli(["grpo", "--config", str(TINY), "--output_dir", str(out), "--reward_weights", "1", "2"]) == 2
    assert "reward_weight_overrides" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ end to end


def _steps_logged(rows):
    return [r["step"] for r in rows if "reward" in r]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_chat_lm_dir):
    """The tiny recipe run through the CLI to step 1 (checkpoint every step), then re-run in process to step 2:
    the re-run resumes from checkpoint-1, so steps 1 and 2 come from two processes' worth of set-up.

    The policy is the session's 2-layer random chat Llama (SmolLM2's tokenizer and template), not the 135M
    built-in: what is tested is the loop around it (renders, rewards, tables, checkpoints), and generating and
    back-propagating the 135M model was ~90 % of this fixture's time. The recipe's own policy (the shipped
    adapter) is loaded by `test_the_recipe_policy_is_the_shipped_adapter_on_the_builtin_model`."""
    from expander.train.grpo import main, make_parser

    out = tmp_path_factory.mktemp("grpo") / "run"
    common = [
        "--config",
        str(TINY),
        "--output_dir",
        str(out),
        "--model_name_or_path",
        str(tiny_chat_lm_dir),
        "--sft_adapter",
        "none",
        "--save_steps",
        "1",
        "--max_completion_length",
        "16",
        "--image_grid_steps",
        "2",
        "--report_to",
        "tensorboard",
        "--torch_threads",
        "2",  # the recipe's 1 leaves a core idle here; the run must hand the caller's count back
        # VQA faithfulness beside CLIP's (issue 25): its per-question breakdown must reach the completions table.
        "--rewards.rewards",
        "aesthetic,faithfulness,faithfulness_vqa,safety,diversity,format",
        "--rollout_no_repeat_ngram",  # the serving repeat guard on the rollouts (checked on the trainer below)
        "3",
    ]
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert _cli(["grpo", *common, "--max_steps", "1"]) == 0
        assert torch.get_num_threads() == 1, "grpo's main left its torch_threads on the caller"
    finally:
        torch.set_num_threads(before)
    first = {
        "metrics": [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()],
        "ckpt1": _adapter(out / "checkpoint-1"),
    }
    trainer = main(*make_parser().parse_args_and_config([*common, "--max_steps", "2"]))
    first["ckpt2"] = _adapter(out / "checkpoint-2")
    return out, first, trainer


def _adapter(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path / "adapter_model.safetensors"))


@pytest.mark.slow
def test_two_steps_move_the_adapter_and_render_each_completion_once(tiny_run):
    out, first, _ = tiny_run
    ckpt1, ckpt2 = first["ckpt1"], first["ckpt2"]
    lora_b = [k for k in ckpt2 if "lora_B" in k]
    assert lora_b, "the checkpoint holds no LoRA weights"
    # LoRA B starts at zero: any non-zero value is a trained update; step 2 moved it again.
    assert any(ckpt1[k].abs().max() > 0 for k in lora_b)
    assert any(not torch.equal(ckpt1[k], ckpt2[k]) for k in lora_b)

    rows_by_step = {}
    for step in (1, 2):
        rows = [json.loads(line) for line in (out / "completions" / f"step_{step:06d}.jsonl").read_text().splitlines()]
        assert len(rows) == 8 and all(Path(r["image"]).is_file() for r in rows if clean_output(r["completion"]))
        assert sum(bool(clean_output(r["completion"])) for r in rows) >= 4  # most were rendered
        assert {"reward/aesthetic", "reward/faithfulness", "reward/format", "reward/gate", "gate_reasons"} <= set(
            rows[0]
        )
        _check_vqa_columns(rows)
        rows_by_step[step] = rows
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    logged = {r["step"]: r for r in metrics if "reward" in r}
    assert sorted(logged) == [1, 2]
    # One render per distinct completion of the step (a duplicate inside a group is rendered once), and the
    # completions table and image grid read the cache instead of rendering again. `renders/total` counts the
    # process's renders: steps 1 and 2 ran in two set-ups (the re-run resumed), so each counts its own step.
    for step in (1, 2):
        distinct = len(
            {
                (r["short_prompt"], clean_output(r["completion"]))
                for r in rows_by_step[step]
                if clean_output(r["completion"])
            }
        )  # an empty expansion is not rendered
        assert logged[step]["renders/total"] == distinct
    assert {
        "rewards/aesthetic/mean",
        "rewards/gate/mean",
        "gates/gated_fraction",
        "frac_reward_zero_std",
        "frac_group_zero_std",
        "diversity/zero_spread_groups",
        "diversity/zero_spread_groups_task",
        "diversity/minilm_pairwise",
        "diversity/distinct_2",
    } <= set(logged[2])
    # The diversity log: the zero-spread share is the trainer's own; distinct-2 is the completions table's, per group.
    from expander.train.grpo.diversity_log import group_distinct_n

    assert logged[2]["diversity/zero_spread_groups"] == logged[2]["frac_group_zero_std"]
    texts = [clean_output(r["completion"]) for r in rows_by_step[2]]
    group_size = len(texts) // len({r["group"] for r in rows_by_step[2]})
    assert logged[2]["diversity/distinct_2"] == pytest.approx(group_distinct_n(texts, group_size))
    assert 0 <= logged[2]["diversity/minilm_pairwise"] <= 2
    assert (out / "image_grids" / "step_000001.png").is_file() and (out / "image_grids" / "step_000002.png").is_file()
    assert list((out / "runs").rglob("events.out.tfevents.*"))


def _check_vqa_columns(rows) -> None:
    """`faithfulness_vqa` is the mean of its per-question scores, asked of the SHORT prompt's graph."""
    from expander.rewards.prompt_questions import questions_from_prompt

    for row in rows:
        if not clean_output(row["completion"]):  # nothing rendered: no image, no VQA score
            assert row["reward/faithfulness_vqa"] is None and row["vqa_questions"] is None
            continue
        items = json.loads(row["vqa_questions"])
        assert [i["question"] for i in items] == [q.text for q in questions_from_prompt(row["short_prompt"]).questions]
        assert row["reward/faithfulness_vqa"] == pytest.approx(sum(i["score"] for i in items) / len(items), rel=1e-4)
        assert all(0 < i["p_answer"] < 1 and (i["valid"] or i["score"] == 0) for i in items)


def _repeated_runs(ids: list[int], n: int) -> int:
    runs = [tuple(ids[i : i + n]) for i in range(len(ids) - n + 1)]
    return len(runs) - len(set(runs))


@pytest.mark.slow
def test_rollouts_sample_with_the_serving_repeat_guard(tiny_run):
    """`rollout_no_repeat_ngram` 3 (the run trained on guarded rollouts): the trainer's own rollout call, near-greedy
    on the tiny random policy, repeats 3-token runs without the guard and never with it."""
    trainer = tiny_run[2]
    assert trainer.script_args.rollout_no_repeat_ngram == 3
    temperature = trainer.generation_config.temperature
    trainer.generation_config.temperature = trainer.generation_kwargs["temperature"] = 0.01  # a random model loops
    prompt_ids = [trainer.processing_class(text="a red fox in snow")["input_ids"]] * 4
    counts = {}
    try:
        for n in (0, 3):
            trainer.script_args.rollout_no_repeat_ngram = n
            completion_ids, _ = trainer._generate_single_turn(prompt_ids, None, {}, 2)
            assert all(len(ids) >= 8 for ids in completion_ids)
            counts[n] = sum(_repeated_runs(ids, 3) for ids in completion_ids)
    finally:
        trainer.script_args.rollout_no_repeat_ngram = 3
        trainer.generation_config.temperature = trainer.generation_kwargs["temperature"] = temperature
    assert counts[0] > 0, "the unguarded rollouts did not loop: this test would not see the guard fail"
    assert counts[3] == 0
    assert "generate" not in vars(trainer.accelerator.unwrap_model(trainer.model_wrapped))  # the wrapper is gone


@pytest.mark.slow
def test_rerun_resumes_from_the_last_checkpoint_without_repeating_steps(tiny_run):
    out, first, trainer = tiny_run
    assert _steps_logged(first["metrics"]) == [1]
    run = json.loads((out / "grpo_run.json").read_text())
    assert run["resumed_from"].endswith("checkpoint-1") and run["global_step"] == trainer.state.global_step == 2
    assert _steps_logged(trainer.state.log_history) == [1, 2]
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert _steps_logged(metrics) == [1, 2]
    assert (out / "completions" / "step_000002.jsonl").is_file()
    assert (out / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize("recipe", sorted((REPO / "configs" / "grpo").glob("*.yaml")), ids=lambda p: p.name)
def test_every_grpo_recipe_parses_into_the_three_dataclasses(recipe, tmp_path):
    from expander.train.grpo import make_parser

    # bf16 is refused by transformers on a CPU-only machine; everything else must be a known key.
    script, training, model = make_parser().parse_args_and_config(
        ["--config", str(recipe), "--output_dir", str(tmp_path), "--bf16", "false"]
    )
    assert (REPO / script.rewards_config).is_file()
    assert model.model_name_or_path and training.num_generations >= 2
    assert training.multi_objective_aggregation == "normalize_then_sum"


def test_rewards_overrides_take_a_yaml_mapping_and_rewards_flags(tmp_path):
    from expander.rewards import load_rewards_config
    from expander.train.grpo import GRPOSetupError, make_parser
    from expander.train.grpo.config import rewards_override_args

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(TINY.read_text() + "\nrewards_overrides: {render.height: 64, format.max_words: 30}\n")
    script, _, _ = make_parser().parse_args_and_config(
        [
            "--config",
            str(recipe),
            "--output_dir",
            str(tmp_path),
            "--rewards.render.height",
            "96",
            "--rewards.render.width=48",
        ]
    )
    # The command line wins key by key over the YAML's mapping; both go through expander.config's loader.
    assert script.rewards_overrides == {"render.height": "96", "format.max_words": 30, "render.width": "48"}
    cfg = load_rewards_config(REPO / script.rewards_config, rewards_override_args(script.rewards_overrides))
    assert (cfg.render.height, cfg.render.width, cfg.format.max_words) == (96, 48, 30)
    with pytest.raises(GRPOSetupError, match="--rewards.render.height 512"):
        rewards_override_args(["format.max_words=30"])
