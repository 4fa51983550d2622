"""DICOM written by another tool: dcmtk re-encodes Endplate's synthetic series, and the
scan + pixel loader must give the same geometry and (lossless) the same voxels.

The synthetic series come from ``dicomio.synth.write_series`` (phantom CT, signed, one
file per slice; and a multi-frame Enhanced MR, unsigned).  Each dcmtk tool rewrites them
with another transfer syntax (explicit big endian, implicit little endian, deflated, RLE,
JPEG-LS lossless, lossless JPEG process 14 with selection value 1 and 6).  The expected
transfer syntax is read back with pydicom from the converted file, the expected geometry
is the one the series was written with, and the expected voxels are the original's.
A conversion is skipped only when its dcmtk tool is not installed (``shutil.which``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from dicomio.pixels import load_volume
from dicomio.scan import scan_paths
from dicomio.synthetic import phantom
from dicomio.synthetic.synth import SeriesSpec, sagittal_geometry, write_series

#: name -> (dcmtk tool, its options, the transfer syntax it writes)
CONVERSIONS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "explicit-big-endian": ("dcmconv", ("+tb",), "1.2.840.10008.1.2.2"),
    "implicit-little-endian": ("dcmconv", ("+ti",), "1.2.840.10008.1.2"),
    "deflated": ("dcmconv", ("+td",), "1.2.840.10008.1.2.1.99"),
    "rle": ("dcmcrle", (), "1.2.840.10008.1.2.5"),
    "jpeg-ls-lossless": ("dcmcjpls", ("+el",), "1.2.840.10008.1.2.4.80"),
    "jpeg-lossless-sv1": ("dcmcjpeg", ("+e1",), "1.2.840.10008.1.2.4.70"),
    "jpeg-lossless-process14": ("dcmcjpeg", ("+el",), "1.2.840.10008.1.2.4.57"),
}

#: Unequal pixel spacing and an anterior-on-the-right stack, so a swapped axis shows.
GEOMETRY = sagittal_geometry(3, 72, 56, (0.7, 1.3), 3.0, (-6.0, 0.0, -470.0), anterior_on_right=True)


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("dcmtk_src")
    ct = SeriesSpec(modality="CT", description="SAG CT", rescale_intercept=-1024.0)
    write_series(root / "ct", phantom.render(GEOMETRY, "CT", "pre"), GEOMETRY, ct)
    mr = SeriesSpec(modality="MR", description="SAG T1")
    write_series(root / "mr", phantom.render(GEOMETRY, "T1", "pre"), GEOMETRY, mr, multiframe=True)
    return {"ct": root / "ct", "mr": root / "mr"}


def _convert(tool: str, options: tuple[str, ...], src: Path, dst: Path) -> None:
    exe = shutil.which(tool)
    if exe is None:
        pytest.skip(f"{tool} (dcmtk) is not installed: this conversion cannot be made here")
    dst.mkdir(parents=True)
    for f in sorted(src.iterdir()):
        result = subprocess.run(
            [exe, *options, str(f), str(dst / f.name)], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, f"{tool} {' '.join(options)} failed on {f.name}: {result.stderr}"


@pytest.mark.parametrize("kind", ["ct", "mr"])
@pytest.mark.parametrize("conversion", list(CONVERSIONS))
def test_dcmtk_reencoded_series_reads_the_same(
    originals: dict[str, Path], tmp_path: Path, kind: str, conversion: str
) -> None:
    tool, options, syntax = CONVERSIONS[conversion]
    converted = tmp_path / conversion
    _convert(tool, options, originals[kind], converted)
    for f in converted.iterdir():  # dcmtk really wrote that transfer syntax
        assert pydicom.dcmread(f, stop_before_pixels=True).file_meta.TransferSyntaxUID == syntax

    (before,) = scan_paths([originals[kind]]).stacks
    result = scan_paths([converted])
    assert result.skipped == [] and len(result.stacks) == 1
    (after,) = result.stacks
    assert after.pixel_format.transfer_syntax_uid == syntax
    assert after.series_uid == before.series_uid and after.modality == kind.upper()
    assert [f.sop_instance_uid for f in after.frames] == [f.sop_instance_uid for f in before.frames]
    # Geometry: the one the series was written with (DS strings keep ~1e-6 mm).
    assert after.geometry.shape == GEOMETRY.shape
    for got, written in zip(after.geometry.slices, GEOMETRY.slices, strict=True):
        np.testing.assert_allclose(got.position_mm, written.position_mm, atol=1e-6)
        np.testing.assert_allclose(got.row_cosine, written.row_cosine, atol=1e-6)
        np.testing.assert_allclose(got.col_cosine, written.col_cosine, atol=1e-6)
        assert got.pixel_spacing_mm == pytest.approx(written.pixel_spacing_mm, abs=1e-9)
    # Voxels: lossless, so exactly the original's (CT in HU: the rescale survived too).
    expected = load_volume(before)
    volume = load_volume(after)
    assert volume.dtype == expected.dtype and volume.shape == expected.shape
    np.testing.assert_array_equal(volume, expected)
    if kind == "ct":  # and the original is the phantom's CT (HU) itself
        np.testing.assert_array_equal(volume, np.round(phantom.render(GEOMETRY, "CT", "pre")))


def test_real_jpeg_ls_file_decoded_by_dcmtk_gives_the_same_volume(spine_ls: Path, tmp_path: Path) -> None:
    """The real Siemens JPEG-LS multi-frame file, decompressed by dcmtk's own JPEG-LS
    decoder (``dcmdjpls``): Endplate reads the uncompressed copy to the same geometry and
    exactly the voxels it decodes from the compressed original (two decoders agree)."""
    exe = shutil.which("dcmdjpls")
    if exe is None:
        pytest.skip("dcmdjpls (dcmtk) is not installed: the real file cannot be decompressed here")
    out = tmp_path / "spine-raw.dcm"
    result = subprocess.run([exe, str(spine_ls), str(out)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert pydicom.dcmread(out, stop_before_pixels=True).file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    (original,) = scan_paths([spine_ls]).stacks
    (raw,) = scan_paths([out]).stacks
    assert original.pixel_format.transfer_syntax_uid == "1.2.840.10008.1.2.4.80"
    assert raw.geometry.shape == original.geometry.shape == (15, 448, 448)
    for a, b in zip(raw.geometry.slices, original.geometry.slices, strict=True):
        assert (a.position_mm, a.row_cosine, a.col_cosine, a.pixel_spacing_mm) == (
            b.position_mm,
            b.row_cosine,
            b.col_cosine,
            b.pixel_spacing_mm,
        )
    np.testing.assert_array_equal(load_volume(raw), load_volume(original))
