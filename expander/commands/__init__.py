"""Subcommands of the `expander` CLI: each module defines `register(subparsers)`."""
