"""The presets a viewer offers, and a window as grey values (the screen's mapping)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dicomio.model import SeriesStack, WindowPreset
from dicomio.scan import scan_paths
from dicomio.synthetic.synth import SeriesSpec, sagittal_geometry, write_series
from dicomio.windowing import CT_BONE, CT_SOFT_TISSUE, auto_window, display_presets, window_to_uint8

#: Voxels 0..1000: the background is what lies below 5 % of the way from the minimum (0) to
#: the 99.5th percentile (995), i.e. 0..49, so the automatic window runs from the 1st to the
#: 99.5th percentile of 50..1000 (numpy's linear percentiles): 59.5 to 995.25.
RAMP = np.arange(1001, dtype=np.int16)
AUTO_CENTER, AUTO_WIDTH = 527.375, 935.75


def _stack(folder: Path, spec: SeriesSpec) -> SeriesStack:
    geometry = sagittal_geometry(2, 4, 4, pixel_spacing_mm=(0.5, 0.5))
    write_series(folder, np.zeros(geometry.shape), geometry, spec)
    (stack,) = scan_paths([folder]).stacks
    return stack


def test_ct_presets_are_the_files_then_bone_and_soft_tissue_once_then_auto(tmp_path: Path) -> None:
    stack = _stack(tmp_path, SeriesSpec(modality="CT", window_center=50, window_width=350))
    assert stack.windows == [WindowPreset("file", 50.0, 350.0), CT_BONE, CT_SOFT_TISSUE]  # as scanned
    presets, default = display_presets(stack, RAMP)
    assert presets == [
        WindowPreset("file", 50.0, 350.0),
        WindowPreset("CT bone", 400.0, 1800.0),
        WindowPreset("CT soft tissue", 40.0, 400.0),
        WindowPreset("Auto", AUTO_CENTER, AUTO_WIDTH),
    ]
    assert presets[default] == CT_BONE  # a spine tool: bone, whatever the file's window


def test_identical_windows_are_one_entry(tmp_path: Path, realdata_dir: Path) -> None:
    """The real LIDC CT names its lung window twice (-450/2000): one entry, and a file window
    equal to the bone preset is that preset."""
    from dicomio.scan import scan_paths

    files = sorted((realdata_dir / "lidc-idri-0314-ct").iterdir())[:3]
    twice = scan_paths(files).stacks[0]
    assert [(w.center, w.width) for w in twice.windows[:2]] == [(-450.0, 2000.0), (-450.0, 2000.0)]
    presets, default = display_presets(twice, RAMP)
    assert [(p.center, p.width) for p in presets[:3]] == [(-450.0, 2000.0), (400.0, 1800.0), (40.0, 400.0)]
    assert presets[default] == CT_BONE
    bone = _stack(tmp_path / "b", SeriesSpec(modality="CT", window_center=400, window_width=1800))
    presets, default = display_presets(bone, RAMP)
    assert [p.name for p in presets] == ["file", "CT soft tissue", "Auto"] and default == 0


def test_ct_without_a_window_of_its_own_defaults_to_bone(tmp_path: Path) -> None:
    stack = _stack(tmp_path, SeriesSpec(modality="CT"))
    presets, default = display_presets(stack, RAMP)
    assert [p.name for p in presets] == ["CT bone", "CT soft tissue", "Auto"]
    assert presets[default] == CT_BONE


def test_mr_gets_its_file_window_first_and_an_mr_auto_window(tmp_path: Path) -> None:
    with_window = _stack(tmp_path / "a", SeriesSpec(modality="MR", window_center=300, window_width=600))
    presets, default = display_presets(with_window, RAMP)
    assert presets == [WindowPreset("file", 300.0, 600.0), WindowPreset("MR auto", AUTO_CENTER, AUTO_WIDTH)]
    assert default == 0  # the technologist's window

    without = _stack(tmp_path / "b", SeriesSpec(modality="MR"))
    presets, default = display_presets(without, RAMP)
    assert presets == [WindowPreset("MR auto", AUTO_CENTER, AUTO_WIDTH)] and default == 0


def test_a_window_maps_linearly_onto_0_to_255_clipped_and_truncated() -> None:
    # Center 0, width 510: [-255, 255] -> (x + 255) / 2, so the middle (127.5) shows as 127.
    x = np.array([-1000, -256, -255, -254, -253, 0, 1, 254, 255, 256, 1000], dtype=np.int16)
    expected = [0, 0, 0, 0, 1, 127, 128, 254, 255, 255, 255]
    assert window_to_uint8(x, WindowPreset("w", 0.0, 510.0)).tolist() == expected
    # CT soft tissue [-160, 240]: x -> (x + 160) * 255 / 400 = (x + 160) * 0.6375.
    hu = np.array([[-1000, -160, 1, 40], [100, 240, 2000, -159]], dtype=np.int16)
    grey = window_to_uint8(hu, CT_SOFT_TISSUE)
    assert grey.dtype == np.uint8 and grey.shape == (2, 4)
    assert grey.tolist() == [[0, 0, 102, 127], [165, 255, 255, 0]]  # 102.6375, 127.5, 165.75, 0.6375
    # CT bone [-500, 1300] on float32 pixels: 0 -> 500 * 255 / 1800 = 70.83.
    bone = window_to_uint8(np.array([-500.0, 0.0, 400.0, 1300.0, np.nan], dtype=np.float32), CT_BONE)
    assert bone.tolist() == [0, 70, 127, 255, 0]  # NaN is black


def test_a_window_of_no_width_is_a_step_at_its_center() -> None:
    """Width 0 is shown as the viewer's narrowest window (1e-6): a threshold at the center."""
    grey = window_to_uint8(np.array([99.0, 100.0 - 1e-3, 100.0 + 1e-3, 101.0]), WindowPreset("w", 100.0, 0.0))
    assert grey.tolist() == [0, 0, 255, 255]


