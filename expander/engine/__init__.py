"""One generation engine interface, two backends: vLLM and plain transformers `generate`.

Synthesis (the teacher), `expander expand`, serving and evaluation all generate through here. One core, two
front-ends: the offline engines (`create_engine`) and the server's async backends (`expander.serve.backends`)
draw the same unit, a `SampleRequest` (chat-template ids, sampling settings, its own seed), with the same code:

    sampling.py               SamplingParams, SampleRequest, Generation, the seed rule
    tokenizer.py              load_tokenizer, chat_ids (the chat template, thinking switch included)
    interface.py              GenerationEngine: conversations -> samples -> `draw` -> generations
    transformers_backend.py   load_causal_lm, SeededSampler, generate_seeded (one batched `generate`),
                              TransformersEngine
    vllm_backend.py           vllm_engine_args (CPU environment, default dtype, whole prefills), vllm_request,
                              vllm_generation, vllm_lora_request, VLLMEngine

Seeds: expansion `i` of a conversation is sampled with seed `seed + i`, on its own random stream, in both
backends. So `n=4, seed=1000` gives the same four texts as four calls with seeds 1000..1003, whatever else
is in the batch, and the same seed + backend + input reproduce the same text.
"""

from __future__ import annotations

from expander.engine.interface import GenerationEngine
from expander.engine.sampling import (
    MAX_SEED,
    SEED_HEADROOM,
    Conversation,
    Generation,
    SampleRequest,
    SamplingParams,
    candidate_seed,
    draw_seed,
    finish_reason,
)
from expander.engine.tokenizer import chat_ids, load_tokenizer
from expander.engine.transformers_backend import SeededSampler, TransformersEngine, generate_seeded, load_causal_lm
from expander.engine.vllm_backend import (
    ENGINE_CLOSE_GRACE_S,
    EngineArgsError,
    VLLMEngine,
    check_vllm_engine_args,
    configure_vllm_cpu_env,
    vllm_engine_args,
    vllm_generation,
    vllm_lora_request,
    vllm_request,
)
from expander.errors import ConfigError
from expander.models import DEFAULT_MODEL, require_adapter_dir, resolve_model

__all__ = [
    "BACKENDS",
    "ENGINE_CLOSE_GRACE_S",
    "MAX_SEED",
    "SEED_HEADROOM",
    "Conversation",
    "EngineArgsError",
    "Generation",
    "GenerationEngine",
    "SampleRequest",
    "SamplingParams",
    "SeededSampler",
    "TransformersEngine",
    "VLLMEngine",
    "candidate_seed",
    "chat_ids",
    "check_vllm_engine_args",
    "configure_vllm_cpu_env",
    "create_engine",
    "draw_seed",
    "finish_reason",
    "generate_seeded",
    "load_causal_lm",
    "load_tokenizer",
    "vllm_engine_args",
    "vllm_generation",
    "vllm_lora_request",
    "vllm_request",
]

BACKENDS = ("vllm", "transformers")


def create_engine(
    model: str = DEFAULT_MODEL,
    backend: str = "transformers",
    adapter: str | None = None,
    **kwargs,
) -> GenerationEngine:
    """Build an engine for a model reference (see `expander.models.resolve_model`).

    Args:
        model: built-in name, local HF directory or hub id.
        backend: `vllm` or `transformers`.
        adapter: optional LoRA adapter directory (PEFT format).
        **kwargs: backend options (`dtype` (default `expander.devices.default_dtype`), `device`, `batch_size`
            for transformers; `dtype`, `max_model_len`, `enforce_eager`, `gpu_memory_utilization`,
            `max_lora_rank`, `llm_kwargs` for vLLM).

    Raises:
        ConfigError: an unknown backend. Model resolution errors (`expander.models`) for the model and adapter.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    path = resolve_model(model)
    if adapter is not None:
        require_adapter_dir(adapter)
    cls = VLLMEngine if backend == "vllm" else TransformersEngine
    return cls(model=model, model_path=path, adapter=adapter, **kwargs)
