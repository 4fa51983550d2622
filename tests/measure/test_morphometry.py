"""Heights, ratios, plane handling and uncertainty of one vertebra, against exact truth.

The phantom builder here (``vertebra_points``/``make_vertebra``) is shared with the other
measure tests: it places six landmarks analytically in LPS, so every height and angle is
known in closed form.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from measure.engine import measure_vertebra
from measure.landmarks import LANDMARK_KEYS, ImagePlane, Landmark
from measure.morphometry import VertebraInput, crush_ratio
from measure.results import Measured

#: Standard sagittal image: columns run posterior (anterior on the left), rows run down.
#: Unequal spacing on purpose: 2.0 mm between rows, 0.5 mm between columns.
SAGITTAL = ImagePlane((0.0, 1.0, 0.0), (0.0, 0.0, -1.0), (2.0, 0.5))
#: The same slice shown with anterior on the right.
SAGITTAL_ANTERIOR_RIGHT = ImagePlane((0.0, -1.0, 0.0), (0.0, 0.0, -1.0), (2.0, 0.5))
CENTRE = (12.0, 40.0, 150.0)


def vertebra_points(
    ha: float = 25.0,
    hm: float = 25.0,
    hp: float = 25.0,
    depth: float = 40.0,
    tilt_deg: float = 0.0,
    centre: Sequence[float] = CENTRE,
    posterior: Sequence[float] = (0.0, 1.0, 0.0),
    superior: Sequence[float] = (0.0, 0.0, 1.0),
) -> dict[str, np.ndarray]:
    """Six LPS points: flat inferior endplate of length ``depth``; heights measured up.

    In the (posterior, superior) plane: ``inf_* = (-D/2 | 0 | D/2, 0)`` and ``sup_* =
    (same, ha | hm | hp)``, then rotated by ``tilt_deg`` (posterior towards superior). So
    ``VKA = atan2(hp - ha, depth)`` whatever the tilt, and the heights are exact.
    """
    d = depth / 2.0
    local = {
        "sup_ant": (-d, ha),
        "sup_mid": (0.0, hm),
        "sup_post": (d, hp),
        "inf_ant": (-d, 0.0),
        "inf_mid": (0.0, 0.0),
        "inf_post": (d, 0.0),
    }
    t = math.radians(tilt_deg)
    c, s = math.cos(t), math.sin(t)
    p_axis = np.asarray(posterior, dtype=float)
    s_axis = np.asarray(superior, dtype=float)
    out = {}
    for key, (y, z) in local.items():
        yr, zr = c * y - s * z, s * y + c * z
        out[key] = np.asarray(centre, dtype=float) + yr * p_axis + zr * s_axis
    return out


def make_vertebra(
    level: str = "L1",
    status: str = "fractured",
    points: Mapping[str, np.ndarray] | None = None,
    plane: ImagePlane | None = SAGITTAL,
    series: str = "1.2.3.4",
    series_of: Mapping[str, str] | None = None,
    extra_planes: Mapping[str, ImagePlane] | None = None,
    **shape: float,
) -> VertebraInput:
    """A VertebraInput from points (or a ``vertebra_points`` shape); ``plane=None`` = unknown."""
    pts = points if points is not None else vertebra_points(**shape)
    series_of = series_of or {}
    landmarks = {k: Landmark(tuple(pts[k]), series_of.get(k, series), None) for k in pts}
    planes: dict[str, ImagePlane] = {} if plane is None else {series: plane}
    planes.update(extra_planes or {})
    return VertebraInput(level, status, landmarks, planes)


def vka_truth(ha: float, hp: float, depth: float = 40.0) -> float:
    return math.degrees(math.atan2(hp - ha, depth))


# ---------------------------------------------------------------------------------------
SHAPES = [
    # name, ha, hm, hp, depth, tilt
    ("normal", 25.0, 25.0, 25.0, 40.0, 0.0),
    ("wedge", 15.0, 22.0, 25.0, 40.0, 0.0),
    ("biconcave", 24.0, 15.0, 25.0, 36.0, 0.0),
    ("crush", 17.5, 17.5, 17.5, 40.0, 0.0),
    ("wedge tilted", 15.0, 22.0, 25.0, 40.0, 17.0),
    ("lordotic tilted", 30.0, 28.0, 26.0, 38.0, -25.0),
]


@pytest.mark.parametrize(("name", "ha", "hm", "hp", "depth", "tilt"), SHAPES, ids=[s[0] for s in SHAPES])
def test_heights_ratios_and_vka_are_exact(
    name: str, ha: float, hm: float, hp: float, depth: float, tilt: float
) -> None:
    result = measure_vertebra(make_vertebra(ha=ha, hm=hm, hp=hp, depth=depth, tilt_deg=tilt))
    assert result.ha_mm.value == pytest.approx(ha, abs=1e-9)
    assert result.hm_mm.value == pytest.approx(hm, abs=1e-9)
    assert result.hp_mm.value == pytest.approx(hp, abs=1e-9)
    assert result.wedge_ratio.value == pytest.approx(ha / hp, abs=1e-12)
    assert result.biconcave_ratio.value == pytest.approx(hm / hp, abs=1e-12)
    assert result.vka_deg.value == pytest.approx(vka_truth(ha, hp, depth), abs=1e-9)
    assert (result.ha_mm.unit, result.vka_deg.unit, result.wedge_ratio.unit) == ("mm", "deg", "ratio")
    assert result.plane_source == "image"


def test_wedge_is_kyphotic_and_lordotic_is_negative() -> None:
    wedge = measure_vertebra(make_vertebra(ha=15.0, hp=25.0, tilt_deg=10.0))
    lordotic = measure_vertebra(make_vertebra(ha=30.0, hp=26.0, tilt_deg=-30.0))
    assert wedge.vka_deg.value is not None and wedge.vka_deg.value > 0
    assert lordotic.vka_deg.value == pytest.approx(vka_truth(30.0, 26.0), abs=1e-9)
    assert lordotic.vka_deg.value < 0


def test_anterior_on_the_right_gives_the_same_values_and_uncertainties() -> None:
    left = measure_vertebra(make_vertebra(ha=15.0, hm=21.0, hp=25.0, tilt_deg=12.0, plane=SAGITTAL))
    right = measure_vertebra(
        make_vertebra(ha=15.0, hm=21.0, hp=25.0, tilt_deg=12.0, plane=SAGITTAL_ANTERIOR_RIGHT)
    )
    for name in ("vka_deg", "ha_mm", "hm_mm", "hp_mm", "wedge_ratio", "biconcave_ratio"):
        a, b = getattr(left, name), getattr(right, name)
        assert b.value == pytest.approx(a.value, abs=1e-12), name
        assert b.uncertainty == pytest.approx(a.uncertainty, abs=1e-9), name
    assert right.vka_deg.value == pytest.approx(vka_truth(15.0, 25.0), abs=1e-9)


@pytest.mark.parametrize(
    "swaps",
    [
        (("sup_ant", "sup_post"),),
        (("inf_ant", "inf_post"),),
        (("sup_ant", "sup_post"), ("inf_ant", "inf_post")),
    ],
)
def test_point_order_within_a_line_does_not_flip_the_vka(swaps: tuple[tuple[str, str], ...]) -> None:
    pts = vertebra_points(ha=16.0, hp=25.0, tilt_deg=8.0)
    for a, b in swaps:
        pts[a], pts[b] = pts[b], pts[a]
    result = measure_vertebra(make_vertebra(points=pts))
    assert result.vka_deg.value == pytest.approx(vka_truth(16.0, 25.0), abs=1e-9)


# --- uncertainty ------------------------------------------------------------------------
def test_uncertainty_by_hand_for_unequal_spacing() -> None:
    """Box vertebra, flat endplates, D = 40 mm, H = 25 mm, spacing (row 2.0, col 0.5) mm.

    On SAGITTAL a one-row error moves a point 2.0 mm vertically (column cosine = -Z) and a
    one-column error 0.5 mm horizontally.  Heights are vertical: dH/dz = +-1 at each end,
    dH/dy = 0, so sigma_H = sqrt(2) * 2.0.  Each endplate angle has d(theta)/dz = +-1/D at
    its ends, so sigma_VKA = sqrt(4) * 2.0 / 40 rad.  Wedge ratio 1: sigma = sqrt(2) *
    sigma_H / 25.  Swapping the image axes swaps the roles of the two spacings.
    """
    swapped = ImagePlane((0.0, 0.0, -1.0), (0.0, 1.0, 0.0), (2.0, 0.5))  # rows now run posterior
    for plane, vertical_mm in ((SAGITTAL, 2.0), (swapped, 0.5)):
        r = measure_vertebra(make_vertebra(plane=plane))
        sigma_h = math.sqrt(2.0) * vertical_mm
        assert r.ha_mm.uncertainty == pytest.approx(sigma_h, rel=1e-6)
        assert r.hm_mm.uncertainty == pytest.approx(sigma_h, rel=1e-6)
        assert r.hp_mm.uncertainty == pytest.approx(sigma_h, rel=1e-6)
        assert r.vka_deg.uncertainty == pytest.approx(math.degrees(2.0 * vertical_mm / 40.0), rel=1e-6)
        assert r.wedge_ratio.uncertainty == pytest.approx(math.sqrt(2.0) * sigma_h / 25.0, rel=1e-6)


def test_uncertainty_of_a_horizontal_height_uses_the_column_spacing() -> None:
    """Vertebra lying on its side (tilt 90 deg): heights run posterior, along image columns,
    so their error is the 0.5 mm column spacing, not the 2.0 mm row spacing."""
    r = measure_vertebra(make_vertebra(tilt_deg=-90.0 + 1e-9, depth=40.0))
    assert r.ha_mm.uncertainty == pytest.approx(math.sqrt(2.0) * 0.5, rel=1e-6)


def test_unknown_pixel_spacing_gives_no_uncertainty_and_a_fitted_plane() -> None:
    r = measure_vertebra(make_vertebra(plane=None, ha=15.0, hp=25.0, tilt_deg=5.0))
    assert r.vka_deg.value == pytest.approx(vka_truth(15.0, 25.0), abs=1e-9)
    assert r.ha_mm.value == pytest.approx(15.0, abs=1e-9)
    assert r.vka_deg.uncertainty is None and r.ha_mm.uncertainty is None
    assert r.plane_source == "fitted"
    assert any("fitted" in n for n in r.notes)
    assert any("pixel spacing" in n for n in r.notes)


def test_fitted_oblique_plane_measures_in_plane() -> None:
    """Landmarks on a plane turned 20 deg about Z, image unknown: the fit recovers it."""
    turn = math.radians(20.0)
    posterior = (-math.sin(turn), math.cos(turn), 0.0)
    pts = vertebra_points(ha=14.0, hm=20.0, hp=24.0, tilt_deg=-6.0, posterior=posterior)
    r = measure_vertebra(make_vertebra(points=pts, plane=None))
    assert r.plane_source == "fitted"
    assert r.vka_deg.value == pytest.approx(vka_truth(14.0, 24.0), abs=1e-9)
    assert r.hm_mm.value == pytest.approx(20.0, abs=1e-9)


def test_collinear_points_without_image_fall_back_to_sagittal() -> None:
    from measure.planes import resolve_plane

    pts = vertebra_points(ha=20.0, hm=20.0, hp=20.0, depth=0.0)  # a vertical segment
    v = make_vertebra(points=pts, plane=None)
    resolved = resolve_plane(v.landmarks, v.planes, list(LANDMARK_KEYS), "L1")
    assert resolved.plane.source == "sagittal"
    assert any("sagittal" in n for n in resolved.notes)
    # ... and such a body (endplates of zero depth) is not measured (issue 14, hole 7).
    r = measure_vertebra(v)
    assert r.hp_mm.value is None and r.genant_grade is None
    assert any("not measured: the superior endplate has zero length" in n for n in r.notes)


# --- plane handling -----------------------------------------------------------------------
def test_parallel_slices_are_projected_onto_one_plane() -> None:
    """Superior points on slice x=12, inferior points on x=15 (another series): heights are
    the in-plane heights (not the 3-D distances, which would include the 3 mm offset)."""
    pts = vertebra_points(ha=15.0, hm=20.0, hp=25.0, tilt_deg=9.0)
    for key in ("inf_ant", "inf_mid", "inf_post"):
        pts[key] = pts[key] + np.array([3.0, 0.0, 0.0])
    other = ImagePlane((0.0, 1.0, 0.0), (0.0, 0.0, -1.0), (2.0, 0.5))
    series_of = {"inf_ant": "9.9", "inf_mid": "9.9", "inf_post": "9.9"}
    r = measure_vertebra(make_vertebra(points=pts, series_of=series_of, extra_planes={"9.9": other}))
    assert r.ha_mm.value == pytest.approx(15.0, abs=1e-9)
    assert r.hp_mm.value == pytest.approx(25.0, abs=1e-9)
    assert r.vka_deg.value == pytest.approx(vka_truth(15.0, 25.0), abs=1e-9)
    assert any("projected" in n and "1.50 mm" in n for n in r.notes)  # mean plane halfway
    assert r.ha_mm.uncertainty is not None


def test_non_parallel_images_are_refused_naming_landmarks_and_angle() -> None:
    tilt = math.radians(5.0)
    oblique = ImagePlane((0.0, 1.0, 0.0), (math.sin(tilt), 0.0, -math.cos(tilt)), (1.0, 1.0))
    series_of = {"inf_post": "7.7"}
    with pytest.raises(ValueError, match=r"L1: landmarks .*sup_ant.* and inf_post .* differ by 5\.0 deg"):
        measure_vertebra(make_vertebra(series_of=series_of, extra_planes={"7.7": oblique}))


def test_a_plane_far_from_sagittal_is_refused() -> None:
    coronal = ImagePlane((1.0, 0.0, 0.0), (0.0, 0.0, -1.0), (1.0, 1.0))
    pts = vertebra_points(posterior=(1.0, 0.0, 0.0))  # drawn left-right, in a coronal plane
    with pytest.raises(ValueError, match="too far from sagittal"):
        measure_vertebra(make_vertebra(points=pts, plane=coronal))


def test_missing_landmarks_give_no_values_and_a_note() -> None:
    v = make_vertebra()
    partial = VertebraInput("L2", "reference", {k: v.landmarks[k] for k in LANDMARK_KEYS[:4]}, v.planes)
    r = measure_vertebra(partial)
    assert r.ha_mm.value is None and r.vka_deg.value is None and not r.measured
    assert r.notes == ("L2: not measured, landmarks inf_mid, inf_post are missing.",)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"level": "L9"}, "unknown vertebral level"),
        ({"status": "broken"}, "status 'broken' is not known"),
    ],
)
def test_bad_vertebra_input_is_refused(kwargs: dict[str, str], message: str) -> None:
    base = {"level": "L1", "status": "fractured", "landmarks": {}}
    with pytest.raises(ValueError, match=message):
        VertebraInput(**{**base, **kwargs})  # type: ignore[arg-type]


def test_crush_ratio_value_and_uncertainty() -> None:
    hp = Measured(18.0, 1.0, "mm")
    ratio = crush_ratio(hp, [Measured(24.0, 2.0, "mm"), Measured(26.0, 2.0, "mm")])
    assert ratio.value == pytest.approx(18.0 / 25.0)
    # d/dHp = 1/25, d/dHp_k = -18 / (2 * 25^2)
    expected = math.sqrt((1.0 / 25.0) ** 2 + 2 * (18.0 * 2.0 / (2 * 25.0**2)) ** 2)
    assert ratio.uncertainty == pytest.approx(expected)
    assert crush_ratio(hp, []).value is None
