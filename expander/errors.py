"""Errors shared across the package (kept apart from cli.py so `python -m expander.cli` sees one class)."""


class CommandError(Exception):
    """A user-facing failure: printed as `error: ...` without a stack trace. `code` is the exit status."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code
