"""VQA faithfulness: the question graph of a short prompt, P(answer) from the tiny LLaVA checked against the model's
own logits (and batch independence under left padding), and DPG's parent rule wired through the scorer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from expander.rewards.config import VqaConfig
from expander.rewards.prompt_questions import questions_from_prompt, truncate_graph
from expander.rewards.prompt_scorers import PromptRecord, score_by_prompt
from expander.rewards.question_graph import read_dpg_questions
from expander.rewards.vqa import VqaModel, VqaScorer

DPG_CSV = Path(__file__).parent / "data" / "dpg_questions.csv"


@pytest.fixture(scope="module")
def vqa() -> VqaModel:
    return VqaModel.from_pretrained("tiny:vqa", device="cpu")


@pytest.fixture(scope="module")
def images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) for _ in range(2)]


def _q(phrase: str) -> str:
    return f"Does this figure show '{phrase}'?"


def test_a_short_prompt_becomes_entities_first_then_their_facts_with_parents():
    graph = questions_from_prompt("three apples on a wooden table")
    id_of = {q.text: q.id for q in graph.questions}
    parents = {q.text: q.parents for q in graph.questions}
    apples, table = id_of[_q("apples")], id_of[_q("table")]
    assert {apples, table} == {1, 2} and parents[_q("apples")] == parents[_q("table")] == ()  # entities first
    assert parents[_q("three apples")] == (apples,)
    assert parents[_q("wooden table")] == (table,)
    assert parents[_q("apples on a wooden table")] == (apples, table)
    assert all(p < q.id for q in graph.questions for p in q.parents)  # the parent rule runs in order
    assert {q.category for q in graph.questions} >= {"subject", "count", "attribute", "spatial"}
    street = questions_from_prompt('an empty street in the rain, no people, a sign that says "OPEN"', "Q: {text}")
    asked = {q.text: q.negated for q in street.questions}
    assert asked["Q: people"] is True and len(asked) == len(street.questions)  # "empty", "no people": one question
    assert asked['Q: the text "OPEN"'] is False
    assert [q.text for q in questions_from_prompt("sunset").questions] == ["Does this figure show 'sunset'?"]
    assert [q.id for q in truncate_graph(graph, 3).questions] == [1, 2, 3]


def test_answer_probability_is_the_models_next_token_probability_and_batch_independent(vqa, images):
    question = "Does this figure show 'a fox'? Please answer yes or no."
    inputs = vqa.processor(text=[vqa.prompt_text(question)], images=images[:1], return_tensors="pt")
    with torch.inference_mode():
        logits = vqa.model(**inputs).logits[0, -1].float()
    [yes] = vqa.answer_ids.tolist()  # "Yes" is one SmolLM2 token
    expected = torch.softmax(logits, -1)[yes].item()
    longer = "Does this figure show 'two foxes in the snow at dawn'? Please answer yes or no."
    batched = vqa.answer_probability([images[1], images[0]], [longer, question], batch_size=8)  # left-padded
    assert batched[1] == pytest.approx(expected, rel=1e-4)
    assert vqa.answer_probability(images[:1], [question])[0] == pytest.approx(expected, rel=1e-4)


def test_a_multi_token_answer_is_the_product_of_its_teacher_forced_tokens(images):
    two = VqaModel.from_pretrained("tiny:vqa", device="cpu", answer="Yes indeed")
    assert two.answer_ids.numel() == 2
    question = "Is it?"
    inputs = two.processor(text=[two.prompt_text(question) + "Yes indeed"], images=images[:1], return_tensors="pt")
    with torch.inference_mode():
        logp = torch.log_softmax(two.model(**inputs).logits[0].float(), -1)
    a, b = two.answer_ids.tolist()
    expected = (logp[-3, a] + logp[-2, b]).exp().item()
    assert two.answer_probability(images[:1], [question])[0] == pytest.approx(expected, rel=1e-4)


def test_dpg_questions_go_through_the_parent_rule_and_every_question_is_kept(vqa, images):
    graph = read_dpg_questions(DPG_CSV)["COCOval2014000000010363"]  # cat (1), sofa (2), cat on sofa [1, 2]
    record = PromptRecord("a cat on a sofa", "COCOval2014000000010363", questions=graph)
    soft = VqaScorer(vqa, VqaConfig(model="tiny:vqa", fail_below=0.5)).score(images, record)
    upstream = VqaScorer(vqa, VqaConfig(model="tiny:vqa", fail_below=None)).score(images, record)
    for s, u in zip(soft, upstream):
        p = [item["p_answer"] for item in s.items]
        assert [i["question"] for i in s.items] == [q.text for q in graph.questions]
        assert all(0 < x < 0.01 for x in p)  # a random tiny model: P("Yes") near 1/vocabulary
        # Parents below 0.5 fail: the relation scores 0 and is marked invalid; upstream's rule zeroes only at 0.
        assert [i["valid"] for i in s.items] == [True, True, False] and s.items[2]["score"] == 0
        assert s.score == pytest.approx((p[0] + p[1]) / 3, rel=1e-4)
        assert [i["valid"] for i in u.items] == [True, True, True] and u.score == pytest.approx(np.mean(p), rel=1e-4)
    hard = VqaScorer(vqa, VqaConfig(model="tiny:vqa", hard_answers=True, fail_below=None))
    [street] = hard.score(images[:1], PromptRecord("an empty street, no people"))
    answers = {i["question"]: i["answer"] for i in street.items}
    assert answers["Does this figure show 'people'?"] == 1.0  # negated: 1 - P("Yes") >= 0.5
    assert answers["Does this figure show 'street'?"] == 0.0


def test_rows_of_several_prompts_are_scored_per_prompt_with_none_for_a_missing_image(vqa, images):
    scorer = VqaScorer(vqa, VqaConfig(model="tiny:vqa"))
    records = [PromptRecord("a red fox"), PromptRecord("a red fox"), PromptRecord("two cats")]
    scores, failed = score_by_prompt(scorer, [images[0], images[1], None], records)
    assert failed == 0 and scores[2] is None
    alone = scorer.score([images[1]], PromptRecord("a red fox"))[0]
    assert scores[1].score == pytest.approx(alone.score, rel=1e-4)
    asked = [(q["question"], q["parents"]) for q in json.loads(scores[0].items_json())]
    assert asked[0] == (_q("fox"), []) and (_q("red fox"), [1]) in asked  # "two cats" is not asked of the fox


def test_the_vqa_reward_is_an_image_reward_logged_under_its_name():
    from expander.rewards import load_rewards_config
    from expander.rewards.registry import needs_images, reward_layout

    cfg = load_rewards_config(DPG_CSV.parents[3] / "configs/rewards/text.yaml", ["--rewards", "faithfulness_vqa"])
    assert needs_images(cfg) and reward_layout(cfg)[0] == ["faithfulness_vqa", "gate"]
