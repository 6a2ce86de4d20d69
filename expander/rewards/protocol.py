"""The wire format between GRPO's remote reward functions (`remote.py`) and the reward service (`server.py`).

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

__all__ = ["SCHEMA", "ScoreRequest", "ScoreResponse", "config_digest"]

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


class ScoreResponse(BaseModel):
    """Every reward column of the request's rows, plus what each function logged in-process.

    `metrics[name]` / `extras[name]`: the `(key, value)` pairs reward `name` passed to `log_metric` /
    `log_extra`, in order, so the client replays them and TRL logs the same columns as in-process.
    `seconds`: `queue` (waiting for a batch), `render`, `score` on the replica.
    """

    names: list[str]
    rewards: dict[str, list[float | None]]
    seeds: list[int | None]
    metrics: dict[str, list[tuple[str, float]]] = Field(default_factory=dict)
    extras: dict[str, list[tuple[str, list[Any]]]] = Field(default_factory=dict)
    replica: str = ""
    batch_jobs: int = 1
    seconds: dict[str, float] = Field(default_factory=dict)
