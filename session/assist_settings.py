"""The reader's snap preferences (on/off, search radius), kept between sessions.

Stored as ``assist.json`` in the user-data folder (``$ENDPLATE_HOME`` or
``$XDG_DATA_HOME/endplate``), beside ``recent.json`` and ``pacs.json``: the app has no
QSettings store, and a JSON file is readable by the reader and by support.  A missing,
unreadable or out-of-range file gives the defaults (a preference is never worth an error
dialog); what was wrong goes to the log.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from dicomio.atomic import atomic_write
from measure.assist.snap import SnapSettings
from measure.userlog import user_data_dir

log = logging.getLogger("endplate.settings")

SETTINGS_NAME = "assist.json"
#: The radius a reader may choose (mm): below 0.5 mm a snap cannot move a point past a
#: pixel; beyond 10 mm it reaches the neighbouring body's endplate across any disc.
RADIUS_RANGE_MM = (0.5, 10.0)


@dataclass(frozen=True)
class AssistSettings:
    """Snap clicks and drags onto the endplate (``snap_enabled``) within ``snap_radius_mm``."""

    snap_enabled: bool = True
    snap_radius_mm: float = SnapSettings().radius_mm

    def __post_init__(self) -> None:
        lo, hi = RADIUS_RANGE_MM
        if not (math.isfinite(self.snap_radius_mm) and lo <= self.snap_radius_mm <= hi):
            raise ValueError(f"the snap radius must be {lo:g} to {hi:g} mm, not {self.snap_radius_mm!r}")


def settings_path() -> Path:
    return user_data_dir() / SETTINGS_NAME


def load_assist_settings(path: Path | None = None) -> AssistSettings:
    """The saved preferences, or the defaults when there are none (or they are unusable)."""
    path = path or settings_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return AssistSettings()
    except (OSError, ValueError) as exc:
        log.warning("%s is unreadable (%s): snap settings are the defaults", path, exc)
        return AssistSettings()
    try:
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        enabled, radius = raw.get("snap_enabled", True), raw.get("snap_radius_mm", SnapSettings().radius_mm)
        if not isinstance(enabled, bool) or isinstance(radius, bool) or not isinstance(radius, int | float):
            raise ValueError("snap_enabled must be true/false and snap_radius_mm a number")
        return AssistSettings(enabled, float(radius))
    except ValueError as exc:
        log.warning("%s: %s: snap settings are the defaults", path, exc)
        return AssistSettings()


def save_assist_settings(settings: AssistSettings, path: Path | None = None) -> None:
    """Write the preferences (atomically); a failure is logged, not raised: the setting
    still holds for this session."""
    path = path or settings_path()
    data = {"snap_enabled": settings.snap_enabled, "snap_radius_mm": settings.snap_radius_mm}
    try:
        atomic_write(path, json.dumps(data, indent=1).encode("utf-8"))
    except OSError:
        log.exception("could not write %s", path)
