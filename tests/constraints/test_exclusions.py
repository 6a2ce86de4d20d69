"""What a prompt excludes, as the words the exclusion guard keeps out, and the scope rule it reads."""

import pytest

from expander.constraints import check
from expander.constraints.exclusions import allowed_compounds, excluded_words, in_negation


@pytest.mark.parametrize(
    "prompt, inside, outside",
    [
        ("a room with no windows", {"window", "windows", "windowpane"}, {"room", "door", "wall"}),
        ("fruit bowl, no bananas", {"banana", "bananas"}, {"fruit", "apple", "bowl"}),
        ("a street, and not a single car on it", {"car", "cars", "taxi", "vehicle"}, {"street", "road"}),
        ("a cloudless sky over a desert at noon", {"cloud", "clouds", "overcast"}, {"sky", "desert"}),
        ("watch, product shot, no logos", {"logo", "logos", "brand"}, {"watch", "product"}),
        # "no people" reaches every person word; emptiness reaches people and animals
        ("a forest path with no people", {"people", "woman", "crowd", "hikers"}, {"forest", "path", "tree"}),
        ("an empty train station at night", {"people", "man", "woman", "dog", "pigeons"}, {"train", "station"}),
        # the prompt's own subject is let in, the others are not
        ("a man alone on a park bench", {"woman", "crowd", "dog"}, {"man", "bench"}),
        ("an empty street, a stray cat", {"people", "dog"}, {"cat", "street"}),
        # a word the prompt uses outside a negation is never excluded
        ("a cat on a sofa, no other cats", {"kitten", "cats"}, {"cat", "sofa"}),
    ],
)
def test_excluded_words_are_what_the_checker_fails(prompt, inside, outside):
    words = set(excluded_words(prompt))
    assert inside <= words, inside - words
    assert not outside & words, outside & words
    # every excluded word written plainly breaks the prompt by the checker itself (the guard and the checker
    # agree), unless it is a word the checker reads only with its concept ("windowpane")
    for w in sorted(inside):
        assert not check(prompt, f"A photo. There is a {w} here.").ok, w


def test_a_prompt_that_excludes_nothing_guards_nothing():
    assert excluded_words("a red fox in snow") == ()
    assert excluded_words("a no-frills diner") == ()  # a compound, not a negation
    assert allowed_compounds("a red fox in snow") == ()


def test_compounds_the_prompt_builds_on_an_excluded_word():
    assert "window" in excluded_words("a windowless room")
    assert allowed_compounds("a windowless room") == ("windowless",)
    assert allowed_compounds("kitchen counter, clutter-free") == ("clutter-free",)
    assert allowed_compounds("a room with no windows") == ()


@pytest.mark.parametrize(
    "text, inside",
    [
        ("A room with no", True),
        ("There is not a single", True),
        ("The street is free of", True),
        ("There are no people, cars or", True),
        ("A room with a single", False),
        ("The only", False),
        ("No people. A", False),  # a sentence end closes the negation
        ("", False),
    ],
)
def test_in_negation_reads_the_checker_scope(text, inside):
    assert in_negation(text, "windows") is inside
