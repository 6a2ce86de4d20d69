"""The text safety policy: deterministic, model-free, shared by serving and the safety reward.

Two tiers of categories, matched by hand-written, conservative lexicons (word-bounded regular
expressions with exclusions for common benign lookalikes such as "shooting stars", "blood-red sunset",
"nude colour palette" or "a kid's birthday party"):

* **hard** categories are refused outright: never generated, never served.
    - `sexual_minors`: a sexual or nudity term together with a minor ("child", "teen", "12-year-old", ...).
    - `non_consensual_intimate`: sexual assault terms, or intimate content with a non-consent marker
      ("hidden camera", "without her consent", "drugged", ...).
    - `real_person_intimate`: a real named person (a listed public figure, or "celebrity", "my ex", a
      "deepfake") in an intimate or degrading scene.
* **soft** (sensitive) categories may appear when the user asked for them, but an expansion may not
  *add* one the prompt did not have (`added_categories`): `sexual`, `violence_gore`, `self_harm`,
  `hate_symbols`, `drugs`, `weapons`.

The lexicons favour precision on benign prompts; they are a floor, not a classifier. A learned
classifier can sit on top through `TextModerator` (a transformers text-classification model by
reference); when one is configured and cannot be loaded, callers must fail closed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path

from expander.errors import ExpanderError

__all__ = [
    "HARD_CATEGORIES",
    "SOFT_CATEGORIES",
    "ModeratorUnavailable",
    "SafetyVerdict",
    "TextModerator",
    "added_categories",
    "classify_text",
]

HARD_CATEGORIES = ("sexual_minors", "non_consensual_intimate", "real_person_intimate")
SOFT_CATEGORIES = ("sexual", "violence_gore", "self_harm", "hate_symbols", "drugs", "weapons")


def _rx(*patterns: str) -> re.Pattern[str]:
    """One case-insensitive alternation of word-bounded patterns."""
    return re.compile(r"\b(?:" + "|".join(patterns) + r")\b", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------------------
# lexicons (conservative: each entry is unambiguous in an image prompt, or carries its benign exclusions)

_SEXUAL = _rx(
    r"nude(?!\s+(?:colou?rs?|tones?|palette|lipsticks?|heels|shades?|beige|pink|makeup|hues?))",
    r"nudes",
    r"nudity",
    r"naked(?!\s+eye)",
    r"topless",
    r"bottomless",
    r"sex",
    r"sexual(?:ly)?(?!\s+dimorph)",
    r"sexy",
    r"erotic(?:a|ism)?",
    r"porn(?:ographic|ography)?",
    r"nsfw",
    r"hentai",
    r"genitals?",
    r"genitalia",
    r"penis",
    r"vagina",
    r"nipples?",
    r"(?<!chicken\s)(?<!turkey\s)(?<!duck\s)breasts?(?!\s+cancer)",
    r"undress(?:ed|ing)?",
    r"strippers?",
    r"striptease",
    r"strip\s+club",
    r"lingerie",
    r"seductive(?:ly)?",
    r"orgasm",
    r"fetish",
    r"bdsm",
    r"intercourse",
    r"lewd",
    r"onlyfans",
)
_INTIMATE = _rx(  # intimacy short of explicit content; only counts together with another marker
    r"intimate(?!\s+(?:lighting|atmosphere|setting|portrait|moment|space|venue|caf[eé]|dinner))",
    r"in (?:the )?(?:shower|bath(?:tub)?) naked",
    r"bedroom scene",
    r"making out",
    r"kissing passionately",
)
_MINOR = _rx(
    r"child(?:ren)?",
    r"kids?",
    r"toddlers?",
    r"infants?",
    r"bab(?:y|ies)",
    r"underage",
    r"minors?",
    r"pre-?teens?",
    r"teens?",
    r"teen-?agers?",
    r"teenage",
    r"(?:young|little)\s+(?:girls?|boys?)",
    r"school\s?girls?",
    r"school\s?boys?",
    r"loli",
    r"shota",
    r"jailbait",
    r"juveniles?",
    r"(?:[1-9]|1[0-7])[-\s]years?[-\s]old",
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|"
    r"twelve|thirteen|fourteen|fifteen|sixteen|seventeen)[-\s]years?[-\s]old",
)
_ASSAULT = _rx(  # hard on their own
    r"rap(?:e(?!\s+(?:fields?|flowers?|seeds?|plants?|crops?))|ed|ing|ist)",
    r"sexual(?:ly)?\s+assault(?:ed|ing)?",
    r"molest(?:ed|ing|ation|er)?",
    r"non-?consensual",
    r"revenge\s+porn",
    r"upskirt",
    r"creepshot",
    r"voyeur(?:ism|istic)?",
)
_NON_CONSENT = _rx(
    r"hidden\s+cam(?:era)?",
    r"spy\s*cam(?:era)?",
    r"without\s+(?:her|his|their|my)?\s*(?:consent|knowledge)",
    r"drugged",
    r"unconscious",
    r"passed\s+out",
    r"forced(?!\s+perspective)",
    r"against\s+(?:her|his|their)\s+will",
    r"secretly\s+(?:filmed|photographed|recorded)",
    r"leaked",
)
# Real people: a short hand-written list of widely depicted public figures, plus generic markers.
_PUBLIC_FIGURES = (
    "taylor swift",
    "donald trump",
    "joe biden",
    "barack obama",
    "michelle obama",
    "kamala harris",
    "hillary clinton",
    "elon musk",
    "mark zuckerberg",
    "jeff bezos",
    "bill gates",
    "vladimir putin",
    "xi jinping",
    "volodymyr zelensky",
    "emmanuel macron",
    "narendra modi",
    "pope francis",
    "king charles",
    "scarlett johansson",
    "emma watson",
    "emma stone",
    "jennifer lawrence",
    "margot robbie",
    "zendaya",
    "kim kardashian",
    "kylie jenner",
    "beyonce",
    "beyoncé",
    "rihanna",
    "billie eilish",
    "ariana grande",
    "selena gomez",
    "natalie portman",
    "angelina jolie",
    "gal gadot",
    "millie bobby brown",
    "jenna ortega",
    "sydney sweeney",
    "olivia rodrigo",
    "dua lipa",
    "lady gaga",
    "shakira",
    "greta thunberg",
    "tom cruise",
    "brad pitt",
    "leonardo dicaprio",
    "keanu reeves",
    "dwayne johnson",
    "tom hanks",
    "timothee chalamet",
    "timothée chalamet",
    "justin bieber",
    "harry styles",
    "oprah winfrey",
)
_REAL_PERSON = _rx(
    *(re.escape(name).replace(r"\ ", r"\s+") for name in _PUBLIC_FIGURES),
    r"celebrit(?:y|ies)",
    r"deep-?fakes?",
    r"real\s+person",
    r"famous\s+(?:actress|actor|singer|politician)",
    r"my\s+(?:ex|ex-girlfriend|ex-boyfriend|ex-wife|ex-husband|girlfriend|boyfriend|wife|husband|coworker|"
    r"co-worker|colleague|boss|teacher|classmate|neighbou?r|sister|brother|friend|crush)",
)
_DEGRADING = _rx(
    r"humiliat(?:ed|ing|ion)",
    r"degrad(?:ed|ing)(?!\s+(?:photo|film|image|print|quality|texture|paint))",
    r"covered\s+in\s+(?:feces|faeces|excrement|urine|vomit|spit)",
    r"urinat(?:ed|ing)\s+on",
    r"spat\s+on",
    r"on\s+a\s+leash",
    r"as\s+a\s+slave",
    r"in\s+chains\s+begging",
    r"groveling",
    r"grovelling",
)

_SOFT_LEXICONS: dict[str, re.Pattern[str]] = {
    "sexual": _SEXUAL,
    "violence_gore": _rx(
        r"gore",
        r"gory",
        r"bloody(?!\s+mary)",
        r"blood-?soaked",
        r"blood-?spattered",
        r"blood\s+splatter",
        r"pools?\s+of\s+blood",
        r"covered\s+in\s+blood",
        r"dripping\s+(?:with\s+)?blood",
        r"dismember(?:ed|ing|ment)?",
        r"decapitat(?:ed|ing|ion)",
        r"behead(?:ed|ing)",
        r"mutilat(?:ed|ing|ion)",
        r"disembowel(?:ed|ing)?",
        r"entrails",
        r"severed\s+(?:head|limbs?|arms?|legs?|hands?)",
        r"corpses?",
        r"dead\s+bod(?:y|ies)",
        r"massacre",
        r"murder(?:ed|ing|s)?(?!\s+of\s+crows)",
        r"stabb(?:ed|ing)",
        r"tortur(?:e|ed|ing)",
        r"public\s+execution",
        r"firing\s+squad",
        r"shot\s+dead",
        r"mass\s+shooting",
        r"carnage",
        r"slaughter(?:ed|ing)?",
    ),
    "self_harm": _rx(
        r"suicid(?:e|al)",
        r"self-?harm(?:ing)?",
        r"self-?injur(?:y|ies)",
        r"slit(?:ting)?\s+(?:her|his|their|my)?\s*wrists?",
        r"cutting\s+(?:herself|himself|themselves|myself)",
        r"hang(?:ing|ed)\s+(?:herself|himself|themselves|myself)",
        r"overdos(?:e|ed|ing)",
        r"noose",
        r"kill(?:ing|ed|s)?\s+(?:herself|himself|themselves|myself)",
    ),
    "hate_symbols": _rx(
        r"swastikas?",
        r"nazis?",
        r"neo-?nazis?",
        r"kkk",
        r"ku\s+klux\s+klan",
        r"white\s+(?:power|supremac(?:y|ist))",
        r"heil\s+hitler",
        r"sieg\s+heil",
        r"ss\s+(?:bolts|runes)",
        r"hate\s+symbols?",
        r"burning\s+cross",
        r"confederate\s+flag",
        r"iron\s+cross\s+flag",
        r"1488",
    ),
    "drugs": _rx(
        r"cocaine",
        r"heroin",
        r"meth(?:amphetamine)?",
        r"crystal\s+meth",
        r"crack\s+(?:pipe|cocaine|den)",
        r"fentanyl",
        r"mdma",
        r"lsd",
        r"opium",
        r"narcotics?",
        r"marijuana",
        r"cannabis",
        r"bongs?",
        r"snort(?:ing|ed)?",
        r"(?:shooting|injecting)\s+up",
        r"drug\s+(?:use|deal(?:er|ing)?|paraphernalia|addict)",
        r"lines\s+of\s+coke",
        r"getting\s+high",
    ),
    "weapons": _rx(
        r"(?<!water\s)(?<!glue\s)(?<!nail\s)(?<!heat\s)(?<!staple\s)(?<!spray\s)(?<!squirt\s)(?<!paint\s)"
        r"(?<!toy\s)(?<!nerf\s)(?<!caulk\s)(?<!grease\s)(?<!radar\s)(?<!speed\s)(?<!bubble\s)(?<!glue-)"
        r"guns?(?!\s*metal)(?!\s*smoke)",
        r"rifles?",
        r"pistols?",
        r"revolvers?",
        r"handguns?",
        r"shotguns?",
        r"firearms?",
        r"machine\s*guns?",
        r"ak-?47s?",
        r"ar-?15s?",
        r"assault\s+weapons?",
        r"grenades?",
        r"rocket\s+launchers?",
        r"bazookas?",
        r"(?<!bath\s)(?<!photo)(?<!bath-)bombs?(?!\s+pop)",
        r"explosives?",
        r"ammunition",
        r"bullets?(?!\s+(?:train|points?|journal|list|proof))",
        r"(?<!palette\s)(?<!butter\s)(?<!putty\s)(?<!bread\s)(?<!cheese\s)(?<!pocket\s)(?<!craft\s)knife",
        r"(?<!palette\s)(?<!butter\s)(?<!putty\s)(?<!bread\s)(?<!cheese\s)(?<!craft\s)knives",
        r"daggers?",
        r"machetes?",
        r"switchblades?",
        r"sniper",
    ),
}


@dataclass
class SafetyVerdict:
    """The policy's verdict on one text.

    Attributes:
        blocked: a hard category matched: the text must not be generated or served.
        categories: every category matched, hard and soft, in policy order.
        hard: the hard categories matched (a subset of `categories`).
        reasons: one human-readable reason per match, naming the words that triggered it.
    """

    blocked: bool = False
    categories: list[str] = field(default_factory=list)
    hard: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _found(pattern: re.Pattern[str], texts: tuple[str, ...]) -> list[str]:
    return sorted({m.group(0).lower() for text in texts for m in pattern.finditer(text)})


# ---------------------------------------------------------------------------------------------------------
# normalisation: obfuscated spellings meet the lexicons in at least one of the text's views

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


def classify_text(text: str) -> SafetyVerdict:
    """Apply the lexicon policy to `text` (a prompt or an expansion). Deterministic, no model.

    The lexicons are matched against the normalised views of the text (`normalized_views`), so look-alike
    characters, digits for letters, inserted symbols and spelled-out letters do not hide a category.

    Returns:
        A `SafetyVerdict`; `blocked` is true when any hard category matched.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    norm = normalized_views(text)
    hard: list[str] = []
    reasons: list[str] = []
    sexual = _found(_SEXUAL, norm)
    intimate = sexual + _found(_INTIMATE, norm)

    minors = _found(_MINOR, norm)
    if sexual and minors:
        hard.append("sexual_minors")
        reasons.append(f"sexual_minors: sexual terms {sexual} together with minor terms {minors}")

    assault = _found(_ASSAULT, norm)
    non_consent = _found(_NON_CONSENT, norm)
    if assault or (intimate and non_consent):
        hard.append("non_consensual_intimate")
        words = assault or (intimate + non_consent)
        reasons.append(f"non_consensual_intimate: {words}")

    people = _found(_REAL_PERSON, norm)
    degrading = _found(_DEGRADING, norm)
    # Sexual terms (not mere romance: "an intimate dinner with my wife") or degrading ones.
    if people and (sexual or degrading):
        hard.append("real_person_intimate")
        reasons.append(f"real_person_intimate: real person {people} with {sexual + degrading}")

    soft: list[str] = []
    for name, pattern in _SOFT_LEXICONS.items():
        words = sexual if name == "sexual" else _found(pattern, norm)
        if words:
            soft.append(name)
            reasons.append(f"{name}: {words}")
    return SafetyVerdict(blocked=bool(hard), categories=hard + soft, hard=hard, reasons=reasons)


