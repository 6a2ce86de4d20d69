"""Server-sent events for `stream: true`: OpenAI's `chat.completion.chunk` stream and `/v1/expand`'s own events.

Every expansion is checked whole before anything is sent (the safety check on every output, with its one
resample; verified expansion when `candidates > 1`; the cleaning of the contract). So a stream begins once the
response has passed: an error until then (a refused output, a busy server, a timeout) is an ordinary HTTP error
response, and no refused text ever reaches the client. The text is then sent in word-sized chunks, whose
concatenation is exactly the unstreamed text. An error after the first byte becomes an `{"error": {...}}` event
(the stream then ends without `[DONE]`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Iterable, Iterator

from expander.protocol import ChatCompletionResponse, ExpandResponse

logger = logging.getLogger(__name__)

__all__ = ["SSE_HEADERS", "chat_chunks", "expand_events", "sse", "text_chunks"]

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy buffering of the stream


def text_chunks(text: str) -> list[str]:
    """`text` as word-sized chunks (each word with the whitespace before it); they join back to `text`."""
    return re.findall(r"\s*\S+", text) + ([m] if (m := text[len(text.rstrip()) :]) else []) or [""]


def chat_chunks(response: ChatCompletionResponse, include_usage: bool = False) -> Iterator[dict]:
    """A finished chat completion as OpenAI's chunk objects: per choice a role chunk, content chunks and a
    `finish_reason` chunk; with `include_usage` every chunk carries `usage: null` and a last chunk with no
    choices carries the usage (OpenAI's `stream_options.include_usage`)."""
    head = {
        "id": response.id,
        "object": "chat.completion.chunk",
        "created": response.created,
        "model": response.model,
        "system_fingerprint": response.system_fingerprint,
    }
    extra = {"usage": None} if include_usage else {}

    def chunk(index: int, delta: dict, finish: str | None = None) -> dict:
        return {
            **head,
            "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}],
            **extra,
        }

    for choice in response.choices:
        yield chunk(choice.index, {"role": "assistant", "content": ""})
        for piece in text_chunks(choice.message.content):
            yield chunk(choice.index, {"content": piece})
        yield chunk(choice.index, {}, choice.finish_reason)
    if include_usage:
        yield {**head, "choices": [], "usage": response.usage.model_dump()}


def expand_events(response: ExpandResponse) -> Iterator[dict]:
    """A finished `/v1/expand` response as events: `expansion.chunk` (`index`, `delta`) per piece of each
    expansion's text, then the whole response (`object: expansion`, with the reports) as the last event."""
    for index, expansion in enumerate(response.expansions):
        for piece in text_chunks(expansion.text):
            yield {"object": "expansion.chunk", "id": response.id, "index": index, "delta": piece}
    yield response.model_dump()


async def sse(events: Iterable[dict]) -> AsyncIterator[bytes]:
    """`data: <json>` lines, then `data: [DONE]`; an exception while streaming becomes an error event."""
    try:
        for event in events:
            yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode()
    except Exception as exc:  # after the first byte the status is sent: the error travels as an event
        logger.exception("error while streaming")
        error = {"message": f"the stream failed: {exc}", "type": "server_error", "param": None, "code": "stream_error"}
        yield f"data: {json.dumps({'error': error})}\n\n".encode()
        return
    yield b"data: [DONE]\n\n"
