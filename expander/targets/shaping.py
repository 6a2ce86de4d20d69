"""`shape`: one expansion made ready for one image model (`TARGETS`): its text within the encoder's token
limit, a short variant for a second CLIP encoder, the negative prompt the prompt implies, a suggested size."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction

from expander.targets.catalog import CLIP_TOKEN_LIMIT, DEFAULT_TARGET, TargetError, get_target
from expander.targets.negative import exclusions, merge_negative
from expander.targets.sizes import check_size, suggest_size
from expander.targets.tokens import TokenCounter, fit_text, load_counter

__all__ = ["ShapedPrompt", "shape"]


@dataclass(frozen=True)
class ShapedPrompt:
    """An expansion shaped for a target model: what to pass to its pipeline.

    Attributes:
        target: the `TARGETS` name.
        prompt: the expansion, cut at a sentence (else clause, else word) boundary to fit `token_limit`.
        prompt_2: for targets with a second CLIP encoder (SDXL, SD3): the expansion's start within 77 CLIP
            tokens (BOS/EOS included); None for the others.
        negative_prompt: the caller's negative prompt plus what the prompt excludes ("no cars" -> "cars"),
            "" when there is nothing; None where the target takes none (Krea 2 Turbo, FLUX.1).
        aspect_ratio, width, height: the caller's width/height, else the size the prompt asks for
            (`suggest_size`; multiples of 16), else None.
        tokens: tokens of `prompt` with the target's tokenizer, special tokens included.
        token_limit: the target encoder's limit `tokens` is held to.
        tokenizer: the tokenizer reference that counted `tokens`.
        shortened: whether `prompt` had to be cut to fit.
        prompt_2_tokens: CLIP tokens of `prompt_2`, or None.
        size_reason: what set the size: the prompt's words ("a tall lighthouse"), "given" (the caller's
            width/height), or None.
    """

    target: str
    prompt: str
    prompt_2: str | None
    negative_prompt: str | None
    aspect_ratio: str | None
    width: int | None
    height: int | None
    tokens: int
    token_limit: int
    tokenizer: str
    shortened: bool
    prompt_2_tokens: int | None = None
    size_reason: str | None = None

    def as_dict(self) -> dict:
        """JSON-serialisable form (the API's `shaped` object)."""
        return asdict(self)


def _counter(tokenizer, ref: str, subfolder: str | None) -> TokenCounter:
    if tokenizer is None or isinstance(tokenizer, str):
        return load_counter(tokenizer or ref, subfolder)
    if isinstance(tokenizer, TokenCounter):
        return tokenizer
    return TokenCounter(str(getattr(tokenizer, "name_or_path", type(tokenizer).__name__)), tokenizer)


def shape(
    prompt: str,
    expansion: str,
    target: str = DEFAULT_TARGET,
    *,
    negative_prompt: str | None = None,
    tokenizer=None,
    clip_tokenizer=None,
    width: int | None = None,
    height: int | None = None,
) -> ShapedPrompt:
    """Shape `expansion` (of the user's `prompt`) for `target`.

    Args:
        prompt: the user's short prompt: exclusions and the size are read from it, never from the expansion
            (the model may have invented them).
        expansion: the expanded text.
        target: a `TARGETS` name.
        negative_prompt: the caller's own negative prompt, kept first; dropped where the target takes none.
        tokenizer: the target encoder's tokenizer: None (the target's default reference), a reference
            (`expander.targets.tokens.load_counter`), a loaded transformers tokenizer or a `TokenCounter`.
        clip_tokenizer: the same for the CLIP tokenizer of `prompt_2` (default `clip`).
        width, height: the caller's image size (both or neither; multiples of 16): reported instead of the
            suggestion, with their ratio.

    Raises:
        TargetError: unknown `target`; a width/height that is not a positive multiple of 16, or only one of them.
        TargetTokenizerError: a tokenizer that cannot be loaded.
        MissingExtraError: a target that takes a negative prompt needs the `constraints` extra.
    """
    spec = get_target(target)
    check_size(width, height)
    if (width is None) != (height is None):
        raise TargetError("give both width and height, or neither (the other one is not guessed)")
    counter = _counter(tokenizer, spec.tokenizer, spec.tokenizer_subfolder)
    text, tokens = fit_text(expansion, spec.token_limit, counter.count)
    prompt_2 = prompt_2_tokens = None
    if spec.short_prompt:
        clip = _counter(clip_tokenizer, "clip", None)
        prompt_2, prompt_2_tokens = fit_text(expansion, CLIP_TOKEN_LIMIT, clip.count)
    negative = None
    if spec.negative_prompt:
        negative, _ = fit_text(merge_negative(negative_prompt, exclusions(prompt)), spec.token_limit, counter.count)
    if width is not None:
        ratio = Fraction(width, height)
        aspect, size_reason = f"{ratio.numerator}:{ratio.denominator}", "given"
    else:
        size = suggest_size(prompt, target=target)
        aspect, width, height = (size.aspect_ratio, size.width, size.height) if size else (None, None, None)
        size_reason = size.reason if size else None
    return ShapedPrompt(
        target=spec.name,
        prompt=text,
        prompt_2=prompt_2,
        negative_prompt=negative,
        aspect_ratio=aspect,
        width=width,
        height=height,
        tokens=tokens,
        token_limit=spec.token_limit,
        tokenizer=counter.name,
        shortened=text != expansion.strip(),
        prompt_2_tokens=prompt_2_tokens,
        size_reason=size_reason,
    )
