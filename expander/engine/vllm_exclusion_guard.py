"""The decode-time guards as one vLLM v1 logits processor: the exclusion guard (`expander.engine.exclusion_guard`
has the core) and the repeat guard (`expander.engine.repeat_guard`).

A module of its own because it imports vLLM: `vllm_engine_args` names it by its qualified name
(`VLLM_LOGITS_PROCESSOR`) and the engine process imports it; nothing else does. One processor for both, so the
engine arguments (and a served engine's logits processors) stay as they were.
"""

from __future__ import annotations

from functools import lru_cache

from vllm.v1.sample.logits_processor import AdapterLogitsProcessor

from expander.engine import repeat_guard
from expander.engine.exclusion_guard import EXTRA_ARG, apply_masks, cached_guard

__all__ = ["VLLMExclusionGuard"]


@lru_cache(maxsize=8)
def _tokenizer(path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


class VLLMExclusionGuard(AdapterLogitsProcessor):
    """A request whose `extra_args` carry `EXTRA_ARG` (`{"words": [...], "compounds": [...]}`) gets its
    `ExclusionGuard`, one that carries `repeat_guard.EXTRA_ARG` (`n`) the repeat guard; every other request is
    untouched."""

    def __init__(self, vllm_config, device, is_pin_memory: bool):
        super().__init__(vllm_config, device, is_pin_memory)
        self._tokenizer_path = vllm_config.model_config.tokenizer

    def is_argmax_invariant(self) -> bool:
        return False

    def new_req_logits_processor(self, params):
        args = params.extra_args or {}
        n = int(args.get(repeat_guard.EXTRA_ARG) or 0)
        spec = args.get(EXTRA_ARG)
        guard = None
        if spec and spec.get("words"):
            words, compounds = tuple(spec["words"]), tuple(spec.get("compounds", ()))
            guard = cached_guard(_tokenizer(self._tokenizer_path), words, compounds) or None
        if guard is None and n < 2:
            return None

        def processor(output_ids, logits):
            if guard is not None:
                masked, only = guard.masks(output_ids)
                apply_masks(logits, masked, only)
            if n >= 2:  # after the exclusion guard: it wins where both would leave nothing (`mask_repeats`)
                repeat_guard.mask_repeats(logits, repeat_guard.repeated_ngram_tokens(output_ids, n))
            return logits

        return processor
