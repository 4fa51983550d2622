"""Older case file versions, brought up to :data:`CURRENT_VERSION` on load.

``MIGRATIONS[n]`` turns a validated version-n dict into a version-(n+1) dict; files are
always written in the current version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

FORMAT_NAME = "endplate-case"
CURRENT_VERSION = 4


def _migrate_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 only adds optional sections; a version 1 file gets them empty."""
    out = dict(data)
    out["version"] = 2
    out.setdefault("case_id", "")
    out.setdefault("patient", {})
    out.setdefault("reader", [])
    out.setdefault("stir", [])
    out.setdefault("regional", [])
    out.setdefault("extras", {})
    return out


def _migrate_2_to_3(data: dict[str, Any]) -> dict[str, Any]:
    """Version 3 holds landmark sets per series: a version-2 vertebra becomes the one set
    of the series most of its landmarks lie on (its numbers are unchanged); timepoints have
    no chosen measurement set yet, series no identity, window or generated UID."""
    out = dict(data)
    out["version"] = 3
    vertebrae = []
    for v in data.get("vertebrae", []):
        entry = dict(v)
        series = [lm.get("series_uid") for lm in (v.get("landmarks") or {}).values()]
        if series:
            entry["series_uid"] = max(dict.fromkeys(series), key=series.count)
        vertebrae.append(entry)
    out["vertebrae"] = vertebrae
    return out


def _migrate_3_to_4(data: dict[str, Any]) -> dict[str, Any]:
    """Version 4 adds the clinical outcomes per timepoint (VAS, ODI, complications...): a
    version-3 file has none recorded."""
    out = dict(data)
    out["version"] = 4
    out.setdefault("clinical", [])
    return out


#: ``MIGRATIONS[n]`` turns a version-n dict into a version-(n+1) dict.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    1: _migrate_1_to_2,
    2: _migrate_2_to_3,
    3: _migrate_3_to_4,
}


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a validated dict of any known version up to :data:`CURRENT_VERSION`."""
    version = int(data["version"])
    while version < CURRENT_VERSION:
        data = MIGRATIONS[version](data)
        version = int(data["version"])
    return data
