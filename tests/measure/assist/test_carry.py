"""Carry-over between timepoints on the phantom: the pre-op truth carried onto post-op.

Truth: the phantom's exact post-op landmarks (dicomio.synthetic), moved by the known rigid
map the later series was written with (a new frame of reference), and its closed-form
endplates and cement ellipsoid; never anything computed by measure/.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pytest

from dicomio.geometry import StackGeometry
from dicomio.registration import RigidTransform
from dicomio.synthetic.phantom import default_phantom
from dicomio.synthetic.phantom_anatomy import Contrast
from dicomio.synthetic.synth import moved_geometry, sagittal_geometry
from measure.assist.carry import CarryResult, Stack, carry_bodies
from measure.landmarks import LANDMARK_KEYS
from tests.measure.assist.phantom_slices import NOISE, PIXEL_SPACING_MM, outward_error_mm

LIMIT_MM = 1.5
NORMAL = ("T11", "T12", "L2", "L3")
TREATED = "L1"


def _rotation_x(angle_deg: float) -> np.ndarray:
    a = math.radians(angle_deg)
    return np.array([[1.0, 0.0, 0.0], [0.0, math.cos(a), -math.sin(a)], [0.0, math.sin(a), math.cos(a)]])


#: The later series' frame of reference: rotated 6 deg in the sagittal plane about the
#: pre-op L1 superior middle point and shifted 8 mm posterior, 12 mm caudal.
_R = _rotation_x(6.0)
_C = np.array(default_phantom().truth("pre")["L1"]["sup_mid"])
MOVED = RigidTransform.from_matrix(_R, _C - _R @ _C + np.array([0.0, 8.0, -12.0]))


@lru_cache(maxsize=2)
def _geometry(anterior_on_right: bool) -> StackGeometry:
    """Three sagittal slices 3 mm apart around the midline, 0.9 x 0.7 mm pixels."""
    ph = default_phantom()
    (y0, y1), (z0, z1) = ph.extent_yz_mm()
    rows = int((z1 - z0 + 60) / PIXEL_SPACING_MM[0])
    cols = int((y1 - y0 + 60) / PIXEL_SPACING_MM[1])
    return sagittal_geometry(
        3,
        rows,
        cols,
        PIXEL_SPACING_MM,
        3.0,
        origin_mm=(
            ph.midline_x_mm + (-3.0 if anterior_on_right else 3.0),
            y1 + 30 if anterior_on_right else y0 - 30,
            z1 + 30,
        ),
        anterior_on_right=anterior_on_right,
    )


@lru_cache(maxsize=8)
def _carried(contrast: Contrast, anterior_on_right: bool, new_frame: bool) -> CarryResult:
    ph = default_phantom()
    g = _geometry(anterior_on_right)
    pre = ph.render(g, contrast, "pre", noise_sd=NOISE[contrast], seed=3, supersample=2)
    post = ph.render(g, contrast, "post", noise_sd=NOISE[contrast], seed=4, supersample=2)
    later = moved_geometry(g, MOVED.matrix, MOVED.translation_mm) if new_frame else g
    return carry_bodies(
        ph.truth("pre"),
        Stack(pre, g),
        Stack(post, later),
        same_frame=not new_frame,
        contrast="bright" if contrast == "CT" else "dark",
    )


CASES = [
    pytest.param("CT", False, False, id="CT-same-frame"),
    pytest.param("CT", True, False, id="CT-same-frame-anterior-right"),
    pytest.param("CT", False, True, id="CT-new-frame"),
    pytest.param("T1", False, False, id="T1-same-frame"),
    pytest.param("T1", True, True, id="T1-new-frame-anterior-right"),
]


def _phantom_frame(point: tuple[float, float, float], new_frame: bool) -> tuple[float, float, float]:
    p = MOVED.inverse().apply(point) if new_frame else np.asarray(point)
    return float(p[0]), float(p[1]), float(p[2])


@pytest.mark.parametrize(("contrast", "anterior_on_right", "new_frame"), CASES)
def test_every_point_of_an_unchanged_body_lands_on_its_post_op_corner(
    contrast: Contrast, anterior_on_right: bool, new_frame: bool
) -> None:
    result = _carried(contrast, anterior_on_right, new_frame)
    assert result.same_frame is not new_frame
    assert [b.level for b in result.bodies] == list(default_phantom().levels)
    truth = default_phantom().truth("post")
    for body in result.bodies:
        if body.level not in NORMAL:
            continue
        for key in LANDMARK_KEYS:
            exact = MOVED.apply(truth[body.level][key]) if new_frame else np.asarray(truth[body.level][key])
            err = float(np.linalg.norm(np.subtract(body.landmarks[key], exact)))
            assert err <= LIMIT_MM, f"{body.level} {key}: {err:.2f} mm from the exact corner"
            # Signed: neither into the disc nor into the body by more than the limit.
            out = outward_error_mm(body.level, key, "post", _phantom_frame(body.landmarks[key], new_frame))
            assert -LIMIT_MM <= out <= LIMIT_MM, f"{body.level} {key}: {out:+.2f} mm outward"
        assert not body.changed(), f"{body.level} match {body.match:.2f}"


def _cement_radius(point: tuple[float, float, float]) -> float:
    """Normalised radius of a (phantom-frame) point in the cement ellipsoid: 1 on its edge."""
    v = default_phantom().vertebra(TREATED, "post")
    assert v.cement and v.edema is not None
    u, w = v.pose.to_local(np.array([point[1]]), np.array([point[2]]))
    u_c, w_c = v.ellipsoid_centre_uw()
    ax, au, aw = v.edema.cement_semi_axes_mm
    dx = point[0] - default_phantom().midline_x_mm
    return float(np.sqrt((dx / ax) ** 2 + ((u[0] - u_c) / au) ** 2 + ((w[0] - w_c) / aw) ** 2))


@pytest.mark.parametrize(("contrast", "anterior_on_right", "new_frame"), CASES)
def test_the_cemented_body_is_not_pulled_onto_the_cement(
    contrast: Contrast, anterior_on_right: bool, new_frame: bool
) -> None:
    result = _carried(contrast, anterior_on_right, new_frame)
    body = next(b for b in result.bodies if b.level == TREATED)
    truth = default_phantom().truth("post")[TREATED]
    for key in LANDMARK_KEYS:
        p = _phantom_frame(body.landmarks[key], new_frame)
        assert _cement_radius(p) > 1.5, f"{key} at the cement ({_cement_radius(p):.2f})"
        if key.startswith("inf"):  # the inferior endplate, next to the cement, did not change
            err = float(np.linalg.norm(np.subtract(p, truth[key])))
            assert err <= LIMIT_MM, f"{key}: {err:.2f} mm"
            out = outward_error_mm(TREATED, key, "post", p)
            assert -LIMIT_MM <= out <= LIMIT_MM, f"{key}: {out:+.2f} mm outward"
    # The restored superior endplate rose: the pre-op shape carried over is inside the
    # body (never beyond it into the disc), and the body is flagged for the reader.
    for key in ("sup_ant", "sup_mid", "sup_post"):
        out = outward_error_mm(TREATED, key, "post", _phantom_frame(body.landmarks[key], new_frame))
        assert out <= LIMIT_MM, f"{key}: {out:+.2f} mm into the disc"
    assert body.changed(), f"match {body.match:.2f}: the restored body should be flagged"


def test_points_sit_on_the_later_series_slice_nearest_to_them() -> None:
    result = _carried("CT", False, True)
    g = moved_geometry(_geometry(False), MOVED.matrix, MOVED.translation_mm)
    for body in result.bodies:
        assert body.slice_index == 1  # the midline slice (the phantom's mid-sagittal plane)
        plane = g.slices[body.slice_index]
        for p in body.landmarks.values():
            _, _, off = plane.lps_to_pixel(np.asarray([p]))
            assert -1e-6 <= float(off[0]) <= 1e-6


def test_an_incomplete_body_and_a_body_outside_the_later_series_are_skipped() -> None:
    ph = default_phantom()
    g = _geometry(False)
    pre = ph.render(g, "CT", "pre")
    # The later series covers only the lower half of the spine: T11 is outside it.
    half = sagittal_geometry(
        3,
        g.first.rows // 2,
        g.first.columns,
        PIXEL_SPACING_MM,
        3.0,
        origin_mm=g.index_to_lps(0, g.first.rows // 2, 0),
    )
    post = ph.render(half, "CT", "post")
    bodies = {lv: dict(p) for lv, p in ph.truth("pre").items() if lv in ("T11", "L3")}
    bodies["L2"] = {k: v for k, v in ph.truth("pre")["L2"].items() if k != "inf_post"}
    result = carry_bodies(bodies, Stack(pre, g), Stack(post, half), same_frame=True, contrast="bright")
    assert [b.level for b in result.bodies] == ["L3"]
    reasons = dict(result.skipped)
    assert reasons["T11"] == "outside the later series"
    assert reasons["L2"] == "fewer than six points at the earlier timepoint"
