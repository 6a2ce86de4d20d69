"""The reward suite as a Ray Serve service on the tiny stack: 2 CPU replicas, one Ray instance for the module.

Same numbers as the in-process suite, one render per completion across replicas, batching across callers. Faults
for real: a replica killed mid-request (SIGKILL of its process, Serve restarts it) and the whole service restarted
between steps are retried and score as an undisturbed call; a service that never answers stops the step with a
clear error. GRPO trains through a replica kill with the rewards of an undisturbed run. Random tiny weights:
plumbing only.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import math
import os
import signal
import socket
import threading
import time
import uuid

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
pytest.importorskip("ray.serve")

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from expander.rewards import RewardSuite, load_rewards_config  # noqa: E402
from expander.rewards.registry import reward_layout  # noqa: E402
from tests.rewards.test_suite import SHORTS, TINY, Logs, completions_for  # noqa: E402

SERVER_KEYS = [
    "--reward_server.replicas",
    "2",
    "--reward_server.num_cpus",
    "0.5",
    "--reward_server.torch_threads",
    "1",
    "--reward_server.batch_wait_timeout_s",
    "0.2",
    "--reward_server.host",
    "127.0.0.1",
    "--reward_server.timeout_s",
    "30",
    "--reward_server.retries",
    "4",  # 0.5 + 1 + 2 + 4 s of waits: room for the router to drop a killed replica
    "--reward_server.backoff_s",
    "0.5",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def service():
    """(url, handle, server config): 2 replicas of the tiny suite on a local Ray (~50 s on 2 cores)."""
    import ray
    from ray import serve

    from expander.rewards.server import deploy, start_ray

    port = _free_port()
    cfg = load_rewards_config(TINY, [*SERVER_KEYS, "--reward_server.port", str(port)])
    try:
        start_ray(cfg, num_cpus=2, namespace=uuid.uuid4().hex)
        handle = deploy(cfg)
        yield f"http://127.0.0.1:{port}/rewards", handle, cfg
    finally:
        serve.shutdown()
        ray.shutdown()


@pytest.fixture(scope="module")
def local_suite() -> RewardSuite:
    """The in-process suite: the reference an undisturbed service call must equal."""
    return RewardSuite(load_rewards_config(TINY))


@pytest.fixture(scope="module")
def undisturbed(local_suite):
    """`undisturbed(tag, step)`: the in-process scores of `_groups(tag)` at `step`, computed once per module."""
    memo: dict[tuple[str, int], list[dict]] = {}

    def scores(tag: str, step: int) -> list[dict]:
        if (tag, step) not in memo:
            memo[tag, step] = _local_scores(local_suite, _groups(tag), step)
        return memo[tag, step]

    return scores


def _client(url: str, *keys: str):
    from expander.rewards.remote import RemoteRewards

    cfg = load_rewards_config(TINY, [*SERVER_KEYS, "--reward_server.url", url, *keys])
    return RemoteRewards(cfg)


def _local_scores(suite: RewardSuite, groups: list[tuple[list[str], list[str]]], step: int) -> list[dict]:
    """Per group {name: values} from the in-process suite, each group one call (one request never splits its
    rows), on the replicas' one torch thread (normalisation amplifies thread-order rounding)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return [{f.__name__: f(s, c, **Logs().kwargs(step)) for f in suite.funcs} for s, c in groups]
    finally:
        torch.set_num_threads(threads)


def _assert_same_scores(got: list[dict], want: list[dict], names: list[str]) -> None:
    for g, w in zip(got, want, strict=True):
        for name in names:
            assert g[name] == pytest.approx(w[name], abs=1e-5), name
            assert all(v is not None and math.isfinite(v) for v in g[name]), name


KILLED: list[int] = []  # replica processes the fault tests killed (Serve must replace each)


def _kill_a_busy_replica(handle, stop: threading.Event, timeout_s: float = 900.0) -> int | None:
    """Poll the replicas' `/v1/info` until one holds a scoring request (in its batch wait or its batch), then
    SIGKILL its process (a replica dying mid-request, as an OOM kill or a lost node does); returns its pid
    (None: stopped before any request came)."""
    deadline = time.monotonic() + timeout_s
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            info = handle.info.remote().result(timeout_s=30)
        except Exception:  # noqa: BLE001 - a replica restarting: ask again
            continue
        if info["in_flight"]:
            os.kill(info["pid"], signal.SIGKILL)
            KILLED.append(info["pid"])
            return info["pid"]
        time.sleep(0.05)
    return None


