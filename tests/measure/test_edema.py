"""STIR marrow edema: analytic phantoms with exact ground truth.

The phantom is five box-shaped vertebral bodies (T11-L3, 40 mm A-P and L-R, 25 mm tall,
8 mm discs) evaluated at every voxel centre of the given geometry, so the same anatomy can
be sampled by series with any orientation and pixel spacing.  STIR values: normal marrow
100, edema 250, disc (fluid) 300, background 20.  T1 values: normal marrow 300 (fat),
edema 120, disc 150, background 20.  Every body has its six landmarks on the endplate
corners and mid-points in the plane x = 0.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest

import main
from dicomio.geometry import StackGeometry
from dicomio.model import FrameRef, PixelFormat, SeriesStack
from dicomio.pixels import load_volume
from dicomio.scan import scan_paths
from dicomio.synthetic import phantom as spine_phantom
from dicomio.synthetic.phantom_anatomy import INTENSITY, Tissue
from dicomio.synthetic.synth import SeriesSpec, axial_geometry, sagittal_geometry, write_series
from measure.case import Case, SeriesRef, StirDecision, Timepoint
from measure.casefile import save_case
from measure.edema import (
    NO_STIR_MESSAGE,
    BodyInput,
    StirResult,
    analyse_case_timepoint,
    analyse_edema,
    bright_mask_for_slice,
)
from measure.edema_config import EdemaConfig, extent_grade
from measure.landmarks import LANDMARK_KEYS, Landmark
from measure.results_json import stir_json

LEVELS = ("T11", "T12", "L1", "L2", "L3")
BODY_HEIGHT_MM = 25.0
DISC_MM = 8.0
HALF_AP_MM = 20.0
HALF_LR_MM = 20.0
CONTRAST = {
    "STIR": {"normal": 100.0, "edema": 250.0, "disc": 300.0, "background": 20.0},
    "T1": {"normal": 300.0, "edema": 120.0, "disc": 150.0, "background": 20.0},
}
WHOLE = "whole"
MARGIN_MM = 2.0
ROI_HEIGHT_MM = BODY_HEIGHT_MM - 2 * MARGIN_MM  # 21 mm

# The landmark series (a T1): unequal pixel spacing, anterior on the screen left.
T1_GEOMETRY = sagittal_geometry(9, 190, 86, (0.9, 0.7), 3.0, origin_mm=(12.0, -30.0, 110.0))
# A STIR with another spacing, anterior on the right, slices not aligned with the T1's.
OTHER_STIR_GEOMETRY = sagittal_geometry(
    7, 140, 60, (1.25, 0.8), 4.0, origin_mm=(-13.0, 22.0, 112.0), anterior_on_right=True
)


def sup_z(level: str) -> float:
    return 100.0 - LEVELS.index(level) * (BODY_HEIGHT_MM + DISC_MM)


def landmark_points(level: str) -> dict[str, tuple[float, float, float]]:
    top, bottom = sup_z(level), sup_z(level) - BODY_HEIGHT_MM
    a, p = -HALF_AP_MM, HALF_AP_MM  # LPS: anterior is -Y
    return {
        "sup_ant": (0.0, a, top),
        "sup_mid": (0.0, 0.0, top),
        "sup_post": (0.0, p, top),
        "inf_ant": (0.0, a, bottom),
        "inf_mid": (0.0, 0.0, bottom),
        "inf_post": (0.0, p, bottom),
    }


def bodies(statuses: Mapping[str, str] | None = None) -> dict[str, BodyInput]:
    statuses = statuses or {}
    return {lvl: BodyInput(landmark_points(lvl), statuses.get(lvl, "unknown")) for lvl in LEVELS}


def voxel_lps(geometry: StackGeometry) -> np.ndarray:
    s, r, c = geometry.shape
    S, R, C = np.meshgrid(np.arange(s), np.arange(r), np.arange(c), indexing="ij")
    return geometry.index_to_lps(C, R, S)


def in_edema(level: str, edema: object, z: np.ndarray) -> np.ndarray:
    """Edema of one body along z: the whole body, or a band under the superior endplate."""
    if edema == WHOLE:
        return np.ones(np.shape(z), dtype=bool)
    if isinstance(edema, float):
        return z > sup_z(level) - edema
    return np.zeros(np.shape(z), dtype=bool)


def phantom(
    geometry: StackGeometry,
    edema: Mapping[str, object] | None = None,
    contrast: str = "STIR",
    noise_sd: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """Voxel values of the phantom sampled by ``geometry`` (slices, rows, columns)."""
    edema = edema or {}
    values = CONTRAST[contrast]
    p = voxel_lps(geometry)
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    vol = np.full(geometry.shape, values["background"])
    column = (np.abs(x) <= HALF_LR_MM) & (np.abs(y) <= HALF_AP_MM)
    for lvl in LEVELS:
        top, bottom = sup_z(lvl), sup_z(lvl) - BODY_HEIGHT_MM
        body = column & (z <= top) & (z >= bottom)
        vol[body] = values["normal"]
        vol[body & in_edema(lvl, edema.get(lvl), z)] = values["edema"]
        vol[column & (z < bottom) & (z > bottom - DISC_MM)] = values["disc"]
    if noise_sd:
        vol = vol + np.random.default_rng(seed).normal(0.0, noise_sd, vol.shape)
    return vol


def roi_lps(result: StirResult, geometry: StackGeometry) -> np.ndarray:
    """LPS centres of every ROI voxel of a result, (N, 3)."""
    chunks = []
    for m in result.masks:
        rows, cols = np.nonzero(m.roi)
        chunks.append(geometry.index_to_lps(cols + m.col0, rows + m.row0, np.full(len(rows), m.slice_index)))
    return np.concatenate(chunks)


def true_fraction(result: StirResult, geometry: StackGeometry, edema: object) -> float:
    """Ground truth: the fraction of the ROI voxel centres that lie in the edema."""
    z = roi_lps(result, geometry)[:, 2]
    return float(np.mean(in_edema(result.level, edema, z)))


def run(
    edema: Mapping[str, object] | None = None,
    geometry: StackGeometry = T1_GEOMETRY,
    statuses: Mapping[str, str] | None = None,
    config: EdemaConfig | None = None,
    noise_sd: float = 0.0,
    seed: int = 0,
    with_t1: bool = False,
):
    vol = phantom(geometry, edema, noise_sd=noise_sd, seed=seed)
    t1 = (phantom(T1_GEOMETRY, edema, "T1"), T1_GEOMETRY) if with_t1 else None
    return analyse_edema(vol, geometry, bodies(statuses), config or EdemaConfig(), t1=t1)


# -- the ROI ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "geometry", [T1_GEOMETRY, OTHER_STIR_GEOMETRY], ids=["0.9x0.7", "1.25x0.8-ant-right"]
)
def test_roi_is_the_body_shrunk_by_the_margin_within_the_slab(geometry: StackGeometry) -> None:
    report = run(geometry=geometry)
    spacing_row, spacing_col = geometry.first.pixel_spacing_mm
    for lvl in LEVELS:
        r = report.bodies[lvl]
        assert r.status == "ok"
        p = roi_lps(r, geometry)
        # Every ROI voxel centre is inside the body, at least 2 mm from its outline ...
        assert np.all(np.abs(p[:, 1]) <= HALF_AP_MM - MARGIN_MM + 1e-9)
        assert np.all(p[:, 2] <= sup_z(lvl) - MARGIN_MM + 1e-9)
        assert np.all(p[:, 2] >= sup_z(lvl) - BODY_HEIGHT_MM + MARGIN_MM - 1e-9)
        # ... on slices within 5 mm of the landmark plane x = 0.
        assert np.all(np.abs(p[:, 0]) <= 5.0 + 1e-9)
        slab_slices = [k for k, off in enumerate(geometry.slice_offsets_mm) if abs(off) <= 5.0 + 1e-9]
        assert r.slice_indices == tuple(slab_slices)
        # ... and it fills the shrunk outline: 36 mm x 21 mm per slice, within one pixel row/column.
        per_slice = r.n_voxels / len(slab_slices)
        expected = (2 * (HALF_AP_MM - MARGIN_MM)) * ROI_HEIGHT_MM / (spacing_row * spacing_col)
        low = (2 * (HALF_AP_MM - MARGIN_MM) - spacing_col) * (ROI_HEIGHT_MM - spacing_row)
        high = (2 * (HALF_AP_MM - MARGIN_MM) + spacing_col) * (ROI_HEIGHT_MM + spacing_row)
        assert low / (spacing_row * spacing_col) <= per_slice <= high / (spacing_row * spacing_col), expected


def test_margin_keeps_the_fluid_bright_discs_out() -> None:
    """Endplate landmarks placed 1.5 mm into the discs: the 2 mm margin still keeps the disc out."""
    vol = phantom(T1_GEOMETRY)
    sloppy = {}
    for lvl in LEVELS:
        pts = {
            k: (x, y, z + (1.5 if k.startswith("sup") else -1.5))
            for k, (x, y, z) in landmark_points(lvl).items()
        }
        sloppy[lvl] = BodyInput(pts)
    with_margin = analyse_edema(vol, T1_GEOMETRY, sloppy, EdemaConfig()).bodies["L2"]
    assert with_margin.p90 == pytest.approx(100.0) and with_margin.extent_grade == 0
    without = analyse_edema(vol, T1_GEOMETRY, sloppy, EdemaConfig(margin_mm=0.0)).bodies["L2"]
    assert without.p90 == pytest.approx(300.0)  # disc voxels in the ROI
    assert without.extent_grade == 1


# -- the decisions --------------------------------------------------------------------------------


def test_no_edema_gives_grade_0_and_no_flag() -> None:
    report = run()
    for lvl, r in report.bodies.items():
        assert (r.status, r.flag, r.extent_grade) == ("ok", False, 0), lvl
        assert r.sir == pytest.approx(1.0)
        assert r.edema_fraction == 0.0
        assert (r.mean, r.median, r.p90) == (pytest.approx(100.0),) * 3
        assert r.reference_levels == tuple(x for x in LEVELS if x != lvl)
        assert r.reference_median == pytest.approx(100.0)
        assert "No validated cut-off" in r.message
    assert report.flagged_levels() == []


def test_whole_body_edema_gives_grade_3_and_the_flag() -> None:
    report = run({"L1": WHOLE})
    l1 = report.bodies["L1"]
    assert (l1.flag, l1.extent_grade) == (True, 3)
    assert l1.sir == pytest.approx(2.5)
    assert l1.edema_fraction == 1.0
    assert (l1.mean, l1.median, l1.p90) == (pytest.approx(250.0),) * 3
    assert "edema: recent fracture likely" in l1.message
    assert "SIR 2.50 >= 1.3" in l1.message and "No validated cut-off" in l1.message
    assert report.flagged_levels() == ["L1"]
    for lvl in ("T11", "T12", "L2", "L3"):
        # L1 is among their "other bodies", but the median of four ignores it.
        r = report.bodies[lvl]
        assert (r.flag, r.extent_grade, r.edema_fraction) == (False, 0, 0.0)
        assert r.sir == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("band_mm", "design_fraction", "grade", "flag"),
    [
        (10.4, 0.40, 2, True),  # (10.4 - 2) / 21 = 40 % of the ROI
        (6.2, 0.20, 1, True),  # 20 %: above the 10 % flag threshold
        (3.5, 1.5 / 21, 1, False),  # 7 %: above the 1 % noise floor, below the 10 % threshold
    ],
)
def test_band_edema_under_the_endplate(
    band_mm: float, design_fraction: float, grade: int, flag: bool
) -> None:
    report = run({"L1": band_mm})
    l1 = report.bodies["L1"]
    truth = true_fraction(l1, T1_GEOMETRY, band_mm)
    assert truth == pytest.approx(design_fraction, abs=0.9 / ROI_HEIGHT_MM)  # one 0.9 mm row
    assert l1.edema_fraction == pytest.approx(truth, abs=1e-12)
    assert (l1.extent_grade, l1.flag) == (grade, flag)
    # Less than half of the body is bright: the median (hence the SIR) does not move.
    # That is why the fraction, not only the ratio, can raise the flag.
    assert l1.sir == pytest.approx(1.0)
    assert l1.p90 == pytest.approx(250.0 if design_fraction > 0.1 else 100.0)
    assert l1.flag_reasons[0] == "SIR 1.00 < 1.3"
    assert l1.flag_reasons[1].startswith(f"bright fraction {100 * l1.edema_fraction:.1f}% ")
    assert report.flagged_levels() == (["L1"] if flag else [])


def test_flag_rule_both_needs_the_ratio_too() -> None:
    band = run({"L1": 10.4}, config=EdemaConfig(flag_rule="both")).bodies["L1"]
    assert (band.extent_grade, band.flag) == (2, False)
    whole = run({"L1": WHOLE}, config=EdemaConfig(flag_rule="both")).bodies["L1"]
    assert whole.flag is True
    only_sir = run({"L1": 10.4}, config=EdemaConfig(flag_rule="sir")).bodies["L1"]
    assert only_sir.flag is False
    lower = run({"L1": 3.5}, config=EdemaConfig(fraction_threshold=0.05)).bodies["L1"]
    assert lower.flag is True


def test_edema_in_a_body_marked_as_reference() -> None:
    """The reader picked T12 as reference, but T12 is edematous too (two recent fractures)."""
    report = run({"T12": WHOLE, "L1": 10.4}, statuses={"T12": "reference"})
    t12, l1 = report.bodies["T12"], report.bodies["L1"]
    # The robust rule still flags the fractured L1 (against the median of the others) ...
    assert (l1.flag, l1.extent_grade) == (True, 2)
    assert l1.sir == pytest.approx(1.0)
    assert l1.reference_median == pytest.approx(100.0)
    assert l1.reference_levels == ("T11", "T12", "L2", "L3")
    # ... and T12's own numbers say it is edematous, so it was not used as reference.
    assert t12.is_reference and t12.reference_rejected
    assert (t12.flag, t12.extent_grade) == (True, 3)
    assert t12.sir == pytest.approx(2.5)
    assert "marked as reference but is bright" in t12.message
    assert any("T12" in note for note in report.notes)


def test_a_second_reference_takes_over_from_an_edematous_one() -> None:
    report = run({"T12": WHOLE, "L1": WHOLE}, statuses={"T12": "reference", "L2": "reference"})
    assert report.bodies["L1"].reference_levels == ("L2",)
    assert report.bodies["L1"].sir == pytest.approx(2.5)
    assert report.bodies["T12"].reference_rejected
    assert report.bodies["L2"].reference_levels == ("T11", "T12", "L1", "L3")  # no other valid reference


def test_normal_reference_bodies_are_the_baseline() -> None:
    report = run({"L1": WHOLE}, statuses={"T11": "reference", "L3": "reference"})
    assert report.bodies["L1"].reference_levels == ("T11", "L3")
    assert report.bodies["T11"].reference_levels == ("L3",)
    assert not report.bodies["T11"].reference_rejected
    assert report.bodies["L1"].flag is True and report.bodies["T11"].flag is False


@pytest.mark.parametrize(
    ("edema", "grade", "flag"),
    [
        ({}, 0, False),
        ({"L1": WHOLE}, 3, True),
        ({"L1": 10.4}, 2, True),
        ({"L1": 6.2}, 1, True),
        ({"L1": 3.5}, 1, False),
    ],
)
@pytest.mark.parametrize("seed", [1, 2])
def test_noise_of_10_percent_gives_the_same_decisions(edema: dict, grade: int, flag: bool, seed: int) -> None:
    clean = run(edema).bodies
    noisy = run(edema, noise_sd=10.0, seed=seed).bodies
    for lvl in LEVELS:
        expected = (grade, flag) if lvl == "L1" else (0, False)
        assert (noisy[lvl].extent_grade, noisy[lvl].flag) == expected, lvl
        # 3 robust SDs: about 0.13 % of normal voxels pass by chance.
        assert noisy[lvl].edema_fraction == pytest.approx(clean[lvl].edema_fraction, abs=0.006)
        # With noise, a band (fraction f < 1/2) moves the median to the 0.5 / (1 - f) quantile
        # of the normal voxels: 100 + 10 * z(0.5 / (1 - f)).
        f = clean[lvl].edema_fraction
        expected_sir = 2.5 if f == 1.0 else (100.0 + 10.0 * NormalDist().inv_cdf(0.5 / (1.0 - f))) / 100.0
        assert noisy[lvl].sir == pytest.approx(expected_sir, abs=0.015)
        if lvl != "L1":
            assert noisy[lvl].spread == pytest.approx(10.0, abs=0.6)


@pytest.mark.parametrize(
    ("edema", "grade", "flag"), [({"L1": WHOLE}, 3, True), ({"L1": 10.4}, 2, True), ({}, 0, False)]
)
def test_stir_with_another_pixel_spacing_than_the_landmark_series(
    edema: dict, grade: int, flag: bool
) -> None:
    """Landmarks placed on the T1 (0.9 x 0.7 mm); the STIR has 1.25 x 0.8 mm, anterior on the right."""
    here = run(edema).bodies
    there = run(edema, geometry=OTHER_STIR_GEOMETRY).bodies
    for lvl in LEVELS:
        assert (there[lvl].extent_grade, there[lvl].flag) == (here[lvl].extent_grade, here[lvl].flag)
        assert there[lvl].sir == pytest.approx(here[lvl].sir, abs=0.01)
        assert there[lvl].edema_fraction == pytest.approx(here[lvl].edema_fraction, abs=1.25 / ROI_HEIGHT_MM)
    assert (there["L1"].extent_grade, there["L1"].flag) == (grade, flag)
    if edema.get("L1") == 10.4:
        truth = true_fraction(there["L1"], OTHER_STIR_GEOMETRY, 10.4)
        assert there["L1"].edema_fraction == pytest.approx(truth, abs=1e-12)


def test_oblique_stir_stays_within_tolerance() -> None:
    oblique = sagittal_geometry(9, 190, 86, (1.0, 0.8), 3.0, origin_mm=(12.0, -30.0, 110.0), oblique_deg=8.0)
    here = run({"L1": 10.4}).bodies["L1"]
    there = run({"L1": 10.4}, geometry=oblique).bodies["L1"]
    assert (there.extent_grade, there.flag) == (2, True)
    # 8 deg tilt and 1.0 mm rows: the ROI differs from the T1's by about one row (1 / 21 mm).
    assert there.edema_fraction == pytest.approx(here.edema_fraction, abs=0.06)
    assert there.edema_fraction == pytest.approx(true_fraction(there, oblique, 10.4), abs=1e-12)


def test_t1_ratio_supports_the_flag() -> None:
    report = run({"L1": WHOLE}, with_t1=True)
    assert report.t1_used
    assert report.bodies["L1"].t1_ratio == pytest.approx(120.0 / 300.0)
    assert report.bodies["L2"].t1_ratio == pytest.approx(1.0)
    assert "T1 ratio 0.40 (dark on T1, supports edema)" in report.bodies["L1"].message
    assert stir_json(report.bodies["L1"])["t1_ratio"] == pytest.approx(0.4)
    assert "t1_ratio" not in stir_json(run({"L1": WHOLE}).bodies["L1"])


# -- refusals and partial input -------------------------------------------------------------------


def test_landmarks_from_another_frame_of_reference_are_refused() -> None:
    vol = phantom(T1_GEOMETRY)
    moved = {lvl: replace(b, frame_of_reference_uid="1.2.3.4") for lvl, b in bodies().items()}
    with pytest.raises(ValueError, match=r"frame of reference 1\.2\.3\.4, the STIR series is in 1\.2\.3\.5"):
        analyse_edema(vol, T1_GEOMETRY, moved, EdemaConfig(), frame_of_reference_uid="1.2.3.5")
    same = analyse_edema(vol, T1_GEOMETRY, moved, EdemaConfig(), frame_of_reference_uid="1.2.3.4")
    assert same.bodies["L1"].status == "ok"


def test_volume_must_match_its_geometry() -> None:
    with pytest.raises(ValueError, match=r"shape \(9, 190, 85\).*\(9, 190, 86\)"):
        analyse_edema(np.zeros((9, 190, 85)), T1_GEOMETRY, bodies(), EdemaConfig())


def test_axial_stir_is_refused_per_body() -> None:
    axial = axial_geometry(40, 60, 60, (1.0, 1.0), 4.0, origin_mm=(-30.0, -30.0, -60.0))
    report = run(geometry=axial)
    assert {r.status for r in report.bodies.values()} == {"plane-mismatch"}
    assert all(r.flag is None for r in report.bodies.values())
    assert "90 deg from the plane of the landmarks" in report.bodies["L1"].message


def test_body_outside_the_stir_slab() -> None:
    lateral = sagittal_geometry(3, 190, 86, (0.9, 0.7), 3.0, origin_mm=(40.0, -30.0, 110.0))
    report = run(geometry=lateral)
    assert report.bodies["L1"].status == "outside"
    assert report.bodies["L1"].flag is None
    assert "no STIR slice lies within 5 mm" in report.bodies["L1"].message


def test_incomplete_landmarks_and_a_lonely_body() -> None:
    vol = phantom(T1_GEOMETRY, {"L1": WHOLE})
    partial = bodies()
    partial["L2"] = BodyInput({k: v for k, v in landmark_points("L2").items() if k != "inf_mid"})
    report = analyse_edema(vol, T1_GEOMETRY, partial, EdemaConfig())
    assert report.bodies["L2"].status == "not-measured"
    assert report.bodies["L1"].reference_levels == ("T11", "T12", "L3")
    lonely = analyse_edema(vol, T1_GEOMETRY, {"L1": bodies()["L1"]}, EdemaConfig())
    assert lonely.bodies["L1"].status == "no-reference"
    assert lonely.bodies["L1"].flag is None and lonely.bodies["L1"].median == pytest.approx(250.0)
    pair = analyse_edema(vol, T1_GEOMETRY, {k: bodies()[k] for k in ("L1", "L2")}, EdemaConfig())
    assert pair.bodies["L1"].flag is True
    assert "Fewer than four bodies" in pair.bodies["L1"].message


def test_too_few_voxels() -> None:
    report = run(config=EdemaConfig(margin_mm=13.0))
    assert {r.status for r in report.bodies.values()} == {"outside"}
    report = run(config=EdemaConfig(margin_mm=9.0, min_voxels=10_000))
    assert report.bodies["L1"].status == "too-small"
    assert "at least 10000 are needed" in report.bodies["L1"].message


# -- config --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fraction", "grade"),
    [(0.0, 0), (0.0099, 0), (0.01, 1), (0.2499, 1), (0.25, 2), (0.7499, 2), (0.75, 3), (1.0, 3)],
)
def test_extent_grade_bands(fraction: float, grade: int) -> None:
    assert extent_grade(fraction) == grade


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"margin_mm": -1.0}, "margin_mm is -1.0"),
        ({"fraction_threshold": 1.5}, "fraction_threshold is 1.5"),
        ({"flag_rule": "any"}, "flag_rule is 'any'"),
        ({"noise_floor_fraction": 0.3}, "noise_floor_fraction"),
    ],
)
def test_config_rejects_nonsense(kwargs: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        EdemaConfig(**kwargs)


def test_config_as_dict_round_trips() -> None:
    cfg = EdemaConfig(sir_threshold=1.5, flag_rule="both")
    assert EdemaConfig(**cfg.as_dict()) == cfg  # type: ignore[arg-type]


# -- masks for the app ---------------------------------------------------------------------------


def test_bright_mask_for_slice_is_the_edema_band_inside_the_roi() -> None:
    report = run({"L1": 10.4})
    l1 = report.bodies["L1"]
    k = l1.slice_indices[1]
    mask = bright_mask_for_slice(report, "L1", k)
    roi = l1.roi_mask(k)
    assert mask.shape == (190, 86) and mask.dtype == bool
    rows, cols = np.mgrid[0:190, 0:86]
    z = T1_GEOMETRY.index_to_lps(cols, rows, np.full(rows.shape, k))[..., 2]
    np.testing.assert_array_equal(mask, roi & (z > sup_z("L1") - 10.4))
    assert mask.sum() > 0
    assert not bright_mask_for_slice(report, "L1", 0).any()  # outside the slab
    assert not bright_mask_for_slice(report.bodies, "L2", k).any()
    with pytest.raises(KeyError, match="S1"):
        bright_mask_for_slice(report, "S1", k)


# -- the case glue -------------------------------------------------------------------------------

STUDY = "1.2.826.0.1.3680043.8.498.1"
FOR = "1.2.826.0.1.3680043.8.498.2"


def make_stack(
    geometry: StackGeometry, sequence: str, series_uid: str, frame_uid: str | None = FOR
) -> SeriesStack:
    frames = [
        FrameRef(path=Path(f"{series_uid}-{k}.dcm"), sop_instance_uid=f"{series_uid}.{k}", geometry=g)
        for k, g in enumerate(geometry.slices)
    ]
    fmt = PixelFormat(16, 16, 0, "MONOCHROME2", 1, "1.2.840.10008.1.2.1")
    return SeriesStack(
        study_uid=STUDY,
        series_uid=series_uid,
        frame_of_reference_uid=frame_uid,
        modality="MR",
        description=f"{sequence} sag",
        frames=frames,
        geometry=geometry,
        pixel_format=fmt,
        sequence=sequence,  # type: ignore[arg-type]
    )


def make_case(landmark_series: str = "t1", statuses: Mapping[str, str] | None = None) -> Case:
    case = Case("edema-test")
    case.add_timepoint(Timepoint("pre", "pre-op", "2026-03-01"))
    case.assign_series(SeriesRef(landmark_series, "pre", "mr/t1", sequence="T1"))
    statuses = statuses or {}
    for lvl in LEVELS:
        lms = {k: Landmark(v, landmark_series) for k, v in landmark_points(lvl).items()}
        case.add_vertebra("pre", lvl, statuses.get(lvl, "unknown"), lms)
    return case


class Loader:
    """load_volume stand-in: the phantom voxels of each series, and which were asked for."""

    def __init__(self, volumes: Mapping[str, np.ndarray]) -> None:
        self.volumes = dict(volumes)
        self.loaded: list[str] = []

    def __call__(self, stack: SeriesStack) -> np.ndarray:
        self.loaded.append(stack.series_uid)
        return self.volumes[stack.series_uid]


def test_case_timepoint_with_stir_and_t1() -> None:
    case = make_case(statuses={"T12": "reference", "L2": "reference", "L1": "fractured"})
    case.set_stir_decision("pre", "L1", StirDecision("confirmed", "band under the superior endplate"))
    case.set_stir_decision("pre", "L3", StirDecision("overridden-recent", "old fracture? no: fresh"))
    stacks = [
        make_stack(T1_GEOMETRY, "T1", "t1"),
        make_stack(OTHER_STIR_GEOMETRY, "STIR", "stir"),
        make_stack(T1_GEOMETRY, "T2", "t2"),
    ]
    loader = Loader(
        {
            "t1": phantom(T1_GEOMETRY, {"L1": WHOLE}, "T1"),
            "stir": phantom(OTHER_STIR_GEOMETRY, {"L1": WHOLE}),
        }
    )
    results = analyse_case_timepoint(case, "pre", stacks, load_volume=loader)
    assert sorted(loader.loaded) == ["stir", "t1"]
    assert list(results) == list(LEVELS)
    l1 = stir_json(results["L1"])
    assert l1["flag"] is True and l1["extent_grade"] == 3 and l1["status"] == "ok"
    assert l1["sir"] == pytest.approx(2.5) and l1["edema_fraction"] == 1.0
    assert l1["t1_ratio"] == pytest.approx(0.4)
    assert l1["reader_decision"] == {"decision": "confirmed", "note": "band under the superior endplate"}
    assert l1["recent"] is True
    assert l1["reference_levels"] == ["T12", "L2"]
    assert set(l1) >= {
        "sir",
        "edema_fraction",
        "extent_grade",
        "flag",
        "reader_decision",
        "t1_ratio",
        "status",
        "message",
        "mean",
        "median",
        "p90",
        "n_voxels",
    }
    l3 = results["L3"]
    assert l3.reader_decision is not None
    assert (l3.flag, l3.recent, l3.reader_decision.decision) == (False, True, "overridden-recent")
    assert results["L1"].stir_series_uid == "stir" and results["L1"].t1_series_uid == "t1"
    assert bright_mask_for_slice(results, "L1", results["L1"].slice_indices[0]).any()


def test_case_timepoint_without_stir_says_recency_unknown() -> None:
    case = make_case()
    case.set_stir_decision("pre", "L1", StirDecision("overridden-recent", "edema on the outside CT report"))
    stacks = [make_stack(T1_GEOMETRY, "T1", "t1"), make_stack(T1_GEOMETRY, "T2", "t2")]
    loader = Loader({})
    results = analyse_case_timepoint(case, "pre", stacks, load_volume=loader)
    assert loader.loaded == []  # nothing to read
    for lvl, r in results.items():
        d = stir_json(r)
        assert (d["status"], d["flag"], d["sir"], d["extent_grade"]) == ("no-stir", None, None, None)
        assert d["message"] == f"{lvl}: {NO_STIR_MESSAGE}."
        assert "recency unknown: no STIR series" in d["message"]
        assert "t1_ratio" not in d
    assert results["L1"].recent is True and results["L2"].recent is None


def test_case_timepoint_ignores_a_stir_of_another_timepoint() -> None:
    case = make_case()
    case.add_timepoint(Timepoint("fu", "follow-up", "2026-09-01"))
    case.assign_series(SeriesRef("stir-fu", "fu", "mr/fu-stir", sequence="STIR"))
    stacks = [make_stack(T1_GEOMETRY, "T1", "t1"), make_stack(T1_GEOMETRY, "STIR", "stir-fu")]
    results = analyse_case_timepoint(case, "pre", stacks, load_volume=Loader({}))
    assert {r.status for r in results.values()} == {"no-stir"}


def test_case_timepoint_refuses_a_stir_in_another_frame_of_reference() -> None:
    case = make_case()
    stacks = [make_stack(T1_GEOMETRY, "T1", "t1"), make_stack(T1_GEOMETRY, "STIR", "stir", frame_uid="9.9.9")]
    loader = Loader({"stir": phantom(T1_GEOMETRY, {"L1": WHOLE})})
    results = analyse_case_timepoint(case, "pre", stacks, load_volume=loader)
    for r in results.values():
        assert (r.status, r.flag) == ("frame-mismatch", None)
        assert f"frame of reference {FOR}, the STIR series is in 9.9.9" in r.message


def test_case_timepoint_with_landmarks_on_the_stir_and_a_t1_elsewhere() -> None:
    """Landmarks on the STIR itself; the T1 is in another frame of reference: no T1 ratio."""
    case = make_case(landmark_series="stir")
    stacks = [make_stack(T1_GEOMETRY, "STIR", "stir"), make_stack(T1_GEOMETRY, "T1", "t1", frame_uid="7.7")]
    loader = Loader({"stir": phantom(T1_GEOMETRY, {"L1": 6.2})})
    results = analyse_case_timepoint(case, "pre", stacks, load_volume=loader)
    assert loader.loaded == ["stir"]
    assert (results["L1"].flag, results["L1"].extent_grade) == (True, 1)
    assert "t1_ratio" not in stir_json(results["L1"])


def test_unknown_timepoint_is_a_sentence() -> None:
    with pytest.raises(ValueError, match="no timepoint 'post'"):
        analyse_case_timepoint(make_case(), "post", [], load_volume=Loader({}))


def test_six_landmark_keys_are_the_outline() -> None:
    from measure.edema import OUTLINE_ORDER

    assert sorted(OUTLINE_ORDER) == sorted(LANDMARK_KEYS)


# -- the project's spine phantom (dicomio.synthetic.phantom: T11-L3, L1 fractured with edema) -----


def spine_geometry(pixel_spacing_mm: tuple[float, float] = (0.9, 0.7), **kw: object) -> StackGeometry:
    """A sagittal stack around the phantom's column; slice 4 lies on its midline (x = -3)."""
    (y_min, y_max), (z_min, z_max) = spine_phantom.default_phantom().extent_yz_mm()
    rows = int((z_max - z_min + 30) / pixel_spacing_mm[0])
    cols = int((y_max - y_min + 30) / pixel_spacing_mm[1])
    origin = kw.pop("origin_mm", (9.0, y_min - 15, z_max + 15))
    return sagittal_geometry(11, rows, cols, pixel_spacing_mm, 3.0, origin_mm=origin, **kw)  # type: ignore[arg-type]


