"""One generation engine interface, two backends: vLLM and plain transformers `generate`.

Synthesis (the teacher), `expander expand`, serving and evaluation all generate through here.

Seeds: expansion `i` of a conversation is sampled with seed `seed + i`, on its own random stream, in both
backends. So `n=4, seed=1000` gives the same four texts as four calls with seeds 1000..1003, whatever else
is in the batch, and the same seed + backend + input reproduce the same text.
"""

from __future__ import annotations

import logging
import os
import secrets
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from expander.models import DEFAULT_MODEL, resolve_model

logger = logging.getLogger(__name__)

__all__ = [
    "BACKENDS",
    "Generation",
    "GenerationEngine",
    "SamplingParams",
    "TransformersEngine",
    "VLLMEngine",
    "create_engine",
]

BACKENDS = ("vllm", "transformers")

Conversation = list[dict[str, str]]


@dataclass
class SamplingParams:
    """How to sample. `temperature == 0` is greedy decoding (then every seed gives the same text).

    Attributes:
        n: completions per conversation.
        seed: seed of the first completion; completion `i` uses `seed + i`. `None` draws a random seed
            (reported back in `Generation.seed`, so any output can be reproduced).
        max_new_tokens: upper bound on generated tokens (generation also stops at EOS).
    """

    n: int = 1
    seed: int | None = None
    temperature: float = 0.7
    top_p: float = 0.95
    max_new_tokens: int = 256
    repetition_penalty: float = 1.0

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")

    def seeds(self) -> list[int]:
        base = self.seed if self.seed is not None else secrets.randbelow(2**31)
        return [base + i for i in range(self.n)]


@dataclass
class Generation:
    """One completion: its text, the seed that produced it and token counts."""

    text: str
    seed: int
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (EOS) or "length" (hit max_new_tokens)


@dataclass
class GenerationEngine(ABC):
    """Turns chat conversations into completions. Subclasses implement `generate_full`."""

    model: str
    model_path: Path | str
    adapter: str | None = None
    backend: str = field(init=False, default="")

    @abstractmethod
    def generate_full(self, conversations: list[Conversation], params: SamplingParams) -> list[list[Generation]]:
        """One list of `params.n` generations per conversation, in input order."""

    def generate(self, conversations: list[Conversation], params: SamplingParams) -> list[list[str]]:
        """Texts only: one list of `params.n` texts per conversation."""
        return [[g.text for g in gens] for gens in self.generate_full(conversations, params)]

    def close(self) -> None:
        """Release the model (and the vLLM engine process)."""

    def __enter__(self) -> GenerationEngine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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
        **kwargs: backend options (`dtype`, `device`, `batch_size` for transformers; `dtype`,
            `max_model_len`, `enforce_eager`, `gpu_memory_utilization`, `max_lora_rank` for vLLM).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    path = resolve_model(model)
    if adapter is not None and not (Path(adapter) / "adapter_config.json").is_file():
        raise FileNotFoundError(f"adapter {adapter!r} is not a PEFT adapter directory (no adapter_config.json)")
    cls = VLLMEngine if backend == "vllm" else TransformersEngine
    return cls(model=model, model_path=path, adapter=adapter, **kwargs)


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


# --------------------------------------------------------------------------------------------------------
# transformers backend


class _SeededSampler:
    """Logits processor that samples each row from its own seeded generator and forces that token.

    `generate` then runs greedy over the forced logits. Batch rows never share a random stream, so a row's
    text does not depend on what else is in the batch (plain `do_sample=True` draws from one global RNG).
    """

    def __init__(self, seeds: list[int], temperature: float, top_p: float):
        import torch

        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.temperature = temperature
        self.top_p = top_p

    def __call__(self, input_ids, scores):
        import torch

        if self.temperature == 0:
            return scores
        probs = torch.softmax(scores.float() / self.temperature, dim=-1)
        if self.top_p < 1.0:
            sorted_probs, order = probs.sort(dim=-1, descending=True)
            # keep the smallest prefix whose mass reaches top_p (always at least one token)
            drop = sorted_probs.cumsum(-1) - sorted_probs >= self.top_p
            sorted_probs = sorted_probs.masked_fill(drop, 0.0)
            probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
        forced = torch.full_like(scores, float("-inf"))
        for row, gen in enumerate(self.generators):
            token = torch.multinomial(probs[row].cpu(), 1, generator=gen)
            forced[row, token.to(forced.device)] = 0.0
        return forced


