"""Expand prompts through an engine under the expansion contract (used by the CLI, serving and eval).

After cleaning, keep_terms the model left out are appended verbatim (`repair_keep_terms`): `expander expand
--keep` and the API's `keep_terms` give the same text, and both report what was repaired.

Two guards of the contract live here, shared by the CLI, the API and eval:

* **Languages.** A prompt in a language the model does not declare (`expander.models.model_languages`,
  detected by `expander.language`) is returned unchanged with `finish_reason="language_unsupported"` and no
  model call: an English-tuned expander given "un zorro rojo en la nieve" writes about something else.
* **Verified expansion** (`candidates > 1`): each requested expansion draws `candidates` samples in the same
  batched engine call (candidate `j` of expansion `i` is seeded `candidate_seed(seed + i, j)`), and keeps the
  best by `rank_candidates`: the first that keeps the prompt's hard constraints and adds no subject, ties
  broken by constraint score, then by ending within the budget, then by draw order. When none passes, the best
  available is returned with `verified=False`. Same seed + candidates = same text. `select_candidates` is the
  one place this choice is made, for `expand_prompts` (CLI, eval) and the server alike.
* **Faithful fallback** (`fallback=True`, the default of `expand_prompts`, the CLI and the server): every kept
  sample is verified (one candidate too), and when no candidate passes, the text returned is built from the
  prompt and the best candidate (`faithful_fallback`): the best candidate's sentences that keep the prompt
  faithful, after the prompt itself unless the candidate's first sentence already keeps it. Deterministic, no
  model call; it costs one checker pass per expansion (the report the response carries anyway). It is what lifts
  the shipped adapter's GenEval text-side categories over 0.97 (two objects: 0.96 -> 1.0,
  `benchmarks/results/text_faithfulness_cpu.json`). `fallback=False` returns the sample as drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from expander.engine import Generation, GenerationEngine, SamplingParams
from expander.prompts import (
    DEFAULT_CREATIVITY,
    PromptError,
    build_messages,
    clean_output,
    creativity_settings,
    validate_prompt,
)
from expander.sentences import split_sentences

__all__ = [
    "NO_REPEAT_NGRAM",
    "REPETITION_PENALTY",
    "CandidateChoice",
    "Expansion",
    "ExpansionPlan",
    "expand_prompts",
    "faithful_fallback",
    "fallback_default",
    "max_new_tokens_for",
    "plan_expansion",
    "rank_candidates",
    "repair_keep_terms",
    "select_candidates",
    "verify_expansion",
]

REPETITION_PENALTY = 1.05  # mild: a 135M model loops without it; stronger starts to avoid the user's own words
# The repeat guard (`expander.engine.repeat_guard`): no 4-token run twice in a sample; 0 = off. 4 cuts every loop of
# the shipped adapter on the held-out prompts and keeps its pass rate (6 leaves half of them; measured there).
NO_REPEAT_NGRAM = 4
TOKENS_PER_WORD = 1.6  # English prose with a BPE tokenizer; headroom so the word budget, not tokens, binds


@dataclass
class Expansion:
    """One expansion of a prompt. `raw_text` is the model's completion before cleaning; `keep_terms_repaired`
    the keep_terms it left out, appended to `text`."""

    text: str
    seed: int | None
    raw_text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    keep_terms_repaired: list[str] = field(default_factory=list)
    language: str | None = None  # the prompt's detected language (`expander.language`)
    attempts: int = 1  # samples drawn for it (verified expansion draws `candidates`)
    verified: bool | None = None  # None: not verified; True: kept the hard constraints and added no subject
    report: dict | None = None  # the verification's constraint report (`ConstraintReport.to_dict()`)
    fallback: bool = False  # no candidate passed: text (and raw_text) are `faithful_fallback`'s, from the best


def repair_keep_terms(text: str, keep_terms: list[str] | None) -> tuple[str, list[str]]:
    """Append the keep_terms missing from `text` (exact, case-sensitive substrings), verbatim.

    Returns:
        (the repaired text, the terms that were appended).
    """
    missing = [t for t in keep_terms or [] if t not in text]
    if missing:
        text = f"{text.rstrip().rstrip('.')}, {', '.join(missing)}." if text else ", ".join(missing)
    return text, missing


def max_new_tokens_for(max_words: int) -> int:
    return int(max_words * TOKENS_PER_WORD) + 16


@dataclass(frozen=True)
class ExpansionPlan:
    """How one prompt is expanded under the contract: the messages, the sampling settings, the token budget,
    the word cap its completions are cleaned to and the keep_terms they must hold. The one place those are
    derived (CLI, serving, eval)."""

    prompt: str
    conversation: list[dict[str, str]]
    temperature: float
    top_p: float
    max_new_tokens: int
    max_words: int  # cleaning cap: the word budget, or the prompt's own length if that is longer
    keep_terms: tuple[str, ...] = ()
    # The exclusion guard (`expander.engine.exclusion_guard`): the words no sample may write outside a
    # negation, and the prompt's own words built on them. Empty when the prompt excludes nothing or it is off.
    excluded: tuple[str, ...] = ()
    compounds: tuple[str, ...] = ()

    @property
    def guard(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(excluded words, compounds): what an engine's `generate_full(..., guards=)` takes."""
        return self.excluded, self.compounds

    def finish(self, completion: str) -> str:
        """The expansion a raw completion becomes (`expander.prompts.clean_output` under this plan's cap)."""
        return clean_output(completion, max_words=self.max_words)

    def expansion_text(self, completion: str) -> tuple[str, list[str]]:
        """The text returned for a raw completion: `finish`ed, then the keep_terms it lacks appended.

        Returns:
            (the text, the keep_terms that were appended: `repair_keep_terms`).
        """
        return repair_keep_terms(self.finish(completion), list(self.keep_terms))


