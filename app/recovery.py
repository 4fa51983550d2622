"""Safety of work: autosave to a recovery file, crash recovery, recent cases.

The recovery file lives in ``user_data_dir()/recovery/``; it is written every
``interval_s`` seconds while the case is dirty and removed when the window closes normally.
If it is still there at the next start, the previous session ended abnormally and the user
is offered to recover it (the decision is a callable, so tests can inject it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore

from dicomio.atomic import atomic_write
from measure.case import Case
from measure.casefile import case_to_dict
from measure.userlog import user_data_dir

log = logging.getLogger("endplate.app")

AUTOSAVE_INTERVAL_S = 60
MAX_RECENT = 10


def recovery_path() -> Path:
    folder = user_data_dir() / "recovery"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "autosave.endplate.json"


def _recovery_meta_path() -> Path:
    return recovery_path().with_suffix(".meta")


def pending_recovery() -> Path | None:
    """The recovery file left by a session that did not close normally, if any."""
    path = recovery_path()
    return path if path.is_file() else None


def recovery_origin() -> Path | None:
    """The case file the recovery file was a copy of (None for a never-saved case)."""
    try:
        meta = json.loads(_recovery_meta_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    origin = meta.get("origin")
    return Path(origin) if origin else None


def discard_recovery() -> None:
    for path in (recovery_path(), _recovery_meta_path()):
        path.unlink(missing_ok=True)


class Autosaver(QtCore.QObject):
    """Writes the case to the recovery file on a timer while it is dirty."""

    saved = QtCore.Signal(str)

    def __init__(
        self,
        case_getter: Callable[[], Case | None],
        interval_s: float = AUTOSAVE_INTERVAL_S,
        parent: QtCore.QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._case_getter = case_getter
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(int(interval_s * 1000))
        self.timer.timeout.connect(self.save_now)
        self.timer.start()

    def save_now(self) -> Path | None:
        """Write the recovery file if the case has unsaved changes; returns its path."""
        case = self._case_getter()
        if case is None or not (case.dirty or self.force_dirty):
            return None
        path = recovery_path()
        try:
            write_recovery(case, path)
        except Exception:  # an autosave failure must never interrupt the user
            log.exception("autosave to %s failed", path)
            return None
        self.saved.emit(str(path))
        return path

    #: Set by the window while a recovered (never saved) case is open.
    force_dirty = False


def write_recovery(case: Case, path: Path) -> None:
    """Write the case's content to ``path`` without marking the case saved.

    ``save_case`` would mark the case saved and rebase its series paths, which is right
    for a real save and wrong for a safety copy, so the dict is written here instead
    (atomically and durably, :func:`dicomio.atomic.atomic_write`).  Series paths are kept as the case
    holds them; relative ones are resolved against the original case folder on recovery
    (kept in the ``.meta`` file).
    """
    data = case_to_dict(case)
    atomic_write(path, json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False).encode("utf-8"))
    origin = str(case.file_path) if case.file_path else ""
    atomic_write(_recovery_meta_path(), json.dumps({"origin": origin}).encode("utf-8"))


# -- recent cases -----------------------------------------------------------------------


def _recent_file() -> Path:
    return user_data_dir() / "recent.json"


def recent_cases() -> list[Path]:
    try:
        items = json.loads(_recent_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [Path(p) for p in items if isinstance(p, str)]


def add_recent_case(path: Path) -> list[Path]:
    path = Path(path).resolve()
    items = [p for p in recent_cases() if p != path]
    items.insert(0, path)
    items = items[:MAX_RECENT]
    try:
        atomic_write(_recent_file(), json.dumps([str(p) for p in items], indent=1).encode("utf-8"))
    except OSError:
        log.exception("could not write the recent-cases list")
    return items
