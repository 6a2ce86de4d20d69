"""The vLLM backend: the engine arguments (CPU environment, default dtype, whole-prefill scheduling), a sample
as a vLLM request, its output as a `Generation`, LoRA requests, and the offline `VLLMEngine`. The server's
`AsyncLLM` backend (`expander.serve.backends`) builds its engine and requests with the same functions, so a
seeded request gives the same text through both."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from expander.devices import has_cuda, resolve_dtype
from expander.engine import repeat_guard
from expander.engine.exclusion_guard import EXTRA_ARG
from expander.engine.interface import GenerationEngine
from expander.engine.sampling import Generation, SampleRequest, finish_reason
from expander.engine.tokenizer import load_tokenizer
from expander.errors import ExpanderError

logger = logging.getLogger(__name__)

__all__ = [
    "ENGINE_CLOSE_GRACE_S",
    "VLLM_LOGITS_PROCESSOR",
    "EngineArgsError",
    "VLLMEngine",
    "check_vllm_engine_args",
    "configure_vllm_cpu_env",
    "vllm_engine_args",
    "vllm_generation",
    "vllm_lora_request",
    "vllm_request",
]


# Seconds vLLM waits for its engine-core process to exit after SIGTERM before it kills it. vLLM's default (5 s) is
# always spent here: the CPU engine core never exits within it (measured: close took 5.0 s, and 1.0 s with this).
# Nothing is in flight when we close an engine (the offline engine's calls have returned; the server has drained), so
# the kill loses nothing, and the core's workers exit with it (tests/serve/test_faults.py checks they do not linger).
ENGINE_CLOSE_GRACE_S = 1.0

VLLM_LOGITS_PROCESSOR = "expander.engine.vllm_exclusion_guard:VLLMExclusionGuard"
"""The exclusion guard's vLLM logits processor, by qualified name (the engine process imports it)."""


def configure_vllm_cpu_env() -> None:
    """Environment vLLM needs on a CPU-only machine; set before `import vllm`. Existing values win."""
    from expander.files import cache_dir

    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB of KV cache
    os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")  # else the worker loses one of two cores
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    os.environ.setdefault("VLLM_CACHE_ROOT", str(cache_dir() / "vllm"))
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir() / "inductor"))


class EngineArgsError(ExpanderError, ValueError):
    """An `engine_args` / `llm_kwargs` key that vLLM's engine arguments do not have."""