def spine_bodies() -> dict[str, BodyInput]:
    return {lvl: BodyInput(lm) for lvl, lm in spine_phantom.truth("pre").items()}


def spine_roi_truth(result: StirResult, geometry: StackGeometry) -> float:
    """Ground truth from the phantom's own definition: the fraction of ROI voxels in edema."""
    tissue, _ = spine_phantom.default_phantom().classify(roi_lps(result, geometry), "pre")
    return float(np.mean(tissue == Tissue.EDEMA))


SPINE_STIR = INTENSITY["STIR"]
SPINE_T1 = INTENSITY["T1"]


def test_spine_phantom_fractured_l1_is_flagged() -> None:
    geometry = spine_geometry()
    t1 = (spine_phantom.render(geometry, "T1", "pre"), geometry)
    report = analyse_edema(spine_phantom.render(geometry, "STIR", "pre"), geometry, spine_bodies(), t1=t1)
    l1 = report.bodies["L1"]
    truth = spine_roi_truth(l1, geometry)
    # Band under the superior endplate plus an ellipsoid: about 30 % of the whole body volume,
    # more of the central slab the ROI covers; both are extent grade 2.
    whole_body = spine_phantom.level_truth("pre")["L1"].edema_fraction
    assert 0.25 <= whole_body < 0.75 and 0.25 <= truth < 0.75
    assert l1.edema_fraction == pytest.approx(truth, abs=1e-12)
    assert (l1.extent_grade, l1.flag) == (2, True)
    cancellous, edema = SPINE_STIR[Tissue.CANCELLOUS], SPINE_STIR[Tissue.EDEMA]
    assert l1.sir == pytest.approx(edema / cancellous)  # more than half the ROI is edema
    t1_edema, t1_marrow = SPINE_T1[Tissue.EDEMA], SPINE_T1[Tissue.CANCELLOUS]
    assert l1.t1_ratio == pytest.approx(t1_edema / t1_marrow)
    for lvl in ("T11", "T12", "L2", "L3"):
        r = report.bodies[lvl]
        assert (r.extent_grade, r.flag, r.edema_fraction) == (0, False, 0.0), lvl
        assert r.sir == pytest.approx(1.0) and r.t1_ratio == pytest.approx(1.0)


