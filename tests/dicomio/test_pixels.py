"""Pixel loading: exact values against synthetic series with known voxels, and real files."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicomio.display_stack import DisplayStack
from dicomio.geometry import StackGeometry
from dicomio.model import FrameRef, PixelFormat, SeriesStack
from dicomio.pixel_errors import LoadCancelledError, PixelDecodeError
from dicomio.pixels import load_volume, output_dtype
from dicomio.scan import scan_paths
from dicomio.synthetic import synth
from dicomio.volume_cache import VolumeCache


def stack_of(path: str | Path, frame_order: list[int] | None = None) -> SeriesStack:
    """A SeriesStack built by hand from one file (pydicom's test files have no geometry).

    ``frame_order[k]`` is the frame shown as slice ``k``; the geometry is a plain
    sagittal stack, irrelevant to pixel values.
    """
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    order = list(range(n_frames)) if frame_order is None else frame_order
    geometry = synth.sagittal_geometry(len(order), int(ds.Rows), int(ds.Columns))
    fmt = PixelFormat(
        bits_allocated=int(ds.BitsAllocated),
        bits_stored=int(ds.BitsStored),
        pixel_representation=int(ds.PixelRepresentation),
        photometric=str(ds.PhotometricInterpretation),
        samples_per_pixel=int(ds.get("SamplesPerPixel", 1)),
        transfer_syntax_uid=str(ds.file_meta.TransferSyntaxUID),
        rescale_slope=float(ds.get("RescaleSlope", 1.0)),
        rescale_intercept=float(ds.get("RescaleIntercept", 0.0)),
        big_endian=not ds.file_meta.TransferSyntaxUID.is_little_endian,
    )
    frames = [
        FrameRef(Path(path), f"1.2.3.{k}", geometry.slices[k], None if n_frames == 1 else j)
        for k, j in enumerate(order)
    ]
    return SeriesStack("1.2", "1.2.3", None, str(ds.get("Modality", "OT")), "", frames, geometry, fmt)


def _only_stack(folder: Path) -> SeriesStack:
    result = scan_paths([folder])
    assert len(result.stacks) == 1, result.skipped
    return result.stacks[0]


def _phantom(shape: tuple[int, int, int], low: int, high: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(low, high + 1, size=shape).astype(np.float64)


@pytest.fixture
def ct_series(tmp_path: Path) -> tuple[SeriesStack, np.ndarray]:
    """Axial CT, 12 x 40 x 48, uneven spacing, shuffled names, instance numbers reversed."""
    geometry = synth.axial_geometry(
        12, 40, 48, pixel_spacing_mm=(0.6, 0.8), slice_offsets_mm=[0, 1, 2.5, 4, 5, 7, 8, 9, 11, 12, 13, 15]
    )
    hu = _phantom(geometry.shape, -1024, 2500)
    hu[3, 5, 7] = -1024
    hu[4, 6, 8] = 3071
    spec = synth.SeriesSpec(modality="CT", rescale_intercept=-1024)
    synth.write_series(tmp_path, hu, geometry, spec, shuffle_names=True, reverse_instance_numbers=True)
    return _only_stack(tmp_path), hu


def test_ct_in_hounsfield_units_exact(ct_series: tuple[SeriesStack, np.ndarray]) -> None:
    stack, hu = ct_series
    assert all(f.pixel_offset is not None for f in stack.frames)  # the direct-read path
    volume = load_volume(stack, workers=3)
    assert volume.dtype == np.int16
    np.testing.assert_array_equal(volume, hu)


def test_native_frames_without_known_offsets_are_located(ct_series: tuple[SeriesStack, np.ndarray]) -> None:
    stack, hu = ct_series
    from dataclasses import replace

    stack.frames = [replace(f, pixel_offset=None, pixel_nbytes=None) for f in stack.frames]
    np.testing.assert_array_equal(load_volume(stack), hu)


def test_mr_float_rescale(tmp_path: Path) -> None:
    geometry = synth.sagittal_geometry(5, 32, 24, pixel_spacing_mm=(0.9, 1.1))
    stored = _phantom(geometry.shape, 0, 4000)
    values = stored * 0.25 + 10.5  # exact in float32
    spec = synth.SeriesSpec(modality="MR", rescale_slope=0.25, rescale_intercept=10.5)
    synth.write_series(tmp_path, values, geometry, spec)
    volume = load_volume(_only_stack(tmp_path))
    assert volume.dtype == np.float32
    np.testing.assert_array_equal(volume, values)


def test_unsigned_values_beyond_int16_become_float32(tmp_path: Path) -> None:
    geometry = synth.sagittal_geometry(3, 16, 20)
    values = _phantom(geometry.shape, 0, 65535)
    values[1, 2, 3] = 65535
    synth.write_series(tmp_path, values, geometry, synth.SeriesSpec(modality="MR"))
    stack = _only_stack(tmp_path)
    assert output_dtype(stack) == (np.dtype(np.int16), True)  # tried, checked, then float32
    volume = load_volume(stack)
    assert volume.dtype == np.float32
    np.testing.assert_array_equal(volume, values)


def test_unsigned_values_within_int16_stay_int16(tmp_path: Path) -> None:
    geometry = synth.sagittal_geometry(3, 16, 20)
    values = _phantom(geometry.shape, 0, 32767)
    synth.write_series(tmp_path, values, geometry, synth.SeriesSpec(modality="MR"))
    volume = load_volume(_only_stack(tmp_path))
    assert volume.dtype == np.int16
    np.testing.assert_array_equal(volume, values)


@pytest.mark.parametrize("modality, low, high", [("MR", 0, 3000), ("CT", -1024, 2000)])
def test_monochrome1_is_inverted_so_bright_is_high(
    tmp_path: Path, modality: str, low: int, high: int
) -> None:
    geometry = synth.sagittal_geometry(4, 24, 20)
    values = _phantom(geometry.shape, low, high)
    spec = synth.SeriesSpec(modality=modality, rescale_intercept=-1024 if modality == "CT" else 0)
    synth.write_series(tmp_path, values, geometry, spec, monochrome1=True)
    stack = _only_stack(tmp_path)
    assert stack.pixel_format.photometric == "MONOCHROME1"
    raw = pydicom.dcmread(stack.frames[0].path).pixel_array
    volume = load_volume(stack)
    np.testing.assert_array_equal(volume, values)
    # On disk the brightest voxel has the lowest stored value; after loading, the highest.
    k = int(np.argmax(values[0]))
    assert raw.flat[k] == raw.min() and volume[0].flat[k] == volume[0].max()


@pytest.mark.parametrize("kind", ["enhanced", "sc"])
def test_multiframe_out_of_order(tmp_path: Path, kind: str) -> None:
    geometry = synth.sagittal_geometry(7, 30, 26, pixel_spacing_mm=(0.8, 1.0), slice_spacing_mm=3.3)
    values = _phantom(geometry.shape, 0, 3000)
    order = [3, 0, 6, 1, 5, 2, 4]
    synth.write_series(
        tmp_path,
        values,
        geometry,
        synth.SeriesSpec(modality="MR"),
        multiframe=True,
        frame_order=order,
        extra_per_frame_item=True,
        multiframe_kind=kind,
    )
    stack = _only_stack(tmp_path)
    assert [f.frame_index for f in stack.frames] == [order.index(k) for k in range(7)]
    np.testing.assert_array_equal(load_volume(stack, workers=2), values)


def test_rle_multiframe_out_of_order(tmp_path: Path) -> None:
    geometry = synth.sagittal_geometry(6, 20, 18)
    values = _phantom(geometry.shape, -1024, 1500)
    synth.write_series(
        tmp_path,
        values,
        geometry,
        synth.SeriesSpec(modality="CT", rescale_intercept=-1024),
        multiframe=True,
        frame_order=[5, 4, 3, 2, 1, 0],
        compression="rle",
    )
    stack = _only_stack(tmp_path)
    assert stack.pixel_format.transfer_syntax_uid == pydicom.uid.RLELossless
    np.testing.assert_array_equal(load_volume(stack), values)


def test_per_frame_rescale(tmp_path: Path) -> None:
    """One file of the series has its own slope/intercept (as some Philips MR do)."""
    geometry = synth.sagittal_geometry(4, 16, 12)
    values = 2 * _phantom(geometry.shape, 0, 1000)
    paths = synth.write_series(tmp_path, values, geometry, synth.SeriesSpec(modality="MR"))
    ds = pydicom.dcmread(paths[2])
    ds.RescaleSlope, ds.RescaleIntercept = 2, -100
    ds.PixelData = ((values[2] + 100) / 2).astype("<u2").tobytes()
    ds.save_as(paths[2])
    stack = _only_stack(tmp_path)
    assert (stack.frames[2].rescale_slope, stack.frames[2].rescale_intercept) == (2.0, -100.0)
    volume = load_volume(stack)
    assert volume.dtype == np.int16
    np.testing.assert_array_equal(volume, values)


def test_unused_high_bits_are_ignored_and_sign_extended(tmp_path: Path) -> None:
    """BitsStored 12 in 16 bits: whatever sits in the top 4 bits must not change values."""
    geometry = synth.sagittal_geometry(2, 8, 8)
    values = _phantom(geometry.shape, -2048, 2047)
    paths = synth.write_series(tmp_path, values, geometry, synth.SeriesSpec(modality="CT"))
    for k, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        ds.BitsStored, ds.HighBit = 12, 11
        twelve_bits = values[k].astype(np.int16).view(np.uint16) & 0x0FFF
        garbage = np.uint16(0xA000)  # neither zero nor a sign extension
        ds.PixelData = (twelve_bits | garbage).astype("<u2").tobytes()
        ds.save_as(path)
    np.testing.assert_array_equal(load_volume(_only_stack(tmp_path)), values)


def test_big_endian_equals_little_endian() -> None:
    little = scan_paths([get_testdata_file("MR_small.dcm")]).stacks[0]
    big = scan_paths([get_testdata_file("MR_small_bigendian.dcm")]).stacks[0]
    assert big.pixel_format.big_endian and big.frames[0].pixel_offset is None
    a, b = load_volume(little), load_volume(big)
    assert a.shape == (1, 64, 64)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[0], pydicom.dcmread(get_testdata_file("MR_small.dcm")).pixel_array)


def test_big_endian_multiframe_12_bit() -> None:
    order = [9, 2, 4, 0, 1, 3, 5, 6, 7, 8]
    little = load_volume(stack_of(get_testdata_file("emri_small.dcm"), order))
    big = load_volume(stack_of(get_testdata_file("emri_small_big_endian.dcm"), order))
    reference = pydicom.dcmread(get_testdata_file("emri_small.dcm")).pixel_array
    np.testing.assert_array_equal(little, reference[order])
    np.testing.assert_array_equal(big, reference[order])


def test_ct_rescale_of_real_file() -> None:
    stack = scan_paths([get_testdata_file("CT_small.dcm")]).stacks[0]
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    volume = load_volume(stack)
    assert volume.dtype == np.int16  # BitsStored 16 with intercept -1024: checked, fits
    np.testing.assert_array_equal(volume[0], ds.pixel_array.astype(np.int32) * 1 - 1024)


@pytest.mark.parametrize(
    ("multiframe", "compression", "limit"),
    [
        (False, None, 1.2),  # native: frames are read straight into their slot
        (True, None, 1.2),
        # compressed: each decoding thread holds ~3.5 frames while pydicom decodes one
        # (compressed bytes, decoded bytes, array); 40 frames -> 2 threads
        (False, "rle", 1.25),
        (True, "jpeg-ls", 1.25),
    ],
)
def test_memory_peak_is_near_the_output_size(
    tmp_path: Path, multiframe: bool, compression: str | None, limit: float
) -> None:
    geometry = synth.axial_geometry(40, 128, 128, pixel_spacing_mm=(0.7, 0.7))
    values = _phantom(geometry.shape, -1024, 2000)
    spec = synth.SeriesSpec(modality="CT", rescale_intercept=-1024)
    synth.write_series(tmp_path, values, geometry, spec, multiframe=multiframe, compression=compression)
    stack = _only_stack(tmp_path)
    load_volume(stack)  # warm up imports and caches outside the measurement
    tracemalloc.start()
    try:
        volume = load_volume(stack, workers=4)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(volume, values)
    assert peak <= limit * volume.nbytes, (peak / volume.nbytes, limit)


def test_progress_and_cancel(ct_series: tuple[SeriesStack, np.ndarray]) -> None:
    stack, _ = ct_series
    calls: list[tuple[int, int]] = []
    load_volume(stack, progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, 12) and calls[-1] == (12, 12)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    with pytest.raises(LoadCancelledError, match="cancelled"):
        load_volume(stack, cancel=lambda: True)


def test_truncated_and_missing_files_name_the_file(ct_series: tuple[SeriesStack, np.ndarray]) -> None:
    stack, _ = ct_series
    victim = stack.frames[5].path
    victim.write_bytes(victim.read_bytes()[:-100])
    with pytest.raises(PixelDecodeError, match=f"{victim.name}.*truncated"):
        load_volume(stack)
    victim.unlink()
    with pytest.raises(PixelDecodeError, match=f"{victim.name}.*could not be read"):
        load_volume(stack)


def test_colour_images_are_refused_in_a_sentence() -> None:
    stack = stack_of(get_testdata_file("SC_rgb_rle.dcm"))
    with pytest.raises(ValueError, match=r"RGB.*grayscale"):
        load_volume(stack)


def test_nothing_is_read_until_asked(ct_series: tuple[SeriesStack, np.ndarray], tmp_path: Path) -> None:
    """Geometry and display stacks come from headers only; pixels load on first use, once."""
    stack, hu = ct_series
    loads: list[str] = []

    def counting_loader(s: SeriesStack, **kwargs: object) -> np.ndarray:
        loads.append(s.key)
        return load_volume(s, **kwargs)  # type: ignore[arg-type]

    cache = VolumeCache(loader=counting_loader)
    display = DisplayStack.for_viewing(stack, cache=cache)
    # Move the files away: anything that read pixels now would fail.
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    for f in stack.frames:
        f.path.rename(hidden / f.path.name)
    assert display.is_reformat and display.geometry.shape[0] > 0 and not display.is_loaded
    assert loads == [] and not cache.is_loaded(stack)
    for f in stack.frames:
        (hidden / f.path.name).rename(f.path)
    volume = cache.get(stack)
    assert cache.get(stack) is volume and loads == [stack.key]
    np.testing.assert_array_equal(volume, hu)
    reformat = display.volume()
    assert loads == [stack.key]  # the display used the cached source volume
    assert cache.nbytes == volume.nbytes + reformat.nbytes  # the cache holds the reformat too
    cache.release(stack)
    display.release()
    assert not cache.is_loaded(stack) and cache.nbytes == 0
    cache.get(stack)
    assert loads == [stack.key, stack.key]


def test_single_frame_subset_loads_its_own_slice(ct_series: tuple[SeriesStack, np.ndarray]) -> None:
    """The app's thumbnails load one frame of a stack: the slot mapping must follow."""
    from dataclasses import replace

    stack, hu = ct_series
    one = replace(stack, frames=[stack.frames[7]], geometry=StackGeometry((stack.geometry.slices[7],)))
    np.testing.assert_array_equal(load_volume(one)[0], hu[7])
