"""Eval recipe: one flat YAML per experiment (`configs/eval/*.yaml`), keys matching `EvalConfig`'s fields.

    cfg = load_eval_config("configs/eval/tiny_cpu.yaml", ["--num_prompts", "8"])

Arms are a YAML list of mappings (see `ArmConfig`); on the command line a list is given as YAML,
e.g. `--arms '[{name: raw}, {name: smol, model: smollm2-135m, creativity: low}]'`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from expander.config import load_config
from expander.errors import ConfigError
from expander.prompts import CREATIVITY_LEVELS
from expander.rewards.config import DetectorConfig, RewardServerConfig, VqaConfig

__all__ = ["WIN_METRICS", "ArmConfig", "ConfigError", "EvalConfig", "load_eval_config"]


@dataclass
class ArmConfig:
    """One arm of the comparison: the raw prompt, or an expander (model ref + adapter + creativity).

    Attributes:
        name: column name in tables and the report (unique; letters, digits, `-`, `_`, `.`).
        creativity: `raw` (the short prompt is rendered as typed) or `low`/`medium`/`high`.
        model: expander model ref (built-in name, local HF dir or hub id); required unless `raw`.
        adapter: LoRA adapter directory (PEFT format), or None for the bare model.
        backend: generation backend, `transformers` or `vllm`; or `api`: a running `expander serve` at `url`
            expands (`model` is then a served model name from its `/v1/models`, or None for its default).
        url: the server's base URL, for `backend: api` (its key, if any, from `$EXPANDER_API_KEY`).
        max_words: word budget of each expansion (None: the creativity level's).
        batch_size: prompts per transformers `generate` call.
    """

    name: str
    creativity: str = "raw"
    model: str | None = None
    adapter: str | None = None
    backend: str = "transformers"
    max_words: int | None = None
    batch_size: int = 32
    url: str | None = None

    def __post_init__(self) -> None:
        if not self.name or not all(c.isalnum() or c in "-_." for c in self.name):
            raise ConfigError(f"arm name {self.name!r} must be non-empty and use only letters, digits, '-', '_', '.'")
        if self.creativity not in CREATIVITY_LEVELS:
            raise ConfigError(
                f"arm {self.name!r}: unknown creativity {self.creativity!r}; "
                f"choose one of {', '.join(CREATIVITY_LEVELS)}"
            )
        if self.backend == "api":
            if not self.url:
                raise ConfigError(f"arm {self.name!r}: backend 'api' needs a `url` (an expander server)")
            if self.adapter is not None:
                raise ConfigError(f"arm {self.name!r}: backend 'api' takes a served `model` name, not an `adapter`")
            if self.batch_size > 64:
                raise ConfigError(
                    f"arm {self.name!r}: backend 'api' sends batch_size prompts per request; the server takes 64"
                )
        elif self.creativity != "raw" and not self.model:
            raise ConfigError(f"arm {self.name!r}: creativity {self.creativity!r} needs a `model`")
        if self.backend not in ("transformers", "vllm", "api"):
            raise ConfigError(
                f"arm {self.name!r}: backend must be 'transformers', 'vllm' or 'api', got {self.backend!r}"
            )
        if self.max_words is not None and self.max_words < 1:
            raise ConfigError(f"arm {self.name!r}: max_words must be >= 1, got {self.max_words}")
        if self.adapter is not None and not (Path(self.adapter) / "adapter_config.json").is_file():
            raise ConfigError(
                f"arm {self.name!r}: adapter {self.adapter!r} is not a PEFT adapter directory (no adapter_config.json)"
            )

    @property
    def is_raw(self) -> bool:
        return self.creativity == "raw"


def _default_arms() -> list[ArmConfig]:
    return [ArmConfig(name="raw"), ArmConfig(name="smollm2", creativity="medium", model="smollm2-135m")]


@dataclass
class EvalConfig:
    """An evaluation: prompts x arms x seeds -> renders -> scores -> statistics -> report.

    Prompt set (`expander.eval.suites`; each prompt keeps its benchmark's id):
        suite: `parti` (PartiPrompts), `geneval` (GenEval's 553 metadata records; category = tag),
            `dpg` (DPG-Bench's 1,065 prompts) or `file` (your `prompt_file`). GenEval and DPG runs also write
            each arm's images in the benchmark's own layout under `<output_dir>/official/` (DPG: a 2x2 grid of
            seeds 0-3, so it needs `seeds_per_prompt >= 4` and square images).
        prompt_file: the suite's data file (None: the shipped one; required for `file`): `.tsv`
            (PartiPrompts), `.csv` or `.jsonl` with a `prompt` column (and optional `category`, `challenge`)
            for `parti`/`file`, a file of the upstream format for `geneval`/`dpg`; relative paths resolve from
            the cwd, then the repository root.
        num_prompts: sample size (None: all); stratify_by: `category` (GenEval: its tag), `challenge` or `none`.
        categories, challenges: keep only these labels (None: all); sample_seed: the sampling seed.
    Arms and seeds:
        arms: the arms (the first is the baseline every other arm is compared with; usually `raw`).
        seeds_per_prompt: k images per (prompt, arm), the same k seeds for every arm.
        seed: base of every derived seed (expansion seed i = seed + i; render seeds hash (seed, prompt, i)).
    Renderer (`diffusion.Krea2Renderer`):
        renderer: Krea 2 diffusers directory, hub id, or `tiny:krea2`; preset: `turbo` or `raw`;
        height, width (pixels, multiples of 16); num_inference_steps, guidance_scale (None: preset's);
        render_batch_size: images per renderer call; dtype, device (None: the renderer's defaults);
        offload: CPU offload.
    Rendering and scoring through the reward service:
        reward_server: `url` set: the service renders (the seeds above) and scores (the scorer refs below)
            and sends the PNGs back; eval loads no model. The service's renderer, size, steps, dtype and
            scorer refs must equal this config's (checked at start: a mismatch is an error naming the keys).
            The rewards config's section (`expander.rewards.config.RewardServerConfig`): eval reads its client
            keys (`url`, `timeout_s`, `retries`, `backoff_s`, `concurrency`).
    Scorers (refs as in `expander.rewards.config`; `tiny:*` refs build tiny random models offline):
        clip_model, clip_pretrained: open_clip model for CLIP similarity to the short prompt and for
            the aesthetic head's embeddings; aesthetic_head: LAION-format head; dino_model: DINOv3 for
            diversity and distance to the baseline; image_safety: run the CLIP concept image-safety layer
            (`expander.rewards.safety`; text flags from `expander.safety` always apply);
            image_safety_threshold: its cosine threshold (None: the reward suite's default);
            score_batch_size: images per scorer call.
    Benchmark scorers (`expander.rewards.prompt_scorers`; each image judged against the ORIGINAL prompt, whatever
    the arm rendered; they run in this process, also when the reward service renders):
        detector: GenEval's detector scorer (`DetectorConfig`: a Mask2Former COCO checkpoint, CLIP for colours,
            upstream's thresholds), suite `geneval` only; adds `geneval_correct` (1/0), `geneval_reason` and
            `geneval_clauses` (JSON, one per clause) and the GenEval score (mean over tags) to the summary and the
            report. None: off.
        vqa: VQA faithfulness (`VqaConfig`: a VLM, VQAScore's question, DPG's parent rule), any suite; adds
            `vqa_score` and `vqa_questions` (JSON, one per question) and, for `dpg`, the DPG-Bench-style score
            (mean over prompts of the mean over images, x 100). None: off.
        dpg_questions: DPG-Bench's question file (`dpg_bench.csv` from TencentQQGYLab/ELLA, or one of its columns)
            for `vqa` on suite `dpg`; a prompt without questions there (and every prompt when None) is asked the
            graph built from its text (`expander.rewards.prompt_questions`).
    Statistics and outputs:
        win_metrics: columns compared pairwise (higher is better; `added_subject`: lower is better);
            bootstrap_samples, ci_level, stats_seed: resamples, confidence level and seed of the bootstrap
            intervals (over prompts) of the win rates.
        output_dir: the run directory; cache_dir: expansion/render cache (None: `<output_dir>/cache`).
        report_max_prompts: prompts shown in the report's image grid; report_thumb_px: longest side of
            grid images (JPEG, inlined), so reports of 1024x1024 runs stay small.
    """

    suite: str = "parti"
    prompt_file: str | None = None
    num_prompts: int | None = 20
    stratify_by: str = "category"
    categories: list[str] | None = None
    challenges: list[str] | None = None
    sample_seed: int = 0

    arms: list[ArmConfig] = field(default_factory=_default_arms)
    seeds_per_prompt: int = 2
    seed: int = 0

    renderer: str = "tiny:krea2"
    preset: str = "turbo"
    height: int = 64
    width: int = 64
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    render_batch_size: int = 8
    dtype: str | None = None
    device: str | None = None
    offload: bool = False
    reward_server: RewardServerConfig = field(default_factory=RewardServerConfig)

    clip_model: str = "tiny:clip"
    clip_pretrained: str | None = None
    aesthetic_head: str = "tiny:aesthetic-head"
    dino_model: str = "tiny:dinov3"
    image_safety: bool = True
    image_safety_threshold: float | None = None
    score_batch_size: int = 16
    detector: DetectorConfig | None = None
    vqa: VqaConfig | None = None
    dpg_questions: str | None = None

    win_metrics: list[str] = field(
        default_factory=lambda: ["aesthetic", "clip_score", "constraint_score", "added_subject"]
    )
    bootstrap_samples: int = 1000
    ci_level: float = 0.95
    stats_seed: int = 0

    output_dir: str = "runs/eval/tiny_cpu"
    cache_dir: str | None = None
    report_max_prompts: int = 24
    report_thumb_px: int = 256

    def __post_init__(self) -> None:
        from expander.eval.suites import SUITES

        if self.suite not in SUITES:
            raise ConfigError(f"unknown suite {self.suite!r}; choose one of {', '.join(SUITES)}")
        if self.suite == "file" and not self.prompt_file:
            raise ConfigError("suite 'file' needs a `prompt_file` (.tsv, .csv or .jsonl)")
        if self.suite == "dpg" and (self.seeds_per_prompt < 4 or self.height != self.width):
            raise ConfigError(
                "suite 'dpg' writes the official 2x2 grid of 4 square images per prompt: it needs seeds_per_prompt "
                f">= 4 and height == width, got {self.seeds_per_prompt} seeds at {self.height}x{self.width}"
            )
        if self.detector is not None and self.suite != "geneval":
            raise ConfigError(f"detector scores GenEval records: it needs suite 'geneval', got {self.suite!r}")
        if self.dpg_questions and (self.suite != "dpg" or self.vqa is None):
            raise ConfigError("dpg_questions feeds the vqa scorer on suite 'dpg': set suite: dpg and a vqa section")
        if not self.arms:
            raise ConfigError("arms must list at least one arm")
        names = [a.name for a in self.arms]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"arm names must be unique; repeated: {', '.join(dupes)}")
        if self.seeds_per_prompt < 1:
            raise ConfigError(f"seeds_per_prompt must be >= 1, got {self.seeds_per_prompt}")
        if self.height <= 0 or self.width <= 0 or self.height % 16 or self.width % 16:
            raise ConfigError(f"height and width must be positive multiples of 16, got {self.height}x{self.width}")
        if self.score_batch_size < 1:
            raise ConfigError(f"score_batch_size must be >= 1, got {self.score_batch_size}")
        if self.render_batch_size < 1:
            raise ConfigError(f"render_batch_size must be >= 1, got {self.render_batch_size}")
        if not 0 < self.ci_level < 1:
            raise ConfigError(f"ci_level must be in (0, 1), got {self.ci_level}")
        if self.bootstrap_samples < 100:
            raise ConfigError(f"bootstrap_samples must be >= 100 for a usable interval, got {self.bootstrap_samples}")
        if self.report_max_prompts < 1 or self.report_thumb_px < 16:
            raise ConfigError("report_max_prompts must be >= 1 and report_thumb_px >= 16")
        unknown = sorted(set(self.win_metrics) - set(WIN_METRICS))
        if unknown:
            raise ConfigError(f"unknown win_metrics {unknown}; choose from {', '.join(WIN_METRICS)}")

    @property
    def baseline(self) -> str:
        return self.arms[0].name

    def resolved_cache_dir(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else Path(self.output_dir) / "cache"


# Higher-is-better per-image scores that can be compared pairwise between arms.
WIN_METRICS = (
    "aesthetic",
    "clip_score",
    "constraint_score",
    "added_subject",
    "added_negation",
    "dino_seed_diversity",
    "geneval_correct",
    "vqa_score",
)


def load_eval_config(path: str | Path | None = None, overrides: list[str] | None = None) -> EvalConfig:
    """Load an `EvalConfig` from YAML plus `--key value` overrides; `ConfigError` names a bad key or value."""
    return load_config(EvalConfig, path, overrides)