@pytest.mark.parametrize("seed", [3, 4])
def test_spine_phantom_with_10_percent_noise(seed: int) -> None:
    geometry = spine_geometry()
    noise_sd = 0.1 * SPINE_STIR[Tissue.CANCELLOUS]
    clean = analyse_edema(spine_phantom.render(geometry, "STIR", "pre"), geometry, spine_bodies())
    noisy_vol = spine_phantom.render(geometry, "STIR", "pre", noise_sd=noise_sd, seed=seed)
    noisy = analyse_edema(noisy_vol, geometry, spine_bodies())
    for lvl in LEVELS:
        a, b = clean.bodies[lvl], noisy.bodies[lvl]
        assert (b.extent_grade, b.flag) == (a.extent_grade, a.flag), lvl
        assert b.edema_fraction == pytest.approx(a.edema_fraction, abs=0.006)
    assert noisy.flagged_levels() == ["L1"]


def test_spine_phantom_stir_with_another_spacing() -> None:
    """Landmarks as if placed on a 0.9 x 0.7 mm T1; the STIR has 1.3 x 1.1 mm, anterior on the right."""
    (_, y_max), (_, z_max) = spine_phantom.default_phantom().extent_yz_mm()
    other = spine_geometry((1.3, 1.1), anterior_on_right=True, origin_mm=(-15.0, y_max + 15, z_max + 15))
    here = analyse_edema(
        spine_phantom.render(spine_geometry(), "STIR", "pre"), spine_geometry(), spine_bodies()
    )
    there = analyse_edema(spine_phantom.render(other, "STIR", "pre"), other, spine_bodies())
    for lvl in LEVELS:
        assert there.bodies[lvl].status == "ok"
        assert (there.bodies[lvl].extent_grade, there.bodies[lvl].flag) == (
            here.bodies[lvl].extent_grade,
            here.bodies[lvl].flag,
        )
        assert there.bodies[lvl].sir == pytest.approx(here.bodies[lvl].sir, rel=0.01)
    l1 = there.bodies["L1"]
    assert l1.edema_fraction == pytest.approx(here.bodies["L1"].edema_fraction, abs=0.05)
    assert l1.edema_fraction == pytest.approx(spine_roi_truth(l1, other), abs=1e-12)