def plan_expansion(
    prompt: str,
    creativity: str = DEFAULT_CREATIVITY,
    *,
    max_words: int | None = None,
    keep_terms: list[str] | None = None,
    language: str | None = None,
    exclusion_guard: bool | None = None,
) -> ExpansionPlan | None:
    """The plan for expanding a validated `prompt`; `None` for `raw` creativity (no model call).

    `exclusion_guard`: keep the prompt's excluded things ("no windows", "an empty station": windows, people) out
    of every sample at decode time, except inside a negation (`expander.engine.exclusion_guard`). None
    (default): on when the `constraints` extra is installed (`fallback_default`).

    Raises:
        PromptError: an unknown creativity, `max_words < 1`, or keep_terms the contract refuses.
    """
    if max_words is not None and max_words < 1:
        raise PromptError(f"max_words must be >= 1, got {max_words}")
    settings = creativity_settings(creativity)
    if settings is None:
        return None
    budget = max_words or settings.max_words
    cap = max(budget, len(prompt.split()))
    excluded, compounds = (), ()
    if exclusion_guard or (exclusion_guard is None and fallback_default()):
        from expander.engine.exclusion_guard import guard_words

        excluded, compounds = guard_words(prompt)
    return ExpansionPlan(
        prompt=prompt,
        conversation=build_messages(prompt, creativity, max_words=budget, keep_terms=keep_terms, language=language),
        temperature=settings.temperature,
        top_p=settings.top_p,
        max_new_tokens=max_new_tokens_for(cap),
        max_words=cap,
        keep_terms=tuple(keep_terms or ()),
        excluded=excluded,
        compounds=compounds,
    )


def verify_expansion(prompt: str, text: str) -> tuple[bool, dict]:
    """Whether `text` keeps `prompt`'s hard constraints and adds no subject, and the constraint report.

    Raises:
        MissingExtraError: without the `constraints` extra.
    """
    from expander.constraints import check, require_constraints

    require_constraints("verified expansion")
    report = check(prompt, text)
    return report.faithful, report.to_dict()


def rank_candidates(prompt: str, candidates: list[Generation], clean) -> tuple[int, bool, dict]:
    """Pick one of a completion's candidates: `(index, verified, report)`.

    The best is the first passing `verify_expansion`; ties by constraint score, then by ending within the
    token budget (`finish_reason == "stop"`), then by draw order (so the choice is deterministic).
    `clean` turns a raw completion into the text that is checked (the plan's cleaning + keep_terms repair).
    """
    best = None
    for j, gen in enumerate(candidates):
        passes, report = verify_expansion(prompt, clean(gen.text))
        key = (passes, report.get("score") or 0.0, gen.finish_reason == "stop", -j)
        if best is None or key > best[0]:
            best = (key, j, passes, report)
    _, j, passes, report = best
    return j, passes, report


def fallback_default() -> bool:
    """Whether the faithful fallback is on by default: when the checker it needs (the `constraints` extra) is
    installed. Without it, expansions come back as sampled, as they did before the fallback existed."""
    from expander.constraints.text import require_constraints  # cheap: looks the modules up, imports none
    from expander.errors import MissingExtraError

    try:
        require_constraints("the faithful fallback")
    except MissingExtraError:
        return False
    return True


