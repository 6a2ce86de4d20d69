"""The checker against labelled data: accuracy on the hand-labelled set, and identity (a text keeps every
constraint of its own) over the shipped caption corpus.

`data/constraints_labelled.jsonl`: per prompt, faithful expansions and unfaithful ones labelled with the kind
they break (also read by `benchmarks/constraints_speed.py`).
"""

from __future__ import annotations

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


def test_accuracy_on_labelled_set():
    rows = _rows()
    faithful = [(r["prompt"], e) for r in rows for e in r["faithful"]]
    unfaithful = [(r["prompt"], u["text"]) for r in rows for u in r["unfaithful"]]
    false_fails = [(p, [v.reason for v in check(p, e).violated]) for p, e in faithful if not check(p, e).ok]
    missed = [p for p, e in unfaithful if check(p, e).ok]
    pass_rate = 1 - len(false_fails) / len(faithful)
    catch_rate = 1 - len(missed) / len(unfaithful)
    assert pass_rate >= 0.95, false_fails
    assert catch_rate >= 0.90, missed


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
