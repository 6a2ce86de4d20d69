"""`ServiceError`: a request the service refuses, as an HTTP status and an OpenAI-style error body."""

from __future__ import annotations

from expander.errors import ExpanderError

__all__ = ["ServiceError"]


class ServiceError(ExpanderError):
    """A request the service refuses: HTTP `status`, OpenAI-style error fields, optional headers and extras.

    The app turns it into a JSON response (`body()`); it never reaches the CLI, so the inherited exit `code`
    is unused and the OpenAI error code is kept apart, in `error_code`.
    """

    def __init__(
        self,
        status: int,
        message: str,
        type: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        **extra,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.error_code = code
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.error_code,
                **self.extra,
            }
        }
