"""benchmarks/fullsize_dryrun.py: every part at tiny size on CPU (so the GPU script cannot rot between GPU runs),
and the full-size plan built on the meta device."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    import fullsize_dryrun

    out = tmp_path_factory.mktemp("dryrun")
    results = fullsize_dryrun.main(["--size", "tiny", "--out", str(out)])
    return out, results


def test_tiny_dry_run_writes_one_json_per_part_named_by_device(tiny_run):
    out, results = tiny_run
    assert set(results) == {"grpo", "eval", "serve", "render"}
    assert sorted(p.name for p in out.glob("*.json")) == [
        "eval_cpu.json",
        "grpo_cpu.json",
        "render_cpu.json",
        "serve_cpu.json",
    ]
    for part, r in results.items():
        assert json.loads((out / f"{part}_cpu.json").read_text()) == json.loads(json.dumps(r))
        assert r["part_wall_s"] > 0 and r["slug"] == "cpu" and r["cuda"] is False


def test_tiny_grpo_reports_phase_times_peak_memory_and_components(tiny_run):
    r = tiny_run[1]["grpo"]
    assert r["steps"] == 1
    for phase in ("generation", "rendering", "scoring", "backward", "step"):
        assert r["timing_s"][phase][0] > 0, phase
    assert r["memory_kind"].startswith("cpu_peak_rss")
    for phase in ("generation", "rendering", "scoring", "backward"):
        assert r["peak_memory_gib"][phase] > 0, phase
    assert r["renders_per_step"] == [4.0]  # 2 prompts x G=2, each rendered once
    c = r["components"]
    assert c["policy_params_gib"] > 0 and c["optimizer_state_bytes"] > 0 and c["policy_trainable_params"] > 0
    assert all(v > 0 for v in c["krea2_gib"].values())
    assert c["reward_models_bytes"]["clip"] > 0 and c["reward_models_bytes"]["dinov3"] > 0


def test_tiny_eval_reports_images_per_second_and_time_shares(tiny_run):
    r = tiny_run[1]["eval"]
    assert r["rendered"] == 2 * 2 * 2  # prompts x arms x seeds
    assert r["expanded"] == 2 * 2  # prompts x seeds of the one model arm (the raw arm expands nothing)
    seconds, share, wall = r["seconds"], r["share"], r["wall_s"]
    assert set(seconds) == set(share) == {"expansion", "rendering", "scoring"}
    # Each stage's timer ran (a stage called from somewhere the benchmark does not patch would stay at 0) ...
    assert all(seconds[k] > 0 for k in seconds)
    # ... and no time is counted twice: the stages fit in the wall time, each share is its stage's part of it,
    # and with the rest they make the whole.
    assert sum(seconds.values()) <= wall + 0.01
    for k in seconds:
        assert share[k] == pytest.approx(seconds[k] / wall, abs=2e-3), k
    assert sum(share.values()) + r["other_share"] == pytest.approx(1, abs=3e-3)
    # Images per second of rendering are the rendered images over the rendering time, not over the whole run.
    assert r["images_per_s_rendering"] == pytest.approx(r["rendered"] / seconds["rendering"], rel=0.02)
    assert r["images_per_s_end_to_end"] == pytest.approx(r["rendered"] / wall, rel=0.02)
    assert r["images_per_s_rendering"] > r["images_per_s_end_to_end"]
    assert r["peak_memory_gib"]["rendering"] > 0


def test_tiny_serve_reports_throughput_latency_and_api_engine_ratio(tiny_run):
    r = tiny_run[1]["serve"]
    assert r["errors"] == 0
    assert r["tok_per_s"] > 0 and 0 < r["p50_s"] <= r["p95_s"]
    assert r["api_over_engine"] > 0


def test_tiny_render_flop_count_matches_the_hand_count(tiny_run):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from tests.benchmarks.tiny_krea2 import tiny_krea2_attention_flops, tiny_krea2_transformer

    r = tiny_run[1]["render"]
    assert r["bf16_dense_peak_tflops"] is None  # CPU: FLOP/s only, no share of a peak
    assert [row["size"] for row in r["rows"]] == [32, 64]
    assert all(row["achieved_flop_per_s"] > 0 and row["share_of_bf16_peak"] is None for row in r["rows"])
    f = r["flops_per_render"]["64"]
    assert f["forwards"] == 2  # 2 turbo steps, no CFG
    tok = f["tokens_per_forward"]
    assert tok["image"] == (64 // 16) ** 2  # VAE /8 then 2x2 patches
    b, t, n = tok["batch"], tok["text"], tok["text"] + tok["image"]
    attention = tiny_krea2_attention_flops(b, t, tok["image"])
    # Linear layers: the same transformer at the same token counts under torch's own FLOP counter (aten mm/addmm).
    transformer = tiny_krea2_transformer()
    with torch.no_grad(), FlopCounterMode(display=False) as linear:
        transformer(
            hidden_states=torch.randn(b, tok["image"], 16),
            encoder_hidden_states=torch.randn(b, t, 4, 32),
            timestep=torch.full((b,), 0.5),
            position_ids=torch.zeros(n, 3, dtype=torch.long),
        )
    assert f["attention"] == 2 * attention
    assert f["linear"] == 2 * linear.get_total_flops()
    assert f["total"] == f["attention"] + f["linear"]


def test_dry_plan_builds_the_full_size_models_on_meta(tmp_path, capsys):
    import fullsize_dryrun

    plan = fullsize_dryrun.main(["--dry-plan", "--out", str(tmp_path)])["plan"]["components"]
    assert 12.7e9 < plan["krea2_transformer"]["params"] < 13.0e9  # Krea 2: ~12.9B (diffusers' defaults)
    assert 3.5e9 < plan["krea2_text_encoder"]["params"] < 4.2e9  # Qwen3-VL-4B-sized language model
    assert 1.6e9 < plan["policy_qwen3-1.7b"]["params"] < 1.8e9  # Qwen3-1.7B (tied embeddings)
    assert 4.2e8 < plan["clip_vit_l14"]["params"] < 4.4e8  # open_clip ViT-L-14
    assert 8.0e7 < plan["dinov3_vitb16"]["params"] < 9.0e7  # DINOv3 ViT-B/16
    assert plan["krea2_transformer"]["bf16_gib"] == round(2 * plan["krea2_transformer"]["params"] / 2**30, 3)
    assert json.loads((tmp_path / "plan_meta.json").read_text())["components"] == plan
    assert "krea2_transformer" in capsys.readouterr().out
