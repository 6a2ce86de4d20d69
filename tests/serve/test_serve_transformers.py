"""The transformers backend as a real server process: auth, CLI parity, overload, timeout, disconnect,
graceful SIGTERM, and moderation models (a tiny one that flags everything; a missing one fails closed)."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest

pytestmark = pytest.mark.slow

KEY = "s3cret-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
# Generous: the machine is shared and slow. The timeout itself is tested on a server of its own.
SERVER_TIMEOUT_S = 600
LONG = {"prompt": "an enormous gothic cathedral in a thunderstorm", "max_words": 400, "seed": 1}


@pytest.fixture(scope="module")
def tf_server(tmp_path_factory, launch_server):
    server = launch_server(
        tmp_path_factory.mktemp("tf-server"),
        [
            "--config",
            "configs/serve_transformers.yaml",
            "--max_concurrent_requests",
            "2",
            "--request_timeout_s",
            str(SERVER_TIMEOUT_S),
        ],
        env={"EXPANDER_API_KEY": KEY},
    )
    yield server
    server.stop()
    assert server.stopped_gracefully(), server.log()


def health(server) -> dict:
    return httpx.get(server.base_url + "/health", timeout=10).json()


def wait_idle(server, within: float) -> float:
    """Seconds until the service has no request in flight (fails after `within`)."""
    start = time.monotonic()
    while time.monotonic() - start < within:
        if health(server)["in_flight"] == 0:
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"still busy after {within} s: {health(server)}")


def test_api_key_guards_v1_but_not_health_or_metrics(tf_server):
    url = tf_server.base_url
    assert httpx.get(url + "/v1/models").status_code == 401
    wrong = httpx.get(url + "/v1/models", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert httpx.post(url + "/v1/expand", json={"prompt": "a fox", "creativity": "raw"}).status_code == 401
    assert httpx.get(url + "/v1/models", headers=AUTH).json()["data"][0]["id"] == "smollm2-135m-expander"
    assert httpx.get(url + "/health").status_code == 200
    assert httpx.get(url + "/metrics").status_code == 200


def test_same_text_as_the_cli_for_the_same_seed_and_backend(tf_server, builtin_model_dir):
    from expander.engine import create_engine
    from expander.expand import expand_prompts
    from expander.models import resolve_adapter

    req = {"prompt": "a paper boat on a puddle", "n": 2, "seed": 9, "max_words": 10, "creativity": "low"}
    served = httpx.post(tf_server.base_url + "/v1/expand", json=req, headers=AUTH, timeout=600)
    assert served.status_code == 200, served.text
    verified = httpx.post(tf_server.base_url + "/v1/expand", json={**req, "candidates": 2}, headers=AUTH, timeout=600)
    assert verified.status_code == 200, verified.text
    # The server's default model is the shipped adapter (merged weights); `expander expand` uses it by default too.
    with create_engine("smollm2-135m", backend="transformers", adapter=resolve_adapter("smollm2-135m")) as engine:
        [local] = expand_prompts(engine, [req["prompt"]], creativity="low", n=2, seed=9, max_words=10)
        [local_k] = expand_prompts(engine, [req["prompt"]], creativity="low", n=2, seed=9, max_words=10, candidates=2)
    assert [e["text"] for e in served.json()["expansions"]] == [e.text for e in local]
    # Verified expansion: one selection (`expander.expand.select_candidates`) for both, so the same pick, the same
    # verdict and the same constraint report.
    got = [(e["text"], e["verified"], e["constraints"]) for e in verified.json()["expansions"]]
    assert got == [(e.text, e.verified, e.report) for e in local_k]


def test_overload_gets_429_with_retry_after_and_disconnects_cancel_generation(tf_server):
    url = tf_server.base_url
    results = []

    def long_call():
        try:  # the client gives up after 3 s: the server must cancel its generation
            results.append(httpx.post(url + "/v1/expand", json=LONG, headers=AUTH, timeout=3).status_code)
        except httpx.TimeoutException:
            results.append("gave up")

    threads = [threading.Thread(target=long_call) for _ in range(2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while health(tf_server)["in_flight"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    over = httpx.post(url + "/v1/expand", json={"prompt": "a fox", "creativity": "raw"}, headers=AUTH, timeout=30)
    assert over.status_code == 429, over.text
    assert over.headers["retry-after"] == "1"
    for t in threads:
        t.join()
    assert results == ["gave up", "gave up"]
    # 400 words would take minutes here; cancelled, the slots free up within seconds
    wait_idle(tf_server, within=60)
    ok = httpx.post(url + "/v1/expand", json={"prompt": "a fox", "seed": 2, "max_words": 5}, headers=AUTH, timeout=600)
    assert ok.status_code == 200, ok.text
    metrics = httpx.get(url + "/metrics").text
    assert "expander_rejected_total 1.0" in metrics
    assert 'expander_cancelled_total{reason="disconnect"} 2.0' in metrics
    assert 'expander_requests_total{route="/v1/expand",status="429"} 1.0' in metrics


def test_slow_request_times_out_with_504_and_the_next_one_works(tmp_path, launch_server):
    server = launch_server(
        tmp_path,
        ["--config", "configs/serve_transformers.yaml", "--request_timeout_s", "3"],
        env={"EXPANDER_API_KEY": ""},
    )
    try:
        t0 = time.monotonic()
        # 4 x up to 650 tokens: well past 3 s here even when the model stops early (one row alone took 6 s)
        r = httpx.post(server.base_url + "/v1/expand", json={**LONG, "n": 4}, timeout=300)
        assert r.status_code == 504, r.text
        assert r.json()["error"]["code"] == "timeout"
        assert time.monotonic() - t0 < 60
        wait_idle(server, within=60)  # the generation was cancelled, not left running
        # `raw` is served without the engine (the prompt, cleaned and checked), so the 3 s budget holds on a loaded
        # machine; the engine's own recovery is wait_idle's check above.
        ok = httpx.post(server.base_url + "/v1/expand", json={"prompt": "a fox", "creativity": "raw"}, timeout=60)
        assert ok.status_code == 200
        assert 'expander_cancelled_total{reason="timeout"} 1.0' in httpx.get(server.base_url + "/metrics").text
    finally:
        server.stop()
        assert server.stopped_gracefully(), server.log()


def test_sigterm_lets_the_in_flight_request_finish(tmp_path, launch_server):
    server = launch_server(
        tmp_path,
        ["--config", "configs/serve_transformers.yaml", "--shutdown_grace_s", "600", "--request_timeout_s", "600"],
        env={"EXPANDER_API_KEY": ""},
    )
    try:
        box = {}
        req = {"prompt": "a windmill in a tulip field", "seed": 4, "max_words": 8}
        thread = threading.Thread(
            target=lambda: box.setdefault("r", httpx.post(server.base_url + "/v1/expand", json=req, timeout=600))
        )
        thread.start()
        while health(server)["in_flight"] < 1:
            time.sleep(0.05)
        server.proc.send_signal(signal.SIGTERM)
        thread.join(600)
        assert box["r"].status_code == 200, box["r"].text
        assert box["r"].json()["expansions"][0]["text"]
        server.proc.wait(60)
        assert server.stopped_gracefully(), server.log()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def flag_everything_classifier(tmp_path_factory):
    """A tiny random BERT text classifier whose bias makes label `unsafe` win for every input (plumbing only)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    out = tmp_path_factory.mktemp("moderator")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("abcdefghijklmnopqrstuvwxyz")
    (out / "vocab.txt").write_text("\n".join(vocab))
    BertTokenizerFast(vocab_file=str(out / "vocab.txt")).save_pretrained(out)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=2,
        id2label={0: "safe", 1: "unsafe"},
        label2id={"safe": 0, "unsafe": 1},
    )
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([-5.0, 5.0]))
    model.save_pretrained(out)
    return out


