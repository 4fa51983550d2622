"""The plane-by-plane (sheared) reformat of a gantry-tilted CT against the exact mapping.

Truth: the general path samples every output voxel at ``source.lps_to_index`` of its own
LPS position (``scipy.ndimage.map_coordinates``), independent of the shear decomposition;
SimpleITK in patient space is checked in ``test_reformat.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from dicomio import reformat, reformat_shear
from dicomio.geometry import StackGeometry
from dicomio.reformat import sagittal_reformat, sagittal_reformat_geometry, sagittal_reformat_streamed
from dicomio.reformat_shear import ShearPlan
from dicomio.synthetic import synth


def _tilted(tilt_deg: float, **kwargs: object) -> StackGeometry:
    args: dict[str, object] = {"pixel_spacing_mm": (0.6, 0.9), "slice_spacing_mm": 1.3}
    args.update(kwargs)
    return synth.tilted_geometry(synth.axial_geometry(15, 34, 27, **args), tilt_deg)  # type: ignore[arg-type]


TILTED = {
    "12 deg": _tilted(12.0),
    "-15 deg, feet first": _tilted(-15.0, feet_first=True),
    "20 deg, oblique 25 deg": _tilted(20.0, oblique_deg=25.0),
    "7 deg, slices thinner than pixels": _tilted(7.0, slice_spacing_mm=0.4),
}


def _plan(source: StackGeometry) -> ShearPlan | None:
    target = sagittal_reformat_geometry(source)
    affine = reformat._affine_index_map(source, target)
    assert affine is not None
    return ShearPlan.build(source.shape, target.shape, *affine)


def _exact(source: StackGeometry, volume: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    """The reformat through the per-slice exact mapping (no affine, no shear)."""
    with monkeypatch.context() as m:
        m.setattr(reformat, "_affine_index_map", lambda *a: None)
        return sagittal_reformat(source, volume)[1]


@pytest.mark.parametrize("name", list(TILTED))
@pytest.mark.parametrize("dtype", [np.int16, np.int32])
def test_shear_path_equals_the_exact_mapping(name: str, dtype: type, monkeypatch: pytest.MonkeyPatch) -> None:
    source = TILTED[name]
    assert reformat._separable_indices(source, sagittal_reformat_geometry(source)) is None
    plan = _plan(source)
    assert plan is not None and plan.free == 1 and plan.streams_slices  # planes across output rows
    volume: np.ndarray = np.random.default_rng(11).integers(-1000, 3000, size=source.shape).astype(dtype)
    monkeypatch.setattr(reformat_shear, "_BLOCK_PLANES", 4)  # several blocks, a partial last one
    _, fast = sagittal_reformat(source, volume)
    exact = _exact(source, volume, monkeypatch)
    assert fast.dtype == dtype and fast.shape == exact.shape
    background = volume.min()
    assert np.array_equal(fast == background, exact == background)  # same voxels outside
    diff = fast.astype(np.int64) - exact.astype(np.int64)
    assert diff.max() <= 1 and diff.min() >= -1  # float32 rounding of a .5, nothing more
    assert np.mean(diff != 0) < 0.01


def test_float_volume_is_interpolated_not_rounded(monkeypatch: pytest.MonkeyPatch) -> None:
    source = TILTED["12 deg"]
    volume = np.random.default_rng(12).normal(0.0, 100.0, size=source.shape).astype(np.float32)
    _, fast = sagittal_reformat(source, volume)
    exact = _exact(source, volume, monkeypatch)
    assert fast.dtype == np.float32
    np.testing.assert_allclose(fast, exact, atol=1e-3)
    assert np.any(fast != np.rint(fast))


@pytest.mark.parametrize("name", list(TILTED))
def test_streamed_shear_reads_slabs_and_equals_the_whole_volume(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = TILTED[name]
    volume = np.random.default_rng(13).integers(-1024, 2000, size=source.shape).astype(np.int16)
    _, whole = sagittal_reformat(source, volume)
    monkeypatch.setattr(reformat_shear, "_BLOCK_PLANES", 3)
    reads: list[tuple[int, int]] = []

    def load(first: int, stop: int) -> np.ndarray:
        reads.append((first, stop))
        return volume[first:stop].copy()

    result = sagittal_reformat_streamed(source, load, np.dtype(np.int16))
    assert result is not None
    target, streamed = result
    assert target.shape == whole.shape
    np.testing.assert_array_equal(streamed, whole)
    assert len(reads) > 3 and max(stop - first for first, stop in reads) < source.shape[0] // 2
    assert min(first for first, _ in reads) == 0 and max(stop for _, stop in reads) == source.shape[0]


def test_simpleitk_path_still_serves_maps_without_a_shear_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    source = TILTED["20 deg, oblique 25 deg"]
    volume = np.random.default_rng(14).integers(-1000, 2000, size=source.shape).astype(np.int16)
    monkeypatch.setattr(ShearPlan, "build", classmethod(lambda cls, *a: None))
    _, sitk_path = sagittal_reformat(source, volume)
    exact = _exact(source, volume, monkeypatch)
    assert np.array_equal(sitk_path == volume.min(), exact == volume.min())
    assert np.max(np.abs(sitk_path.astype(int) - exact.astype(int))) <= 1


def test_plan_is_refused_where_it_does_not_apply() -> None:
    shape = (10, 20, 30)
    offset = np.zeros(3)
    # Planes across the innermost output axis (strided writes): left to SimpleITK.
    innermost = np.array([[0.0, 0.0, 0.4], [0.0, 1.0, 0.2], [1.0, 0.0, 0.0]])
    assert ShearPlan.build(shape, shape, innermost, offset) is None
    # A rotation in-plane: no axis steps one voxel along one source axis.
    c, s = np.cos(0.3), np.sin(0.3)
    rotation = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    assert ShearPlan.build(shape, shape, rotation, offset) is None
    # Two output axes along the same source axis.
    twice = np.array([[0.0, 0.5, 0.0], [1.0, 0.0, 1.0], [0.0, 0.2, 0.0]])
    assert ShearPlan.build(shape, shape, twice, offset) is None
    sheared = np.array([[0.0, 0.8, 0.0], [0.0, 0.2, 1.0], [-1.0, 0.0, 0.0]])
    plan = ShearPlan.build(shape, shape, sheared, offset)
    assert plan is not None and plan.free == 1 and plan.blend == 0


def test_planes_outside_the_volume_get_the_background() -> None:
    """A map that leaves the volume along the blended axis: whole planes get ``cval``."""
    volume = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    matrix = np.array([[0.0, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.0]])
    offset = np.array([-2.0, 0.0, 0.0])  # output row j reads source slice j - 2
    plan = ShearPlan.build(volume.shape, (6, 8, 5), matrix, offset)
    assert plan is not None
    out = np.full((6, 8, 5), 7, dtype=np.int16)
    plan.run(volume, out, -5.0)
    assert np.all(out[:, :2] == -5) and np.all(out[:, 6:] == -5)  # rows 0-1 and 6-7: no slice
    # Row 2 reads slice 0 at row shift 1.0 (exactly): out[k, 2, i] = volume[0, i + 1, k].
    np.testing.assert_array_equal(out[:, 2, :4], volume[0, 1:5, :].T)
    assert np.all(out[:, 2, 4] == -5)  # row index 5: past the last source row
