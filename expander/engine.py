"""One generation engine interface, two backends: vLLM and plain transformers `generate`.

Synthesis (the teacher), `expander expand`, serving and evaluation all generate through here. The pieces
both this offline engine and the async serve backends (`expander.serve.backends`) need are public helpers
below: loading a causal LM and its tokenizer, the chat-template ids, the seeded sampler and one batched
`generate` call, the vLLM engine arguments (CPU environment, default dtype, whole-prefill scheduling) and
sampling parameters, and the mapping of finish reasons.

Seeds: expansion `i` of a conversation is sampled with seed `seed + i`, on its own random stream, in both
backends. So `n=4, seed=1000` gives the same four texts as four calls with seeds 1000..1003, whatever else
is in the batch, and the same seed + backend + input reproduce the same text.
"""

from __future__ import annotations

import logging
import os
import secrets
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from expander.devices import default_device, has_cuda, resolve_dtype
from expander.errors import ExpanderError
from expander.models import DEFAULT_MODEL, chat_template_kwargs, require_adapter_dir, resolve_model

logger = logging.getLogger(__name__)

__all__ = [
    "BACKENDS",
    "EngineArgsError",
    "MAX_SEED",
    "SEED_HEADROOM",
    "Generation",
    "GenerationEngine",
    "SamplingParams",
    "SeededSampler",
    "TransformersEngine",
    "VLLMEngine",
    "candidate_seed",
    "check_vllm_engine_args",
    "chat_ids",
    "configure_vllm_cpu_env",
    "create_engine",
    "draw_seed",
    "finish_reason",
    "generate_seeded",
    "load_causal_lm",
    "load_tokenizer",
    "vllm_engine_args",
    "vllm_generation",
    "vllm_sampling_params",
]

BACKENDS = ("vllm", "transformers")

SEED_HEADROOM = 1024
"""Room kept above a drawn seed: expansion `i` uses `seed + i`, and the server's one resample after an unsafe
expansion uses `seed + i + expander.serve.service.REGEN_SEED_OFFSET`; all of it stays a 31-bit seed."""
MAX_SEED = 2**31 - 1 - SEED_HEADROOM
"""The largest first seed a caller may give (the API validates against it) or `draw_seed` returns."""


def draw_seed() -> int:
    """A random first seed in `[0, MAX_SEED]`, for a request that gives none (it is reported back)."""
    return secrets.randbelow(MAX_SEED + 1)


Conversation = list[dict[str, str]]


@dataclass
class SamplingParams:
    """How to sample. `temperature == 0` is greedy decoding (then every seed gives the same text).

    Attributes:
        n: completions per conversation.
        seed: seed of the first completion; completion `i` uses `seed + i`. `None` draws a random seed
            (reported back in `Generation.seed`, so any output can be reproduced).
        max_new_tokens: upper bound on generated tokens (generation also stops at EOS).
        candidates: samples drawn per completion (verified expansion picks one of them): completion `i`'s
            candidate `j` uses `candidate_seed(seed + i, j)`, so candidate 0 is the plain completion and a
            completion's candidates do not depend on `n`. `generate_full` returns `n * candidates` generations
            per conversation, completion-major.
    """

    n: int = 1
    seed: int | None = None
    temperature: float = 0.7
    top_p: float = 0.95
    max_new_tokens: int = 256
    repetition_penalty: float = 1.0
    candidates: int = 1

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.candidates < 1:
            raise ValueError(f"candidates must be >= 1, got {self.candidates}")

    def seeds(self) -> list[int]:
        """The seed of every sample: completion-major, `candidates` per completion."""
        base = self.seed if self.seed is not None else draw_seed()
        return [candidate_seed(base + i, j) for i in range(self.n) for j in range(self.candidates)]


CANDIDATE_SEED_STRIDE = 1_000_003
"""Distance between the seeds of a completion's candidates: a prime far above any `n` and the server's
regeneration offset, so no candidate shares a seed with another completion of the same request."""


def candidate_seed(seed: int, j: int) -> int:
    """The seed of candidate `j` of the completion seeded `seed` (candidate 0 is `seed` itself)."""
    return seed if j == 0 else (seed + j * CANDIDATE_SEED_STRIDE) % 2**31


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
    enable_thinking: bool = False
    thinking_budget: int = 1024
    backend: str = field(init=False, default="")

    @abstractmethod
    def generate_full(self, conversations: list[Conversation], params: SamplingParams) -> list[list[Generation]]:
        """One list of `params.n * params.candidates` generations per conversation, in input order."""

    def token_budget(self, params: SamplingParams) -> int:
        """New tokens a sample may use: the expansion's budget, plus `thinking_budget` when thinking is on (the
        thinking text is stripped afterwards, so it must not eat the description's budget)."""
        return params.max_new_tokens + (self.thinking_budget if self.enable_thinking else 0)

    def conversation_ids(self, conversation: Conversation) -> list[int]:
        return chat_ids(self.tokenizer, conversation, self.enable_thinking)

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
        **kwargs: backend options (`dtype` (default `expander.devices.default_dtype`), `device`, `batch_size`
            for transformers; `dtype`,
            `max_model_len`, `enforce_eager`, `gpu_memory_utilization`, `max_lora_rank` for vLLM).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    path = resolve_model(model)
    if adapter is not None:
        require_adapter_dir(adapter)
    cls = VLLMEngine if backend == "vllm" else TransformersEngine
    return cls(model=model, model_path=path, adapter=adapter, **kwargs)


