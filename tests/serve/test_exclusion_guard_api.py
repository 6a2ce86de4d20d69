"""The server hands each sample its prompt's exclusion guard (`expander.engine.exclusion_guard`) through the real
app and service, on a recording backend (in process, no model); the serve config turns it off, and asking for it
without the checker it reads fails at start."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from expander.engine import Generation, load_tokenizer
from expander.serve.app import create_app
from expander.serve.backends import AsyncGenerationBackend
from expander.serve.config import ServeConfig
from expander.serve.service import ExpanderService


class RecordingBackend(AsyncGenerationBackend):
    """Answers every sample with a plain room and keeps the samples it was given."""

    backend = "scripted"
    seen: list

    async def _start(self) -> None:
        self.tokenizer = load_tokenizer(self.model_path)
        self.seen = []

    async def _generate(self, samples):
        self.seen.extend(samples)
        return [Generation("A bare room with grey walls.", s.seed, len(s.prompt_ids), 8, "stop") for s in samples]


def _serve(model_dir, **config):
    config = ServeConfig(backend="transformers", default_adapter="none", model=str(model_dir), **config)
    backend = RecordingBackend(model_dir)
    client = TestClient(create_app(config, ExpanderService(config, backend=backend)))
    return client, backend


@pytest.mark.parametrize("setting, guarded", [(None, True), (False, False)])
def test_each_sample_carries_its_prompts_guard(builtin_model_dir, setting, guarded):
    client, backend = _serve(builtin_model_dir, exclusion_guard=setting)
    with client:
        while client.get("/health").status_code != 200:
            time.sleep(0.05)
        r = client.post("/v1/expand", json={"prompt": "a room with no windows", "n": 2, "seed": 1})
        assert r.status_code == 200, r.text
        free = client.post("/v1/expand", json={"prompt": "a red fox in snow", "seed": 1})
        assert free.status_code == 200, free.text
    room, fox = backend.seen[:2], backend.seen[2:]
    assert len(room) == 2 and len(fox) == 1
    assert all(("windows" in s.excluded) is guarded for s in room)
    assert fox[0].excluded == ()  # a prompt that excludes nothing guards nothing


def test_asking_for_the_guard_without_the_checker_fails_at_start(builtin_model_dir, monkeypatch):
    import importlib.util

    from expander.errors import MissingExtraError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "inflect" else real(name, *a))
    config = ServeConfig(
        backend="transformers", default_adapter="none", model=str(builtin_model_dir), exclusion_guard=True
    )
    with pytest.raises(MissingExtraError, match=r"exclusion_guard: true.*or set exclusion_guard: false"):
        ExpanderService(config)
