"""Assisted landmark placement with classical image analysis (no learned models).

* :mod:`measure.assist.snap`: move a click along the endplate's normal onto the cortical
  boundary between body and disc, on the slice the reader is looking at.
* :mod:`measure.assist.propose`: a body's six landmarks from one seed inside it.
* :mod:`measure.assist.carry`: an earlier timepoint's bodies carried onto a later series
  (rigid registration of each body's neighbourhood, then snap).

Nothing here changes a case: the app shows what these functions find and the reader
decides (docs/assisted-landmarks.md).
"""

from __future__ import annotations

from measure.assist.snap import (
    CortexContrast,
    SnapResult,
    SnapSettings,
    cortex_contrast_for,
    default_tangent,
    snap_to_endplate,
)

__all__ = [
    "CortexContrast",
    "SnapResult",
    "SnapSettings",
    "cortex_contrast_for",
    "default_tangent",
    "snap_to_endplate",
]
