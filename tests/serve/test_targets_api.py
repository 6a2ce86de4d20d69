"""`target` on the API, against the session's real vLLM server (`vllm_server`): each expansion shaped for the
image model, bad input refused with 400 naming the choices, identical seeded requests answered from the response
cache (counted in /metrics) and unseeded ones never, and the playground showing the shaped outputs."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from expander.eval.browser import BrowserPage, chromium_path
from expander.targets import load_counter, shape

pytestmark = pytest.mark.slow

SEEDED = {
    "prompt": "a tall lighthouse on a cliff, no people",
    "creativity": "low",
    "max_words": 24,
    "seed": 11,
    "target": "sdxl",
}


def post(server, body: dict) -> httpx.Response:
    return httpx.post(server.base_url + "/v1/expand", json=body, timeout=600)


def cache_counts(server) -> dict[str, float]:
    """The response cache's hit/miss counters and the engine's completion tokens, from /metrics."""
    text = httpx.get(server.base_url + "/metrics", timeout=30).text
    found = re.findall(r'^expander_response_cache_total\{result="(hit|miss)"\} (\S+)$', text, re.M)
    tokens = re.findall(r'^expander_tokens_total\{kind="completion"\} (\S+)$', text, re.M)
    return {"hit": 0.0, "miss": 0.0, "tokens": float(tokens[0]) if tokens else 0.0} | {k: float(v) for k, v in found}


def test_an_unknown_target_or_a_bad_size_is_a_400_naming_the_choices(vllm_server):
    r = post(vllm_server, {"prompt": "a fox", "target": "dalle"})
    error = r.json()["error"]
    assert r.status_code == 400 and error["param"] == "target" and error["code"] == "unknown_target"
    assert "choose one of: krea2, krea2-turbo, flux, sdxl, sd3, generic" in error["message"]

    r = post(vllm_server, {"prompt": "a fox", "target": "sdxl", "width": 1000, "height": 512})
    error = r.json()["error"]
    assert r.status_code == 400 and error["param"] == "width" and "multiple of 16, got 1000" in error["message"]

    r = post(vllm_server, {"prompt": "a fox", "width": 512, "height": 512})  # a size without a target
    assert r.status_code == 422 and "target" in r.json()["error"]["message"]


def test_a_seeded_request_is_shaped_and_its_repeat_comes_from_the_cache_but_never_an_unseeded_one(vllm_server):
    before = cache_counts(vllm_server)
    first = post(vllm_server, SEEDED)
    assert first.status_code == 200, first.text
    first = first.json()
    text, shaped = first["expansions"][0]["text"], first["expansions"][0]["shaped"]
    assert not first["cached"]
    assert shaped == shape(SEEDED["prompt"], text, "sdxl").as_dict()  # the served text, shaped by the library
    assert shaped["tokens"] == load_counter("clip").count(shaped["prompt"]) <= shaped["token_limit"] == 77
    assert shaped["prompt_2_tokens"] <= 77 and text.startswith(shaped["prompt_2"])
    assert (shaped["negative_prompt"], shaped["aspect_ratio"]) == ("people", "2:3")
    assert shaped["width"] % 16 == 0 and shaped["height"] % 16 == 0 and shaped["height"] > shaped["width"]

    after_first = cache_counts(vllm_server)
    second = post(vllm_server, SEEDED).json()
    assert second["cached"] and second["id"] != first["id"]
    assert second["expansions"] == first["expansions"]
    with httpx.stream("POST", vllm_server.base_url + "/v1/expand", json={**SEEDED, "stream": True}, timeout=600) as r:
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]
    assert events[-1]["cached"] and events[-1]["expansions"] == first["expansions"]  # a stream replays it too
    assert cache_counts(vllm_server) == {"hit": before["hit"] + 2, "miss": before["miss"] + 1} | {
        "tokens": after_first["tokens"]  # the hits drew nothing from the engine
    }

    other_seed = post(vllm_server, {**SEEDED, "seed": 12, "creativity": "raw"}).json()
    assert not other_seed["cached"]
    unseeded = {k: v for k, v in SEEDED.items() if k != "seed"} | {"creativity": "raw"}
    assert not any(post(vllm_server, unseeded).json()["cached"] for _ in range(2))
    counts = cache_counts(vllm_server)
    assert (counts["hit"], counts["miss"]) == (before["hit"] + 2, before["miss"] + 2)


@pytest.mark.skipif(chromium_path() is None, reason="Debian chromium is not installed (run scripts/install_browser.sh)")
def test_the_playground_shows_the_shaped_outputs(vllm_server):
    values = {"prompt": "a tall lighthouse, no people", "creativity": "raw", "target": "sdxl"}
    with BrowserPage(vllm_server.base_url + "/", width=1100, height=900) as page:
        page.evaluate(
            f"for (const [id, v] of Object.entries({json.dumps(values)})) document.getElementById(id).value = v"
        )
        page.evaluate("document.getElementById('form').requestSubmit()")
        page.wait_for("document.querySelectorAll('#expansions .shaped').length > 0", 120)
        shown = page.evaluate("""({
            target: document.querySelector('.shaped').dataset.target,
            prompt: document.querySelector('.shaped-prompt').textContent,
            negative: document.querySelector('.shaped-negative').textContent,
            size: document.querySelector('.shaped-size').textContent,
            tokens: document.querySelector('.shaped-tokens').textContent,
        })""")
    expected = shape(values["prompt"], values["prompt"], "sdxl")
    assert shown["target"] == "sdxl" and shown["prompt"] == expected.prompt and shown["negative"] == "people"
    assert shown["size"] == f"{expected.width}×{expected.height} (2:3, from “tall lighthouse”)"
    assert shown["tokens"].startswith(f"{expected.tokens} / 77 (clip)")


def test_the_response_cache_keeps_the_most_recent_seeded_responses_and_is_off_at_size_0():
    from expander.protocol import ExpandRequest, ExpandResponse
    from expander.serve.response_cache import ResponseCache

    def response(i: int) -> ExpandResponse:
        return ExpandResponse.model_validate(
            {
                "id": f"exp-{i}",
                "model": "m",
                "revision": "r",
                "backend": "vllm",
                "creativity": "low",
                "prompt": "a fox",
                "language": {"code": "en", "confidence": 1.0, "method": "words", "supported": True},
                "expansions": [],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                "timings": {"moderation_ms": 1.0, "generation_ms": 2.0, "total_ms": 3.0},
            }
        )

    cache = ResponseCache(size=2)
    keys = [cache.key(ExpandRequest(prompt="a fox", seed=s), "m", "r") for s in range(3)]
    assert cache.key(ExpandRequest(prompt="a fox"), "m", "r") is None  # unseeded: never cached
    assert cache.key(ExpandRequest(prompt="a fox", seed=0, cache=False), "m", "r") is None  # asked to run again
    assert keys[0] != cache.key(ExpandRequest(prompt="a fox", seed=0), "m", "r2")  # other weights, other key
    assert cache.key(ExpandRequest(prompt="a fox", seed=0, stream=True), "m", "r") == keys[0]  # delivery only
    for i, key in enumerate(keys):
        cache.put(key, response(i))
        if i == 1:
            assert cache.get(keys[0]).id != "exp-0"  # a hit is a new response; keys[0] is now the most recent
    assert cache.get(keys[1]) is None and cache.get(keys[0]).cached and len(cache) == 2
    hit = cache.get(keys[2])
    assert hit.timings.generation_ms == 0.0 and hit.expansions == [] and hit.prompt == "a fox"
    off = ResponseCache(size=0)
    assert off.key(ExpandRequest(prompt="a fox", seed=1), "m", "r") is None
