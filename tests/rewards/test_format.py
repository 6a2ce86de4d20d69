"""The format reward: length, cleanliness, refusal, and (issue #26) loops within one completion."""

from __future__ import annotations

import pytest

from expander.rewards.format import MAX_REPEATED, format_check, repeated_share

# A held-out expansion of the adapter shipped before issue #26 ("isometric 3D render of a tiny office", medium,
# seed 0): the same two sentences, left and right, three times over.
LOOP = (
    "A tiny office at the edge of a city, with a single window showing a small office door. The door is closed and "
    "the windows are only slightly open. A thin line of light from the left fills the room, and a faint glow from "
    "the window. A small window shows a small office door. A thin line of light from the right fills the room, and "
    "a faint glow from the window. A thin line of light from the left is blocked by a few framed photos. A thin "
    "line of light from the right is blocked by a few framed photos, and a faint glow from the window."
)
# Its SFT adapter on the same prompt and seed: no sentence twice.
PLAIN = (
    "A 3D render of a tiny office with a single window displaying a small business card on a white wall. The room "
    "has a low floor level with a single desk lamp, a few bookshelves, a chalkboard whiteboard, and a small "
    "chalkboard sign on a black background. Soft diffuse light from a single window pools onto the wall, casting "
    "warm shadows across the room."
)


def test_repeated_share_counts_trigrams_seen_before():
    assert repeated_share("a b c a b c") == pytest.approx(1 / 4)  # (a b c) (b c a) (c a b) (a b c)
    assert repeated_share("one two") == 0.0
    assert repeated_share("") == 0.0


def test_a_loop_costs_and_ordinary_text_does_not():
    loop = format_check("isometric 3D render of a tiny office", LOOP, 30, 160)
    plain = format_check("isometric 3D render of a tiny office", PLAIN, 30, 160)
    assert loop.repeated > 0.2 and loop.score < 0.7
    assert plain.repeated <= MAX_REPEATED and plain.score == 1.0


def test_the_loop_factor_falls_with_the_repeated_share_and_can_be_turned_off():
    once = " ".join(f"word{i}" for i in range(60))
    scores = [format_check("p", once + (" " + once[:k]) * 1, 30, 500).score for k in (0, 120, 240, 400)]
    assert scores[0] == 1.0 and scores == sorted(scores, reverse=True) and scores[-1] < scores[1]
    assert format_check("p", LOOP, 30, 160, max_repeated=1.0).score == 1.0
