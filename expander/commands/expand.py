"""`expander expand PROMPT [--config YAML] [--key value ...]`: expand one prompt with a model and print the result.

The options are the keys of `ExpandCommandConfig` (`expander expand --help`); `configs/expand/builtin.yaml`
holds the built-in expander's settings.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import Literal

from expander.commands._passthrough import add_passthrough_parser
from expander.commands._stdout import print_result
from expander.engine import repeat_guard
from expander.errors import ConfigError
from expander.expand import NO_REPEAT_NGRAM
from expander.prompts import DEFAULT_CREATIVITY, creativity_settings


@dataclass
class ExpandCommandConfig:
    """Settings of `expander expand` (keys of configs/expand/*.yaml).

    Attributes:
        model: built-in name (`smollm2-135m`), local HF model directory or hub id.
        adapter: LoRA adapter directory, `default` (the model's shipped adapter, if any) or `none` (the bare
            model).
        n: number of expansions.
        seed: seed of the first expansion; the i-th is sampled with seed + i (None: not fixed).
        creativity: `raw` (the prompt unchanged, no model call), `low`, `medium` or `high`.
        max_words: word budget of each expansion (None: the creativity level's).
        keep: a term that must appear verbatim (repeat `--keep TERM` for several).
        backend: `transformers` (starts in seconds) or `vllm` (about a minute to start on CPU; wins on batches).
        vllm: extra `create_engine` options of the vLLM backend (`dtype`, `max_model_len`, `enforce_eager`, ...).
        candidates: verified expansion: samples drawn per expansion; the first that keeps the prompt's hard
            constraints and adds no subject is printed (1 = off).
        fallback: when no sample keeps the prompt's hard constraints, print the faithful fallback built from the
            prompt and the best sample (`expander.expand.faithful_fallback`); on by default when the constraints
            extra is installed, `--no-fallback` prints the sample as drawn.
        exclusion_guard: keep what the prompt excludes ("no windows", "an empty street": windows, people) out of
            every sample at decode time, except inside a negation (`expander.engine.exclusion_guard`); on by
            default when the constraints extra is installed, `--no-exclusion_guard` samples without it.
        no_repeat_ngram: the repeat guard: no run of this many tokens is written twice in one expansion
            (`expander.engine.repeat_guard`; cuts the loops a small model falls into); 0 = off.
        languages: ISO 639-1 codes the model can expand (`*` = any; None: the model's own declaration, `en` for
            the built-in). A prompt in another language is printed unchanged, with no model call.
        enable_thinking: let a reasoning model's chat template think (stripped from the output; off by default).
        target: shape the output for an image model: `krea2`, `krea2-turbo`, `flux`, `sdxl`, `sd3` or `generic`
            (`expander.targets`): the text within its encoder's token limit (printed), with `--json` also
            `prompt_2`, the negative prompt and a suggested size. None: the expansion as it is.
        target_tokenizer: the target encoder's tokenizer (a local directory, a diffusers model directory, a hub
            id, `clip` or a built-in model name) instead of the target's default hub id.
        negative_prompt: with `--target`: your own negative prompt, kept first in the shaped one.
        width: with `--target`: the image width you will use (a multiple of 16; with `--height`).
        height: with `--target`: the image height you will use (a multiple of 16; with `--width`).
        json: print one JSON object instead of the text.
    """

    model: str = "smollm2-135m"
    adapter: str = "default"
    n: int = 1
    seed: int | None = None
    creativity: str = DEFAULT_CREATIVITY
    max_words: int | None = None
    keep: list[str] = field(default_factory=list, metadata={"repeat": True})
    backend: Literal["transformers", "vllm"] = "transformers"
    vllm: dict = field(default_factory=dict)
    candidates: int = 1
    fallback: bool | None = None
    exclusion_guard: bool | None = None
    no_repeat_ngram: int = NO_REPEAT_NGRAM
    languages: list[str] | None = None
    enable_thinking: bool = False
    target: str | None = None
    target_tokenizer: str | None = None
    negative_prompt: str | None = None
    width: int | None = None
    height: int | None = None
    json: bool = False

    def __post_init__(self) -> None:
        creativity_settings(self.creativity)
        if self.n < 1:
            raise ConfigError(f"--n must be >= 1, got {self.n}")
        if self.max_words is not None and self.max_words < 1:
            raise ConfigError(f"--max-words must be >= 1, got {self.max_words}")
        if self.candidates < 1:
            raise ConfigError(f"--candidates must be >= 1, got {self.candidates}")
        repeat_guard.check_size(self.no_repeat_ngram, "--no_repeat_ngram")
        if self.target is None:
            if any(v is not None for v in (self.target_tokenizer, self.negative_prompt, self.width, self.height)):
                raise ConfigError("--target-tokenizer, --negative-prompt, --width and --height need --target")
            return
        from expander.targets import TargetError, check_size, get_target

        get_target(self.target)  # TargetError naming the choices
        check_size(self.width, self.height)
        if (self.width is None) != (self.height is None):
            raise TargetError("give both --width and --height, or neither")


def register(sub: argparse._SubParsersAction) -> None:
    add_passthrough_parser(
        sub,
        "expand",
        "expand a short prompt into a dense image description",
        run,
        arg_help="PROMPT, then --config YAML and --key value options (see --help)",
    )


def run(args: argparse.Namespace) -> int:
    from expander.config import load_command_line
    from expander.prompts import validate_prompt

    line = load_command_line(
        args.argv,
        ExpandCommandConfig,
        prog="expander expand",
        description="Expand a short prompt into a dense image description and print it.",
        positionals={"prompt": "the short prompt, e.g. 'a red fox in snow'"},
    )
    cfg = line.config
    prompt = validate_prompt(line.positionals["prompt"])

    from expander.models import model_languages, resolve_adapter

    languages = guess = None
    if cfg.creativity != "raw":
        from expander.language import detect_language, supports

        languages = model_languages(cfg.model, cfg.languages)
        guess = detect_language(prompt)
    engine = None
    adapter = resolve_adapter(cfg.model, cfg.adapter)
    if cfg.creativity != "raw" and supports(languages, guess):  # an unsupported language needs no model
        from expander.engine import create_engine

        options = cfg.vllm if cfg.backend == "vllm" else {}
        engine = create_engine(
            cfg.model, backend=cfg.backend, adapter=adapter, enable_thinking=cfg.enable_thinking, **options
        )
    from expander.expand import expand_prompts

    try:
        [expansions] = expand_prompts(
            engine,
            [prompt],
            creativity=cfg.creativity,
            n=cfg.n,
            seed=cfg.seed,
            max_words=cfg.max_words,
            keep_terms=cfg.keep or None,
            candidates=cfg.candidates,
            languages=languages,
            fallback=cfg.fallback,
            exclusion_guard=cfg.exclusion_guard,
            no_repeat_ngram=cfg.no_repeat_ngram,
        )
    finally:
        if engine is not None:
            engine.close()
    shaped = [None] * len(expansions)
    if cfg.target is not None:
        from expander.targets import shape

        shaped = [
            shape(
                prompt,
                e.text,
                cfg.target,
                negative_prompt=cfg.negative_prompt,
                tokenizer=cfg.target_tokenizer,
                width=cfg.width,
                height=cfg.height,
            )
            for e in expansions
        ]
    if cfg.json:
        print_result(
            json.dumps(
                {
                    "model": cfg.model,
                    "adapter": adapter,
                    "backend": cfg.backend if engine is not None else None,
                    "creativity": cfg.creativity,
                    "prompt": prompt,
                    **({"language": guess.to_dict()} if guess is not None else {}),
                    "expansions": [
                        {
                            "text": e.text,
                            "seed": e.seed,
                            **({"finish_reason": e.finish_reason} if cfg.creativity != "raw" else {}),
                            **({"attempts": e.attempts} if cfg.candidates > 1 else {}),
                            **({"verified": e.verified, "fallback": e.fallback} if e.verified is not None else {}),
                            **({"keep_terms_repaired": e.keep_terms_repaired} if cfg.keep else {}),
                            **({"shaped": s.as_dict()} if s is not None else {}),
                        }
                        for e, s in zip(expansions, shaped)
                    ],
                },
                indent=2,
            )
        )
    else:
        if expansions[0].finish_reason == "language_unsupported":
            print(
                f"note: the prompt's language ({guess.code}) is not one {cfg.model} expands "
                f"({', '.join(languages)}); printed unchanged",
                file=sys.stderr,
            )
        for i, (e, s) in enumerate(zip(expansions, shaped)):
            if len(expansions) > 1:
                print_result(f"[{i}] seed={e.seed}")
            print_result(e.text if s is None else s.prompt)
            if s is not None:  # stdout keeps only the text to paste; the rest of the shaping is a note
                size = f"{s.width}x{s.height} ({s.aspect_ratio})" if s.width else "none suggested"
                print(
                    f"note: {cfg.target}: {s.tokens}/{s.token_limit} tokens{' (cut to fit)' if s.shortened else ''}, "
                    f"negative prompt {s.negative_prompt!r}, size {size}; --json for all fields",
                    file=sys.stderr,
                )
    return 0
