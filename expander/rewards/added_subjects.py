"""The added-subject penalty: rule 2 of the expansion contract ("add no new main subjects") as a reward.

An expansion of "a red fox in snow" that adds "a small child ... and a large bear" keeps every constraint of
the prompt, so neither the constraint score nor the constraint gate sees it. This reward does:

    added_subjects = 1 / (1 + n)    # n: distinct subject groups the expansion adds (a child, a bear: 2)

1.0 when nothing is added, 0.5 for one added group, 0.33 for two, ... Graded rather than 0/1 so that within
a GRPO group an expansion that adds one subject still ranks above one that adds three; bounded in (0, 1]
like the other text rewards. What counts as added is `expander.constraints.added_subjects` (people,
animals and creatures the short prompt neither names nor implies; its docstring has the rules).

The same check is also a gate (`gates.added_subjects` in the rewards config): a completion that adds a
subject then ranks below every completion of its group that adds none, whatever the other rewards say.
"""

from __future__ import annotations

from expander.constraints.added_subjects import AddedSubject, added_subjects

__all__ = ["added_subjects_score", "score_added_subjects"]


def added_subjects_score(added: list[AddedSubject]) -> float:
    """`1 / (1 + len(added))`: the reward for an expansion that adds these subject groups."""
    return 1.0 / (1 + len(added))


def score_added_subjects(short: str, expansion: str) -> tuple[float, list[AddedSubject]]:
    """(reward, the added subjects) of one cleaned expansion of `short`."""
    added = added_subjects(short, expansion)
    return added_subjects_score(added), added
