"""Shaping served expansions for the request's `target` image model (`expander.targets.shape`).

`TargetShaper.check` refuses a bad request before any work (400 naming the choices, or the bad width/height);
`TargetShaper.attach` adds a `shaped` object to every expansion of a response. Tokenizers load on first use of
a target (`expander.targets.load_counter`, kept for the life of the process); `tokenizers` overrides the
default reference of any target (`target_tokenizers` in the serve config), e.g. a local copy where the hub is
out of reach. A target whose tokenizer cannot be loaded answers 500 `target_unavailable` naming that key.
"""

from __future__ import annotations

import asyncio

from expander.errors import MissingExtraError
from expander.protocol import ExpandRequest
from expander.serve.errors import ServiceError
from expander.targets import TargetError, TargetTokenizerError, check_size, get_target, shape

__all__ = ["TargetShaper"]


class TargetShaper:
    """Shapes expansions for `ExpandRequest.target`.

    Args:
        tokenizers: target name -> tokenizer reference, replacing that target's default (see
            `expander.targets.tokens.load_counter` for what a reference may be).
        metrics: the service's `ServeMetrics` (`shaped` counts shaped expansions per target), or None.

    Raises:
        TargetError: a `tokenizers` key that is not a target.
    """

    def __init__(self, tokenizers: dict[str, str] | None = None, metrics=None):
        self.tokenizers = dict(tokenizers or {})
        for name in self.tokenizers:
            get_target(name)  # a misspelt key fails at start, naming the choices
        self.metrics = metrics

    @classmethod
    def from_config(cls, config, metrics=None) -> TargetShaper:
        """From `ServeConfig.target_tokenizers` (absent from an older config: every target's default)."""
        return cls(getattr(config, "target_tokenizers", None), metrics)

    def check(self, req: ExpandRequest) -> None:
        """400 for an unknown `target` or a width/height that is not a positive multiple of 16 (or only one)."""
        if req.target is None:
            return
        try:
            get_target(req.target)
        except TargetError as exc:
            raise ServiceError(400, str(exc), "invalid_request_error", param="target", code="unknown_target") from None
        try:
            check_size(req.width, req.height)
            if (req.width is None) != (req.height is None):
                raise TargetError("give both width and height, or neither")
        except TargetError as exc:
            param = "width" if req.width is not None and req.width % 16 else "height"
            raise ServiceError(400, str(exc), "invalid_request_error", param=param, code="invalid_size") from None

    async def attach(self, req: ExpandRequest, expansions: list[dict]) -> None:
        """Add `shaped` (`ShapedPrompt.as_dict()`) to each expansion dict (its `text` shaped), if the request
        names a target. Runs off the event loop: a first use loads a tokenizer and the constraint word lists."""
        if req.target is None:
            return
        shaped = await asyncio.to_thread(self._shape_all, req, [e["text"] for e in expansions])
        for expansion, s in zip(expansions, shaped):
            expansion["shaped"] = s
        if self.metrics is not None:
            self.metrics.shaped.labels(req.target).inc(len(expansions))

    def _shape_all(self, req: ExpandRequest, texts: list[str]) -> list[dict]:
        try:
            return [
                shape(
                    req.prompt,
                    text,
                    req.target,
                    negative_prompt=req.negative_prompt,
                    tokenizer=self.tokenizers.get(req.target),
                    width=req.width,
                    height=req.height,
                ).as_dict()
                for text in texts
            ]
        except (TargetTokenizerError, MissingExtraError) as exc:
            raise ServiceError(
                500,
                f"target {req.target!r} cannot be served: {exc}. Set `target_tokenizers.{req.target}` in the serve "
                "config to a local tokenizer or model directory",
                "server_error",
                param="target",
                code="target_unavailable",
            ) from None
