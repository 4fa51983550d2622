"""Sagittal reformat: every output voxel is sampled at its own exact LPS position."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dicomio import reformat
from dicomio.display_stack import DisplayStack
from dicomio.geometry import StackGeometry
from dicomio.pixels import load_volume
from dicomio.reformat import sagittal_reformat, sagittal_reformat_geometry
from dicomio.scan import scan_paths
from dicomio.synthetic import synth

UNEVEN_MM = [0.0, 1.0, 2.5, 3.0, 5.5, 6.0, 8.0, 9.5, 10.0, 12.5, 14.0, 15.0, 17.5, 18.0]


def _axial(**kwargs: object) -> StackGeometry:
    """Axial, unequal in-plane spacing (rows 0.6 mm, columns 0.9 mm), uneven slices."""
    args: dict[str, object] = {
        "pixel_spacing_mm": (0.6, 0.9),
        "slice_offsets_mm": UNEVEN_MM,
        "origin_mm": (-12.0, -20.0, 100.0),
    }
    args.update(kwargs)
    return synth.axial_geometry(len(UNEVEN_MM), 36, 28, **args)  # type: ignore[arg-type]


def _voxel_lps(geometry: StackGeometry) -> np.ndarray:
    s, r, c = np.meshgrid(*(np.arange(n, dtype=float) for n in geometry.shape), indexing="ij")
    return geometry.index_to_lps(c, r, s)  # (slices, rows, columns, 3)


def _inside(source: StackGeometry, points: np.ndarray) -> np.ndarray:
    col, row, sl = source.lps_to_index(points)
    n_s, n_r, n_c = source.shape
    eps = 1e-6
    return (
        (col >= -eps) & (col <= n_c - 1 + eps) & (row >= -eps) & (row <= n_r - 1 + eps)
        & (sl >= -eps) & (sl <= n_s - 1 + eps)
    )  # fmt: skip


def _linear_field(points: np.ndarray) -> np.ndarray:
    return points @ np.array([3.0, -2.0, 5.0]) + 7.0


GEOMETRIES = {
    "axial": _axial(),
    "axial feet first": _axial(feet_first=True),
    "gantry tilt 12 deg": synth.tilted_geometry(_axial(), 12.0),
    "oblique 20 deg": _axial(oblique_deg=20.0),
    "coronal": synth.stack_geometry(
        (-10.0, 5.0, 60.0), (1, 0, 0), (0, 0, -1), 30, 26, (0.7, 0.5), [0, 2, 3, 6, 7, 9, 12]
    ),
    # Evenly spaced: the index mapping is affine, sampled by the SimpleITK path.
    "gantry tilt 12 deg, even slices": synth.tilted_geometry(
        _axial(slice_offsets_mm=None, slice_spacing_mm=1.3), 12.0
    ),
    "tilt 12 deg, oblique 20 deg, even slices": synth.tilted_geometry(
        _axial(slice_offsets_mm=None, slice_spacing_mm=1.3, oblique_deg=20.0), 12.0
    ),
}
AFFINE = ["gantry tilt 12 deg, even slices", "tilt 12 deg, oblique 20 deg, even slices"]


@pytest.mark.parametrize("name", list(GEOMETRIES))
def test_linear_field_is_reproduced_exactly(name: str) -> None:
    """Trilinear interpolation of a field linear in LPS is exact inside each cell, also for
    uneven slices and gantry tilt: any mis-mapped voxel shows as a wrong value."""
    source = GEOMETRIES[name]
    volume = _linear_field(_voxel_lps(source)).astype(np.float32)
    target, out = sagittal_reformat(source, volume)
    points = _voxel_lps(target)
    inside = _inside(source, points)
    assert inside.mean() > 0.4  # most of the reformat is inside the volume
    np.testing.assert_allclose(out[inside], _linear_field(points[inside]), atol=2e-3)
    assert np.all(out[~inside] == volume.min())


@pytest.mark.parametrize("name", ["axial", "axial feet first", "coronal"])
def test_axis_aligned_reformat_is_standard_sagittal(name: str) -> None:
    source = GEOMETRIES[name]
    target = sagittal_reformat_geometry(source)
    first = target.first
    np.testing.assert_allclose(first.row_cosine, [0, 1, 0], atol=1e-12)  # columns go posterior
    np.testing.assert_allclose(first.col_cosine, [0, 0, -1], atol=1e-12)  # rows go inferior
    assert target.first.plane == "sagittal" and first.anterior == "left" and first.superior == "up"
    in_plane = min(source.first.pixel_spacing_mm)
    # Posterior and L-R keep the source spacing of that axis; S-I is resampled in-plane.
    if name == "coronal":  # S-I is the coronal rows; A-P its slice direction
        expected = (source.first.pixel_spacing_mm[0], in_plane)
    else:  # S-I is the axial slice direction; A-P the axial rows
        expected = (in_plane, source.first.pixel_spacing_mm[0])
    assert first.pixel_spacing_mm == pytest.approx(expected)  # (row = S-I, column = A-P)
    assert target.slice_spacing_mm == pytest.approx(source.first.pixel_spacing_mm[1])
    # The reformat spans the volume from end to end along every axis.
    corners = source.index_to_lps(*[np.array([0, n - 1]) for n in source.shape[::-1]])
    assert target.index_to_lps(0, 0, 0)[1] == pytest.approx(float(np.min(corners[:, 1])))


def test_oblique_volume_keeps_its_own_axes() -> None:
    source = GEOMETRIES["oblique 20 deg"]
    first = sagittal_reformat_geometry(source).first
    col_cosine = np.asarray(source.first.col_cosine)  # the source's A-P axis
    np.testing.assert_allclose(first.row_cosine, col_cosine, atol=1e-12)
    np.testing.assert_allclose(first.col_cosine, -source.normal, atol=1e-12)
    assert first.plane == "sagittal"


def _blob(geometry: StackGeometry, centre_mm: np.ndarray, sigma_mm: float = 2.0) -> np.ndarray:
    d2 = np.sum((_voxel_lps(geometry) - centre_mm) ** 2, axis=-1)
    return (1000.0 * np.exp(-d2 / (2 * sigma_mm**2))).astype(np.float32)


@pytest.mark.parametrize("name", ["axial", "gantry tilt 12 deg", "coronal"])
def test_bright_point_appears_at_its_true_position(name: str) -> None:
    source = GEOMETRIES[name]
    centre = (
        source.index_to_lps(13.3, 17.6, 6.4) if name != "coronal" else source.index_to_lps(12.3, 14.6, 3.4)
    )
    target, out = sagittal_reformat(source, _blob(source, centre))
    peak = np.unravel_index(int(np.argmax(out)), out.shape)
    peak_mm = target.index_to_lps(peak[2], peak[1], peak[0])
    half_voxel = 0.5 * np.array([*target.first.pixel_spacing_mm, target.slice_spacing_mm])
    assert np.linalg.norm(peak_mm - centre) <= np.linalg.norm(half_voxel) + 0.05
    # Sub-voxel: the intensity-weighted centroid of the blob maps to its centre.
    weights = np.where(out > 100, out, 0).astype(float)
    s, r, c = np.meshgrid(*(np.arange(n, dtype=float) for n in out.shape), indexing="ij")
    idx = [float(np.sum(a * weights) / weights.sum()) for a in (c, r, s)]
    assert np.linalg.norm(target.index_to_lps(*idx) - centre) < 0.25


def test_fast_path_equals_map_coordinates(monkeypatch: pytest.MonkeyPatch) -> None:
    source = GEOMETRIES["axial"]
    volume = np.random.default_rng(2).integers(-1000, 2000, size=source.shape).astype(np.int16)
    assert reformat._separable_indices(source, sagittal_reformat_geometry(source)) is not None
    _, fast = sagittal_reformat(source, volume)
    monkeypatch.setattr(reformat, "_separable_indices", lambda *a: None)
    _, general = sagittal_reformat(source, volume)
    assert fast.dtype == np.int16
    assert np.max(np.abs(fast.astype(int) - general.astype(int))) <= 1  # float32 rounding of .5


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        sagittal_reformat(GEOMETRIES["axial"], np.zeros((3, 4, 5)))


def test_display_stack_for_viewing(tmp_path: Path) -> None:
    axial = _axial()
    values = np.random.default_rng(4).integers(-1024, 1500, size=axial.shape).astype(float)
    spec = synth.SeriesSpec(modality="CT", rescale_intercept=-1024)
    synth.write_series(tmp_path / "ax", values, axial, spec)
    sagittal = synth.sagittal_geometry(5, 20, 16, anterior_on_right=True)
    synth.write_series(tmp_path / "sag", np.zeros(sagittal.shape), sagittal, synth.SeriesSpec(modality="MR"))
    stacks = {s.plane: s for s in scan_paths([tmp_path]).stacks}

    display = DisplayStack.for_viewing(stacks["axial"])
    assert display.is_reformat and display.source is stacks["axial"]
    assert display.series_uid == stacks["axial"].series_uid
    assert display.geometry.first.plane == "sagittal" and display.sop_uid_for_slice(0) is None
    expected_geometry, expected = sagittal_reformat(axial, values.astype(np.int16))
    np.testing.assert_array_equal(display.volume(), expected)
    assert display.geometry.shape == expected_geometry.shape
    display.release()
    assert not display.is_loaded

    own = DisplayStack.for_viewing(stacks["sagittal"])
    assert not own.is_reformat and own.geometry is stacks["sagittal"].geometry
    assert own.sop_uid_for_slice(3) == stacks["sagittal"].frames[3].sop_instance_uid
    assert own.sop_uid_for_slice(99) is None
    np.testing.assert_array_equal(own.volume(), load_volume(stacks["sagittal"]))


def test_cubic_order_reproduces_a_smooth_field() -> None:
    """The order=3 path (one spline prefilter) maps positions right: a linear field stays exact."""
    source = GEOMETRIES["axial"]
    volume = _linear_field(_voxel_lps(source)).astype(np.float32)
    target, out = sagittal_reformat(source, volume, order=3)
    points = _voxel_lps(target)
    col, row, sl = source.lps_to_index(points)
    n_s, n_r, n_c = source.shape
    # Uneven slices: the cubic spline runs in index space, so compare where spacing is even
    # enough not to matter: on the source slices themselves, away from the borders.
    on_slice = np.abs(sl - np.round(sl)) < 1e-6
    interior = (col > 2) & (col < n_c - 3) & (row > 2) & (row < n_r - 3) & (sl > 2) & (sl < n_s - 3)
    mask = on_slice & interior
    assert mask.sum() > 100
    np.testing.assert_allclose(out[mask], _linear_field(points[mask]), atol=0.05)


@pytest.mark.parametrize("name", AFFINE)
def test_affine_path_equals_the_per_slice_resampling(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SimpleITK slab path samples where :func:`reformat.resample_slice` does (the exact
    per-pixel ``lps_to_index`` mapping): same voxels inside, the same values within int16
    rounding of a .5, the same background outside."""
    source = GEOMETRIES[name]
    target = sagittal_reformat_geometry(source)
    assert reformat._separable_indices(source, target) is None
    assert reformat._affine_index_map(source, target) is not None
    volume = np.random.default_rng(5).integers(-1000, 2000, size=source.shape).astype(np.int16)
    monkeypatch.setattr(reformat, "_BLOCK_SLICES", 3)  # several slabs, a partial last one
    monkeypatch.setattr(reformat, "_BLOCK_POSITIONS", 5)
    _, fast = sagittal_reformat(source, volume)
    monkeypatch.setattr(reformat, "_affine_index_map", lambda *a: None)
    _, general = sagittal_reformat(source, volume)
    assert fast.dtype == np.int16 and fast.shape == general.shape
    assert np.array_equal(fast == volume.min(), general == volume.min())
    assert np.max(np.abs(fast.astype(int) - general.astype(int))) <= 1


