"""User styles and the teacher prompt (long -> short) of synthesis.

The teacher prompt is the *inverse* of the expansion contract and deliberately not part of it: one system
prompt, one few-shot example and one instruction per style.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["DEFAULT_STYLE_SHARES", "STYLES", "TEACHER_SYSTEM_PROMPT", "UserStyle", "quoted_texts", "teacher_messages"]

TEACHER_SYSTEM_PROMPT = (
    "You turn a detailed image caption into the short prompt a person would type to get that image. "
    "The short prompt names the main subject and at most one or two details from the caption. "
    "Never add anything that is not in the caption. Reply with the short prompt only."
)


@dataclass(frozen=True)
class UserStyle:
    """How one kind of user writes, with its own worked example (`example_caption` -> `example`).

    Every style has a different example subject: with one shared example caption the 135M teacher copied
    that caption's subject (a puppy) into shorts for unrelated captions.
    """

    name: str
    instruction: str
    example_caption: str
    example: str
    needs_quote: bool = False  # only for captions with quoted text; the short must keep it verbatim
    lowercase: bool = False  # lowercased after generation (quoted text kept as is)
    typos: bool = False  # one seeded typo added after the filters (kept only if the constraints still hold)
    opener: str | None = None  # request styles: prepended when the teacher's short is not phrased as a request


STYLES: dict[str, UserStyle] = {
    s.name: s
    for s in (
        UserStyle(
            "keywords",
            "Write 3 to 6 comma-separated keywords.",
            "A ceramic teapot glazed in deep cobalt blue sits on a weathered oak table beside two small cups, "
            "soft morning light from a window on the left, steam curling from the spout.",
            "cobalt blue teapot, oak table, morning light",
        ),
        UserStyle(
            "sentence",
            "Write one short sentence of 5 to 12 words.",
            "An elderly fisherman with a grey beard mends a green net on a wooden pier at dawn, wearing a yellow "
            "raincoat, gulls circling over calm harbor water.",
            "An elderly fisherman mending a net on a pier at dawn.",
        ),
        UserStyle(
            "conversational",
            "Write it as a casual request, like 'I want a picture of ...'.",
            "A cozy reading nook in a loft apartment, a mustard velvet armchair under a tall arched window, "
            "stacks of books on the floor, a trailing plant on a shelf, rain on the glass.",
            "I want a picture of a velvet armchair by a window with books",
            opener="I want a picture of",
        ),
        UserStyle(
            "can_you_make",
            "Write it as a casual request starting with 'can you make'.",
            "A red vintage sports car speeds along a coastal highway beside turquoise sea cliffs, motion blur on "
            "the wheels, late afternoon sun, cinematic wide shot.",
            "can you make a red vintage sports car on a coastal highway",
            opener="can you make",
        ),
        UserStyle(
            "lowercase_typos",
            "Write it in lowercase with no punctuation, quickly typed, under 10 words.",
            "A bowl of ramen with a soft boiled egg, sliced pork and scallions in golden broth, chopsticks "
            "resting on the rim, steam rising, dark wooden counter, overhead view.",
            "bowl of ramen with egg and pork overhead view",
            lowercase=True,
            typos=True,
        ),
        UserStyle(
            "quoted_text",
            "Write a short prompt that names the main subject and keeps the quoted text {quote} exactly.",
            'A vintage neon sign reading "OPEN ALL NIGHT" glows pink above the door of a small diner on a wet '
            "city street at night, reflections on the pavement.",
            'a diner at night with a neon sign that says "OPEN ALL NIGHT"',
            needs_quote=True,
        ),
    )
}

DEFAULT_STYLE_SHARES: dict[str, float] = {
    "keywords": 0.2,
    "sentence": 0.2,
    "conversational": 0.15,
    "can_you_make": 0.15,
    "lowercase_typos": 0.15,
    "quoted_text": 0.15,
}

QUOTE_RE = re.compile(r'"([^"\n]{1,80})"|\u201c([^\u201d\n]{1,80})\u201d')


def quoted_texts(text: str) -> list[str]:
    """Quoted strings in a text (straight or curly double quotes), without their quotes."""
    return [a or b for a, b in QUOTE_RE.findall(text)]


def teacher_messages(caption: str, style: UserStyle, max_caption_words: int | None = None) -> list[dict[str, str]]:
    """Few-shot chat for the teacher: system rules, one worked answer per style, then the caption and style.

    The few-shot turns are the same for every request (every style is shown with its own example caption, in a
    fixed order), so vLLM's
    prefix cache computes them once; only the caption and the instruction differ.

    Args:
        max_caption_words: show the teacher only the caption's first words (its main subject); the filters
            still check the short against the whole caption. `None`: the whole caption.
    """
    messages = [{"role": "system", "content": TEACHER_SYSTEM_PROMPT}]
    for example in STYLES.values():
        example_quotes = quoted_texts(example.example_caption)
        instruction = example.instruction.format(quote=f'"{example_quotes[0]}"' if example_quotes else "")
        messages += [
            {"role": "user", "content": f"Caption: {example.example_caption}\n{instruction}"},
            {"role": "assistant", "content": example.example},
        ]
    quotes = quoted_texts(caption)
    words = caption.split()
    shown = (
        caption
        if max_caption_words is None or len(words) <= max_caption_words
        else " ".join(words[:max_caption_words]) + " ..."
    )
    instruction = style.instruction.format(quote=f'"{quotes[0]}"' if quotes else "")
    messages.append({"role": "user", "content": f"Caption: {shown}\n{instruction}"})
    return messages
