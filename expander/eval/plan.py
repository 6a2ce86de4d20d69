"""Stage 1, plan: which images an eval makes: prompts x arms x seed indices, every seed derived here.

    plan = make_plan(cfg, load_prompts(cfg))
    for cell in plan.cells():   # prompt-major: (prompt, arm, seed index, render seed)
        ...

A suite is its prompt loader (`expander.eval.suites.SUITES`: parti, geneval, dpg, file): `load_prompts` loads
`cfg.suite` and samples it. A loader returns `EvalPrompt`s with the benchmark's own ids as `prompt_id` and what
its scorers need in `metadata`; every later stage reads only the plan.

Seeds are shared by every arm: for prompt p and seed index i the expansion seed is `seed + i` and the render
seed is a hash of (seed, p, i), so arm A's and arm B's images of (p, i) start from the same noise.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from expander.eval.config import ArmConfig, EvalConfig
from expander.eval.prompt_sets import EvalPrompt, sample_prompts
from expander.eval.suites import SUITES

__all__ = ["EvalPlan", "PlanCell", "expansion_seed", "load_prompts", "make_plan", "render_seed"]


def expansion_seed(base: int, seed_index: int) -> int:
    """Seed of the `seed_index`-th expansion of every prompt. One seed per index (not per prompt) lets one
    `expand_prompts` call batch all prompts; rows sample from their own generator, so batching does not
    change a row's text."""
    return base + seed_index


def render_seed(base: int, prompt: str, seed_index: int) -> int:
    """Noise seed of the `seed_index`-th image of `prompt`, the same for every arm (31-bit)."""
    digest = hashlib.sha256(f"{base}\0{prompt}\0{seed_index}".encode()).hexdigest()
    return int(digest[:8], 16) & 0x7FFFFFFF


@dataclass(frozen=True)
class PlanCell:
    """One image of the plan: `prompt` expanded by `arm` (seed index `seed_index`), rendered from `render_seed`."""

    prompt: EvalPrompt
    arm: ArmConfig
    seed_index: int
    render_seed: int


@dataclass
class EvalPlan:
    """The same prompts x the same seeds for every arm.

    Attributes:
        prompts: the short prompts, in table order.
        arms: the arms; the first is the baseline every other arm is compared with.
        seeds_per_prompt: k images per (prompt, arm), seed indices 0..k-1.
        seed: base of every derived seed (`expansion_seed`, `render_seed`).
    """

    prompts: list[EvalPrompt]
    arms: list[ArmConfig]
    seeds_per_prompt: int
    seed: int = 0

    @property
    def baseline(self) -> str:
        return self.arms[0].name

    def expansion_seed(self, seed_index: int) -> int:
        return expansion_seed(self.seed, seed_index)

    def render_seed(self, prompt: EvalPrompt, seed_index: int) -> int:
        return render_seed(self.seed, prompt.text, seed_index)

    def cells(self) -> list[PlanCell]:
        """Every image, prompt-major (prompt, then arm, then seed index): the row order of the results."""
        return [
            PlanCell(p, arm, i, self.render_seed(p, i))
            for p in self.prompts
            for arm in self.arms
            for i in range(self.seeds_per_prompt)
        ]


def load_prompts(cfg: EvalConfig) -> list[EvalPrompt]:
    """The prompts of `cfg.suite` (from `cfg.prompt_file` when set), filtered and sampled as the config says.

    Raises:
        PromptSetError, BenchmarkDataError: a missing or malformed file, unknown labels, or filters that leave
            nothing.
    """
    return sample_prompts(
        SUITES[cfg.suite](cfg.prompt_file),
        cfg.num_prompts,
        stratify_by=cfg.stratify_by,
        categories=cfg.categories,
        challenges=cfg.challenges,
        seed=cfg.sample_seed,
    )


def make_plan(cfg: EvalConfig, prompts: list[EvalPrompt]) -> EvalPlan:
    """The plan of `prompts` under the config's arms and seeds."""
    return EvalPlan(list(prompts), list(cfg.arms), cfg.seeds_per_prompt, cfg.seed)