def _wait_for_replacement(handle, dead: set[int], timeout_s: float = 300.0) -> None:
    """Wait until two replicas answer again and none is a `dead` process (Serve restarted them)."""
    pids: set[int] = set()
    deadline = time.monotonic() + timeout_s
    while len(pids - dead) < 2 and time.monotonic() < deadline:
        try:
            pids.add(handle.info.remote().result(timeout_s=30)["pid"])
        except Exception:  # noqa: BLE001 - routed to a dead one before Serve noticed: ask again
            time.sleep(0.2)
    assert len(pids - dead) == 2, f"Serve did not replace replicas {dead} in {timeout_s} s (seen {pids})"


def _replica_infos(handle, want: int = 2) -> dict[int, dict]:
    """`/v1/info` of every replica (the router picks one per call: ask until each answered)."""
    infos: dict[int, dict] = {}
    deadline = time.monotonic() + 30
    while len(infos) < want and time.monotonic() < deadline:
        info = handle.info.remote().result(timeout_s=30)
        infos[info["pid"]] = info
    return infos


def _call_groups(remote, groups: list[tuple[list[str], list[str]]], step: int) -> tuple[list[dict], list[Logs]]:
    """Each group as its own caller (a trainer rank), all concurrently; every reward function of a caller at
    once, as TRL gathers them. Returns per caller {name: values} and its logs."""
    logs = [Logs() for _ in groups]

    async def caller(shorts, completions, log):
        values = await asyncio.gather(*(f(shorts, completions, **log.kwargs(step)) for f in remote.funcs))
        return dict(zip(remote.names, values))

    async def main():
        return await asyncio.gather(*(caller(s, c, log) for (s, c), log in zip(groups, logs)))

    return asyncio.run(main()), logs


KILL_TAG = " and a second variant"  # completions the fault tests score (new to the replicas: they must render)


def _groups(tag: str = "") -> list[tuple[list[str], list[str]]]:
    return [([short] * 4, [c + tag for c in completions_for(short)]) for short in SHORTS]


# ------------------------------------------------------------------------------------------ client, no Ray


def _mock_client(replies: list[int], calls: list[dict]):
    """A RemoteRewards whose service answers with `replies` status codes in turn (200: a valid response)."""
    import httpx

    from expander.rewards.remote import RemoteRewards

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        calls.append(body)
        status = replies[min(len(calls), len(replies)) - 1]
        if status != 200:
            return httpx.Response(status, text="replica died")
        n = len(body["shorts"])
        images = None
        if body.get("return_images"):  # row i: an 8x8 image of grey level 10 * i; the last row has none
            images = []
            for i in range(n - 1):
                png = io.BytesIO()
                Image.new("RGB", (8, 8), (10 * i,) * 3).save(png, format="PNG")
                images.append(base64.b64encode(png.getvalue()).decode())
            images.append(None)
        return httpx.Response(
            200,
            json={
                "names": names,
                "rewards": {m: [0.5] * n for m in names},
                "seeds": [1] * n,
                "metrics": {"gate": [["gates/gated_fraction", 0.0]]},
                "images": images,
                "seconds": {"render": 0.25},
            },
        )

    cfg = load_rewards_config(
        TINY,
        [
            "--reward_server.url",
            "http://service/rewards",
            "--reward_server.retries",
            "2",
            "--reward_server.backoff_s",
            "0.01",
            "--reward_server.timeout_s",
            "5",
        ],
    )
    names = reward_layout(cfg)[0]
    return RemoteRewards(cfg, check=False, transport=httpx.MockTransport(handle))


def test_client_shares_one_request_among_the_reward_functions_and_retries_outages():
    calls: list[dict] = []
    # A killed replica (503), then Serve's 404 while the restarted app loads its models, then the answer.
    remote = _mock_client([503, 404, 200], calls)
    [result], [log] = _call_groups(remote, _groups()[:1], step=3)
    assert len(calls) == 3 and calls[0] == calls[2]  # 6 functions, one request, retried twice
    assert calls[0]["step"] == 3 and calls[0]["shorts"] == [SHORTS[0]] * 4
    assert all(values == [0.5] * 4 for values in result.values())
    assert log.metrics["gates/gated_fraction"] == [0.0] and log.metrics["remote/retries"] == [2.0]
    assert remote.counts["retries"] == 2 and remote.counts["failed_requests"] == 0


