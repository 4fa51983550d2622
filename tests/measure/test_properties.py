"""Property tests (hypothesis): rigid motions and mirrored images change no measurement.

Rotations are bounded (|angle| <= 30 deg about any axis) so the anatomy stays anatomical:
the sign convention is tied to patient posterior/superior, so a vertebra turned upside
down *should* change sign, and is not a symmetry.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from measure.angles import regional_angle
from measure.engine import measure_vertebra
from measure.landmarks import ImagePlane, Landmark
from measure.morphometry import VertebraInput
from measure.results import VertebraResult
from tests.measure.test_morphometry import make_vertebra, vertebra_points

Vector = tuple[float, float, float]
Spacing = tuple[float, float]
FIELDS = ("vka_deg", "ha_mm", "hm_mm", "hp_mm", "wedge_ratio", "biconcave_ratio")

heights = st.floats(12.0, 35.0)
shapes = st.fixed_dictionaries(
    {
        "ha": heights,
        "hm": heights,
        "hp": heights,
        "depth": st.floats(25.0, 50.0),
        "tilt_deg": st.floats(-15.0, 15.0),
    }
).filter(lambda s: abs(s["hp"] - s["ha"]) <= 15.0)
spacings = st.tuples(st.floats(0.3, 3.0), st.floats(0.3, 3.0))
axes = st.tuples(*(st.floats(-1.0, 1.0),) * 3).filter(lambda a: np.linalg.norm(a) > 0.1)
rotation_angles = st.floats(-30.0, 30.0)
translations = st.tuples(*(st.floats(-500.0, 500.0),) * 3)


def rotation_matrix(axis: tuple[float, float, float], angle_deg: float) -> np.ndarray:
    """Rodrigues' formula."""
    k = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    t = math.radians(angle_deg)
    return np.eye(3) + math.sin(t) * kx + (1 - math.cos(t)) * kx @ kx


def moved(v: VertebraInput, r: np.ndarray, t: np.ndarray) -> VertebraInput:
    """Apply ``p -> R p + t`` to the landmarks and ``R`` to the image orientations."""
    landmarks = {k: Landmark(tuple(r @ lm.array + t), lm.series_uid) for k, lm in v.landmarks.items()}
    planes = {
        uid: ImagePlane(tuple(r @ p.row_cosine), tuple(r @ p.col_cosine), p.pixel_spacing_mm)
        for uid, p in v.planes.items()
    }
    return VertebraInput(v.level, v.status, landmarks, planes)


def assert_same(a: VertebraResult, b: VertebraResult) -> None:
    for name in FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert math.isclose(x.value, y.value, rel_tol=1e-9, abs_tol=1e-8), (name, x, y)
        assert math.isclose(x.uncertainty, y.uncertainty, rel_tol=1e-6, abs_tol=1e-8), (name, x, y)


@settings(max_examples=60, deadline=None)
@given(shapes, spacings, axes, rotation_angles, translations)
def test_rigid_motion_changes_no_angle_or_height(
    shape: dict[str, float], spacing: Spacing, axis: Vector, angle: float, translation: Vector
) -> None:
    plane = ImagePlane((0.0, 1.0, 0.0), (0.0, 0.0, -1.0), spacing)
    v = make_vertebra(plane=plane, **shape)
    before = measure_vertebra(v)
    after = measure_vertebra(moved(v, rotation_matrix(axis, angle), np.asarray(translation)))
    assert_same(before, after)
    assert math.isclose(
        before.vka_deg.value,
        math.degrees(math.atan2(shape["hp"] - shape["ha"], shape["depth"])),
        abs_tol=1e-9,
    )


@settings(max_examples=40, deadline=None)
@given(shapes, spacings, axes, rotation_angles)
def test_mirrored_image_direction_changes_no_sign(
    shape: dict[str, float], spacing: Spacing, axis: Vector, angle: float
) -> None:
    """Negating the row cosine (image shown mirrored) on an oblique sagittal image."""
    r = rotation_matrix(axis, angle)
    row, col = r @ np.array([0.0, 1.0, 0.0]), r @ np.array([0.0, 0.0, -1.0])
    plain = ImagePlane(tuple(row), tuple(col), spacing)
    mirrored = ImagePlane(tuple(-row), tuple(col), spacing)
    pts = vertebra_points(**shape)
    pts = {k: r @ p for k, p in pts.items()}
    a = measure_vertebra(make_vertebra(points=pts, plane=plain))
    b = measure_vertebra(make_vertebra(points=pts, plane=mirrored))
    assert_same(a, b)
    assert math.copysign(1.0, a.vka_deg.value) == math.copysign(1.0, shape["hp"] - shape["ha"]) or (
        abs(a.vka_deg.value) < 1e-9
    )


@settings(max_examples=30, deadline=None)
@given(st.floats(-15.0, 15.0), st.floats(-15.0, 15.0), axes, rotation_angles, translations)
def test_rigid_motion_changes_no_regional_angle(
    tilt_up: float, tilt_low: float, axis: Vector, angle: float, translation: Vector
) -> None:
    up = make_vertebra("T12", "reference", ha=18.0, hp=25.0, tilt_deg=tilt_up, centre=(0, 30, 200))
    low = make_vertebra("L2", "reference", tilt_deg=tilt_low, centre=(0, 33, 135))
    r, t = rotation_matrix(axis, angle), np.asarray(translation)
    a = regional_angle(up, "superior", low, "inferior")
    b = regional_angle(moved(up, r, t), "superior", moved(low, r, t), "inferior")
    truth = tilt_up + math.degrees(math.atan2(7.0, 40.0)) - tilt_low
    assert math.isclose(a.angle_deg, truth, abs_tol=1e-9)
    assert math.isclose(b.angle_deg, truth, abs_tol=1e-8)
    assert math.isclose(a.uncertainty_deg, b.uncertainty_deg, rel_tol=1e-6)
