"""Snap on the real sagittal T1 MR (``spine-ls.dcm``, frame 8), where the cortex is dark.

Reference endplate points, established without the code under test:

1. the six points placed by hand for tests/app/test_real_studies.py (``MR_POINTS`` in
   tests/realdata_truth.py), which sit on the dark cortical line;
2. each moved along the in-plane superior axis (from the frame's orientation) to the outer
   edge of that line by plain numpy on the raw values: the darkest value within 1.5 mm of
   the hand point, the brightest on the disc side within 3 mm beyond it, and the half-way
   crossing between them (half maximum), where the body ends and the disc begins.

Points with less than 80 units between the line and the disc are not used as references.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from dicomio.display_stack import DisplayStack
from dicomio.geometry import ImageGeometry
from dicomio.scan import scan_paths
from measure.assist.snap import snap_to_endplate
from tests.realdata_truth import MR_FRAME, MR_POINTS, bilinear_profile

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


@lru_cache(maxsize=1)
def _frame(path: Path) -> tuple[np.ndarray, ImageGeometry, dict[str, np.ndarray], np.ndarray]:
    stacks = scan_paths([path]).stacks
    assert len(stacks) == 1
    display = DisplayStack(stacks[0])
    k = MR_FRAME - 1
    plane = display.geometry.slices[k]
    points = {key: plane.pixel_to_lps(c, r).reshape(3) for key, (c, r) in MR_POINTS.items()}
    superior = -np.asarray(plane.col_cosine)  # rows run feet-wards on this head-first series
    assert superior[2] > 0.9
    return np.asarray(display.volume()[k], dtype=float), plane, points, superior


def _outer_edge(img: np.ndarray, plane: ImageGeometry, p: np.ndarray, out: np.ndarray) -> float | None:
    ts = np.arange(-4.0, 4.0001, 0.05)
    v = bilinear_profile(img, plane, p, out, ts)
    near = np.abs(ts) <= 1.5
    i_min = int(np.flatnonzero(near)[np.argmin(v[near])])
    beyond = (ts >= ts[i_min]) & (ts <= ts[i_min] + 3.0)
    i_max = int(np.flatnonzero(beyond)[np.argmax(v[beyond])])
    if v[i_max] - v[i_min] < 80.0:
        return None
    level = (v[i_max] + v[i_min]) / 2
    for i in range(i_min, i_max):
        if v[i] <= level < v[i + 1]:
            return float(ts[i] + (level - v[i]) / (v[i + 1] - v[i]) * (ts[i + 1] - ts[i]))
    return None


def _references(path: Path) -> tuple[np.ndarray, ImageGeometry, dict[str, np.ndarray], np.ndarray]:
    img, plane, hand, superior = _frame(path)
    refs = {}
    for key, p in hand.items():
        out = superior if key.startswith("sup") else -superior
        t = _outer_edge(img, plane, p, out)
        if t is not None:
            refs[key] = p + t * out
    return img, plane, refs, superior


#: Known misses: this cervico-thoracic MR has thin discs; a click 1 mm into the disc at
#: these points snaps outwards onto the cortex of the body beyond (the snap prefers outer
#: edges, which is what keeps it off edema and cement; docs/assisted-landmarks.md, limits).
THIN_DISC = pytest.mark.xfail(strict=True, reason="click in a thin disc: snaps to the body beyond")
KNOWN_MISSES = {("sup_ant", 1.0), ("sup_post", 1.0), ("inf_post", 1.0)}


@pytest.mark.parametrize(
    ("key", "d_mm"),
    [
        pytest.param(k, d, marks=THIN_DISC) if (k, d) in KNOWN_MISSES else (k, d)
        for k in MR_POINTS
        for d in (-1.0, 1.0)
    ],
)
def test_snap_lands_on_the_outer_edge_of_the_dark_cortex(spine_ls: Path, key: str, d_mm: float) -> None:
    img, plane, refs, superior = _references(spine_ls)
    assert len(refs) >= 4, f"only {sorted(refs)} have a clear edge"
    if key not in refs:
        pytest.skip(f"{key}: no clear edge in the raw profile (less than 80 units)")
    out = superior if key.startswith("sup") else -superior
    endplate = "superior" if key.startswith("sup") else "inferior"
    r = snap_to_endplate(img, plane, refs[key] + d_mm * out, None, endplate, "dark")  # type: ignore[arg-type]
    err = float((np.asarray(r.point_mm) - refs[key]) @ out)
    assert r.snapped
    assert -0.75 <= err <= 0.75, f"{key} clicked {d_mm:+} mm: {err:+.2f} mm"


# Proposals on real data are measured against the six-body reference set in
# tests/measure/assist/test_real_reference.py (tests/data/realdata_reference.json).