def test_client_stops_the_step_with_a_clear_error_when_the_service_never_answers():
    from expander.rewards.remote import RemoteRewardsError

    calls: list[dict] = []
    remote = _mock_client([500], calls)
    with pytest.raises(RemoteRewardsError) as info:
        _call_groups(remote, _groups()[:1], step=3)
    # The first attempt + 2 retries, then a one-line error: never a 0, never a step trained on unscored rows.
    assert len(calls) == 3 and remote.counts["failed_requests"] == 1
    message = str(info.value)
    assert "\n" not in message and message.startswith(
        "reward service http://service/rewards did not answer step 3 (4 rows) in 3 attempts"
    )
    assert "(last: HTTP 500: replica died)" in message and "resume from the last checkpoint" in message


def test_client_asks_for_renders_only_on_the_steps_the_trainer_reads_them():
    calls: list[dict] = []
    remote = _mock_client([200], calls)
    remote.cache.wanted = lambda step: step % 5 == 0
    shorts, completions = _groups()[0]
    _call_groups(remote, [(shorts, completions)], step=3)
    assert calls[-1]["return_images"] is False
    assert remote.cache.images_for(shorts, completions, 3) == [None] * 4  # nothing shipped, nothing held
    _call_groups(remote, [(shorts, completions)], step=5)
    assert calls[-1]["return_images"] is True
    from expander.prompts import clean_output

    images = remote.cache.images_for(shorts, [clean_output(c) for c in completions], 5)  # keyed as the trainer keys
    assert [im.getpixel((0, 0)) if im else None for im in images] == [(0, 0, 0), (10, 10, 10), (20, 20, 20), None]
    assert remote.cache.render_count == 3 and remote.cache.render_seconds == 0.5  # both calls' replica seconds


# ------------------------------------------------------------------------------------------ service (Ray)


def test_two_replicas_score_like_the_in_process_suite_rendering_each_completion_once(service, local_suite):
    url, handle, _ = service
    remote = _client(url)
    start = time.perf_counter()
    results, logs = _call_groups(remote, _groups(), step=7)
    remote_s = time.perf_counter() - start
    suite = local_suite

    assert remote.names == suite.names == reward_layout(suite.cfg)[0]
    assert remote.weights == pytest.approx(suite.weights)
    _assert_same_scores(results, _local_scores(suite, _groups(), 7), suite.names)
    # The replicas' log_metric/log_extra calls are replayed: the columns TRL logs in-process are there.
    assert {"rewards_none/aesthetic", "renders/total", "gates/gated_fraction", "remote/latency_s"} <= set(
        logs[0].metrics
    )
    assert len(logs[0].extra["gate_reasons"]) == 4 and remote.counts["failed_requests"] == 0
    assert remote.counts["requests"] == 4  # one request per caller, shared by its 6 reward functions

    infos = _replica_infos(handle)
    assert sum(i["renders"] for i in infos.values()) == 16  # each completion once, over both replicas
    assert sum(i["jobs"] for i in infos.values()) == 4
    # Batching across callers: fewer render passes than requests.
    assert sum(i["render_passes"] for i in infos.values()) < 4, infos
    print(f"remote 16 rows (first call) {remote_s:.2f} s; replicas {list(infos.values())}")


def test_a_replica_that_cannot_load_its_model_stops_the_command_with_its_error(service, tmp_path):
    from ray import serve

    from expander.rewards.server import RewardServerError, deploy

    _, _, cfg = service
    missing = tmp_path / "no-krea2"
    bad = load_rewards_config(TINY, [*SERVER_KEYS, "--reward_server.replicas", "1", "--render.model", str(missing)])
    start = time.perf_counter()
    try:
        with pytest.raises(RewardServerError, match="cannot load the Krea 2 renderer") as info:
            deploy(bad, name="broken", route_prefix="/broken")
    finally:
        serve.delete("broken")
    assert info.value.code == 2 and str(missing) in str(info.value)
    print(f"load failure reported in {time.perf_counter() - start:.1f} s: {info.value}")


