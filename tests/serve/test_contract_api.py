"""The expansion contract through the API (transformers server): languages, verified expansion, added
subjects in the report, and prompts of control characters."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.slow

TIMEOUT = 600


@pytest.fixture(scope="module")
def server(tmp_path_factory, launch_server):
    srv = launch_server(
        tmp_path_factory.mktemp("contract-server"),
        ["--config", "configs/serve_transformers.yaml", "--request_timeout_s", str(TIMEOUT)],
        env={"EXPANDER_API_KEY": ""},
    )
    yield srv
    srv.stop()


def post(server, body, route="/v1/expand"):
    return httpx.post(server.base_url + route, json=body, timeout=TIMEOUT)


def test_a_prompt_in_an_unsupported_language_comes_back_unchanged_and_says_so(server):
    r = post(server, {"prompt": "un zorro rojo en la nieve", "n": 2, "seed": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["language"]["code"] == "es" and body["language"]["supported"] is False
    assert [e["text"] for e in body["expansions"]] == ["un zorro rojo en la nieve"] * 2
    assert {e["finish_reason"] for e in body["expansions"]} == {"language_unsupported"}
    assert body["usage"]["completion_tokens"] == 0
    strict = post(server, {"prompt": "雪の中の赤いキツネ", "strict_language": True})
    assert strict.status_code == 422 and strict.json()["error"]["code"] == "language_unsupported"
    wrong = post(server, {"prompt": "a red fox", "language": "fr"})
    assert wrong.status_code == 422 and wrong.json()["error"]["param"] == "language"
    chat = post(
        server,
        {"model": "smollm2-135m-expander", "messages": [{"role": "user", "content": "ein roter Fuchs im Schnee"}]},
        route="/v1/chat/completions",
    )
    assert chat.status_code == 200
    assert chat.json()["choices"][0]["message"]["content"] == "ein roter Fuchs im Schnee"
    assert chat.json()["choices"][0]["finish_reason"] == "language_unsupported"
    # and the server still expands English afterwards
    ok = post(server, {"prompt": "a red fox in snow", "seed": 1, "max_words": 40})
    assert ok.status_code == 200 and ok.json()["language"]["code"] == "en"
    report = ok.json()["expansions"][0]["constraints"]
    assert "added" in report and "faithful" in report


def test_verified_expansion_reports_its_attempts_and_is_deterministic(server):
    body = {"prompt": "a lighthouse at night", "n": 2, "seed": 21, "candidates": 3, "max_words": 40, "cache": False}
    first, again = post(server, body).json(), post(server, body).json()
    assert [e["text"] for e in first["expansions"]] == [e["text"] for e in again["expansions"]]
    for i, e in enumerate(first["expansions"]):
        assert e["attempts"] == 3 and isinstance(e["verified"], bool) and e["seed"] == 21 + i
        assert e["verified"] == (e["constraints"]["faithful"])
    plain = post(server, {**body, "candidates": 1, "fallback": False}).json()
    assert all(e["attempts"] == 1 and e["verified"] is None and not e["fallback"] for e in plain["expansions"])
    checked = post(server, {**body, "candidates": 1}).json()  # the fallback (on by default) verifies a lone sample
    assert all(e["verified"] is e["constraints"]["faithful"] is True for e in checked["expansions"])


@pytest.mark.parametrize("prompt", ["\u0000\u0000\u0000", "\u200b\u200b"])
def test_a_prompt_of_only_control_or_invisible_characters_is_422(server, prompt):
    r = post(server, {"prompt": prompt})
    assert r.status_code == 422 and "control or invisible" in r.text
    assert post(server, {"prompt": "a fox", "creativity": "raw"}).status_code == 200
