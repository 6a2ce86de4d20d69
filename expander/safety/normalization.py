"""Normalisation against obfuscation: the views of a text the safety lexicons are matched against.

Obfuscated spellings (look-alike letters from other scripts, digits and symbols for letters, letters spelled
out one by one, symbols inside words) meet the lexicons in at least one of the text's views.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalized_views"]

# Latin look-alikes from other scripts (Cyrillic, Greek) and symbols, folded to the Latin letter they imitate.
_CONFUSABLES = str.maketrans(
    {
        "а": "a",
        "е": "e",
        "о": "o",
        "р": "p",
        "с": "c",
        "у": "y",
        "х": "x",
        "і": "i",
        "ј": "j",
        "ѕ": "s",
        "ԁ": "d",
        "ɡ": "g",
        "һ": "h",
        "к": "k",
        "м": "m",
        "т": "t",
        "в": "b",
        "н": "h",
        "ո": "n",
        "ս": "u",
        "А": "A",
        "В": "B",
        "Е": "E",
        "К": "K",
        "М": "M",
        "Н": "H",
        "О": "O",
        "Р": "P",
        "С": "C",
        "Т": "T",
        "Х": "X",
        "У": "Y",
        "І": "I",
        "Ј": "J",
        "Ѕ": "S",
        "α": "a",
        "ε": "e",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
        "Α": "A",
        "Β": "B",
        "Ε": "E",
        "Η": "H",
        "Ι": "I",
        "Κ": "K",
        "Μ": "M",
        "Ν": "N",
        "Ο": "O",
        "Ρ": "P",
        "Τ": "T",
        "Χ": "X",
        "Υ": "Y",
        "Ζ": "Z",
    }
)
# Digits and symbols used for letters ("s3x", "n@ked", "p0rn"); applied only inside words that also have
# letters, so numbers ("12-year-old", "1488", "AK-47") keep their own meaning in the plain view.
_LEET = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "3": "e",
        "4": "a",
        "5": "s",
        "7": "t",
        "8": "b",
        "9": "g",
        "@": "a",
        "$": "s",
        "!": "i",
        "|": "l",
        "€": "e",
        "£": "l",
    }
)
_LEET_WORD = re.compile(r"[\w@$!|€£]*[a-z][\w@$!|€£]*", re.IGNORECASE)
_INVISIBLE = re.compile(r"[\u00ad\u034f\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
# Letters spelled out one by one with separators: "s e x", "s.e.x", "n-a-k-e-d", "n*a*k*e*d".
_SPELLED = (
    re.compile(r"(?<![^\W_])(?:[a-z][^\w\s]{1,3}){2,}[a-z](?![^\W_])", re.IGNORECASE),
    re.compile(r"(?<![^\W_])(?:[a-z] ){2,}[a-z](?![^\W_])", re.IGNORECASE),
)
# Symbols inserted inside a word: "na.ked", "se#x", "p*rn" keeps its letters ("prn" is not matched, by design).
_INNER_SYMBOLS = re.compile(r"(?<=[a-z])[*#.\-_~^+'`\\/]+(?=[a-z])", re.IGNORECASE)


def _fold(text: str) -> str:
    """NFKC (full-width and styled letters to plain), no invisible characters, Latin look-alikes folded,
    accents dropped ("nüde" -> "nude"), underscores as spaces."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text).translate(_CONFUSABLES)
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return re.sub(r"_+", " ", text)


def normalized_views(text: str) -> tuple[str, ...]:
    """The views of `text` the lexicons are matched against (a category found in any view counts).

    1. the folded text (`_fold`); 2. digits/symbols read as letters inside words; 3. letters spelled out
    with separators joined up; 4. symbols inside words removed. Each view only ever joins or maps
    characters *within* a word, so it cannot make two benign words into a flagged one ("Scunthorpe",
    "therapist", "Essex" and "cocktail" stay benign: the lexicons are word-bounded).
    """
    base = _fold(text)
    views = [base]
    leet = _LEET_WORD.sub(
        lambda m: m.group(0).translate(_LEET) if re.search(r"[0-9@$!|€£]", m.group(0)) else m.group(0), base
    )
    spelled = leet
    for pattern in _SPELLED:
        spelled = pattern.sub(lambda m: re.sub(r"[\W_]+", "", m.group(0)), spelled)
    inner = _INNER_SYMBOLS.sub("", spelled)
    for view in (leet, spelled, inner):
        if view not in views:
            views.append(view)
    return tuple(views)
