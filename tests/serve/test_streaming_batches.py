"""Streaming (SSE) and batches through the real app and service, on a scripted backend (in process, no model):
OpenAI's chunk format read by the official `openai` client, `/v1/expand`'s events, a refused output that is
never streamed, and batches whose bad prompts fail alone."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from expander.engine import Generation, load_tokenizer
from expander.serve.app import create_app
from expander.serve.backends import AsyncGenerationBackend
from expander.serve.config import ServeConfig
from expander.serve.service import ExpanderService
from expander.serve.streaming import text_chunks

UNSAFE_PROMPT = "a child in a park"


class ScriptedBackend(AsyncGenerationBackend):
    """Text from the prompt ids and the seed; a naked child for the unsafe prompt (so every sample is refused)."""

    backend = "scripted"

    def __init__(self, model_path):
        super().__init__(model_path)
        self.calls: list[int] = []  # samples per generate call

    async def _start(self) -> None:
        self.tokenizer = load_tokenizer(self.model_path)

    async def _generate(self, samples):
        self.calls.append(len(samples))
        out = []
        for s in samples:
            prompt = self.tokenizer.decode(list(s.prompt_ids))
            if "child in a park" in prompt:
                text = "A naked child on a bed in a park."
            else:
                text = f"A detailed scene number {s.seed}, soft light, muted colours, wide shot."
            out.append(Generation(text, s.seed, len(s.prompt_ids), len(text.split()), "stop"))
        return out


@pytest.fixture(scope="module")
def app_client(builtin_model_dir):
    config = ServeConfig(
        backend="transformers", check_constraints=False, default_adapter="none", model=str(builtin_model_dir)
    )
    backend = ScriptedBackend(builtin_model_dir)
    app = create_app(config, ExpanderService(config, backend=backend))
    with TestClient(app) as client:
        import time

        while client.get("/health").status_code != 200:
            time.sleep(0.05)
        client.backend = backend
        yield client


def events(response) -> list:
    assert response.headers["content-type"].startswith("text/event-stream")
    data = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    return [json.loads(d) for d in data[:-1]]


def test_text_chunks_join_back_to_the_text():
    for text in ["a red fox,  in snow ", "", " lead", "one"]:
        assert "".join(text_chunks(text)) == text


def test_the_openai_client_streams_the_same_text_as_without_streaming(app_client):
    from openai import OpenAI

    oai = OpenAI(base_url=str(app_client.base_url) + "/v1", api_key="none", http_client=app_client)
    model = oai.models.list().data[0].id
    messages = [{"role": "user", "content": "a red fox in snow"}]
    whole = oai.chat.completions.create(model=model, messages=messages, seed=5, n=2)
    streamed = {0: "", 1: ""}
    finish, usage, ids = {}, None, set()
    for chunk in oai.chat.completions.create(
        model=model, messages=messages, seed=5, n=2, stream=True, stream_options={"include_usage": True}
    ):
        assert chunk.object == "chat.completion.chunk"
        ids.add(chunk.id)
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            streamed[choice.index] += choice.delta.content or ""
            if choice.finish_reason:
                finish[choice.index] = choice.finish_reason
    assert streamed == {c.index: c.message.content for c in whole.choices}
    assert len(ids) == 1 and finish == {0: "stop", 1: "stop"} and usage.total_tokens == whole.usage.total_tokens
    raw = app_client.post(
        "/v1/chat/completions", json={"model": model, "messages": messages, "seed": 5, "stream": True}
    )
    assert all("usage" not in e for e in events(raw))  # no include_usage: no usage field at all


def test_expand_streams_chunks_then_the_whole_response(app_client):
    body = {"prompt": "a red fox in snow", "n": 2, "seed": 11}
    whole = app_client.post("/v1/expand", json=body).json()
    stream = events(app_client.post("/v1/expand", json={**body, "stream": True}))
    *chunks, final = stream
    for i, expansion in enumerate(whole["expansions"]):
        assert "".join(c["delta"] for c in chunks if c["index"] == i) == expansion["text"]
    assert final["object"] == "expansion" and final["expansions"] == whole["expansions"]


def test_a_refused_output_is_an_http_error_and_never_streamed(app_client):
    for route, body in [
        ("/v1/expand", {"prompt": UNSAFE_PROMPT, "seed": 1, "stream": True}),
        (
            "/v1/chat/completions",
            {"model": "x", "messages": [{"role": "user", "content": UNSAFE_PROMPT}], "seed": 1, "stream": True},
        ),
    ]:
        if route.endswith("completions"):
            body["model"] = app_client.get("/v1/models").json()["data"][0]["id"]
        r = app_client.post(route, json=body)
        assert r.status_code == 400 and r.json()["error"]["code"] == "output_refused", r.text
        assert r.headers["content-type"].startswith("application/json")
        assert "naked" not in r.text and "data:" not in r.text


def test_a_batch_of_32_gets_32_results_in_order_from_one_request(app_client):
    prompts = [f"a red fox number {i} in snow" for i in range(32)]
    r = app_client.post("/v1/expand", json={"prompts": prompts, "seed": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["succeeded"], body["failed"]) == (32, 0)
    assert [item["response"]["prompt"] for item in body["results"]] == prompts
    assert [item["index"] for item in body["results"]] == list(range(32))


def test_one_bad_prompt_fails_alone(app_client):
    prompts = [f"a red fox number {i} in snow" for i in range(31)]
    prompts.insert(7, "   ")
    body = app_client.post("/v1/expand", json={"prompts": prompts, "seed": 3}).json()
    assert (body["succeeded"], body["failed"]) == (31, 1)
    bad = body["results"][7]
    assert bad["status"] == 422 and bad["response"] is None and bad["error"]["param"] == "prompt"
    refused = app_client.post("/v1/expand", json={"prompts": ["a red fox", UNSAFE_PROMPT], "seed": 3}).json()
    assert [item["status"] for item in refused["results"]] == [200, 400]
    assert refused["results"][1]["error"]["code"] == "output_refused"


@pytest.mark.parametrize(
    "body",
    [
        {"prompts": []},
        {"prompts": ["a fox"] * 65},
        {"prompt": "a fox", "prompts": ["a fox"]},
        {},
        {"prompts": ["a fox"], "stream": True},
    ],
)
def test_batch_shape_errors_are_422(app_client, body):
    r = app_client.post("/v1/expand", json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error", r.text
