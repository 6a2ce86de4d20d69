"""The transformers backend: loading a causal LM, the seeded sampler, one batched `generate` over samples, and
the offline `TransformersEngine`. The server's worker thread (`expander.serve.backends`) calls the same
`load_causal_lm` and `generate_seeded`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from expander.devices import default_device, resolve_dtype
from expander.engine.exclusion_guard import ExclusionLogitsProcessor, cached_guard
from expander.engine.interface import GenerationEngine
from expander.engine.repeat_guard import NoRepeatLogitsProcessor
from expander.engine.sampling import Generation, SampleRequest
from expander.engine.tokenizer import load_tokenizer

__all__ = ["SeededSampler", "TransformersEngine", "generate_seeded", "load_causal_lm"]


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
            if len(names) != 1:  # a caller's bug: every caller passes one adapter to merge
                raise ValueError(f"merge=True takes one adapter, got {len(names)}")
            lm = PeftModel.from_pretrained(lm, adapters[names[0]]).merge_and_unload()
        else:
            lm = PeftModel.from_pretrained(lm, adapters[names[0]], adapter_name=names[0])
            for name in names[1:]:
                lm.load_adapter(adapters[name], adapter_name=name)
    return lm.to(device).eval(), device


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


def generate_seeded(lm, tokenizer, samples: list[SampleRequest], *, stopping_criteria=None) -> list[Generation]:
    """One transformers `generate` call over a batch: row `i` is `samples[i]`'s prompt sampled with its seed on
    its own random stream (`SeededSampler`), decoded up to its first EOS.

    Args:
        lm: a causal LM (its `device` receives the batch; an adapter, if any, already selected).
        tokenizer: a left-padding tokenizer (`expander.engine.load_tokenizer`).
        samples: samples that share one `SampleRequest.batch_key()` (the settings of the call).
        stopping_criteria: optional extra `StoppingCriteriaList` (the server stops cancelled rows with it).
    """
    import torch
    from transformers import GenerationConfig, LogitsProcessorList

    first = samples[0]
    if any(s.batch_key() != first.batch_key() for s in samples):  # a caller's bug: batches are grouped by key
        raise ValueError("generate_seeded takes samples with one batch_key (sampling settings and adapter)")
    prompts = [list(s.prompt_ids) for s in samples]
    batch = tokenizer.pad({"input_ids": prompts}, return_tensors="pt")
    batch = {k: v.to(lm.device) for k, v in batch.items()}
    config = GenerationConfig(
        max_new_tokens=first.max_new_tokens,
        do_sample=False,
        repetition_penalty=first.repetition_penalty,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    # The exclusion guard, then the repeat guard (which yields where both would leave nothing), then the sampler.
    processors = []
    if any(s.excluded for s in samples):
        guards = [cached_guard(tokenizer, s.excluded, s.compounds) if s.excluded else None for s in samples]
        processors.append(ExclusionLogitsProcessor(guards, batch["input_ids"].shape[1]))
    if any(s.no_repeat_ngram for s in samples):
        sizes = [s.no_repeat_ngram for s in samples]
        processors.append(NoRepeatLogitsProcessor(sizes, batch["input_ids"].shape[1]))
    processors.append(SeededSampler([s.seed for s in samples], first.temperature, first.top_p))
    with torch.inference_mode():
        out = lm.generate(
            **batch,
            generation_config=config,
            logits_processor=LogitsProcessorList(processors),
            stopping_criteria=stopping_criteria,
        )
    results = []
    eos = tokenizer.eos_token_id
    for ids, sample, toks in zip(prompts, samples, out[:, batch["input_ids"].shape[1] :].tolist()):
        finish = "length"
        if eos in toks:
            toks = toks[: toks.index(eos)]
            finish = "stop"
        text = tokenizer.decode(toks, skip_special_tokens=True)
        results.append(Generation(text, sample.seed, len(ids), len(toks), finish))
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

    def draw(self, samples: list[SampleRequest]) -> list[Generation]:
        # One call's samples share their settings, so chunks of `batch_size` in order are valid batches.
        gens: list[Generation] = []
        for start in range(0, len(samples), self.batch_size):
            gens.extend(generate_seeded(self.lm, self.tokenizer, samples[start : start + self.batch_size]))
        return gens

    def close(self) -> None:
        self.lm = None
