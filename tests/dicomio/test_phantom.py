"""The analytic spine phantom: its ground truth agrees with itself and with what it renders."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from dicomio.geometry import StackGeometry
from dicomio.synthetic.phantom import SpinePhantom, default_phantom, level_truth, render, truth
from dicomio.synthetic.phantom_anatomy import BODY_TISSUES, DEFAULT_LEVELS, INTENSITY, LANDMARK_KEYS, Tissue
from dicomio.synthetic.synth import axial_geometry, sagittal_geometry, stack_geometry

ANTERIOR = np.array([0.0, -1.0, 0.0])


def _signed_vka_deg(lm: dict[str, tuple[float, float, float]]) -> float:
    """Test-side VKA: endplate line directions (ant->post) in the sagittal plane; kyphosis
    (lines converging anteriorly) positive, anterior being LPS -Y."""
    sup = np.subtract(lm["sup_post"], lm["sup_ant"])
    inf = np.subtract(lm["inf_post"], lm["inf_ant"])
    # Angle of each line from posterior (+Y) towards superior (+Z).
    a_sup = math.atan2(sup[2], sup[1])
    a_inf = math.atan2(inf[2], inf[1])
    return math.degrees(a_sup - a_inf)


def _point_at_voxel(
    geometry_at_origin: StackGeometry, point: np.ndarray, index: tuple[int, int, int]
) -> np.ndarray:
    """Origin that puts ``point`` exactly at voxel ``(column, row, slice)`` of this orientation."""
    g = geometry_at_origin
    c, r, s = index
    first = g.first
    spacing = g.slice_spacing_mm or 1.0
    return (
        point
        - c * first.pixel_spacing_mm[1] * np.asarray(first.row_cosine)
        - r * first.pixel_spacing_mm[0] * np.asarray(first.col_cosine)
        - s * spacing * g.normal
    )


# -- ground truth ----------------------------------------------------------------------


@pytest.mark.parametrize("timepoint", ["pre", "post"])
def test_truth_heights_and_angle_match_the_landmarks(timepoint: str) -> None:
    ph = default_phantom()
    for level, t in ph.level_truth(timepoint).items():  # type: ignore[arg-type]
        lm = t.landmarks_mm
        assert set(lm) == set(LANDMARK_KEYS)
        # Landmarks lie on the mid-sagittal plane.
        assert all(p[0] == ph.midline_x_mm for p in lm.values())
        ha = float(np.linalg.norm(np.subtract(lm["sup_ant"], lm["inf_ant"])))
        hm = float(np.linalg.norm(np.subtract(lm["sup_mid"], lm["inf_mid"])))
        hp = float(np.linalg.norm(np.subtract(lm["sup_post"], lm["inf_post"])))
        assert t.heights_mm["Ha"] == pytest.approx(ha, abs=1e-9), level
        assert t.heights_mm["Hm"] == pytest.approx(hm, abs=1e-9), level
        assert t.heights_mm["Hp"] == pytest.approx(hp, abs=1e-9), level
        assert t.vka_deg == pytest.approx(_signed_vka_deg(lm), abs=1e-9), level
        # Anatomically plausible: depth 30-40 mm, posterior height 23-28 mm.
        depth = float(np.linalg.norm(np.subtract(lm["sup_post"], lm["sup_ant"])))
        assert 29.0 < depth < 40.0
        assert 23.0 <= t.heights_mm["Hp"] <= 28.0
        # The anterior corners are anterior (LPS -Y) of the posterior ones.
        assert np.dot(np.subtract(lm["sup_ant"], lm["sup_post"]), ANTERIOR) > 25.0


def test_fracture_and_restoration_are_as_specified() -> None:
    pre, post = level_truth("pre"), level_truth("post")
    assert [pre[lv].status for lv in DEFAULT_LEVELS] == ["normal", "normal", "fractured", "normal", "normal"]
    assert post["L1"].status == "augmented"
    # The same L1 unfractured: a phantom whose fracture is elsewhere.
    normal = SpinePhantom(fractured_level="L2").level_truth("pre")["L1"].heights_mm["Ha"]
    lost = normal - pre["L1"].heights_mm["Ha"]
    assert lost / normal == pytest.approx(0.36, abs=1e-9)
    assert 15.0 <= pre["L1"].vka_deg <= 20.0
    # The superior mid-endplate is depressed: Hm well below the linear mean of Ha and Hp.
    assert pre["L1"].heights_mm["Hm"] < (pre["L1"].heights_mm["Ha"] + pre["L1"].heights_mm["Hp"]) / 2 - 4.0
    # Post-op: half of the lost anterior height is back, posterior height unchanged.
    assert post["L1"].heights_mm["Ha"] - pre["L1"].heights_mm["Ha"] == pytest.approx(lost / 2, abs=1e-9)
    assert post["L1"].heights_mm["Hp"] == pre["L1"].heights_mm["Hp"]
    assert 5.0 < pre["L1"].vka_deg - post["L1"].vka_deg < 10.0
    assert post["L1"].cement_volume_mm3 > 0 and pre["L1"].cement_volume_mm3 == 0
    # Normal levels have no edema; L1 has an edema extent in the 25-74 % research grade.
    assert all(pre[lv].edema_fraction == 0.0 for lv in DEFAULT_LEVELS if lv != "L1")
    assert 0.25 <= pre["L1"].edema_fraction <= 0.74
    # Levels below the fracture do not move; those above follow its change of shape.
    assert truth("pre")["L2"] == truth("post")["L2"]
    assert truth("pre")["L1"]["inf_post"] == truth("post")["L1"]["inf_post"]
    assert truth("pre")["T12"]["sup_ant"] != truth("post")["T12"]["sup_ant"]


def test_discs_and_curve_are_plausible() -> None:
    lm = truth("pre")
    levels = list(DEFAULT_LEVELS)
    for upper, lower in itertools.pairwise(levels):
        post_gap = float(np.linalg.norm(np.subtract(lm[upper]["inf_post"], lm[lower]["sup_post"])))
        mid_gap = float(np.linalg.norm(np.subtract(lm[upper]["inf_mid"], lm[lower]["sup_mid"])))
        assert 6.5 <= post_gap <= 11.0, (upper, lower)
        assert 7.0 <= mid_gap <= 14.0, (upper, lower)
    # Gentle curve: the posterior walls stay within a few cm of a vertical line.
    ys = [lm[lv]["sup_post"][1] for lv in levels]
    assert max(ys) - min(ys) < 20.0


def test_edema_stays_inside_the_fractured_body_and_phantom_validates_input() -> None:
    with pytest.raises(ValueError, match="not among the phantom levels"):
        SpinePhantom(fractured_level="L4")
    with pytest.raises(ValueError, match="consecutive"):
        SpinePhantom(levels=("T11", "L1"))
    with pytest.raises(ValueError, match="not modelled"):
        SpinePhantom(levels=("C7", "T1"))
    with pytest.raises(ValueError, match="contrast"):
        render(axial_geometry(1, 2, 2), "PET", "pre")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timepoint"):
        truth("follow-up")  # type: ignore[arg-type]
    other = SpinePhantom(levels=("T12", "L1", "L2"), fractured_level="L2")
    t = other.level_truth("pre")
    assert list(t) == ["T12", "L1", "L2"]
    assert t["L2"].status == "fractured" and t["L1"].status == "normal"


# -- rendering against the truth ---------------------------------------------------------


def test_landmark_voxels_are_endplate_cortex_and_disc_lies_above() -> None:
    ph = default_phantom()
    for tp in ("pre", "post"):
        for level, lm in ph.truth(tp).items():  # type: ignore[arg-type]
            pts = np.array([lm[k] for k in LANDMARK_KEYS])
            tissue, lvl = ph.classify(pts, tp)  # type: ignore[arg-type]
            assert list(tissue) == [Tissue.CORTEX] * 6, (tp, level)
            assert list(lvl) == [DEFAULT_LEVELS.index(level)] * 6
            # 2.5 mm beyond the middle of each endplate (away from the body) is disc.
            up = np.subtract(lm["sup_mid"], lm["inf_mid"])
            up /= np.linalg.norm(up)
            outside = np.array([np.add(lm["sup_mid"], 2.5 * up), np.subtract(lm["inf_mid"], 2.5 * up)])
            assert list(ph.classify(outside, tp)[0]) == [Tissue.DISC] * 2, (tp, level)  # type: ignore[arg-type]
            # 4 mm inside is marrow (cancellous, edema or cement).
            inside = np.array([np.subtract(lm["sup_mid"], 4 * up), np.add(lm["inf_mid"], 4 * up)])
            marrow = {Tissue.CANCELLOUS, Tissue.EDEMA, Tissue.CEMENT}
            assert set(ph.classify(inside, tp)[0].tolist()) <= marrow, (tp, level)  # type: ignore[arg-type]


def _l1_box(ph: SpinePhantom, timepoint: str, spacing_mm: float) -> StackGeometry:
    lm = np.array(list(ph.truth(timepoint)["L1"].values()))  # type: ignore[arg-type]
    lo = lm.min(axis=0) - [24.0, 3.0, 4.0]
    hi = np.add(lm.max(axis=0), [24.0, 3.0, 4.0])
    lo[0] = ph.midline_x_mm - 23.0
    n = np.ceil((hi - lo) / spacing_mm).astype(int) + 1
    # Axial: columns along +X, rows along +Y, slices along +Z.
    return axial_geometry(int(n[2]), int(n[1]), int(n[0]), (spacing_mm, spacing_mm), spacing_mm, lo + 0.013)


@pytest.mark.parametrize("timepoint", ["pre", "post"])
def test_edema_fraction_and_body_volume_match_voxel_counting(timepoint: str) -> None:
    ph = default_phantom()
    spacing = 0.4
    g = _l1_box(ph, timepoint, spacing)
    tissue, level = ph.labels(g, timepoint)  # type: ignore[arg-type]
    l1 = level == DEFAULT_LEVELS.index("L1")
    body = l1 & np.isin(tissue, [int(t) for t in BODY_TISSUES])
    t = ph.level_truth(timepoint)["L1"]  # type: ignore[arg-type]
    voxel_mm3 = spacing**3
    assert body.sum() * voxel_mm3 == pytest.approx(t.body_volume_mm3, rel=0.015)
    # What a reader sees: bright STIR voxels of the body.
    stir = ph.render(g, "STIR", timepoint)  # type: ignore[arg-type]
    bright = body & (stir == INTENSITY["STIR"][Tissue.EDEMA])
    assert bright.sum() / body.sum() == pytest.approx(t.edema_fraction, abs=0.01)
    assert bright.sum() * voxel_mm3 == pytest.approx(t.edema_volume_mm3, rel=0.03)
    cement = body & (tissue == Tissue.CEMENT)
    assert cement.sum() * voxel_mm3 == pytest.approx(t.cement_volume_mm3, rel=0.05, abs=1.0)
    if timepoint == "post":
        ct = ph.render(g, "CT", timepoint)  # type: ignore[arg-type]
        assert np.count_nonzero(ct == 1500.0) == cement.sum() > 0


def test_normal_body_volume_matches_voxel_counting() -> None:
    ph = default_phantom()
    lm = np.array(list(ph.truth("pre")["L3"].values()))
    lo = lm.min(axis=0) - [25.0, 3.0, 4.0]
    lo[0] = ph.midline_x_mm - 25.0
    hi = np.add(lm.max(axis=0), [25.0, 3.0, 4.0])
    n = np.ceil((hi - lo) / 0.5).astype(int) + 1
    g = axial_geometry(int(n[2]), int(n[1]), int(n[0]), (0.5, 0.5), 0.5, lo + 0.021)
    tissue, level = ph.labels(g, "pre")
    body = (level == DEFAULT_LEVELS.index("L3")) & np.isin(tissue, [int(t) for t in BODY_TISSUES])
    assert body.sum() * 0.125 == pytest.approx(ph.level_truth("pre")["L3"].body_volume_mm3, rel=0.015)


def test_sagittal_and_axial_renderings_agree_at_shared_points() -> None:
    """The same anatomy sampled on two orientations gives the same value at the same LPS point."""
    ph = default_phantom()
    step = 0.9
    x0, y0, z0 = ph.midline_x_mm + 0.0131, -20.0137, -470.0071
    nx, ny, nz = 27, 110, 190
    # Sagittal: slice k at x0 + (nx-1-k)*step ... standard IOP has normal -X, so start at the +X end.
    sag = sagittal_geometry(nx, nz, ny, (step, step), step, (x0 + (nx - 1) * step, y0, z0 + (nz - 1) * step))
    ax = axial_geometry(nz, ny, nx, (step, step), step, (x0, y0, z0))
    for contrast in ("CT", "STIR"):
        a = render(ax, contrast, "pre")  # type: ignore[arg-type]
        s = render(sag, contrast, "pre")  # type: ignore[arg-type]
        # Map every axial voxel centre into the sagittal stack (indices must be integers).
        kk, rr, cc = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
        pts = ax.index_to_lps(cc, rr, kk)
        col, row, sl = sag.lps_to_index(pts)
        ci, ri, si = (np.rint(v).astype(int) for v in (col, row, sl))
        assert (
            np.abs(col - ci).max() < 1e-6 and np.abs(row - ri).max() < 1e-6 and np.abs(sl - si).max() < 1e-6
        )
        s_at = s[si, ri, ci]
        agree = np.mean(s_at == a)
        assert agree > 0.9999, (contrast, agree)
        # Not a vacuous comparison: the shared points cover the anatomy.
        values = set(np.unique(a).tolist())
        wanted = {INTENSITY[contrast][t] for t in (Tissue.CORTEX, Tissue.DISC, Tissue.CSF, Tissue.SOFT)}
        assert wanted <= values
    assert np.count_nonzero(a == INTENSITY["STIR"][Tissue.EDEMA]) > 1000


@pytest.mark.parametrize(
    ("variant", "kwargs"),
    [
        ("unequal pixel spacing", {"pixel_spacing_mm": (0.55, 0.9)}),
        ("anterior on the right", {"anterior_on_right": True, "pixel_spacing_mm": (0.7, 0.6)}),
        ("feet first", {"feet_first": True}),
        ("oblique", {"oblique_deg": 9.0, "pixel_spacing_mm": (0.8, 0.65)}),
    ],
)
def test_awkward_geometries_put_the_landmark_at_the_expected_pixel(variant: str, kwargs: dict) -> None:
    ph = default_phantom()
    spacing = 2.5
    shape = (9, 120, 110)
    index = (47, 61, 4)  # (column, row, slice) where sup_ant of L1 must land
    kwargs = {"pixel_spacing_mm": (0.75, 0.75), **kwargs}
    probe = sagittal_geometry(shape[0], shape[1], shape[2], slice_spacing_mm=spacing, **kwargs)
    sup_ant = np.array(ph.truth("pre")["L1"]["sup_ant"])
    origin = _point_at_voxel(probe, sup_ant, index)
    g = sagittal_geometry(shape[0], shape[1], shape[2], slice_spacing_mm=spacing, origin_mm=origin, **kwargs)
    col, row, sl = g.lps_to_index(sup_ant)
    np.testing.assert_allclose([col, row, sl], index, atol=1e-9)
    ct = ph.render(g, "CT", "pre")
    c, r, s = index
    assert ct[s, r, c] == INTENSITY["CT"][Tissue.CORTEX], variant

    # Anterior is found from the geometry, not from the screen: 5 mm anterior of the
    # anterior corner is outside the body, 4 mm posterior and 4 mm inferior is marrow.
    def value_at(point: np.ndarray) -> float:
        cc, rr, ss = (int(np.rint(v)) for v in g.lps_to_index(point))
        assert ss == s  # the offsets stay in the plane of a non-oblique stack's slice
        return float(ct[ss, rr, cc])

    if not kwargs.get("oblique_deg"):
        assert value_at(sup_ant + 5.0 * ANTERIOR) in (
            INTENSITY["CT"][Tissue.SOFT],
            INTENSITY["CT"][Tissue.DISC],
        )
        assert value_at(sup_ant - 4.0 * ANTERIOR + [0, 0, -4.0]) == INTENSITY["CT"][Tissue.CANCELLOUS]
        anterior_col = g.lps_to_index(sup_ant + 5.0 * ANTERIOR)[0]
        expected_side = "right" if kwargs.get("anterior_on_right") else "left"
        assert g.first.anterior == expected_side
        assert (anterior_col > c) == (expected_side == "right")


def test_renders_on_a_gantry_like_stack_with_uneven_spacing() -> None:
    """Uneven slice offsets: each slice is sampled at its own plane (values match classify)."""
    ph = default_phantom()
    lm = np.array(ph.truth("pre")["L1"]["sup_mid"])
    offsets = [0.0, 1.0, 3.5, 4.0, 9.0]
    g = stack_geometry(lm - [0, 30, -30], [0, 1, 0], [0, 0, -1], 80, 70, (0.8, 0.9), offsets)
    vol = ph.render(g, "T1", "pre")
    k, r, c = 2, 33, 41
    expected = INTENSITY["T1"][Tissue(int(ph.classify(g.index_to_lps(c, r, k), "pre")[0][0]))]
    assert vol[k, r, c] == expected


def test_noise_is_reproducible_and_has_the_requested_sd() -> None:
    g = sagittal_geometry(1, 64, 64, (1.0, 1.0), 1.0, (-3.0, -60.0, -330.0))
    a = render(g, "CT", "pre", noise_sd=20.0, seed=3)
    b = render(g, "CT", "pre", noise_sd=20.0, seed=3)
    clean = render(g, "CT", "pre")
    np.testing.assert_array_equal(a, b)
    assert np.std(a - clean) == pytest.approx(20.0, rel=0.05)
    smooth = render(g, "CT", "pre", supersample=3)
    assert smooth.shape == clean.shape and len(np.unique(smooth)) > len(np.unique(clean))