def faithful_fallback(plan: ExpansionPlan, text: str) -> str | None:
    """A text that keeps the prompt, built from an expansion that does not: deterministic, no model call.

    The expansion's sentences are kept in order when the text so far plus the sentence still passes
    `verify_expansion` (hard constraints kept, no subject added), within the plan's word cap. The text starts
    with the expansion's first sentence when that alone passes (it usually restates the prompt), else with the
    prompt itself, as typed.

    Args:
        plan: the prompt's plan (its prompt and word cap).
        text: the expansion to salvage, as it would be returned (`plan.expansion_text`).

    Returns:
        The fallback text, or None when not even the prompt alone passes (the checker then rejects the prompt's
        own words: nothing to build on).
    """
    sentences = split_sentences(text)
    prompt = plan.prompt.strip()
    start = prompt if prompt.endswith((".", "!", "?")) else prompt + "."
    if sentences and verify_expansion(plan.prompt, sentences[0])[0]:
        kept, rest = sentences[0], sentences[1:]
    elif verify_expansion(plan.prompt, start)[0]:
        kept, rest = start, sentences
    else:
        return None
    for sentence in rest:
        longer = f"{kept} {sentence}"
        if len(longer.split()) > plan.max_words:
            break
        if verify_expansion(plan.prompt, longer)[0]:
            kept = longer
    return kept


@dataclass(frozen=True)
class CandidateChoice:
    """The sample kept for one requested expansion, and what verifying it found.

    Attributes:
        generation: the kept sample (its text is a raw completion: `ExpansionPlan.expansion_text` finishes it).
        verified: None when nothing was verified; else whether the kept text keeps the prompt's hard constraints
            and adds no subject.
        report: the kept text's constraint report (`ConstraintReport.to_dict()`) when verified, else None.
        fallback: the generation's text is `faithful_fallback`'s, built from the best candidate (its seed and
            token counts are that candidate's).
    """

    generation: Generation
    verified: bool | None = None
    report: dict | None = None
    fallback: bool = False


def select_candidates(
    plan: ExpansionPlan,
    drawn: list[Generation],
    candidates: int = 1,
    *,
    verify: bool | None = None,
    fallback: bool = False,
) -> list[CandidateChoice]:
    """Keep one sample per requested expansion: the candidate selection of verified expansion (module doc).

    Args:
        plan: the prompt's plan; each candidate is judged on the text it would be returned as
            (`plan.expansion_text`: cleaned, keep_terms repaired).
        drawn: `n * candidates` generations, completion-major (`SamplingParams.seeds` order): expansion `i`'s
            candidates are `drawn[i * candidates : (i + 1) * candidates]`.
        candidates: samples drawn per expansion.
        verify: check the kept text (default: when `candidates > 1`, or with `fallback`). `verify=True` with one
            candidate reports on a lone sample the way verified expansion reports on its pick (the server's
            resample).
        fallback: when no candidate passes, keep `faithful_fallback` of the best one instead (verified, with
            `fallback=True`), if it passes; otherwise the best candidate stands.

    Returns:
        One `CandidateChoice` per expansion, in order.

    Raises:
        MissingExtraError: verifying without the `constraints` extra.
    """
    if candidates < 1 or len(drawn) % candidates:  # a caller's bug: the engine returns n * candidates samples
        raise ValueError(f"{len(drawn)} samples are not a whole number of groups of {candidates} candidates")
    if verify is None:
        verify = candidates > 1 or fallback
    if not verify:
        return [CandidateChoice(drawn[start]) for start in range(0, len(drawn), candidates)]
    choices = []
    for start in range(0, len(drawn), candidates):
        group = drawn[start : start + candidates]
        j, passes, report = rank_candidates(plan.prompt, group, lambda raw: plan.expansion_text(raw)[0])
        choice = CandidateChoice(group[j], passes, report)
        if fallback and not passes:
            choice = _fallback_choice(plan, group[j]) or choice
        choices.append(choice)
    return choices


def _fallback_choice(plan: ExpansionPlan, best: Generation) -> CandidateChoice | None:
    """`faithful_fallback` of the best candidate as a choice, when the text it is returned as passes."""
    text = faithful_fallback(plan, plan.expansion_text(best.text)[0])
    if text is None:
        return None
    passes, report = verify_expansion(plan.prompt, plan.expansion_text(text)[0])
    if not passes:  # cleaning or the keep_terms repair changed it into something that fails: keep the best
        return None
    made = Generation(text, best.seed, best.prompt_tokens, best.completion_tokens, "stop")
    return CandidateChoice(made, True, report, fallback=True)


