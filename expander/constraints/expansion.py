"""The expansion side of checking: an expansion tokenised once, with the lookups every checker shares
(where a word is mentioned, as itself, its concept or a synonym; n-grams; clauses)."""

from __future__ import annotations

from functools import lru_cache

from expander.constraints import lexicon as lx
from expander.constraints.concepts import CONCEPTS
from expander.constraints.tables import BOUNDARY, lemma, tables
from expander.constraints.text import can_be_noun, forms, is_verb_form, noun_forms, pos_tags, similarities, tokenize

__all__ = ["SYNONYM_SIMILARITY", "ExpansionDoc", "negation_targets", "span_words", "window_back"]

SYNONYM_SIMILARITY = 0.75
"""MiniLM cosine above which an unknown word counts as a synonym of a subject (puppy/dog 0.80, dog/cat 0.66)."""


class ExpansionDoc:
    """An expansion, tokenised once, with lazily built indexes shared by all checks."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.words = [tok.text for tok in self.tokens]
        self.forms = [forms(w) for w in self.words]
        self.all_forms: set[str] = set().union(*self.forms) if self.forms else set()
        self.clause = []
        c = 0
        for w in self.words:
            self.clause.append(c)
            if w in (".", "!", "?", ";"):
                c += 1
        self._ngrams: set[tuple[str, ...]] | None = None
        self._finds: dict[str, list[int]] = {}
        self._nearest: dict[str, str | None] = {}
        self._pos: dict[str, list[int]] | None = None

    @property
    def ngrams(self) -> set[tuple[str, ...]]:
        if self._ngrams is None:
            w, n = self.words, len(self.words)
            self._ngrams = {tuple(w[i : i + k]) for k in range(1, 6) for i in range(n - k + 1)}
        return self._ngrams

    def has_any(self, phrases) -> tuple[str, ...] | None:
        """The smallest present phrase (so reports do not depend on set order or the hash seed); one-word
        phrases also match inflections ("grins" for "grin")."""
        grams, all_forms = self.ngrams, self.all_forms
        return min((p for p in phrases if p in grams or (len(p) == 1 and p[0] in all_forms)), default=None)

    def find(self, word: str, fuzzy: bool = True) -> list[int]:
        """Token positions that mention `word`: same lemma, same concept (puppy/dog), a longer word
        built on it (snow -> snowy), or with `fuzzy` a MiniLM synonym."""
        key = f"{word}|{fuzzy}"
        if key in self._finds:
            return self._finds[key]
        accepted, stem, concepts = _targets(word)
        hits = [i for i, f in enumerate(self.forms) if f & accepted]
        if not hits and len(stem) >= 3:
            # Compounds and derivations: snow -> snowy / snowfall, bee -> honeybee.
            hits = [
                i
                for i, w in enumerate(self.words)
                if len(w) > len(stem)
                and not w.endswith("less")
                and ((len(stem) >= 4 and w.startswith(stem)) or (w.endswith(stem) and len(w) - len(stem) >= 3))
            ]
        if not hits and fuzzy and not concepts:
            # Only words our lists do not know: for a listed word the lists are authoritative, and
            # every MiniLM encode of new words costs milliseconds on the RL hot path.
            hits = self._similar(word, concepts)
        self._finds[key] = hits
        return hits

    def _similar(self, word: str, concepts: frozenset[str]) -> list[int]:
        concept_of = tables().concept_of
        cands = []
        for w in dict.fromkeys(self.words):
            if (
                len(w) < 3
                or not w.isalpha()
                or w in BOUNDARY
                or w in lx.META_NOUNS
                or not can_be_noun(w)
                or w in tables().color_of
            ):
                continue
            tags = pos_tags(w)
            if any(f in concept_of for f in noun_forms(w)) or ("ADJ" in tags and "NOUN" not in tags) or is_verb_form(w):
                continue  # a listed thing is not a synonym of an unlisted one; adjectives and verbs never are
            cands.append(w)
        sims = similarities(word, cands)
        if sims is None or not len(cands):
            return []
        best = int(sims.argmax())
        self._nearest[word] = cands[best] if float(sims[best]) >= 0.45 else None
        if float(sims[best]) < SYNONYM_SIMILARITY:
            return []
        return [i for i, w in enumerate(self.words) if w == cands[best]]

    def positions(self, word: str) -> list[int]:
        """Token positions of the exact normal-form word."""
        if self._pos is None:
            self._pos = {}
            for i, w in enumerate(self.words):
                self._pos.setdefault(w, []).append(i)
        return self._pos.get(word, [])

    def nearest(self, word: str) -> str | None:
        """The expansion word most similar to `word`, if a fuzzy `find` computed it (for reasons only)."""
        return self._nearest.get(word)


@lru_cache(maxsize=50_000)
def _targets(word: str) -> tuple[frozenset[str], str, frozenset[str]]:
    """(forms that count as the word, stem for prefix matches, concepts) for a prompt noun.

    A word that names a concept accepts its members ("man" accepts "gentleman", not "woman"; "dog"
    accepts "puppy"); any other word accepts the names of its concepts ("puppy" accepts "dog")."""
    concept_of = tables().concept_of
    own = noun_forms(word)
    named = [f for f in own if f in CONCEPTS]
    accepted = set(forms(word))
    if named:
        concepts = frozenset(named)
        for c in concepts:
            for w in CONCEPTS[c].split():
                accepted |= noun_forms(w)
    else:  # a specific word accepts its general name (puppy -> dog), not its siblings (poodle)
        concepts = frozenset().union(*(concept_of.get(f, set()) for f in own))
        for c in concepts:
            accepted |= noun_forms(c)
    return frozenset(accepted), lemma(word), concepts


@lru_cache(maxsize=50_000)
def negation_targets(word: str) -> frozenset[str]:
    """Every form that reintroduces a negated thing: its own forms and all concepts it belongs to."""
    concept_of = tables().concept_of
    own = noun_forms(word)
    out = set(own)
    for f in own:
        for c in concept_of.get(f, ()):
            for w in CONCEPTS[c].split():
                out |= noun_forms(w)
        if f in CONCEPTS:
            for w in CONCEPTS[f].split():
                out |= noun_forms(w)
    return frozenset(out)


def window_back(doc: ExpansionDoc, p: int, size: int, through: frozenset[str] = frozenset()) -> list[int]:
    """Positions of the noun phrase before position p, nearest first, at most `size` words back: it ends
    at punctuation other than a comma, at a function word (keeping an article or "one"), and at an "and"
    that does not join two colours. Words in `through` and hyphenated compounds never end it."""
    out = []
    for k in range(p - 1, max(-1, p - 1 - size), -1):
        w = doc.words[k]
        if w in through or (
            k + 1 < len(doc.tokens)
            and not doc.tokens[k].is_punct
            and doc.text[doc.tokens[k].end : doc.tokens[k + 1].start] == "-"
        ):
            out.append(k)  # through listed words and hyphenated compounds ("a pair of over-ear headphones")
            continue
        if doc.tokens[k].is_punct and w != ",":
            break
        if w in BOUNDARY and w not in ("and",):
            if w in ("a", "an", "the", "one"):
                out.append(k)
            break
        if w == "and" and not (k > 0 and doc.words[k - 1] in tables().color_of):
            break
        out.append(k)
    return out


@lru_cache(maxsize=50_000)
def span_words(text: str) -> list[str]:
    """The normal-form words of a text (a constraint's span, looked for word for word)."""
    return [t.text for t in tokenize(text)]