# -- DICOM files: MONOCHROME1 STIR written with synth, scanned, loaded, and `endplate measure` ------

STIR_HEADER: dict[str, object] = {
    "ScanningSequence": ["SE", "IR"],
    "SequenceVariant": ["SK", "SP", "MP"],
    "InversionTime": 150.0,
    "EchoTime": 45.0,
    "RepetitionTime": 4000.0,
}
T1_HEADER: dict[str, object] = {"ScanningSequence": "SE", "EchoTime": 11.0, "RepetitionTime": 550.0}
MR_FOR = "1.2.826.0.1.3680043.8.498.77"
MR_STUDY = "1.2.826.0.1.3680043.8.498.78"


def write_mr_study(root: Path, monochrome1: bool) -> dict[str, object]:
    """A T1 (landmark series, 0.9 x 0.7 mm) and a STIR (1.3 x 1.1 mm, anterior right) of the phantom."""
    t1_geometry = spine_geometry()
    (_, y_max), (_, z_max) = spine_phantom.default_phantom().extent_yz_mm()
    stir_geometry = spine_geometry(
        (1.3, 1.1), anterior_on_right=True, origin_mm=(-15.0, y_max + 15, z_max + 15)
    )
    stir_values = np.rint(spine_phantom.render(stir_geometry, "STIR", "pre", noise_sd=12.0, seed=5))
    t1_values = np.rint(spine_phantom.render(t1_geometry, "T1", "pre"))
    common = {"study_uid": MR_STUDY, "frame_of_reference_uid": MR_FOR, "modality": "MR"}
    write_series(
        root / "t1",
        t1_values,
        t1_geometry,
        SeriesSpec(
            description="t1_tse_sag", series_uid="1.2.826.0.1.3680043.8.498.80", mr=T1_HEADER, **common
        ),
        shuffle_names=True,
    )
    write_series(
        root / "stir",
        stir_values,
        stir_geometry,
        SeriesSpec(
            description="SAG STIR",
            series_uid="1.2.826.0.1.3680043.8.498.81",
            series_number=2,
            mr=STIR_HEADER,
            **common,
        ),
        monochrome1=monochrome1,
        multiframe=True,
    )
    return {
        "t1": (t1_values, t1_geometry),
        "stir": (stir_values, stir_geometry),
        "t1_uid": "1.2.826.0.1.3680043.8.498.80",
        "stir_uid": "1.2.826.0.1.3680043.8.498.81",
    }