def added_categories(prompt: str, expansion: str) -> list[str]:
    """Categories (hard or soft) present in `expansion` but absent from `prompt`, in policy order.

    An expansion may enrich a scene but not make it more sensitive than the user asked for: a non-empty
    result means the expansion must be regenerated or refused.
    """
    before = set(classify_text(prompt).categories)
    return [c for c in classify_text(expansion).categories if c not in before]


# ---------------------------------------------------------------------------------------------------------
# optional learned moderator

_SAFE_LABELS = {"safe", "ok", "neutral", "normal", "none", "non-toxic", "non_toxic", "not_toxic", "clean", "sfw"}


class ModeratorUnavailable(ExpanderError, RuntimeError):
    """A configured moderation model could not be loaded or run: callers must fail closed."""


class TextModerator:
    """A transformers text-classification model used as a second moderation layer.

    Args:
        model_ref: a local model directory or a hub id of a sequence-classification model.
        threshold: a label counts when its probability is >= this.
        flag_labels: labels that mean "unsafe"; default every label not in a safe-label list
            (`safe`, `neutral`, `non-toxic`, ...).
        device: torch device; default CPU.

    Raises:
        ModeratorUnavailable: the model cannot be loaded (missing dir, no hub, broken files).
    """

    def __init__(
        self,
        model_ref: str | Path,
        threshold: float = 0.5,
        flag_labels: list[str] | None = None,
        device: str | None = None,
    ):
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.model_ref = str(model_ref)
        self.threshold = threshold
        try:
            from transformers import pipeline

            self.pipe = pipeline("text-classification", model=self.model_ref, device=device or "cpu", top_k=None)
        except Exception as exc:  # any loading failure means we cannot moderate: the caller fails closed
            raise ModeratorUnavailable(f"moderation model {self.model_ref!r} is unavailable: {exc}") from exc
        labels = list(self.pipe.model.config.id2label.values())
        if flag_labels is None:
            flag_labels = [lab for lab in labels if lab.lower() not in _SAFE_LABELS]
        unknown = sorted(set(flag_labels) - set(labels))
        if unknown:
            raise ValueError(f"flag_labels {unknown} are not labels of {self.model_ref!r}; it has {labels}")
        self.flag_labels = list(flag_labels)

    def flagged(self, texts: list[str]) -> list[list[str]]:
        """For each text, the flagged labels as categories `model:<label>` (empty list = passed).

        Raises:
            ModeratorUnavailable: the model failed while running.
        """
        if not texts:
            return []
        try:
            outputs = self.pipe(list(texts), truncation=True)
        except Exception as exc:
            raise ModeratorUnavailable(f"moderation model {self.model_ref!r} failed: {exc}") from exc
        result = []
        for scores in outputs:
            if isinstance(scores, dict):
                scores = [scores]
            result.append(
                [
                    f"model:{s['label']}"
                    for s in scores
                    if s["label"] in self.flag_labels and s["score"] >= self.threshold
                ]
            )
        return result
