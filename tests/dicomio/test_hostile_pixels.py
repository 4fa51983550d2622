"""Hostile pixel headers (issue 14, holes 3 and 4): memory bombs are refused before any
allocation, wrong pixel descriptions are refused with their reason or loaded with a warning
that says what was assumed, and what the scan (``endplate info``) lists always loads."""

from __future__ import annotations

import math
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate, generate_frames

from dicomio.pixel_errors import DecodeBudgetError, available_memory_bytes
from dicomio.pixels import load_volume
from dicomio.scan import scan_paths
from dicomio.synthetic.synth import SeriesSpec, axial_geometry, write_series
from tests.dicomio.test_bad_input import _assert_good_still_scans, _good_series, _reasons


def _one_file(folder: Path, compression: str | None = None, n: int = 1) -> Path:
    g = axial_geometry(n, 16, 16)
    values = np.arange(np.prod(g.shape), dtype=float).reshape(g.shape) % 900
    (path,) = write_series(
        folder, values, g, SeriesSpec(description="BAD"), compression=compression, multiframe=n > 1
    )
    return path


def _edited(
    tmp_path: Path, name: str, edit: Callable[[pydicom.Dataset], None], compression: str | None = None
) -> Path:
    path = _one_file(tmp_path / "src" / name, compression)
    ds = pydicom.dcmread(path)
    edit(ds)
    out = tmp_path / "d" / name
    out.parent.mkdir(exist_ok=True)
    ds.save_as(out, enforce_file_format=True)
    return out


# -- hole 3: memory bombs ----------------------------------------------------------------------------


def _bomb(tmp_path: Path) -> Path:
    """A small RLE file whose header claims 46000 x 46000 pixels (the issue's 75 KB file)."""

    def claim(ds: pydicom.Dataset) -> None:
        ds.Rows = ds.Columns = 46000

    return _edited(tmp_path, "bomb.dcm", claim, compression="rle")


