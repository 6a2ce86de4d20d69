"""The reward suite as a Ray Serve application: `expander reward-server` deploys it, `remote.py` calls it.

    start_ray(cfg)                 # ray.init (local, or cfg.reward_server.address) + Serve's HTTP proxy
    handle = deploy(cfg)           # replicas of RewardDeployment; raises RewardServerError if one cannot load
    POST {url}/v1/score            # protocol.ScoreRequest -> protocol.ScoreResponse (GRPO)
    POST {url}/v1/score_images     # protocol.ImageScoreRequest -> protocol.ImageScoreResponse (eval)
    GET  {url}/v1/info             # names, weights, config digest, eval settings, this replica's counters

Each replica holds one `RewardSuite` (renderer + every reward model, on `num_gpus` of its own) and scores
exactly as in-process: the same reward functions, the same render cache (each completion rendered once, read
by every image reward), the same seeds. `@serve.batch` merges the requests of several callers (trainer ranks)
that arrive within `batch_wait_timeout_s`: their rows are rendered in one pass (render batches filled across
callers), then each request is scored on its own rows, never split, so numbers equal the in-process suite's
on the same slice. The suite is not thread-safe: it runs on one worker thread, off the replica's event loop,
so health checks and queueing stay responsive while it renders.

Eval (`/v1/score_images`) renders with the seeds it is given (eval's own, shared by its arms) through the same
renderer, as PIL images like eval's in-process renders, and scores them with `image_scorer.ImageScorer` (the
core in-process eval runs) built on the suite's loaded models; the PNG comes back for eval's cache and report.
`/v1/info`'s `eval` section holds every setting that decides those pixels and scores
(`render_settings.render_cache_settings` and the scorer refs), for eval to check against its config.

Health: Serve restarts a replica whose `check_health` raises (a batch stuck longer than `timeout_s`) or whose
process died. Metrics: Ray's Prometheus endpoint (`ray start --head --metrics-export-port 8080`) carries
Serve's own `ray_serve_*` series (request latency and errors per replica, batch sizes, queue lengths) plus
`expander_jobs_total`, `expander_renders_total`, `expander_render_seconds_total`,
`expander_reward_none_total{reward}` from here, each tagged with `replica` (Serve's replica id, the tag of its
own series); renders and render seconds also with `route` (`score` or `score_images`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from expander.errors import ExpanderError, MissingExtraError
from expander.prompts import clean_output
from expander.rewards.config import RewardsConfig
from expander.rewards.protocol import (
    ImageScoreRequest,
    ImageScoreResponse,
    ImageScores,
    ScoreRequest,
    ScoreResponse,
    config_digest,
    encode_png,
    eval_settings_digest,
)

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # the only outbound call Ray makes; read at import
try:
    from fastapi import FastAPI, HTTPException
    from ray import serve
except ImportError as exc:
    raise MissingExtraError("the reward server", "reward-server", exc) from exc

__all__ = ["APP_NAME", "RewardDeployment", "RewardServerError", "deploy", "start_ray"]

logger = logging.getLogger(__name__)

APP_NAME = "rewards"
api = FastAPI(title="expander rewards")


class RewardServerError(ExpanderError, RuntimeError):
    """The reward service could not start: Ray, the HTTP port, or a replica that failed to load a model."""


def eval_settings(cfg: RewardsConfig, suite) -> dict[str, Any]:
    """What decides eval's pixels and scores on this service, under `EvalConfig`'s key names (the render keys
    are eval's render cache key), plus `missing`: what eval needs that this suite did not load."""
    from expander.devices import resolve_dtype
    from expander.rewards.render_settings import render_cache_settings

    r, clip_of = cfg.render, lambda c: [c.model, c.pretrained]
    missing = [
        what
        for what, model in (
            ("the renderer (no image reward)", suite.renderer),
            ("the aesthetic scorer (rewards lacks aesthetic)", suite.aesthetic),
            ("CLIP faithfulness (rewards lacks faithfulness, or clip_weight 0)", suite.similarity),
            ("DINOv3 (rewards lacks diversity)", suite.dino),
        )
        if model is None
    ]
    if (
        suite.aesthetic is not None
        and suite.similarity is not None
        and suite.similarity.clip is not suite.aesthetic.clip
    ):
        missing.append("one CLIP for aesthetic and faithfulness (eval scores both from one CLIP forward)")
    return {
        **render_cache_settings(
            r.model,
            r.preset,
            r.height,
            r.width,
            r.num_inference_steps,
            r.guidance_scale,
            resolve_dtype(r.dtype, r.device),
            fingerprint=suite.renderer is not None,
        ),
        "clip": {
            "aesthetic": clip_of(cfg.aesthetic.clip),
            "faithfulness": clip_of(cfg.faithfulness.clip),
            "image_safety": clip_of(cfg.safety.clip) if suite.image_safety is not None else None,
        },
        "aesthetic_head": cfg.aesthetic.head,
        "dino_model": cfg.diversity.model,
        "image_safety": suite.image_safety is not None,
        "image_safety_threshold": cfg.safety.threshold,
        "image_safety_thresholds": dict(cfg.safety.thresholds),
        "image_safety_concepts": dict(cfg.safety.concepts),
        "missing": missing,
    }


def _png(image) -> str | None:
    """A render-cache image as base64 PNG, with the trainer's 8-bit pixels (`to_pil`); None stays None."""
    from expander.rewards.render_cache import to_pil

    return None if image is None else encode_png(to_pil(image))


# Above the deployment: Serve pickles the class at decoration time, with the module globals that exist then.
@serve.deployment(health_check_period_s=10)
@serve.ingress(api)
class RewardDeployment:
    """One replica: a `RewardSuite` and the HTTP routes over it.

    Args:
        cfg: the rewards config (its `reward_server` section sets threads, batching and the health limit).

    Raises:
        RewardModelError: a model named by the config cannot be loaded (Serve reports it in `serve.status()`).
    """

    def __init__(self, cfg: RewardsConfig):
        import torch
        from ray.util import metrics

        from expander.rewards.suite import RewardSuite

        rs = cfg.reward_server
        if rs.torch_threads:
            torch.set_num_threads(rs.torch_threads)
        self.cfg = cfg
        self.suite = RewardSuite(cfg)
        self.digest = config_digest(cfg)
        self.replica = f"{socket.gethostname()}:{os.getpid()}"
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reward-suite")
        self.busy_since: float | None = None
        self.in_flight = 0  # /v1/score requests received and not yet answered (batch wait included)
        # Every counter from the start: /v1/info of a replica the router has not sent work to yet reads 0s.
        self.counts: dict[str, int] = dict.fromkeys(
            ("jobs", "batches", "render_passes", "image_jobs", "image_renders"), 0
        )
        self.eval_settings = eval_settings(cfg, self.suite)
        self.eval_digest = eval_settings_digest(self.eval_settings)
        self._eval_scorers = None  # built on the first eval request
        self._score_jobs.set_max_batch_size(rs.max_batch_jobs)
        self._score_jobs.set_batch_wait_timeout_s(rs.batch_wait_timeout_s)
        try:  # Serve's replica id: the `replica` tag of its own ray_serve_* series
            replica_tag = serve.get_replica_context().replica_id.unique_id
        except Exception:  # noqa: BLE001 - constructed outside Serve (RayServeException)
            replica_tag = self.replica
        tags = {"replica": replica_tag}
        self.m_jobs = metrics.Counter(
            "expander_jobs_total", "reward requests scored", tag_keys=("replica",)
        ).set_default_tags(tags)
        self.m_renders = metrics.Counter(
            "expander_renders_total", "images rendered", tag_keys=("replica", "route")
        ).set_default_tags(tags)
        self.m_render_s = metrics.Counter(
            "expander_render_seconds_total", "seconds spent rendering", tag_keys=("replica", "route")
        ).set_default_tags(tags)
        self.m_none = metrics.Counter(
            "expander_reward_none_total", "rows a reward could not score", tag_keys=("replica", "reward")
        ).set_default_tags(tags)

    # -- routes ------------------------------------------------------------------------------------

    @api.post("/v1/score")
    async def score(self, request: ScoreRequest) -> dict[str, Any]:
        if request.config_digest != self.digest:
            raise HTTPException(
                409,
                f"config digest {request.config_digest[:12]} != the service's {self.digest[:12]}: "
                "the trainer and the service must load the same rewards config",
            )
        if len(request.shorts) != len(request.completions):
            raise HTTPException(422, f"{len(request.shorts)} shorts but {len(request.completions)} completions")
        self.in_flight += 1
        try:
            return await self._score_jobs((request, time.perf_counter()))
        finally:
            self.in_flight -= 1

    @api.post("/v1/score_images")
    async def score_images(self, request: ImageScoreRequest) -> dict[str, Any]:
        if self.eval_settings["missing"]:
            raise HTTPException(
                409, f"this service cannot score eval images: it lacks {'; '.join(self.eval_settings['missing'])}"
            )
        if request.settings_digest != self.eval_digest:
            raise HTTPException(
                409,
                f"eval settings digest {request.settings_digest[:12]} != this replica's "
                f"{self.eval_digest[:12]}: the service was redeployed with another config",
            )
        bad = [i for i, job in enumerate(request.jobs) if (job.png is None) == (job.text is None or job.seed is None)]
        if bad:
            raise HTTPException(422, f"jobs {bad[:5]}: each job needs either text and seed (render) or png (score)")
        return await asyncio.get_running_loop().run_in_executor(self.executor, self._score_images, request)

    @api.get("/v1/info")
    def info(self) -> dict[str, Any]:
        cache = self.suite.cache
        return {
            "names": self.suite.names,
            "weights": self.suite.weights,
            "config_digest": self.digest,
            "eval": self.eval_settings,
            "eval_settings_digest": self.eval_digest,
            "render_runtime": self.suite.renderer.settings() if hasattr(self.suite.renderer, "settings") else None,
            "replica": self.replica,
            "pid": os.getpid(),
            "busy": self.busy_since is not None,  # a batch is rendering or scoring now
            "in_flight": self.in_flight,  # scoring requests waiting for their batch or in it
            "renders": cache.render_count if cache else 0,
            **self.counts,
            "errors": dict(self.suite.errors),
        }

    def check_health(self) -> None:
        if self.busy_since is not None and time.perf_counter() - self.busy_since > self.cfg.reward_server.timeout_s:
            # Serve's health check contract: any exception marks the replica unhealthy; no user sees it.
            raise RuntimeError(f"one batch has run for more than {self.cfg.reward_server.timeout_s} s")

    # -- batching ----------------------------------------------------------------------------------

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.05)  # reset from the config in __init__
    async def _score_jobs(self, jobs: list[tuple[ScoreRequest, float]]) -> list[dict[str, Any]]:
        return await asyncio.get_running_loop().run_in_executor(self.executor, self._score_batch, jobs)

    def _score_batch(self, jobs: list[tuple[ScoreRequest, float]]) -> list[dict[str, Any]]:
        start = self.busy_since = time.perf_counter()
        self.counts["batches"] += 1
        try:
            out: list[dict[str, Any] | None] = [None] * len(jobs)
            by_step: dict[int, list[int]] = defaultdict(list)
            for i, (req, _) in enumerate(jobs):
                by_step[req.step].append(i)
            cache = self.suite.cache
            for step, idx in sorted(by_step.items()):  # the cache keeps `max_cached_steps`: one step at a time
                render_s = 0.0
                if cache is not None:  # one render pass over every caller's rows: the cross-caller batching
                    before, t = cache.render_count, time.perf_counter()
                    cache.images_for(
                        [s for i in idx for s in jobs[i][0].shorts],
                        [clean_output(c) for i in idx for c in jobs[i][0].completions],
                        step,
                    )
                    render_s = time.perf_counter() - t
                    if cache.render_count > before:
                        self.counts["render_passes"] += 1
                        self.m_renders.inc(cache.render_count - before, tags={"route": "score"})
                        self.m_render_s.inc(render_s, tags={"route": "score"})
                for i in idx:
                    req, enqueued = jobs[i]
                    out[i] = self._score_job(req, {"queue": start - enqueued, "render": render_s}, len(jobs))
            return out
        finally:
            self.busy_since = None

    def _score_job(self, req: ScoreRequest, seconds: dict[str, float], batch_jobs: int) -> dict[str, Any]:
        """Every reward function on the request's rows, called as TRL calls it (renders are cache hits)."""
        t = time.perf_counter()
        metrics: dict[str, list[tuple[str, float]]] = defaultdict(list)
        extras: dict[str, list[tuple[str, list]]] = defaultdict(list)
        rewards: dict[str, list[float | None]] = {}
        for fn in self.suite.funcs:
            name = fn.__name__
            values = fn(
                req.shorts,
                req.completions,
                short_prompt=req.shorts,
                step=req.step,
                log_metric=lambda k, v, n=name: metrics[n].append((k, float(v))),
                log_extra=lambda k, v, n=name: extras[n].append((k, list(v))),
            )
            rewards[name] = [None if v is None else float(v) for v in values]
            nones = sum(v is None for v in values)
            if nones:
                self.m_none.inc(nones, tags={"reward": name})
        self.counts["jobs"] += 1
        self.m_jobs.inc()
        cache = self.suite.cache
        seeds = [cache.seed_for(s, req.step) for s in req.shorts] if cache else [None] * len(req.shorts)
        images = None
        if req.return_images and cache is not None:  # cache hits: the pixels the rewards scored
            images = [
                _png(image)
                for image in cache.images_for(req.shorts, [clean_output(c) for c in req.completions], req.step)
            ]
        return ScoreResponse(
            names=self.suite.names,
            rewards=rewards,
            seeds=seeds,
            metrics=dict(metrics),
            extras=dict(extras),
            replica=self.replica,
            batch_jobs=batch_jobs,
            seconds={**seconds, "score": time.perf_counter() - t},
            images=images,
        ).model_dump()

    # -- eval ----------------------------------------------------------------------------------------

    def _score_images(self, req: ImageScoreRequest) -> dict[str, Any]:
        """Render the jobs with text + seed (as eval renders: PIL, its seeds), decode the sent PNGs, and score
        every image with `ImageScorer.score_images`, as in-process eval does. A failed render or score is that
        image's `error`, never a number."""
        import base64
        import io

        from PIL import Image

        from expander.rewards.errors import map_isolated
        from expander.rewards.image_scorer import ImageScorer, pil_to_tensor

        start = self.busy_since = time.perf_counter()
        try:
            s, r, jobs = self.suite, self.cfg.render, req.jobs
            if self._eval_scorers is None:  # the suite's models, one CLIP forward for three scores, as in eval
                self._eval_scorers = ImageScorer(s.aesthetic.clip, s.aesthetic, s.similarity, s.dino, s.image_safety)
            images: list[Any] = [None] * len(jobs)
            errors: list[str | None] = [None] * len(jobs)
            todo = [i for i, job in enumerate(jobs) if job.png is None]
            if todo:
                got, _ = map_isolated(
                    lambda idx: s.renderer.render(
                        [jobs[i].text for i in idx],
                        [jobs[i].seed for i in idx],
                        height=r.height,
                        width=r.width,
                        num_inference_steps=r.num_inference_steps,
                        guidance_scale=r.guidance_scale,
                        output_type="pil",
                    ),
                    todo,
                    self.cfg.max_retries,
                    "render",
                )
                for i, image in zip(todo, got):
                    images[i], errors[i] = image, None if image is not None else "render failed"
            render_s = time.perf_counter() - start
            rendered = sum(images[i] is not None for i in todo)
            self.counts["image_jobs"] += 1
            self.counts["image_renders"] += rendered
            if rendered:  # Ray counters take only positive increments
                self.m_renders.inc(rendered, tags={"route": "score_images"})
                self.m_render_s.inc(render_s, tags={"route": "score_images"})
            for i, job in enumerate(jobs):
                if job.png is not None:
                    try:
                        with Image.open(io.BytesIO(base64.b64decode(job.png))) as im:
                            images[i] = im.convert("RGB")
                    except Exception as exc:  # noqa: BLE001 - a bad image is that row's error
                        errors[i] = f"cannot decode the image: {exc}"
            ok = [i for i in range(len(jobs)) if images[i] is not None]
            items = [ImageScores(error=e) for e in errors]
            try:
                scores = (
                    self._eval_scorers.score_images(
                        pil_to_tensor([images[i] for i in ok]), [jobs[i].prompt for i in ok]
                    )
                    if ok
                    else None
                )
            except Exception as exc:  # noqa: BLE001 - the rows stay unscored (None), counted by the caller
                logger.warning("eval scoring failed on %d images: %s", len(ok), exc)
                scores, ok = None, []
                items = [ImageScores(error=errors[i] or f"scoring failed: {exc}") for i in range(len(jobs))]
            for j, i in enumerate(ok):
                items[i] = ImageScores(
                    aesthetic=float(scores["aesthetic"][j]),
                    clip_score=float(scores["clip_score"][j]),
                    embedding=[float(v) for v in scores["embedding"][j]],
                    image_flags=list(scores["image_flags"][j]),
                )
            if req.return_images:
                for i in todo:
                    if images[i] is not None:
                        items[i].png = encode_png(images[i])
            return ImageScoreResponse(
                items=items,
                replica=self.replica,
                renders=rendered,
                seconds={"render": render_s, "total": time.perf_counter() - start},
            ).model_dump()
        finally:
            self.busy_since = None