def mr_case(t1_uid: str, t1_path: str) -> Case:
    case = Case("edema-mr")
    case.add_timepoint(Timepoint("pre", "pre-op", "2026-03-03"))
    case.assign_series(SeriesRef(t1_uid, "pre", t1_path, modality="MR", sequence="T1"))
    for lvl, lms in spine_phantom.truth("pre").items():
        status = "fractured" if lvl == "L1" else "unknown"
        case.add_vertebra("pre", lvl, status, {k: Landmark(v, t1_uid) for k, v in lms.items()})
    case.set_stir_decision("pre", "L1", StirDecision("confirmed", "band and diffuse edema"))
    return case


@pytest.mark.parametrize("monochrome1", [True, False], ids=["MONOCHROME1", "MONOCHROME2"])
def test_stir_files_scanned_and_loaded_give_the_in_memory_result(tmp_path: Path, monochrome1: bool) -> None:
    study = write_mr_study(tmp_path, monochrome1)
    scan = scan_paths([tmp_path])
    by_uid = {s.series_uid: s for s in scan.stacks}
    stir = by_uid[study["stir_uid"]]
    assert stir.sequence == "STIR" and by_uid[study["t1_uid"]].sequence == "T1"
    assert stir.pixel_format.photometric == ("MONOCHROME1" if monochrome1 else "MONOCHROME2")

    stir_values, stir_geometry = study["stir"]
    np.testing.assert_allclose(load_volume(stir), stir_values)  # bright stays high

    case = mr_case(study["t1_uid"], str(tmp_path / "t1"))
    from_files = analyse_case_timepoint(case, "pre", scan.stacks, load_volume=load_volume)
    in_memory = analyse_edema(stir_values, stir_geometry, spine_bodies(), t1=study["t1"]).bodies
    for lvl in LEVELS:
        a, b = from_files[lvl], in_memory[lvl]
        assert (a.status, a.flag, a.extent_grade) == (b.status, b.flag, b.extent_grade), lvl
        assert a.sir == pytest.approx(b.sir, rel=1e-9) and a.edema_fraction == pytest.approx(b.edema_fraction)
        assert a.t1_ratio == pytest.approx(b.t1_ratio, rel=1e-9)
    assert (from_files["L1"].flag, from_files["L1"].extent_grade) == (True, 2)
    assert from_files["L1"].t1_ratio < 0.9
    assert from_files["L1"].reader_decision == StirDecision("confirmed", "band and diffuse edema")
    assert from_files["L1"].stir_series_uid == study["stir_uid"]


