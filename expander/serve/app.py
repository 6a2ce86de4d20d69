"""The FastAPI app: thin routers over `ExpanderService` (taken from `app.state`), errors as JSON, metrics.

Routes:
    POST /v1/expand             the expander API (`ExpandRequest` -> `ExpandResponse`; `prompts: [...]` ->
                                `ExpandBatchResponse`; `stream: true` -> server-sent events)
    POST /v1/chat/completions   OpenAI-compatible: the last user message is expanded (`stream: true` supported)
    GET  /v1/models             OpenAI-compatible list of served names (base + adapters)
    GET  /health                200 while serving, 503 while the engine starts, restarts, stops or is down (open)
    GET  /metrics               Prometheus text format (open)

Every request under /v1 runs inside the service's admission control (429 + Retry-After past the limit),
a deadline (504 and the generation is cancelled), and a disconnect watch (a client that goes away cancels
its generation). With `$EXPANDER_API_KEY` set (the config's `api_key_env`), /v1 needs `Authorization:
Bearer <key>`.

When the engine dies, `expander.serve.supervisor` restarts it or gives up; giving up stops the app as SIGTERM
does (in-flight requests are answered, the engine closed) and then ends the process with
`ENGINE_DEAD_EXIT_CODE`, for a supervisor to start a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from expander.protocol import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    ErrorResponse,
    ExpandBatchResponse,
    ExpandRequest,
    ExpandResponse,
    HealthResponse,
    ModelList,
)
from expander.serve.config import ServeConfig
from expander.serve.errors import ServiceError
from expander.serve.metrics import CONTENT_TYPE_LATEST, ServeMetrics
from expander.serve.playground import add_playground
from expander.serve.service import ExpanderService
from expander.serve.streaming import SSE_HEADERS, chat_chunks, expand_events, sse

logger = logging.getLogger(__name__)

__all__ = ["create_app"]

ROUTES = ("/v1/expand", "/v1/chat/completions", "/v1/models", "/health", "/metrics")
_ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 404, 422, 429, 503, 504)}


# ----------------------------------------------------------------------------------------------------------
# request guard: admission, deadline, disconnect


async def run_guarded(request: Request, work: Awaitable):
    """Await `work` under the service's admission control, its deadline and the client's presence.

    Raises:
        ServiceError: 429 over the limit, 504 past `request_timeout_s`, 499 when the client disconnected
        (in the last two cases the generation is cancelled, which aborts it in the engine).
    """
    service: ExpanderService = request.app.state.service
    metrics: ServeMetrics = request.app.state.metrics
    timeout = service.config.request_timeout_s
    try:
        admission = service.admission()
        admission.__enter__()
    except ServiceError:
        work.close()  # never started
        raise
    task = asyncio.ensure_future(work)
    # One waiter on the client's disconnect instead of polling it: a poll per request every fraction of a
    # second is event-loop work that grows with concurrency (vLLM's own server listens the same way).
    gone = asyncio.ensure_future(_client_gone(request))
    try:
        done, _ = await asyncio.wait({task, gone}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        if gone in done:
            metrics.cancelled.labels("disconnect").inc()
            raise ServiceError(499, "client disconnected; generation cancelled", "client_closed_request")
        metrics.cancelled.labels("timeout").inc()
        raise ServiceError(
            504, f"the request took longer than {timeout:g} s and was cancelled", "timeout_error", code="timeout"
        )
    finally:
        for t in (task, gone):
            if not t.done():
                t.cancel()
        await asyncio.gather(task, gone, return_exceptions=True)
        admission.__exit__(None, None, None)


async def _client_gone(request: Request) -> None:
    """Returns when the client disconnects (the body is read by then, so the next ASGI message is the
    disconnect; the server sends it also once the response is complete, by when nobody waits here)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def require_api_key(request: Request) -> None:
    """Dependency of /v1: checks `Authorization: Bearer <key>` when a key is configured."""
    key = request.app.state.api_key
    if not key:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key.encode()):
        raise ServiceError(
            401,
            "missing or wrong API key: send 'Authorization: Bearer <key>'",
            "authentication_error",
            code="invalid_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )


# ----------------------------------------------------------------------------------------------------------
# routers (thin: the handler comes from app.state)

api = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)], responses=_ERRORS)


@api.post(
    "/expand",
    response_model=ExpandResponse | ExpandBatchResponse,
    summary="Expand a short prompt (or a batch of `prompts`) into dense image descriptions",
)
async def expand(body: ExpandRequest, request: Request):
    service: ExpanderService = request.app.state.service
    if body.prompts is not None:
        return await run_guarded(request, service.expand_batch(body))
    response = await run_guarded(request, service.expand(body))
    if body.stream:  # checked whole first: see expander.serve.streaming
        return StreamingResponse(sse(expand_events(response)), media_type="text/event-stream", headers=SSE_HEADERS)
    return response


