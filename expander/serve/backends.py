"""Async generation backends for serving: concurrent requests share one engine.

* `VLLMAsyncBackend`: vLLM's `AsyncLLM` (continuous batching: a request joins the running batch at the next
  decoding step; a cancelled request is aborted inside the engine). LoRA adapters by `LoRARequest`.
* `TransformersAsyncBackend`: one worker thread running transformers `generate`; it batches whatever samples
  are queued when it becomes free (same sampling settings and adapter), so requests that arrive while a
  batch runs wait for the next one. Cancelled samples are dropped from the queue or stopped mid-batch.

Either engine can die while serving (vLLM's engine-core process killed, out of memory, a driver fault; the
transformers worker thread ending): `health()` then says so, the requests in flight fail with `EngineUnavailable`
(never vLLM's own `EngineDeadError`, which the app would answer 500), `death_cause()` names what happened, and
`restart()` brings up a new engine with the same settings (`expander.serve.supervisor` decides whether to).

Both are thin front-ends over `expander.engine`, the core the offline engines use: they draw the same unit
(`expander.engine.SampleRequest`) with the same code (model loading, chat-template ids, seeded batched
`generate_seeded`, `vllm_engine_args`, `vllm_request`, `vllm_generation`). So both follow its seed rule (a
sample is drawn with its own seed on its own random stream) and expansion `i` of a request with seed `S` (seed
`S + i`) is the same text as the CLI's for the same backend.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import signal
import threading
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from expander.devices import has_cuda
from expander.engine import (
    ENGINE_CLOSE_GRACE_S,
    Generation,
    SampleRequest,
    chat_ids,
    generate_seeded,
    load_causal_lm,
    load_tokenizer,
    vllm_engine_args,
    vllm_generation,
    vllm_lora_request,
    vllm_request,
)
from expander.errors import ConfigError, ExpanderError

logger = logging.getLogger(__name__)

__all__ = [
    "AsyncGenerationBackend",
    "EngineUnavailable",
    "TransformersAsyncBackend",
    "VLLMAsyncBackend",
    "create_backend",
]


class EngineUnavailable(ExpanderError, RuntimeError):
    """The engine is starting, stopped, restarting or dead: the request cannot be served now (HTTP 503)."""


class AsyncGenerationBackend(ABC):
    """An engine shared by concurrent requests. `start()` loads it; `generate()` samples; `close()` frees it;
    `restart()` replaces a dead engine.

    Attributes:
        backend: `vllm` or `transformers`.
        tokenizer: the model's tokenizer (chat template), available after `start()`.
        enable_thinking: the chat template's thinking switch (`expander.engine.chat_ids`); off for expansion.
    """

    backend: str = ""
    enable_thinking: bool = False

    def __init__(self, model_path: str | Path, adapters: dict[str, str] | None = None):
        self.model_path = model_path
        self.adapters = dict(adapters or {})
        self.tokenizer = None
        self.ready = False
        self.stopping = False
        self.error: str | None = None
        self.in_flight = 0  # samples submitted and not finished

    def chat_ids(self, conversation: list[dict[str, str]]) -> tuple[int, ...]:
        return tuple(chat_ids(self.tokenizer, conversation, self.enable_thinking))

    async def start(self) -> None:
        """Load the model and engine. Sets `ready`; on failure sets `error` and raises."""
        try:
            await self._start()
            self.ready = True
        except BaseException as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            raise

    def health(self) -> tuple[bool, str | None]:
        """(serving?, reason when not)."""
        if self.error:
            return False, self.error
        if self.stopping:
            return False, "stopping"
        if not self.ready:
            return False, "starting"
        return self._alive()

    def _alive(self) -> tuple[bool, str | None]:
        return True, None

    def death_cause(self) -> tuple[str, str]:
        """Why the started engine stopped serving: (a short label for metrics, a sentence for logs and /health)."""
        return "unknown", self.health()[1] or "the engine stopped serving"

    def engine_unfinished(self) -> int:
        """Samples the engine holds now (submitted, not finished or aborted)."""
        return self.in_flight

    async def restart(self) -> None:
        """Replace a dead engine with a new one of the same settings: free what is left of the old one, then
        `start()` again. Raises what `start()` raises (`error` then says why)."""
        self.ready = False
        await self._stop_engine()
        self.error = None
        await self.start()

    async def _stop_engine(self) -> None:
        """Free the engine (not the tokenizer or settings), whether it is alive or dead. The default holds none."""
        return None

    async def generate(self, samples: list[SampleRequest]) -> list[Generation]:
        """Sample every request concurrently; results in input order. Cancelling the caller cancels them all."""
        ok, why = self.health()
        if not ok:
            raise EngineUnavailable(f"engine is not serving: {why}")
        self.in_flight += len(samples)
        try:
            return await self._generate(samples)
        finally:
            self.in_flight -= len(samples)

    @abstractmethod
    async def _start(self) -> None: ...

    @abstractmethod
    async def _generate(self, samples: list[SampleRequest]) -> list[Generation]: ...

    async def close(self) -> None:
        self.stopping = True
        await self._stop_engine()


# ----------------------------------------------------------------------------------------------------------
# vLLM


class VLLMAsyncBackend(AsyncGenerationBackend):
    """vLLM `AsyncLLM`: continuous batching across requests, per-request LoRA, abort on cancel."""

    backend = "vllm"

    def __init__(
        self,
        model_path,
        adapters=None,
        *,
        dtype: str | None = None,
        max_model_len: int = 2048,
        enforce_eager: bool | None = None,
        max_num_seqs: int = 64,
        max_lora_rank: int = 64,
        gpu_memory_utilization: float = 0.85,
        engine_args: dict | None = None,
    ):
        super().__init__(model_path, adapters)
        # The offline engine's settings (`expander.engine.vllm_engine_args`), so a seeded request gives the
        # CLI's text; it also sets the CPU environment, before vLLM is imported. `engine_args` are checked here,
        # so an unknown key stops `expander serve` at once, naming it, rather than the engine in the background.
        self.engine_kwargs = vllm_engine_args(
            self.model_path,
            dtype=dtype,
            max_model_len=max_model_len,
            enforce_eager=enforce_eager,
            max_num_seqs=max_num_seqs,
            gpu_memory_utilization=gpu_memory_utilization,
            max_lora_rank=max_lora_rank if self.adapters else None,
            max_loras=max(1, len(self.adapters)),
            extra=engine_args,
            where="engine_args",
        )
        self.llm = None
        self._lora_ids = {name: i + 1 for i, name in enumerate(sorted(self.adapters))}

    async def _start(self) -> None:
        import torch
        from vllm import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        self.tokenizer = load_tokenizer(self.model_path)
        args = AsyncEngineArgs(**{"disable_log_stats": True, **self.engine_kwargs})
        # Built in a worker thread so the event loop keeps answering /health (503 "starting") meanwhile.
        self.llm = await asyncio.to_thread(AsyncLLM.from_engine_args, args)
        if not has_cuda():
            # The engine core computes in its own process on every core. This process's own torch work (the
            # constraints embedder, a moderation model) gets one thread, so its OpenMP pool does not spin on
            # the engine's cores: two 2-thread pools on 2 cores cost the engine far more than the CPU time.
            torch.set_num_threads(1)

    def _alive(self):
        if self.llm is None or self.llm.errored:
            return False, "vLLM engine is dead"
        return True, None

    def engine_processes(self) -> list:
        """The engine-core processes (`multiprocessing` processes: `pid`, `exitcode`); empty when not started, or
        when the engine runs elsewhere (Ray). Read from vLLM's client internals (0.32), hence the fallbacks."""
        manager = getattr(getattr(getattr(self.llm, "engine_core", None), "resources", None), "engine_manager", None)
        return list(getattr(manager, "processes", None) or [])

    def death_cause(self) -> tuple[str, str]:
        for proc in self.engine_processes():
            code = proc.exitcode
            if code is not None and code < 0:
                name = signal.Signals(-code).name if -code in signal.valid_signals() else f"signal {-code}"
                return name, f"vLLM engine core process {proc.pid} was killed by {name}"
            if code:
                return f"exit_{code}", f"vLLM engine core process {proc.pid} exited with status {code}"
        return "engine_error", "vLLM engine is dead (its engine core reported a fatal error)"

    def _lora(self, name: str | None):
        return None if name is None else vllm_lora_request(name, self._lora_ids[name], self.adapters[name])

    async def _one(self, sample: SampleRequest, request_id: str) -> Generation:
        from vllm.sampling_params import RequestOutputKind
        from vllm.v1.engine.exceptions import EngineDeadError, EngineGenerateError

        # Nothing streams: FINAL_ONLY spares vLLM building a per-token output object.
        prompt, params = vllm_request(sample, output_kind=RequestOutputKind.FINAL_ONLY)
        final, llm = None, self.llm
        if llm is None:  # closed under this request (a restart, a shutdown)
            raise EngineUnavailable("the engine is not running")
        try:
            # Leaving this loop early (cancellation) closes the generator, which aborts the request in vLLM.
            async for out in llm.generate(prompt, params, request_id, lora_request=self._lora(sample.adapter)):
                final = out
        except (EngineDeadError, EngineGenerateError) as exc:
            # The engine died under this request (an EngineGenerateError then is the dead engine's socket, seen
            # before the death was): retryable. One on a live engine is this request's own failure.
            if isinstance(exc, EngineDeadError) or llm.errored:
                raise EngineUnavailable(f"the engine died during the request ({self.death_cause()[1]})") from exc
            raise
        return vllm_generation(final, sample.seed)

    async def _generate(self, samples):
        base = uuid.uuid4().hex
        tasks = [asyncio.ensure_future(self._one(s, f"{base}-{i}")) for i, s in enumerate(samples)]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    def engine_unfinished(self) -> int:
        """Requests vLLM still holds (0 after every cancelled request was aborted)."""
        return 0 if self.llm is None else self.llm.get_num_unfinished_requests()

    async def _stop_engine(self) -> None:
        llm, self.llm = self.llm, None
        if llm is not None:
            # Stop the output handler before the engine core goes, or it sees the core die and logs an
            # EngineDeadError traceback on every clean shutdown.
            handler = getattr(llm, "output_handler", None)
            if handler is not None and not handler.done():
                handler.cancel()
                await asyncio.gather(handler, return_exceptions=True)
            await asyncio.to_thread(llm.shutdown, ENGINE_CLOSE_GRACE_S)  # nothing in flight: see the constant


