"""Hand-placed truth on the real scanner files, shared by the app and the assist tests.

The landmark positions were chosen by eye on the images (the corners and endplate middles
of one thoracic body in each of ``lidc-idri-0314-ct`` and ``spine-ls.dcm``); they are
written here in DICOM terms and converted to LPS from the files' own headers read with
plain pydicom (ImagePositionPatient, ImageOrientationPatient, PixelSpacing), never through
Endplate.  ``bilinear_profile`` samples an image along a line in plain numpy, for
references established without the code under test.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydicom

from dicomio.geometry import ImageGeometry

#: CT: axial row of each point in the source grid, and its z (mm); all on axial column 255,
#: i.e. one sagittal plane (the reformat's), through a lower thoracic body (T11).
CT_COLUMN = 255
CT_POINTS = {
    "sup_ant": (351, -600.33),
    "sup_mid": (368, -601.11),
    "sup_post": (385, -601.11),
    "inf_ant": (346, -621.43),
    "inf_mid": (364, -622.99),
    "inf_post": (382, -623.77),
}
#: MR: (column, row) on frame 8 (1-based, as in the per-frame functional groups).
MR_FRAME = 8
MR_POINTS = {
    "sup_ant": (216, 304),
    "sup_mid": (230, 304),
    "sup_post": (244, 303),
    "inf_ant": (217, 330),
    "inf_mid": (232, 330),
    "inf_post": (246, 330),
}


def dicom_pixel_lps(
    position: Sequence[Any],
    row_cosine: Sequence[Any],
    col_cosine: Sequence[Any],
    spacing: Sequence[Any],
    column: float,
    row: float,
) -> np.ndarray:
    """DICOM PS3.3 C.7.6.2.1.1: P = S + column * dx * X + row * dy * Y (pixel centres)."""
    dy, dx = float(spacing[0]), float(spacing[1])
    return (
        np.asarray(position, float)
        + column * dx * np.asarray(row_cosine, float)
        + row * dy * np.asarray(col_cosine, float)
    )


def ct_truth(folder: Path) -> tuple[dict[str, np.ndarray], dict[float, str]]:
    """The CT points in LPS, and the SOP Instance UID of each axial slice by its z."""
    by_z = {}
    first = None
    for path in sorted(folder.iterdir()):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        by_z[float(ds.ImagePositionPatient[2])] = str(ds.SOPInstanceUID)
        first = first or ds
    assert first is not None
    iop = [float(v) for v in first.ImageOrientationPatient]
    assert iop == [1, 0, 0, 0, 1, 0], "the test's points assume the axial CT's standard orientation"
    points = {}
    for key, (row, z) in CT_POINTS.items():
        p = dicom_pixel_lps(first.ImagePositionPatient, iop[:3], iop[3:], first.PixelSpacing, CT_COLUMN, row)
        points[key] = np.array([p[0], p[1], z])
    return points, by_z


def mr_truth(path: Path) -> tuple[dict[str, np.ndarray], str]:
    """The MR points in LPS from frame ``MR_FRAME``'s own plane, and the file's SOP UID."""
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    shared = ds.SharedFunctionalGroupsSequence[0]
    frame = ds.PerFrameFunctionalGroupsSequence[MR_FRAME - 1]

    def item(name: str) -> Any:
        seq = getattr(frame, name, None) or getattr(shared, name)
        return seq[0]

    iop = [float(v) for v in item("PlaneOrientationSequence").ImageOrientationPatient]
    position = item("PlanePositionSequence").ImagePositionPatient
    spacing = item("PixelMeasuresSequence").PixelSpacing
    points = {
        key: dicom_pixel_lps(position, iop[:3], iop[3:], spacing, col, row)
        for key, (col, row) in MR_POINTS.items()
    }
    return points, str(ds.SOPInstanceUID)


def bilinear_profile(
    img: np.ndarray, plane: ImageGeometry, p: np.ndarray, out: np.ndarray, ts: np.ndarray
) -> np.ndarray:
    """Raw values along ``p + t out`` by bilinear interpolation, written out in numpy."""
    col, row, _ = plane.lps_to_pixel(np.array([p + t * out for t in ts]))
    c0, r0 = np.floor(col).astype(int), np.floor(row).astype(int)
    fc, fr = col - c0, row - r0
    v00, v01 = img[r0, c0], img[r0, c0 + 1]
    v10, v11 = img[r0 + 1, c0], img[r0 + 1, c0 + 1]
    return (1 - fr) * ((1 - fc) * v00 + fc * v01) + fr * ((1 - fc) * v10 + fc * v11)