@api.post("/chat/completions", response_model=ChatCompletionResponse, summary="OpenAI-compatible chat completions")
async def chat_completions(body: ChatCompletionRequest, request: Request):
    response = await run_guarded(request, request.app.state.service.chat(body))
    if body.stream:  # checked whole first: see expander.serve.streaming
        usage = bool((body.stream_options or {}).get("include_usage"))
        return StreamingResponse(sse(chat_chunks(response, usage)), media_type="text/event-stream", headers=SSE_HEADERS)
    return response


@api.get("/models", response_model=ModelList, summary="Served models: the base and every adapter")
async def list_models(request: Request) -> ModelList:
    return request.app.state.service.list_models()


ops = APIRouter()


@ops.get("/health", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
async def health(request: Request):
    service: ExpanderService = request.app.state.service
    ok, status, detail = service.health()
    if request.app.state.stopping and ok:
        ok, status, detail = False, "stopping", "shutting down"
    body = HealthResponse(
        status=status,
        backend=service.config.backend,
        model=service.models.base_name,
        in_flight=service.in_flight,
        detail=detail,
    )
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@ops.get("/metrics", response_class=Response, summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)


# ----------------------------------------------------------------------------------------------------------
# errors


def _field_name(loc) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    fields = []
    for err in exc.errors():
        fields.append(
            {"field": _field_name(err.get("loc", ())), "message": err.get("msg", ""), "type": err.get("type")}
        )
    if any(f["type"] == "json_invalid" for f in fields):
        message = "the request body is not valid JSON"
    else:
        message = "; ".join(f"{f['field']}: {f['message']}" for f in fields) or "invalid request"
    body = ServiceError(
        422,
        message,
        "invalid_request_error",
        param=fields[0]["field"] if fields else None,
        code="validation_error",
        fields=fields,
    ).body()
    return JSONResponse(body, status_code=422)


async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    kind = {404: "not_found_error", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    body = ServiceError(exc.status_code, str(exc.detail), kind).body()
    return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s", request.url.path)
    return JSONResponse(ServiceError(500, "internal error", "server_error").body(), status_code=500)


class MetricsMiddleware:
    """Pure ASGI middleware (it does not buffer bodies, so disconnects still reach the handlers)."""

    def __init__(self, app, metrics: ServeMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        route = path if path in ROUTES else "other"
        status = {"code": 500}
        start = time.perf_counter()

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.requests.labels(route, str(status["code"])).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)


# ----------------------------------------------------------------------------------------------------------
# the app


def _stop_server(exit_code: int) -> None:
    """Begin the graceful stop SIGTERM begins (uvicorn's handler: no new connections, in-flight requests answered,
    then the lifespan's shutdown, which ends the process with `exit_code`)."""
    os.kill(os.getpid(), signal.SIGTERM)


def _exit_process(exit_code: int) -> None:
    """End the process now, with `exit_code`. Not a plain return: uvicorn would re-raise the SIGTERM that began the
    stop, and death by SIGTERM is a clean stop to systemd's `Restart=on-failure`, which would then not restart us."""
    logging.shutdown()  # flush every handler
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)


def create_app(config: ServeConfig | None = None, service: ExpanderService | None = None) -> FastAPI:
    """Build the app. The engine starts in the background at startup; /health says 503 until it serves.

    Args:
        config: serve settings (default `ServeConfig()`).
        service: a prepared service (tests); default one built from the config.
    """
    config = config or ServeConfig()
    metrics = service.metrics if service is not None else ServeMetrics()
    service = service or ExpanderService(config, metrics)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        service.supervisor.on_fatal = _stop_server

        async def start():
            try:
                await service.start()
                logger.warning("expander serving %s on the %s backend", service.models.base_name, config.backend)
            except Exception as exc:
                service.supervisor.start_failed(exc)
                logger.exception("the engine failed to start; /health reports 503")

        app.state.start_task = asyncio.create_task(start())
        try:
            yield
        finally:
            app.state.stopping = True
            if not app.state.start_task.done():
                app.state.start_task.cancel()
                await asyncio.gather(app.state.start_task, return_exceptions=True)
            await service.close()
            logger.warning("expander stopped: in-flight requests finished, engine closed")
            if service.supervisor.exit_code is not None:
                _exit_process(service.supervisor.exit_code)

    app = FastAPI(
        title="expander",
        version="1",
        summary="Expands short text-to-image prompts into dense descriptions for Krea 2.",
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.service = service
    app.state.metrics = metrics
    app.state.stopping = False
    app.state.api_key = os.environ.get(config.api_key_env, "") if config.api_key_env else ""
    app.include_router(api)
    app.include_router(ops)
    add_playground(app)  # GET /: the playground page (open; its API calls carry the key)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
