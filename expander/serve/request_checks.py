"""Two per-request pieces of the service that need no engine: the language guard and the constraints report.

* `language_decision`: may the served model expand a prompt in its detected language, and in which language
  should it write (`ExpandRequest.language`, `strict_language`); 422 when the request cannot be served.
* `ConstraintsReporter`: the constraints report attached to every expansion (`expander.constraints.check`),
  or None when it is switched off (`check_constraints: false`) or its extra is not installed.
"""

from __future__ import annotations

import logging

from expander.errors import MissingExtraError
from expander.language import LanguageGuess, supports
from expander.serve.errors import ServiceError

logger = logging.getLogger(__name__)

__all__ = ["ConstraintsReporter", "FallbackSetting", "language_decision"]


def language_decision(
    languages: tuple[str, ...], guess: LanguageGuess, requested: str = "auto", strict: bool = False
) -> tuple[bool, str | None]:
    """Whether the model (expanding `languages`) can expand a prompt detected as `guess`, and the language to
    ask it to write in (None: the contract's default, English).

    Args:
        requested: the request's `language` (`auto`: the prompt's own).
        strict: refuse a prompt in a language the model does not declare instead of returning it unchanged.

    Raises:
        ServiceError: 422 for a requested language the model does not declare, or (`strict`) a prompt in one.
    """
    if requested != "auto" and not supports(languages, LanguageGuess(requested, 1.0, "request")):
        raise ServiceError(
            422,
            f"language {requested!r} is not one this model expands ({', '.join(languages)})",
            "invalid_request_error",
            param="language",
            code="language_unsupported",
        )
    ok = supports(languages, guess)
    if not ok and strict:
        raise ServiceError(
            422,
            f"the prompt is in {guess.code!r}, which this model does not expand "
            f"({', '.join(languages)}); nothing was generated",
            "invalid_request_error",
            param="prompt",
            code="language_unsupported",
            language=guess.to_dict(),
        )
    write_in = requested if requested != "auto" else guess.code if guess.code not in ("und", "en") else None
    return ok, write_in


class ConstraintsReporter:
    """`reporter(prompt, text)`: the constraints report (`ConstraintReport.to_dict()`) or None.

    The checker is imported on first use; without the `constraints` extra the server keeps serving, with a
    null report and one warning, instead of failing every request.
    """

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.error: str | None = None  # why the report is unavailable
        self._check = None

    def __call__(self, prompt: str, text: str) -> dict | None:
        if not self.enabled or self.error:
            return None
        if self._check is None:
            try:
                from expander.constraints import check
            except ImportError as exc:  # the constraints extra is optional at run time
                missing = (
                    exc
                    if isinstance(exc, MissingExtraError)
                    else MissingExtraError(
                        "the constraints report",
                        "constraints",
                        exc,
                        hint="serving without it (or set check_constraints: false)",
                    )
                )
                self.error = str(missing)
                logger.warning("%s", missing)
                return None
            self._check = check
        return self._check(prompt, text).to_dict()


class FallbackSetting:
    """The server's faithful-fallback default and what a request may ask of it.

    `fallback: true` in the config on a server without the `constraints` extra is refused at start
    (`MissingExtraError`); a request's `fallback: true` there gets 400 `missing_extra`, never a 500.
    """

    def __init__(self, configured: bool | None):
        from expander.expand import fallback_default

        self.available = fallback_default()  # the checker it needs is installed
        if configured and not self.available:
            from expander.constraints.text import require_constraints

            require_constraints("the server's `fallback: true`", hint="or set fallback: false")
        self.default = self.available if configured is None else configured

    def for_request(self, asked: bool | None) -> bool:
        """The setting one request runs with; `ServiceError` 400 when it asks for what the server lacks."""
        if asked and not self.available:
            raise ServiceError(
                400,
                "fallback: true needs the constraint checker, which this server does not have: "
                "pip install 'expander[constraints]' on the server, or send fallback: false",
                "invalid_request_error",
                param="fallback",
                code="missing_extra",
            )
        return self.default if asked is None else asked
