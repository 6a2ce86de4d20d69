"""The per-expansion part of a `/v1/expand` response: the served text and the reports attached to it.

For each kept sample (or the unchanged prompt, for `raw` and an unsupported language): keep_terms the model
left out appended verbatim (`expander.expand.repair_keep_terms`), the constraints report of that very text, and
its safety verdict. Kept apart from `service.py` so the request path there stays one screen long.
"""

from __future__ import annotations

import asyncio

from expander.expand import repair_keep_terms
from expander.safety import added_categories, classify_text

__all__ = ["expansion_outputs"]


async def expansion_outputs(
    prompt: str,
    drawn: list,
    seeds: list[int | None],
    *,
    finish: str | None,
    attempts: int,
    keep_terms: list[str],
    constraints_report,
    check_constraints: bool,
) -> list[dict]:
    """One `ExpansionOut` dict per expansion.

    Args:
        prompt: the user's prompt.
        drawn: per expansion, the service's `_Drawn` (kept sample, cleaned text, whether resampled), or None
            where the prompt is returned unchanged.
        seeds: the seed to report per expansion.
        finish: the finish reason of every expansion (`raw`, `language_unsupported`), or None: each sample's own.
        attempts: samples drawn per expansion.
        keep_terms: the request's keep_terms.
        constraints_report: `(prompt, text) -> report | None` (`ConstraintsReporter`).
        check_constraints: whether a verified sample's own report may be reused.
    """
    out = []
    for d, seed in zip(drawn, seeds):
        text, missing = repair_keep_terms(prompt if d is None else d.text, keep_terms)
        # A verified choice carries the report of this very text (`select_candidates`); else it is made here.
        report = d.choice.report if d is not None and check_constraints else None
        if report is None:
            report = await asyncio.to_thread(constraints_report, prompt, text)
        verdict = classify_text(text)
        out.append(
            {
                "text": text,
                "seed": seed,
                "finish_reason": finish or d.choice.generation.finish_reason,
                "attempts": attempts,
                "verified": None if d is None else d.choice.verified,
                "fallback": d is not None and d.choice.fallback,
                "keep_terms_repaired": missing,
                "constraints": report,
                "safety": {
                    "blocked": verdict.blocked,
                    "categories": verdict.categories,
                    "added_categories": added_categories(prompt, text),
                    "regenerated": d is not None and d.regenerated,
                },
            }
        )
    return out
