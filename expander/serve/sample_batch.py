"""`SampleBatch`: the first engine call of each expansion of a `/v1/expand` batch, made one engine call.

Each expansion of a batch runs the single-prompt path on its own (so it is validated, moderated, checked and
answered alone) inside a `slot()`. Its first `draw_samples` hands its samples to the batch instead of to the
engine; once every expansion has either handed in or left without sampling (an error, `raw`, an unsupported
language), all samples go to the backend in one `generate`: one transformers batch instead of a first batch of
whoever came first, and for vLLM every request enters the scheduler in the same step. Later calls (a resample
after a failed output check) go straight to the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars

from expander.engine import Generation, SampleRequest
from expander.serve.backends import AsyncGenerationBackend, EngineUnavailable

__all__ = ["SampleBatch", "draw_samples"]


class _Slot:
    """One expansion's place in a batch, until it is used: `batch` is cleared by its first draw (or its exit)."""

    def __init__(self, batch: SampleBatch):
        self.batch: SampleBatch | None = batch


# The slot of the expansion running in this context, if it is part of a batch. A mutable holder, because the
# draw that uses it may run in a copy of the context (a task), and the slot's exit must see that it was used.
# The default is None, never a shared object: a mutable default would be one instance for every context.
_SLOT: contextvars.ContextVar[_Slot | None] = contextvars.ContextVar("expander_batch_slot", default=None)


async def draw_samples(backend: AsyncGenerationBackend, samples: list[SampleRequest]) -> list[Generation]:
    """Draw `samples`: through the current expansion's batch if it has not drawn yet, else on `backend`."""
    slot = _SLOT.get()
    if slot is not None and slot.batch is not None:
        batch, slot.batch = slot.batch, None
        return await batch.submit(samples)
    return await backend.generate(samples)


class SampleBatch:
    """Collects the first draw of each of `size` concurrent expansions into one `backend.generate` call."""

    def __init__(self, size: int, backend: AsyncGenerationBackend):
        self.backend = backend
        self.open = size  # expansions that may still hand in samples
        self.parts: list[tuple[list[SampleRequest], asyncio.Future]] = []
        self.call: asyncio.Task | None = None

    @contextlib.asynccontextmanager
    async def slot(self):
        """Run one expansion of the batch inside this: its first `draw_samples` joins the batch's engine call."""
        slot = _Slot(self)
        token = _SLOT.set(slot)
        try:
            yield
        finally:
            if slot.batch is not None:  # left without sampling
                slot.batch = None
                self._leave()
            _SLOT.reset(token)

    async def submit(self, samples: list[SampleRequest]) -> list[Generation]:
        future = asyncio.get_running_loop().create_future()
        self.parts.append((samples, future))
        self._leave()
        return await future

    def _leave(self) -> None:
        self.open -= 1
        if self.open == 0 and self.parts:
            self.call = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        flat = [s for samples, _ in self.parts for s in samples]
        try:
            gens = await self.backend.generate(flat)
        except BaseException as exc:
            for _, future in self.parts:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else EngineUnavailable("cancelled"))
            raise
        start = 0
        for samples, future in self.parts:
            if not future.done():
                future.set_result(gens[start : start + len(samples)])
            start += len(samples)

    async def close(self) -> None:
        """Cancel the engine call if it still runs (the batch request was cancelled)."""
        if self.call is not None and not self.call.done():
            self.call.cancel()
        if self.call is not None:
            await asyncio.gather(self.call, return_exceptions=True)
