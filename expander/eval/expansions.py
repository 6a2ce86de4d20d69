"""Stage 2, expand: each arm's text for every (prompt, seed index) of the plan, generated only when not cached.

    expansions, generated = expand_arms(plan, cache)   # {arm: {(prompt_id, seed index): record}}, count

An arm is the raw prompt (rendered as typed), an expander run here (`transformers` or `vllm`, through
`expander.expand.expand_prompts`), or a running `expander serve` (`backend: api`). Records are cached under a
key of everything that decides them (`arm_settings`, the prompt, the seed), one batch at a time, so a killed run
loses one batch and an added arm expands only its own texts.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import TYPE_CHECKING

from expander.errors import ConfigError, ExpanderError
from expander.eval.cache import EvalCache
from expander.eval.config import ArmConfig
from expander.eval.plan import EvalPlan
from expander.eval.prompt_sets import EvalPrompt
from expander.rewards.render_settings import directory_fingerprint, stable_key

if TYPE_CHECKING:
    from expander.eval.sharding import EvalShard

__all__ = ["ArmExpansionError", "Expansions", "arm_settings", "describe_arms", "expand_arm", "expand_arms"]

# {arm name: {(prompt_id, seed index): record}}; record keys: text, raw_text, seed, completion_tokens,
# finish_reason (and, when generated, prompt and arm: the settings it was made with).
Expansions = dict[str, dict[tuple[str, int], dict]]


class ArmExpansionError(ExpanderError, RuntimeError):
    """An arm's expansions cannot be made: its expander server refused a prompt."""


def _contract_version() -> str:
    from expander import prompts

    return stable_key([prompts.SYSTEM_PROMPT, prompts.POLISH_SYSTEM_PROMPT, repr(prompts.CREATIVITY_LEVELS)])


def arm_settings(arm: ArmConfig) -> dict:
    """Everything that decides an arm's expansions (the expansion cache key without prompt and seed)."""
    return {
        "model": arm.model,
        "adapter": arm.adapter,
        "adapter_fingerprint": directory_fingerprint(arm.adapter),
        "creativity": arm.creativity,
        "backend": arm.backend,
        "max_words": arm.max_words,
        "contract": _contract_version(),
        **({"url": arm.url, "revision": _api_revision(arm)} if arm.backend == "api" else {"guard": _guard()}),
    }


def _guard() -> str:
    """The exclusion guard this process samples with (`expander.engine.exclusion_guard`; on with the
    constraints extra): expansions made before it, or without it, are not reused for it."""
    from expander.expand import fallback_default

    if not fallback_default():
        return "none"
    from expander.engine.exclusion_guard import guard_fingerprint

    return f"exclusion-guard-{guard_fingerprint()}"


def describe_arms(arms: list[ArmConfig]) -> list[dict]:
    """Each arm's name and settings, for the summary and the report header."""
    return [
        {**arm_settings(a), "name": a.name} if not a.is_raw else {"name": a.name, "creativity": "raw"} for a in arms
    ]


def _api_client(arm: ArmConfig, **kwargs):
    from expander.client import ExpanderClient

    return ExpanderClient(arm.url, api_key=os.environ.get("EXPANDER_API_KEY") or None, **kwargs)


def _api_revision(arm: ArmConfig) -> str:
    """The served model's weights revision (`/v1/models`), so a redeployed server misses the cache."""
    with _api_client(arm) as client:
        cards = client.models().data
    card = next((c for c in cards if c.id == arm.model), None) if arm.model else cards[0]
    if card is None:
        raise ConfigError(
            f"arm {arm.name!r}: {arm.url} serves no model {arm.model!r} ({', '.join(c.id for c in cards)})"
        )
    return card.revision


def _expand_through_api(arm: ArmConfig, texts: list[str], seed: int) -> list[dict]:
    """One chunk through a running server (`backend: api`), as `expand_prompts`' fields.

    Raises:
        ArmExpansionError: the server refused a prompt (its message named).
    """
    with _api_client(arm, timeout=600) as client:
        batch = client.expand_batch(
            texts, seed=seed, creativity=arm.creativity, max_words=arm.max_words, model=arm.model
        )
    out = []
    for item in batch.results:
        if item.response is None:
            raise ArmExpansionError(f"arm {arm.name!r}: {arm.url} refused {texts[item.index]!r}: {item.error.message}")
        e = item.response.expansions[0]
        out.append(
            {
                "text": e.text,
                "raw_text": e.text,
                "seed": e.seed,
                "finish_reason": e.finish_reason,
                "completion_tokens": item.response.usage.completion_tokens,
            }
        )
    return out


