"""Splitting an expansion into sentences (or clauses): one rule for every module that cuts text apart.

An expansion is split where a sentence mark is followed by whitespace, so "3.5 m", "e.g.," inside a word run and
a URL stay whole, and each piece keeps its closing mark. The faithful fallback (`expander.expand`) keeps whole
sentences, the Krea 2 prompt fitter (`expander.targets.tokens`) cuts at sentences and then at clauses, and the
added-negation check (`expander.constraints.added_negations`) reads each sentence or semicolon clause alone.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["CLAUSE_MARKS", "SENTENCE_MARKS", "split_sentences"]

SENTENCE_MARKS = ".!?"
CLAUSE_MARKS = ",;:"


@lru_cache(maxsize=8)
def _splitter(marks: str) -> re.Pattern[str]:
    return re.compile(rf"(?<=[{re.escape(marks)}])\s+")


def split_sentences(text: str, marks: str = SENTENCE_MARKS) -> list[str]:
    """The non-empty pieces of `text` split after any of `marks` followed by whitespace, each stripped and keeping
    its mark: `split_sentences("A fox. 3.5 m of snow! ")` is `["A fox.", "3.5 m of snow!"]`.

    Args:
        text: the text to split.
        marks: the characters that end a piece (`SENTENCE_MARKS`; `CLAUSE_MARKS` for clauses; add ";" to read
            semicolon clauses as sentences).

    Raises:
        ValueError: if `marks` is empty.
    """
    if not marks:
        raise ValueError("marks must name at least one character")
    return [piece for piece in (p.strip() for p in _splitter(marks).split(text)) if piece]