def test_the_grey_values_are_the_ones_pyqtgraph_shows() -> None:
    """Cross-check against pyqtgraph's own level mapping (what ImageItem draws with ``levels``)."""
    pg_functions = pytest.importorskip("pyqtgraph.functions")
    rng = np.random.default_rng(9)
    for dtype in (np.int16, np.float32):
        image = rng.uniform(-1200, 2500, size=(64, 48)).astype(dtype)
        for preset in (CT_BONE, CT_SOFT_TISSUE, WindowPreset("MR auto", 527.375, 935.75)):
            levels = (preset.center - preset.width / 2, preset.center + preset.width / 2)
            argb, _ = pg_functions.makeARGB(image, levels=levels)
            np.testing.assert_array_equal(window_to_uint8(image, preset), argb[..., 0])


def test_auto_window_of_a_large_volume_samples_it_with_the_percentiles_of_the_whole() -> None:
    """A 3.1 M-voxel CT-like volume (above the 2 M sample limit): half air (-1000), half a
    uniform mix of 0..999 HU in random order.  Background is below -1000 + 5 % of the range,
    so the window runs from the foreground's 1st to 99.5th percentile: 9.99 and 994.0 for a
    uniform 0..999 (numpy's linear percentiles), i.e. centre ~502, width ~984."""
    rng = np.random.default_rng(7)
    n = 48 * 256 * 256
    values = np.concatenate([np.full(n // 2, -1000), np.tile(np.arange(1000), n // 2000 + 1)[: n // 2]])
    volume = rng.permutation(values).astype(np.int16).reshape(48, 256, 256)
    auto = auto_window(volume)
    assert auto.center == pytest.approx((9.99 + 994.0) / 2, abs=3.0)
    assert auto.width == pytest.approx(994.0 - 9.99, abs=3.0)
    # The same as the percentiles of every voxel (no sampling), within a grey level of 1 HU.
    fg = volume[volume > -900].astype(np.float64)
    p_lo, p_hi = np.percentile(fg, [1.0, 99.5])
    assert auto.center == pytest.approx((p_lo + p_hi) / 2, abs=1.0)
    assert auto.width == pytest.approx(p_hi - p_lo, abs=1.0)


def test_auto_window_ignores_nan_and_inf_in_a_float_volume() -> None:
    volume = np.tile(RAMP.astype(np.float32), 3000).reshape(3000, 1001)  # 3 M voxels: sampled
    volume[::7, ::3] = np.nan
    volume[1::11, ::5] = np.inf
    auto = auto_window(volume)
    # The NaN/inf pattern thins some ramp values more than others: truth is the percentiles
    # of every finite voxel above the background threshold (0 + 5 % of 0..995: 49.75).
    finite = volume[np.isfinite(volume)].astype(np.float64)
    p_lo, p_hi = np.percentile(finite[finite > 0.05 * np.percentile(finite, 99.5)], [1.0, 99.5])
    assert auto.center == pytest.approx((p_lo + p_hi) / 2, abs=1.0)
    assert auto.width == pytest.approx(p_hi - p_lo, abs=1.0)
    assert auto.width == pytest.approx(AUTO_WIDTH, abs=2.0)  # close to the unthinned ramp's
    with pytest.raises(ValueError, match="no finite values"):
        auto_window(np.full((4, 4), np.nan))


def test_auto_window_does_not_copy_the_volume_as_float64() -> None:
    """The peak extra memory of a 64 MiB int16 volume's window is the sample (2 M x 8 bytes
    = 16 MiB plus percentile temporaries), not a 256 MiB float64 copy."""
    import tracemalloc

    volume = np.zeros((128, 512, 512), dtype=np.int16)
    volume[:, 100:400, 100:400] = 500
    tracemalloc.start()
    auto_window(volume)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 0.75 * volume.nbytes


def test_presets_before_the_voxels_are_loaded(tmp_path: Path) -> None:
    """Without the voxels: the same list less the automatic window, the same default; refused
    where the automatic window would be the default."""
    from dicomio.windowing import default_needs_voxels

    ct = _stack(tmp_path / "ct", SeriesSpec(modality="CT", window_center=50, window_width=350))
    assert not default_needs_voxels(ct)
    presets, default = display_presets(ct, None)
    assert presets == [WindowPreset("file", 50.0, 350.0), CT_BONE, CT_SOFT_TISSUE]
    assert presets[default] == CT_BONE
    mr_window = _stack(tmp_path / "a", SeriesSpec(modality="MR", window_center=300, window_width=600))
    assert not default_needs_voxels(mr_window)
    assert display_presets(mr_window, None) == ([WindowPreset("file", 300.0, 600.0)], 0)
    mr = _stack(tmp_path / "b", SeriesSpec(modality="MR"))
    assert default_needs_voxels(mr)
    with pytest.raises(ValueError, match="voxels"):
        display_presets(mr, None)
