"""`expander.client`: retries honouring Retry-After, error bodies as exceptions, SSE decoding (on a mock
transport), then the sync and async clients against a real transformers server held at one request at a time."""

from __future__ import annotations

import asyncio
import email.utils
import json
import threading
import time

import httpx
import pytest

from expander import client as client_module
from expander.client import AsyncExpanderClient, ExpanderAPIError, ExpanderClient, ServerNotReadyError, retry_delay
from expander.errors import ConfigError, ExpanderError

EXPANSION = {
    "text": "a red fox in deep snow, soft light",
    "seed": 3,
    "finish_reason": "stop",
    "constraints": {"ok": True},
    "safety": {"blocked": False, "categories": [], "added_categories": [], "regenerated": False},
}
REPLY = {
    "id": "exp-1",
    "model": "m",
    "revision": "r",
    "backend": "transformers",
    "creativity": "medium",
    "prompt": "a fox",
    "language": {"code": "en", "confidence": 1.0, "method": "words", "supported": True},
    "expansions": [EXPANSION],
    "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    "timings": {"moderation_ms": 0, "generation_ms": 1, "total_ms": 1},
}


def scripted(*responses: httpx.Response):
    """A mock transport answering with `responses` in order, and the requests it saw."""
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0)

    return httpx.MockTransport(handle), seen


def busy(retry_after: str | None = "2") -> httpx.Response:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return httpx.Response(
        429,
        headers=headers,
        json={"error": {"message": "busy", "type": "rate_limit_error", "code": "too_many_requests"}},
    )


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """Record the client's waits instead of sleeping them."""
    waited: list[float] = []
    monkeypatch.setattr(client_module.time, "sleep", waited.append)

    async def fake_async_sleep(seconds):
        waited.append(seconds)

    monkeypatch.setattr(client_module.asyncio, "sleep", fake_async_sleep)
    return waited


def test_429_and_503_are_retried_after_what_retry_after_says(sleeps):
    transport, seen = scripted(
        busy("2"), httpx.Response(503, headers={"retry-after": "1"}, json={}), httpx.Response(200, json=REPLY)
    )
    with ExpanderClient("http://x", api_key="k", transport=transport) as c:
        reply = c.expand("a fox", seed=3, keep_terms=["fox"])
    assert reply.expansions[0].text == EXPANSION["text"] and c.retries == 2
    assert sleeps == [2.0, 1.0]
    body = json.loads(seen[0].content)
    assert body == {"prompt": "a fox", "n": 1, "seed": 3, "keep_terms": ["fox"]}
    assert seen[0].headers["authorization"] == "Bearer k"


def test_retry_after_as_an_http_date_a_garbage_value_and_the_cap():
    in_5s = email.utils.formatdate(time.time() + 5, usegmt=True)
    assert 3.5 < retry_delay(busy(in_5s), 0, 0.5, 30) <= 5
    assert retry_delay(busy("soon"), 1, 0.5, 30) == pytest.approx(1.0, rel=0.11)  # backoff 0.5 * 2**1
    assert retry_delay(busy(None), 0, 0.5, 30) == pytest.approx(0.5, rel=0.11)
    assert retry_delay(busy("3600"), 0, 0.5, 30) == 30


def test_a_bad_setting_and_a_server_that_never_gets_ready_are_expander_errors(sleeps):
    with pytest.raises(ConfigError, match="max_retries must be >= 0, got -1"):
        ExpanderClient("http://x", max_retries=-1)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with ExpanderClient("http://x", transport=httpx.MockTransport(refuse)) as c:
        with pytest.raises(ServerNotReadyError, match="http://x was not ready within 0 s") as err:
            c.wait_until_ready(timeout_s=0)
    assert isinstance(err.value, ExpanderError) and isinstance(err.value, TimeoutError)


def test_when_retries_run_out_the_last_error_is_raised_with_its_code(sleeps):
    transport, seen = scripted(busy(), busy(), busy())
    with ExpanderClient("http://x", transport=transport, max_retries=2) as c, pytest.raises(ExpanderAPIError) as err:
        c.models()
    assert len(seen) == 3 and err.value.status == 429 and err.value.code == "too_many_requests"


