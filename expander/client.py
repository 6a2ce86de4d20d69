"""A small typed client for the expander API (sync and async), for apps and for eval's `backend: api` arm.

    from expander.client import ExpanderClient
    with ExpanderClient("http://127.0.0.1:8000", api_key="...") as client:
        reply = client.expand("a red fox in snow", n=2, seed=7)
        print(reply.expansions[0].text, reply.expansions[0].constraints)

Responses are the server's own pydantic models (`expander.protocol`), so client and server share one
schema. 429 and 503 are retried up to `max_retries` times, waiting what the server's `Retry-After` header
says (else an exponential backoff); connection errors are retried the same way. Any other error response
raises `ExpanderAPIError` with the server's status, `code`, `type`, `param` and message.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import json
import random
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

from expander.errors import ConfigError, ExpanderError
from expander.protocol import ExpandBatchResponse, ExpandResponse, HealthResponse, ModelList

__all__ = ["AsyncExpanderClient", "ExpanderAPIError", "ExpanderClient", "RETRY_STATUSES", "ServerNotReadyError"]

RETRY_STATUSES = (429, 503)
DEFAULT_URL = "http://127.0.0.1:8000"


class ExpanderAPIError(ExpanderError):
    """An error response of the expander API (after retries, for 429/503).

    Attributes:
        status: HTTP status code; `code`, `type`, `param`: the OpenAI-style error body's fields;
        body: the whole decoded error body (or the raw text when it was not JSON).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        type: str | None = None,
        param: str | None = None,
        body: Any = None,
    ):
        super().__init__(f"HTTP {status}{f' {code}' if code else ''}: {message}")
        self.status, self.message, self.code, self.type, self.param, self.body = (
            status,
            message,
            code,
            type,
            param,
            body,
        )


class ServerNotReadyError(ExpanderError, TimeoutError):
    """`wait_until_ready` gave up: the server did not answer `/health` with `ok` in time."""


def _error_from(response: httpx.Response) -> ExpanderAPIError:
    """The error response as an exception (the body must have been read)."""
    try:
        body = response.json()
    except ValueError:
        body = response.text
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):  # not an OpenAI-style body (a proxy's page, `{"detail": ...}`)
        err = {"message": str(err or (body.get("detail") if isinstance(body, dict) else None) or body or "")}
    return ExpanderAPIError(
        response.status_code,
        err.get("message") or response.reason_phrase or "error",
        code=err.get("code"),
        type=err.get("type"),
        param=err.get("param"),
        body=body,
    )


# Errors raised before the request reached the server: retrying them cannot run a generation twice. A read
# timeout is not among them (the server may still be generating), nor is a dropped connection mid-response.
_RETRY_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout)


def retry_delay(response: httpx.Response | None, attempt: int, backoff_s: float, max_wait_s: float) -> float:
    """Seconds to wait before retry `attempt` (0-based): the server's `Retry-After` (seconds or an HTTP date)
    when it sent one, else `backoff_s * 2**attempt` with 10% jitter; never more than `max_wait_s`."""
    header = response.headers.get("retry-after") if response is not None else None
    if header:
        try:
            return min(max(float(header), 0.0), max_wait_s)
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):  # neither seconds nor a date: fall back to the backoff
            when = None
        if when is not None:
            if when.tzinfo is None:  # RFC 9110 dates are GMT
                when = when.replace(tzinfo=datetime.timezone.utc)
            return min(max(when.timestamp() - time.time(), 0.0), max_wait_s)
    return min(backoff_s * (2**attempt) * (1 + 0.1 * random.random()), max_wait_s)


def _expand_body(
    prompt: str | list[str],
    n: int,
    seed: int | None,
    creativity: str | None,
    keep_terms: list[str] | None,
    max_words: int | None,
    model: str | None,
    extra: dict,
    target: str | None = None,
) -> dict:
    body: dict[str, Any] = {"prompts" if isinstance(prompt, list) else "prompt": prompt, "n": n}
    for key, value in (
        ("seed", seed),
        ("creativity", creativity),
        ("keep_terms", keep_terms),
        ("max_words", max_words),
        ("model", model),
        ("target", target),
    ):
        if value is not None:
            body[key] = value
    body.update(extra)
    return body


