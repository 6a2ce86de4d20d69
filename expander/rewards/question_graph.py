"""DPG-Bench's question-graph rule, as upstream `dpg_bench/compute_dpg_bench.py` scores an image.

Upstream: TencentQQGYLab/ELLA @ 3c228f1dc6c4d3cad0a47493816151a419f14db3 (Apache-2.0; the file is unchanged
since 1cf31cea, "Release DPG-Bench"); "L<n>" cites a line of `dpg_bench/compute_dpg_bench.py` there. The VQA
model is not here: this module takes its answers as numbers (`answer_score` turns mPLUG's text into one).

    graphs = read_dpg_questions("dpg_bench.csv")              # L63-99: item_id -> questions with parents
    one = score_graph(graphs["0"], {1: 1.0, 2: 0.0, ...})     # L132-155: parent rule, mean over questions
    item = score_item(graphs["0"], [answers_image_1, ...])    # L130-157: mean over the 2x2 grid's images
    summarize_dpg([item, ...]).score                          # L218-249: mean over items, x 100

The rule: a question whose parent scored 0 scores 0 (L140-153); an image scores the mean over its questions;
a prompt the mean over its images (upstream: the 4 tiles of its 2x2 grid, `--pic-num 4` in `dist_eval.sh`);
the benchmark the mean over prompts, printed x 100 ("DPG-Bench score", L249).

Upstream details kept on purpose: parents are checked in file order against scores already zeroed, so a
zero cascades down a chain whose parents come first (L140-150); a parent "fails" only at exactly 0 (L146);
the L1/L2 category scores use the answers BEFORE the parent rule, of the LAST image only (L138, L203-211).
Where this differs (opt-in where upstream's own behaviour is odd):
* upstream skips the first data row of the CSV (`if i == 0: continue`, L72-74; pandas has already read the
  header), so one item loses its first question, and an item whose question depends on it raises KeyError and
  is dropped from the mean (L213-215). We read every row; `read_dpg_questions(..., drop_first_row=True)` drops
  it as upstream does, and `score_graph` then raises `BenchmarkDataError` for the missing parent;
* an item whose rows are not contiguous, or a repeated (item, proposition) pair, is an error here; upstream
  silently keeps the last block / the last row (L84-92);
* `fail_below` (off by default) lets soft scores such as P(yes) fail a parent below a threshold;
* with several processes upstream gathers category lists in each rank's `set` order (L221-228), which can
  differ across ranks; `summarize_dpg` pools them, as a single-process run does. The overall score is unaffected.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from expander.files import resolve_data_path
from expander.rewards.benchmark_data import BenchmarkDataError

__all__ = [
    "DPG_CSV_COLUMNS",
    "REQUIRED_COLUMNS",
    "DpgSummary",
    "GraphScore",
    "ItemScore",
    "Question",
    "QuestionGraph",
    "answer_score",
    "read_dpg_questions",
    "score_graph",
    "score_item",
    "summarize_dpg",
]

# L70: the columns of upstream's `dpg_bench.csv`; `REQUIRED_COLUMNS` are the ones its scorer reads.
DPG_CSV_COLUMNS = (
    "item_id",
    "text",
    "keywords",
    "proposition_id",
    "dependency",
    "category_broad",
    "category_detailed",
    "tuple",
    "question_natural_language",
)
REQUIRED_COLUMNS = ("item_id", "proposition_id", "dependency", "tuple", "question_natural_language")


@dataclass(frozen=True)
class Question:
    """One DSG question of a prompt.

    `id` is the `proposition_id`; `parents` the `dependency` ids without upstream's `0` ("no parent");
    `proposition` the DSG tuple (column `tuple`, e.g. `"entity - whole (cabbages)"`); `row` the 1-based data row
    in the CSV, for messages. `negated`: the question asks after something the prompt excludes ("no people" ->
    "... 'people'?"), so its score is 1 - P(yes) (never in DPG's file; `prompt_questions` builds such questions).
    """

    id: int
    parents: tuple[int, ...]
    text: str
    proposition: str
    category_broad: str = ""
    category_detailed: str = ""
    row: int = 0
    negated: bool = False

    @property
    def category(self) -> str:
        """Upstream's L2 category: the tuple before its first "(" (L209), e.g. `"entity - whole"`."""
        return self.proposition.split("(")[0].strip()

    @property
    def category_l1(self) -> str:
        """Upstream's L1 category: the L2 category before its first "-" (L232), e.g. `"entity"`."""
        return self.category.split("-")[0].strip()


@dataclass(frozen=True)
class QuestionGraph:
    """The questions of one prompt, in file order (the order upstream applies the parent rule in)."""

    item_id: str
    questions: tuple[Question, ...]


@dataclass(frozen=True)
class GraphScore:
    """One image's result: `score` = mean of `scores` (L155); `scores` after the parent rule; `answers` before it
    (upstream's `qid2scores_orig`, L138); `valid[q]` False where a parent failed (`qid2validity`, L149-153)."""

    score: float
    scores: dict[int, float]
    answers: dict[int, float]
    valid: dict[int, bool]


@dataclass(frozen=True)
class ItemScore:
    """One prompt's result: `score` = mean over its images (L157), each image's `GraphScore` in order."""

    graph: QuestionGraph
    score: float
    images: tuple[GraphScore, ...]


@dataclass(frozen=True)
class DpgSummary:
    """What upstream prints, on its scale (x 100): `score` the "DPG-Bench score" (L249); `l1` / `l2` the category
    scores (L239-245), `l2` sorted by name as printed, `l1` in order of first appearance."""

    items: int
    score: float
    l1: dict[str, float]
    l2: dict[str, float]


def answer_score(answer: str) -> float:
    """Upstream's score of a VQA answer: 1.0 for exactly `"yes"`, else 0.0 (L135; no stripping, no lower-casing)."""
    return float(answer == "yes")


def score_graph(
    graph: QuestionGraph, answers: Mapping[int, float | bool], *, fail_below: float | None = None
) -> GraphScore:
    """Score one image from its answers, with the parent rule (L138-155).

    Args:
        graph: the prompt's questions.
        answers: proposition id -> score in [0, 1] (`answer_score`, a bool, or a soft P(yes)); one per question.
        fail_below: `None` (upstream): a parent fails when its score is exactly 0. A number: when it is below it.

    Raises:
        BenchmarkDataError: an answer missing or extra, or a parent id that is not a question of the item
            (where upstream raises KeyError and drops the image).
    """
    ids = [q.id for q in graph.questions]
    if not ids:
        raise BenchmarkDataError(f"item {graph.item_id!r} has no questions")
    missing, extra = set(ids) - set(answers), set(answers) - set(ids)
    if missing or extra:
        raise BenchmarkDataError(
            f"item {graph.item_id!r}: answers missing for questions {sorted(missing)}, extra for {sorted(extra)}"
        )
    raw = {q: float(answers[q]) for q in ids}
    scores = dict(raw)
    valid: dict[int, bool] = {}
    for question in graph.questions:
        failed_parent = False
        for parent in question.parents:
            if parent not in scores:
                raise BenchmarkDataError(
                    f"item {graph.item_id!r}: question {question.id} depends on {parent}, which the item lacks"
                )
            parent_score = scores[parent]
            if (parent_score == 0) if fail_below is None else (parent_score < fail_below):
                failed_parent = True
                break
        if failed_parent:
            scores[question.id] = 0.0
        valid[question.id] = not failed_parent
    return GraphScore(score=sum(scores.values()) / len(scores), scores=scores, answers=raw, valid=valid)


def score_item(
    graph: QuestionGraph, answers_per_image: Sequence[Mapping[int, float | bool]], *, fail_below: float | None = None
) -> ItemScore:
    """Score one prompt over its images (the tiles of its grid, in upstream's crop order, L111-118): the mean of
    `score_graph` over images (L157)."""
    if not answers_per_image:
        raise BenchmarkDataError(f"item {graph.item_id!r}: no images to score")
    images = tuple(score_graph(graph, answers, fail_below=fail_below) for answers in answers_per_image)
    return ItemScore(graph=graph, score=sum(image.score for image in images) / len(images), images=images)


def summarize_dpg(items: Iterable[ItemScore]) -> DpgSummary:
    """The benchmark's scores over scored prompts (L217-249), x 100 as upstream prints them.

    `score`: mean over items of `ItemScore.score`. Categories pool, over every item, each question's answer on
    the item's LAST image BEFORE the parent rule (upstream returns `qid2scores_orig` of the last crop, L138/L160).
    """
    items = list(items)
    if not items:
        raise ValueError("no DPG-Bench items to summarize")
    by_l2: dict[str, list[float]] = {}
    for item in items:
        last = item.images[-1].answers
        for question in item.graph.questions:
            by_l2.setdefault(question.category, []).append(last[question.id])
    by_l1: dict[str, list[float]] = {}
    for category, values in by_l2.items():
        by_l1.setdefault(category.split("-")[0].strip(), []).extend(values)
    return DpgSummary(
        items=len(items),
        score=float(np.mean([item.score for item in items])) * 100,
        l1={name: float(np.mean(values)) * 100 for name, values in by_l1.items()},
        l2={name: float(np.mean(by_l2[name])) * 100 for name in sorted(by_l2)},
    )


def read_dpg_questions(path: str | Path, *, drop_first_row: bool = False) -> dict[str, QuestionGraph]:
    """Read a DPG-Bench question file (upstream's `dpg_bench.csv` columns, `DPG_CSV_COLUMNS`) into graphs by item id.

    Needs the `REQUIRED_COLUMNS`; `category_broad` / `category_detailed` are kept when present. Each item's rows
    must be contiguous; `dependency` is a comma-separated list of proposition ids, `0` meaning none (L78-82).

    Args:
        path: the CSV (UTF-8, header row first).
        drop_first_row: skip the first data row as upstream's reader does (L72-74), to reproduce its numbers.

    Raises:
        BenchmarkDataError: naming the file, the data row (1-based) and the column: a missing file or column, an
            empty or non-integer id, a repeated item block or proposition id, a parent that is not in the item.
    """
    path = resolve_data_path(path)
    if not path.is_file():
        raise BenchmarkDataError(f"{path}: DPG-Bench question file not found (upstream: dpg_bench/dpg_bench.csv)")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise BenchmarkDataError(f"{path}: missing column(s) {', '.join(missing)}; has {reader.fieldnames}")
        blocks: dict[str, list[Question]] = {}
        previous = None
        for row_number, row in enumerate(reader, 1):
            if drop_first_row and row_number == 1:
                continue
            where = f"{path}: row {row_number} (line {reader.line_num})"
            question = _question(row, row_number, where)
            item_id = row["item_id"].strip()
            if item_id != previous and item_id in blocks:
                raise BenchmarkDataError(f"{where}, column 'item_id': rows of item {item_id!r} are not contiguous")
            block = blocks.setdefault(item_id, [])
            if any(q.id == question.id for q in block):
                raise BenchmarkDataError(f"{where}, column 'proposition_id': {question.id} repeats in item {item_id!r}")
            block.append(question)
            previous = item_id
    graphs = {item_id: QuestionGraph(item_id, tuple(block)) for item_id, block in blocks.items()}
    if not drop_first_row:  # upstream's dropped row can orphan its children; `score_graph` reports those
        for graph in graphs.values():
            ids = {q.id for q in graph.questions}
            for q in graph.questions:
                for parent in q.parents:
                    if parent not in ids:
                        raise BenchmarkDataError(
                            f"{path}: row {q.row}, column 'dependency': parent {parent} is not a proposition of"
                            f" item {graph.item_id!r}"
                        )
    return graphs


def _question(row: Mapping[str, str | None], row_number: int, where: str) -> Question:
    for column in REQUIRED_COLUMNS:
        if not (row.get(column) or "").strip():
            raise BenchmarkDataError(f"{where}, column {column!r}: empty")
    try:
        qid = int(row["proposition_id"].strip())
    except ValueError:
        raise BenchmarkDataError(
            f"{where}, column 'proposition_id': not an integer: {row['proposition_id']!r}"
        ) from None
    try:
        dependency = [int(d.strip()) for d in row["dependency"].split(",")]
    except ValueError:
        raise BenchmarkDataError(
            f"{where}, column 'dependency': not comma-separated integers: {row['dependency']!r}"
        ) from None
    return Question(
        id=qid,
        parents=tuple(d for d in dependency if d != 0),
        text=row["question_natural_language"],
        proposition=row["tuple"],
        category_broad=(row.get("category_broad") or "").strip(),
        category_detailed=(row.get("category_detailed") or "").strip(),
        row=row_number,
    )