def test_other_errors_raise_at_once_with_the_server_fields(sleeps):
    bad = httpx.Response(
        422,
        json={
            "error": {
                "message": "n: must be <= 8",
                "type": "invalid_request_error",
                "param": "n",
                "code": "validation_error",
            }
        },
    )
    transport, seen = scripted(bad)
    with ExpanderClient("http://x", transport=transport) as c, pytest.raises(ExpanderAPIError) as err:
        c.expand("a fox", n=99)
    assert len(seen) == 1 and sleeps == []
    assert (err.value.status, err.value.code, err.value.param) == (422, "validation_error", "n")
    assert "n: must be <= 8" in str(err.value)
    transport, _ = scripted(httpx.Response(502, text="<html>bad gateway</html>"))
    with ExpanderClient("http://x", transport=transport) as c, pytest.raises(ExpanderAPIError) as err:
        c.models()
    assert err.value.status == 502 and "bad gateway" in err.value.message


def test_sse_events_are_decoded_until_done_and_an_error_event_raises(sleeps):
    chunks = [{"index": 0, "delta": "a red"}, {"index": 0, "delta": " fox"}]
    stream = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + ": keep-alive\n\ndata: [DONE]\n\n"
    transport, seen = scripted(
        busy("1"), httpx.Response(200, text=stream, headers={"content-type": "text/event-stream"})
    )
    with ExpanderClient("http://x", transport=transport) as c:
        assert list(c.stream_expand("a fox", seed=1)) == chunks
    assert sleeps == [1.0] and json.loads(seen[-1].content)["stream"] is True
    error = {"error": {"message": "engine died", "code": "engine_error"}}
    failing = f"data: {json.dumps(chunks[0])}\n\ndata: {json.dumps(error)}\n\n"
    transport, _ = scripted(httpx.Response(200, text=failing))
    with ExpanderClient("http://x", transport=transport) as c:
        events = c.stream_expand("a fox")
        assert next(events) == chunks[0]
        with pytest.raises(ExpanderAPIError, match="engine died"):
            next(events)


def test_the_async_client_retries_the_same_way(sleeps):
    transport, _ = scripted(busy("2"), httpx.Response(200, json=REPLY))

    async def main():
        async with AsyncExpanderClient("http://x", transport=transport) as c:
            return await c.expand("a fox"), c.retries

    reply, retries = asyncio.run(main())
    assert reply.expansions[0].seed == 3 and retries == 1 and sleeps == [2.0]


# ------------------------------------------------------------------------------------------------------------
# against a real server (transformers backend: starts in seconds), held at one request at a time

LONG = {"max_words": 40, "seed": 1}  # long enough to be caught in flight


@pytest.fixture(scope="module")
def one_at_a_time(tmp_path_factory, builtin_model_dir):
    from tests.serve.conftest import start_server

    server = start_server(
        tmp_path_factory.mktemp("client-server"),
        [
            "--config",
            "configs/serve_transformers.yaml",
            "--max_concurrent_requests",
            "1",
            "--retry_after_s",
            "1",
            "--request_timeout_s",
            "600",
            "--check_constraints",
            "false",
        ],  # the reports are the server's tests' business; seconds each here
        env={"EXPANDER_API_KEY": "k"},
    )
    yield server
    server.stop()


@pytest.mark.slow
def test_the_client_speaks_the_servers_schema_and_surfaces_its_errors(one_at_a_time):
    with ExpanderClient(one_at_a_time.base_url, api_key="k", timeout=600) as c:
        assert c.health().status == "ok"
        assert [m.id for m in c.models().data] == ["smollm2-135m-expander"]
        reply = c.expand("a paper boat on a puddle", n=2, seed=9, max_words=12, keep_terms=["paper boat"])
        assert [e.seed for e in reply.expansions] == [9, 10]
        assert all("paper boat" in e.text for e in reply.expansions) and reply.revision
        with pytest.raises(ExpanderAPIError) as err:
            c.expand("a fox", n=99)
        assert err.value.status == 422 and err.value.code == "validation_error" and err.value.param == "n"
    with ExpanderClient(one_at_a_time.base_url, api_key="wrong") as c, pytest.raises(ExpanderAPIError) as err:
        c.models()
    assert err.value.status == 401 and err.value.code == "invalid_api_key"

    async def async_expand():
        async with AsyncExpanderClient(one_at_a_time.base_url, api_key="k", timeout=600) as c:
            return await c.expand("a paper boat on a puddle", seed=10, max_words=12, keep_terms=["paper boat"])

    assert asyncio.run(async_expand()).expansions[0].text == reply.expansions[1].text  # seed + i


