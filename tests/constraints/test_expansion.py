"""The expansion side (`expander.constraints.expansion`): where an expansion mentions a word, what reintroduces
a negated thing, and the noun phrase before a mention."""

from __future__ import annotations

from expander.constraints.expansion import ExpansionDoc, negation_targets, span_words, window_back
from expander.constraints.tables import COUNT_THROUGH


def _words_at(doc: ExpansionDoc, positions: list[int]) -> list[str]:
    return [doc.words[k] for k in positions]


def test_find_accepts_forms_concept_members_and_words_built_on_it():
    doc = ExpansionDoc("A sleepy puppy naps on a snowy porch. A gentleman waves.")
    assert _words_at(doc, doc.find("dog")) == ["puppy"]  # a concept name accepts its members
    assert _words_at(doc, doc.find("snow")) == ["snowy"]  # a longer word built on it
    assert _words_at(doc, doc.find("man")) == ["gentleman"]
    assert doc.find("woman") == []  # "man" and "woman" are concepts of their own
    assert doc.clause[doc.words.index("gentleman")] == 1  # clauses end at sentence punctuation


def test_a_specific_word_accepts_its_general_name_but_not_its_siblings():
    assert ExpansionDoc("a loyal dog").find("puppy")  # puppy -> dog
    assert ExpansionDoc("a fluffy poodle on a rug").find("puppy") == []  # poodle is a sibling, not a puppy
    assert ExpansionDoc("a tabby cat on a rug").find("dog") == []  # two concepts never match, whatever MiniLM says


def test_a_less_word_does_not_mention_its_stem():
    assert ExpansionDoc("a snowless field").find("snow") == []


def test_negation_targets_cover_every_word_of_the_concepts():
    people = negation_targets("people")
    assert {"woman", "crowd", "hiker", "children"} <= people
    # The whole class ("no other vehicles" sets a truck apart); the negation check itself excludes only the thing
    # and its kinds (`negation.excluded_forms`, tests/constraints/test_negation.py).
    assert {"car", "automobile", "truck"} <= negation_targets("cars")


def test_window_back_is_the_noun_phrase_before_a_mention():
    doc = ExpansionDoc("in the box sit the three red apples")
    assert _words_at(doc, window_back(doc, doc.words.index("apples"), 6)) == ["red", "three", "the"]
    doc = ExpansionDoc("on the table. three red apples")
    assert _words_at(doc, window_back(doc, doc.words.index("apples"), 6)) == ["red", "three"]
    doc = ExpansionDoc("a pair of over-ear headphones")
    at = doc.words.index("headphones")
    assert _words_at(doc, window_back(doc, at, 6)) == ["ear", "over"]  # "of" ends a phrase ...
    assert _words_at(doc, window_back(doc, at, 6, through=COUNT_THROUGH)) == ["ear", "over", "of", "pair", "a"]


def test_span_words_are_the_normal_form_tokens():
    assert span_words("A Blue-Grey Colour") == ["a", "blue", "gray", "color"]
    assert ExpansionDoc("Grey colour").words == ["gray", "color"]