# --------------------------------------------------------------------------------------------------------
# shared pieces: tokenizer, model, chat ids, finish reasons


def load_tokenizer(model_path: Path | str):
    """The model's tokenizer, padding on the left (generation appends on the right); pad = EOS if unset."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(
    model_path: Path | str,
    *,
    dtype: str | None = None,
    device: str | None = None,
    adapters: Mapping[str, str] | None = None,
    merge: bool = False,
):
    """A causal LM on `device` in eval mode, with optional LoRA adapters (PEFT format).

    Args:
        dtype: torch dtype name; `None` = `expander.devices.default_dtype(device)`.
        device: `None` = CUDA if visible, else CPU.
        adapters: name -> adapter directory. Loaded as named PEFT adapters (select one with
            `set_adapter`, none with `disable_adapter()`), or with `merge=True` (one adapter only) merged into
            the weights.

    Returns:
        (model, device).
    """
    import torch
    from transformers import AutoModelForCausalLM

    device = device or default_device()
    lm = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, resolve_dtype(dtype, device)))
    if adapters:
        from peft import PeftModel

        names = sorted(adapters)
        if merge:
            if len(names) != 1:
                raise ValueError(f"merge=True takes one adapter, got {len(names)}")
            lm = PeftModel.from_pretrained(lm, adapters[names[0]]).merge_and_unload()
        else:
            lm = PeftModel.from_pretrained(lm, adapters[names[0]], adapter_name=names[0])
            for name in names[1:]:
                lm.load_adapter(adapters[name], adapter_name=name)
    return lm.to(device).eval(), device


def chat_ids(tokenizer, conversation: Conversation, enable_thinking: bool = False) -> list[int]:
    """Token ids of `conversation` under the model's chat template, ending with the assistant's turn opener.

    `enable_thinking` reaches templates that have the switch (Qwen3's: `expander.models.chat_template_kwargs`);
    expansion runs with thinking off by default.
    """
    ids = tokenizer.apply_chat_template(
        conversation, add_generation_prompt=True, tokenize=True, **chat_template_kwargs(tokenizer, enable_thinking)
    )
    if hasattr(ids, "keys"):  # transformers 5 returns a BatchEncoding
        ids = ids["input_ids"]
    return list(ids)


def finish_reason(reason: str | None) -> str:
    """An engine's finish reason as ours: `"length"` when the token budget ran out, else `"stop"`."""
    return "length" if reason == "length" else "stop"


# --------------------------------------------------------------------------------------------------------
# transformers backend


class SeededSampler:
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


def generate_seeded(
    lm,
    tokenizer,
    prompts: list[list[int]],
    seeds: list[int],
    *,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    repetition_penalty: float = 1.0,
    stopping_criteria=None,
) -> list[Generation]:
    """One transformers `generate` call over a batch: row `i` is prompt `i` sampled with seed `seeds[i]` on its
    own random stream (`SeededSampler`), decoded up to its first EOS.

    Args:
        lm: a causal LM (its `device` receives the batch).
        tokenizer: a left-padding tokenizer (`load_tokenizer`).
        prompts: chat-template token ids per row.
        stopping_criteria: optional extra `StoppingCriteriaList` (the server stops cancelled rows with it).
    """
    import torch
    from transformers import GenerationConfig, LogitsProcessorList

    batch = tokenizer.pad({"input_ids": [list(p) for p in prompts]}, return_tensors="pt")
    batch = {k: v.to(lm.device) for k, v in batch.items()}
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        repetition_penalty=repetition_penalty,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    sampler = SeededSampler(list(seeds), temperature, top_p)
    with torch.inference_mode():
        out = lm.generate(
            **batch,
            generation_config=config,
            logits_processor=LogitsProcessorList([sampler]),
            stopping_criteria=stopping_criteria,
        )
    results = []
    eos = tokenizer.eos_token_id
    for ids, seed, toks in zip(prompts, seeds, out[:, batch["input_ids"].shape[1] :].tolist()):
        finish = "length"
        if eos in toks:
            toks = toks[: toks.index(eos)]
            finish = "stop"
        results.append(Generation(tokenizer.decode(toks, skip_special_tokens=True), seed, len(ids), len(toks), finish))
    return results


@dataclass
class TransformersEngine(GenerationEngine):
    """transformers `generate`, batched with left padding. `dtype=None` = `expander.devices.default_dtype`."""

    dtype: str | None = None
    device: str | None = None
    batch_size: int = 32

    def __post_init__(self) -> None:
        self.backend = "transformers"
        self.tokenizer = load_tokenizer(self.model_path)
        adapters = {"adapter": self.adapter} if self.adapter is not None else None
        self.lm, self.device = load_causal_lm(
            self.model_path, dtype=self.dtype, device=self.device, adapters=adapters, merge=True
        )

    def generate_full(self, conversations: list[Conversation], params: SamplingParams) -> list[list[Generation]]:
        rows: list[tuple[int, list[int], int]] = []  # (conversation index, prompt ids, seed)
        for i, conv in enumerate(conversations):
            ids = self.conversation_ids(conv)
            rows.extend((i, ids, seed) for seed in params.seeds())
        results: list[list[Generation]] = [[] for _ in conversations]
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start : start + self.batch_size]
            gens = generate_seeded(
                self.lm,
                self.tokenizer,
                [ids for _, ids, _ in chunk],
                [s for _, _, s in chunk],
                temperature=params.temperature,
                top_p=params.top_p,
                max_new_tokens=self.token_budget(params),
                repetition_penalty=params.repetition_penalty,
            )
            for (conv_idx, _, _), gen in zip(chunk, gens):
                results[conv_idx].append(gen)
        return results

    def close(self) -> None:
        self.lm = None


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
) -> dict:
    """Keyword arguments of `vllm.LLM` / `vllm.AsyncEngineArgs`, the same for the offline engine and the server
    (so a seeded request gives the same text through both). On a CPU-only machine it also sets the vLLM
    environment (`configure_vllm_cpu_env`): call it before `import vllm`.

    Args:
        dtype: `None` = `expander.devices.default_dtype` (fp32 on CPU).
        enforce_eager: `None` = eager on CPU (compiling costs minutes there), CUDA graphs on GPU.
        max_lora_rank: set to enable runtime LoRA adapters (`max_loras` of them at once).
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
    return kwargs


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


def vllm_sampling_params(
    seed: int, temperature: float, top_p: float, max_tokens: int, repetition_penalty: float = 1.0, **extra
):
    """One completion's `vllm.SamplingParams` (`n=1`: each completion has its own seed)."""
    from vllm import SamplingParams as VLLMSamplingParams

    return VLLMSamplingParams(
        n=1,
        seed=seed,
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        repetition_penalty=repetition_penalty,
        **extra,
    )


