"""The playground page at `/`, in real headless Chromium against a real server (built-in model, transformers
backend, an API key): the page is open, its API calls carry the key typed into it, the 401 without one is shown
readably, and the expansions render with their spans highlighted, seeds and revision.

`EXPANDER_PLAYGROUND_SCREENSHOT=docs/playground.png` also saves the README's screenshot (one more, longer expansions).
"""

from __future__ import annotations

import json
import os
import re

import httpx
import pytest

from expander.eval.browser import BrowserPage, chromium_path

pytestmark = pytest.mark.slow

KEY = "playground-key"
REQUEST = {"prompt": "a red fox in snow", "creativity": "low", "n": 2, "seed": 7, "max_words": 6, "keep_terms": ["red"]}
CTRL = 2  # the DevTools protocol's modifier bit for Ctrl

needs_chromium = pytest.mark.skipif(
    chromium_path() is None, reason="Debian chromium is not installed (run scripts/install_browser.sh)"
)


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory, launch_server):
    server = launch_server(
        tmp_path_factory.mktemp("playground"),
        ["--config", "configs/serve_transformers.yaml", "--request_timeout_s", "300"],
        env={"EXPANDER_API_KEY": KEY},
    )
    yield server
    server.stop()


def fill(page: BrowserPage, request: dict, key: str = "") -> None:
    """Type a request into the form (values set in the DOM; submission is a real key press)."""
    values = {
        "prompt": request["prompt"],
        "creativity": request["creativity"],
        "n": str(request["n"]),
        "seed": str(request["seed"]),
        "max-words": str(request["max_words"]),
        "keep-terms": ", ".join(request["keep_terms"]),
        "api-key": key,
    }
    page.evaluate(f"for (const [id, v] of Object.entries({json.dumps(values)})) document.getElementById(id).value = v")


def test_the_page_is_open_and_loads_nothing_from_elsewhere(keyed_server):
    page = httpx.get(keyed_server.base_url + "/", timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert not re.search(r"""(src|href|action)\s*=\s*["']?(https?:)?//|@import|url\(""", page.text)
    assert httpx.post(keyed_server.base_url + "/v1/expand", json=REQUEST, timeout=30).status_code == 401


@needs_chromium
def test_the_playground_shows_the_401_then_expands_with_the_key_and_highlights_kept_terms(keyed_server):
    with BrowserPage(keyed_server.base_url + "/", width=1100, height=900) as page:
        fill(page, REQUEST)
        page.evaluate("document.getElementById('keep-terms').focus()")
        page.press("Enter", key_code=13, text="\r")  # implicit submission from a text field
        error = page.wait_for(
            "!document.getElementById('error').hidden && document.getElementById('error').innerText", 60
        )
        assert "HTTP 401" in error and "authentication_error" in error and "API key" in error, error
        assert page.evaluate("document.getElementById('results').hidden")

        fill(page, REQUEST, key=KEY)
        page.evaluate("document.getElementById('prompt').focus()")
        page.press("Enter", key_code=13, modifiers=CTRL)  # Ctrl+Enter in the prompt
        page.wait_for("document.querySelectorAll('#expansions article').length > 0", 300)
        shown = page.evaluate("""({
            error_hidden: document.getElementById('error').hidden,
            texts: [...document.querySelectorAll('#expansions .text')].map((p) => p.textContent),
            kept: [...document.querySelectorAll('#expansions mark.kept')].map((m) => m.textContent.toLowerCase()),
            seeds: [...document.querySelectorAll('#expansions .seed')].map((s) => s.textContent),
            revision: document.getElementById('revision').textContent,
            summary: document.getElementById('summary').innerText,
        })""")
        screenshot = os.environ.get("EXPANDER_PLAYGROUND_SCREENSHOT")
        if screenshot:  # the README's picture: longer expansions read better than 6 words
            fill(page, {**REQUEST, "creativity": "medium", "max_words": 60}, key=KEY)
            page.evaluate("document.getElementById('form').requestSubmit()")
            page.wait_for(
                "!document.getElementById('submit').disabled && "
                "document.querySelector('#expansions .text').textContent.split(' ').length > 15",
                300,
            )
            page.screenshot(screenshot)

    assert shown["error_hidden"]
    assert len(shown["texts"]) == 2 and all(text.strip() for text in shown["texts"])
    assert all("red" in text.lower() for text in shown["texts"])  # the keep term, repaired in if the model dropped it
    assert any(re.search(r"\bred\b", mark) for mark in shown["kept"]), shown["kept"]  # "red" or "red fox"
    assert shown["seeds"] == ["7", "8"]
    served = httpx.get(keyed_server.base_url + "/v1/models", headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    assert shown["revision"] == served.json()["data"][0]["revision"]
    for label in ("model", "detected language", "timings"):
        assert label in shown["summary"]
