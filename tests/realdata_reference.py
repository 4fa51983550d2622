"""The hand-placed reference set on the real CT and MR (``tests/data/realdata_reference.json``).

How it was made (also in tests/data/README.md): the slices below were rendered to PNG
(upsampled crops with a one-pixel grid), looked at, and the corners of each body read off
by eye as (column, row) pixel coordinates: ``HAND_PIXELS``.  Only then, with a rule that
shares nothing with :mod:`measure.assist.snap` or :mod:`measure.assist.propose`, the row
of each point (its position along the superior axis) was refined:

- CT: half maximum of the raw profile along the superior axis, between the cortex peak and
  the disc minimum (as tests/measure/assist/test_real_ct.py), kept only when the profile
  has >= 150 HU of contrast and the refined point moved <= 1.5 mm; else the hand row.
- MR: the centre of the dark endplate line: the darkest value within +/-1 pixel of the
  hand row (parabolic sub-pixel), for the middle points; the corners keep the hand row
  (there the endplate line merges with the dark wall and the ligament: no profile rule).

The middle points' column is half way between the corners' (the clinical definition);
their row was read by hand.  Run ``python -m tests.realdata_reference`` to rewrite the
JSON from ``HAND_PIXELS`` (needs ``../shared/realdata``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from dicomio.display_stack import DisplayStack
from dicomio.geometry import ImageGeometry
from dicomio.scan import scan_paths
from measure.landmarks import LANDMARK_KEYS

REFERENCE_JSON = Path(__file__).resolve().parent / "data" / "realdata_reference.json"

#: The CT's mid-sagittal plane: LPS x of the reformat slice through the middle of the
#: bodies (their left-right centre on axial slices, T6-T12: reformat slice 268 of 512).
CT_MIDLINE_X_MM = -11.15625

Pixel = tuple[float, float]
#: (column, row) on the slice, read by eye; a middle point's column is ``None``: half way
#: between the corners.
HAND_PIXELS: dict[str, dict[str, dict[str, tuple[float | None, float]]]] = {
    "ct": {
        "T7": {"sup_ant": (345, 143.5), "sup_mid": (None, 140), "sup_post": (375.5, 136.5),
               "inf_ant": (348, 164.5), "inf_mid": (None, 160.5), "inf_post": (380, 162.5)},
        "T8": {"sup_ant": (348, 168.5), "sup_mid": (None, 166.5), "sup_post": (383, 165.5),
               "inf_ant": (348.5, 191.5), "inf_mid": (None, 191), "inf_post": (385.5, 191.5)},
        "T9": {"sup_ant": (349, 194.5), "sup_mid": (None, 193.5), "sup_post": (386, 193.5),
               "inf_ant": (348.5, 217.5), "inf_mid": (None, 220), "inf_post": (385, 221)},
        "T10": {"sup_ant": (347.5, 221), "sup_mid": (None, 222.5), "sup_post": (385, 222.5),
                "inf_ant": (348.5, 246.5), "inf_mid": (None, 247), "inf_post": (383, 250.5)},
        "T11": {"sup_ant": (347, 252.5), "sup_mid": (None, 252.5), "sup_post": (381.5, 253.5),
                "inf_ant": (342, 275), "inf_mid": (None, 279), "inf_post": (377, 282)},
        "T12": {"sup_ant": (340.5, 281), "sup_mid": (None, 284.5), "sup_post": (376, 285),
                "inf_ant": (334, 308.5), "inf_mid": (None, 311.5), "inf_post": (369.5, 316.5)},
    },
    "mr": {
        "body 1": {"sup_ant": (208, 246.5), "sup_mid": (None, 245), "sup_post": (234, 243.5),
                   "inf_ant": (210.5, 270), "inf_mid": (None, 268.5), "inf_post": (236.5, 267)},
        "body 2": {"sup_ant": (211.5, 274.5), "sup_mid": (None, 273.5), "sup_post": (237.5, 271.5),
                   "inf_ant": (212, 299), "inf_mid": (None, 298), "inf_post": (241, 297.5)},
        "body 3": {"sup_ant": (214, 304.5), "sup_mid": (None, 304.5), "sup_post": (243, 303),
                   "inf_ant": (214.5, 331), "inf_mid": (None, 330.5), "inf_post": (246, 330)},
        "body 4": {"sup_ant": (215.5, 335.5), "sup_mid": (None, 335), "sup_post": (246, 334),
                   "inf_ant": (217, 362), "inf_mid": (None, 362), "inf_post": (249.5, 363)},
        "body 5": {"sup_ant": (216.5, 367), "sup_mid": (None, 367.5), "sup_post": (249, 366.5),
                   "inf_ant": (217, 395.5), "inf_mid": (None, 395.5), "inf_post": (250, 396)},
        "body 6": {"sup_ant": (214, 400), "sup_mid": (None, 400), "sup_post": (249.5, 399.5),
                   "inf_ant": (213.5, 430.5), "inf_mid": (None, 431), "inf_post": (251, 432)},
    },
}  # fmt: skip
MR_FRAME = 8  # 1-based, as in the per-frame functional groups


@dataclass(frozen=True)
class ReferenceBody:
    """One body of the reference set: six points in LPS mm on its image."""

    image_set: str  # "ct" or "mr"
    level_guess: str
    series_uid: str
    sop_uid: str | None  # None: a reformat slice (no stored image)
    landmarks: dict[str, NDArray[np.float64]]


@dataclass(frozen=True)
class ReferenceImage:
    """The slice the bodies were placed on, as the viewer shows it."""

    pixels: NDArray[np.float64]
    plane: ImageGeometry
    series_uid: str
    sop_uid: str | None


def ct_slice(realdata: Path) -> ReferenceImage:
    """The CT's mid-sagittal reformat slice, through the app's own reader and reformat."""
    stack = scan_paths([realdata / "lidc-idri-0314-ct"]).stacks[0]
    display = DisplayStack(stack, reformat=True)
    k = display.geometry.nearest_slice(np.array([CT_MIDLINE_X_MM, 0.0, -500.0]))
    pixels = np.asarray(display.volume()[k], dtype=float)
    return ReferenceImage(
        pixels, display.geometry.slices[k], display.series_uid, display.sop_uid_for_slice(k)
    )


def mr_frame(realdata: Path) -> ReferenceImage:
    """Frame 8 of the sagittal T1 MR (the midline), through the app's reader."""
    display = DisplayStack(scan_paths([realdata / "spine-ls.dcm"]).stacks[0])
    k = MR_FRAME - 1
    pixels = np.asarray(display.volume()[k], dtype=float)
    return ReferenceImage(
        pixels, display.geometry.slices[k], display.series_uid, display.sop_uid_for_slice(k)
    )


