"""Eval's render backend and image scorer through the reward service (`reward_server.url` in the eval config).

    service = RemoteEvalService(cfg)        # GET /v1/info; EvalServiceError if it renders or scores otherwise
    service.settings                        # eval's render cache key settings, as the service renders
    scorers = build_scorers(cfg, service.image_scorer())   # text checks here, image scores on the service
    outcome = service.render(jobs, cache)   # POST /v1/score_images; PNGs into the eval cache, scores prescored

`RemoteEvalService` is the render backend `expander.eval.rendering.LocalRenderer` is in-process (`settings`,
`render`, `runtime_settings`). The service renders each `(text, seed)` with eval's own seeds (every arm's image
of (prompt, seed index) from the same noise) and scores it with `expander.rewards.image_scorer.ImageScorer` on
its loaded models, the code in-process eval runs: the numbers are the in-process eval's
(`tests/rewards/test_reward_server.py`). The PNG comes back into the eval cache, so the
report, a resumed run and an in-process re-run read the same images. Images already in the cache are sent
for scoring only.

Outages: each request is retried like GRPO's (`expander.rewards.remote.post_with_retries`); after the last
attempt its rows stay unscored (NaN, `image_scored` False, counted in `summary.json`), never 0.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import numpy as np

from expander.errors import ExpanderError
from expander.eval.config import EvalConfig
from expander.eval.rendering import RenderJobs, RenderOutcome

__all__ = ["EvalServiceError", "RemoteEvalService", "RemoteImageScorer", "mismatches", "per_image_arrays"]

logger = logging.getLogger(__name__)

# Eval key -> the service's rewards-config key, for the render settings (also eval's render cache key).
RENDER_KEYS = {
    "renderer": "render.model",
    "preset": "render.preset",
    "height": "render.height",
    "width": "render.width",
    "num_inference_steps": "render.num_inference_steps",
    "guidance_scale": "render.guidance_scale",
}
CACHE_KEYS = (*RENDER_KEYS, "fingerprint", "dtype")


class EvalServiceError(ExpanderError, ValueError):
    """The reward service is unreachable, or renders or scores with other settings than the eval config's."""


def _clip_ref(model: str, pretrained: str | None) -> list:
    # open_clip ignores `pretrained` for these refs (`expander.rewards.config.ClipConfig`).
    ignored = model.startswith(("tiny:", "local-dir:", "hf-hub:"))
    return [model, None if ignored else pretrained]


def mismatches(cfg: EvalConfig, service: dict[str, Any]) -> list[str]:
    """Every setting where the service (`/v1/info` `eval`) would render or score otherwise than `cfg` asks."""
    from expander.rewards.config import SafetyConfig

    out = [
        f"{key}: eval {getattr(cfg, key)!r}, service {RENDER_KEYS[key]} {service[key]!r}"
        for key in RENDER_KEYS
        if getattr(cfg, key) != service[key]
    ]
    if cfg.dtype is not None and cfg.dtype != service["dtype"]:
        out.append(f"dtype: eval {cfg.dtype!r}, service renders in {service['dtype']!r}")
    clip = _clip_ref(cfg.clip_model, cfg.clip_pretrained)
    roles = ["aesthetic", "faithfulness"] + (["image_safety"] if cfg.image_safety else [])
    out += [
        f"clip_model/clip_pretrained: eval {clip}, service {role}.clip {service['clip'][role]}"
        for role in roles
        if service["clip"][role] is None or _clip_ref(*service["clip"][role]) != clip
    ]
    for key, theirs in (("aesthetic_head", "aesthetic.head"), ("dino_model", "diversity.model")):
        if getattr(cfg, key) != service[key]:
            out.append(f"{key}: eval {getattr(cfg, key)!r}, service {theirs} {service[key]!r}")
    if cfg.image_safety:
        default = SafetyConfig()
        threshold = default.threshold if cfg.image_safety_threshold is None else cfg.image_safety_threshold
        if not service["image_safety"]:
            out.append("image_safety: eval true, the service's suite has no CLIP image-safety layer")
        elif threshold != (theirs := service["image_safety_threshold"]):
            out.append(f"image_safety_threshold: eval {threshold}, service safety.threshold {theirs}")
        if service["image_safety_thresholds"] or service["image_safety_concepts"] != default.concepts:
            out.append("image safety: the service sets safety.thresholds or safety.concepts, eval uses the defaults")
    out += [f"the service lacks {what}" for what in service["missing"]]
    return out


