"""The wire format between the reward service (`server.py`) and its callers: GRPO's remote reward functions
(`remote.py`, `/v1/score`) and eval (`expander.eval.remote`, `/v1/score_images`).

Pydantic models, no Ray import: the client side needs only this module and httpx. A request is one TRL reward
call of one rank (its rows are never split: diversity, the gates and the group totals look across them); the
replica re-derives everything else the in-process suite derives (cleaned text, seeds from `render.seed_base`),
so `config_digest` must match the service's config.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, Field

from expander.config import config_to_dict

__all__ = [
    "SCHEMA",
    "ImageJob",
    "ImageScoreRequest",
    "ImageScoreResponse",
    "ImageScores",
    "ScoreRequest",
    "ScoreResponse",
    "config_digest",
    "encode_png",
    "eval_settings_digest",
]

SCHEMA = 1


def config_digest(cfg: Any) -> str:
    """sha256 of what decides the reward values: the resolved rewards config without `reward_server`, `weights`
    and `num_generations` (those only weight the columns, which the trainer does itself)."""
    data = config_to_dict(cfg)
    for key in ("reward_server", "weights", "num_generations"):
        data.pop(key, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


class ScoreRequest(BaseModel):
    """One reward call: the SHORT prompts exactly as `_Rows` parsed them, the raw completion texts, the step."""

    schema_version: int = SCHEMA
    config_digest: str
    step: int
    shorts: list[str]
    completions: list[str]
    request_id: str = ""
    return_images: bool = False  # the trainer's image table and grid steps: each row's render comes back as PNG


class ScoreResponse(BaseModel):
    """Every reward column of the request's rows, plus what each function logged in-process.

    `metrics[name]` / `extras[name]`: the `(key, value)` pairs reward `name` passed to `log_metric` /
    `log_extra`, in order, so the client replays them and TRL logs the same columns as in-process.
    `seconds`: `queue` (waiting for a batch), `render`, `score` on the replica.
    `images`: with `return_images`, each row's render (base64 PNG, the render cache's pixels; None: no image).
    """

    names: list[str]
    rewards: dict[str, list[float | None]]
    seeds: list[int | None]
    metrics: dict[str, list[tuple[str, float]]] = Field(default_factory=dict)
    extras: dict[str, list[tuple[str, list[Any]]]] = Field(default_factory=dict)
    replica: str = ""
    batch_jobs: int = 1
    seconds: dict[str, float] = Field(default_factory=dict)
    images: list[str | None] | None = None


# ------------------------------------------------------------------------------------------ eval's route


class ImageJob(BaseModel):
    """One eval image: render `text` with `seed`, or score the given `png` (base64) as it is.

    `prompt` is the SHORT prompt: CLIP faithfulness (`clip_score`) is measured against it.
    """

    prompt: str
    text: str | None = None
    seed: int | None = None
    png: str | None = None


class ImageScoreRequest(BaseModel):
    """Eval's `/v1/score_images`: images rendered with explicit seeds (or sent), scored by eval's scorers.

    `settings_digest` is `eval_settings_digest` of the service's `/v1/info` `eval` section the caller checked;
    a replica with other render or scorer settings refuses the request (409).
    """

    schema_version: int = SCHEMA
    settings_digest: str
    jobs: list[ImageJob]
    return_images: bool = True


class ImageScores(BaseModel):
    """`expander.rewards.image_scorer.ImageScorer.score_images` of one image; all None (and `error` set) when the
    image could not be rendered or scored. `png`: the render (base64 PNG) when asked for."""

    aesthetic: float | None = None
    clip_score: float | None = None
    embedding: list[float] | None = None
    image_flags: list[str] | None = None
    png: str | None = None
    error: str | None = None


class ImageScoreResponse(BaseModel):
    items: list[ImageScores]
    replica: str = ""
    renders: int = 0
    seconds: dict[str, float] = Field(default_factory=dict)


def eval_settings_digest(settings: dict[str, Any]) -> str:
    """sha256 of the `eval` section of `/v1/info` (what decides eval's pixels and scores), without the renderer
    directory's `fingerprint`: that one hashes file mtimes, which differ between the nodes of one deployment (each
    downloaded or built its copy at its own time), so it would refuse requests routed to another node. Eval
    checks it once, against the replica that answered `/v1/info`, through its render cache key."""
    settings = {k: v for k, v in settings.items() if k != "fingerprint"}
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def encode_png(image: Any) -> str:
    """A PIL image as base64 PNG (the image bytes of both routes)."""
    import base64
    import io

    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()
