"""The one error a case file problem raises: a full sentence naming the file and the field."""

from __future__ import annotations

from pathlib import Path


class CaseFileError(ValueError):
    """A case file could not be read or written; the message is a full sentence."""

    def __init__(self, message: str, path: Path | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.field = field


class CaseConflictError(CaseFileError):
    """The case file changed on disk since this session read or wrote it; nothing was saved.

    The caller offers: reload the file, save under another name, or save again with
    ``overwrite_changes=True`` (the reader decided to replace the other version).
    """