# ----------------------------------------------------------------------------------------------------------
# transformers


@dataclass(eq=False)  # hashed by identity: `_jobs` is a set of them
class _Job:
    sample: SampleRequest
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    cancelled: threading.Event = field(default_factory=threading.Event)


class TransformersAsyncBackend(AsyncGenerationBackend):
    """transformers `generate` on a worker thread that batches queued samples (no continuous batching)."""

    backend = "transformers"

    def __init__(
        self, model_path, adapters=None, *, dtype: str | None = None, device: str | None = None, batch_size: int = 32
    ):
        super().__init__(model_path, adapters)
        self.dtype = dtype
        self.device = device
        self.batch_size = batch_size
        self._queue: queue.Queue[list[_Job] | None] = queue.Queue()  # one entry per `generate` call
        self._thread: threading.Thread | None = None
        self._jobs: set[_Job] = set()  # submitted and not yet answered: failed together if the worker dies
        self._death: str | None = None  # what ended the worker thread, if it died
        self.lm = None

    async def _start(self) -> None:
        if self.lm is None:  # a restart after the worker thread died keeps the loaded model
            await asyncio.to_thread(self._load)
        self._death = None
        self._thread = threading.Thread(target=self._worker, name="transformers-generate", daemon=True)
        self._thread.start()

    def _load(self) -> None:
        # Adapters stay separate (not merged): each request picks one, or none, by name.
        self.lm, self.device = load_causal_lm(
            self.model_path, dtype=self.dtype, device=self.device, adapters=self.adapters
        )
        self.tokenizer = load_tokenizer(self.model_path)

    def _alive(self):
        if self._thread is None or not self._thread.is_alive():
            return False, "transformers worker thread is not running"
        return True, None

    def death_cause(self) -> tuple[str, str]:
        return "worker_thread", f"transformers worker thread died ({self._death or 'no exception recorded'})"

    async def _generate(self, samples):
        loop = asyncio.get_running_loop()
        jobs = [_Job(s, loop.create_future(), loop) for s in samples]
        self._jobs.update(jobs)
        self._queue.put(jobs)  # at once: the worker never starts a batch with only the first of them
        try:
            return list(await asyncio.gather(*(j.future for j in jobs)))
        except BaseException:
            for job in jobs:
                job.cancelled.set()  # the worker skips it, or stops its row mid-batch
            raise
        finally:
            self._jobs.difference_update(jobs)

    # -- worker thread --------------------------------------------------------------------------------------

    def _worker(self) -> None:
        try:
            self._work()
        except BaseException as exc:  # the thread ends here: nobody would ever answer the jobs it was given
            self._death = type(exc).__name__ + (f": {exc}" if str(exc) else "")
            logger.exception("the transformers worker thread died")
            # (`list` of a set copies it without releasing the GIL: the event loop cannot change it meanwhile)
            self._fail(list(self._jobs), EngineUnavailable(f"the engine died during the request ({self._death})"))

    def _work(self) -> None:
        pending: list[_Job] = []
        while True:
            if not pending:
                jobs = self._queue.get()
                if jobs is None:
                    return
                pending.extend(jobs)
            while True:  # take everything queued right now: it all joins this batch if its settings match
                try:
                    jobs = self._queue.get_nowait()
                except queue.Empty:
                    break
                if jobs is None:
                    self._fail(pending, EngineUnavailable("engine stopped"))
                    return
                pending.extend(jobs)
            pending = [j for j in pending if not j.cancelled.is_set()]
            if not pending:
                continue
            key = pending[0].sample.batch_key()
            batch = [j for j in pending if j.sample.batch_key() == key][: self.batch_size]
            chosen = set(map(id, batch))
            pending = [j for j in pending if id(j) not in chosen]
            try:
                results = self._run_batch(batch)
            except Exception as exc:  # a failing batch fails its requests, not the worker
                logger.exception("transformers batch failed")
                self._fail(batch, exc)
                continue
            for job, gen in zip(batch, results):
                job.loop.call_soon_threadsafe(_resolve, job.future, gen, None)

    @staticmethod
    def _fail(jobs: list[_Job], exc: BaseException) -> None:
        for job in jobs:
            job.loop.call_soon_threadsafe(_resolve, job.future, None, exc)

    def _run_batch(self, batch: list[_Job]) -> list[Generation]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        first = batch[0].sample

        class _StopCancelled(StoppingCriteria):
            """Ends the rows of requests whose clients went away (their output is discarded)."""

            def __call__(self, input_ids, scores, **kwargs):
                flags = [j.cancelled.is_set() for j in batch]
                return torch.tensor(flags, dtype=torch.bool, device=input_ids.device)

        with self._adapter(first.adapter):
            return generate_seeded(
                self.lm,
                self.tokenizer,
                [j.sample for j in batch],
                stopping_criteria=StoppingCriteriaList([_StopCancelled()]),
            )

    def _adapter(self, name: str | None):
        import contextlib

        if not self.adapters:
            return contextlib.nullcontext()
        if name is None:
            return self.lm.disable_adapter()
        self.lm.set_adapter(name)
        return contextlib.nullcontext()

    async def _stop_engine(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            await asyncio.to_thread(self._thread.join, 30)
        while True:  # anything still queued (put as the worker died) is answered, not left for the next worker
            try:
                jobs = self._queue.get_nowait()
            except queue.Empty:
                break
            self._fail(jobs or [], EngineUnavailable("the engine stopped"))

    async def close(self) -> None:
        await super().close()
        self.lm = None


def _resolve(future: asyncio.Future, value, exc) -> None:
    if future.done():  # the awaiting request was cancelled meanwhile
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(value)


def create_backend(
    backend: str, model_path, adapters: dict[str, str] | None = None, *, enable_thinking: bool = False, **options
) -> AsyncGenerationBackend:
    """Build an (unstarted) async backend. `options` are the backend's keyword settings.

    Raises:
        ConfigError: an unknown backend. `expander.engine.EngineArgsError`: an unknown vLLM `engine_args` key.
    """
    if backend == "vllm":
        built: AsyncGenerationBackend = VLLMAsyncBackend(model_path, adapters, **options)
    elif backend == "transformers":
        built = TransformersAsyncBackend(model_path, adapters, **options)
    else:
        raise ConfigError(f"unknown backend {backend!r}; choose vllm or transformers")
    built.enable_thinking = enable_thinking
    return built
