"""dicomio/geometry.py, table-driven with exact expected numbers (worked out by hand).

Unequal pixel spacing (0.5 mm between rows, 0.8 mm between columns) everywhere, so a
swapped (row, column) order cannot pass.
"""

from __future__ import annotations

import numpy as np
import pytest

from dicomio.geometry import (
    ImageGeometry,
    StackGeometry,
    obliquity_deg,
    orientation_from_iop,
    plane_of,
    screen_direction_of,
)

SPACING = (0.5, 0.8)  # (row spacing, column spacing)
C4, S4 = np.cos(np.radians(4.0)), np.sin(np.radians(4.0))
C40, S40 = np.cos(np.radians(40.0)), np.sin(np.radians(40.0))


def _image(iop, position=(10.0, 20.0, 30.0), rows=100, columns=120) -> ImageGeometry:  # type: ignore[no-untyped-def]
    return ImageGeometry.from_dicom(position, iop, SPACING, rows, columns)


# name, IOP, plane, anterior, superior, normal
ORIENTATIONS = [
    ("sagittal, anterior left", [0, 1, 0, 0, 0, -1], "sagittal", "left", "up", [-1, 0, 0]),
    ("sagittal, anterior right", [0, -1, 0, 0, 0, -1], "sagittal", "right", "up", [1, 0, 0]),
    ("sagittal, feet first", [0, 1, 0, 0, 0, 1], "sagittal", "left", "down", [1, 0, 0]),
    ("axial, head first", [1, 0, 0, 0, 1, 0], "axial", "up", None, [0, 0, 1]),
    ("axial, feet first", [-1, 0, 0, 0, 1, 0], "axial", "up", None, [0, 0, -1]),
    ("coronal", [1, 0, 0, 0, 0, -1], "coronal", None, "up", [0, 1, 0]),
    ("sagittal oblique 4 deg", [0, 1, 0, -S4, 0, -C4], "sagittal", "left", "up", [-C4, 0, S4]),
    ("oblique 40 deg", [0, 1, 0, -S40, 0, -C40], "oblique", "left", "up", [-C40, 0, S40]),
]


@pytest.mark.parametrize(
    ("iop", "plane", "anterior", "superior", "normal"),
    [row[1:] for row in ORIENTATIONS],
    ids=[row[0] for row in ORIENTATIONS],
)
def test_plane_and_screen_directions(iop, plane, anterior, superior, normal) -> None:  # type: ignore[no-untyped-def]
    g = _image(iop)
    assert g.plane == plane
    assert g.anterior == anterior
    assert g.superior == superior
    np.testing.assert_allclose(g.normal, normal, atol=1e-12)


@pytest.mark.parametrize(
    ("iop", "column", "row", "expected"),
    [
        # sagittal: column steps 0.8 mm posterior (+Y), row steps 0.5 mm inferior (-Z)
        ([0, 1, 0, 0, 0, -1], 10, 4, [10.0, 28.0, 28.0]),
        # anterior on the right: column steps 0.8 mm anterior (-Y)
        ([0, -1, 0, 0, 0, -1], 10, 4, [10.0, 12.0, 28.0]),
        # feet first: row steps superior
        ([0, 1, 0, 0, 0, 1], 10, 4, [10.0, 28.0, 32.0]),
        # axial: column steps left (+X), row steps posterior (+Y)
        ([1, 0, 0, 0, 1, 0], 10, 4, [18.0, 22.0, 30.0]),
        # half-pixel positions are exact too
        ([1, 0, 0, 0, 1, 0], -0.5, -0.5, [9.6, 19.75, 30.0]),
        # oblique 4 deg: row direction (-sin4, 0, -cos4)
        ([0, 1, 0, -S4, 0, -C4], 0, 10, [10.0 - 5 * S4, 20.0, 30.0 - 5 * C4]),
    ],
)
def test_pixel_to_lps_exact(iop, column, row, expected) -> None:  # type: ignore[no-untyped-def]
    g = _image(iop)
    np.testing.assert_allclose(g.pixel_to_lps(column, row), expected, atol=1e-12)
    c, r, d = g.lps_to_pixel(expected)
    assert (float(c), float(r), float(d)) == pytest.approx((column, row, 0.0), abs=1e-9)
    m = g.pixel_to_patient_matrix()
    np.testing.assert_allclose((m @ [column, row, 0, 1])[:3], expected, atol=1e-12)


