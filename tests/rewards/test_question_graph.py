"""DPG-Bench's question-graph rule and file readers, each verdict worked out from upstream's code.

"L<n>" is a line of TencentQQGYLab/ELLA `dpg_bench/compute_dpg_bench.py` @ 3c228f1d. The question file is a
hand-written stand-in with upstream's columns (`data/dpg_questions.csv`): its item "0" has the chain
2 (cabbages) -> 4 (green) -> 7 (crinkled leaves) and a two-parent question 6 (in the field: 1 and 2).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from expander.rewards.benchmark_data import BenchmarkDataError, read_dpg_prompts
from expander.rewards.question_graph import (
    Question,
    QuestionGraph,
    answer_score,
    read_dpg_questions,
    score_graph,
    score_item,
    summarize_dpg,
)

REPO = Path(__file__).resolve().parents[2]
QUESTIONS = Path(__file__).parent / "data" / "dpg_questions.csv"
PROMPTS = REPO / "data/prompts/dpg_bench/prompts.jsonl"
HEADER = (
    "item_id,text,keywords,proposition_id,dependency,category_broad,category_detailed,tuple,question_natural_language\n"
)
ALL_YES = {q: 1.0 for q in range(1, 8)}


@pytest.fixture(scope="module")
def graphs():
    return read_dpg_questions(QUESTIONS)


def test_the_reader_keeps_upstream_ids_order_parents_and_categories(graphs):
    assert list(graphs) == ["0", "COCOval2014000000010363"]
    cabbages = graphs["0"].questions
    assert [q.id for q in cabbages] == [1, 2, 3, 4, 5, 6, 7]
    # L78-82: "1,2" -> [1, 2]; "0" means no parent and is dropped here.
    assert cabbages[0].parents == () and cabbages[5].parents == (1, 2)
    assert graphs["COCOval2014000000010363"].questions[2].parents == (1, 2)  # "1, 2": spaces stripped (L81)
    assert cabbages[4].text == "Are the cabbages round, like balls?"  # a quoted comma stays in the text
    # L209 / L232: L2 = the tuple before "(", L1 = that before "-".
    assert cabbages[2].category == "other - count" and cabbages[2].category_l1 == "other"
    assert (cabbages[2].category_broad, cabbages[2].category_detailed, cabbages[2].row) == ("other", "count", 3)


def test_a_question_whose_parent_failed_scores_zero_and_the_zero_cascades(graphs):
    # L140-150: q2 "no" zeroes its children 3, 4, 5 and 6 (parents 1,2); q4 is now 0, so q7 (parent 4) is
    # zeroed too, because upstream checks parents against scores already zeroed, in file order.
    result = score_graph(graphs["0"], {**ALL_YES, 2: False})
    assert result.scores == {1: 1.0, 2: 0.0, 3: 0.0, 4: 0.0, 5: 0.0, 6: 0.0, 7: 0.0}
    assert result.answers == {**ALL_YES, 2: 0.0}  # upstream's qid2scores_orig (L138)
    assert result.valid == {1: True, 2: True, 3: False, 4: False, 5: False, 6: False, 7: False}
    assert result.score == pytest.approx(1 / 7)  # L155: mean over all questions
    # One parent of two failing is enough (L143-148): q1 "no" zeroes q6 only.
    result = score_graph(graphs["0"], {**ALL_YES, 1: 0})
    assert result.scores == {**ALL_YES, 1: 0.0, 6: 0.0} and result.score == pytest.approx(5 / 7)
    # A child answered "no" does not touch its parent; all "yes" scores 1.
    assert score_graph(graphs["0"], {**ALL_YES, 7: 0}).score == pytest.approx(6 / 7)
    assert score_graph(graphs["0"], ALL_YES).score == 1.0


def test_parents_are_checked_in_file_order_as_upstream_does():
    # Child 3 is listed before its parent 2: when L140 reaches 3, q2 still holds its own "yes", so q3 keeps 1
    # even though q2 is zeroed right after by its failed parent q1.
    graph = QuestionGraph(
        "x",
        (
            Question(3, (2,), "Is the dog brown?", "attribute - color (dog, brown)"),
            Question(2, (1,), "Is there a dog?", "entity - whole (dog)"),
            Question(1, (), "Is there a park?", "entity - whole (park)"),
        ),
    )
    result = score_graph(graph, {1: 0, 2: 1, 3: 1})
    assert result.scores == {3: 1.0, 2: 0.0, 1: 0.0} and result.score == pytest.approx(1 / 3)


def test_a_parent_fails_only_at_exactly_zero_unless_a_threshold_is_given(graphs):
    # L146 `== 0`: a soft P(yes) of 0.3 never fails a parent; `fail_below=0.5` makes it fail.
    soft = {**ALL_YES, 2: 0.3}
    assert score_graph(graphs["0"], soft).scores[3] == 1.0
    assert score_graph(graphs["0"], soft, fail_below=0.5).scores[3] == 0.0


def test_answers_score_one_only_for_exactly_yes():
    # L135: float(answer == 'yes'), no normalisation.
    assert [answer_score(a) for a in ["yes", "Yes", "yes ", "no", ""]] == [1.0, 0.0, 0.0, 0.0, 0.0]


def test_answers_must_cover_the_questions_exactly(graphs):
    with pytest.raises(BenchmarkDataError, match=r"missing for questions \[7\]"):
        score_graph(graphs["0"], {q: 1 for q in range(1, 7)})
    with pytest.raises(BenchmarkDataError, match=r"extra for \[8\]"):
        score_graph(graphs["0"], {**ALL_YES, 8: 1})


def test_a_prompt_scores_the_mean_over_its_images_and_the_summary_is_x100(graphs):
    cat = graphs["COCOval2014000000010363"]
    # L130-157: tile scores 1, 1/3 (q1 "no" zeroes q3), 2/3 (q3 "no"), 0 (q1, q2 "no") -> mean 0.5.
    tiles = [{1: 1, 2: 1, 3: 1}, {1: 0, 2: 1, 3: 1}, {1: 1, 2: 1, 3: 0}, {1: 0, 2: 0, 3: 1}]
    item = score_item(cat, tiles)
    assert [image.score for image in item.images] == pytest.approx([1, 1 / 3, 2 / 3, 0])
    assert item.score == pytest.approx(0.5)
    cabbage = score_item(graphs["0"], [ALL_YES] * 4)
    summary = summarize_dpg([item, cabbage])
    assert summary.items == 2 and summary.score == pytest.approx(75.0)  # L219, L249: mean over prompts x 100
    # L138/L203-211: categories use the LAST tile's answers before the parent rule, so the cat's q3 counts 1
    # although its score on that tile was zeroed. entity - whole: cat 0, sofa 0, field 1, cabbages 1 -> 50.
    assert summary.l2["entity - whole"] == pytest.approx(50.0)
    assert summary.l2["relation - spatial"] == pytest.approx(100.0)
    assert list(summary.l2) == sorted(summary.l2)  # printed sorted (L244)
    assert summary.l1 == pytest.approx({"entity": 50.0, "other": 100.0, "attribute": 100.0, "relation": 100.0})


def test_dropping_the_first_row_as_upstream_does_orphans_its_children():
    # L72-74 skip data row 1 (item "0", q1); q6 depends on it, so upstream's L146 raises KeyError and drops the
    # image. The reader allows it only in this mode, and scoring then names the missing parent.
    dropped = read_dpg_questions(QUESTIONS, drop_first_row=True)
    assert [q.id for q in dropped["0"].questions] == [2, 3, 4, 5, 6, 7]
    with pytest.raises(BenchmarkDataError, match="question 6 depends on 1"):
        score_graph(dropped["0"], {q: 1 for q in range(2, 8)})
    assert score_graph(dropped["COCOval2014000000010363"], {1: 1, 2: 1, 3: 1}).score == 1.0


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("x,t,k,1,0,entity,whole,entity - whole (a),Is there a?\nx,t,k,two,1,e,w,e - w (b),Is there b?\n",
         r"row 2 \(line 3\), column 'proposition_id': not an integer: 'two'"),
        ("x,t,k,1,,entity,whole,entity - whole (a),Is there a?\n", r"row 1 \(line 2\), column 'dependency': empty"),
        ("x,t,k,1,0;2,entity,whole,entity - whole (a),Is there a?\n", r"column 'dependency': not comma-separated"),
        ("x,t,k,1,0,e,w,e - w (a),A?\ny,t,k,1,0,e,w,e - w (b),B?\nx,t,k,2,1,e,w,e - w (c),C?\n",
         r"row 3 \(line 4\), column 'item_id': rows of item 'x' are not contiguous"),
        ("x,t,k,1,0,e,w,e - w (a),A?\nx,t,k,1,0,e,w,e - w (b),B?\n", r"row 2 .*'proposition_id': 1 repeats"),
        ("x,t,k,1,0,e,w,e - w (a),A?\nx,t,k,2,3,e,w,e - w (b),B?\n", r"row 2, column 'dependency': parent 3 is not"),
    ],
)  # fmt: skip
def test_bad_question_files_name_the_file_row_and_column(tmp_path, rows, message):
    path = tmp_path / "dpg.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    with pytest.raises(BenchmarkDataError, match=message) as info:
        read_dpg_questions(path)
    assert str(path) in str(info.value)


def test_a_question_file_without_the_scored_columns_or_at_all_is_refused(tmp_path):
    path = tmp_path / "dpg.csv"
    path.write_text("item_id,proposition_id,question\nx,1,Is there a?\n", encoding="utf-8")
    with pytest.raises(BenchmarkDataError, match="missing column.*dependency, tuple, question_natural_language"):
        read_dpg_questions(path)
    with pytest.raises(BenchmarkDataError, match="dpg_bench.csv"):
        read_dpg_questions(tmp_path / "missing.csv")


def test_the_shipped_prompts_are_upstreams_1065_files_byte_for_byte():
    prompts = read_dpg_prompts(PROMPTS)
    assert len(prompts) == 1065 and len({p.id for p in prompts}) == 1065
    assert prompts[0].id == "0" and prompts[0].text.startswith("An expansive field, blanketed by the soft light")
    assert sum(p.id.isdigit() for p in prompts) == 299  # the rest are "partiprompts12", "COCOval2014...", ...
    # Rebuild the git tree of upstream's dpg_bench/prompts/ from the lines: each entry is
    # "100644 <id>.txt\0<blob sha1>", sorted by name; it must hash to the tree at ELLA 3c228f1d.
    entries = []
    for p in prompts:
        data = p.text.encode("utf-8")
        blob = hashlib.sha1(b"blob %d\0" % len(data) + data).digest()
        entries.append((f"{p.id}.txt".encode(), blob))
    body = b"".join(b"100644 " + name + b"\0" + blob for name, blob in sorted(entries))
    assert hashlib.sha1(b"tree %d\0" % len(body) + body).hexdigest() == "ac3ba27bf2e1c3ec189fe2e00681f75f4b78d683"


def test_a_bad_prompt_line_names_the_line_and_key(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"id": "0", "prompt": "a cat"}\n{"id": "0", "prompt": "a dog"}\n', encoding="utf-8")
    with pytest.raises(BenchmarkDataError, match=r"prompts.jsonl:2: id '0' repeats line 1"):
        read_dpg_prompts(path)
    path.write_text('{"id": "0"}\n', encoding="utf-8")
    with pytest.raises(BenchmarkDataError, match=r"prompts.jsonl:1: key 'prompt'"):
        read_dpg_prompts(path)
