"""`expander expand PROMPT`: expand one prompt with a model and print the result."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

from expander.prompts import CREATIVITY_LEVELS, DEFAULT_CREATIVITY


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("expand", help="expand a short prompt into a dense image description")
    p.add_argument("prompt", help="the short prompt, e.g. 'a red fox in snow'")
    p.add_argument("--model", default="smollm2-135m", help="built-in name, local HF dir or hub id")
    p.add_argument(
        "--adapter", default="default",
        help="LoRA adapter directory; 'default' (the model's shipped adapter, if any) or 'none' (the bare model)",
    )
    p.add_argument("--n", type=int, default=1, help="number of expansions (default 1)")
    p.add_argument("--seed", type=int, default=None, help="seed of the first expansion (i-th uses seed+i)")
    p.add_argument("--creativity", default=DEFAULT_CREATIVITY, help=f"one of {', '.join(CREATIVITY_LEVELS)}")
    p.add_argument("--max-words", type=int, default=None, help="word budget of each expansion")
    p.add_argument("--keep", action="append", default=None, metavar="TERM", help="term to keep verbatim")
    # transformers starts in seconds; vLLM takes ~1 min to start and wins on batches (serving, synthesis).
    p.add_argument("--backend", choices=("vllm", "transformers"), default="transformers")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(func=run)


@contextlib.contextmanager
def _stdout_to_stderr():
    """Send file descriptor 1 to stderr: vLLM (and its engine processes, which inherit the descriptor) log to
    stdout, and stdout must hold only the result (`--json` is parsed by scripts)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def run(args: argparse.Namespace) -> int:
    from expander.cli import CommandError
    from expander.prompts import PromptError, creativity_settings, validate_prompt

    try:
        prompt = validate_prompt(args.prompt)
        creativity_settings(args.creativity)
        if args.n < 1:
            raise PromptError(f"--n must be >= 1, got {args.n}")
        if args.max_words is not None and args.max_words < 1:
            raise PromptError(f"--max-words must be >= 1, got {args.max_words}")
    except PromptError as exc:
        raise CommandError(str(exc), code=2) from None

    from expander.models import resolve_adapter

    with _stdout_to_stderr():
        engine = None
        adapter = resolve_adapter(args.model, args.adapter)
        if args.creativity != "raw":
            from expander.engine import create_engine
            from expander.models import ModelNotFoundError

            try:
                engine = create_engine(args.model, backend=args.backend, adapter=adapter)
            except (ModelNotFoundError, FileNotFoundError) as exc:
                raise CommandError(str(exc), code=2) from None
        from expander.expand import expand_prompts

        try:
            [expansions] = expand_prompts(
                engine, [prompt], creativity=args.creativity, n=args.n, seed=args.seed,
                max_words=args.max_words, keep_terms=args.keep,
            )
        finally:
            if engine is not None:
                engine.close()
    if args.json:
        print(json.dumps({
            "model": args.model,
            "adapter": adapter,
            "backend": args.backend if engine is not None else None,
            "creativity": args.creativity,
            "prompt": prompt,
            "expansions": [{"text": e.text, "seed": e.seed,
                            **({"keep_terms_repaired": e.keep_terms_repaired} if args.keep else {})}
                           for e in expansions],
        }, indent=2))
    else:
        for i, e in enumerate(expansions):
            if len(expansions) > 1:
                print(f"[{i}] seed={e.seed}")
            print(e.text)
    return 0