def test_endplate_measure_json_has_a_stir_object_per_vertebra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = write_mr_study(tmp_path / "dicom", monochrome1=True)
    case = mr_case(study["t1_uid"], str(tmp_path / "dicom" / "t1"))
    # The STIR is assigned to the timepoint too (it may also be found as an unassigned series of the study).
    case.assign_series(SeriesRef(study["stir_uid"], "pre", str(tmp_path / "dicom" / "stir"), sequence="STIR"))
    (tmp_path / "case").mkdir()
    path = save_case(case, tmp_path / "case" / "case.json")

    assert main.main(["measure", str(path), "--json"]) == 0
    out = capsys.readouterr().out
    vertebrae = json.loads(out)["timepoints"]["pre"]["vertebrae"]
    for lvl in LEVELS:
        stir = vertebrae[lvl]["stir"]
        assert set(stir) >= {"sir", "edema_fraction", "extent_grade", "flag", "reader_decision", "t1_ratio"}
        expected = (True, 2) if lvl == "L1" else (False, 0)
        assert (stir["flag"], stir["extent_grade"]) == expected, lvl
    assert vertebrae["L1"]["stir"]["reader_decision"]["decision"] == "confirmed"
    assert vertebrae["L1"]["stir"]["sir"] == pytest.approx(800.0 / 120.0, rel=0.05)

    assert main.main(["measure", str(path)]) == 0
    text = capsys.readouterr().out
    assert "STIR edema, timepoint pre (no validated cut-off" in text
    assert "L1: edema: recent fracture likely" in text and "reader: confirmed" in text