def _raw_records(plan: EvalPlan) -> dict[tuple[str, int], dict]:
    record = {"seed": None, "completion_tokens": 0, "finish_reason": "raw"}
    return {
        (p.prompt_id, i): {"text": p.text, "raw_text": p.text, **record}
        for p in plan.prompts
        for i in range(plan.seeds_per_prompt)
    }


def expand_arm(
    arm: ArmConfig,
    plan: EvalPlan,
    cache: EvalCache,
    *,
    progress: bool = True,
    shard: EvalShard | None = None,
) -> tuple[dict[tuple[str, int], dict], int]:
    """Expansions of every (prompt, seed index) for one arm, generating only those missing from the cache.

    With a multi-process `shard`, this process generates only its share of the missing chunks (and returns
    only the records it has); read the rest from the cache once every process is done.

    Returns:
        (`{(prompt_id, seed_index): record}` with record keys `text`, `raw_text`, `seed`,
        `completion_tokens`, `finish_reason`; number generated now).
    """
    if arm.is_raw:
        return _raw_records(plan), 0
    settings = arm_settings(arm)
    if shard is not None:
        shard.barrier()  # the previous arm's writes are done (two arms may share expansions)
    records: dict[tuple[str, int], dict] = {}
    missing: dict[int, list[tuple[EvalPrompt, str]]] = defaultdict(list)
    for p in plan.prompts:
        for i in range(plan.seeds_per_prompt):
            key = stable_key({"kind": "expansion", **settings, "prompt": p.text, "seed": plan.expansion_seed(i)})
            rec = cache.get_expansion(key)
            if rec is None:
                missing[i].append((p, key))
            else:
                records[(p.prompt_id, i)] = rec
    # Chunks of one batch: each chunk is cached as soon as it is done, so a kill loses one batch.
    chunks = [
        (i, items[start : start + arm.batch_size])
        for i, items in sorted(missing.items())
        for start in range(0, len(items), arm.batch_size)
    ]
    if shard is not None:
        chunks = shard.share(chunks)
    todo = sum(len(chunk) for _, chunk in chunks)
    if not todo:
        return records, 0

    def keep(seed_index: int, chunk: list[tuple[EvalPrompt, str]], generated: list[dict]) -> None:
        for (p, key), rec in zip(chunk, generated):
            rec = {**rec, "prompt": p.text, "arm": settings}
            cache.put_expansion(key, rec)
            records[(p.prompt_id, seed_index)] = rec

    if arm.backend == "api":
        for i, chunk in chunks:
            keep(i, chunk, _expand_through_api(arm, [p.text for p, _ in chunk], plan.expansion_seed(i)))
        return records, todo

    from tqdm.auto import tqdm

    from expander.engine import create_engine
    from expander.expand import expand_prompts

    kwargs = {"batch_size": arm.batch_size} if arm.backend == "transformers" else {}
    engine = create_engine(arm.model, backend=arm.backend, adapter=arm.adapter, **kwargs)
    try:
        bar = tqdm(total=todo, desc=f"expand {arm.name}", unit="prompt", disable=not progress)
        for i, chunk in chunks:
            out = expand_prompts(
                engine,
                [p.text for p, _ in chunk],
                creativity=arm.creativity,
                n=1,
                seed=plan.expansion_seed(i),
                max_words=arm.max_words,
            )
            generated = [
                {
                    "text": e.text,
                    "raw_text": e.raw_text,
                    "seed": e.seed,
                    "completion_tokens": e.completion_tokens,
                    "finish_reason": e.finish_reason,
                }
                for [e] in out
            ]
            keep(i, chunk, generated)
            bar.update(len(chunk))
        bar.close()
    finally:
        engine.close()
    return records, todo


def expand_arms(
    plan: EvalPlan, cache: EvalCache, *, progress: bool = True, shard: EvalShard | None = None
) -> tuple[Expansions, int]:
    """`expand_arm` for every arm of the plan, in order; returns (`{arm name: records}`, expansions generated)."""
    expansions: Expansions = {}
    generated = 0
    for arm in plan.arms:
        expansions[arm.name], n = expand_arm(arm, plan, cache, progress=progress, shard=shard)
        generated += n
    return expansions, generated
