"""Rule-made pairs that carry the constraints the expander drops: negations, emptiness and one-word styles.

A teacher asked for "the short prompt a person would type" rarely keeps a caption's "no people" or its
"watercolor", so an expander trained only on teacher shorts never sees a prompt that asks for one, and drops it
(issue #26). These writers add such pairs, every one of them checked by the same filters as a teacher's short:

* ``style_word`` -- the caption's style or medium words kept in a short ("watercolor, a harbor town at dawn");
* ``negation_kept`` -- a negation the caption itself states, kept in the short ("..., no people");
* ``negation_added`` -- "no X" for a thing X the caption never shows, and one sentence appended to the caption
  that says so ("There are no cars anywhere in the frame."): the target states the exclusion and never names X
  again. X is drawn from `NEGATABLE`; a caption that shows X (or a kind of X) is a contradiction and rejected by
  the filter (`contradicted_negation`), never written;
* ``emptiness_added`` -- "deserted" / "no one in sight" for a caption with no person or animal, with an appended
  sentence ("No one is in sight.").

Only a share of captions gets a ``negation_added`` pair (`SynthConfig.negation_added_share`): with one for every
caption, 28 % of the targets ended in a stated exclusion, and the SFT adapter learned to append one ("There are no
boats anywhere in the frame.") to 38 % of held-out expansions (5 % with a quarter; issue #26,
`expander.constraints.added_negations`).

Appended sentences are the only text these pairs add to a caption; pairs that carry one are marked
`augmented: true` in `pairs.jsonl`.
"""

from __future__ import annotations

import random
import re

from expander.train.synth.styles import UserStyle

__all__ = ["CONSTRAINT_STYLES", "NEGATABLE", "choose_writers", "constraint_candidates", "main_clause"]

CONSTRAINT_STYLES: dict[str, UserStyle] = {
    name: UserStyle(name, "(rule-made)", "", "")
    for name in ("style_word", "negation_kept", "negation_added", "emptiness_added")
}
"""The writers, as styles of the pairs they make (named in `pairs.jsonl` and the dataset card)."""

NEGATABLE = (
    "people",
    "cars",
    "text",
    "logos",
    "clouds",
    "animals",
    "birds",
    "trees",
    "furniture",
    "windows",
    "boats",
    "flowers",
    "signs",
    "lamps",
    "buildings",
    "plants",
    "reflections",
    "paper",
    "bananas",
    "vehicles",
)
"""Things a user often excludes ("a street with no cars", "a desk with no paper", "a product shot, no logos")."""

_SHORT_NEGATION = ("{clause}, no {x}", "{clause} with no {x}", "{clause} without {x}", "{clause}, {x}-free")
_LONG_NEGATION = (
    "There {are} no {x} anywhere in the frame.",
    "No {x} {appear} in the scene.",
    "The scene shows no {x} at all.",
    "Nowhere in the image {are} there any {x}.",
)
_SHORT_EMPTY = ("{clause}, nobody around", "{clause}, with no one there", "a deserted {rest}", "an empty {rest}")
_LONG_EMPTY = ("No one is in sight.", "The place is deserted, with nobody anywhere.", "There is no one around.")
EMPTIABLE_CATEGORIES = frozenset({"architecture", "interiors", "landscapes", "cinematic_lighting"})
"""Caption categories whose scenes can be empty (a deserted close-up of a bee is no scene a user asks for)."""
_UNCOUNTABLE_FREE = frozenset({"text", "paper", "furniture"})  # "text-free" reads, "cars-free" does not; "is"


_DANGLING = frozenset(
    "a an the of to from in on at with by across along over under into onto near beside behind and or its their "
    "his her as while that which who seen shot".split()
)


def main_clause(caption: str, max_words: int = 10) -> str:
    """The caption's first clause, at most `max_words` words, cut back to end on a noun ("... terrier leaping to
    catch a" -> "... terrier"; "... coffee photographed against a sunlit" -> "... coffee"), so that ", no X" or
    "with no X" after it reads as a prompt."""
    from expander.constraints.prompt_context import adjective_like, noun_like

    first = re.split(r"[.;:!?]|,\s|\s[-\u2014]\s", caption, maxsplit=1)[0].strip()
    words = first.split()
    if len(words) <= max_words:
        return " ".join(words)
    words = words[:max_words]
    if sum(w.count('"') for w in words) % 2:  # a quote cut in two: keep what comes before it
        words = words[: next(i for i, w in enumerate(words) if '"' in w)]
    while len(words) > 2:
        last = words[-1].lower()
        if last in _DANGLING or not noun_like(last) or adjective_like(last) or words[-2].lower() == "to":
            words.pop()
        else:
            break
    return " ".join(words)


