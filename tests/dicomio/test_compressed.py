"""Compressed pixel data: real files from pydicom's test set, the real spine JPEG-LS, synth."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate
from pydicom.pixels import get_decoder
from pydicom.uid import MPEG2MPML, JPEGBaseline8Bit, JPEGLSLossless

import main
from dicomio.pixel_errors import DecoderMissingError, PixelDecodeError
from dicomio.pixels import load_volume
from dicomio.scan import scan_paths
from dicomio.synthetic import synth
from tests.dicomio.test_pixels import stack_of

MR_SMALL = pydicom.dcmread(get_testdata_file("MR_small.dcm")).pixel_array


@pytest.mark.parametrize(
    "name",
    ["MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm", "MR_small_RLE.dcm"],
)
def test_lossless_mr_small_equals_uncompressed(name: str) -> None:
    stack = scan_paths([get_testdata_file(name)]).stacks[0]
    assert stack.pixel_format.transfer_syntax_uid != pydicom.uid.ExplicitVRLittleEndian
    volume = load_volume(stack)
    assert volume.shape == (1, 64, 64) and volume.dtype == np.int16
    np.testing.assert_array_equal(volume[0], MR_SMALL)


@pytest.mark.parametrize("name", ["emri_small_RLE.dcm", "emri_small_jpeg_ls_lossless.dcm"])
def test_lossless_multiframe_decoded_frame_by_frame_in_stack_order(name: str) -> None:
    order = [4, 9, 0, 8, 1, 7, 2, 6, 3, 5]
    reference = pydicom.dcmread(get_testdata_file("emri_small.dcm")).pixel_array  # uncompressed
    volume = load_volume(stack_of(get_testdata_file(name), order), workers=2)
    np.testing.assert_array_equal(volume, reference[order])


def test_jpeg2000_lossless_equals_its_uncompressed_twin() -> None:
    reference = pydicom.dcmread(get_testdata_file("JPEG2000_UNC.dcm")).pixel_array
    volume = load_volume(stack_of(get_testdata_file("JPEG2000.dcm")))
    np.testing.assert_array_equal(volume[0], reference)


def test_jpeg_lossless_process_14() -> None:
    path = get_testdata_file("JPEG-LL.dcm")
    stack = stack_of(path)
    assert stack.pixel_format.transfer_syntax_uid == "1.2.840.10008.1.2.4.70"
    volume = load_volume(stack)
    assert volume.shape == (1, 1024, 256) and volume.dtype == np.int16
    np.testing.assert_array_equal(volume[0], pydicom.dcmread(path).pixel_array)
    assert 0 <= volume.min() < volume.max() <= 4095


def _jpeg_baseline_file(out: Path) -> np.ndarray:
    """MR_small as an 8-bit JPEG Baseline file (written with Pillow); returns its source pixels."""
    eight_bit = np.round(MR_SMALL.astype(float) / MR_SMALL.max() * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(eight_bit).save(buffer, format="JPEG", quality=95)
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = encapsulate([buffer.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.save_as(out, enforce_file_format=True)
    return eight_bit


def test_jpeg_baseline_close_to_its_source(tmp_path: Path) -> None:
    source = _jpeg_baseline_file(tmp_path / "baseline.dcm")
    stack = scan_paths([tmp_path]).stacks[0]
    assert stack.pixel_format.transfer_syntax_uid == JPEGBaseline8Bit
    volume = load_volume(stack)
    error = np.abs(volume[0].astype(float) - source)
    assert error.mean() < 1.5 and error.max() <= 12  # lossy, quality 95


def test_synthetic_jpeg_ls_and_jpeg2000_exact(tmp_path: Path) -> None:
    for compression in ("jpeg-ls", "jpeg2000"):
        geometry = synth.sagittal_geometry(3, 40, 36, pixel_spacing_mm=(0.8, 0.9))
        values = np.random.default_rng(3).integers(-1024, 2000, size=geometry.shape).astype(float)
        folder = tmp_path / compression
        spec = synth.SeriesSpec(modality="CT", rescale_intercept=-1024)
        synth.write_series(folder, values, geometry, spec, compression=compression, shuffle_names=True)
        stack = scan_paths([folder]).stacks[0]
        np.testing.assert_array_equal(load_volume(stack), values)


@pytest.mark.realdata
def test_real_spine_jpeg_ls_multiframe(spine_ls: Path) -> None:
    stack = scan_paths([spine_ls]).stacks[0]
    assert stack.pixel_format.transfer_syntax_uid == JPEGLSLossless
    volume = load_volume(stack)
    assert volume.shape == (15, 448, 448)
    # Plausible T1 MR: non-negative, 12-bit-ish range, dark background, bright tissue.
    assert volume.min() >= 0 and 500 < volume.max() < 4096
    corners = np.concatenate([volume[:, :20, :20].ravel(), volume[:, :20, -20:].ravel()])
    centre = volume[:, 150:300, 150:300]
    assert np.median(centre) > 5 * max(1.0, float(np.median(corners)))
    # Slot k holds the frame the scan assigned to slice k.
    reference = pydicom.dcmread(spine_ls).pixel_array
    for k, frame in enumerate(stack.frames):
        np.testing.assert_array_equal(volume[k], reference[frame.frame_index])


def test_missing_decoder_names_the_transfer_syntax_and_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a JPEG-LS decoder: the scan warns (series listed, file and syntax named), the
    load raises a sentence naming both, and a native series beside it still loads."""
    decoder = get_decoder(JPEGLSLossless)
    monkeypatch.setattr(decoder, "_available", {})
    monkeypatch.setattr(decoder, "_unavailable", {"pyjpegls": ("pyjpegls",)})
    shutil.copy(get_testdata_file("MR_small_jpeg_ls_lossless.dcm"), tmp_path / "jls.dcm")
    shutil.copy(get_testdata_file("CT_small.dcm"), tmp_path / "ct.dcm")
    result = scan_paths([tmp_path])
    assert result.skipped == []
    by_syntax = {s.pixel_format.transfer_syntax_uid: s for s in result.stacks}
    jls, ct = by_syntax[JPEGLSLossless], by_syntax[pydicom.uid.ExplicitVRLittleEndian]
    (warning,) = jls.warnings
    assert warning.startswith("Pixels cannot be shown: No decoder is installed for transfer syntax ")
    assert "JPEG-LS Lossless" in warning and JPEGLSLossless in warning
    assert str(tmp_path / "jls.dcm") in warning and "install pyjpegls" in warning
    assert ct.warnings == []
    with pytest.raises(DecoderMissingError) as caught:
        load_volume(jls)
    message = str(caught.value)
    assert "JPEG-LS Lossless" in message and JPEGLSLossless in message and "install pyjpegls" in message
    assert str(tmp_path / "jls.dcm") in message
    assert isinstance(caught.value, ValueError)
    ds = pydicom.dcmread(tmp_path / "ct.dcm")
    np.testing.assert_array_equal(load_volume(ct)[0], ds.pixel_array.astype(np.int32) - 1024)
    # endplate info shows the warning next to the series, and still succeeds
    assert main.main(["info", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (listed,) = [s for s in out["series"] if s["transfer_syntax_uid"] == JPEGLSLossless]
    assert listed["warnings"] == [warning]


def test_unsupported_transfer_syntax_is_a_decoder_error() -> None:
    stack = stack_of(get_testdata_file("MR_small.dcm"))
    from dataclasses import replace

    stack.pixel_format = replace(stack.pixel_format, transfer_syntax_uid=MPEG2MPML)
    with pytest.raises(DecoderMissingError, match=f"MPEG2.*{MPEG2MPML}"):
        load_volume(stack)


def test_undecodable_frame_names_file_and_frame() -> None:
    """pydicom's JPEG-lossy.dcm has a misplaced marker that libjpeg and Pillow reject."""
    path = get_testdata_file("JPEG-lossy.dcm")
    with pytest.raises(
        PixelDecodeError, match=r"JPEG-lossy\.dcm: the image could not be decoded as 'JPEG Extended"
    ):
        load_volume(stack_of(path))


def test_corrupt_rle_fragment_names_the_frame(tmp_path: Path) -> None:
    geometry = synth.sagittal_geometry(3, 16, 16)
    values = np.random.default_rng(5).integers(0, 900, size=geometry.shape).astype(float)
    (path,) = synth.write_series(
        tmp_path, values, geometry, synth.SeriesSpec(modality="MR"), multiframe=True, compression="rle"
    )
    stack = scan_paths([tmp_path]).stacks[0]  # scanned while intact
    ds = pydicom.dcmread(path)
    frames = list(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=3))
    frames[1] = frames[1][:64]  # frame 2 loses most of its RLE segments
    ds.PixelData = encapsulate(frames)
    ds.save_as(path)
    # the scan (what `endplate info` lists) now refuses it, naming the frame ...
    rescan = scan_paths([tmp_path])
    assert rescan.stacks == []
    assert rescan.skipped[0].reason.startswith(
        "unreadable: the compressed data of frame 2 has an RLE segment starting at byte"
    )
    # ... and the loader, given the stack scanned before the file changed, says the same frame
    with pytest.raises(
        PixelDecodeError, match=rf"{path.name}: frame 2 could not be decoded as 'RLE Lossless'"
    ):
        load_volume(stack)
