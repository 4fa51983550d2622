"""The MR spine rectangle against independent truth.

Phantoms: the analytic landmarks of every body (``SpinePhantom.truth``, exact corners and
endplate mid-points) and the canal's posterior edge, ``CANAL_GAP_MM + 2 * CANAL_HALF_DEPTH_MM``
behind the posterior wall (the phantom's construction), must lie inside the rectangle; the
spine is put off the image's centre, leaning, anterior on either side, superior along rows or
columns.  The real MR: a rectangle read off by eye (see ``REAL_MR_BODIES``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dicomio.display_stack import DisplayStack
from dicomio.geometry import StackGeometry
from dicomio.scan import scan_paths
from dicomio.synthetic.phantom import SpinePhantom
from dicomio.synthetic.phantom_anatomy import CANAL_GAP_MM, CANAL_HALF_DEPTH_MM
from dicomio.synthetic.synth import sagittal_geometry, stack_geometry
from measure.spine_rect import PixelRect, mr_spine_rect
from measure.spine_view import locate_spine
from tests.spine_truth import MR_MIDLINE_FRAME, REAL_MR

CANAL_BEHIND_WALL_MM = CANAL_GAP_MM + 2 * CANAL_HALF_DEPTH_MM  # 18 mm

#: The real MR's vertebral bodies, read off frame 7 (the midline, tests/spine_truth.py) by eye:
#: rendered with matplotlib (gray, 1-99.5 percentile window, 10-pixel grid, two crops of rows
#: 0-230 and 218-448, columns 100-340, looked at with the image viewer).  Anterior is towards
#: column 0 (row cosine ~ +y, posterior), superior is row 0 (column cosine ~ -z).  Bodies are
#: visible from the top edge (C2/C3) to the bottom edge (mid-thoracic).  (row, anterior wall
#: column, posterior wall column) where the bodies' walls cross that row:
REAL_MR_BODIES = (
    (20, 158, 183),
    (120, 165, 192),
    (220, 180, 208),
    (300, 208, 245),
    (440, 212, 250),
)
#: The canal's posterior edge (the dark dura/CSF line behind the grey cord), same reading.
REAL_MR_CANAL = ((40, 205), (220, 232), (440, 265))


def _inside(rect: PixelRect, geometry: StackGeometry, p: np.ndarray) -> bool:
    col, row, _ = geometry.lps_to_index(np.asarray(p, dtype=float))
    return rect.column_min <= float(col) <= rect.column_max and rect.row_min <= float(row) <= rect.row_max


def _midline_slice(
    phantom: SpinePhantom, geometry: StackGeometry, contrast: str, noise_sd: float = 15.0
) -> np.ndarray:
    return phantom.render(geometry, contrast, "pre", noise_sd=noise_sd)[0]  # type: ignore[arg-type]


def _check_phantom(phantom: SpinePhantom, geometry: StackGeometry, rect: PixelRect | None) -> None:
    assert rect is not None
    posterior = np.array([0.0, 1.0, 0.0])
    for level in phantom.truth("pre").values():
        for key, p in level.items():
            assert _inside(rect, geometry, np.asarray(p)), (key, p, rect)
            if key.endswith("_post"):  # the canal behind the body
                assert _inside(rect, geometry, np.asarray(p) + CANAL_BEHIND_WALL_MM * posterior), (key, rect)
    # Not the field of view: at most half of the image's area.
    area = (rect.column_max - rect.column_min) * (rect.row_max - rect.row_min)
    assert area < 0.5 * geometry.first.rows * geometry.first.columns


@pytest.mark.parametrize(
    ("contrast", "lean_deg", "anterior_on_right", "y_shift_mm"),
    [
        ("T1", 0.0, False, 0.0),
        ("STIR", 0.0, False, 0.0),
        ("T1", 12.0, False, 60.0),  # leaning, spine near the image's left edge
        ("STIR", -10.0, True, -50.0),  # anterior on the right, spine near the bottom-right
    ],
)
def test_phantom_rect_holds_every_body_and_the_canal(
    contrast: str, lean_deg: float, anterior_on_right: bool, y_shift_mm: float
) -> None:
    phantom = SpinePhantom(lean_deg=lean_deg)
    (y_ant, y_post), (z_lo, z_hi) = phantom.extent_yz_mm()
    n, pixel_mm = 240, 1.25
    fov = n * pixel_mm
    y_mid = (y_ant + y_post) / 2 + y_shift_mm
    y0 = y_mid + fov / 2 if anterior_on_right else y_mid - fov / 2
    geom = sagittal_geometry(
        1,
        n,
        n,
        (pixel_mm, pixel_mm),
        3.0,
        (phantom.midline_x_mm, y0, (z_lo + z_hi) / 2 + fov / 2 - 20.0),
        anterior_on_right=anterior_on_right,
    )
    found = mr_spine_rect(_midline_slice(phantom, geom, contrast), geom)
    _check_phantom(phantom, geom, found.roi)
    assert found.reason.startswith("segmented column")


def test_phantom_rect_with_superior_along_the_columns() -> None:
    """The slice turned by 90 degrees: columns run inferior, rows run posterior."""
    phantom = SpinePhantom()
    (y_ant, y_post), (z_lo, z_hi) = phantom.extent_yz_mm()
    n, pixel_mm = 220, 1.25
    fov = n * pixel_mm
    geom = stack_geometry(
        (phantom.midline_x_mm, (y_ant + y_post) / 2 - fov / 2, (z_lo + z_hi) / 2 + fov / 2),
        (0.0, 0.0, -1.0),
        (0.0, 1.0, 0.0),
        n,
        n,
        (pixel_mm, pixel_mm),
        [0.0],
    )
    found = mr_spine_rect(_midline_slice(phantom, geom, "T1"), geom)
    _check_phantom(phantom, geom, found.roi)


def test_locate_spine_zooms_the_phantom_t1() -> None:
    phantom = SpinePhantom()
    (_, y_post), (z_lo, z_hi) = phantom.extent_yz_mm()
    geom = sagittal_geometry(
        15,
        200,
        200,
        (1.5, 1.5),
        3.0,
        (phantom.midline_x_mm + 5 * 3.0, y_post + 90 - 300, (z_lo + z_hi) / 2 + 150),
    )
    view = locate_spine(phantom.render(geom, "T1", "pre", noise_sd=15.0), geom, "MR")
    assert view.confident and view.slice_index == 5
    _check_phantom(phantom, geom, view.roi)
    assert "zoom: segmented column" in view.reason


def test_one_vertebra_is_not_a_column() -> None:
    phantom = SpinePhantom(levels=("L1",), fractured_level="L1")
    (y_ant, _), (z_lo, z_hi) = phantom.extent_yz_mm()
    geom = sagittal_geometry(
        1, 200, 200, (1.25, 1.25), 3.0, (phantom.midline_x_mm, y_ant - 100, (z_lo + z_hi) / 2 + 125)
    )
    found = mr_spine_rect(_midline_slice(phantom, geom, "T1"), geom)
    assert found.roi is None
    assert found.reason.startswith("the segmented column found spans 1.")


def test_noise_flat_and_wrong_shape_give_no_rectangle() -> None:
    geom = sagittal_geometry(1, 160, 160, (1.5, 1.5), 3.0, (0.0, -100.0, 0.0))
    noise = np.random.default_rng(5).normal(300.0, 60.0, (160, 160)).astype(np.float32)
    found = mr_spine_rect(noise, geom)
    assert found.roi is None and found.reason
    assert mr_spine_rect(np.full((160, 160), 7.0, np.float32), geom).reason == "the slice is flat"
    assert mr_spine_rect(np.zeros((10, 160), np.float32), geom).roi is None


@pytest.fixture(scope="module")
def real_mr() -> DisplayStack:
    if not REAL_MR.is_file():
        pytest.skip("the real MR is not here")
    (stack,) = scan_paths([REAL_MR]).stacks
    return DisplayStack.for_viewing(stack)


def test_real_mr_rect_holds_the_bodies_read_by_eye(real_mr: DisplayStack) -> None:
    view = locate_spine(real_mr.volume(), real_mr.geometry, real_mr.source.modality)
    assert real_mr.frame_index_for_slice(view.slice_index) == MR_MIDLINE_FRAME
    roi = view.roi
    assert roi is not None, view.reason
    for row, anterior, posterior in REAL_MR_BODIES:
        assert roi.row_min <= row <= roi.row_max
        assert roi.column_min <= anterior and posterior <= roi.column_max
    for row, column in REAL_MR_CANAL:
        assert roi.row_min <= row <= roi.row_max and roi.column_min <= column <= roi.column_max
    # Tight on the spine: the bodies' front (158) is less than 15 mm inside the left edge, the
    # posterior neck and back (subcutaneous fat from column ~300) are outside, and the
    # rectangle is at most 45 % of the 360 mm field of view across.
    first = real_mr.geometry.first
    col_mm = first.pixel_spacing_mm[1]
    assert (158 - roi.column_min) * col_mm < 15.0
    assert roi.column_max < 300
    assert (roi.column_max - roi.column_min) < 0.45 * first.columns


@pytest.mark.parametrize(("rows", "columns"), [((180, 448), (100, 400)), ((0, 260), (120, 448))])
def test_real_mr_cropped_field_of_view(
    real_mr: DisplayStack, rows: tuple[int, int], columns: tuple[int, int]
) -> None:
    """The same frame cut to another field of view (spine elsewhere in the image, fewer
    vertebrae): the bodies read by eye that remain are inside, in the crop's own pixels."""
    k = next(
        s for s in range(real_mr.geometry.shape[0]) if real_mr.frame_index_for_slice(s) == MR_MIDLINE_FRAME
    )
    (r0, r1), (c0, c1) = rows, columns
    slab = real_mr.volume()[k - 1 : k + 2, r0:r1, c0:c1].astype(np.float32).mean(axis=0)
    first = real_mr.geometry.slices[k]
    x, y, z = (float(v) for v in first.pixel_to_lps(c0, r0).reshape(3))
    corner = (x, y, z)
    crop = StackGeometry((replace(first, position_mm=corner, rows=r1 - r0, columns=c1 - c0),))
    found = mr_spine_rect(slab, crop)
    assert found.roi is not None, found.reason
    inside = [(row, a, p) for row, a, p in REAL_MR_BODIES if r0 <= row < r1]
    assert len(inside) >= 2
    for row, anterior, posterior in inside:
        assert found.roi.row_min <= row - r0 <= found.roi.row_max
        assert found.roi.column_min <= anterior - c0 and posterior - c0 <= found.roi.column_max
    assert found.roi.column_max - found.roi.column_min < 0.6 * (c1 - c0)
