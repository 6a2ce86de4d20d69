"""The exclusion guard as a vLLM v1 logits processor (`expander.engine.exclusion_guard` has the core).

A module of its own because it imports vLLM: `vllm_engine_args` names it by its qualified name
(`VLLM_LOGITS_PROCESSOR`) and the engine process imports it; nothing else does.
"""

from __future__ import annotations

from functools import lru_cache

from vllm.v1.sample.logits_processor import AdapterLogitsProcessor

from expander.engine.exclusion_guard import EXTRA_ARG, apply_masks, cached_guard

__all__ = ["VLLMExclusionGuard"]


@lru_cache(maxsize=8)
def _tokenizer(path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


class VLLMExclusionGuard(AdapterLogitsProcessor):
    """A request whose `extra_args` carry `EXTRA_ARG` (`{"words": [...], "compounds": [...]}`) gets its
    `ExclusionGuard`; every other request is untouched."""

    def __init__(self, vllm_config, device, is_pin_memory: bool):
        super().__init__(vllm_config, device, is_pin_memory)
        self._tokenizer_path = vllm_config.model_config.tokenizer

    def is_argmax_invariant(self) -> bool:
        return False

    def new_req_logits_processor(self, params):
        spec = (params.extra_args or {}).get(EXTRA_ARG)
        if not spec or not spec.get("words"):
            return None
        words, compounds = tuple(spec["words"]), tuple(spec.get("compounds", ()))
        guard = cached_guard(_tokenizer(self._tokenizer_path), words, compounds)
        if not guard:
            return None

        def processor(output_ids, logits):
            masked, only = guard.masks(output_ids)
            return apply_masks(logits, masked, only)

        return processor
