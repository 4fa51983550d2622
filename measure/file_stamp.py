"""What a case file looked like when it was loaded or saved: the conflict check's evidence.

Two sessions may hold the same case file; before a save overwrites it, the file on disk is
compared with the stamp taken when this session last read or wrote it, so that a landmark
another session moved is not silently lost.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileStamp:
    """Size, modification time (ns) and SHA-256 of a case file's bytes."""

    size: int
    mtime_ns: int
    sha256: str
