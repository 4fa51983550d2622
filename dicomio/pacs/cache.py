"""The local cache of retrieved series: ``ROOT/SERIES_UID/SOP_UID.dcm``, every file atomic.

An instance is written to a hidden temporary name and renamed (``dicomio.atomic``), so an
interrupted transfer never leaves half a file; a series whose retrieve finished gets a
``.complete.json`` marker listing its instances, and a repeated retrieve of it needs no
network.  A series retrieved in part keeps its files; the next retrieve adds the missing
ones without duplicates (the file name is the SOP Instance UID).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from dicomio.atomic import atomic_write, stale_temps

_UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")
MARKER = ".complete.json"


def uid_file_part(uid: str) -> str:
    """A file name from a UID: the UID itself when it is a valid UID, else a hash of it."""
    uid = uid.strip().rstrip("\x00")
    if _UID_RE.match(uid) and len(uid) <= 64:
        return uid
    return "x" + hashlib.sha256(uid.encode("utf-8", "replace")).hexdigest()[:32]


@dataclass(frozen=True)
class SeriesFolder:
    """One series in the cache."""

    root: Path
    series_uid: str

    @property
    def path(self) -> Path:
        return self.root / uid_file_part(self.series_uid)

    def instance_path(self, sop_uid: str) -> Path:
        return self.path / f"{uid_file_part(sop_uid)}.dcm"

    def has(self, sop_uid: str) -> bool:
        return self.instance_path(sop_uid).is_file()

    def files(self) -> list[Path]:
        return sorted(self.path.glob("*.dcm")) if self.path.is_dir() else []

    def write(self, sop_uid: str, data: bytes) -> Path:
        """Write one instance atomically (an existing one is kept: same UID, same instance)."""
        self.path.mkdir(parents=True, exist_ok=True)
        target = self.instance_path(sop_uid)
        if target.is_file():
            return target
        return atomic_write(target, data, overwrite=True)

    def is_complete(self) -> bool:
        """True when an earlier retrieve finished and every instance it listed is still here."""
        try:
            listed = json.loads((self.path / MARKER).read_text("utf-8"))["sop_uids"]
        except (OSError, ValueError, KeyError, TypeError):
            return False
        return bool(listed) and all(self.has(uid) for uid in listed)

    def mark_complete(self, sop_uids: list[str]) -> None:
        data = json.dumps({"series_uid": self.series_uid, "sop_uids": sorted(set(sop_uids))}, indent=1)
        atomic_write(self.path / MARKER, data.encode("utf-8"))

    def remove_stale_temps(self) -> None:
        """Delete temporary files an interrupted process left (never a finished instance)."""
        if not self.path.is_dir():
            return
        for tmp in self.path.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        for f in self.files():
            for tmp in stale_temps(f):
                tmp.unlink(missing_ok=True)
