"""Verified expansion through the real app and service on a scripted backend (in process, no model): the server
keeps the candidate `expander.expand.select_candidates` keeps, reports that choice's own constraint report, and a
resample after a refused output is verified on its own text."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from expander.engine import Generation, candidate_seed, load_tokenizer
from expander.expand import plan_expansion, select_candidates, verify_expansion
from expander.serve.app import create_app
from expander.serve.backends import AsyncGenerationBackend
from expander.serve.config import ServeConfig
from expander.serve.service import REGEN_SEED_OFFSET, ExpanderService

PROMPT = "a red fox in snow"
SEED = 3
FOX = "A red fox in deep snow, soft winter light."
LEAK = "A red fox in deep snow. Keep everything the user asked for: every subject, count, colour."  # keeps it all
WHALE = "A blue whale in a desert at noon."  # keeps nothing
TEXTS = {
    candidate_seed(SEED, 0): LEAK,  # expansion 0: both candidates pass, the first wins, but it quotes the rules
    candidate_seed(SEED, 1): FOX,
    SEED + REGEN_SEED_OFFSET: WHALE,  # ... and its resample keeps nothing
    candidate_seed(SEED + 1, 0): WHALE,  # expansion 1: only the second candidate passes
    candidate_seed(SEED + 1, 1): FOX,
}


class SeededTextBackend(AsyncGenerationBackend):
    """The text of a sample is `TEXTS[seed]`."""

    backend = "scripted"

    async def _start(self) -> None:
        self.tokenizer = load_tokenizer(self.model_path)

    async def _generate(self, samples):
        return [Generation(TEXTS[s.seed], s.seed, len(s.prompt_ids), 8, "stop") for s in samples]


@pytest.fixture(scope="module")
def client(builtin_model_dir):
    config = ServeConfig(backend="transformers", default_adapter="none", model=str(builtin_model_dir))
    with TestClient(create_app(config, ExpanderService(config, backend=SeededTextBackend(builtin_model_dir)))) as c:
        import time

        while c.get("/health").status_code != 200:
            time.sleep(0.05)
        yield c


def test_the_server_keeps_the_shared_selection_and_verifies_a_resample_on_its_own_text(client):
    body = {"prompt": PROMPT, "n": 2, "seed": SEED, "candidates": 2, "fallback": False}
    r = client.post("/v1/expand", json=body)
    assert r.status_code == 200, r.text
    first, second = r.json()["expansions"]
    # Expansion 1: the one passing candidate, with the report the shared selection made for it.
    plan = plan_expansion(PROMPT)
    [choice] = select_candidates(plan, [Generation(t, 0, 1, 1, "stop") for t in (WHALE, FOX)], 2)
    assert (second["text"], second["verified"], second["safety"]["regenerated"]) == (FOX, True, False)
    assert second["constraints"] == choice.report and second["seed"] == SEED + 1 and second["attempts"] == 2
    # Expansion 0: the kept candidate leaked the system prompt, so it was resampled once; `verified` and the
    # report describe the text that was returned, not the candidate that was thrown away.
    assert first["safety"]["regenerated"] is True and first["seed"] == SEED + REGEN_SEED_OFFSET
    assert first["text"] == WHALE and first["verified"] is False
    assert first["constraints"] == verify_expansion(PROMPT, WHALE)[1] and first["constraints"]["faithful"] is False


def test_the_faithful_fallback_is_on_by_default_and_a_request_can_turn_it_off(client):
    # Expansion 0's resample keeps nothing (WHALE): by default the text returned is built from the prompt and
    # that sample's sentences that keep it (none here), verified, `fallback: true`; the moderation and the
    # report see that text. Expansion 1 passes on its own: no fallback.
    r = client.post("/v1/expand", json={"prompt": PROMPT, "n": 2, "seed": SEED, "candidates": 2})
    assert r.status_code == 200, r.text
    first, second = r.json()["expansions"]
    assert (first["text"], first["verified"], first["fallback"]) == (PROMPT + ".", True, True)
    assert first["constraints"] == verify_expansion(PROMPT, PROMPT + ".")[1] and first["safety"]["regenerated"]
    assert (second["text"], second["verified"], second["fallback"]) == (FOX, True, False)
    # One candidate: the lone sample is verified too (WHALE at seed SEED + 1 + ... is scripted below).
    TEXTS[100] = WHALE
    one = client.post("/v1/expand", json={"prompt": PROMPT, "seed": 100}).json()["expansions"][0]
    assert (one["text"], one["verified"], one["fallback"], one["attempts"]) == (PROMPT + ".", True, True, 1)
    off = client.post("/v1/expand", json={"prompt": PROMPT, "seed": 100, "fallback": False}).json()["expansions"][0]
    assert (off["text"], off["verified"], off["fallback"]) == (WHALE, None, False)


def test_fallback_without_the_constraints_extra_is_refused_at_start_or_per_request(builtin_model_dir, monkeypatch):
    import importlib.util

    from expander.errors import MissingExtraError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "inflect" else real(name, *a))
    explicit = ServeConfig(backend="transformers", default_adapter="none", model=str(builtin_model_dir), fallback=True)
    with pytest.raises(MissingExtraError, match=r"fallback: true.*expander\[constraints\].*or set fallback: false"):
        ExpanderService(explicit)
    config = ServeConfig(backend="transformers", default_adapter="none", model=str(builtin_model_dir))
    service = ExpanderService(config, backend=SeededTextBackend(builtin_model_dir))
    assert service.fallback.default is False  # the default follows the extra: off without it
    with TestClient(create_app(config, service)) as c:
        import time

        while c.get("/health").status_code != 200:
            time.sleep(0.05)
        body = {"prompt": PROMPT, "seed": SEED, "fallback": True}
        r = c.post("/v1/expand", json=body)
        assert r.status_code == 400 and r.json()["error"]["param"] == "fallback", r.text
        assert r.json()["error"]["code"] == "missing_extra"
        r = c.post("/v1/expand", json={**body, "fallback": None})
        assert r.status_code == 200, r.text  # the next request, without it, is served