def test_text_moderator_flags_with_its_labels(flag_everything_classifier):
    from expander.safety import TextModerator

    moderator = TextModerator(flag_everything_classifier)
    assert moderator.flag_labels == ["unsafe"]
    assert moderator.flagged(["a fox", "a castle"]) == [["model:unsafe"], ["model:unsafe"]]
    assert TextModerator(flag_everything_classifier, threshold=1.0).flagged(["a fox"]) == [[]]


def test_configured_moderation_model_refuses_what_it_flags(tmp_path, flag_everything_classifier, launch_server):
    server = launch_server(
        tmp_path,
        ["--config", "configs/serve_transformers.yaml", "--moderation_model", str(flag_everything_classifier)],
        env={"EXPANDER_API_KEY": ""},
    )
    try:
        r = httpx.post(
            server.base_url + "/v1/expand", json={"prompt": "a fox", "creativity": "raw"}, timeout=60
        )  # moderation refuses it before any generation
        assert r.status_code == 400
        assert r.json()["error"]["categories"] == ["model:unsafe"]
        assert 'category="model:unsafe",stage="input"' in httpx.get(server.base_url + "/metrics").text
    finally:
        server.stop()
        assert server.stopped_gracefully(), server.log()


def test_unavailable_moderation_model_fails_closed_with_503(tmp_path, launch_server):
    missing = tmp_path / "no-such-classifier"
    server = launch_server(
        tmp_path,
        ["--config", "configs/serve_transformers.yaml", "--moderation_model", str(missing)],
        env={"EXPANDER_API_KEY": ""},
        expect_healthy=False,
    )
    try:
        deadline = time.monotonic() + 120
        while health(server)["status"] != "down" and time.monotonic() < deadline:
            time.sleep(0.5)
        h = httpx.get(server.base_url + "/health")
        assert h.status_code == 503 and "moderation" in h.json()["detail"]
        for body in ({"prompt": "a fox"}, {"prompt": "a fox", "creativity": "raw"}):
            r = httpx.post(server.base_url + "/v1/expand", json=body, timeout=60)
            assert r.status_code == 503
            assert r.json()["error"]["code"] == "moderation_unavailable"
    finally:
        server.stop()
        assert server.stopped_gracefully(), server.log()
