"""`expander serve`: start the expander HTTP API (vLLM engine by default) on 127.0.0.1:8000."""

from __future__ import annotations

import argparse
import dataclasses


def register(sub: argparse._SubParsersAction) -> None:
    from expander.serve.config import ServeConfig

    p = sub.add_parser(
        "serve",
        help="serve the expander API (/v1/expand, OpenAI-compatible /v1/chat/completions)",
        description="Start the expander API. Settings come from --config (a YAML of ServeConfig keys); every "
        "key can be overridden with --KEY VALUE (e.g. --max_concurrent_requests 32).",
    )
    p.add_argument("--config", default=None, help="serve YAML, e.g. configs/serve.yaml (default: built-in defaults)")
    for f in dataclasses.fields(ServeConfig):
        flag = f"--{f.name}"
        extra = [f"--{f.name.replace('_', '-')}"] if "_" in f.name else []
        p.add_argument(flag, *extra, dest=f"override_{f.name}", default=None, metavar="VALUE",
                       help=f"override {f.name}")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from expander.cli import CommandError
    from expander.config import ConfigError, load_config
    from expander.models import ModelNotFoundError, resolve_model
    from expander.serve.config import ServeConfig

    overrides = []
    for key, value in vars(args).items():
        if key.startswith("override_") and value is not None:
            overrides += [f"--{key[len('override_'):]}", value]
    try:
        config = load_config(ServeConfig, args.config, overrides)
    except ConfigError as exc:
        raise CommandError(str(exc), code=2) from None
    try:
        resolve_model(config.model)  # fail here, with a clear message, rather than inside the engine
    except ModelNotFoundError as exc:
        raise CommandError(str(exc), code=2) from None

    import uvicorn

    from expander.serve.app import create_app

    try:
        app = create_app(config)
    except ValueError as exc:
        raise CommandError(str(exc), code=2) from None
    # uvicorn turns SIGTERM/SIGINT into a graceful shutdown: stop accepting, let in-flight requests finish
    # (up to shutdown_grace_s), then the app's lifespan closes the engine.
    uvicorn.run(app, host=config.host, port=config.port, log_level=config.log_level,
                timeout_graceful_shutdown=config.shutdown_grace_s)
    return 0