class _Base:
    """What both clients share: settings, the retry policy; `_http_class` is httpx's sync or async client.

    Args:
        transport: an httpx transport (tests, proxies); default httpx's.
    """

    _http_class: type = httpx.Client

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        api_key: str | None = None,
        *,
        timeout: float = 120.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        max_wait_s: float = 30.0,
        transport=None,
    ):
        if max_retries < 0:
            raise ConfigError(f"max_retries must be >= 0, got {max_retries}")
        self.base_url = base_url.rstrip("/")
        self.headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout, self.max_retries, self.backoff_s, self.max_wait_s = timeout, max_retries, backoff_s, max_wait_s
        self.retries = 0  # retries made over the client's life (429/503/connection errors)
        self._http = self._http_class(
            base_url=self.base_url, headers=self.headers, timeout=timeout, transport=transport
        )

    def _wait_or_raise(
        self, attempt: int, response: httpx.Response | None = None, error: BaseException | None = None
    ) -> float:
        """After failed attempt `attempt` (an error status `response`, or a connection `error`): the seconds to
        wait before the next one, or raise when the failure is not retryable or the tries are spent."""
        if error is not None:
            if attempt == self.max_retries:
                raise error
        elif response.status_code not in RETRY_STATUSES or attempt == self.max_retries:
            raise _error_from(response)
        self.retries += 1
        return retry_delay(response, attempt, self.backoff_s, self.max_wait_s)


