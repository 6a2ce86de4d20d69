"""Stage 4, score: a list of scorers, each adding its columns to the results table (one row per image).

    scorers = build_scorers(cfg)     # [RenderScorer, ConstraintScorer] (+ GenEval's detector, VQA when configured)
    results = score_rows(rows, scorers, ScoreInputs(cache, prompts, baseline=...))

A scorer has one interface (`Scorer`): a `name`, `describe()` (its refs, for the summary) and
`score(rows, inputs) -> {column: one value per row}`. The benchmark scorers are `PromptScorer`s: the rewards'
`PromptImageScorer` (images + prompt record -> scores and a per-item breakdown; GenEval's detector, VQA over a
question graph) run on each prompt's images against the ORIGINAL prompt's record from `inputs.prompts`.

The columns of the default scorers (`build_scorers`):

- `RenderScorer` (`expander.rewards.image_scorer.ImageScorer`, on every rendered image):
  `aesthetic` (LAION-format aesthetic head on CLIP image embeddings); `clip_score` (cosine of the CLIP image and
  the CLIP text of the SHORT prompt: faithfulness); `image_flagged`, `image_flags` (the CLIP concept image-safety
  layer); `image_scored` (the image scores exist; False: no render, or the reward service could not score it);
  `dino_seed_diversity` (mean pairwise cosine distance of the DINOv3 embeddings across the k seeds of a
  (prompt, arm)); `dino_dist_to_baseline` (cosine distance to the baseline arm's image of the same (prompt, seed)).
- `ConstraintScorer` (`expander.constraints.check`, on the rendered text): `constraint_score`, `constraint_ok`,
  `constraint_violations` (what the short prompt pins down, checked in the expansion); `added_subject`,
  `added_subjects` (1.0 when the expansion adds a person, animal or creature the short prompt neither names nor
  implies, lower is better; and the words); `added_negation`, `added_negations` (1.0 when the expansion states an
  exclusion the short prompt never asked for, "There are no boats in the frame.":
  `expander.constraints.added_negations`; lower is better; and the phrases).
- `PromptScorer` over `expander.rewards.geneval_scorer.GenEvalScorer` (`detector` set, suite `geneval`):
  `geneval_correct` (1.0 / 0.0: upstream's rules), `geneval_reason` (upstream's text), `geneval_clauses` (JSON).
- `PromptScorer` over `expander.rewards.vqa.VqaScorer` (`vqa` set): `vqa_score` (the question graph's mean after
  DPG's parent rule), `vqa_questions` (JSON: each question, its P(answer), score and validity).

The image scores come from one CLIP and one DINOv3 forward per batch, the code the reward service runs for eval.
A scorer that could not score leaves NaN (never a silent 0). A scorer that cannot be *built* fails the run at
once, naming the scorer: `MissingExtraError` when its optional dependencies (a pyproject extra) are not
installed, `ScorerUnavailable` when its weights cannot be loaded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from expander.errors import ExpanderError, MissingExtraError
from expander.eval.prompt_sets import EvalPrompt

logger = logging.getLogger(__name__)

__all__ = [
    "ConstraintScorer",
    "PromptScorer",
    "RenderScorer",
    "ScoreInputs",
    "Scorer",
    "ScorerUnavailable",
    "build_benchmark_scorers",
    "build_image_scorer",
    "build_scorers",
    "describe_scorers",
    "distance_to_baseline",
    "score_rows",
    "scorer_refs",
    "seed_diversity",
]


class ScorerUnavailable(ExpanderError, RuntimeError):
    """A scorer the eval needs cannot be imported or loaded; the message names it and why."""


@dataclass
class ScoreInputs:
    """What a scorer may read besides the rows.

    Attributes:
        images: the renders by key (`EvalCache`: `.get_render(key) -> PIL image or None`).
        prompts: `{prompt_id: EvalPrompt}` (a suite's per-prompt `metadata` is there).
        baseline: the arm that comparisons with a baseline measure against.
        batch_size: images per scorer call (bounds memory at 1024x1024).
        progress: show progress bars.
        prescored: `{render_key: per-image scores}` already computed (the reward service scores what it renders),
            in `ImageScorer.score_images`' per-image form; an image scorer does not score those again.
    """

    images: Any
    prompts: Mapping[str, EvalPrompt] = field(default_factory=dict)
    baseline: str = ""
    batch_size: int = 16
    progress: bool = True
    prescored: Mapping[str, dict] = field(default_factory=dict)


class Scorer(Protocol):
    """One family of eval scores."""

    name: str

    def describe(self) -> dict[str, Any]:
        """Refs and settings that decide the scores (merged into `summary.json`'s `scorers`)."""
        ...

    def score(self, rows, inputs: ScoreInputs) -> dict[str, Sequence]:
        """`{column: values}`, one value per row of `rows` (a DataFrame with a 0..n-1 index), NaN where it could
        not score."""
        ...


def score_rows(rows, scorers: Sequence[Scorer], inputs: ScoreInputs):
    """A copy of `rows` (one per prompt x arm x seed, with `prompt_id`, `prompt`, `arm`, `seed_index`,
    `expansion`, `render_key`) with every scorer's columns added, in scorer order."""
    out = rows.copy().reset_index(drop=True)
    for scorer in scorers:
        columns = scorer.score(out, inputs)
        for name, values in columns.items():
            if len(values) != len(out):  # a scorer that breaks its contract: a bug, not a user error
                raise RuntimeError(f"scorer {scorer.name!r} gave {len(values)} values of {name!r} for {len(out)} rows")
        for name, values in columns.items():
            out[name] = values
    return out


def describe_scorers(scorers: Sequence[Scorer]) -> dict[str, Any]:
    """Every scorer's `describe()`, merged in order."""
    out: dict[str, Any] = {}
    for scorer in scorers:
        out.update(scorer.describe())
    return out


# ------------------------------------------------------------------------------------------ image scores


class RenderScorer:
    """Aesthetic, CLIP similarity, image safety and DINOv3 embeddings of every rendered image; the embeddings give
    `dino_seed_diversity` and `dino_dist_to_baseline`.

    Args:
        core: anything with `score_images(Tensor[N, 3, H, W] in [0, 1], short_prompts) -> dict` as
            `expander.rewards.image_scorer.ImageScorer` (the reward service's stand-in in `expander.eval.remote`);
            its `describe()`, if any, joins this scorer's.
        refs: the model refs, for the summary.
    """

    name = "image"

    def __init__(self, core: Any, refs: dict[str, Any] | None = None):
        self.core, self.refs = core, dict(refs or {})

    def describe(self) -> dict[str, Any]:
        extra = self.core.describe() if hasattr(self.core, "describe") else {}
        return {**self.refs, **extra}

    def score(self, rows, inputs: ScoreInputs) -> dict[str, Sequence]:
        from tqdm.auto import tqdm

        from expander.rewards.image_scorer import pil_to_tensor

        n = len(rows)
        aesthetic, clip_score = np.full(n, np.nan), np.full(n, np.nan)
        flagged, flags, scored = np.zeros(n, dtype=bool), [""] * n, np.zeros(n, dtype=bool)
        embeddings: dict[int, np.ndarray] = {}

        def put(i: int, aesthetic_i, clip_i, embedding_i, flags_i) -> None:
            if embedding_i is None or flags_i is None:  # not scored (the reward service gave up): NaN, never 0
                return
            aesthetic[i], clip_score[i], embeddings[i] = aesthetic_i, clip_i, np.asarray(embedding_i, np.float32)
            flagged[i], flags[i], scored[i] = bool(flags_i), ", ".join(flags_i), True

        todo = []
        for i, key in enumerate(rows["render_key"]):
            if isinstance(key, str) and key in inputs.prescored:
                s = inputs.prescored[key]
                put(i, s["aesthetic"], s["clip_score"], s["embedding"], s["image_flags"])
            elif isinstance(key, str):
                todo.append(i)
        bar = tqdm(total=len(todo), desc="score", unit="image", disable=not inputs.progress)
        for start in range(0, len(todo), inputs.batch_size):
            batch = todo[start : start + inputs.batch_size]
            images, present = [], []
            for i in batch:
                image = inputs.images.get_render(rows.at[i, "render_key"])
                if image is None:
                    logger.warning("render %s of row %d is missing; its scores stay NaN", rows.at[i, "render_key"], i)
                    continue
                images.append(image)
                present.append(i)
            if images:
                s = self.core.score_images(pil_to_tensor(images), [rows.at[i, "prompt"] for i in present])
                for j, i in enumerate(present):
                    put(i, s["aesthetic"][j], s["clip_score"][j], s["embedding"][j], s["image_flags"][j])
            bar.update(len(batch))
        bar.close()
        return {
            "aesthetic": aesthetic,
            "clip_score": clip_score,
            "image_flagged": flagged,
            "image_flags": flags,
            "image_scored": scored,
            "dino_seed_diversity": seed_diversity(rows, embeddings),
            "dino_dist_to_baseline": distance_to_baseline(rows, embeddings, inputs.baseline),
        }


def seed_diversity(results, embeddings: dict[int, np.ndarray]) -> np.ndarray:
    """Per row: mean pairwise cosine distance (1 - cos) between the images of its (prompt, arm) across seeds.

    Every row of a (prompt, arm) group gets the group's value; NaN when fewer than two images exist.
    """
    out = np.full(len(results), np.nan)
    for _, group in results.groupby(["prompt_id", "arm"], sort=False):
        rows = [i for i in group.index if i in embeddings]
        if len(rows) < 2:
            continue
        e = np.stack([embeddings[i] for i in rows])
        sims = e @ e.T
        upper = sims[np.triu_indices(len(rows), k=1)]
        out[group.index] = float(np.mean(1.0 - upper))
    return out


def distance_to_baseline(results, embeddings: dict[int, np.ndarray], baseline: str) -> np.ndarray:
    """Per row: cosine distance between its image and the baseline arm's image of the same (prompt, seed).

    NaN for the baseline's own rows and where either image is missing.
    """
    out = np.full(len(results), np.nan)
    base = {
        (r.prompt_id, r.seed_index): i
        for i, r in zip(results.index, results.itertuples())
        if r.arm == baseline and i in embeddings
    }
    for i, r in zip(results.index, results.itertuples()):
        j = base.get((r.prompt_id, r.seed_index))
        if r.arm == baseline or j is None or i not in embeddings:
            continue
        out[i] = float(1.0 - embeddings[i] @ embeddings[j])
    return out


# ------------------------------------------------------------------------------------------ text scores


class ConstraintScorer:
    """What the short prompt pins down (quoted text, counts, colours, ...), checked in the rendered text, and the
    subjects the text adds.

    Args:
        check: `expander.constraints.check(short, expansion) -> ConstraintReport`.
    """

    name = "constraints"

    def __init__(self, check):
        self.check = check

    def describe(self) -> dict[str, Any]:
        return {"constraints": "expander.constraints.check"}

    def score(self, rows, inputs: ScoreInputs) -> dict[str, Sequence]:
        from expander.constraints.added_negations import added_negations

        reports = [self.check(p, e) for p, e in zip(rows["prompt"], rows["expansion"])]
        added = [", ".join(a.word for a in r.added) for r in reports]
        negated = ["; ".join(a.text for a in added_negations(p, e)) for p, e in zip(rows["prompt"], rows["expansion"])]
        return {
            "constraint_score": [float(r.score) for r in reports],
            "constraint_ok": [float(bool(r.ok)) for r in reports],
            # each reason names its constraint
            "constraint_violations": ["; ".join(str(v.reason) for v in r.violated) for r in reports],
            "added_subject": [float(bool(a)) for a in added],
            "added_subjects": added,
            "added_negation": [float(bool(n)) for n in negated],
            "added_negations": negated,
        }


# ------------------------------------------------------------------------------------------ benchmark scores


class PromptScorer:
    """A `PromptImageScorer` (images + prompt record -> `ImageScore`s) as eval columns.

    Each prompt's rendered images (every arm and seed, `inputs.batch_size` per call) are scored against the record of
    the ORIGINAL prompt (`inputs.prompts[prompt_id]`: its text and benchmark metadata, plus DPG's questions when
    given), so the raw and the expanded arms answer the same questions.

    Args:
        core: the scorer (`expander.rewards.prompt_scorers.PromptImageScorer`).
        columns: `{"score": name, "items": name}` and optionally `"reason"`: the columns it fills.
        questions: DPG-Bench question graphs by prompt id (`read_dpg_questions`), for the VQA scorer.
    """

    def __init__(self, core: Any, columns: dict[str, str], questions: Mapping[str, Any] | None = None):
        self.core, self.columns, self.questions = core, dict(columns), dict(questions or {})
        self.name = core.name

    def describe(self) -> dict[str, Any]:
        extra = {"dpg_questions_items": len(self.questions)} if self.questions else {}
        return {**self.core.describe(), **extra}

    def score(self, rows, inputs: ScoreInputs) -> dict[str, Sequence]:
        from tqdm.auto import tqdm

        from expander.rewards.prompt_scorers import PromptRecord, score_by_prompt

        n = len(rows)
        values = np.full(n, np.nan)
        texts = {key: [None] * n for key in ("items", "reason") if key in self.columns}
        groups = rows.groupby("prompt_id", sort=False).groups
        for prompt_id, index in tqdm(groups.items(), desc=self.name, unit="prompt", disable=not inputs.progress):
            source = inputs.prompts.get(prompt_id)
            record = PromptRecord(
                prompt=source.text if source is not None else rows.at[index[0], "prompt"],
                prompt_id=str(prompt_id),
                metadata=dict(source.metadata) if source is not None else {},
                questions=self.questions.get(str(prompt_id)),
            )
            scores, failed = [], 0
            for start in range(0, len(index), inputs.batch_size):  # bounds memory: 1024-pixel images, many arms
                keys = [rows.at[i, "render_key"] for i in index[start : start + inputs.batch_size]]
                images = [inputs.images.get_render(k) if isinstance(k, str) else None for k in keys]
                got, bad = score_by_prompt(self.core, images, [record] * len(images))
                scores, failed = scores + got, failed + bad
            if failed:
                logger.warning("%s: %d image(s) of prompt %s not scored (NaN)", self.name, failed, prompt_id)
            for i, s in zip(index, scores):
                if s is None:
                    continue
                values[i] = s.score
                if "items" in texts:
                    texts["items"][i] = s.items_json()
                if "reason" in texts:
                    texts["reason"][i] = s.reason
        out: dict[str, Sequence] = {self.columns["score"]: values}
        for key, column_values in texts.items():
            out[self.columns[key]] = column_values
        return out


def build_benchmark_scorers(cfg) -> list[Scorer]:
    """The benchmark scorers an `EvalConfig` asks for: GenEval's detector (`detector`), VQA (`vqa`).

    Raises:
        ScorerUnavailable: a model cannot be loaded (the scorer and the ref are named).
        BenchmarkDataError: `dpg_questions` cannot be read (the file, row and column are named).
    """
    scorers: list[Scorer] = []
    if cfg.detector is None and cfg.vqa is None:
        return scorers
    [RewardModelError] = _require("benchmark", "expander.rewards.errors", ["RewardModelError"], "rewards")
    if cfg.detector is not None:
        [GenEvalScorer] = _require("GenEval", "expander.rewards.geneval_scorer", ["GenEvalScorer"], "rewards")
        try:
            core = GenEvalScorer.from_config(cfg.detector, cfg.device)
        except RewardModelError as exc:
            raise ScorerUnavailable(f"the eval's GenEval scorer: {exc}") from None
        columns = {"score": "geneval_correct", "items": "geneval_clauses", "reason": "geneval_reason"}
        scorers.append(PromptScorer(core, columns))
    if cfg.vqa is not None:
        [VqaScorer] = _require("VQA", "expander.rewards.vqa", ["VqaScorer"], "rewards")
        questions = {}
        if cfg.dpg_questions:
            from expander.rewards.question_graph import read_dpg_questions

            questions = read_dpg_questions(cfg.dpg_questions)
        try:
            core = VqaScorer.from_config(cfg.vqa, cfg.device)
        except RewardModelError as exc:
            raise ScorerUnavailable(f"the eval's VQA scorer: {exc}") from None
        scorers.append(PromptScorer(core, {"score": "vqa_score", "items": "vqa_questions"}, questions))
    return scorers


# ------------------------------------------------------------------------------------------ building


def _require(what: str, module: str, names: list[str], extra: str):
    """Import `names` from `module`, or raise `MissingExtraError` naming the scorer and the extra to install."""
    import importlib

    try:
        mod = importlib.import_module(module)
        return [getattr(mod, n) for n in names]
    except ImportError as exc:
        raise MissingExtraError(f"the eval's {what} scorer", extra, exc) from exc
    except AttributeError as exc:
        raise ScorerUnavailable(f"the eval's {what} scorer needs {module}.{'/'.join(names)}: {exc}") from exc


def scorer_refs(cfg) -> dict[str, Any]:
    """The model refs of an `EvalConfig`'s image scorers, as the summary reports them."""
    return {
        "clip_model": cfg.clip_model,
        "clip_pretrained": cfg.clip_pretrained,
        "aesthetic_head": cfg.aesthetic_head,
        "dino_model": cfg.dino_model,
        "image_safety": bool(cfg.image_safety),
        "image_safety_threshold": cfg.image_safety_threshold,
    }


def build_image_scorer(cfg):
    """An `ImageScorer` on the models an `EvalConfig` names (one CLIP for aesthetics, faithfulness and safety).

    Raises:
        MissingExtraError: a scorer's optional dependencies are not installed (the scorer and extra named).
        ScorerUnavailable: a scorer's model cannot be loaded (named in the message).
    """
    [ImageScorer] = _require("image", "expander.rewards.image_scorer", ["ImageScorer"], "rewards")
    [ClipConfig, SafetyConfig] = _require("CLIP", "expander.rewards.config", ["ClipConfig", "SafetyConfig"], "rewards")
    [ClipModel] = _require("CLIP", "expander.rewards.clip_model", ["ClipModel"], "rewards")
    [AestheticScorer, load_aesthetic_head] = _require(
        "aesthetic", "expander.rewards.aesthetics", ["AestheticScorer", "load_aesthetic_head"], "rewards"
    )
    [ClipSimilarity] = _require("CLIP faithfulness", "expander.rewards.faithfulness", ["ClipSimilarity"], "rewards")
    [Dinov3Embedder] = _require("DINOv3 diversity", "expander.rewards.diversity", ["Dinov3Embedder"], "rewards")
    try:
        clip_cfg = ClipConfig(model=cfg.clip_model, pretrained=cfg.clip_pretrained)
        clip = ClipModel.from_config(clip_cfg, cfg.device)
        aesthetic = AestheticScorer(clip, load_aesthetic_head(cfg.aesthetic_head))
        dino = Dinov3Embedder.from_pretrained(cfg.dino_model, device=cfg.device)
        image_safety = None
        if cfg.image_safety:
            [ImageSafety] = _require("image safety", "expander.rewards.safety", ["ImageSafety"], "rewards")
            safety_cfg = SafetyConfig(clip=ClipConfig(model=cfg.clip_model, pretrained=cfg.clip_pretrained))
            if cfg.image_safety_threshold is not None:
                safety_cfg.threshold = cfg.image_safety_threshold
            image_safety = ImageSafety(clip, safety_cfg)
    except (ScorerUnavailable, MissingExtraError):
        raise
    except Exception as exc:  # noqa: BLE001 - any load failure is reported with the refs that caused it
        raise ScorerUnavailable(f"cannot load the eval scorers ({type(exc).__name__}: {exc})") from exc
    return ImageScorer(clip, aesthetic, ClipSimilarity(clip), dino, image_safety)


def build_scorers(cfg, image_scorer=None) -> list[Scorer]:
    """The scorers of an `EvalConfig`: image scores, constraint checks, then the benchmark scorers it configures.

    Args:
        cfg: the eval config (scorer refs, device).
        image_scorer: the image scorer core to use (the reward service's stand-in); None: load the models the
            config names (`build_image_scorer`).

    Raises:
        MissingExtraError, ScorerUnavailable: as `build_image_scorer`; the constraints extra is missing.
        BenchmarkDataError: as `build_benchmark_scorers`.
    """
    [check] = _require("constraint", "expander.constraints", ["check"], "constraints")
    benchmark = build_benchmark_scorers(cfg)  # first: a missing detector or VLM fails before CLIP and DINOv3 load
    core = image_scorer if image_scorer is not None else build_image_scorer(cfg)
    return [RenderScorer(core, scorer_refs(cfg)), ConstraintScorer(check), *benchmark]
