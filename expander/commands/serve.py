"""`expander serve [--config YAML] [--key value ...]`: start the expander HTTP API (vLLM engine by default) on
127.0.0.1:8000. The keys are those of `expander.serve.config.ServeConfig` (`expander serve --help`)."""

from __future__ import annotations

import argparse

from expander.commands._passthrough import add_passthrough_parser


def register(sub: argparse._SubParsersAction) -> None:
    add_passthrough_parser(
        sub, "serve", "serve the expander API (/v1/expand, OpenAI-compatible /v1/chat/completions)", run
    )


def run(args: argparse.Namespace) -> int:
    from expander.config import load_command_line
    from expander.models import resolve_model
    from expander.serve.config import ServeConfig

    config = load_command_line(
        args.argv,
        ServeConfig,
        prog="expander serve",
        description="Start the expander API. Settings come from --config (a YAML of ServeConfig keys, e.g. "
        "configs/serve.yaml; default: the defaults below); every key can be overridden with --key value.",
    ).config
    resolve_model(config.model)  # fail here, with a clear message, rather than inside the engine
    if config.engine_args:  # the engine starts in the background: a bad key must stop the command here
        from expander.engine import check_vllm_engine_args

        check_vllm_engine_args(config.engine_args)

    import uvicorn

    from expander.serve.app import create_app

    app = create_app(config)
    # uvicorn turns SIGTERM/SIGINT into a graceful shutdown: stop accepting, let in-flight requests finish
    # (up to shutdown_grace_s), then the app's lifespan closes the engine.
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        log_level=config.log_level,
        timeout_graceful_shutdown=config.shutdown_grace_s,
    )
    return 0