@pytest.mark.slow
def test_a_busy_server_is_retried_after_its_retry_after_until_it_answers(one_at_a_time, monkeypatch):
    url = one_at_a_time.base_url
    held = {}
    holder = threading.Thread(
        target=lambda: held.update(
            r=httpx.post(
                url + "/v1/expand",
                json={"prompt": "an enormous gothic cathedral in a thunderstorm", **LONG},
                headers={"Authorization": "Bearer k"},
                timeout=600,
            )
        )
    )
    holder.start()
    deadline = time.monotonic() + 60
    while httpx.get(url + "/health").json()["in_flight"] == 0:
        assert time.monotonic() < deadline, "the long request never started"
        time.sleep(0.05)
    waits: list[float] = []
    real_sleep = time.sleep
    monkeypatch.setattr(client_module.time, "sleep", lambda s: (waits.append(s), real_sleep(s)))
    with ExpanderClient(url, api_key="k", timeout=600, max_retries=600) as c:
        reply = c.expand("a fox", seed=2, max_words=8)
    holder.join()
    assert held["r"].status_code == 200 and reply.expansions[0].text
    assert c.retries >= 1 and waits == [1.0] * c.retries  # the server's Retry-After, not the client's backoff


@pytest.mark.slow
def test_batches_streams_and_the_openai_client_on_a_real_model(one_at_a_time):
    from openai import OpenAI

    with ExpanderClient(one_at_a_time.base_url, api_key="k", timeout=600) as c:
        batch = c.expand_batch(["a paper boat on a puddle", " ", "a lighthouse at dusk"], seed=4, max_words=10)
        assert [r.status for r in batch.results] == [200, 422, 200] and batch.results[1].error.param == "prompt"
        *chunks, final = list(c.stream_expand("a lighthouse at dusk", seed=4, max_words=10, cache=False))
        assert "".join(e["delta"] for e in chunks) == final["expansions"][0]["text"]
        assert final["expansions"][0]["text"] == batch.results[2].response.expansions[0].text  # same seed, same text
    oai = OpenAI(base_url=one_at_a_time.base_url + "/v1", api_key="k")
    ask = dict(
        model="smollm2-135m-expander",
        messages=[{"role": "user", "content": "a lighthouse at dusk"}],
        seed=4,
        max_tokens=24,
    )
    whole = oai.chat.completions.create(**ask).choices[0].message.content
    assert (
        "".join(
            ch.choices[0].delta.content or "" for ch in oai.chat.completions.create(**ask, stream=True) if ch.choices
        )
        == whole
    )


def test_an_api_arm_needs_a_url_and_takes_no_adapter():
    from expander.eval.config import ArmConfig

    with pytest.raises(ValueError, match="needs a `url`"):
        ArmConfig(name="served", creativity="low", backend="api")
    with pytest.raises(ValueError, match="not an `adapter`"):
        ArmConfig(name="served", creativity="low", backend="api", url="http://x", adapter="/tmp")
    assert ArmConfig(name="served", creativity="low", backend="api", url="http://x").model is None


@pytest.mark.slow
def test_the_eval_api_arm_expands_through_the_server_with_its_revision(one_at_a_time, monkeypatch):
    from expander.eval.config import ArmConfig
    from expander.eval.expansions import _expand_through_api, arm_settings

    monkeypatch.setenv("EXPANDER_API_KEY", "k")
    arm = ArmConfig(name="served", creativity="low", backend="api", url=one_at_a_time.base_url, max_words=8)
    assert arm_settings(arm)["revision"] and arm_settings(arm)["url"] == one_at_a_time.base_url
    [a, b] = _expand_through_api(arm, ["a red fox", "a blue kite"], seed=5)
    assert a["seed"] == b["seed"] == 5 and a["text"] and a["completion_tokens"] > 0
