"""`expander reward-server --config REWARDS_YAML [--reward_server.KEY value ...] [--key value ...]`: the render +
reward suite as a Ray Serve service, until Ctrl-C.

`--config` is a rewards config (`expander.rewards.config.RewardsConfig`); its `reward_server:` section sets the
replicas (one per GPU: `--reward_server.num_gpus 1`), batching, the Ray address and the HTTP port. GRPO uses the
service when the same YAML has `reward_server.url` set (see docs/scaling.md). `expander reward-server --help`
lists every key.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

from expander.commands._passthrough import add_passthrough_parser
from expander.commands._stdout import print_result


def register(sub: argparse._SubParsersAction) -> None:
    add_passthrough_parser(
        sub, "reward-server", "serve the render + reward suite with Ray Serve (replicas, batching)", run
    )


def run(args: argparse.Namespace) -> int:
    from expander.config import load_command_line
    from expander.rewards.config import RewardsConfig

    line = load_command_line(
        args.argv,
        RewardsConfig,
        prog="expander reward-server",
        config_required=True,
        description="Serve the render + reward suite as a Ray Serve application.",
    )
    cfg = line.config
    import ray

    from expander.rewards.server import deploy, serve, start_ray  # MissingExtraError without the extra

    rs = cfg.reward_server
    start_ray(cfg)
    # SIGTERM (systemd, Kubernetes, `kill`) shuts down like Ctrl-C: replicas and a local Ray go with the command.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        deploy(cfg)
        host = "localhost" if rs.host in ("0.0.0.0", "::") else rs.host
        print_result(
            f"reward server: {rs.replicas} replica(s) at http://{host}:{rs.port}/rewards "
            f"(set reward_server.url to it in the trainer's rewards config); Ctrl-C stops it"
        )
        while True:
            time.sleep(3600)
    finally:
        serve.shutdown()
        ray.shutdown()