def check_vllm_engine_args(extra: dict, *, where: str = "engine_args") -> dict:
    """Check that every key of `extra` is a field of `vllm.AsyncEngineArgs` (which `vllm.LLM` builds its
    `EngineArgs` from, plus the async engine's own fields), so a typo fails at start naming the key, instead
    of deep inside vLLM or, worse, not at all. Imports vLLM (after setting the CPU environment it reads).

    Returns: `extra` unchanged. Raises: `EngineArgsError` naming each unknown key and the closest fields.
    """
    import dataclasses
    import difflib

    if not has_cuda():
        configure_vllm_cpu_env()
    from vllm import AsyncEngineArgs

    fields = {f.name for f in dataclasses.fields(AsyncEngineArgs)}
    unknown = [str(key) for key in extra if key not in fields]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, fields, n=3)
            hints.append(f"{key!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
        raise EngineArgsError(
            f"{where}: unknown vLLM engine argument{'s' if len(unknown) > 1 else ''} {'; '.join(hints)}; "
            f"the keys are the fields of vllm.AsyncEngineArgs (`vllm serve --help` lists them with - for _)"
        )
    return extra


def vllm_engine_args(
    model: Path | str,
    *,
    dtype: str | None = None,
    max_model_len: int = 2048,
    enforce_eager: bool | None = None,
    max_num_seqs: int = 64,
    gpu_memory_utilization: float = 0.85,
    max_lora_rank: int | None = None,
    max_loras: int | None = None,
    extra: dict | None = None,
    where: str = "engine_args",
) -> dict:
    """Keyword arguments of `vllm.LLM` / `vllm.AsyncEngineArgs`, the same for the offline engine and the server
    (so a seeded request gives the same text through both). On a CPU-only machine it also sets the vLLM
    environment (`configure_vllm_cpu_env`): call it before `import vllm`.

    Args:
        dtype: `None` = `expander.devices.default_dtype` (fp32 on CPU).
        enforce_eager: `None` = eager on CPU (compiling costs minutes there), CUDA graphs on GPU.
        max_lora_rank: set to enable runtime LoRA adapters (`max_loras` of them at once).
        extra: any other vLLM engine argument; they win over the settings above. Checked
            (`check_vllm_engine_args`, which imports vLLM) when not empty; `where` names them in the error.

    Raises:
        EngineArgsError: an `extra` key that is not a vLLM engine argument.
    """
    cuda = has_cuda()
    if not cuda:
        configure_vllm_cpu_env()
    kwargs = dict(
        model=str(model),
        dtype=resolve_dtype(dtype, "cuda" if cuda else "cpu"),
        enforce_eager=enforce_eager if enforce_eager is not None else not cuda,
        max_model_len=max_model_len,
        max_num_seqs=max_num_seqs,
        seed=0,
        # The exclusion guard: only requests that carry its extra argument are touched (`vllm_request`).
        logits_processors=[VLLM_LOGITS_PROCESSOR],
    )
    if cuda:
        kwargs["gpu_memory_utilization"] = gpu_memory_utilization
    else:
        # vllm-cpu 0.32 crashes the engine ("CPU Generator does not use offset") when a seeded request's prefill
        # is split across steps: the model runner rewinds the generator of every request whose sampled token it
        # discards (a partial prefill) with `get_offset`, which CPU generators lack. Every expander request is
        # seeded, and chunked prefill is on by default, so any batch of prompts over the step's token budget
        # (2048 for AsyncLLM) would hit it: schedule whole prefills instead.
        kwargs.update(enable_chunked_prefill=False, max_num_batched_tokens=max(max_model_len, 8192))
    if max_lora_rank is not None:
        kwargs.update(enable_lora=True, max_lora_rank=max_lora_rank)
        if max_loras is not None:
            kwargs["max_loras"] = max_loras
    if extra:
        kwargs.update(check_vllm_engine_args(dict(extra), where=where))
        # Logits processors the caller adds run beside the guard's, not instead of it.
        kwargs["logits_processors"] = [VLLM_LOGITS_PROCESSOR] + [
            p for p in kwargs.get("logits_processors") or [] if p != VLLM_LOGITS_PROCESSOR
        ]
        if kwargs.get("speculative_config"):
            # vLLM refuses to start with custom logits processors under speculative decoding.
            kwargs["logits_processors"].remove(VLLM_LOGITS_PROCESSOR)
            logger.warning(
                "%s: speculative decoding runs no custom logits processors; the exclusion guard is off on this "
                "engine (the checker and the faithful fallback still verify each expansion)",
                where,
            )
    return kwargs


def vllm_request(sample: SampleRequest, **extra) -> tuple[dict, object]:
    """A sample as vLLM's (prompt, `vllm.SamplingParams`): `n=1`, since each completion has its own seed.

    `extra`: other `vllm.SamplingParams` fields (the server asks for the final output only)."""
    from vllm import SamplingParams as VLLMSamplingParams

    guards = {}  # what the guards' logits processor reads (`vllm_exclusion_guard`)
    if sample.excluded:
        guards[EXTRA_ARG] = {"words": list(sample.excluded), "compounds": list(sample.compounds)}
    if sample.no_repeat_ngram:
        guards[repeat_guard.EXTRA_ARG] = sample.no_repeat_ngram
    if guards:
        extra["extra_args"] = {**(extra.get("extra_args") or {}), **guards}
    params = VLLMSamplingParams(
        n=1,
        seed=sample.seed,
        temperature=sample.temperature,
        top_p=sample.top_p,
        max_tokens=sample.max_new_tokens,
        repetition_penalty=sample.repetition_penalty,
        **extra,
    )
    return {"prompt_token_ids": list(sample.prompt_ids)}, params


def vllm_generation(output, seed: int) -> Generation:
    """Our `Generation` from a finished `vllm.RequestOutput` of one completion."""
    comp = output.outputs[0]
    return Generation(
        comp.text, seed, len(output.prompt_token_ids), len(comp.token_ids), finish_reason(comp.finish_reason)
    )


def vllm_lora_request(name: str, lora_id: int, path: Path | str):
    """A `vllm.lora.request.LoRARequest` for the adapter directory `path` (ids start at 1, unique per engine)."""
    from vllm.lora.request import LoRARequest

    return LoRARequest(name, lora_id, str(path))


@dataclass
class VLLMEngine(GenerationEngine):
    """vLLM offline engine (`vllm` on CUDA, `vllm-cpu` here).

    The adapter is merged into the weights by default (`expander.models.merged_model_dir`, made once and cached):
    one adapter per engine needs no runtime LoRA, whose CPU path costs more than the model. `merge_adapter=False`
    serves it through `LoRARequest` instead.
    """

    dtype: str | None = None
    max_model_len: int = 2048
    enforce_eager: bool | None = None
    gpu_memory_utilization: float = 0.85
    max_lora_rank: int = 64
    max_num_seqs: int = 64
    merge_adapter: bool = True
    # Other vLLM engine arguments (`check_vllm_engine_args`); they win over the settings above.
    llm_kwargs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.backend = "vllm"
        self._weights = self.model_path
        if self.adapter is not None and self.merge_adapter:
            from expander.models import merged_model_dir

            self._weights = merged_model_dir(self.model_path, self.adapter)
        runtime_lora = self.adapter is not None and not self.merge_adapter
        kwargs = vllm_engine_args(
            self._weights,
            dtype=self.dtype,
            max_model_len=self.max_model_len,
            enforce_eager=self.enforce_eager,
            max_num_seqs=self.max_num_seqs,
            gpu_memory_utilization=self.gpu_memory_utilization,
            max_lora_rank=self.max_lora_rank if runtime_lora else None,
            extra=self.llm_kwargs,
            where="VLLMEngine.llm_kwargs",
        )
        from vllm import LLM  # after vllm_engine_args: it sets the CPU environment vLLM reads at import

        self.tokenizer = load_tokenizer(self.model_path)
        self.llm = LLM(**kwargs)

    def lora_request(self):
        if self.adapter is None or self.merge_adapter:
            return None
        return vllm_lora_request(Path(self.adapter).name, 1, self.adapter)

    def draw(self, samples: list[SampleRequest]) -> list[Generation]:
        if not samples:
            return []
        prompts, sampling = zip(*(vllm_request(s) for s in samples))
        outputs = self.llm.generate(list(prompts), list(sampling), lora_request=self.lora_request(), use_tqdm=False)
        return [vllm_generation(out, s.seed) for s, out in zip(samples, outputs)]

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        self.llm = None
        if llm is not None:
            engine = getattr(llm, "llm_engine", None)
            shutdown = getattr(getattr(engine, "engine_core", None), "shutdown", None)
            if callable(shutdown):
                shutdown(timeout=ENGINE_CLOSE_GRACE_S)
