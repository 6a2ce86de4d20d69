"""One sentence splitter for the fallback, the Krea 2 prompt fitter and the added-negation check."""

from __future__ import annotations

import pytest

from expander.sentences import CLAUSE_MARKS, SENTENCE_MARKS, split_sentences


def test_splits_after_a_mark_and_whitespace_only():
    text = "A fox in 3.5 m of snow.  Is it cold?\nYes! e.g.,nothing else"
    assert split_sentences(text) == ["A fox in 3.5 m of snow.", "Is it cold?", "Yes!", "e.g.,nothing else"]


def test_clauses_and_semicolons():
    assert split_sentences("red, blue; green: end", CLAUSE_MARKS) == ["red,", "blue;", "green:", "end"]
    assert split_sentences("No cars; a dog runs. Done", SENTENCE_MARKS + ";") == ["No cars;", "a dog runs.", "Done"]
    assert split_sentences("No cars; a dog runs. Done") == ["No cars; a dog runs.", "Done"]


def test_empty_text_and_bad_marks():
    assert split_sentences("   ") == []
    with pytest.raises(ValueError, match="marks"):
        split_sentences("a. b", "")


def test_added_negations_reads_semicolon_clauses_alone():
    pytest.importorskip("lemminflect")
    from expander.constraints import added_negations

    expansion = "A lone tree on a hill; there are no boats. The sky is 3.5 km high."
    found = added_negations("a lone tree on a hill", expansion)
    assert [a.value for a in found] == ["boats"]
