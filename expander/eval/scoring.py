"""Scores of every eval row, through the reward suite's pure scorers (the same code the RL rewards run).

Per row (prompt x arm x seed):

| column                  | what                                                                      | from                               |
|-------------------------|---------------------------------------------------------------------------|------------------------------------|
| `aesthetic`             | LAION-format aesthetic head on CLIP image embeddings                      | `rewards.aesthetics.AestheticScorer` |
| `clip_score`            | cosine(CLIP image, CLIP text of the SHORT prompt): faithfulness            | `rewards.faithfulness.ClipSimilarity` |
| `constraint_score`, `constraint_ok`, `constraint_violations` | what the short prompt pins down, checked in the expansion | `expander.constraints.check` |
| `added_subject`, `added_subjects` | 1.0 when the expansion adds a person/animal/creature the short prompt neither names nor implies (its mean per arm is the added-subject share: lower is better), and the words | `ConstraintReport.added` |
| `text_blocked`, `text_flags` | the text safety policy on the rendered text                          | `expander.safety.classify_text`    |
| `image_flagged`, `image_flags` | CLIP concept image-safety layer                                     | `rewards.safety.ImageSafety`       |
| `dino_seed_diversity`   | mean pairwise cosine distance of DINOv3 embeddings across the k seeds of (prompt, arm) | `rewards.diversity.Dinov3Embedder` |
| `dino_dist_to_baseline` | cosine distance to the baseline arm's image of the same (prompt, seed)    | same                               |
| `expansion_words`       | words in the rendered text                                                 | here                               |
| `image_scored`          | the image scores above exist (False: no render, or the reward service could not score it) | here          |

A scorer that could not score leaves NaN (never a silent 0). A scorer that cannot be *built* fails the run at
once, naming the scorer: `MissingExtraError` when its optional dependencies (a pyproject extra) are not
installed, `ScorerUnavailable` when its weights cannot be loaded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from expander.errors import ExpanderError, MissingExtraError

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

__all__ = ["EvalScorers", "ScorerUnavailable", "build_scorers", "pil_to_tensor", "score_rows"]


class ScorerUnavailable(ExpanderError, RuntimeError):
    """A scorer the eval needs cannot be imported or loaded; the message names it and why."""


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


def pil_to_tensor(images) -> torch.Tensor:
    """List of PIL images (same size) -> float `Tensor[N, 3, H, W]` in [0, 1]."""
    import torch

    arrays = [np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0 for im in images]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


@dataclass
class EvalScorers:
    """The scorers of one eval run, loaded once.

    Attributes:
        clip: the shared `ClipModel` (one image forward per batch feeds the three CLIP scorers).
        aesthetic: `AestheticScorer` (`.score_embeddings(clip_emb) -> Tensor[N]`).
        clip_similarity: `ClipSimilarity` (`.score_embeddings(clip_emb, texts) -> Tensor[N]`).
        dino: `Dinov3Embedder` (`.embed(images) -> Tensor[N, D]`).
        image_safety: `ImageSafety` (`.flags_from_embeddings(clip_emb)` -> flagged categories per image), or None.
        check_constraints: `expander.constraints.check`.
        classify_text: `expander.safety.classify_text`.
        refs: model refs, for the report header.
    """

    clip: object
    aesthetic: object
    clip_similarity: object
    dino: object
    image_safety: object | None
    check_constraints: object
    classify_text: object
    refs: dict = field(default_factory=dict)

    def describe(self) -> dict:
        return dict(self.refs)

    def text_safety(self, text: str) -> dict:
        """`{"blocked": bool, "categories": [...]}` of the text safety policy."""
        verdict = self.classify_text(text)
        return {"blocked": bool(verdict.blocked), "categories": list(verdict.categories)}

    def constraints(self, short: str, expansion: str) -> dict:
        """`{"score": float in [0, 1], "ok": bool, "violations": "reason; reason; ...", "added": "word, word"}`
        (`added`: the subjects the expansion adds, empty when none)."""
        report = self.check_constraints(short, expansion)
        violations = "; ".join(str(v.reason) for v in report.violated)  # each reason names its constraint
        added = ", ".join(a.word for a in report.added)
        return {"score": float(report.score), "ok": bool(report.ok), "violations": violations, "added": added}

    def score_images(self, images, short_prompts: list[str]) -> dict:
        """Image scores of one batch.

        Args:
            images: float `Tensor[N, 3, H, W]` in [0, 1].
            short_prompts: the N short prompts (CLIP faithfulness is measured against these).

        Returns:
            `{"aesthetic": ndarray[N], "clip_score": ndarray[N], "embedding": ndarray[N, D] (L2-normalised),
            "image_flags": list of N lists of categories}`.
        """
        import torch

        with torch.inference_mode():
            # One CLIP image forward shared by aesthetics, faithfulness and image safety.
            clip_emb = self.clip.encode_images(images)
            aesthetic = self.aesthetic.score_embeddings(clip_emb).float().cpu().numpy().reshape(-1)
            clip_score = (
                self.clip_similarity.score_embeddings(clip_emb, list(short_prompts)).float().cpu().numpy().reshape(-1)
            )
            emb = torch.nn.functional.normalize(self.dino.embed(images).float().cpu(), dim=-1).numpy()
            flags = [[] for _ in range(len(images))]
            if self.image_safety is not None:
                flags = [sorted(f) for f in self.image_safety.flags_from_embeddings(clip_emb)]
        return {"aesthetic": aesthetic, "clip_score": clip_score, "embedding": emb, "image_flags": flags}


def build_scorers(cfg) -> EvalScorers:
    """Load every scorer named by an `EvalConfig` (CLIP shared by aesthetics, faithfulness and image safety).

    Raises:
        MissingExtraError: a scorer's optional dependencies are not installed (the scorer and extra named).
        ScorerUnavailable: a scorer's model cannot be loaded (named in the message).
    """
    from expander.safety import classify_text

    [check] = _require("constraint", "expander.constraints", ["check"], "constraints")
    [ClipConfig, SafetyConfig] = _require("CLIP", "expander.rewards.config", ["ClipConfig", "SafetyConfig"], "rewards")
    [ClipModel] = _require("CLIP", "expander.rewards.clip_model", ["ClipModel"], "rewards")
    [AestheticScorer, load_aesthetic_head] = _require(
        "aesthetic", "expander.rewards.aesthetics", ["AestheticScorer", "load_aesthetic_head"], "rewards"
    )
    [ClipSimilarity] = _require("CLIP faithfulness", "expander.rewards.faithfulness", ["ClipSimilarity"], "rewards")
    [Dinov3Embedder] = _require("DINOv3 diversity", "expander.rewards.diversity", ["Dinov3Embedder"], "rewards")
    try:
        clip = ClipModel.from_config(ClipConfig(model=cfg.clip_model, pretrained=cfg.clip_pretrained), cfg.device)
        aesthetic = AestheticScorer(clip, load_aesthetic_head(cfg.aesthetic_head))
        clip_similarity = ClipSimilarity(clip)
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
    refs = {
        "clip_model": cfg.clip_model,
        "clip_pretrained": cfg.clip_pretrained,
        "aesthetic_head": cfg.aesthetic_head,
        "dino_model": cfg.dino_model,
        "image_safety": bool(cfg.image_safety),
        "image_safety_threshold": cfg.image_safety_threshold,
        "text_safety": "expander.safety.classify_text",
        "constraints": "expander.constraints.check",
    }
    return EvalScorers(clip, aesthetic, clip_similarity, dino, image_safety, check, classify_text, refs)


def score_rows(
    results,
    cache,
    scorers: EvalScorers,
    *,
    baseline: str,
    batch_size: int = 16,
    progress: bool = True,
    scored: dict[str, dict] | None = None,
):
    """Add the score columns (see the module table) to `results` (one row per prompt x arm x seed).

    Args:
        results: DataFrame with `prompt_id`, `prompt`, `arm`, `seed_index`, `expansion`, `render_key`
            (None for texts that were not rendered).
        cache: the `EvalCache` holding the renders.
        scorers: the loaded scorers.
        baseline: the arm `dino_dist_to_baseline` measures against.
        batch_size: images scored per call (bounds memory at 1024x1024).
        scored: `{render_key: one image's score_images values}` already computed (the reward service scores
            what it renders); those rows are not scored again.

    Returns:
        A copy of `results` with the score columns.
    """
    from tqdm.auto import tqdm

    out = results.copy().reset_index(drop=True)
    n = len(out)
    aesthetic = np.full(n, np.nan)
    clip_score = np.full(n, np.nan)
    flagged = np.zeros(n, dtype=bool)
    flags = [""] * n
    image_scored = np.zeros(n, dtype=bool)
    embeddings: dict[int, np.ndarray] = {}

    def put(i: int, aesthetic_i, clip_i, embedding_i, flags_i) -> None:
        if embedding_i is None or flags_i is None:  # not scored (the reward service gave up): NaN, never 0
            return
        aesthetic[i], clip_score[i], embeddings[i] = aesthetic_i, clip_i, embedding_i
        flagged[i], flags[i], image_scored[i] = bool(flags_i), ", ".join(flags_i), True

    scored = scored or {}
    scorable = []
    for i, key in enumerate(out["render_key"]):
        if isinstance(key, str) and key in scored:
            s = scored[key]
            put(i, s["aesthetic"], s["clip_score"], np.asarray(s["embedding"], dtype=np.float32), s["image_flags"])
        elif isinstance(key, str):
            scorable.append(i)
    bar = tqdm(total=len(scorable), desc="score", unit="image", disable=not progress)
    for start in range(0, len(scorable), batch_size):
        idx = scorable[start : start + batch_size]
        images, present = [], []
        for i in idx:
            image = cache.get_render(out.at[i, "render_key"])
            if image is None:
                logger.warning(
                    "render %s of row %d is missing from the cache; its scores stay NaN", out.at[i, "render_key"], i
                )
                continue
            images.append(image)
            present.append(i)
        if images:
            scores = scorers.score_images(pil_to_tensor(images), [out.at[i, "prompt"] for i in present])
            for j, i in enumerate(present):
                put(
                    i, scores["aesthetic"][j], scores["clip_score"][j], scores["embedding"][j], scores["image_flags"][j]
                )
        bar.update(len(idx))
    bar.close()
    out["aesthetic"] = aesthetic
    out["clip_score"] = clip_score
    out["image_flagged"] = flagged
    out["image_flags"] = flags
    out["image_scored"] = image_scored

    constraint = [scorers.constraints(p, e) for p, e in zip(out["prompt"], out["expansion"])]
    out["constraint_score"] = [c["score"] for c in constraint]
    out["constraint_ok"] = [float(c["ok"]) for c in constraint]
    out["constraint_violations"] = [c["violations"] for c in constraint]
    out["added_subject"] = [float(bool(c["added"])) for c in constraint]
    out["added_subjects"] = [c["added"] for c in constraint]

    out["dino_seed_diversity"] = seed_diversity(out, embeddings)
    out["dino_dist_to_baseline"] = distance_to_baseline(out, embeddings, baseline)
    return out


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