class RemoteEvalService:
    """The reward service as eval's renderer and image scorer.

    Args:
        cfg: the eval config; `reward_server.url` must be set.

    Raises:
        EvalServiceError: the service is unreachable, or its settings differ from `cfg`'s (every key named).
    """

    def __init__(self, cfg: EvalConfig):
        import httpx

        self.cfg, self.rs = cfg, cfg.reward_server
        if not self.rs.url:
            raise EvalServiceError("reward_server.url is not set")
        self.url = self.rs.url.rstrip("/")
        try:
            self.info = httpx.get(f"{self.url}/v1/info", timeout=self.rs.timeout_s).raise_for_status().json()
        except httpx.HTTPError as exc:
            raise EvalServiceError(f"reward service {self.url} is not reachable: {exc}") from None
        if "eval" not in self.info:
            raise EvalServiceError(f"reward service {self.url} has no eval route (/v1/score_images): upgrade it")
        wrong = mismatches(cfg, self.info["eval"])
        if wrong:
            raise EvalServiceError(
                f"reward service {self.url} renders or scores otherwise than this eval config asks "
                f"(start it with a rewards YAML that matches, or change the eval config): " + "; ".join(wrong)
            )
        self.settings = {key: self.info["eval"][key] for key in CACHE_KEYS}
        self.counts = {"requests": 0, "retries": 0, "failed_requests": 0, "unscored": 0}

    def describe(self) -> dict[str, Any]:
        return {"url": self.url, "config_digest": self.info["config_digest"][:12], **self.counts}

    def image_scorer(self) -> RemoteImageScorer:
        """The image scorer core for `expander.eval.scoring.build_scorers`: images eval holds, scored here."""
        return RemoteImageScorer(self)

    def runtime_settings(self, cache=None) -> dict | None:
        """The service renderer's own `settings()` (from `/v1/info`)."""
        return self.info.get("render_runtime")

    # -- requests ------------------------------------------------------------------------------------

    def render(self, jobs: RenderJobs, cache, *, progress: bool = True, shard=None) -> RenderOutcome:
        """Render and score every job not yet in `cache`, `render_batch_size` per request.

        Args:
            jobs: the render stage's jobs (`jobs.jobs`: `{render_key: (text, seed)}`; `jobs.shorts`: the short
                prompt of each, which CLIP faithfulness is measured against).
            cache: the `EvalCache`; each PNG that comes back is written to `cache.render_path(key)`.
            shard: must be None (a sharded eval does not use the service: `check_sharded_eval`).

        Returns:
            A `RenderOutcome`: images rendered now, and the scores of those images (`prescored`, in
            `ImageScorer.score_images`' per-image form).
        """
        from expander.files import atomic_write_bytes
        from expander.rewards.protocol import ImageJob

        if shard is not None:  # check_sharded_eval refuses this setup first; reaching here is a bug
            raise RuntimeError("the reward service renders for one eval process only")
        todo = [(key, text, seed) for key, (text, seed) in jobs.jobs.items() if not cache.has_render(key)]
        size = self.cfg.render_batch_size
        batches = [todo[i : i + size] for i in range(0, len(todo), size)]
        requests = [
            [ImageJob(prompt=jobs.shorts[key], text=text, seed=seed) for key, text, seed in batch] for batch in batches
        ]
        scores: dict[str, dict] = {}
        rendered = 0
        replies = self._post_all(requests, return_images=True, progress=progress, what="render")
        for batch, items in zip(batches, replies):
            for (key, _, _), item in zip(batch, items):
                if item.get("png"):
                    atomic_write_bytes(cache.render_path(key), base64.b64decode(item["png"]))
                    rendered += 1
                if item.get("embedding") is not None:
                    scores[key] = item
        return RenderOutcome(rendered, scores)

    def score_images(self, images, short_prompts: list[str]) -> dict[str, Any]:
        """`ImageScorer.score_images` of images eval already holds: sent as PNG (lossless: the same pixels).

        Returns:
            As `ImageScorer.score_images`, with NaN scores and None `embedding`/`image_flags` rows where the
            service could not score.
        """
        from PIL import Image

        from expander.rewards.protocol import ImageJob, encode_png

        jobs = []
        for image, prompt in zip(images, short_prompts):
            pixels = (image.permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
            jobs.append(ImageJob(prompt=prompt, png=encode_png(Image.fromarray(pixels))))
        [items] = self._post_all([jobs], return_images=False, progress=False, what="score")
        return per_image_arrays(items)

    def _post_all(self, requests: list[list], *, return_images: bool, progress: bool, what: str) -> list[list[dict]]:
        """Every request, `concurrency` in flight; per request its items (all-None items after the last retry)."""
        import httpx
        from tqdm.auto import tqdm

        from expander.rewards.protocol import ImageScoreRequest
        from expander.rewards.remote import post_with_retries

        digest = self.info["eval_settings_digest"]

        async def main() -> list[list[dict]]:
            gate = asyncio.Semaphore(self.rs.concurrency)
            bar = tqdm(total=sum(map(len, requests)), desc=f"{what} (service)", unit="image", disable=not progress)
            async with httpx.AsyncClient(timeout=self.rs.timeout_s) as client:

                async def one(jobs: list) -> list[dict]:
                    payload = ImageScoreRequest(
                        settings_digest=digest, jobs=jobs, return_images=return_images
                    ).model_dump()
                    async with gate:
                        reply, retries, error = await post_with_retries(
                            client, f"{self.url}/v1/score_images", payload, self.rs
                        )
                    bar.update(len(jobs))
                    self.counts["requests"] += 1
                    self.counts["retries"] += retries
                    if reply is None:
                        self.counts["failed_requests"] += 1
                        self.counts["unscored"] += len(jobs)
                        logger.warning(
                            "reward service %s: %d images unscored after %d attempts: %s",
                            self.url,
                            len(jobs),
                            self.rs.retries + 1,
                            error,
                        )
                        return [{} for _ in jobs]
                    self.counts["unscored"] += sum(item.get("aesthetic") is None for item in reply["items"])
                    if not self.cfg.image_safety:  # the service's suite may check images eval does not ask it to
                        for item in reply["items"]:
                            item["image_flags"] = [] if item.get("image_flags") is not None else None
                    return reply["items"]

                try:
                    return await asyncio.gather(*(one(jobs) for jobs in requests))
                finally:
                    bar.close()

        return asyncio.run(main()) if requests else []


def per_image_arrays(items: list[dict]) -> dict[str, Any]:
    """Service items -> `ImageScorer.score_images`' form (NaN / None where an image was not scored)."""
    return {
        "aesthetic": np.array([np.nan if i.get("aesthetic") is None else i["aesthetic"] for i in items]),
        "clip_score": np.array([np.nan if i.get("clip_score") is None else i["clip_score"] for i in items]),
        "embedding": [
            None if i.get("embedding") is None else np.asarray(i["embedding"], dtype=np.float32) for i in items
        ],
        "image_flags": [i.get("image_flags") for i in items],
    }


class RemoteImageScorer:
    """The image scorer core of `expander.eval.scoring.RenderScorer` when the reward service scores: the images
    (already in eval's cache) go to `service.score_images`."""

    def __init__(self, service: RemoteEvalService):
        self.service = service

    def describe(self) -> dict[str, Any]:
        return {"reward_server": self.service.describe()}

    def score_images(self, images, short_prompts: list[str]) -> dict[str, Any]:
        return self.service.score_images(images, short_prompts)