# ------------------------------------------------------------------------------------------ driver side


def start_ray(cfg: RewardsConfig, *, num_cpus: float | None = None, namespace: str | None = None) -> None:
    """Connect to (or start) Ray, quietly, and start Serve's HTTP proxy on `reward_server.host:port`."""
    import ray

    rs = cfg.reward_server
    try:
        ray.init(
            address=rs.address,
            num_cpus=None if rs.address else num_cpus,
            namespace=namespace,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
            ignore_reinit_error=True,
        )
        serve.start(http_options={"host": rs.host, "port": rs.port}, logging_config={"log_level": "ERROR"})
    except (ConnectionError, RuntimeError, OSError) as exc:
        raise RewardServerError(f"cannot start Ray / Serve (address={rs.address}, port={rs.port}): {exc}") from exc
    logging.getLogger("ray.serve").setLevel(logging.WARNING)


def deploy(cfg: RewardsConfig, *, name: str = APP_NAME, route_prefix: str = "/rewards"):
    """Deploy `reward_server.replicas` replicas of the suite; returns Serve's handle once all are running.

    Raises:
        RewardServerError: a replica failed to start; the message is the replica's own error (e.g. the
            `RewardModelError` naming the model ref), read from `serve.status()`.
    """
    rs = cfg.reward_server
    app = RewardDeployment.options(
        num_replicas=rs.replicas,
        max_ongoing_requests=rs.max_ongoing_requests,
        ray_actor_options={"num_cpus": rs.num_cpus, "num_gpus": rs.num_gpus},
        health_check_timeout_s=max(60.0, rs.timeout_s),
        # A constructor error is a model ref or a config that cannot load: report it, do not retry it 3 times.
        max_constructor_retry_count=1,
    ).bind(cfg)
    try:
        return serve.run(app, name=name, route_prefix=route_prefix)
    except RuntimeError as exc:
        raise RewardServerError(f"a reward replica failed to start: {_deploy_failure(name) or exc}") from None


def _deploy_failure(name: str) -> str | None:
    """The last line of the failed deployment's message (the replica constructor's exception), if any."""
    try:
        app = serve.status().applications[name]
    except Exception:  # noqa: BLE001 - status is best effort; the caller falls back to Serve's exception
        return None
    for deployment in app.deployments.values():
        lines = [line for line in (deployment.message or "").splitlines() if line.strip()]
        if lines:
            return lines[-1].strip()
    return app.message or None
