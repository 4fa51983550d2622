"""Carry-over on the real CT: the hand-placed reference bodies carried onto a later series
whose anatomy moved by a known rigid motion (issue 11, item 4).

``../shared/realdata`` holds one timepoint per patient, so the later series is made from
the real one with an exact truth: the CT's sagittal reformat around the midline (the
reference bodies' slab) with independent noise added (12 HU: two acquisitions never match
voxel for voxel), and either

- a new frame of reference: the same voxels written with a moved geometry (rotated 5 deg
  about the left-right axis through T10, shifted 3 mm left, 9 mm posterior, 14 mm caudal:
  ``dicomio.synthetic.moved_geometry``), so every anatomical point p is at ``M p``; or
- the same frame of reference with the patient shifted on the table: the voxels moved by
  whole pixels (4 rows caudal, 3 columns), so every point moves by that many pixel
  spacings along the slice's axes.

The expected positions come from the motion applied to the reference points (hand-placed,
tests/data/README.md), not from the code under test: every carried point must lie within
1.5 mm of them (the phantom limit), signed along the patient's superior axis within the
same limit, and no body may be flagged "changed" (none did change).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pytest
from numpy.typing import NDArray

from dicomio.display_stack import DisplayStack
from dicomio.geometry import StackGeometry
from dicomio.registration import RigidTransform
from dicomio.scan import scan_paths
from dicomio.synthetic.synth import moved_geometry
from measure.assist.carry import CarryResult, Stack, carry_bodies
from measure.landmarks import LANDMARK_KEYS
from tests.conftest import REALDATA
from tests.realdata_reference import CT_MIDLINE_X_MM, load

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

LIMIT_MM = 1.5
#: Reformat slices kept on each side of the reference slice (0.78 mm apart: +/- 12.5 mm).
HALF_SLAB = 16
NOISE_HU = 12.0
ROW_SHIFT, COL_SHIFT = 4, 3


@lru_cache(maxsize=1)
def _earlier() -> Stack:
    stack = scan_paths([REALDATA / "lidc-idri-0314-ct"]).stacks[0]
    display = DisplayStack(stack, reformat=True)
    k = display.geometry.nearest_slice(np.array([CT_MIDLINE_X_MM, 0.0, -500.0]))
    lo, hi = k - HALF_SLAB, k + HALF_SLAB + 1
    values = np.asarray(display.volume()[lo:hi], dtype=np.float32)
    return Stack(values, StackGeometry(display.geometry.slices[lo:hi]))


@lru_cache(maxsize=1)
def _bodies() -> dict[str, dict[str, tuple[float, float, float]]]:
    return {
        b.level_guess: {k: (float(v[0]), float(v[1]), float(v[2])) for k, v in b.landmarks.items()}
        for b in load()
        if b.image_set == "ct"
    }


def _noisy(values: NDArray[np.float32], seed: int) -> NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    return (values + rng.normal(0.0, NOISE_HU, values.shape)).astype(np.float32)


def _motion_new_frame() -> RigidTransform:
    a = math.radians(5.0)
    r = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(a), -math.sin(a)], [0.0, math.sin(a), math.cos(a)]])
    centre = np.mean(list(_bodies()["T10"].values()), axis=0)
    return RigidTransform.from_matrix(r, centre - r @ centre + np.array([3.0, 9.0, -14.0]))


def _shifted(values: NDArray[np.float32]) -> NDArray[np.float32]:
    """The anatomy moved ROW_SHIFT rows down and COL_SHIFT columns right (air-filled edge)."""
    out = np.full_like(values, -1000.0)
    out[:, ROW_SHIFT:, COL_SHIFT:] = values[:, :-ROW_SHIFT, :-COL_SHIFT]
    return out


@lru_cache(maxsize=2)
def _carried(new_frame: bool) -> tuple[CarryResult, RigidTransform]:
    earlier = _earlier()
    if new_frame:
        motion = _motion_new_frame()
        later = Stack(
            _noisy(earlier.values, 7), moved_geometry(earlier.geometry, motion.matrix, motion.translation_mm)
        )
    else:
        g = earlier.geometry.slices[HALF_SLAB]
        shift = ROW_SHIFT * g.pixel_spacing_mm[0] * np.asarray(g.col_cosine) + COL_SHIFT * g.pixel_spacing_mm[
            1
        ] * np.asarray(g.row_cosine)
        motion = RigidTransform.from_matrix(np.eye(3), shift)
        later = Stack(_noisy(_shifted(earlier.values), 8), earlier.geometry)
    # The earlier stack carries no noise of its own beyond the scanner's: two noisy copies
    # are what two acquisitions are.
    result = carry_bodies(_bodies(), earlier, later, same_frame=not new_frame, contrast="bright")
    return result, motion


@pytest.mark.parametrize("new_frame", [False, True], ids=["same-frame-shifted", "new-frame-moved"])
def test_every_reference_point_is_carried_onto_where_the_motion_put_it(
    realdata_dir: object, new_frame: bool
) -> None:
    result, motion = _carried(new_frame)
    assert result.same_frame is not new_frame
    assert [b.level for b in result.bodies] == list(_bodies()), result.skipped
    superior = motion.matrix @ np.array([0.0, 0.0, 1.0])  # the patient's axis, in the later frame
    worst = 0.0
    for body in result.bodies:
        ref = _bodies()[body.level]
        for key in LANDMARK_KEYS:
            exact = motion.apply(ref[key])
            d = np.subtract(body.landmarks[key], exact)
            err = float(np.linalg.norm(d))
            worst = max(worst, err)
            assert err <= LIMIT_MM, f"{body.level} {key}: {err:.2f} mm from where the motion put it"
            along = float(d @ superior)
            assert -LIMIT_MM <= along <= LIMIT_MM, f"{body.level} {key}: {along:+.2f} mm superior"
        assert not body.changed(), f"{body.level}: match {body.match:.2f} on an unchanged body"
    assert worst > 0.0  # noise and resampling: a carried point is never bit-exact


def test_carried_points_sit_on_a_slice_of_the_later_series(realdata_dir: object) -> None:
    result, _ = _carried(True)
    motion = _motion_new_frame()
    later_geometry = moved_geometry(_earlier().geometry, motion.matrix, motion.translation_mm)
    for body in result.bodies:
        plane = later_geometry.slices[body.slice_index]
        for key, p in body.landmarks.items():
            off = float((np.asarray(p) - np.asarray(plane.position_mm)) @ np.asarray(plane.normal))
            assert abs(off) < 1e-6, f"{body.level} {key}: {off:.3g} mm off its slice's plane"
