"""Open an SR that Endplate wrote and get the landmarks back as :class:`Landmark` objects.

``dicomio.sr.read_sr_contents`` reads the TID 1500 document (positions per level, the
source images of each measurement group); this module turns that into what the case
model holds: LPS positions with the series (and, when the group references exactly one
image, the SOP instance) they were placed on.  Positions come back to FL precision
(about 1e-5 mm at 500 mm from the origin).
"""

from __future__ import annotations

from pathlib import Path

from dicomio.sr import read_sr_contents
from measure.landmarks import LANDMARK_KEYS, LEVELS, Landmark


def landmarks_from_sr(path: Path | str) -> dict[str, dict[str, Landmark]]:
    """``{level: {landmark key: Landmark}}`` of every vertebra group of an Endplate SR.

    Raises ``ValueError`` (a sentence naming the file) when the file is not an Endplate
    TID 1500 report or a vertebra group names no source image (the series would be unknown).
    """
    path = Path(path)
    contents = read_sr_contents(path)
    out: dict[str, dict[str, Landmark]] = {}
    for level, points in contents.landmarks_mm.items():
        if level not in LEVELS:
            continue  # a regional-angle group: its points are copies of vertebra landmarks
        images = contents.source_images.get(level, [])
        series = {s for s, _ in images if s}
        if len(series) != 1:
            raise ValueError(
                f"{path}: the measurement group of {level} references {len(series)} source series; "
                "expected exactly one (the series its landmarks were placed on)."
            )
        series_uid = series.pop()
        sop_uid = images[0][1] if len(images) == 1 else None
        out[level] = {
            key: Landmark(points[key], series_uid, sop_uid) for key in LANDMARK_KEYS if key in points
        }
    if not out:
        raise ValueError(
            f"{path}: no vertebra measurement group holds Endplate landmark points; expected an "
            "Endplate SR export (a TID 1500 report written by another tool cannot give landmarks back)."
        )
    return out