def _profile(img: NDArray[np.float64], col: float, rows: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(ndimage.map_coordinates(img, [rows, np.full_like(rows, col)], order=1))


def ct_half_max_row(img: NDArray[np.float64], col: float, row: float, out: int, px_mm: float) -> float:
    """The row of the body's edge near (col, row) going ``out`` rows (-1 superior, +1
    inferior): half way between the cortex peak and the disc minimum; the hand row when the
    profile has < 150 HU of contrast or the edge is > 1.5 mm away."""
    ts = np.arange(-4.0, 4.0001, 0.05)
    v = _profile(img, col, row + out * ts / px_mm)
    disc = (ts >= -1.5) & (ts <= 2.5)
    i_min = int(np.flatnonzero(disc)[np.argmin(v[disc])])
    body = (ts >= ts[i_min] - 3.0) & (ts <= ts[i_min])
    i_max = int(np.flatnonzero(body)[np.argmax(v[body])])
    if v[i_max] - v[i_min] < 150.0:
        return row
    level = (v[i_max] + v[i_min]) / 2
    for i in range(i_max, i_min):
        if v[i] >= level > v[i + 1]:
            t = float(ts[i] + (v[i] - level) / (v[i] - v[i + 1]) * (ts[i + 1] - ts[i]))
            return row + out * t / px_mm if abs(t) <= 1.5 else row
    return row


def mr_dark_line_row(img: NDArray[np.float64], col: float, row: float) -> float:
    """The centre of the dark endplate line: darkest within +/-1 pixel, parabolic."""
    rows = row + np.arange(-1.0, 1.0001, 0.1)
    v = _profile(img, col, rows)
    i = int(np.argmin(v))
    if 0 < i < len(v) - 1:
        denom = v[i - 1] - 2 * v[i] + v[i + 1]
        if denom > 0:
            return float(rows[i] + 0.1 * 0.5 * (v[i - 1] - v[i + 1]) / denom)
    return float(rows[i])


def refined_pixels(image_set: str, image: ReferenceImage) -> dict[str, dict[str, Pixel]]:
    """``HAND_PIXELS`` with the middle columns filled in and the rows refined (see module)."""
    out: dict[str, dict[str, Pixel]] = {}
    px_mm = float(image.plane.pixel_spacing_mm[0])
    for level, pts in HAND_PIXELS[image_set].items():
        body: dict[str, Pixel] = {}
        for key in LANDMARK_KEYS:
            col, row = pts[key]
            end = key.split("_")[0]
            if col is None:
                col = (float(pts[f"{end}_ant"][0] or 0.0) + float(pts[f"{end}_post"][0] or 0.0)) / 2
            if image_set == "ct":
                row = ct_half_max_row(image.pixels, col, row, -1 if end == "sup" else 1, px_mm)
            elif key.endswith("_mid"):
                row = mr_dark_line_row(image.pixels, col, row)
            body[key] = (float(col), float(row))
        out[level] = body
    return out


def build(realdata: Path) -> list[ReferenceBody]:
    bodies = []
    for image_set, image in (("ct", ct_slice(realdata)), ("mr", mr_frame(realdata))):
        for level, pts in refined_pixels(image_set, image).items():
            lm = {k: image.plane.pixel_to_lps(c, r).reshape(3) for k, (c, r) in pts.items()}
            bodies.append(ReferenceBody(image_set, level, image.series_uid, image.sop_uid, lm))
    return bodies


def load(path: Path = REFERENCE_JSON) -> list[ReferenceBody]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return [
        ReferenceBody(
            b["image_set"],
            b["level_guess"],
            b["series_uid"],
            b["sop_uid"],
            {k: np.asarray(v, dtype=float) for k, v in b["landmarks_lps_mm"].items()},
        )
        for b in doc["bodies"]
    ]


def write(bodies: list[ReferenceBody], path: Path = REFERENCE_JSON) -> None:
    doc = {
        "description": "Hand-placed reference landmarks on the real CT and MR; see tests/data/README.md",
        "ct_slice": {"reformat": True, "midline_x_mm": CT_MIDLINE_X_MM},
        "mr_slice": {"frame": MR_FRAME},
        "bodies": [
            {
                "image_set": b.image_set,
                "level_guess": b.level_guess,
                "series_uid": b.series_uid,
                "sop_uid": b.sop_uid,
                "reformat": b.sop_uid is None,
                "landmarks_lps_mm": {k: [round(float(x), 3) for x in v] for k, v in b.landmarks.items()},
            }
            for b in bodies
        ],
    }
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    from tests.conftest import REALDATA

    write(build(REALDATA))
    print(f"wrote {REFERENCE_JSON}")
