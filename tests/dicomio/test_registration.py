"""Rigid registration in patient space: the same rendered phantom written with a known
rigid move of its geometry must be found again (the truth is the move itself)."""

from __future__ import annotations

import math

import numpy as np

from dicomio.registration import RigidTransform, register_rigid
from dicomio.synthetic.phantom import default_phantom
from dicomio.synthetic.synth import moved_geometry, sagittal_geometry
from measure.landmarks import LANDMARK_KEYS


def _rotation(axis: int, angle_deg: float) -> np.ndarray:
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    i, j = [k for k in range(3) if k != axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


def _points(level: str) -> np.ndarray:
    truth = default_phantom().truth("pre")[level]
    return np.array([truth[k] for k in LANDMARK_KEYS])


def _about(points: np.ndarray, rotation: np.ndarray, shift: tuple[float, float, float]) -> RigidTransform:
    c = points.mean(axis=0)
    return RigidTransform.from_matrix(rotation, c - rotation @ c + np.asarray(shift))


def test_transform_apply_and_inverse_by_hand() -> None:
    t = RigidTransform.from_matrix(_rotation(0, 90.0), (1.0, 2.0, 3.0))
    # 90 deg about x: (x, y, z) -> (x, -z, y), then the shift.
    np.testing.assert_allclose(t.apply([1.0, 2.0, 3.0]), [2.0, -1.0, 5.0], atol=1e-12)
    np.testing.assert_allclose(t.inverse().apply(t.apply([[4.0, -5.0, 6.0]])), [[4.0, -5.0, 6.0]], atol=1e-12)


def test_a_thin_sagittal_stack_is_registered_in_plane() -> None:
    ph = default_phantom()
    g = sagittal_geometry(3, 300, 150, (0.9, 0.7), 3.0, (ph.midline_x_mm + 3.0, -20.0, -300.0))
    values = ph.render(g, "CT", "pre", noise_sd=12.0, seed=1)
    pts = _points("L2")
    truth = _about(pts, _rotation(0, 5.0), (0.0, 6.0, -9.0))
    moved = moved_geometry(g, truth.matrix, truth.translation_mm)
    c = pts.mean(axis=0)
    half = (pts.max(axis=0) - pts.min(axis=0)) / 2 + 12.0
    start = RigidTransform.from_matrix(np.eye(3), (0.0, 4.0, -6.0))  # most of the way there
    reg = register_rigid(
        values, g, values, moved, centre_mm=c, half_size_mm=half, initial=start, ceiling=1000.0
    )
    assert reg.ok, reg.message
    err = np.linalg.norm(reg.transform.apply(pts) - truth.apply(pts), axis=1)
    assert float(err.max()) <= 0.3, err
    assert reg.metric <= -0.95  # the same image: correlation near -1 (ITK's sign)


def test_a_thick_stack_is_registered_in_3d() -> None:
    ph = default_phantom()
    pts = _points("L3")
    c = pts.mean(axis=0)
    g = sagittal_geometry(24, 90, 90, (0.8, 0.8), 1.5, (c[0] + 18.0, c[1] - 36.0, c[2] + 36.0))
    values = ph.render(g, "CT", "pre")
    truth = _about(pts, _rotation(2, 3.0) @ _rotation(1, 2.0), (1.5, 2.0, -2.5))
    moved = moved_geometry(g, truth.matrix, truth.translation_mm)
    reg = register_rigid(values, g, values, moved, ceiling=1000.0)
    assert reg.ok, reg.message
    err = np.linalg.norm(reg.transform.apply(pts) - truth.apply(pts), axis=1)
    assert float(err.max()) <= 0.5, err


def test_stacks_that_do_not_overlap_report_failure_and_keep_the_start() -> None:
    ph = default_phantom()
    g = sagittal_geometry(3, 120, 120, (1.0, 1.0), 3.0, (ph.midline_x_mm + 3.0, 0.0, -380.0))
    values = ph.render(g, "CT", "pre")
    far = moved_geometry(g, np.eye(3), (0.0, 0.0, 900.0))
    start = RigidTransform()
    reg = register_rigid(values, g, values, far, initial=start)
    assert not reg.ok
    assert reg.transform == start
    assert reg.message
