"""The reward suite: `RewardSuite(config)` builds every reward as a TRL reward function, with its weight.

    cfg = load_rewards_config("configs/rewards/tiny.yaml")
    suite = RewardSuite(cfg, num_generations=G)   # suite.funcs, suite.weights, suite.cache (the renders)
    GRPOConfig(reward_weights=suite.weights, multi_objective_aggregation="normalize_then_sum")

`RewardSuite` is the entry point: GRPO (`expander.train.grpo`), `expander score` and eval build it, and it
also scores whole batches (`score_rows`). `get_reward_funcs(cfg)` is the thin TRL adapter over it for code
that only wants `(funcs, weights)`. Which names a config may list is `expander.rewards.registry`'s.

Every function has TRL's signature `fn(prompts, completions, **kwargs) -> list[float | None]`; its
`__name__` is the logged name (`aesthetic`, `faithfulness`, `faithfulness_vqa`, `safety`, `diversity`, `format`,
`added_subjects`, `text_diversity`, `gate`, or the name of a dotted-path function). They close over one `RewardSuite`,
which loads every model once and renders every completion once per step through the shared `RenderCache`.

Inputs are parsed by `expander.rewards.inputs` (short prompt, cleaned completion, step). `format` judges the
raw text and scores its length against `format.max_words`. `log_metric` and `log_extra` get render counts,
error counts, per-component gate columns and `faithfulness_vqa`'s per-question breakdown (`vqa_questions`, JSON)
when TRL passes them.

Errors: a scorer error on one sample gives `None` for that sample (counted in `errors/<name>` and
logged); transient errors are retried `max_retries` times; a wrong-length result raises.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import torch

from expander.devices import rank_device, standalone_loading
from expander.errors import MissingExtraError
from expander.rewards.config import RewardsConfig
from expander.rewards.errors import RewardModelError, check_length, map_isolated
from expander.rewards.gates import gate_weight, group_advantages
from expander.rewards.inputs import RewardRows
from expander.rewards.registry import BUILTIN_REWARDS, RewardFunc, load_reward_function, needs_images
from expander.rewards.render_cache import RenderCache
from expander.rewards.renderer import load_renderer

logger = logging.getLogger(__name__)

__all__ = ["RewardSuite", "get_reward_funcs"]


class RewardSuite:
    """Every reward model loaded once, plus the render cache; builds the TRL reward functions.

    Args:
        cfg: the suite's config.
        renderer: an already loaded renderer (else `diffusion.Krea2Renderer.from_pretrained(cfg.render.model)`
            when an image reward is enabled).
        num_generations: GRPO group size (default `cfg.num_generations`); sets the gate weight.

    Raises:
        RewardModelError: a model named by the config cannot be loaded (the message names the ref).
    """

    # Under `accelerate launch` (ZeRO-3, FSDP2) every model of the suite still loads whole on this rank.
    @standalone_loading()
    def __init__(self, cfg: RewardsConfig, renderer: Any = None, num_generations: int | None = None):
        self.cfg = cfg
        # This process's own GPU in a multi-process run (`None`/"cuda" -> cuda:<local rank>).
        self.device = str(rank_device(cfg.device))
        # GRPO on several processes sets this to `accelerate.utils.gather_object`: rewards that look across a
        # group (diversity) then see the members other ranks drew. Every rank must call them in the same order.
        self.group_gather: Callable[[list], list] | None = None
        self.num_generations = num_generations or cfg.num_generations
        self.errors: Counter[str] = Counter()  # failed samples per model/check (renders: cache.failures)
        self.nones: Counter[str] = Counter()  # None results per reward (errors, and groups of one for diversity)
        self.score_seconds: Counter[str] = Counter()
        self._constraint_memo: OrderedDict[tuple[str, str], Any] = OrderedDict()
        names = list(cfg.rewards)
        self.gates_on = cfg.gates.safety or cfg.gates.constraints or cfg.gates.added_subjects
        needs_safety = "safety" in names or cfg.gates.safety
        needs_constraints = cfg.gates.constraints or (
            "faithfulness" in names and cfg.faithfulness.constraint_weight != 0
        )

        self._check = None
        if needs_constraints:
            try:
                from expander.constraints import check
            except ImportError as exc:
                raise MissingExtraError(
                    "the constraint gate and faithfulness's constraint score",
                    "constraints",
                    exc,
                    hint="or turn gates.constraints off and set faithfulness.constraint_weight: 0",
                ) from exc
            self._check = check

        self.cache: RenderCache | None = None
        if needs_images(cfg):
            if renderer is None:
                renderer = load_renderer(cfg)
            r = cfg.render
            self.cache = RenderCache(
                renderer,
                r.height,
                r.width,
                num_inference_steps=r.num_inference_steps,
                guidance_scale=r.guidance_scale,
                batch_size=r.batch_size,
                seed_base=r.seed_base,
                max_cached_steps=r.max_cached_steps,
                max_retries=cfg.max_retries,
            )
        self.renderer = renderer

        self._clips: dict[tuple[str, str | None], Any] = {}
        self.aesthetic = self.similarity = self.image_safety = self.dino = self.text_diversity = None
        if "aesthetic" in names:
            from expander.rewards.aesthetics import AestheticScorer, load_aesthetic_head

            self.aesthetic = AestheticScorer(self._clip(cfg.aesthetic.clip), load_aesthetic_head(cfg.aesthetic.head))
        if "faithfulness" in names and cfg.faithfulness.clip_weight != 0:
            from expander.rewards.faithfulness import ClipSimilarity

            self.similarity = ClipSimilarity(self._clip(cfg.faithfulness.clip))
        self.image_classifier = None
        if needs_safety and cfg.safety.image_layer:
            from expander.rewards.safety import ImageSafety

            self.image_safety = ImageSafety(self._clip(cfg.safety.clip), cfg.safety)
        if needs_safety and cfg.safety.image_classifier:
            from expander.rewards.safety import ImageClassifierSafety

            self.image_classifier = ImageClassifierSafety.from_config(cfg.safety, self.device)
        self.moderator = None
        if needs_safety and cfg.safety.text_classifier:
            from expander.safety import ModeratorUnavailable, TextModerator

            try:
                self.moderator = TextModerator(
                    cfg.safety.text_classifier,
                    cfg.safety.text_classifier_threshold,
                    cfg.safety.text_classifier_labels,
                    device=cfg.device and self.device,
                )
            except ModeratorUnavailable as exc:
                raise RewardModelError(str(exc)) from exc
        if "diversity" in names:
            from expander.rewards.diversity import Dinov3Embedder

            self.dino = Dinov3Embedder.from_config(cfg.diversity, self.device)
        if "text_diversity" in names:
            from expander.rewards.text_diversity import TextDiversityScorer

            self.text_diversity = TextDiversityScorer.from_config(cfg.text_diversity, self.device)
        self.vqa = None
        if "faithfulness_vqa" in names:
            from expander.rewards.vqa import VqaScorer

            self.vqa = VqaScorer.from_config(cfg.faithfulness.vqa, self.device)

        self.funcs: list[RewardFunc] = []
        self.weights: list[float] = []
        for name in names:
            fn = self._builtin(name) if name in BUILTIN_REWARDS else self._wrap_external(load_reward_function(name))
            self.funcs.append(fn)
            self.weights.append(cfg.weight(name))
        if self.gates_on:
            self.funcs.append(self._gate_func())
            self.weights.append(gate_weight(self.weights, self.num_generations, cfg.gates.margin))

    # -- models ---------------------------------------------------------------------------------------

    def _clip(self, clip_cfg):
        from expander.rewards.clip_model import ClipModel

        key = (clip_cfg.model, clip_cfg.pretrained)
        if key not in self._clips:
            self._clips[key] = ClipModel.from_config(clip_cfg, self.device)
        return self._clips[key]

    @property
    def names(self) -> list[str]:
        return [f.__name__ for f in self.funcs]

    def model_forwards(self) -> dict[str, int]:
        """Forward passes run so far per reward model (CLIP image towers, DINOv3)."""
        out = {f"clip:{m.name}": m.image_forwards for m in self._clips.values()}
        if self.image_classifier is not None:
            out["image_classifier"] = self.image_classifier.forwards
        if self.dino is not None:
            out["dinov3"] = self.dino.forwards
        if self.vqa is not None:
            out["vqa"] = self.vqa.model.forwards
        return out

    # -- shared per-row computations ------------------------------------------------------------------

    def _clip_embeddings(self, clip, rows: RewardRows, texts: list[str] | None = None) -> list[torch.Tensor | None]:
        texts = rows.texts if texts is None else texts
        feats, failed = self.cache.features(f"clip:{clip.name}", rows.shorts, texts, rows.step, clip.encode_images)
        self.errors[f"clip:{clip.name}"] += failed
        return feats

    def _constraint_reports(self, rows: RewardRows) -> list[Any | None]:
        out: list[Any | None] = []
        for short, text in zip(rows.shorts, rows.texts):
            key = (short, text)
            if key not in self._constraint_memo:
                [report], failed = map_isolated(
                    lambda items: [self._check(*items[0])], [key], self.cfg.max_retries, "constraints"
                )
                self.errors["constraints"] += failed
                self._constraint_memo[key] = report
                while len(self._constraint_memo) > 4096:
                    self._constraint_memo.popitem(last=False)
            out.append(self._constraint_memo[key])
        return out

    def _safety_checks(self, rows: RewardRows):
        from expander.rewards.safety import combine_safety

        image_layers_on = self.image_safety is not None or self.image_classifier is not None
        # Union of the image layers' flags; None where any layer could not check the image (fails closed).
        flags: list[list[str] | None] = [[] for _ in range(len(rows))]
        layers = []
        if self.image_safety is not None:
            layers.append(
                (self._clip_embeddings(self.image_safety.clip, rows), self.image_safety.flags_from_embeddings)
            )
        if self.image_classifier is not None:
            clf = self.image_classifier
            probs, failed = self.cache.features(
                f"imgcls:{clf.name}", rows.shorts, rows.texts, rows.step, clf.probabilities
            )
            self.errors[f"imgcls:{clf.name}"] += failed
            layers.append((probs, clf.flags_from_probabilities))
        for feats, to_flags in layers:
            ok = [i for i, e in enumerate(feats) if e is not None]
            got = to_flags(torch.stack([feats[i] for i in ok])) if ok else []
            got_at = dict(zip(ok, got))
            for i in range(len(rows)):
                if flags[i] is not None:
                    flags[i] = None if i not in got_at else sorted(set(flags[i]) | set(got_at[i]))
        added: list[list[str] | None] = [[] for _ in range(len(rows))]
        if self.moderator is not None:
            from expander.safety import ModeratorUnavailable

            try:
                prompt_flags = dict(
                    zip(dict.fromkeys(rows.shorts), self.moderator.flagged(list(dict.fromkeys(rows.shorts))))
                )
                text_flags = self.moderator.flagged(rows.texts)
                added = [[c for c in f if c not in prompt_flags[s]] for s, f in zip(rows.shorts, text_flags)]
            except ModeratorUnavailable as exc:
                logger.warning("text classifier failed, safety fails closed for %d rows: %s", len(rows), exc)
                self.errors["text_classifier"] += len(rows)
                added = [None] * len(rows)
        return [
            combine_safety(s, t, f, image_layers_on, a) for s, t, f, a in zip(rows.shorts, rows.texts, flags, added)
        ]

    # -- reward functions -----------------------------------------------------------------------------

    def _builtin(self, name: str) -> RewardFunc:
        compute = getattr(self, f"_compute_{name}")

        def reward(prompts, completions, **kwargs):
            rows = RewardRows(prompts, completions, kwargs)
            renders_before = self.cache.render_count if self.cache else 0
            start = time.perf_counter()
            values = compute(rows)
            check_length(values, len(rows), name)
            self.score_seconds[name] += time.perf_counter() - start
            nones = sum(v is None for v in values)
            self.nones[name] += nones
            if rows.log_metric is not None:
                rows.log_metric(f"rewards_none/{name}", float(nones))
                if self.cache is not None:
                    rows.log_metric(f"renders/{name}", float(self.cache.render_count - renders_before))
                    rows.log_metric("renders/total", float(self.cache.render_count))
            return values

        reward.__name__ = reward.__qualname__ = name
        return reward

    def _wrap_external(self, fn: RewardFunc) -> RewardFunc:
        name = getattr(fn, "__name__", "reward")

        def reward(prompts, completions, **kwargs):
            n = len(prompts)

            def run(idx: list[int]):
                sliced = {
                    k: ([v[i] for i in idx] if isinstance(v, list) and len(v) == n else v) for k, v in kwargs.items()
                }
                return fn([prompts[i] for i in idx], [completions[i] for i in idx], **sliced)

            values, failed = map_isolated(run, list(range(n)), self.cfg.max_retries, name)
            self.errors[name] += failed
            return values

        reward.__name__ = reward.__qualname__ = name
        return reward

    def _compute_aesthetic(self, rows: RewardRows) -> list[float | None]:
        emb = self._clip_embeddings(self.aesthetic.clip, rows)
        scores = self._score_embeddings(emb, self.aesthetic.score_embeddings)
        if not self.cfg.aesthetic.relative:
            return scores
        base = self._score_embeddings(
            self._clip_embeddings(self.aesthetic.clip, rows, rows.shorts), self.aesthetic.score_embeddings
        )
        return [None if a is None or b is None else a - b for a, b in zip(scores, base)]

    def _score_embeddings(self, emb: list[torch.Tensor | None], fn) -> list[float | None]:
        ok = [i for i, e in enumerate(emb) if e is not None]
        out: list[float | None] = [None] * len(emb)
        if ok:
            values = fn(torch.stack([emb[i] for i in ok]))
            check_length(values, len(ok), "scorer")
            for i, v in zip(ok, values.tolist()):
                out[i] = float(v)
        return out

    def _compute_faithfulness(self, rows: RewardRows) -> list[float | None]:
        from expander.rewards.faithfulness import combine_faithfulness

        f = self.cfg.faithfulness
        cos: list[float | None] = [None] * len(rows)
        if self.similarity is not None:
            emb = self._clip_embeddings(self.similarity.clip, rows)
            ok = [i for i, e in enumerate(emb) if e is not None]
            if ok:
                sims = self.similarity.score_embeddings(torch.stack([emb[i] for i in ok]), [rows.shorts[i] for i in ok])
                for i, v in zip(ok, sims.tolist()):
                    cos[i] = v
        reports = (
            self._constraint_reports(rows)
            if self._check is not None and f.constraint_weight != 0
            else [None] * len(rows)
        )
        return [
            combine_faithfulness(c, None if r is None else float(r.score), f.clip_weight, f.constraint_weight)
            for c, r in zip(cos, reports)
        ]

    def _compute_faithfulness_vqa(self, rows: RewardRows) -> list[float | None]:
        from expander.rewards.prompt_scorers import PromptRecord, score_by_prompt
        from expander.rewards.render_cache import to_pil

        images = [to_pil(im) for im in self.cache.images_for(rows.shorts, rows.texts, rows.step)]
        records = [PromptRecord(short) for short in rows.shorts]  # the SHORT prompt's questions, never the expansion's
        scores, failed = score_by_prompt(self.vqa, images, records, self.cfg.max_retries)
        self.errors[f"vqa:{self.vqa.model.name}"] += failed
        if rows.log_extra is not None:  # the per-question breakdown: a column of the completions table
            rows.log_extra("vqa_questions", [None if s is None else s.items_json() for s in scores])
        return [None if s is None else s.score for s in scores]

    def _compute_safety(self, rows: RewardRows) -> list[float | None]:
        checks = self._safety_checks(rows)
        if rows.log_extra is not None:
            rows.log_extra("safety_reasons", ["; ".join(c.reasons) for c in checks])
        return [1.0 if c.ok else 0.0 for c in checks]

    def _compute_diversity(self, rows: RewardRows) -> list[float | None]:
        from expander.rewards.diversity import gathered_group_diversity, group_diversity

        emb, failed = self.cache.features("dinov3", rows.shorts, rows.texts, rows.step, self.dino.embed)
        self.errors["dinov3"] += failed
        if self.group_gather is None:
            return group_diversity(emb, rows.shorts)
        return gathered_group_diversity(emb, rows.shorts, self.group_gather)

    def _compute_text_diversity(self, rows: RewardRows) -> list[float | None]:
        return self.text_diversity(rows.texts, rows.shorts, self.group_gather)

    def _compute_format(self, rows: RewardRows) -> list[float | None]:
        from expander.rewards.format import format_check

        f = self.cfg.format
        return [
            format_check(s, raw, f.min_words, f.max_words, f.max_repeated).score
            for s, raw in zip(rows.shorts, rows.raw)
        ]

    @staticmethod
    def _scored_and_logged(rows: RewardRows, name: str, score, describe) -> list[float | None]:
        """`score(short, text) -> (reward, found)` per row; `describe(found)` goes to the completions table."""
        scored = [score(s, t) for s, t in zip(rows.shorts, rows.texts)]
        if rows.log_extra is not None:
            rows.log_extra(name, [describe(found) for _, found in scored])
        return [reward for reward, _ in scored]

    def _compute_added_subjects(self, rows: RewardRows) -> list[float | None]:
        from expander.rewards.added_subjects import score_added_subjects

        return self._scored_and_logged(
            rows, "added_subjects", score_added_subjects, lambda added: ", ".join(a.word for a in added)
        )

    def _compute_added_negations(self, rows: RewardRows) -> list[float | None]:
        from expander.rewards.added_negations import score_added_negations

        return self._scored_and_logged(
            rows, "added_negations", score_added_negations, lambda added: "; ".join(a.text for a in added)
        )

    def gate_details(self, rows: RewardRows) -> list[dict[str, Any]]:
        """Per row: `{"pass": bool, "safety": bool|None, "constraints": bool|None, "added_subjects": bool|None,
        "reasons": [...]}` (`added_subjects`: True when the completion adds no subject; None when that gate is off).

        A gate that cannot be evaluated (constraint check error, unrenderable image with the image
        safety layer on) fails closed.
        """
        out = [
            {"pass": True, "safety": None, "constraints": None, "added_subjects": None, "reasons": []}
            for _ in range(len(rows))
        ]
        if self.cfg.gates.safety:
            for d, c in zip(out, self._safety_checks(rows)):
                d["safety"] = c.ok
                d["reasons"] += [f"safety: {r}" for r in c.reasons]
        if self.cfg.gates.constraints:
            for d, r in zip(out, self._constraint_reports(rows)):
                if r is None:
                    d["constraints"] = False
                    d["reasons"].append("constraints: check failed")
                else:
                    d["constraints"] = bool(r.ok)
                    if not r.ok:
                        d["reasons"] += [f"constraints: {v.reason}" for v in r.violated if v.constraint.hard]
        if self.cfg.gates.added_subjects:
            from expander.constraints.added_subjects import added_subjects

            for d, short, text in zip(out, rows.shorts, rows.texts):
                added = added_subjects(short, text)
                d["added_subjects"] = not added
                if added:
                    d["reasons"].append("added subjects: " + ", ".join(a.word for a in added))
        for d in out:
            d["pass"] = all(d[k] is not False for k in ("safety", "constraints", "added_subjects"))
        return out

    def _gate_func(self) -> RewardFunc:
        def gate(prompts, completions, **kwargs):
            rows = RewardRows(prompts, completions, kwargs)
            details = self.gate_details(rows)
            if rows.log_extra is not None:
                rows.log_extra("gate_safety", [d["safety"] for d in details])
                rows.log_extra("gate_constraints", [d["constraints"] for d in details])
                rows.log_extra("gate_added_subjects", [d["added_subjects"] for d in details])
                rows.log_extra("gate_reasons", ["; ".join(d["reasons"]) for d in details])
            if rows.log_metric is not None:
                rows.log_metric("gates/gated_fraction", sum(not d["pass"] for d in details) / max(len(details), 1))
            return [1.0 if d["pass"] else 0.0 for d in details]

        return gate

    # -- batch scoring for `expander score` and eval --------------------------------------------------

    def score_rows(self, prompts: Sequence[Any], completions: Sequence[Any], step: int = 0) -> list[dict[str, Any]]:
        """Every reward, the gates and the aggregated total of each row.

        Args:
            prompts: short prompts (strings or conversations); rows with the same short prompt form a group.
            completions: the expansions.
            step: the step whose seeds are used.

        Returns:
            One dict per row: `prompt`, `completion`, `seed`, `rewards` (name -> value or None), `gates`
            (`pass`, `safety`, `constraints`, `reasons`), `weighted_sum` (sum of weight x reward over the
            non-gate rewards that scored), and `total`: the GDPO (normalize_then_sum) advantage within the
            row's group including the gate, i.e. what GRPO optimises (0.0 in a group of one).
        """
        values = {f.__name__: f(prompts, completions, step=step) for f in self.funcs}
        rows = RewardRows(prompts, completions, {"step": step})
        gates = self.gate_details(rows) if self.gates_on else [{"pass": True} for _ in range(len(rows))]
        names = self.names
        matrix = [[values[n][i] for n in names] for i in range(len(rows))]
        totals = group_advantages(matrix, self.weights, rows.shorts)
        out = []
        for i in range(len(rows)):
            rewards = {n: values[n][i] for n in names if n != "gate"}
            weighted = sum(
                w * v for n, w in zip(names, self.weights) if n != "gate" and (v := values[n][i]) is not None
            )
            out.append(
                {
                    "prompt": rows.shorts[i],
                    "completion": rows.raw[i],
                    "seed": self.cache.seed_for(rows.shorts[i], step) if self.cache else None,
                    "rewards": rewards,
                    "gates": gates[i],
                    "weighted_sum": weighted,
                    "total": totals[i],
                }
            )
        return out


def get_reward_funcs(
    cfg: RewardsConfig, *, renderer: Any = None, num_generations: int | None = None
) -> tuple[list[RewardFunc], list[float]]:
    """TRL reward functions and weights for `cfg`: the thin adapter over `RewardSuite` (see the module docstring).

    Args:
        cfg: the reward config.
        renderer: reuse an already loaded renderer.
        num_generations: GRPO group size; overrides `cfg.num_generations` (it sets the gate weight).

    Returns:
        (functions, weights), aligned; pass the weights as `GRPOConfig.reward_weights` together with
        `multi_objective_aggregation="normalize_then_sum"` (the gate guarantee assumes it).
    """
    suite = RewardSuite(cfg, renderer=renderer, num_generations=num_generations)
    return list(suite.funcs), list(suite.weights)