def _sitk_image(geometry: StackGeometry, volume: np.ndarray | None = None) -> object:
    """A SimpleITK image on ``geometry``'s grid: spacing, origin and direction from the DICOM
    geometry alone (the slice axis along the line through the origins, tilted or not)."""
    import SimpleITK

    first = geometry.first
    origins = np.array([g.position_mm for g in geometry.slices])
    step = origins[-1] - origins[0]
    step_mm = float(np.linalg.norm(step)) / (len(origins) - 1) if len(origins) > 1 else 1.0
    z = step / np.linalg.norm(step) if len(origins) > 1 else np.asarray(geometry.normal)
    direction = np.column_stack([first.row_cosine, first.col_cosine, z])
    if volume is None:
        image = SimpleITK.Image([first.columns, first.rows, len(origins)], SimpleITK.sitkFloat32)
    else:
        image = SimpleITK.GetImageFromArray(volume)
    image.SetOrigin(origins[0].tolist())
    image.SetSpacing([first.pixel_spacing_mm[1], first.pixel_spacing_mm[0], step_mm])
    image.SetDirection(direction.ravel().tolist())
    return image


@pytest.mark.parametrize("name", AFFINE)
def test_affine_path_matches_simpleitk_resampling_in_patient_space(name: str) -> None:
    """Independent truth: SimpleITK resamples the source image (origin, spacing, direction
    from the headers; a sheared direction for the tilt) onto the reformat's grid in LPS with
    an identity transform.  Away from the volume's border the values agree within 1 HU."""
    import SimpleITK

    source = GEOMETRIES[name]
    volume = _blob(source, source.index_to_lps(13.3, 17.6, 6.4), sigma_mm=4.0) + _linear_field(
        _voxel_lps(source)
    ).astype(np.float32)
    target, out = sagittal_reformat(source, volume.astype(np.float32))
    peer = SimpleITK.Resample(
        _sitk_image(source, volume), _sitk_image(target), SimpleITK.Transform(), SimpleITK.sitkLinear, -9999.0
    )
    expected = SimpleITK.GetArrayFromImage(peer)
    col, row, sl = source.lps_to_index(_voxel_lps(target))
    n_s, n_r, n_c = source.shape
    interior = (col > 1) & (col < n_c - 2) & (row > 1) & (row < n_r - 2) & (sl > 1) & (sl < n_s - 2)
    assert interior.sum() > 1000
    np.testing.assert_allclose(out[interior], expected[interior], atol=1e-2)


