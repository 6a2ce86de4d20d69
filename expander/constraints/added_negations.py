"""What an expansion must NOT add, second part: exclusions the short prompt never asked for.

"a lone tree on a hill at sunset" expanded to "... The scene shows no people anywhere. There are no boats in
the frame." keeps every constraint of the prompt and adds no subject, yet it invents two constraints: the user
excluded nothing. Such sentences are noise in the image model's prompt at best (a text encoder reads "boats"
either way) and contradict the scene at worst ("an empty swimming pool ... a small sailboat ... There are no
boats anywhere"). An expander trained on pairs whose captions end with a stated exclusion learns to append one
to every expansion (issue #26: 81-94 % of the held-out expansions of every GRPO candidate trained on them did).

`added_negations(prompt, expansion)` lists them: every negation of the expansion (the prompt extractor's
``negation`` kind, sentence by sentence: "no X", "without X", "free of X", "X-free", "windowless", and the
emptiness words "nobody", "no one", "deserted") whose excluded thing the prompt does not exclude itself.
Asked for, so not added:

* the prompt's own negations, restated or widened ("no cars" -> "no cars or trucks anywhere" adds "trucks";
  "no vehicles" -> "no cars" is a kind of what was excluded);
* a person or animal excluded in a prompt that asks for emptiness ("an empty subway station" -> "no one
  waits on the platform");
* "no other X" when the prompt says its subject is alone ("a lone tree" -> "no other trees": `SOLITARY`).

Not counted at all: the quality of the picture ("no harsh shadows", "no glare": `QUALITY`), "-less" adjectives
("a cloudless sky", "a leafless tree"), "not" before anything but a noun phrase ("not moving"), and emptiness
words used as description ("an empty glass"); only "nobody", "no one", "not a soul" state that nobody is there.

Read by the `added_negations` reward (`expander.rewards.added_negations`) and by
`benchmarks/expander_quality.py` (the share of expansions that add one). Not part of `ConstraintReport.ok` or
`faithful`: an invented exclusion is a quality defect the RL recipe penalises, not a broken promise the
serving fallback must replace.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

from expander.constraints.added_subjects import ANIMAL_GENERIC, ANIMAL_KIND, PERSON, YOUNG
from expander.constraints.emptiness import emptiness, is_emptiness
from expander.constraints.extract import extract_cached, require_str
from expander.constraints.extract_scene import negations, quoted_text
from expander.constraints.negation import excluded_forms
from expander.constraints.prompt_context import PromptContext
from expander.constraints.text import noun_forms
from expander.sentences import SENTENCE_MARKS, split_sentences

__all__ = ["SOLITARY", "AddedNegation", "added_negations"]

SOLITARY = frozenset("lone alone lonely solitary single sole only just one isolated".split())
"""Prompt words that make "no other X" a restatement, not an addition ("a lone tree": no other trees)."""

QUALITY = frozenset(
    "shadow glare noise clutter blur distraction grain artifact artefact haze distortion vignette vignetting "
    "banding flare harshness reflection smudge dust scratch".split()
)
"""Negated words that describe the picture's quality or light, not its content ("soft light with no harsh shadows",
"no glare", "clean, no clutter"): enrichment, never counted."""

_EMPTINESS_SAID = ("nobody", "no one", "no-one", "not a soul", "not a person", "no person")
_NOT_NOUN = frozenset("a an one single any".split())


@dataclass(frozen=True)
class AddedNegation:
    """One exclusion the expansion states unasked: its text ("no people anywhere") and the excluded thing."""

    text: str
    value: str

    def to_dict(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=1)
def _living_forms() -> frozenset[str]:
    living = frozenset(PERSON) | frozenset(ANIMAL_KIND) | frozenset(YOUNG) | frozenset(ANIMAL_GENERIC)
    return living | excluded_forms("people") | excluded_forms("animals") | noun_forms("animal") | noun_forms("creature")


def _sentence_negations(sentence: str):
    _, quoted = quoted_text(sentence)
    ctx = PromptContext.build(sentence, quoted)
    return emptiness(ctx) + negations(ctx)


def _forms(value: str) -> frozenset[str]:
    words = value.split()
    return noun_forms(words[-1]) if words else frozenset()


def added_negations(prompt: str, expansion: str) -> list[AddedNegation]:
    """The exclusions `expansion` states that `prompt` does not ask for, in order of appearance, one per thing.

    Args:
        prompt: the short prompt.
        expansion: its expansion.

    Raises:
        ValueError: if either argument is not a str, naming it.
    """
    asked: set[str] = set()
    empty = False
    expansion = require_str("expansion", expansion)
    for c in extract_cached(require_str("prompt", prompt)):
        if c.kind != "negation":
            continue
        if is_emptiness(c):
            empty = True
        else:
            asked |= excluded_forms(c.value.split()[-1])
    if empty:
        asked |= _living_forms()
    solitary = bool(SOLITARY & set(prompt.lower().split()))
    out: list[AddedNegation] = []
    seen: set[str] = set()
    for sentence in split_sentences(expansion, SENTENCE_MARKS + ";"):
        for c in _sentence_negations(sentence):
            text = c.text.lower()
            words = text.split()
            if is_emptiness(c):
                if not text.startswith(_EMPTINESS_SAID):
                    continue  # "an empty glass", "the desolate plain": a description, not an exclusion it states
                value, forms = "people", excluded_forms("people")
            elif (
                len(words) == 1  # "cloudless sky", "a leafless tree": an adjective of the scene
                or (words[0] == "not" and words[1] not in _NOT_NOUN)  # "not sure", "not moving"
                or _forms(c.value) & QUALITY
            ):
                continue
            else:
                value, forms = c.value, _forms(c.value)
            if forms & asked:
                continue  # the prompt's own exclusion, or a kind of it (emptiness: every person and animal)
            if solitary and "other" in words:
                continue  # "a lone tree" -> "no other trees"
            key = value.split()[-1]
            if key not in seen:
                seen.add(key)
                out.append(AddedNegation(c.text, value))
    return out