def vllm_generation(output, seed: int) -> Generation:
    """Our `Generation` from a finished `vllm.RequestOutput` of one completion."""
    comp = output.outputs[0]
    return Generation(
        comp.text, seed, len(output.prompt_token_ids), len(comp.token_ids), finish_reason(comp.finish_reason)
    )


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
    llm_kwargs: dict = field(
        default_factory=dict
    )  # other vLLM engine arguments (`check_vllm_engine_args`); win over the defaults

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
        )
        from vllm import LLM  # after vllm_engine_args: it sets the CPU environment vLLM reads at import

        kwargs.update(check_vllm_engine_args(self.llm_kwargs, where="VLLMEngine.llm_kwargs"))

        self.tokenizer = load_tokenizer(self.model_path)
        self.llm = LLM(**kwargs)

    def lora_request(self):
        if self.adapter is None or self.merge_adapter:
            return None
        from vllm.lora.request import LoRARequest

        return LoRARequest(Path(self.adapter).name, 1, str(self.adapter))

    def sampling_params(self, params: SamplingParams, seed: int):
        return vllm_sampling_params(
            seed, params.temperature, params.top_p, self.token_budget(params), params.repetition_penalty
        )

    def generate_full(self, conversations: list[Conversation], params: SamplingParams) -> list[list[Generation]]:
        prompts, sampling, owners = [], [], []
        for i, conv in enumerate(conversations):
            ids = self.conversation_ids(conv)
            for seed in params.seeds():
                prompts.append({"prompt_token_ids": ids})
                sampling.append(self.sampling_params(params, seed))
                owners.append((i, seed))
        outputs = self.llm.generate(prompts, sampling, lora_request=self.lora_request(), use_tqdm=False)
        results: list[list[Generation]] = [[] for _ in conversations]
        for (conv_idx, seed), out in zip(owners, outputs):
            results[conv_idx].append(vllm_generation(out, seed))
        return results

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        self.llm = None
        if llm is not None:
            engine = getattr(llm, "llm_engine", None)
            shutdown = getattr(getattr(engine, "engine_core", None), "shutdown", None)
            if callable(shutdown):
                shutdown()
