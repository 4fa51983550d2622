"""Snap onto the endplate: against the phantom's exact endplates on CT, T1 and STIR.

T1 and STIR flip the marrow/disc contrast (disc darker than marrow on T1, brighter on
STIR); CT has a bright cortex, MR a dark one.  Clicks are put 1 and 2 mm off the true
endplate on both sides; the snapped point must lie on the exact endplate curve.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dicomio.synthetic.phantom import default_phantom
from dicomio.synthetic.phantom_anatomy import LANDMARK_KEYS
from measure.assist.snap import (
    SnapSettings,
    cortex_contrast_for,
    default_tangent,
    local_tangent,
    snap_to_endplate,
)
from tests.measure.assist.phantom_slices import outward_error_mm, phantom_geometry, phantom_slice

CASES = list(itertools.product(("CT", "T1", "STIR"), ("pre", "post"), (False, True)))
#: Signed error allowed along the endplate's normal (mm), about one pixel.
TOLERANCE_MM = 0.75


def _chord(lm: dict[str, tuple[float, float, float]], key: str) -> np.ndarray:
    side = key[:3]
    return np.subtract(lm[f"{side}_post"], lm[f"{side}_ant"]).astype(float)


def _endplate(key: str) -> str:
    return "superior" if key.startswith("sup") else "inferior"


def test_cortex_contrast_follows_the_modality() -> None:
    assert cortex_contrast_for("CT") == "bright"
    assert cortex_contrast_for("MR") == "dark"
    assert cortex_contrast_for(" mr ") == "dark"


@pytest.mark.parametrize(("contrast", "timepoint", "anterior_on_right"), CASES)
def test_snap_with_the_endplate_direction_lands_on_every_endplate(
    contrast: str, timepoint: str, anterior_on_right: bool
) -> None:
    """Every landmark of every body (the wedge-fractured L1 with its depressed middle and
    edema; post-op its cement, 1500 HU on CT), clicked 1-2 mm off along the normal."""
    g = phantom_geometry(anterior_on_right)
    img = phantom_slice(contrast, timepoint, anterior_on_right)  # type: ignore[arg-type]
    polarity = cortex_contrast_for("CT" if contrast == "CT" else "MR")
    for level, lm in default_phantom().truth(timepoint).items():  # type: ignore[arg-type]
        for key in LANDMARK_KEYS:
            tangent = _chord(lm, key)
            n = np.cross(g.first.normal, tangent)
            n /= np.linalg.norm(n)
            for d_mm in (-2.0, -1.0, 1.0, 2.0):
                clicked = np.asarray(lm[key]) + d_mm * n
                r = snap_to_endplate(img, g.first, clicked, tangent, _endplate(key), polarity)  # type: ignore[arg-type]
                err = outward_error_mm(level, key, timepoint, r.point_mm)  # type: ignore[arg-type]
                where = f"{contrast} {timepoint} {level} {key} clicked {d_mm:+} mm"
                assert r.snapped, where
                assert -TOLERANCE_MM <= err <= TOLERANCE_MM, f"{where}: {err:+.2f} mm"
                # The point moved along the normal only, by about the click's offset.
                moved = np.subtract(r.point_mm, clicked)
                assert float(np.linalg.norm(moved - (moved @ n) * n)) < 1e-9
                assert r.strength >= SnapSettings().min_strength


@pytest.mark.parametrize(("contrast", "timepoint", "anterior_on_right"), CASES)
def test_snap_without_a_direction_finds_it_in_the_image(
    contrast: str, timepoint: str, anterior_on_right: bool
) -> None:
    """Middle points with no endplate direction given: the structure tensor supplies it."""
    g = phantom_geometry(anterior_on_right)
    img = phantom_slice(contrast, timepoint, anterior_on_right)  # type: ignore[arg-type]
    polarity = cortex_contrast_for("CT" if contrast == "CT" else "MR")
    for level, lm in default_phantom().truth(timepoint).items():  # type: ignore[arg-type]
        for key in ("sup_mid", "inf_mid"):
            for d_mm in (-2.0, -1.0, 1.0, 2.0):
                clicked = np.asarray(lm[key]) + d_mm * np.array([0.0, 0.0, 1.0])
                r = snap_to_endplate(img, g.first, clicked, None, _endplate(key), polarity)  # type: ignore[arg-type]
                err = outward_error_mm(level, key, timepoint, r.point_mm)  # type: ignore[arg-type]
                assert r.snapped
                assert -TOLERANCE_MM <= err <= TOLERANCE_MM, f"{contrast} {level} {key} {d_mm:+}: {err:+.2f}"


def test_local_tangent_follows_a_tilted_endplate() -> None:
    """T11's endplates are tilted against the image rows; the structure tensor's direction
    agrees with the exact chord within 10 deg, the anterior default does not need to."""
    g = phantom_geometry(False)
    img = phantom_slice("CT", "pre", False)
    lm = default_phantom().truth("pre")["T11"]
    chord = _chord(lm, "sup_mid")
    chord /= np.linalg.norm(chord)
    t = local_tangent(img, g.first, lm["sup_mid"])
    angle = np.degrees(np.arccos(abs(float(t @ chord))))
    assert angle < 10.0
    tilt = np.degrees(np.arccos(abs(float(default_tangent(g.first) @ chord))))
    assert tilt > angle


@pytest.mark.parametrize("contrast", ["CT", "T1", "STIR"])
def test_no_edge_no_snap(contrast: str) -> None:
    """In the middle of a normal body (L2) there is only noise: the point stays put."""
    g = phantom_geometry(False)
    img = phantom_slice(contrast, "pre", False)  # type: ignore[arg-type]
    lm = default_phantom().truth("pre")["L2"]
    centre = np.mean([lm[k] for k in LANDMARK_KEYS], axis=0)
    polarity = cortex_contrast_for("CT" if contrast == "CT" else "MR")
    for dz in (-4.0, 0.0, 4.0):
        p = centre + np.array([0.0, 0.0, dz])
        r = snap_to_endplate(img, g.first, p, None, "superior", polarity)
        assert not r.snapped
        assert r.point_mm == tuple(float(v) for v in p)
        assert r.offset_mm == 0.0
        assert r.strength < SnapSettings().min_strength


def test_radius_limits_the_search() -> None:
    """A click 4 mm into the disc with the default 3 mm radius cannot reach the endplate;
    with a 6 mm radius it does."""
    g = phantom_geometry(False)
    img = phantom_slice("CT", "pre", False)
    lm = default_phantom().truth("pre")["L2"]
    tangent = _chord(lm, "sup_mid")
    n = np.cross(g.first.normal, tangent)
    n *= np.sign(n[2]) / np.linalg.norm(n)  # superior: out of the body into the disc
    clicked = np.asarray(lm["sup_mid"]) + 4.0 * n
    near = snap_to_endplate(img, g.first, clicked, tangent, "superior", "bright")
    assert outward_error_mm("L2", "sup_mid", "pre", near.point_mm) > 0.9  # type: ignore[arg-type]
    far = snap_to_endplate(img, g.first, clicked, tangent, "superior", "bright", SnapSettings(radius_mm=6.0))
    err = outward_error_mm("L2", "sup_mid", "pre", far.point_mm)  # type: ignore[arg-type]
    assert far.snapped
    assert -TOLERANCE_MM <= err <= TOLERANCE_MM