class ExpanderClient(_Base):
    """Blocking client. Use as a context manager, or call `close()`."""

    _http_class = httpx.Client

    def __enter__(self) -> ExpanderClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, *, stream: bool = False, **kwargs) -> httpx.Response:
        """Send, retrying 429/503 and connection errors; an error status raises `ExpanderAPIError`. With
        `stream=True` the body is left unread (the caller closes the response): a stream is retried only
        before its first byte, like any other request."""
        for attempt in range(self.max_retries + 1):
            try:
                response = self._http.send(self._http.build_request(method, path, **kwargs), stream=stream)
            except _RETRY_ERRORS as exc:
                time.sleep(self._wait_or_raise(attempt, error=exc))
                continue
            if response.status_code < 400:
                return response
            response.read()
            response.close()
            time.sleep(self._wait_or_raise(attempt, response=response))
        raise AssertionError("unreachable")

    def expand(
        self,
        prompt: str,
        *,
        n: int = 1,
        seed: int | None = None,
        creativity: str | None = None,
        keep_terms: list[str] | None = None,
        max_words: int | None = None,
        model: str | None = None,
        target: str | None = None,
        **extra,
    ) -> ExpandResponse:
        """`POST /v1/expand` for one prompt. `target`: shape each expansion for that image model (`krea2`,
        `krea2-turbo`, `flux`, `sdxl`, `sd3`, `generic`; `expansions[i].shaped`, with `negative_prompt`, `width`,
        `height` as extra fields). `extra`: any other request field the server accepts."""
        body = _expand_body(prompt, n, seed, creativity, keep_terms, max_words, model, extra, target)
        return ExpandResponse.model_validate(self._request("POST", "/v1/expand", json=body).json())

    def expand_batch(self, prompts: list[str], **kwargs) -> ExpandBatchResponse:
        """`POST /v1/expand` with `prompts: [...]` (at most 64): per prompt, in order, its response or the error
        it alone got (`results[i].status`, `.response`, `.error`); one bad prompt does not fail the others."""
        body = _expand_body(
            list(prompts),
            kwargs.pop("n", 1),
            kwargs.pop("seed", None),
            kwargs.pop("creativity", None),
            kwargs.pop("keep_terms", None),
            kwargs.pop("max_words", None),
            kwargs.pop("model", None),
            kwargs,
        )
        return ExpandBatchResponse.model_validate(self._request("POST", "/v1/expand", json=body).json())

    def stream_expand(self, prompt: str, **kwargs) -> Iterator[dict]:
        """`POST /v1/expand` with `stream: true`: the server-sent events as dicts until `[DONE]`:
        `expansion.chunk` events (`index`, `delta`), then the whole response (`object: expansion`)."""
        body = _expand_body(
            prompt,
            kwargs.pop("n", 1),
            kwargs.pop("seed", None),
            kwargs.pop("creativity", None),
            kwargs.pop("keep_terms", None),
            kwargs.pop("max_words", None),
            kwargs.pop("model", None),
            {**kwargs, "stream": True},
        )
        response = self._request("POST", "/v1/expand", stream=True, json=body)
        try:
            yield from _sse_events(response.iter_lines())
        finally:
            response.close()

    def models(self) -> ModelList:
        return ModelList.model_validate(self._request("GET", "/v1/models").json())

    def health(self) -> HealthResponse:
        """`GET /health` (503 while starting is an answer here, not an error)."""
        response = self._http.get("/health")
        return HealthResponse.model_validate(response.json())

    def wait_until_ready(self, timeout_s: float = 300.0, poll_s: float = 1.0) -> HealthResponse:
        """Poll `/health` until it says `ok`; raises `ServerNotReadyError` (a `TimeoutError`) after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                health = self.health()
                if health.status == "ok":
                    return health
            except (httpx.TransportError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise ServerNotReadyError(f"{self.base_url} was not ready within {timeout_s:.0f} s")
            time.sleep(poll_s)


class AsyncExpanderClient(_Base):
    """Asyncio client with the same methods as `ExpanderClient` (awaitable)."""

    _http_class = httpx.AsyncClient

    async def __aenter__(self) -> AsyncExpanderClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, *, stream: bool = False, **kwargs) -> httpx.Response:
        for attempt in range(self.max_retries + 1):
            try:
                response = await self._http.send(self._http.build_request(method, path, **kwargs), stream=stream)
            except _RETRY_ERRORS as exc:
                await asyncio.sleep(self._wait_or_raise(attempt, error=exc))
                continue
            if response.status_code < 400:
                return response
            await response.aread()
            await response.aclose()
            await asyncio.sleep(self._wait_or_raise(attempt, response=response))
        raise AssertionError("unreachable")

    async def expand(
        self,
        prompt: str,
        *,
        n: int = 1,
        seed: int | None = None,
        creativity: str | None = None,
        keep_terms: list[str] | None = None,
        max_words: int | None = None,
        model: str | None = None,
        target: str | None = None,
        **extra,
    ) -> ExpandResponse:
        body = _expand_body(prompt, n, seed, creativity, keep_terms, max_words, model, extra, target)
        return ExpandResponse.model_validate((await self._request("POST", "/v1/expand", json=body)).json())

    async def expand_batch(self, prompts: list[str], **kwargs) -> ExpandBatchResponse:
        body = _expand_body(
            list(prompts),
            kwargs.pop("n", 1),
            kwargs.pop("seed", None),
            kwargs.pop("creativity", None),
            kwargs.pop("keep_terms", None),
            kwargs.pop("max_words", None),
            kwargs.pop("model", None),
            kwargs,
        )
        return ExpandBatchResponse.model_validate((await self._request("POST", "/v1/expand", json=body)).json())

    async def stream_expand(self, prompt: str, **kwargs) -> AsyncIterator[dict]:
        body = _expand_body(
            prompt,
            kwargs.pop("n", 1),
            kwargs.pop("seed", None),
            kwargs.pop("creativity", None),
            kwargs.pop("keep_terms", None),
            kwargs.pop("max_words", None),
            kwargs.pop("model", None),
            {**kwargs, "stream": True},
        )
        response = await self._request("POST", "/v1/expand", stream=True, json=body)
        try:
            async for line in response.aiter_lines():
                event = _sse_event(line)
                if event is _DONE:
                    return
                if event is not None:
                    yield event
        finally:
            await response.aclose()

    async def models(self) -> ModelList:
        return ModelList.model_validate((await self._request("GET", "/v1/models")).json())

    async def health(self) -> HealthResponse:
        return HealthResponse.model_validate((await self._http.get("/health")).json())


_DONE = object()


def _sse_event(line: str):
    """One line of a server-sent event stream: the decoded `data:` object, `_DONE` for `data: [DONE]`, or
    None for other lines (comments, blank separators). An `error` event raises `ExpanderAPIError`."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if data == "[DONE]":
        return _DONE
    event = json.loads(data)
    if isinstance(event, dict) and "error" in event:
        err = event["error"]
        raise ExpanderAPIError(
            200,
            err.get("message", "stream error"),
            code=err.get("code"),
            type=err.get("type"),
            param=err.get("param"),
            body=event,
        )
    return event


def _sse_events(lines: Iterator[str]) -> Iterator[dict]:
    """Decode `data: {...}` server-sent events until `data: [DONE]`."""
    for line in lines:
        event = _sse_event(line)
        if event is _DONE:
            return
        if event is not None:
            yield event
