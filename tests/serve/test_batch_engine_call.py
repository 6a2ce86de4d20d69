"""A `/v1/expand` batch draws its samples in one engine call: through the real app and service on a scripted
backend (in process, no model), and in the transformers worker, whose one call is one `generate` batch."""

from __future__ import annotations

import asyncio
import threading

import pytest
from fastapi.testclient import TestClient

from expander.engine import Generation, SampleRequest
from expander.serve.app import create_app
from expander.serve.backends import TransformersAsyncBackend
from expander.serve.config import ServeConfig
from expander.serve.service import ExpanderService
from tests.serve.test_streaming_batches import UNSAFE_PROMPT, ScriptedBackend


@pytest.fixture(scope="module")
def client(builtin_model_dir):
    config = ServeConfig(
        backend="transformers", check_constraints=False, default_adapter="none", model=str(builtin_model_dir)
    )
    backend = ScriptedBackend(builtin_model_dir)
    with TestClient(create_app(config, ExpanderService(config, backend=backend))) as client:
        import time

        while client.get("/health").status_code != 200:
            time.sleep(0.05)
        client.backend = backend
        yield client


def test_a_batch_with_a_bad_prompt_is_one_engine_call_of_the_good_ones(client):
    prompts = [f"a red fox number {i} in snow" for i in range(7)]
    prompts.insert(3, "   ")
    before = len(client.backend.calls)
    body = client.post("/v1/expand", json={"prompts": prompts, "seed": 3, "n": 2}).json()
    assert (body["succeeded"], body["failed"]) == (7, 1)
    assert client.backend.calls[before:] == [14]  # 7 prompts x n=2, together
    # Each item is still the single-prompt answer: same seeds, same text as alone.
    alone = client.post("/v1/expand", json={"prompt": prompts[5], "seed": 3, "n": 2, "cache": False}).json()
    assert body["results"][5]["response"]["expansions"][1]["text"] == alone["expansions"][1]["text"]


def test_a_resample_after_a_refused_output_is_a_later_call_and_fails_only_its_prompt(client):
    before = len(client.backend.calls)
    body = client.post("/v1/expand", json={"prompts": ["a red fox", UNSAFE_PROMPT, "a lighthouse"], "seed": 3}).json()
    assert [item["status"] for item in body["results"]] == [200, 400, 200]
    assert client.backend.calls[before:] == [3, 1]  # the batch, then the unsafe prompt's one resample


def test_a_batch_where_no_prompt_samples_makes_no_engine_call(client):
    before = len(client.backend.calls)
    body = client.post("/v1/expand", json={"prompts": ["a fox", "a heron"], "creativity": "raw"}).json()
    assert body["succeeded"] == 2 and client.backend.calls[before:] == []


def test_one_generate_call_is_one_transformers_batch():
    backend = TransformersAsyncBackend("unused", batch_size=32)
    batches: list[int] = []
    release = threading.Event()

    def run_batch(batch):
        release.wait(10)  # hold the first batch so the worker could, wrongly, split the rest
        batches.append(len(batch))
        return [Generation("x", j.sample.seed, 1, 1, "stop") for j in batch]

    backend._run_batch = run_batch

    async def main():
        backend._thread = threading.Thread(target=backend._worker, daemon=True)
        backend._thread.start()
        backend.ready = True
        try:
            sample = lambda seed: SampleRequest((1, 2), seed, 0.5, 0.9, 8)  # noqa: E731
            first = asyncio.ensure_future(backend.generate([sample(0)]))
            await asyncio.sleep(0.1)
            rest = asyncio.ensure_future(backend.generate([sample(s) for s in range(1, 21)]))
            await asyncio.sleep(0.1)
            release.set()
            assert len(await first) == 1 and [g.seed for g in await rest] == list(range(1, 21))
        finally:
            await backend.close()

    asyncio.run(main())
    assert batches == [1, 20]
