"""The faithful fallback of verified expansion (`expander.expand.faithful_fallback`): when no candidate keeps the
prompt, the text returned is the prompt plus the best candidate's sentences that keep it; no model call."""

from __future__ import annotations

from expander.engine import Generation
from expander.expand import faithful_fallback, plan_expansion, select_candidates, verify_expansion

PROMPT = "a photo of a dog right of a teddy bear"
RESTATES = "A photo of a dog right of a teddy bear, its fur golden."
ADDS = "A child laughs nearby."
LIGHT = "Soft window light."


def test_the_fallback_keeps_the_sentences_that_keep_the_prompt_in_order():
    plan = plan_expansion(PROMPT)
    broken = " ".join([RESTATES, ADDS, LIGHT])
    assert not verify_expansion(PROMPT, broken)[0]
    # The first sentence restates the prompt, so it leads; the added child is dropped.
    assert faithful_fallback(plan, broken) == f"{RESTATES} {LIGHT}"
    # A first sentence that loses the prompt: the prompt itself leads, as typed.
    vague = "A golden retriever naps on a rug. " + LIGHT
    assert faithful_fallback(plan, vague) == f"{PROMPT}. {vague}"


def test_the_fallback_respects_the_word_cap():
    plan = plan_expansion(PROMPT, max_words=20)
    text = faithful_fallback(plan, " ".join(["A golden retriever naps on a rug."] + [LIGHT] * 10))
    assert text.startswith(PROMPT) and len(text.split()) <= 20


def test_selection_falls_back_only_when_asked_and_no_candidate_passes():
    plan = plan_expansion(PROMPT)
    broken = Generation(" ".join([RESTATES, ADDS, LIGHT]), 5, 10, 30, "length")
    [plain] = select_candidates(plan, [broken], 1)
    assert (plain.generation, plain.verified, plain.fallback) == (broken, None, False)
    [kept] = select_candidates(plan, [broken], 1, fallback=True)
    assert (kept.verified, kept.fallback, kept.generation.seed) == (True, True, 5)
    assert (
        kept.generation.text == f"{RESTATES} {LIGHT}"
        and kept.report == verify_expansion(PROMPT, kept.generation.text)[1]
    )
    good = Generation(RESTATES, 6, 10, 12, "stop")
    [first] = select_candidates(plan, [broken, good], 2, fallback=True)
    assert (first.generation, first.verified, first.fallback) == (good, True, False)
