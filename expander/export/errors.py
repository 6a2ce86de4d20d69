"""The errors of `expander export`: each names the path, the key or the allowed values."""

from __future__ import annotations

from expander.errors import ExpanderError

__all__ = ["ExportDirExistsError", "ExportError"]


class ExportError(ExpanderError, ValueError):
    """An export that cannot be made: an unknown format or GGUF type, an architecture or tokenizer the GGUF
    writer does not know, an output path that is not a directory."""


class ExportDirExistsError(ExportError, FileExistsError):
    """The export directory exists and `force` was not given."""

    def __init__(self, path):
        super().__init__(f"export directory {path} exists; pass --force to replace it")
        self.path = path
