"""The one error type of PACS work: a full sentence naming the node and what went wrong."""

from __future__ import annotations


class PacsError(Exception):
    """A PACS operation failed; ``str()`` is one sentence for the user (never a secret)."""


class PacsCancelledError(PacsError):
    """The user cancelled a transfer; what was already received is kept."""
