"""Stage 3, render: the plan's images as rows and render jobs, then the renders missing from the cache.

    jobs = render_jobs(plan, expansions, backend.settings)     # rows of the results table + what to render
    outcome = backend.render(jobs, cache)                      # RenderOutcome(rendered, prescored)

A render is keyed by the settings that decide its pixels (`render_settings`: renderer ref and weights
fingerprint, preset, size, steps, guidance, dtype), its text and its seed, so arms that render the same text
share an image and a re-run renders nothing. The text safety policy decides here what is rendered: a text it
hard-blocks is never rendered (the policy forbids generating it); its row stays in the table, unscored.

Two backends with one interface (`settings`, `render(jobs, cache, progress=, shard=)`, `runtime_settings(cache)`):
`LocalRenderer` loads Krea 2 in this process; `expander.eval.remote.RemoteEvalService` has the reward service
render (and score: its `prescored`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from expander.errors import MissingExtraError
from expander.eval.cache import EvalCache
from expander.eval.config import EvalConfig
from expander.eval.expansions import Expansions
from expander.eval.plan import EvalPlan
from expander.rewards.render_settings import render_cache_settings, stable_key

if TYPE_CHECKING:
    from expander.eval.sharding import EvalShard

__all__ = [
    "TEXT_POLICY",
    "LocalRenderer",
    "RenderJobs",
    "RenderOutcome",
    "effective_dtype",
    "load_renderer",
    "render_jobs",
    "render_missing",
    "render_settings",
]

TEXT_POLICY = "expander.safety.classify_text"  # the text safety policy every rendered text passes, by name


@dataclass
class RenderJobs:
    """The rows of the results table and the renders they need.

    Attributes:
        rows: one dict per plan cell (prompt x arm x seed index), in plan order: the prompt's fields, the arm,
            the seeds, the expansion, the text-safety verdict and `render_key` (None: the text was blocked).
        jobs: `{render_key: (text, render seed)}`, each distinct image once.
        shorts: `{render_key: short prompt}` (the reward service measures CLIP faithfulness against it).
    """

    rows: list[dict] = field(default_factory=list)
    jobs: dict[str, tuple[str, int]] = field(default_factory=dict)
    shorts: dict[str, str] = field(default_factory=dict)

    def table(self):
        """The rows as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.rows)


@dataclass
class RenderOutcome:
    """What a backend's `render` did: images rendered now, and the scores it already computed per render key
    (the reward service scores what it renders; empty in-process)."""

    rendered: int
    prescored: dict[str, dict] = field(default_factory=dict)


def _classify_text(text: str) -> dict:
    from expander.safety import classify_text

    verdict = classify_text(text)
    return {"blocked": bool(verdict.blocked), "categories": list(verdict.categories)}


def render_jobs(
    plan: EvalPlan,
    expansions: Expansions,
    settings: dict,
    *,
    text_policy: Callable[[str], dict] = _classify_text,
) -> RenderJobs:
    """The results rows and render jobs of every plan cell.

    Args:
        plan: the plan (prompts x arms x seeds).
        expansions: `{arm: {(prompt_id, seed index): record}}` from the expand stage.
        settings: the render settings (the render key's), from the backend.
        text_policy: `text -> {"blocked": bool, "categories": [...]}`; blocked texts are not rendered.
    """
    out = RenderJobs()
    for cell in plan.cells():
        p, i = cell.prompt, cell.seed_index
        rec = expansions[cell.arm.name][(p.prompt_id, i)]
        text = rec["text"]
        verdict = text_policy(text)
        key = None
        if not verdict["blocked"]:
            key = stable_key({"kind": "render", **settings, "text": text, "seed": cell.render_seed})
            out.jobs[key] = (text, cell.render_seed)
            out.shorts[key] = p.text
        out.rows.append(
            {
                "prompt_id": p.prompt_id,
                "prompt": p.text,
                "category": p.category,
                "challenge": p.challenge,
                "arm": cell.arm.name,
                "seed_index": i,
                "expansion_seed": rec.get("seed"),
                "render_seed": cell.render_seed,
                "expansion": text,
                "expansion_words": len(text.split()),
                "finish_reason": rec.get("finish_reason", ""),
                "text_blocked": verdict["blocked"],
                "text_flags": ", ".join(verdict["categories"]),
                "render_key": key,
            }
        )
    return out