def test_pixel_spacing_order_is_row_then_column() -> None:
    g = _image([1, 0, 0, 0, 1, 0])
    assert g.size_mm == (120 * 0.8, 100 * 0.5)  # (width, height)
    step_column = g.pixel_to_lps(1, 0) - g.pixel_to_lps(0, 0)
    step_row = g.pixel_to_lps(0, 1) - g.pixel_to_lps(0, 0)
    assert float(np.linalg.norm(step_column)) == pytest.approx(0.8)
    assert float(np.linalg.norm(step_row)) == pytest.approx(0.5)


def test_off_plane_distance_is_signed_along_normal() -> None:
    g = _image([0, 1, 0, 0, 0, -1])  # normal -X
    _, _, d = g.lps_to_pixel([7.0, 20.0, 30.0])
    assert float(d) == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("iop", "message"),
    [
        ([1, 0, 0, 1, 0, 0], "not orthogonal"),
        ([0, 0, 0, 0, 1, 0], "non-zero"),
        ([1, 0, 0, 0, 1], "6 values"),
    ],
)
def test_bad_orientation_is_explained(iop, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        orientation_from_iop(iop)


def test_bad_spacing_and_size_are_explained() -> None:
    with pytest.raises(ValueError, match="PixelSpacing"):
        ImageGeometry.from_dicom([0, 0, 0], [1, 0, 0, 0, 1, 0], [0.0, 1.0], 4, 4)
    with pytest.raises(ValueError, match="Rows and Columns"):
        ImageGeometry.from_dicom([0, 0, 0], [1, 0, 0, 0, 1, 0], [1.0, 1.0], 0, 4)
    with pytest.raises(ValueError, match="ImagePositionPatient"):
        ImageGeometry.from_dicom([0, 0], [1, 0, 0, 0, 1, 0], [1.0, 1.0], 4, 4)


@pytest.mark.parametrize(
    ("normal", "plane", "obliquity"),
    [
        ([1, 0, 0], "sagittal", 0.0),
        ([0, -1, 0], "coronal", 0.0),
        ([0, 0, 1], "axial", 0.0),
        ([np.cos(np.radians(29)), 0, np.sin(np.radians(29))], "sagittal", 29.0),
        ([np.cos(np.radians(31)), 0, np.sin(np.radians(31))], "oblique", 31.0),
        ([0, np.sin(np.radians(10)), np.cos(np.radians(10))], "axial", 10.0),
    ],
)
def test_plane_naming_threshold(normal, plane, obliquity) -> None:  # type: ignore[no-untyped-def]
    assert plane_of(normal) == plane
    assert obliquity_deg(normal) == pytest.approx(obliquity)


def test_screen_direction_none_when_out_of_plane() -> None:
    # 70 deg out of an axial plane: cosine 0.34 < 0.5
    direction = [0, -np.cos(np.radians(70)), np.sin(np.radians(70))]
    assert screen_direction_of(direction, [1, 0, 0], [0, 1, 0]) is None
    assert screen_direction_of([0, -1, 0], [1, 0, 0], [0, 1, 0]) == "up"


def _stack(iop, positions) -> StackGeometry:  # type: ignore[no-untyped-def]
    return StackGeometry(tuple(ImageGeometry.from_dicom(p, iop, SPACING, 10, 12) for p in positions))


def test_stack_even_spacing_round_trip() -> None:
    # sagittal, normal -X: slices at X = 0, -3, -6, -9
    s = _stack([0, 1, 0, 0, 0, -1], [(-3.0 * k, 0.0, 0.0) for k in range(4)])
    assert s.shape == (4, 10, 12)
    assert s.slice_spacing_mm == pytest.approx(3.0)
    np.testing.assert_allclose(s.slice_offsets_mm, [0, 3, 6, 9])
    np.testing.assert_allclose(s.index_to_lps(5, 2, 2), [-6.0, 4.0, -1.0], atol=1e-12)
    np.testing.assert_allclose(s.index_to_lps(0, 0, 1.5), [-4.5, 0.0, 0.0], atol=1e-12)
    c, r, k = s.lps_to_index([-6.0, 4.0, -1.0])
    assert (float(c), float(r), float(k)) == pytest.approx((5, 2, 2))
    assert s.nearest_slice([-4.4, 0, 0]) == 1
    assert s.gantry_tilt_deg() == pytest.approx(0.0)


def test_stack_uneven_spacing_is_exact_at_slices() -> None:
    offsets = [0.0, 2.0, 5.0, 11.0]
    s = _stack([1, 0, 0, 0, 1, 0], [(0.0, 0.0, z) for z in offsets])
    assert s.slice_spacing_mm == pytest.approx(3.0)  # median of 2, 3, 6
    for k, z in enumerate(offsets):
        np.testing.assert_allclose(s.index_to_lps(3, 4, k), [2.4, 2.0, z], atol=1e-12)
        assert float(s.slice_index_of([0, 0, z])) == pytest.approx(k)
    assert float(s.slice_index_of([0, 0, 8.0])) == pytest.approx(2.5)
    assert float(s.slice_index_of([0, 0, -1.0])) == pytest.approx(-0.5)  # extrapolated, 2 mm step
    assert float(s.slice_index_of([0, 0, 14.0])) == pytest.approx(3.5)  # extrapolated, 6 mm step
    c, r, k = s.lps_to_index(s.index_to_lps(7.25, 1.5, 2.5))
    assert (float(c), float(r), float(k)) == pytest.approx((7.25, 1.5, 2.5))


def test_stack_gantry_tilt_round_trip() -> None:
    tilt = np.radians(15.0)
    # axial slices 2 mm apart whose origins also move tan(15) * 2 mm posterior per slice
    positions = [(0.0, 2.0 * k * np.tan(tilt), 2.0 * k) for k in range(5)]
    s = _stack([1, 0, 0, 0, 1, 0], positions)
    assert s.gantry_tilt_deg() == pytest.approx(15.0)
    np.testing.assert_allclose(s.index_to_lps(0, 0, 3), positions[3], atol=1e-12)
    np.testing.assert_allclose(s.index_to_lps(5, 10, 3), [4.0, positions[3][1] + 5.0, 6.0], atol=1e-12)
    c, r, k = s.lps_to_index([4.0, positions[3][1] + 5.0, 6.0])
    assert (float(c), float(r), float(k)) == pytest.approx((5, 10, 3))
    c, r, k = s.lps_to_index(s.index_to_lps(2.5, 7.0, 1.25))
    assert (float(c), float(r), float(k)) == pytest.approx((2.5, 7.0, 1.25))


def test_stack_rejects_mixed_or_unordered_slices() -> None:
    with pytest.raises(ValueError, match="ordered"):
        _stack([1, 0, 0, 0, 1, 0], [(0, 0, 3.0), (0, 0, 0.0)])
    a = ImageGeometry.from_dicom([0, 0, 0], [1, 0, 0, 0, 1, 0], SPACING, 10, 12)
    b = ImageGeometry.from_dicom([0, 0, 1], [0, 1, 0, 0, 0, -1], SPACING, 10, 12)
    with pytest.raises(ValueError, match="orientation"):
        StackGeometry((a, b))
    c = ImageGeometry.from_dicom([0, 0, 1], [1, 0, 0, 0, 1, 0], SPACING, 10, 11)
    with pytest.raises(ValueError, match="10x11"):
        StackGeometry((a, c))