def _without_article(clause: str) -> str:
    words = clause.split()
    return " ".join(words[1:]) if words and words[0].lower() in ("a", "an", "the") else clause


def _sentence_around(caption: str, start: int, end: int, max_words: int = 8) -> str | None:
    """The comma/sentence segment of `caption` holding [start, end), if it is short enough to be a prompt's."""
    left = max(caption.rfind(sep, 0, start) for sep in (",", ".", ";", ":")) + 1
    rights = [i for i in (caption.find(sep, end) for sep in (",", ".", ";", ":")) if i >= 0]
    right = min(rights) if rights else len(caption)
    segment = caption[left:right].strip()
    return segment if 0 < len(segment.split()) <= max_words else None


def constraint_candidates(caption: str, rng: random.Random, category: str = "") -> list[tuple[str, str, str]]:
    """Every candidate the writers make for one caption, as (style name, short, long); unfiltered.

    `emptiness_added` only for a caption of `EMPTIABLE_CATEGORIES` with no person or animal in it.

    Several `negation_added` candidates come in a seeded random order (the caller keeps the first that passes
    the filters); the others are one or none each.
    """
    from expander.constraints import added_subjects, extract

    clause = main_clause(caption)
    if not clause:
        return []
    found = extract(caption)
    out: list[tuple[str, str, str]] = []

    styles = [c for c in found if c.kind == "style" and not c.value.startswith("term:")]
    if styles:
        words = " ".join(dict.fromkeys(c.text.lower() for c in styles[:2]))
        if all(c.text.lower() in clause.lower() for c in styles[:2]):
            short = clause  # "A loose watercolor painting of a harbor town": the clause already says it
        else:
            short = rng.choice((f"{words}, {_without_article(clause)}", f"{clause}, {words}"))
        out.append(("style_word", short, caption))

    negations = [c for c in found if c.kind == "negation" and c.target != "emptiness"]
    if negations:
        c = negations[0]
        segment = _sentence_around(caption, *c.span) or c.text
        if segment.lower() not in clause.lower():
            out.append(("negation_kept", f"{clause}, {segment[0].lower()}{segment[1:]}", caption))

    things = list(NEGATABLE)
    rng.shuffle(things)
    for x in things[:4]:
        form = rng.choice(_SHORT_NEGATION if x in _UNCOUNTABLE_FREE else _SHORT_NEGATION[:-1])
        short = form.format(clause=clause, x=x)
        mass = x in _UNCOUNTABLE_FREE  # "there is no paper"
        sentence = rng.choice(_LONG_NEGATION).format(
            x=x, are="is" if mass else "are", appear="appears" if mass else "appear"
        )
        long = f"{caption.rstrip()} {sentence}"
        out.append(("negation_added", short, long))

    if (
        category in EMPTIABLE_CATEGORIES
        and not added_subjects("", caption)
        and not any(c.target == "emptiness" for c in found)
    ):
        has_article = clause.split()[0].lower() in ("a", "an", "the")
        form = rng.choice(_SHORT_EMPTY if has_article else _SHORT_EMPTY[:2])
        short = form.format(clause=clause, rest=_without_article(clause))
        out.append(("emptiness_added", short, f"{caption.rstrip()} {rng.choice(_LONG_EMPTY)}"))
    return out


def choose_writers(
    candidates: list[tuple[str, str, str]], n: int, rng: random.Random, negation_added: bool = True
) -> list[str]:
    """The writers one caption gets, at most `n`: one rare kind (a kept negation, an emptiness, a style word;
    seeded pick among those the caption allows), then `negation_added` (unless `negation_added` is False: the
    caller draws it with `SynthConfig.negation_added_share`), then the other rare kinds."""
    present = list(dict.fromkeys(name for name, _, _ in candidates))
    rare = [k for k in ("negation_kept", "emptiness_added", "style_word") if k in present]
    rng.shuffle(rare)
    added = ["negation_added"] if negation_added and "negation_added" in present else []
    return (rare[:1] + added + rare[1:])[:n]
