"""The package's one error base, and the errors every stage shares.

Every exception class defined in `expander` (and the embedded `diffusion` runtime) derives from
`ExpanderError`; classes keep their own names and their historical second base (`ValueError`,
`RuntimeError`, `FileNotFoundError`, ...) so existing `except` clauses still match. `expander.cli.main`
maps an `ExpanderError` to `error: <message>` on stderr and exit status 2, once, for every command.

Kept apart from cli.py so that `python -m expander.cli` and the library see one class.
"""

from __future__ import annotations

__all__ = ["CommandError", "ConfigError", "ExpanderError", "MissingExtraError"]


class ExpanderError(Exception):
    """A user-facing failure: bad input, a missing model or file, a setup that cannot work.

    `code` is the process exit status the CLI uses for it (2 unless a subclass says otherwise).
    """

    code: int = 2


class CommandError(ExpanderError):
    """A CLI-level failure with an explicit exit status (default 1)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


class ConfigError(ExpanderError, ValueError):
    """A config file, config value or override that cannot be applied; the message names the key and the source.

    Also what a config dataclass raises from `__post_init__` for a bad value, so the library API and the CLI
    report it the same way.
    """


class MissingExtraError(ExpanderError, ImportError):
    """A feature whose optional dependencies (a pyproject extra) are not installed.

    One message everywhere: what needs it, which extra to install, and which module failed to import.
    """

    def __init__(self, feature: str, extra: str, cause: BaseException | None = None, hint: str | None = None):
        missing = getattr(cause, "name", None) or (str(cause) if cause else None)
        message = f"{feature} needs the `{extra}` extra: pip install 'expander[{extra}]'"
        if missing:
            message += f" (cannot import {missing})"
        if hint:
            message += f"; {hint}"
        super().__init__(message)
        self.feature, self.extra = feature, extra