def expand_prompts(
    engine: GenerationEngine | None,
    prompts: list[str],
    *,
    creativity: str = DEFAULT_CREATIVITY,
    n: int = 1,
    seed: int | None = None,
    max_words: int | None = None,
    keep_terms: list[str] | None = None,
    repetition_penalty: float = REPETITION_PENALTY,
    candidates: int = 1,
    languages: tuple[str, ...] | None = None,
    fallback: bool | None = None,
    exclusion_guard: bool | None = None,
    no_repeat_ngram: int = NO_REPEAT_NGRAM,
) -> list[list[Expansion]]:
    """Expand each prompt `n` times. `creativity="raw"` returns the prompts without a model call (only missing
    keep_terms are appended, as for every expansion: `repair_keep_terms`).

    Args:
        candidates: samples drawn per expansion; above 1 the best verified one is kept (module doc).
        languages: languages the model can expand (`expander.models.model_languages`); `None` skips the
            language check. A prompt in another language comes back unchanged, `language_unsupported`.
        fallback: when no candidate keeps the prompt, return `faithful_fallback` of the best (module doc); with
            one candidate this verifies the lone sample too. False: the sample as drawn. None (default): on when
            the `constraints` extra is installed (`fallback_default`).
        exclusion_guard: keep each prompt's excluded things out of its samples at decode time, except inside a
            negation (`plan_expansion`). None (default): on when the `constraints` extra is installed.
        no_repeat_ngram: the repeat guard: no run of this many tokens twice in one sample (`expander.engine.
            repeat_guard`); 0 = off. Default `NO_REPEAT_NGRAM`, the API's.

    Raises:
        PromptError: an empty or too long prompt, an unknown creativity, `n < 1`, `candidates < 1`,
            `max_words < 1`.
    """
    if n < 1:
        raise PromptError(f"n must be >= 1, got {n}")
    if candidates < 1:
        raise PromptError(f"candidates must be >= 1, got {candidates}")
    if max_words is not None and max_words < 1:
        raise PromptError(f"max_words must be >= 1, got {max_words}")
    texts = [validate_prompt(p) for p in prompts]
    if fallback is None:
        fallback = fallback_default()
    settings = creativity_settings(creativity)
    if settings is None:
        return [[_raw(t, None if seed is None else seed + i, keep_terms) for i in range(n)] for t in texts]
    results: list[list[Expansion] | None] = [None] * len(texts)
    codes: list[str | None] = [None] * len(texts)
    if languages is not None:
        from expander.language import detect_language, supports

        for k, text in enumerate(texts):
            guess = detect_language(text)
            codes[k] = guess.code
            if not supports(languages, guess):
                results[k] = [_unsupported(text, None if seed is None else seed + i, guess.code) for i in range(n)]
    todo = [k for k in range(len(texts)) if results[k] is None]
    if not todo:
        return results  # type: ignore[return-value]
    plans = {
        k: plan_expansion(
            texts[k],
            creativity,
            max_words=max_words,
            keep_terms=keep_terms,
            language=codes[k] if codes[k] not in (None, "und") else None,
            exclusion_guard=exclusion_guard,
        )
        for k in todo
    }
    if engine is None:  # a caller's bug: only `raw` and unsupported languages need no engine
        raise ValueError(f"creativity {creativity!r} needs an engine")
    params = SamplingParams(
        n=n,
        seed=seed,
        temperature=settings.temperature,
        top_p=settings.top_p,
        max_new_tokens=max((p.max_new_tokens for p in plans.values()), default=1),  # one budget for the batch
        repetition_penalty=repetition_penalty,
        candidates=candidates,
        no_repeat_ngram=no_repeat_ngram,
    )
    outputs = engine.generate_full([plans[k].conversation for k in todo], params, [plans[k].guard for k in todo])
    for k, gens in zip(todo, outputs):
        plan = plans[k]
        row = []
        for i, choice in enumerate(select_candidates(plan, gens, candidates, fallback=fallback)):
            group = gens[i * candidates : (i + 1) * candidates]
            g = choice.generation
            text, repaired = plan.expansion_text(g.text)
            row.append(
                Expansion(
                    text=text,
                    seed=group[0].seed,
                    raw_text=g.text,
                    prompt_tokens=g.prompt_tokens,
                    completion_tokens=sum(c.completion_tokens for c in group),
                    finish_reason=g.finish_reason,
                    keep_terms_repaired=repaired,
                    language=codes[k],
                    attempts=candidates,
                    verified=choice.verified,
                    report=choice.report,
                    fallback=choice.fallback,
                )
            )
        results[k] = row
    return results  # type: ignore[return-value]


def _raw(prompt: str, seed: int | None, keep_terms: list[str] | None) -> Expansion:
    text, repaired = repair_keep_terms(prompt, keep_terms)
    return Expansion(text=text, seed=seed, raw_text=prompt, keep_terms_repaired=repaired)


def _unsupported(prompt: str, seed: int | None, language: str) -> Expansion:
    return Expansion(
        text=prompt, seed=seed, raw_text=prompt, finish_reason="language_unsupported", language=language, attempts=0
    )