def test_eval_through_the_service_scores_like_in_process_eval_and_writes_its_report(service, tmp_path):
    import numpy as np
    import pandas as pd

    from expander.eval.config import load_eval_config
    from expander.eval.remote import EvalServiceError
    from expander.eval.run import run_eval

    url, handle, _ = service
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": s, "category": "c"}) + "\n" for s in SHORTS[:3]))
    remote_keys = ["--reward_server.url", url, "--reward_server.concurrency", "2", "--reward_server.timeout_s", "30"]

    def config(name: str, *extra: str, remote: bool = True):
        return load_eval_config(
            "configs/eval/tiny_remote.yaml",
            [
                "--prompt_file",
                str(prompts),
                "--num_prompts",
                "3",
                "--stratify_by",
                "none",
                "--arms",
                "[{name: raw}]",
                "--render_batch_size",
                "4",
                "--bootstrap_samples",
                "100",
                "--output_dir",
                str(tmp_path / name),
                *(remote_keys if remote else ["--reward_server.url", "null"]),
                *extra,
            ],
        )

    with pytest.raises(EvalServiceError, match=r"height: eval 64, service render.height 32"):
        run_eval(config("wrong", "--height", "64"), progress=False)

    before = sum(i.get("image_renders", 0) for i in _replica_infos(handle).values())
    remote = run_eval(config("remote"), progress=False)
    # The same cache, a fresh run: the service scores the cached PNGs it is sent, renders nothing.
    rescored = run_eval(config("rescored", "--cache_dir", str(tmp_path / "remote" / "cache")), progress=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the replicas' count
    try:
        local = run_eval(config("local", remote=False), progress=False)
    finally:
        torch.set_num_threads(threads)

    assert remote.rendered == local.rendered == 6 and rescored.rendered == 0
    assert sum(i.get("image_renders", 0) for i in _replica_infos(handle).values()) - before == 6
    cols = ["aesthetic", "clip_score", "dino_seed_diversity", "image_flagged", "constraint_score", "render_key"]
    want = local.results.set_index(["prompt_id", "seed_index"]).sort_index()
    for run in (remote, rescored):
        got = run.results.set_index(["prompt_id", "seed_index"]).sort_index()
        assert got["image_scored"].all() and run.summary["counts"]["unscored"] == 0
        assert (got["render_key"] == want["render_key"]).all()  # the service's settings make eval's cache key
        diff = np.abs(got[cols[:3]].to_numpy(float) - want[cols[:3]].to_numpy(float)).max()
        assert diff < 1e-5, diff
        pd.testing.assert_frame_equal(got[cols[3:]], want[cols[3:]])
    pixels = [np.asarray(Image.open(p)) for p in (remote.results["image_path"][0], local.results["image_path"][0])]
    assert np.abs(pixels[0].astype(int) - pixels[1].astype(int)).max() <= 1  # the same render, within rounding
    html = remote.report_path.read_text()
    assert html.count("class='grid-img'") == 6 and remote.summary["scorers"]["reward_server"]["url"] == url
    print(f"eval through the service: max |remote - in-process| = {diff:.2e}")


def test_a_replica_killed_mid_request_is_retried_and_scores_as_undisturbed(service, undisturbed):
    url, handle, cfg = service
    remote = _client(url)
    groups = _groups(KILL_TAG)  # new completions: the replicas must render
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=lambda: killed.append(_kill_a_busy_replica(handle, stop)), daemon=True)
    killer.start()
    start = time.perf_counter()
    try:
        results, _ = _call_groups(remote, groups, 9)
    finally:
        stop.set()
        killer.join(timeout=60)
    elapsed = time.perf_counter() - start
    assert killed and killed[0] is not None and remote.counts["retries"] >= 1
    rs = cfg.reward_server
    assert elapsed < rs.timeout_s * (rs.retries + 1) + 10  # never hangs past the client's budget
    _assert_same_scores(results, undisturbed(KILL_TAG, 9), remote.names)
    print(f"kill: {elapsed:.2f} s, retries {remote.counts['retries']}")


