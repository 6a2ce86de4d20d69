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

Where things are: `policy.py` (the categories, `classify_text`, `added_categories`), `lexicons.py` (the
word-bounded patterns of each category), `normalization.py` (the views of a text that defeat obfuscated
spellings), `moderator.py` (the optional learned classifier). This module only re-exports.
"""

from expander.safety.moderator import ModeratorUnavailable, TextModerator
from expander.safety.normalization import normalized_views
from expander.safety.policy import HARD_CATEGORIES, SOFT_CATEGORIES, SafetyVerdict, added_categories, classify_text

__all__ = [
    "HARD_CATEGORIES",
    "SOFT_CATEGORIES",
    "ModeratorUnavailable",
    "SafetyVerdict",
    "TextModerator",
    "added_categories",
    "classify_text",
    "normalized_views",
]
