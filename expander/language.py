"""Which language a short prompt is written in, and whether a model can expand it.

An expander trained on English captions, given "un zorro rojo en la nieve", writes a fluent English
description of something else; an app would render the wrong picture. So every expansion first asks
`detect_language(prompt)`; a prompt in a language the model does not declare (`supports(...)`) is returned
unchanged with `finish_reason: "language_unsupported"` (or refused, when the caller asks for strictness).

Detection is two-staged because short prompts are hard for any statistical detector ("a cat" reads as
Italian, "cyberpunk city, neon, rain" as German to a character n-gram model):

1. **English words.** If at least half of the prompt's words are English (a hand-written list of function
   words and image-prompt jargon, plus the `lemminflect` English dictionary), the prompt is English.
2. **lingua** (`lingua-language-detector`, rule + n-gram models built for short text, maintained, offline:
   its models ship inside the wheel) over `CANDIDATES`. Its top language counts only when it is
   confident (probability >= `MIN_CONFIDENCE` and `MIN_MARGIN` times the runner-up); otherwise the language
   is `und` (undetermined), which every model accepts. A single Latin-script word ("ramen", "Oaxaca",
   "perro") is always `und`: one word is too little to refuse a prompt on.

Why lingua: on one- to six-word prompts it is the most accurate of the maintained detectors on PyPI that
run offline (langdetect and langid are unmaintained and weak on short text; fastText-based ones download
their model at run time). Its models load lazily (about 6 s and 400 MB for the 20 candidates, on the first
prompt that is not plainly English), so English-only traffic never pays for them.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import asdict, dataclass

from expander.errors import ConfigError, MissingExtraError

__all__ = ["CANDIDATES", "LanguageGuess", "detect_language", "normalize_languages", "supports"]

UNDETERMINED = "und"
ANY = "*"
# ISO 639-1 codes lingua chooses among: the languages most prompts are typed in.
CANDIDATES = (
    "en",
    "es",
    "fr",
    "de",
    "it",
    "pt",
    "nl",
    "pl",
    "sv",
    "tr",
    "ru",
    "uk",
    "ja",
    "zh",
    "ko",
    "ar",
    "hi",
    "vi",
    "id",
    "cs",
)
MIN_ENGLISH_SHARE = 0.5
MIN_CONFIDENCE = 0.2
MIN_MARGIN = 1.4

# Function words and image-prompt vocabulary the English dictionary does not hold.
_ENGLISH_WORDS = frozenset(
    """