def effective_dtype(cfg: EvalConfig) -> str:
    """The dtype the renderer will use: the config's, else bf16 on CUDA and fp32 on CPU (the renderer's
    default), so CPU and GPU renders never share cache entries."""
    from expander.devices import resolve_dtype

    return resolve_dtype(cfg.dtype, cfg.device)


def render_settings(cfg: EvalConfig) -> dict:
    """Everything that decides a render besides its text and seed (the render key's settings); resolves the
    renderer ref now, so a missing model fails before minutes of expanding."""
    return render_cache_settings(
        cfg.renderer,
        cfg.preset,
        cfg.height,
        cfg.width,
        cfg.num_inference_steps,
        cfg.guidance_scale,
        effective_dtype(cfg),
    )


def load_renderer(cfg: EvalConfig):
    """A `diffusion.Krea2Renderer` for the config's renderer ref and settings."""
    try:
        from diffusion import Krea2Renderer
    except ImportError as exc:
        raise MissingExtraError("eval's renders (the Krea 2 runtime)", "diffusion", exc) from exc
    from expander.models import resolve_krea2_model

    return Krea2Renderer.from_pretrained(
        resolve_krea2_model(cfg.renderer),
        preset=cfg.preset,
        dtype=cfg.dtype,
        device=cfg.device,
        offload=cfg.offload,
        batch_size=cfg.render_batch_size,
    )


def render_missing(
    jobs: dict[str, tuple[str, int]],
    cfg: EvalConfig,
    cache: EvalCache,
    renderer=None,
    *,
    progress: bool = True,
    shard: EvalShard | None = None,
):
    """Render every job `{render_key: (text, seed)}` not yet in the cache, in batches, caching each batch.

    With a multi-process `shard`, this process renders only its share of the batches.

    Returns:
        (the renderer, or None when nothing had to be rendered and none was given; images rendered now).
    """
    from tqdm.auto import tqdm

    todo = [(key, text, seed) for key, (text, seed) in jobs.items() if not cache.has_render(key)]
    size = cfg.render_batch_size
    batches = [todo[start : start + size] for start in range(0, len(todo), size)]
    if shard is not None:
        batches = shard.share(batches)
    todo = [job for batch in batches for job in batch]
    if not todo:
        return renderer, 0
    if renderer is None:
        renderer = load_renderer(cfg)
    bar = tqdm(total=len(todo), desc="render", unit="image", disable=not progress)
    for batch in batches:
        images = renderer.render(
            [t for _, t, _ in batch],
            [s for _, _, s in batch],
            height=cfg.height,
            width=cfg.width,
            num_inference_steps=cfg.num_inference_steps,
            guidance_scale=cfg.guidance_scale,
            output_type="pil",
        )
        if len(images) != len(batch):  # a renderer that breaks its contract: a bug, not a user error
            raise RuntimeError(f"renderer returned {len(images)} images for {len(batch)} prompts")
        for (key, _, _), image in zip(batch, images):
            cache.put_render(key, image)
        bar.update(len(batch))
    bar.close()
    return renderer, len(todo)


class LocalRenderer:
    """Renders in this process with `diffusion.Krea2Renderer`, loaded on the first image that is missing.

    Args:
        cfg: the eval config (renderer ref and settings, batch size).
        renderer: an already loaded renderer to reuse.

    Raises:
        MissingExtraError, Krea2ModelError: at construction, when the renderer ref cannot resolve.
    """

    def __init__(self, cfg: EvalConfig, renderer: Any = None):
        self.cfg, self.renderer = cfg, renderer
        self.settings = render_settings(cfg)

    def render(
        self, jobs: RenderJobs, cache: EvalCache, *, progress: bool = True, shard: EvalShard | None = None
    ) -> RenderOutcome:
        self.renderer, rendered = render_missing(
            jobs.jobs, self.cfg, cache, self.renderer, progress=progress, shard=shard
        )
        return RenderOutcome(rendered)

    def runtime_settings(self, cache: EvalCache) -> dict | None:
        """The loaded renderer's own `settings()`, remembered in the cache for runs that load no renderer."""
        if self.renderer is not None and hasattr(self.renderer, "settings"):
            return cache.put_renderer_settings(self.settings, self.renderer.settings())
        return cache.get_renderer_settings(self.settings)
