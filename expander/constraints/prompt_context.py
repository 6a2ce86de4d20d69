"""The prompt side of extraction: a prompt tokenised once, which tokens a constraint has taken, and its
noun phrases.

Extraction runs kind by kind over one `PromptContext` (see `extract.py`). A kind that claims words
marks them `used`, so that a later kind does not read them again: "no people" is a negation, not a
subject; "on top of" is a relation, not an object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from expander.constraints import lexicon as lx
from expander.constraints.tables import BOUNDARY, tables
from expander.constraints.text import CLAUSE_END, Token, can_be_noun, is_plural, is_verb_form, pos_tags, tokenize

# The request around the content ("can you make ...", "I want a picture of ...") is not part of the image.
_REQUEST_RE = re.compile(
    r"(?:^|(?<=[.!?;]))\s*(?:(?:hey|hi|hello|ok|okay|so)\b[,!]?\s*)?(?:please\s+)?"
    r"(?:(?:can|could|would|will)\s+you\s+(?:please\s+)?|i\s*(?:'d|would)\s+like(?:\s+to\s+(?:see|have|get))?\s+"
    r"|i\s+(?:want|need)(?:\s+to\s+(?:see|have|get))?\s+|(?:let\s+me\s+see|give\s+me|show\s+me)\s+)?"
    r"(?:(?:make|draw|create|generate|render|paint|design|produce|imagine|show|give)\s+(?:me\s+|us\s+)?)?"
    r"(?:(?:(?:an?|the|some)\s+)?(?:picture|image|pic)s?\s+(?:of|showing|with)\s+)?"
    r"(?:please\s+)?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Phrase:
    """A run of content words between function words (token indices, in order) and its head: the last
    noun-like word, or None when the run has none ("bright and airy")."""

    tokens: list[int]
    head: int | None


@dataclass
class PromptContext:
    """One prompt, tokenised once, shared by the extractor of every kind.

    Attributes:
        prompt: the prompt as typed (spans index into it).
        tokens: its tokens, quoted text removed (each quote leaves a "," token behind so that the words
            around it do not fuse into one phrase).
        words: the tokens' normal forms (lower case, British spellings folded).
        used: per token, whether it is punctuation, request framing ("can you draw") or already part of
            a constraint; extractors skip used tokens and mark the ones they take.
        phrases: the noun phrases of the words still free, found by `find_phrases` once the kinds that
            claim fixed phrases (negation, style, viewpoint, spatial, scene attributes, counts) have run.
        head_at: token index -> head index of its phrase (filled with `phrases`).
    """

    prompt: str
    tokens: list[Token]
    words: list[str]
    used: list[bool]
    phrases: list[Phrase] = field(default_factory=list)
    head_at: dict[int, int | None] = field(default_factory=dict)

    @classmethod
    def build(cls, prompt: str, quoted: list[tuple[int, int]]) -> PromptContext:
        """Tokenise `prompt` without its `quoted` character spans and mark request framing as used."""
        toks = [tok for tok in tokenize(prompt) if not any(a <= tok.start < b for a, b in quoted)]
        for a, b in quoted:
            idx = next((i for i, tok in enumerate(toks) if tok.start >= b), len(toks))
            toks.insert(idx, Token(",", a, b))
        words = [tok.text for tok in toks]
        used = [w in (",",) or toks[i].is_punct for i, w in enumerate(words)]
        for m in _REQUEST_RE.finditer(prompt):
            if m.end() > m.start():
                for i, tok in enumerate(toks):
                    if m.start() <= tok.start < m.end():
                        used[i] = True
        return cls(prompt, toks, words, used)

    @property
    def n(self) -> int:
        return len(self.words)

    def span_text(self, i: int, j: int) -> tuple[str, tuple[int, int]]:
        """The prompt text of tokens i..j-1 and its character span."""
        s, e = self.tokens[i].start, self.tokens[j - 1].end
        return self.prompt[s:e], (s, e)

    def token_text(self, k: int) -> tuple[str, tuple[int, int]]:
        """The prompt text of token k and its character span."""
        return self.span_text(k, k + 1)

    def gap_after(self, k: int) -> str:
        """The characters between token k and the next ("-" inside "blue-grey")."""
        return self.prompt[self.tokens[k].end : self.tokens[k + 1].start]

    def mark(self, i: int, j: int) -> None:
        """Take tokens i..j-1 for a constraint."""
        for k in range(i, j):
            self.used[k] = True

    def free(self, i: int, j: int) -> bool:
        """No token of i..j-1 is taken yet."""
        return not any(self.used[i:j])

    def find_phrases(self) -> None:
        """Fill `phrases` and `head_at` from the tokens still free."""
        self.phrases = noun_phrases(self.words, self.used, self.tokens)
        self.head_at = {k: p.head for p in self.phrases for k in p.tokens}

    def next_head(self, j: int) -> int | None:
        """The head of the first phrase at or after token j, within the clause and before a comma."""
        for k in range(j, min(self.n, j + 8)):
            if self.words[k] in CLAUSE_END or self.words[k] == ",":
                return None
            if self.head_at.get(k) is not None:
                return self.head_at[k]
        return None

    def prev_head(self, i: int) -> int | None:
        """The head of the nearest phrase before token i, within the clause."""
        for k in range(i - 1, max(-1, i - 10), -1):
            if self.words[k] in CLAUSE_END:
                return None
            if self.head_at.get(k) is not None:
                return self.head_at[k]
        return None


def noun_like(word: str) -> bool:
    """A word that can head a noun phrase: not an adjective-only word, not an inflected verb."""
    tags = pos_tags(word)
    return can_be_noun(word) and not ("ADJ" in tags and "NOUN" not in tags) and not is_verb_form(word)


def adjective_like(word: str) -> bool:
    """A word that can describe a noun: an adjective, a colour or an opinion word."""
    return "ADJ" in pos_tags(word) or word in tables().color_of or word in lx.SUBJECTIVE_ADJECTIVES


def noun_phrases(words: list[str], used: list[bool], toks: list[Token]) -> list[Phrase]:
    """Runs of content words between function words; each run's head is its last noun-like word."""
    phrases: list[Phrase] = []
    run: list[int] = []

    def close():
        if run:
            head = None
            for k in reversed(run):
                if can_be_noun(words[k]) and not is_verb_form(words[k]):
                    head = k
                    break
            phrases.append(Phrase(list(run), head))
            run.clear()

    color_of = tables().color_of
    for i, w in enumerate(words):
        boundary = used[i] or w in BOUNDARY or toks[i].is_punct
        if w == "and" and run and words[run[-1]] in color_of and i + 1 < len(words) and words[i + 1] in color_of:
            continue  # "red and white umbrella" is one phrase
        if boundary:
            close()
            continue
        if is_verb_form(w):
            # "an empty swimming pool" keeps its -ing modifier; "a girl holding flowers" does not.
            nxt = i + 1
            keep = (
                w.endswith("ing")
                and nxt < len(words)
                and not toks[nxt].is_punct
                and words[nxt] not in BOUNDARY
                and can_be_noun(words[nxt])
                and (not run or adjective_like(words[run[-1]]))
            )
            if not keep:
                close()
                continue
        # "a man reads a book": a 3rd-person verb after a singular noun ends the phrase.
        elif (
            run
            and w.endswith("s")
            and "VERB" in pos_tags(w)
            and not is_plural(words[run[-1]])
            and "NOUN" in pos_tags(words[run[-1]])
            and "ADJ" not in pos_tags(words[run[-1]])
            and (i + 1 >= len(words) or words[i + 1] in BOUNDARY or toks[i + 1].is_punct)
        ):
            close()
            continue
        run.append(i)
    close()
    return phrases
