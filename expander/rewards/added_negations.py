"""The added-negation penalty: an expansion must not state exclusions the short prompt never asked for.

"a lone tree on a hill" -> "... The scene shows no people anywhere." keeps every constraint and adds no
subject, so neither the constraint score nor `added_subjects` sees the invented exclusion. This reward does:

    added_negations = 1 / (1 + n)    # n: distinct things the expansion excludes unasked

Graded like `added_subjects` (1.0, 0.5, 0.33, ...) so that one invented exclusion ranks above three. What counts
is `expander.constraints.added_negations` (its docstring has the rules: the prompt's own negations and
emptiness, "no other X" for a lone subject and quality words like "no harsh shadows" are not counted).
"""

from __future__ import annotations

from expander.constraints.added_negations import AddedNegation, added_negations

__all__ = ["added_negations_score", "score_added_negations"]


def added_negations_score(added: list[AddedNegation]) -> float:
    """`1 / (1 + len(added))`: the reward for an expansion that states these exclusions unasked."""
    return 1.0 / (1 + len(added))


def score_added_negations(short: str, expansion: str) -> tuple[float, list[AddedNegation]]:
    """(reward, the exclusions added) of one cleaned expansion of `short`."""
    added = added_negations(short, expansion)
    return added_negations_score(added), added
