"""The constraint checker's data: what a prompt pins down (`Constraint`), what an expansion broke
(`Violation`) and the report `check` returns (`ConstraintReport`, whose `to_dict` is the API's form)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["KINDS", "SOFT_WEIGHT", "Constraint", "ConstraintReport", "Violation"]

KINDS = ("quoted_text", "count", "color", "subject", "negation", "style", "viewpoint", "spatial", "attribute")

SOFT_WEIGHT = 0.5
"""Weight of a soft constraint in `score` (a hard one weighs 1)."""


@dataclass(frozen=True)
class Constraint:
    """One thing the prompt pins down.

    Attributes:
        kind: one of `KINDS`.
        text: the span of the prompt that states it ("three apples", "no people").
        binds_to: the object it is about ("vase" for "a blue vase"; the first object of a relation);
            None for scene-wide constraints.
        hard: whether a violation fails the report (`ok`); soft ones only lower `score`.
        value: the normalised content: colour family, count, style/viewpoint family (or "era:70s", or
            "term:<words>" for a style word of the "X painting" / "in the style of X" patterns), relation,
            attribute group, the negated or subject noun, or the quoted text.
        target: the second object of a spatial relation, the first noun of a compound subject
            ("fence" in "fence post"), for "no other X" the prompt's own words of kind X that it sets
            apart ("truck" beside "no other vehicles", space-separated), or "emptiness" for a negation that
            empties the scene ("empty", "deserted", "alone", "nobody": no person or animal the prompt does
            not name, `emptiness.py`); None otherwise.
        span: (start, end) character offsets of `text` in the prompt.
    """

    kind: str
    text: str
    binds_to: str | None = None
    hard: bool = True
    value: str | None = None
    target: str | None = None
    span: tuple[int, int] = (0, 0)

    def to_dict(self) -> dict:
        """JSON-serialisable form (the span as a list)."""
        return {
            "kind": self.kind,
            "text": self.text,
            "binds_to": self.binds_to,
            "hard": self.hard,
            "value": self.value,
            "target": self.target,
            "span": list(self.span),
        }


@dataclass(frozen=True)
class Violation:
    """A constraint the expansion broke, with a short human-readable reason."""

    constraint: Constraint
    reason: str

    def to_dict(self) -> dict:
        return {"constraint": self.constraint.to_dict(), "reason": self.reason}


@dataclass
class ConstraintReport:
    """The result of `check`.

    Attributes:
        ok: True when every hard constraint is satisfied.
        score: weighted share of satisfied constraints in [0, 1] (hard weigh 1, soft `SOFT_WEIGHT`);
            1.0 when the prompt pins nothing down.
        satisfied: constraints the expansion keeps.
        violated: constraints it breaks, each with a reason.
        added: subjects (people, animals, creatures) the expansion adds that the prompt neither names nor
            implies (`expander.constraints.added_subjects`). They do not change `ok` or `score`, which measure
            what the prompt pins down; `faithful` is both together.
    """

    ok: bool
    score: float
    satisfied: list[Constraint] = field(default_factory=list)
    violated: list[Violation] = field(default_factory=list)
    added: list = field(default_factory=list)  # list[AddedSubject]

    @property
    def faithful(self) -> bool:
        """Every hard constraint kept and no subject added: what verified expansion and the gates require."""
        return self.ok and not self.added

    def to_dict(self) -> dict:
        """JSON-serialisable form (used verbatim in API responses and evaluation tables)."""
        return {
            "ok": self.ok,
            "score": round(self.score, 4),
            "n_constraints": len(self.satisfied) + len(self.violated),
            "satisfied": [c.to_dict() for c in self.satisfied],
            "violated": [v.to_dict() for v in self.violated],
            "added": [a.to_dict() for a in self.added],
            "faithful": self.faithful,
        }
