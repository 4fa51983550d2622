"""The fast native read path: range checks on one end, masks for unused bits.

Values are checked against the synthetic series' known voxels (written in output units).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from dicomio.pixels import load_volume, output_dtype
from dicomio.scan import scan_paths
from dicomio.synthetic import synth


def _phantom(shape: tuple[int, int, int], low: int, high: int, seed: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).integers(low, high + 1, size=shape).astype(np.float64)


def test_unsigned_12_bit_ignores_whatever_is_above_bits_stored(tmp_path: Path) -> None:
    geometry = synth.sagittal_geometry(3, 8, 10)
    values = _phantom(geometry.shape, 0, 4095)
    paths = synth.write_series(tmp_path, values, geometry, synth.SeriesSpec(modality="MR"))
    for k, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        ds.BitsStored, ds.HighBit = 12, 11
        ds.PixelData = (values[k].astype(np.uint16) | np.uint16(0xB000)).astype("<u2").tobytes()
        ds.save_as(path)
    (stack,) = scan_paths([tmp_path]).stacks
    assert stack.pixel_format.pixel_representation == 0
    volume = load_volume(stack)
    assert volume.dtype == np.int16
    np.testing.assert_array_equal(volume, values)


@pytest.mark.parametrize("monochrome1", [False, True])
def test_ct_below_int16_after_the_intercept_becomes_float32(tmp_path: Path, monochrome1: bool) -> None:
    """Signed 16-bit CT, intercept -1024: only the low end can leave int16, and it does."""
    geometry = synth.axial_geometry(3, 8, 8)
    values = _phantom(geometry.shape, -1024, 3000)
    values[1, 4, 5] = -33000.0  # stored -31976, fits int16; its HU does not
    spec = synth.SeriesSpec(modality="CT", rescale_intercept=-1024)
    synth.write_series(tmp_path, values, geometry, spec, monochrome1=monochrome1)
    (stack,) = scan_paths([tmp_path]).stacks
    assert output_dtype(stack) == (np.dtype(np.int16), True)  # int16 tried, the range checked
    volume = load_volume(stack)
    assert volume.dtype == np.float32
    np.testing.assert_array_equal(volume, values)


@pytest.mark.parametrize("monochrome1", [False, True])
def test_ct_within_int16_stays_int16(tmp_path: Path, monochrome1: bool) -> None:
    geometry = synth.axial_geometry(3, 8, 8)
    values = _phantom(geometry.shape, -1024, 3000)
    values[0, 0, 0], values[2, 7, 7] = -32768.0, 31743.0  # the int16 ends, reached exactly
    spec = synth.SeriesSpec(modality="CT", rescale_intercept=-1024)
    synth.write_series(tmp_path, values, geometry, spec, monochrome1=monochrome1)
    volume = load_volume(scan_paths([tmp_path]).stacks[0])
    assert volume.dtype == np.int16
    np.testing.assert_array_equal(volume, values)