def test_rle_bomb_is_refused_by_the_scan_without_allocating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ENDPLATE_MAX_DECODE_MB", raising=False)
    bomb = _bomb(tmp_path)
    assert bomb.stat().st_size < 100_000
    _good_series(tmp_path / "d" / "good")
    tracemalloc.start()
    try:
        result = scan_paths([tmp_path / "d"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    reason = _reasons(result)["bomb.dcm"]
    decoded_mb = 46000 * 46000 * 2 / 2**20  # 8-bit stored, loaded as int16
    want = f"too large: the file's 1 frame(s) of 46000 x 46000 pixels would take {decoded_mb:,.0f} MB"
    assert reason.startswith(want + " once decoded, more than the "), reason
    available = available_memory_bytes()
    if available is not None and available * 3 // 4 > 2048 * 2**20:  # the default cap is the limit
        assert "more than the 2,048 MB Endplate allows for one image volume" in reason
    assert peak < 50 * 2**20  # nothing near 4 GB was allocated
    _assert_good_still_scans(result)


def test_loader_refuses_a_volume_over_the_budget_before_allocating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loader checks again (a stack scanned under a larger budget, or built by hand)."""
    path = _one_file(tmp_path / "big", n=40)  # 40 x 16 x 16 int16 = 20480 bytes
    (stack,) = scan_paths([path]).stacks
    monkeypatch.setenv("ENDPLATE_MAX_DECODE_MB", str(10_000 / 2**20))  # 10 kB
    tracemalloc.start()
    try:
        with pytest.raises(DecodeBudgetError) as err:
            load_volume(stack)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(err.value)
    assert message.startswith("series ") and "40 x 16 x 16 pixels" in message
    assert "would take 0 MB once decoded, more than the 0 MB Endplate allows" in message
    assert peak < 20480  # the volume (20480 bytes) was never allocated
    monkeypatch.setenv("ENDPLATE_MAX_DECODE_MB", "1")
    assert load_volume(stack).shape == (40, 16, 16)


def test_series_over_the_budget_is_not_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each file fits, the series does not: every one of its files is skipped with the reason."""
    paths = _good_series(tmp_path / "d", n=8)  # 8 x 8 x 8 int16 = 1024 bytes, 128 per file
    monkeypatch.setenv("ENDPLATE_MAX_DECODE_MB", str(600 / 2**20))
    result = scan_paths([tmp_path / "d"])
    assert result.stacks == []
    assert sorted(s.path for s in result.skipped) == sorted(paths)
    assert {s.reason for s in result.skipped} == {
        "too large: series 'GOOD', 8 x 8 x 8 pixels, would take 0 MB once decoded, more than the 0 MB "
        "Endplate allows for one image volume (the machine's available memory and ENDPLATE_MAX_DECODE_MB); "
        "it was not decoded"
    }


# -- hole 4: wrong pixel descriptions -------------------------------------------------------------------


def _set(**values: object) -> Callable[[pydicom.Dataset], None]:
    def edit(ds: pydicom.Dataset) -> None:
        for keyword, value in values.items():
            setattr(ds, keyword, value)

    return edit


REFUSED = {
    "ba8_on_16bit.dcm": (
        _set(BitsAllocated=8, BitsStored=8, HighBit=7),
        "unsupported pixel format: the pixel data holds 512 bytes, 2 times the 256 expected for 1 frame(s) "
        "of 16 x 16 at 8 bits",
    ),
    "ba0.dcm": (
        _set(BitsAllocated=0),
        "unsupported pixel format: the image has BitsAllocated 0; expected 8, 16 or 32",
    ),
    "ba12.dcm": (_set(BitsAllocated=12), "unsupported pixel format: the image has BitsAllocated 12;"),
    "bs17.dcm": (
        _set(BitsStored=17),
        "unsupported pixel format: the image has BitsStored 17 with BitsAllocated 16",
    ),
    "slope0.dcm": (_set(RescaleSlope=0), "unsupported pixel format: the image has RescaleSlope 0.0;"),
    "slopenan.dcm": (_set(RescaleSlope="NaN"), "unsupported pixel format: the image has RescaleSlope nan;"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_wrong_pixel_description_is_refused_with_its_reason(tmp_path: Path, name: str) -> None:
    edit, reason = REFUSED[name]
    _edited(tmp_path, name, edit)
    _good_series(tmp_path / "d" / "good")
    result = scan_paths([tmp_path / "d"])
    got = _reasons(result)
    assert got[name].startswith(reason), got[name]
    assert [s.description for s in result.stacks] == ["GOOD"]  # nothing listed that would not load
    _assert_good_still_scans(result)


def test_non_unit_orientation_loads_with_a_warning(tmp_path: Path) -> None:
    paths = _good_series(tmp_path / "good")
    truth = scan_paths([tmp_path]).stacks[0]
    for p in paths:
        ds = pydicom.dcmread(p)
        ds.ImageOrientationPatient = [2 * float(v) for v in ds.ImageOrientationPatient]
        ds.save_as(p)
    (stack,) = scan_paths([tmp_path]).stacks
    assert stack.n_images == 4
    assert stack.warnings == [
        "ImageOrientationPatient holds directions of length 2 and 2, not unit vectors; Endplate normalised "
        "them (the directions kept, as the file's writer meant, it assumes)."
    ]
    for got, want in zip(stack.geometry.slices, truth.geometry.slices, strict=True):
        np.testing.assert_allclose(got.row_cosine, want.row_cosine, atol=1e-12)
        np.testing.assert_allclose(got.col_cosine, want.col_cosine, atol=1e-12)
    np.testing.assert_array_equal(load_volume(stack), load_volume(truth))


def test_pixel_data_longer_than_declared_loads_with_a_warning(tmp_path: Path) -> None:
    path = _one_file(tmp_path / "long")
    plain = pydicom.dcmread(path).pixel_array
    ds = pydicom.dcmread(path)
    ds.PixelData = ds.PixelData + b"\x7f" * 100
    ds.save_as(path)
    (stack,) = scan_paths([path]).stacks
    assert stack.warnings == [
        f"{path.name}: the pixel data holds 612 bytes, 100 more than the 512 expected for 1 frame(s) of "
        "16 x 16 at 16 bits; the extra bytes at the end were ignored."
    ]
    np.testing.assert_array_equal(load_volume(stack)[0], plain.astype(np.int16))


# -- info promises only what loads: corrupt compressed fragments -----------------------------------------


def _recompress(src: Path, out: Path, change: Callable[[bytes], bytes]) -> Path:
    ds = pydicom.dcmread(src)
    frames = [
        change(f) for f in generate_frames(ds.PixelData, number_of_frames=int(ds.get("NumberOfFrames", 1)))
    ]
    ds.PixelData = encapsulate(frames)
    ds.save_as(out)
    return out


@pytest.mark.parametrize(
    ("source", "change", "reason"),
    [
        (
            "MR_small_jpeg_ls_lossless.dcm",
            lambda f: b"\0\0" + f[2:],
            "unreadable: the compressed data of frame 1 does not start with a JPEG start-of-image marker",
        ),
        (
            "MR_small_jpeg_ls_lossless.dcm",
            lambda f: f[:2] + b"\x12" + f[3:],
            "unreadable: the compressed data of frame 1 has a malformed JPEG marker at byte 2",
        ),
        (
            "MR_small_RLE.dcm",
            lambda f: b"\x05" + f[1:],
            "unreadable: the compressed data of frame 1 declares 5 RLE segment(s), 2 expected",
        ),
        (
            "MR_small_jp2klossless.dcm",
            lambda f: f.replace(b"\xff\x4f\xff\x51", b"\xff\x4f\xff\x00", 1),
            "unreadable: the compressed data of frame 1 has no JPEG 2000 codestream header",
        ),
    ],
)
def test_corrupt_fragments_are_not_listed_as_loadable(
    tmp_path: Path, source: str, change: Callable[[bytes], bytes], reason: str
) -> None:
    bad = _recompress(Path(get_testdata_file(source)), tmp_path / "bad.dcm", change)
    result = scan_paths([bad])
    assert result.stacks == []
    assert result.skipped[0].reason.startswith(reason), result.skipped[0].reason


def test_compressed_frame_claiming_another_size_is_refused(tmp_path: Path) -> None:
    """JPEG-LS data of 64 x 64 under a header saying 32 x 32: a decoder would allocate what
    the codestream says; the scan refuses it."""
    src = Path(get_testdata_file("MR_small_jpeg_ls_lossless.dcm"))
    ds = pydicom.dcmread(src)
    ds.Rows = ds.Columns = 32
    ds.save_as(tmp_path / "lie.dcm")
    (skipped,) = scan_paths([tmp_path]).skipped
    assert skipped.reason.startswith(
        "unreadable: the compressed data of frame 1 declares 64 x 64 pixels with 1 component(s); the header "
        "says 32 x 32 with 1"
    )


def test_everything_listed_loads(tmp_path: Path) -> None:
    """The promise: over all the files above, each is either listed and loads, or skipped."""
    for name, (edit, _) in REFUSED.items():
        _edited(tmp_path, name, edit)
    _bomb(tmp_path)
    _good_series(tmp_path / "d" / "good")
    _one_file(tmp_path / "d" / "rle", compression="rle")
    result = scan_paths([tmp_path / "d"])
    files = {p.name for p in (tmp_path / "d").rglob("*.dcm")}
    listed = {Path(f.path).name for s in result.stacks for f in s.frames}
    skipped = {s.path.name for s in result.skipped}
    assert listed | skipped == files and not listed & skipped
    for stack in result.stacks:
        volume = load_volume(stack)
        assert volume.shape == stack.geometry.shape and math.isfinite(float(volume.sum()))