@pytest.mark.parametrize("name", ["axial", "axial feet first", "coronal", *AFFINE])
def test_display_stack_streams_the_source_into_the_same_reformat(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reformat shown by a DisplayStack reads its source a slab of slices at a time; its voxels
    are those of the whole-volume reformat of the volume plain pydicom decodes."""
    import pydicom

    source = GEOMETRIES[name]
    values = np.random.default_rng(8).integers(-1024, 2000, size=source.shape)
    spec = synth.SeriesSpec(modality="CT", rescale_intercept=-1024)
    synth.write_series(tmp_path, values.astype(float), source, spec)
    (stack,) = scan_paths([tmp_path]).stacks
    # Truth volume from plain pydicom, ordered by the stack's own (scanned) slice order.
    datasets = {str(p): pydicom.dcmread(p) for p in tmp_path.iterdir()}
    plain = np.stack(
        [
            datasets[str(f.path)].pixel_array * float(datasets[str(f.path)].RescaleSlope)
            + float(datasets[str(f.path)].RescaleIntercept)
            for f in stack.frames
        ]
    ).astype(np.int16)
    _, expected = sagittal_reformat(stack.geometry, plain)
    monkeypatch.setattr(reformat, "_BLOCK_POSITIONS", 4)  # several slabs
    monkeypatch.setattr(reformat, "_AFFINE_BLOCK_ROWS", 5)
    monkeypatch.setattr(reformat, "_AFFINE_SUB_SLICES", 3)
    if name in AFFINE:  # streamed through the SimpleITK slab path, not the general one
        target = sagittal_reformat_geometry(stack.geometry)
        assert reformat._affine_index_map(stack.geometry, target) is not None
    display = DisplayStack.for_viewing(stack)
    assert display.is_reformat
    seen: list[tuple[int, int]] = []
    got = display.volume(progress=lambda d, t: seen.append((d, t)))
    assert got.dtype == np.int16
    np.testing.assert_array_equal(got, expected)
    assert seen[-1] == (stack.n_images, stack.n_images)


def test_streamed_reformat_peaks_near_the_reformat_alone(tmp_path: Path) -> None:
    """Peak memory of loading a reformat: the output plus a slab, far below source + output."""
    import tracemalloc

    geometry = synth.axial_geometry(240, 96, 96, pixel_spacing_mm=(1.0, 1.0), slice_spacing_mm=1.0)
    values = np.random.default_rng(9).integers(-1024, 2000, size=geometry.shape).astype(float)
    synth.write_series(tmp_path, values, geometry, synth.SeriesSpec(modality="CT", rescale_intercept=-1024))
    (stack,) = scan_paths([tmp_path]).stacks
    display = DisplayStack.for_viewing(stack)
    source_bytes = values.size * 2

    def peak_of(fn: object) -> tuple[int, np.ndarray]:
        tracemalloc.start()
        result = fn()  # type: ignore[operator]
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return peak, result

    whole_peak, (_, whole) = peak_of(lambda: sagittal_reformat(stack.geometry, load_volume(stack)))
    peak, out = peak_of(display.volume)
    np.testing.assert_array_equal(out, whole)
    assert out.nbytes >= source_bytes  # the reformat is at least as big as the source here
    assert whole_peak >= out.nbytes + source_bytes  # source and output at once
    assert peak < out.nbytes + 0.8 * source_bytes, (peak, out.nbytes, source_bytes)
    assert peak < whole_peak - 0.2 * source_bytes