@dataclass
class TransformersEngine(GenerationEngine):
    """transformers `generate`, batched with left padding."""

    dtype: str = "float32"
    device: str | None = None
    batch_size: int = 32

    def __post_init__(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.backend = "transformers"
        self.device = self.device or ("cuda" if _has_cuda() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        lm = AutoModelForCausalLM.from_pretrained(self.model_path, dtype=getattr(torch, self.dtype))
        if self.adapter is not None:
            from peft import PeftModel

            lm = PeftModel.from_pretrained(lm, self.adapter).merge_and_unload()
        self.lm = lm.to(self.device).eval()

    def generate_full(self, conversations: list[Conversation], params: SamplingParams) -> list[list[Generation]]:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList

        rows: list[tuple[int, list[int], int]] = []  # (conversation index, prompt ids, seed)
        for i, conv in enumerate(conversations):
            ids = _chat_ids(self.tokenizer, conv)
            rows.extend((i, ids, seed) for seed in params.seeds())
        config = GenerationConfig(
            max_new_tokens=params.max_new_tokens,
            do_sample=False,
            repetition_penalty=params.repetition_penalty,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
        )
        results: list[list[Generation]] = [[] for _ in conversations]
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start : start + self.batch_size]
            batch = self.tokenizer.pad({"input_ids": [ids for _, ids, _ in chunk]}, return_tensors="pt")
            batch = {k: v.to(self.device) for k, v in batch.items()}
            sampler = _SeededSampler([s for _, _, s in chunk], params.temperature, params.top_p)
            with torch.inference_mode():
                out = self.lm.generate(
                    **batch, generation_config=config, logits_processor=LogitsProcessorList([sampler])
                )
            new_tokens = out[:, batch["input_ids"].shape[1] :]
            for (conv_idx, ids, seed), toks in zip(chunk, new_tokens.tolist()):
                eos = self.tokenizer.eos_token_id
                finish = "length"
                if eos in toks:
                    toks = toks[: toks.index(eos)]
                    finish = "stop"
                text = self.tokenizer.decode(toks, skip_special_tokens=True)
                results[conv_idx].append(Generation(text, seed, len(ids), len(toks), finish))
        return results

    def close(self) -> None:
        self.lm = None


def _chat_ids(tokenizer, conversation: Conversation) -> list[int]:
    ids = tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=True)
    if hasattr(ids, "keys"):  # transformers 5 returns a BatchEncoding
        ids = ids["input_ids"]
    return list(ids)


# --------------------------------------------------------------------------------------------------------
# vLLM backend


def configure_vllm_cpu_env() -> None:
    """Environment vLLM needs on a CPU-only machine; set before `import vllm`. Existing values win."""
    from expander.models import cache_dir

    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB of KV cache
    os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")  # else the worker loses one of two cores
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    os.environ.setdefault("VLLM_CACHE_ROOT", str(cache_dir() / "vllm"))
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir() / "inductor"))


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
    llm_kwargs: dict = field(default_factory=dict)  # any other `vllm.LLM` argument; wins over the defaults

    def __post_init__(self) -> None:
        self.backend = "vllm"
        self._weights = self.model_path
        if self.adapter is not None and self.merge_adapter:
            from expander.models import merged_model_dir

            self._weights = merged_model_dir(self.model_path, self.adapter)
        cuda = _has_cuda()
        if not cuda:
            configure_vllm_cpu_env()
        from transformers import AutoTokenizer
        from vllm import LLM

        # fp32 + eager on CPU: bf16 without AVX-512 bf16 is ~4x slower, and compiling costs minutes.
        dtype = self.dtype or ("bfloat16" if cuda else "float32")
        eager = self.enforce_eager if self.enforce_eager is not None else not cuda
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        kwargs = dict(
            model=str(self._weights),
            dtype=dtype,
            enforce_eager=eager,
            max_model_len=self.max_model_len,
            max_num_seqs=self.max_num_seqs,
            seed=0,
        )
        if cuda:
            kwargs["gpu_memory_utilization"] = self.gpu_memory_utilization
        else:
            # vllm-cpu 0.32 crashes ("CPU Generator does not use offset") when a seeded request's prefill is
            # split across steps, which happens in any large batch: schedule whole prefills instead.
            kwargs.update(enable_chunked_prefill=False, max_num_batched_tokens=max(self.max_model_len, 8192))
        if self.adapter is not None and not self.merge_adapter:
            kwargs.update(enable_lora=True, max_lora_rank=self.max_lora_rank)
        kwargs.update(self.llm_kwargs)
        self.llm = LLM(**kwargs)

    def lora_request(self):
        if self.adapter is None or self.merge_adapter:
            return None
        from vllm.lora.request import LoRARequest

        return LoRARequest(Path(self.adapter).name, 1, str(self.adapter))

    def sampling_params(self, params: SamplingParams, seed: int):
        from vllm import SamplingParams as VLLMSamplingParams

        return VLLMSamplingParams(
            n=1,
            seed=seed,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_new_tokens,
            repetition_penalty=params.repetition_penalty,
        )

    def generate_full(self, conversations: list[Conversation], params: SamplingParams) -> list[list[Generation]]:
        prompts, sampling, owners = [], [], []
        for i, conv in enumerate(conversations):
            ids = _chat_ids(self.tokenizer, conv)
            for seed in params.seeds():
                prompts.append({"prompt_token_ids": ids})
                sampling.append(self.sampling_params(params, seed))
                owners.append((i, seed))
        outputs = self.llm.generate(prompts, sampling, lora_request=self.lora_request(), use_tqdm=False)
        results: list[list[Generation]] = [[] for _ in conversations]
        for (conv_idx, seed), out in zip(owners, outputs):
            comp = out.outputs[0]
            finish = "length" if comp.finish_reason == "length" else "stop"
            results[conv_idx].append(
                Generation(comp.text, seed, len(out.prompt_token_ids), len(comp.token_ids), finish)
            )
        return results

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        self.llm = None
        if llm is not None:
            engine = getattr(llm, "llm_engine", None)
            shutdown = getattr(getattr(engine, "engine_core", None), "shutdown", None)
            if callable(shutdown):
                shutdown()