a an the of in on at to for from with without by into onto over under above below behind beside between
near inside outside through across along around against and or but nor so yet not no nothing is are was were
be been being am it its it's this that these those there here his her hers their theirs my mine our your
he she they we you i me him them us who whom whose which what where when while as than then very too
also just only some any all each every both few many much more most other another such one two three four
five six seven eight nine ten dozen half up down out off away back front top bottom left right center
centre middle side next own same made make like wearing holding standing sitting
photo photograph photography portrait render rendering illustration painting drawing sketch poster logo
closeup close-up wide-angle macro bokeh hdr 4k 8k uhd hd 3d 2d cgi octane unreal artstation trending
cyberpunk steampunk solarpunk synthwave vaporwave lowpoly low-poly isometric anime manga chibi kawaii
watercolor watercolour gouache impasto ukiyo-e art-deco deco nouveau noir neon pastel sepia monochrome
cinematic volumetric photorealistic hyperrealistic surreal minimalist minimalism maximalist retro vintage
futuristic dystopian utopian sci-fi scifi fantasy lofi lo-fi y2k kodak polaroid fujifilm dslr
""".split()
)
_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['’-][^\W\d_])*")


@dataclass(frozen=True)
class LanguageGuess:
    """A prompt's language.

    Attributes:
        code: ISO 639-1 code (`en`, `es`, ...), or `und` when it could not be determined.
        confidence: the detector's probability for `code` (the English-word share for method `words`).
        method: `words` (English-word share), `lingua` (the statistical detector) or `none` (no words).
    """

    code: str
    confidence: float
    method: str

    to_dict = asdict  # JSON-serialisable form


@functools.lru_cache(maxsize=1)
def _english_dictionary():
    try:
        import lemminflect
    except ImportError as exc:
        raise MissingExtraError("language detection", "language", exc) from exc
    return lemminflect


def _is_english(word: str) -> bool:
    w = word.lower().replace("’", "'")
    if w in _ENGLISH_WORDS:
        return True
    lemmas = _english_dictionary().getAllLemmas
    return bool(lemmas(w) or lemmas(w.rstrip("'s")) or (w[:1].upper() + w[1:] != w and lemmas(w[:1].upper() + w[1:])))


_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _detector():
    try:
        from lingua import IsoCode639_1, LanguageDetectorBuilder
    except ImportError as exc:
        raise MissingExtraError("language detection", "language", exc) from exc
    languages = [IsoCode639_1.from_str(code) for code in CANDIDATES]
    return LanguageDetectorBuilder.from_iso_codes_639_1(*languages).build()


@functools.lru_cache(maxsize=4096)
def detect_language(text: str) -> LanguageGuess:
    """The language of a (short) prompt: English-word share first, then lingua if confident, else `und`.

    Deterministic; cached per text. Raises `MissingExtraError` without the `language` extra.
    """
    words = _WORD.findall(text)
    if not words:  # digits, symbols or emoji only: nothing to tell a language by
        return LanguageGuess(UNDETERMINED, 0.0, "none")
    if not any(ord(c) > 0x2FF for w in words for c in w):  # Latin script (with accents) only
        # Capitalised words after the first are names ("Oaxaca", "Neuschwanstein"): they tell no language.
        counted = [w for i, w in enumerate(words) if i == 0 or not w[:1].isupper()]
        share = sum(_is_english(w) for w in counted) / len(counted)
        if share >= MIN_ENGLISH_SHARE:
            return LanguageGuess("en", round(share, 4), "words")
        if len(counted) < 2:  # one word ("ramen", "Pikachu", "perro") is too little to refuse a prompt on
            return LanguageGuess(UNDETERMINED, round(share, 4), "words")
    with _lock:  # the first call loads the models; lingua itself is thread-safe afterwards
        detector = _detector()
    ranked = detector.compute_language_confidence_values(text)
    top, second = ranked[0], ranked[1] if len(ranked) > 1 else None
    code = top.language.iso_code_639_1.name.lower()
    if code == "en" or (top.value >= MIN_CONFIDENCE and (second is None or top.value >= MIN_MARGIN * second.value)):
        return LanguageGuess(code, round(top.value, 4), "lingua")
    return LanguageGuess(UNDETERMINED, round(top.value, 4), "lingua")


def normalize_languages(languages) -> tuple[str, ...]:
    """A model's declared languages as lower-case codes; `["*"]` means any language.

    Raises:
        ConfigError: an entry that is not a two-letter ISO 639-1 code or `*`, or no entry at all (the
            languages come from a config's `languages` key or a model's declaration).
    """
    if isinstance(languages, str):
        languages = [languages]
    out = []
    for lang in languages:
        code = str(lang).strip().lower()
        if code != ANY and not re.fullmatch(r"[a-z]{2}", code):
            raise ConfigError(f"languages: {lang!r} is not a two-letter ISO 639-1 code (e.g. 'en') or '*'")
        out.append(code)
    if not out:
        raise ConfigError("languages: a model must declare at least one language (or '*')")
    return tuple(dict.fromkeys(out))


def supports(languages: tuple[str, ...], guess: LanguageGuess) -> bool:
    """Whether a model declaring `languages` can expand a prompt in `guess.code` (`und` always passes)."""
    return guess.code == UNDETERMINED or ANY in languages or guess.code in languages
