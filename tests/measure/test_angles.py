"""Kyphotic angles: line angles, sign convention, regional angles and their defaults."""

from __future__ import annotations

import math

import numpy as np
import pytest

from measure.angles import (
    RegionalSpec,
    default_regional_pairs,
    endplate_line_angle_deg,
    kyphotic_angle_deg,
    regional_angle,
)
from measure.landmarks import ImagePlane
from measure.results_json import regional_json
from tests.measure.test_morphometry import SAGITTAL_ANTERIOR_RIGHT, make_vertebra, vka_truth


@pytest.mark.parametrize(
    ("ant", "post", "angle"),
    [
        ((0.0, 0.0), (10.0, 0.0), 0.0),
        ((0.0, 0.0), (10.0, 10.0), 45.0),
        ((10.0, 10.0), (0.0, 0.0), 45.0),  # points given posterior first: same line
        ((0.0, 0.0), (10.0, -10.0 * math.sqrt(3.0)), -60.0),
        ((0.0, 0.0), (-10.0, 10.0), -45.0),  # "anterior" point is posterior: still the same line
    ],
)
def test_endplate_line_angle_points_posteriorly(
    ant: tuple[float, float], post: tuple[float, float], angle: float
) -> None:
    assert endplate_line_angle_deg(np.array(ant), np.array(post)) == pytest.approx(angle, abs=1e-12)


def test_kyphosis_positive_lordosis_negative() -> None:
    # Upper line rising posteriorly by 10 deg over a flat lower line: converge anteriorly.
    up = (np.array([0.0, 20.0]), np.array([40.0, 20.0 + 40.0 * math.tan(math.radians(10.0))]))
    low = (np.array([0.0, 0.0]), np.array([40.0, 0.0]))
    assert kyphotic_angle_deg(*up, *low) == pytest.approx(10.0, abs=1e-12)
    assert kyphotic_angle_deg(*low, *up) == pytest.approx(-10.0, abs=1e-12)


def _pair(tilt_upper: float, tilt_lower: float, plane: ImagePlane | None = None) -> tuple:
    """T12 above L2: T12 a 15/25 wedge tilted ``tilt_upper``; L2 a box tilted ``tilt_lower``.

    Truth: T12 superior line angle = tilt_upper + atan2(25 - 15, 40); L2 inferior line
    angle = tilt_lower; regional = their difference.
    """
    kwargs = {} if plane is None else {"plane": plane}
    t12 = make_vertebra(
        "T12", "reference", ha=15.0, hp=25.0, tilt_deg=tilt_upper, centre=(0, 30, 200), **kwargs
    )
    l2 = make_vertebra("L2", "reference", tilt_deg=tilt_lower, centre=(0, 32, 130), **kwargs)
    truth = tilt_upper + vka_truth(15.0, 25.0) - tilt_lower
    return t12, l2, truth


@pytest.mark.parametrize(("tilt_upper", "tilt_lower"), [(0.0, 0.0), (12.0, -3.0), (-20.0, 5.0), (-5.0, 30.0)])
def test_regional_angle_is_exact(tilt_upper: float, tilt_lower: float) -> None:
    t12, l2, truth = _pair(tilt_upper, tilt_lower)
    r = regional_angle(t12, "superior", l2, "inferior")
    assert r.angle_deg == pytest.approx(truth, abs=1e-9)
    assert r.uncertainty_deg is not None and r.uncertainty_deg > 0
    assert regional_json(r) == {
        "upper_level": "T12",
        "upper_endplate": "superior",
        "lower_level": "L2",
        "lower_endplate": "inferior",
        "angle_deg": r.angle_deg,
        "uncertainty_deg": r.uncertainty_deg,
        "label": "T12 superior - L2 inferior",
        "notes": [],
    }


def test_regional_angle_lordosis_is_negative_and_independent_of_screen_side() -> None:
    t12, l2, truth = _pair(-20.0, 5.0)
    t12r, l2r, _ = _pair(-20.0, 5.0, plane=SAGITTAL_ANTERIOR_RIGHT)
    left = regional_angle(t12, "superior", l2, "inferior", label="regional L1")
    right = regional_angle(t12r, "superior", l2r, "inferior", label="regional L1")
    assert truth < 0
    assert left.angle_deg == pytest.approx(truth, abs=1e-9)
    assert right.angle_deg == pytest.approx(left.angle_deg, abs=1e-12)
    assert right.uncertainty_deg == pytest.approx(left.uncertainty_deg, abs=1e-9)
    assert left.label == "regional L1"


def test_regional_uncertainty_by_hand() -> None:
    """Two flat endplates 40 mm deep, vertical error 2.0 mm per point (SAGITTAL rows):
    each line angle has sigma sqrt(2) * 2/40 rad, the difference sqrt(2) times that."""
    t12 = make_vertebra("T12", "reference", centre=(0, 30, 200))
    l2 = make_vertebra("L2", "reference", centre=(0, 30, 130))
    r = regional_angle(t12, "superior", l2, "inferior")
    assert r.angle_deg == pytest.approx(0.0, abs=1e-12)
    assert r.uncertainty_deg == pytest.approx(math.degrees(2.0 * 2.0 / 40.0), rel=1e-6)


def test_regional_angle_with_a_same_body_pair_equals_the_vka() -> None:
    v = make_vertebra("L1", ha=15.0, hp=25.0, tilt_deg=7.0)
    r = regional_angle(v, "superior", v, "inferior")
    assert r.angle_deg == pytest.approx(vka_truth(15.0, 25.0), abs=1e-9)


def test_regional_angle_missing_landmarks_gives_none_and_a_note() -> None:
    t12, l2, _ = _pair(0.0, 0.0)
    l2_partial = make_vertebra("L2", points={k: p.array for k, p in l2.landmarks.items() if k != "inf_post"})
    r = regional_angle(t12, "superior", l2_partial, "inferior")
    assert r.angle_deg is None and r.uncertainty_deg is None
    assert "L2 inf_post" in r.notes[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("L2", "superior", "T12", "inferior"), "is not above"),
        (("L1", "inferior", "L1", "superior"), "is not above"),
        (("T12", "top", "L2", "inferior"), "upper endplate 'top' is not known"),
    ],
)
def test_bad_regional_specs_are_refused(args: tuple[str, str, str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RegionalSpec(*args)


def test_default_regional_pairs() -> None:
    vertebrae = [
        make_vertebra("T11", "reference"),
        make_vertebra("T12", "fractured"),
        make_vertebra("L1", "reference"),
        make_vertebra("L2", "treated"),
        make_vertebra("L4", "fractured"),
    ]
    notes: list[str] = []
    specs = default_regional_pairs(vertebrae, notes)
    assert specs == [
        RegionalSpec("T11", "superior", "L1", "inferior", "regional T12"),
    ]
    assert notes == [
        "no default regional angle around L2: vertebra L3 is not measured.",
        "no default regional angle around L4: vertebrae L3 and L5 are not measured.",
    ]
