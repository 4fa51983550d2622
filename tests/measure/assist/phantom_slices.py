"""Mid-sagittal phantom slices for the assisted-landmark tests, and the exact endplates.

The truth is the phantom's own definition (dicomio.synthetic): the landmarks and the
closed-form endplate curves ``w(u)`` of each body, never anything computed by measure/.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from dicomio.geometry import StackGeometry
from dicomio.synthetic.phantom import default_phantom
from dicomio.synthetic.phantom_anatomy import Contrast, Timepoint
from dicomio.synthetic.synth import sagittal_geometry

#: The issue's test conditions: noise (CT 12 HU, MR 15 units) and 0.9 x 0.7 mm pixels.
NOISE = {"CT": 12.0, "T1": 15.0, "STIR": 15.0}
PIXEL_SPACING_MM = (0.9, 0.7)


@lru_cache(maxsize=4)
def phantom_geometry(anterior_on_right: bool) -> StackGeometry:
    """One sagittal slice through the phantom's midline, covering every body with 20 mm margin."""
    ph = default_phantom()
    (y0, y1), (z0, z1) = ph.extent_yz_mm()
    rows = int((z1 - z0 + 40) / PIXEL_SPACING_MM[0])
    cols = int((y1 - y0 + 40) / PIXEL_SPACING_MM[1])
    origin_y = y1 + 20 if anterior_on_right else y0 - 20
    return sagittal_geometry(
        1,
        rows,
        cols,
        PIXEL_SPACING_MM,
        origin_mm=(ph.midline_x_mm, origin_y, z1 + 20),
        anterior_on_right=anterior_on_right,
    )


@lru_cache(maxsize=16)
def phantom_slice(contrast: Contrast, timepoint: Timepoint, anterior_on_right: bool) -> NDArray[np.float32]:
    g = phantom_geometry(anterior_on_right)
    return default_phantom().render(g, contrast, timepoint, noise_sd=NOISE[contrast], seed=7, supersample=3)[
        0
    ]


def outward_error_mm(
    level: str, key: str, timepoint: Timepoint, point_mm: tuple[float, float, float]
) -> float:
    """Signed distance (mm, along the body's axis) of a point from the exact endplate of
    ``key``: positive outside the body (into the disc), negative inside."""
    v = default_phantom().vertebra(level, timepoint)
    u, w = v.pose.to_local(np.array([point_mm[1]]), np.array([point_mm[2]]))
    if key.startswith("sup"):
        return float(w[0] - v.shape.superior_w(u)[0])
    return float(v.shape.inferior_w(u)[0] - w[0])
