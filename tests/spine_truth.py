"""Independent truth for the spine locator on the real CT: plain pydicom and numpy only.

Looking at rendered axial slices of ``lidc-idri-0314-ct`` (bone window, every ~40th slice)
the vertebral body, the canal and the spinous process sit in the box of axial rows
280-440 and columns 150-360 on every slice.  On each sampled slice the left-right mirror
axis of the bone (> 150 HU) in that box is the column about which the mask overlaps its
mirror image best; the midline is the median over the slices (the spine is slightly
scoliotic: the axis varies by +/- 2 columns).  The vertebral body's anterior-posterior
centre is the centroid row of the bone in the box's body part (rows 330-400).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pydicom

REAL_CT = Path(__file__).resolve().parents[1] / ".." / "shared" / "realdata" / "lidc-idri-0314-ct"
REAL_MR = Path(__file__).resolve().parents[1] / ".." / "shared" / "realdata" / "spine-ls.dcm"
#: The MR frame (0-based, file order) judged by eye to be the mid-sagittal one: the cord and
#: the canal run through it from top to bottom and the spinous processes line up behind it
#: (rendered frames 5-9 compared side by side); frame 8 is as good, frames 6 and 9 show pedicles.
MR_MIDLINE_FRAME = 7

_BOX_ROWS, _BOX_COLS = (280, 440), (150, 360)
_BODY_ROWS = (330, 400)
_BONE_HU = 150.0


@dataclass(frozen=True)
class CtSpineTruth:
    midline_x_mm: float  # LPS x of the mid-sagittal plane
    body_y_mm: float  # LPS y of the vertebral bodies' anterior-posterior centre
    z_range_mm: tuple[float, float]  # the slices sampled (the spine runs through all)


@lru_cache(maxsize=1)
def ct_spine_truth(every: int = 10) -> CtSpineTruth:
    files = sorted(REAL_CT.glob("*.dcm"))[::every]
    axes, body_rows, zs = [], [], []
    for f in files:
        ds = pydicom.dcmread(f)
        assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        box = hu[_BOX_ROWS[0] : _BOX_ROWS[1], _BOX_COLS[0] : _BOX_COLS[1]] > _BONE_HU
        cols = np.arange(box.shape[1])
        best = (-1.0, 0.0)
        for twice_axis in range(40, 2 * box.shape[1] - 40):  # mirror column j -> twice_axis - j
            mirror = twice_axis - cols
            ok = (mirror >= 0) & (mirror < box.shape[1])
            overlap = float((box[:, cols[ok]] & box[:, mirror[ok]]).sum()) / max(
                1, int(box[:, cols[ok]].sum())
            )
            if overlap > best[0]:
                best = (overlap, twice_axis / 2)
        column = _BOX_COLS[0] + best[1]
        axes.append(float(ds.ImagePositionPatient[0]) + column * float(ds.PixelSpacing[1]))
        body = hu[_BODY_ROWS[0] : _BODY_ROWS[1], _BOX_COLS[0] : _BOX_COLS[1]] > _BONE_HU
        row = _BODY_ROWS[0] + float(np.nonzero(body)[0].mean())
        body_rows.append(float(ds.ImagePositionPatient[1]) + row * float(ds.PixelSpacing[0]))
        zs.append(float(ds.ImagePositionPatient[2]))
    return CtSpineTruth(float(np.median(axes)), float(np.median(body_rows)), (min(zs), max(zs)))