@pytest.mark.slow
def test_grpo_step_survives_a_replica_killed_mid_step_with_the_rewards_of_an_undisturbed_run(
    service, local_suite, tmp_path, tiny_chat_lm_dir
):
    from expander.prompts import clean_output
    from expander.train.grpo import main, make_parser
    from expander.train.grpo.image_grid import to_pil

    url, handle, _ = service
    out = tmp_path / "run"
    argv = [
        "--config",
        "configs/grpo/tiny_cpu.yaml",
        "--output_dir",
        str(out),
        "--model_name_or_path",  # a tiny random policy: the step's scoring is the point
        str(tiny_chat_lm_dir),
        "--sft_adapter",
        "none",
        "--max_steps",
        "1",
        "--max_completion_length",
        "16",
        "--save_steps",
        "10",
        "--report_to",
        "none",
        "--torch_threads",
        "2",  # the policy's; the replicas keep their own count
        "--rewards.reward_server.url",
        url,
        *[a.replace("--", "--rewards.", 1) if a.startswith("--") else a for a in SERVER_KEYS],
    ]
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=lambda: killed.append(_kill_a_busy_replica(handle, stop)), daemon=True)
    killer.start()  # kills the replica that scores the step's request, while it scores it
    try:
        trainer = main(*make_parser().parse_args_and_config(argv))
    finally:
        stop.set()
        killer.join(timeout=60)
    assert trainer.state.global_step == 1 and killed and killed[0] is not None
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    row = next(r for r in logged if "reward" in r)
    names, _ = reward_layout(load_rewards_config(TINY))
    assert {f"rewards/{n}/mean" for n in names} | {"renders/total", "gates/gated_fraction", "remote/latency_s"} <= set(
        row
    )
    assert row["remote/retries"] >= 1  # the killed replica's request was retried, not dropped
    # The completions table: every row scored, with the in-process suite's rewards on the same rows (the
    # completions come before the rewards, so an undisturbed run has these very rows).
    table = [json.loads(line) for line in (out / "completions" / "step_000001.jsonl").read_text().splitlines()]
    assert len(table) == 8
    shorts, completions = [r["short_prompt"] for r in table], [r["completion"] for r in table]
    [want] = _local_scores(local_suite, [(shorts, completions)], 0)
    for name in names:
        assert [r[f"reward/{name}"] for r in table] == pytest.approx(want[name], abs=1e-5), name
    # The image table and grid: the service sent each row's render back, the pixels of an in-process render.
    assert all(r["image"] for r in table) and (out / "image_grids" / "step_000001.png").is_file()
    local = local_suite.cache.images_for(shorts, [clean_output(c) for c in completions], 0)
    for r, image in zip(table, local):
        jpeg = io.BytesIO()
        to_pil(image).save(jpeg, format="JPEG", quality=90)  # as the trainer saves it
        ours = torch.tensor(list(Image.open(jpeg).convert("RGB").getdata()), dtype=torch.float32)
        theirs = torch.tensor(list(Image.open(r["image"]).convert("RGB").getdata()), dtype=torch.float32)
        assert (ours - theirs).abs().mean() < 0.5, r["image"]


def test_a_service_restarted_between_steps_is_waited_for_and_scores_as_before(service, undisturbed):
    """Last in this module: the service comes back with one replica. The step's rows are the kill test's (their
    in-process scores are computed once); new to the restarted replica, which must render them."""
    from ray import serve

    from expander.rewards.server import deploy, start_ray

    url, handle, cfg = service
    if KILLED:  # first: Serve restarted the replicas the tests above killed (while those tests went on)
        _wait_for_replacement(handle, set(KILLED))
    remote = _client(url, "--reward_server.retries", "8")  # waits up to 2 minutes for the service
    groups = _groups(KILL_TAG)[:2]
    serve.shutdown()  # the whole service is gone: its HTTP port refuses connections
    result: dict = {}

    def step() -> None:  # the next step's request meets the outage and retries
        try:
            result["values"] = _call_groups(remote, groups, 9)[0]
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            result["error"] = exc

    caller = threading.Thread(target=step)
    caller.start()
    time.sleep(0.5)
    start_ray(cfg)
    port = str(cfg.reward_server.port)
    deploy(load_rewards_config(TINY, [*SERVER_KEYS, "--reward_server.replicas", "1", "--reward_server.port", port]))
    caller.join(timeout=300)
    assert "error" not in result, result.get("error")
    assert remote.counts["retries"] >= 1 and remote.counts["failed_requests"] == 0
    _assert_same_scores(result["values"], undisturbed(KILL_TAG, 9)[:2], remote.names)
