"""Series assembly: order by position, spacing from positions, warnings; window presets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from dicomio.assemble import spacing_warnings
from dicomio.model import SeriesStack
from dicomio.scan import scan_paths
from dicomio.synthetic.synth import (
    SeriesSpec,
    axial_geometry,
    sagittal_geometry,
    tilted_geometry,
    write_series,
)
from dicomio.windowing import CT_BONE, CT_SOFT_TISSUE, auto_window, file_windows, window_presets

SPACING = (0.5, 0.8)


def _volume(shape: tuple[int, int, int]) -> np.ndarray:
    return np.random.default_rng(3).integers(0, 2000, size=shape).astype(float)


def _scan_one(folder: Path) -> SeriesStack:
    result = scan_paths([folder])
    assert len(result.stacks) == 1, result.skipped
    return result.stacks[0]


def test_regular_series_has_no_warnings(tmp_path: Path) -> None:
    g = sagittal_geometry(8, 6, 6, SPACING, 3.3, oblique_deg=4.0)
    write_series(tmp_path, _volume(g.shape), g, SeriesSpec(modality="MR"), shuffle_names=True)
    stack = _scan_one(tmp_path)
    assert stack.warnings == []
    assert stack.geometry.slice_spacing_mm == pytest.approx(3.3)


def test_gap_is_reported_with_the_slices_around_it(tmp_path: Path) -> None:
    offsets = [0.0, 3.0, 6.0, 15.0, 18.0, 21.0]  # two slices missing between 6 and 15
    g = sagittal_geometry(6, 6, 6, SPACING, slice_offsets_mm=offsets)
    write_series(tmp_path, _volume(g.shape), g, SeriesSpec(modality="MR"), reverse_instance_numbers=True)
    stack = _scan_one(tmp_path)
    np.testing.assert_allclose(stack.geometry.slice_offsets_mm - stack.geometry.slice_offsets_mm[0], offsets)
    assert stack.geometry.slice_spacing_mm == pytest.approx(3.0)
    (warning,) = stack.warnings
    assert warning.startswith("Slice gap:")
    assert "slices 3-4 (9.00 mm)" in warning and "usual 3.00 mm" in warning


def test_uneven_spacing_is_reported(tmp_path: Path) -> None:
    offsets = [0.0, 3.0, 6.4, 9.0, 12.0]  # steps 3, 3.4, 2.6, 3
    g = axial_geometry(5, 6, 6, SPACING, slice_offsets_mm=offsets)
    write_series(tmp_path, _volume(g.shape), g, SeriesSpec())
    stack = _scan_one(tmp_path)
    (warning,) = stack.warnings
    assert warning.startswith("Uneven slice spacing:")
    assert "from 2.60 to 3.40 mm (median 3.00 mm)" in warning


def test_duplicate_positions_keep_one_image(tmp_path: Path) -> None:
    study, series = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    g = axial_geometry(4, 6, 6, SPACING, 2.5)
    spec = SeriesSpec(study_uid=study, series_uid=series, frame_of_reference_uid=pydicom.uid.generate_uid())
    first = write_series(tmp_path / "a", _volume(g.shape), g, spec)
    # a second copy of slices at the same positions, with higher instance numbers
    again = axial_geometry(2, 6, 6, SPACING, 2.5)
    spec2 = SeriesSpec(study_uid=study, series_uid=series, extra={"InstanceNumber": 99})
    write_series(tmp_path / "b", _volume(again.shape), again, spec2)
    stack = _scan_one(tmp_path)
    assert stack.n_images == 4
    assert [f.path for f in stack.frames] == first  # the lower InstanceNumber wins
    (warning,) = stack.warnings
    assert warning.startswith("Duplicate positions: 2 image(s)")
    assert stack.geometry.slice_spacing_mm == pytest.approx(2.5)


def test_gantry_tilt_is_reported_and_geometry_exact(tmp_path: Path) -> None:
    g = axial_geometry(5, 8, 8, SPACING, 2.0, (0.0, 0.0, -40.0))
    write_series(tmp_path, _volume(g.shape), g, SeriesSpec(), gantry_tilt_deg=12.0, shuffle_names=True)
    stack = _scan_one(tmp_path)
    truth = tilted_geometry(g, 12.0)
    for got, want in zip(stack.geometry.slices, truth.slices, strict=True):
        np.testing.assert_allclose(got.position_mm, want.position_mm, atol=1e-9)
    assert stack.geometry.gantry_tilt_deg() == pytest.approx(12.0)
    assert stack.geometry.slice_spacing_mm == pytest.approx(2.0)
    (warning,) = stack.warnings
    assert warning.startswith("Gantry tilt: the slices are sheared by 12.0 deg")


def test_tiny_tilt_is_not_reported(tmp_path: Path) -> None:
    g = axial_geometry(5, 8, 8, SPACING, 2.0)
    write_series(tmp_path, _volume(g.shape), g, SeriesSpec(), gantry_tilt_deg=0.4)
    assert _scan_one(tmp_path).warnings == []


@pytest.mark.parametrize(
    ("offsets", "expected"),
    [
        ([0, 3, 6, 9], []),
        ([0, 3], []),
        ([0, 3, 6, 10.6, 13.6], ["Slice gap"]),  # 4.6 > 1.5 * 3
        ([0, 3, 6, 10.4, 13.4], ["Uneven slice spacing"]),  # 4.4 <= 4.5: uneven, not a gap
        ([0, 3, 6.1, 9.1], []),  # within 5% of the median
        ([0, 1, 2, 3, 13, 14, 15, 16], ["Slice gap"]),
    ],
)
def test_spacing_warning_thresholds(offsets: list[float], expected: list[str]) -> None:
    warnings = spacing_warnings(offsets)
    assert [w.split(":")[0] for w in warnings] == expected


def test_window_presets_file_first_then_modality() -> None:
    from_file = file_windows(["40", "400"], ["400", "1800"], ["SOFT", "BONE"])
    assert [(w.name, w.center, w.width) for w in from_file] == [
        ("file: SOFT", 40.0, 400.0),
        ("file: BONE", 400.0, 1800.0),
    ]
    assert window_presets("CT", from_file) == [*from_file, CT_BONE, CT_SOFT_TISSUE]
    assert window_presets("MR", []) == []
    assert file_windows("100", "0") == []  # a zero width is no window
    assert [(w.name, w.center) for w in file_windows(100, 200)] == [("file", 100.0)]


def test_auto_window_ignores_background() -> None:
    rng = np.random.default_rng(0)
    volume = np.zeros((4, 50, 50))
    volume[:, 10:40, 10:40] = rng.uniform(500.0, 1500.0, size=(4, 30, 30))
    w = auto_window(volume)
    assert 500.0 <= w.center - w.width / 2 <= 520.0
    assert 1490.0 <= w.center + w.width / 2 <= 1500.0
    with pytest.raises(ValueError, match="no finite values"):
        auto_window(np.full((2, 2), np.nan))
