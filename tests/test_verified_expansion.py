"""The expansion contract enforced in the shared expansion core: verified candidates, languages, thinking."""

from __future__ import annotations

import pytest

from expander.engine import Generation, SamplingParams, candidate_seed, chat_ids, create_engine, load_tokenizer
from expander.errors import ConfigError
from expander.expand import expand_prompts, plan_expansion, select_candidates, verify_expansion
from expander.models import chat_template_kwargs, model_languages
from expander.prompts import build_messages

PROMPTS = ["a red fox in snow", "a lighthouse at night"]
WORDS = 40


@pytest.fixture(scope="module")
def engine(builtin_model_dir):
    with create_engine("smollm2-135m", backend="transformers", adapter=None) as eng:
        yield eng


def test_candidate_seeds_start_at_the_plain_seed_and_never_collide():
    params = SamplingParams(n=3, seed=100, candidates=3)
    seeds = params.seeds()
    assert seeds[0::3] == [100, 101, 102]  # candidate 0 of expansion i is seed + i
    assert len(set(seeds)) == 9
    assert seeds[1] == candidate_seed(100, 1) != candidate_seed(101, 1)
    with pytest.raises(ConfigError, match="candidates must be >= 1"):
        SamplingParams(candidates=0)


def test_the_one_selection_rule_passing_first_then_score_then_within_budget_then_draw_order():
    plan = plan_expansion(PROMPTS[0], max_words=WORDS)
    fox, whale = "A red fox in deep snow, soft winter light.", "A blue whale in a desert at noon."
    half, third = "A red fox in a desert.", "A fox in a desert."  # both fail; scores 2/3 and 1/3

    def gen(text: str, seed: int, finish: str = "stop") -> Generation:
        return Generation(text, seed, 1, 1, finish)

    drawn = [gen(whale, 0), gen(fox, 1)]  # the passing candidate, though drawn second
    drawn += [gen(third, 2), gen(half, 3)]  # none passes: the best score
    drawn += [gen(fox, 4, "length"), gen(fox, 5)]  # equal: the one that ended within the budget
    drawn += [gen(fox, 6), gen(fox, 7)]  # equal in every way: draw order
    choices = select_candidates(plan, drawn, 2)
    assert [c.generation.seed for c in choices] == [1, 3, 5, 6]
    assert [c.verified for c in choices] == [True, False, True, True]
    assert choices[1].report == verify_expansion(PROMPTS[0], half)[1]  # the kept text's own report
    # One candidate is not verified unless asked (the server's resample asks).
    assert [(c.verified, c.report) for c in select_candidates(plan, drawn[:2], 1)] == [(None, None)] * 2
    [alone] = select_candidates(plan, [gen(whale, 0)], 1, verify=True)
    assert (alone.verified, alone.report) == (False, verify_expansion(PROMPTS[0], whale)[1])


def test_one_candidate_is_the_plain_expansion_verified_only_for_the_fallback(engine):
    [[plain]] = expand_prompts(engine, PROMPTS[:1], seed=7, max_words=WORDS, fallback=False)
    [[one]] = expand_prompts(engine, PROMPTS[:1], seed=7, max_words=WORDS, candidates=1, fallback=False)
    assert one.text == plain.text and one.attempts == 1 and one.verified is None
    # The default (the fallback on, the constraints extra being installed) verifies the lone sample: the same
    # text when it passes, else the fallback built from it.
    [[checked]] = expand_prompts(engine, PROMPTS[:1], seed=7, max_words=WORDS)
    assert checked.verified is True and checked.report == verify_expansion(PROMPTS[0], checked.text)[1]
    assert checked.text == plain.text if verify_expansion(PROMPTS[0], plain.text)[0] else checked.fallback


def test_verified_expansion_keeps_a_passing_candidate_when_there_is_one(engine):
    k, words = 3, 20  # short: 6 batched samples, then each drawn again on its own
    rows = expand_prompts(engine, PROMPTS, seed=11, n=1, max_words=words, candidates=k, fallback=False)
    # Deterministic: each kept text is one of its candidates, drawn again one by one with their own seeds.
    for prompt, row in zip(PROMPTS, rows):
        for i, exp in enumerate(row):
            assert exp.attempts == k and exp.seed == 11 + i
            assert exp.report is not None and "added" in exp.report
            texts = []
            for j in range(k):
                seed = candidate_seed(11 + i, j)
                [[alone]] = expand_prompts(engine, [prompt], seed=seed, max_words=words, fallback=False)
                texts.append(alone.text)
            assert exp.text in texts
            passing = [t for t in texts if verify_expansion(prompt, t)[0]]
            assert exp.verified == bool(passing)
            if passing:
                assert verify_expansion(prompt, exp.text)[0]


def test_a_prompt_in_an_unsupported_language_comes_back_unchanged_without_a_model_call():
    rows = expand_prompts(
        None,
        ["un zorro rojo en la nieve", "雪の中の赤いキツネ"],
        seed=3,
        n=2,
        languages=model_languages("smollm2-135m"),
    )
    for prompt, row in zip(["un zorro rojo en la nieve", "雪の中の赤いキツネ"], rows):
        assert [e.text for e in row] == [prompt, prompt]
        assert {e.finish_reason for e in row} == {"language_unsupported"}
        assert [e.seed for e in row] == [3, 4]
    assert [rows[0][0].language, rows[1][0].language] == ["es", "ja"]


def test_english_and_undetermined_prompts_are_expanded_and_report_their_language(engine):
    rows = expand_prompts(engine, ["a red fox in snow", "ramen"], seed=1, max_words=WORDS, languages=("en",))
    assert [r[0].language for r in rows] == ["en", "und"]
    assert all(r[0].finish_reason in ("stop", "length") and r[0].text for r in rows)


def test_a_multilingual_model_is_asked_to_write_in_the_prompt_language():
    messages = build_messages("un zorro rojo en la nieve", language="es")
    assert "'es'" in messages[0]["content"]
    assert build_messages("a fox", language="en") == build_messages("a fox")
    assert model_languages("some/hub-model") == ("en",) and model_languages("x", ["es", "EN"]) == ("es", "en")


QWEN3_STYLE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)


def test_thinking_is_switched_off_through_every_chat_template_call(builtin_model_dir):
    tok = load_tokenizer(builtin_model_dir)
    conv = build_messages("a red fox in snow")
    plain = chat_ids(tok, conv)
    assert chat_template_kwargs(tok) == {}  # SmolLM2's template has no switch: nothing is passed
    tok.chat_template = QWEN3_STYLE
    assert chat_template_kwargs(tok) == {"enable_thinking": False}
    off, on = chat_ids(tok, conv), chat_ids(tok, conv, enable_thinking=True)
    assert tok.decode(off).endswith("<think>\n\n</think>\n\n") and not tok.decode(on).endswith("</think>\n\n")
    assert len(plain) > 0