def test_endplate_measure_without_stir_says_recency_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = write_mr_study(tmp_path / "dicom", monochrome1=False)
    (tmp_path / "dicom" / "stir").rename(tmp_path / "elsewhere")  # the session without its STIR
    case = mr_case(study["t1_uid"], str(tmp_path / "dicom" / "t1"))
    (tmp_path / "case").mkdir()
    path = save_case(case, tmp_path / "case" / "case.json")
    assert main.main(["measure", str(path), "--json"]) == 0
    vertebrae = json.loads(capsys.readouterr().out)["timepoints"]["pre"]["vertebrae"]
    for lvl in LEVELS:
        stir = vertebrae[lvl]["stir"]
        assert (stir["status"], stir["flag"], stir["sir"]) == ("no-stir", None, None)
        assert stir["message"] == f"{lvl}: recency unknown: no STIR series."


def test_default_choice_note_says_the_rule_and_why() -> None:
    from measure.edema import default_choice_note

    note = default_choice_note()
    assert note.startswith("Flag rule: SIR >= 1.3 or at least 10% of the body bright.")
    assert "not validated on patients" in note and "docs/edema.md" in note
    both = default_choice_note(EdemaConfig(flag_rule="both", sir_threshold=1.5, fraction_threshold=0.2))
    assert both.startswith("Flag rule: SIR >= 1.5 and at least 20% of the body bright.")
    assert default_choice_note(EdemaConfig(flag_rule="sir")).startswith("Flag rule: SIR >= 1.3.")
