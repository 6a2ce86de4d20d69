"""The checker against labelled data: accuracy on the hand-labelled set, and identity (a text keeps every
constraint of its own) over the shipped caption corpus.

`data/constraints_labelled.jsonl`: per prompt, faithful expansions and unfaithful ones labelled with the kind
they break (also read by `benchmarks/constraints_speed.py`). Rows with a `case` are the hard cases of negation
scope, emptiness and style words (issue #26): "without bananas" in a bowl of fruit, "not a single car in sight",
"not without", "no shortage of", "no-frills", "No Man's Sky", "nobody's fool", "a no parking sign", "car-free",
"empty" / "deserted" / "alone" / "nobody" with a person or animal added, "an empty glass", "watercolor painting",
"isometric illustration", "a digital painting", "in the style of Van Gogh", "a product shot".
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from expander.constraints import KINDS, check

DATA = Path(__file__).parent / "data" / "constraints_labelled.jsonl"
CAPTIONS = Path(__file__).resolve().parents[2] / "data" / "captions"


def _rows() -> list[dict]:
    return [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]


def test_labelled_set_is_large_and_covers_every_kind():
    rows = _rows()
    assert len(rows) >= 120
    assert all(r["faithful"] and r["unfaithful"] for r in rows)
    assert {u["kind"] for r in rows for u in r["unfaithful"]} == set(KINDS)
    for r in rows:
        for text in r["faithful"] + [u["text"] for u in r["unfaithful"]]:
            assert 30 <= len(text.split()) <= 120, text


@functools.cache
def _verdicts() -> tuple[tuple[dict, list[tuple[str, bool, list[str]]]], ...]:
    """Per row, per labelled text: (label, whether the checker agrees, its reasons); checked once per session.
    The label is "faithful" or the kind the text breaks; an unfaithful text must fail for that kind."""
    out = []
    for r in _rows():
        verdicts = []
        for e in r["faithful"]:
            report = check(r["prompt"], e)
            verdicts.append(("faithful", report.ok, [v.reason for v in report.violated]))
        for u in r["unfaithful"]:
            report = check(r["prompt"], u["text"])
            caught = u["kind"] in {v.constraint.kind for v in report.violated if v.constraint.hard}
            verdicts.append((u["kind"], caught, [v.reason for v in report.violated]))
        out.append((r, verdicts))
    return tuple(out)


def _wrong(hard_only: bool = False) -> tuple[list, list, int]:
    """(faithful texts the checker fails, unfaithful texts it passes or fails for another kind, texts)."""
    false_fails, missed, n = [], [], 0
    for r, verdicts in _verdicts():
        if hard_only and "case" not in r:
            continue
        for label, right, reasons in verdicts:
            n += 1
            if not right:
                (false_fails if label == "faithful" else missed).append((r["prompt"], label, reasons))
    return false_fails, missed, n


def test_accuracy_on_labelled_set():
    rows = _rows()
    false_fails, missed, n = _wrong()
    faithful = sum(len(r["faithful"]) for r in rows)
    assert 1 - len(false_fails) / faithful >= 0.95, false_fails
    assert 1 - len(missed) / (n - faithful) >= 0.90, missed
    assert 1 - (len(false_fails) + len(missed)) / n >= 0.95, (false_fails, missed)


def test_hard_negation_emptiness_and_style_cases():
    hard = [r for r in _rows() if "case" in r]
    assert len(hard) >= 50
    kinds = {u["kind"] for r in hard for u in r["unfaithful"]}
    assert {"negation", "style"} <= kinds
    for cue in ("without", "free of", "lacking", "devoid of", "nothing but", "not without", "no-frills", "No Man's"):
        assert any(cue in r["prompt"] for r in hard), cue
    false_fails, missed, n = _wrong(hard_only=True)
    assert 1 - (len(false_fails) + len(missed)) / n >= 0.95, (false_fails, missed)


def test_identity_over_caption_corpus_and_labelled_texts():
    import time

    texts = [
        json.loads(line)["caption"]
        for f in sorted(CAPTIONS.glob("*.jsonl"))
        for line in f.read_text().splitlines()
        if line.strip()
    ]
    assert len(texts) >= 300
    texts += [t for r in _rows() for t in r["faithful"] + [u["text"] for u in r["unfaithful"]]]
    start = time.process_time()
    failures = [(t[:80], [v.reason for v in check(t, t).violated]) for t in texts if not check(t, t).ok]
    assert not failures, failures
    assert time.process_time() - start < 30
