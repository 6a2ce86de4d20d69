"""Language detection of short prompts: English stays English, other languages are named, and a lone
word or name is never grounds for refusing a prompt."""

from __future__ import annotations

import pytest

from expander.errors import ConfigError
from expander.language import LanguageGuess, detect_language, normalize_languages, supports

ENGLISH = [
    "a red fox in snow",
    "a cat",
    "cyberpunk city, neon, rain",
    "portrait of a woman, bokeh",
    "a bowl of ramen",
    "Eiffel tower at night",
    "a photo of a café in paris",
    '"OPEN" sign on a door',
    "Kitsune in the snow, ukiyo-e",
    "a red fox in snow, 4k, hdr, trending on artstation",
    "can u make a pic of my dog lol",
    "Totoro under an umbrella",
    "Shibuya crossing at night",
    "mariachi band in Oaxaca",
    "three red apples on a wooden table, watercolor",
]
OTHER = {
    "un zorro rojo en la nieve": "es",
    "El gato duerme en el sofá": "es",
    "un renard roux dans la neige": "fr",
    "Le chat dort sur le canapé": "fr",
    "ein roter Fuchs im Schnee": "de",
    "Die Katze schläft auf dem Sofa": "de",
    "una volpe rossa nella neve": "it",
    "uma raposa vermelha na neve": "pt",
    "雪の中の赤いキツネ": "ja",
    "雪中的红狐狸": "zh",
    "лиса в снегу": "ru",
    "눈 속의 붉은 여우": "ko",
}


@pytest.mark.parametrize("prompt", ENGLISH)
def test_english_prompts_are_english(prompt):
    assert detect_language(prompt).code == "en"


@pytest.mark.parametrize("prompt,code", sorted(OTHER.items()))
def test_other_languages_are_named(prompt, code):
    guess = detect_language(prompt)
    assert guess.code == code, guess
    assert not supports(("en",), guess)
    assert supports((code,), guess) and supports(("*",), guess)


@pytest.mark.parametrize("prompt", ["ramen", "Pikachu", "Oaxaca", "Neuschwanstein", "1234", "\U0001f98a"])
def test_a_lone_word_or_name_is_undetermined_and_accepted_by_every_model(prompt):
    guess = detect_language(prompt)
    assert guess.code == "und"
    assert supports(("en",), guess)


def test_guesses_serialise_and_declared_languages_are_validated():
    assert LanguageGuess("en", 1.0, "words").to_dict() == {"code": "en", "confidence": 1.0, "method": "words"}
    assert normalize_languages(["EN", "es", "en"]) == ("en", "es")
    assert normalize_languages("*") == ("*",)
    with pytest.raises(ConfigError, match="ISO 639-1"):
        normalize_languages(["english"])
    with pytest.raises(ConfigError, match="at least one"):
        normalize_languages([])
