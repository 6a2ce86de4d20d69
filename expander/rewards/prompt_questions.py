"""A DSG-style question graph from a SHORT prompt, built on the constraint extractor (`expander.constraints`).

    graph = questions_from_prompt("three apples on a wooden table")
    # 1 apples · 2 table (entities, no parent) · 3 three apples [1] · 4 apples on a wooden table [1, 2]
    # · 5 wooden table [2]          (each asked as "Does this figure show '<phrase>'?")

What the prompt pins down becomes one yes/no question per fact, each phrase cut from the prompt itself, so the
question says what the user said:

* `subject` -> an entity question ("apples"), no parent; entities come first, so every parent precedes its
  children (DPG's rule is applied in order);
* `count`, `color`, an `attribute` bound to an object -> its phrase ("three apples", "red fox", "wooden table"),
  parent: that object's entity; a scene attribute ("at night") has no parent;
* `spatial` -> the relation's phrase ("apples on a wooden table"), parents: both objects' entities;
* `quoted_text` -> `the text "OPEN LATE"`; `style`, `viewpoint` -> their phrase ("watercolor", "close-up");
* `negation` -> the excluded thing ("people") as a `negated` question: it scores 1 - P(yes).

Soft constraints (opinion words) are left out: no VLM can be asked whether an image is "beautiful". A prompt that
pins nothing down gets one question: the whole prompt (VQAScore proper). Questions repeating an earlier phrase are
dropped. The graph then feeds `question_graph.score_graph`, exactly as DPG-Bench's own questions do.
"""

from __future__ import annotations

from expander.rewards.question_graph import Question, QuestionGraph

__all__ = ["DEFAULT_QUESTION_TEMPLATE", "questions_from_prompt", "truncate_graph"]

DEFAULT_QUESTION_TEMPLATE = "Does this figure show '{text}'?"  # VQAScore's question, before its instruction
_ORDER = ("subject", "count", "color", "attribute", "spatial", "quoted_text", "style", "viewpoint", "negation")


def _phrase(constraint) -> str:
    kind, text = constraint.kind, constraint.text.strip()
    if kind == "quoted_text":
        return f'the text "{constraint.value}"'
    if kind == "negation":
        return str(constraint.value or text)
    if kind == "attribute" and constraint.binds_to and constraint.binds_to not in text:
        return f"{text} {constraint.binds_to}"
    return text


def questions_from_prompt(
    prompt: str, template: str = DEFAULT_QUESTION_TEMPLATE, item_id: str | None = None
) -> QuestionGraph:
    """The question graph of `prompt` (see the module docstring).

    Args:
        prompt: the SHORT prompt.
        template: the question of a phrase; `{text}` is replaced by it.
        item_id: the graph's id (default: the prompt).

    Raises:
        MissingExtraError: the `constraints` extra is not installed.
    """
    from expander.constraints import extract, require_constraints

    require_constraints()
    constraints = [c for c in extract(prompt) if c.hard]
    constraints.sort(key=lambda c: (_ORDER.index(c.kind) if c.kind in _ORDER else len(_ORDER), c.span))
    questions: list[Question] = []
    entity_of: dict[str, int] = {}  # object noun -> the id of its entity question
    seen: set[tuple[str, bool]] = set()
    for c in constraints:
        phrase = _phrase(c)
        negated = c.kind == "negation"
        if not phrase or (phrase.lower(), negated) in seen:
            continue
        seen.add((phrase.lower(), negated))
        qid = len(questions) + 1
        if c.kind == "subject":
            for noun in (c.value, phrase.split()[-1], phrase):
                if noun:
                    entity_of.setdefault(noun.lower(), qid)
            parents: tuple[int, ...] = ()
        else:
            objects = (c.binds_to, c.target) if c.kind == "spatial" else (c.binds_to,)
            parents = tuple(dict.fromkeys(p for o in objects if o and (p := entity_of.get(o.lower())) is not None))
        questions.append(
            Question(
                id=qid,
                parents=parents,
                text=template.format(text=phrase),
                proposition=f"{c.kind} ({phrase})",
                negated=negated,
            )
        )
    if not questions:
        text = prompt.strip()
        questions.append(Question(id=1, parents=(), text=template.format(text=text), proposition=f"prompt ({text})"))
    return QuestionGraph(item_id if item_id is not None else prompt, tuple(questions))


def truncate_graph(graph: QuestionGraph, max_questions: int) -> QuestionGraph:
    """The first `max_questions` questions of a graph whose parents precede their children (as
    `questions_from_prompt` builds them), so every kept question keeps its parents."""
    if len(graph.questions) <= max_questions:
        return graph
    return QuestionGraph(graph.item_id, graph.questions[:max_questions])
