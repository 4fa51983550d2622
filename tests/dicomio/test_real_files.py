"""Header/geometry side of real scanner files (pixel decoding is tested elsewhere)."""

from __future__ import annotations

import gzip
import itertools
import shutil
from pathlib import Path

import nibabel
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless

from dicomio.pixels import load_volume
from dicomio.scan import scan_paths
from tests.dicomio.test_pixels import stack_of

NIBABEL_MPRAGE = Path(nibabel.__file__).parent / "nicom" / "tests" / "data" / "philips_mprage.dcm.gz"


@pytest.mark.realdata
def test_spine_ls_geometry_and_header(spine_ls: Path) -> None:
    result = scan_paths([spine_ls])
    assert result.skipped == []
    (stack,) = result.stacks
    assert stack.n_images == 15
    first = stack.geometry.first
    assert (first.rows, first.columns) == (448, 448)
    assert first.pixel_spacing_mm == (0.803571, 0.803571)
    assert stack.geometry.slice_spacing_mm == pytest.approx(3.3, abs=1e-4)
    assert stack.plane == "sagittal"
    assert (stack.anterior, stack.superior) == ("left", "up")
    # about 4 deg oblique: the column cosine leans -X by asin(0.074762)
    assert float(np.degrees(np.arcsin(0.074762))) == pytest.approx(4.29, abs=0.01)
    np.testing.assert_allclose(first.col_cosine, [-0.074762, -0.000159, -0.997201], atol=1e-5)
    # frames are ordered along the normal (row x col points toward patient right, -X)
    xs = [f.geometry.position_mm[0] for f in stack.frames]
    assert xs[0] == pytest.approx(24.197805) and xs[-1] == pytest.approx(-21.872796)
    assert all(a > b for a, b in itertools.pairwise(xs))
    assert stack.sequence == "T1"
    assert "t1_tse_sag_448_hf_p2 cc_th" in stack.sequence_reason
    assert any("16 items for 15 frames" in w for w in stack.warnings)
    assert stack.pixel_format.transfer_syntax_uid == JPEGLSLossless
    assert all(f.pixel_offset is None for f in stack.frames)  # compressed: no direct offsets
    assert [(w.center, w.width) for w in stack.windows] == [(936.5, 1873.0)]
    assert stack.modality == "MR" and stack.series_number == 2


def test_philips_enhanced_mr(tmp_path: Path) -> None:
    with gzip.open(NIBABEL_MPRAGE) as src, (tmp_path / "mprage.dcm").open("wb") as dst:
        shutil.copyfileobj(src, dst)
    (stack,) = scan_paths([tmp_path]).stacks
    assert stack.n_images == 176
    assert (stack.geometry.first.rows, stack.geometry.first.columns) == (256, 256)
    assert stack.plane == "sagittal"
    assert stack.geometry.first.pixel_spacing_mm == (1.0, 1.0)
    assert stack.geometry.slice_spacing_mm == pytest.approx(1.0, abs=1e-4)
    # rescale comes from the per-frame PixelValueTransformationSequence
    assert stack.pixel_format.rescale_slope == pytest.approx(2.1079365079365)
    assert stack.sequence == "T1" and stack.sequence_reason == "AcquisitionContrast is 'T1'"
    assert stack.attributes["EchoTime"] == pytest.approx(3.513)
    # native little endian: one offset per frame, frames back to back
    offsets = [f.pixel_offset for f in stack.frames]
    assert all(f.pixel_nbytes == 256 * 256 * 2 for f in stack.frames)
    assert sorted(offsets) == list(range(min(offsets), min(offsets) + 176 * 131072, 131072))


@pytest.mark.parametrize(
    ("name", "syntax", "big_endian"),
    [
        ("MR_small_bigendian.dcm", "1.2.840.10008.1.2.2", True),
        ("MR_small_jp2klossless.dcm", JPEG2000Lossless, False),
    ],
)
def test_pydicom_single_frame_mr(name: str, syntax: str, big_endian: bool) -> None:
    (stack,) = scan_paths([get_testdata_file(name)]).stacks
    assert stack.n_images == 1
    assert stack.pixel_format.transfer_syntax_uid == syntax
    assert stack.pixel_format.big_endian is big_endian
    assert stack.frames[0].pixel_offset is None  # only native little endian gets offsets
    first = stack.geometry.first
    assert (first.rows, first.columns) == (64, 64)
    assert first.pixel_spacing_mm == (0.3125, 0.3125)
    assert stack.plane == "axial"


def test_enhanced_ct_pydicom_file() -> None:
    path = get_testdata_file("eCT_Supplemental.dcm")
    (stack,) = scan_paths([path]).stacks
    assert stack.n_images == 2
    assert stack.attributes["SOPClassUID"] == pydicom.uid.EnhancedCTImageStorage
    assert stack.pixel_format.rescale_intercept == -1024.0  # shared functional groups
    assert stack.geometry.slice_spacing_mm == pytest.approx(10.0)
    # Feet-first axial (row direction -X): the normal is -Z, so z = -149 comes before z = -159,
    # which is stored as frame 1 before frame 0.
    assert stack.geometry.first.orientation == (-1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert [f.geometry.position_mm for f in stack.frames] == [(99.5, -301.5, -149.0), (99.5, -301.5, -159.0)]
    assert [f.frame_index for f in stack.frames] == [1, 0]
    assert stack.plane == "axial" and (stack.anterior, stack.superior) == ("up", None)
    assert [w.name for w in stack.windows][:1] == ["file"]
    assert [w.name for w in stack.windows][-2:] == ["CT bone", "CT soft tissue"]
    volume = load_volume(stack)
    stored = pydicom.dcmread(path).pixel_array.astype(np.int32)
    assert volume.dtype == np.int16
    np.testing.assert_array_equal(volume, stored[[f.frame_index for f in stack.frames]] - 1024)


def test_monochrome1_projection_has_no_geometry() -> None:
    result = scan_paths([get_testdata_file("RG1_UNCR.dcm")])
    assert result.stacks == []
    (skipped,) = result.skipped
    assert skipped.reason.startswith("missing geometry: the image has no ImagePositionPatient")


def test_enhanced_mr_without_functional_groups_is_skipped() -> None:
    result = scan_paths([get_testdata_file("emri_small.dcm")])
    assert result.stacks == []
    assert result.skipped[0].reason.startswith("missing geometry")


def test_real_monochrome1_radiograph_pixels_are_inverted() -> None:
    """pydicom's RG1 radiograph (MONOCHROME1, BitsStored 15): bright = high after loading,
    i.e. every value is 32767 - stored; its JPEG 2000 twin decodes to the same volume.
    (It has no patient geometry, so its stack is built by hand: see test_pixels.stack_of.)"""
    raw = pydicom.dcmread(get_testdata_file("RG1_UNCR.dcm")).pixel_array.astype(np.int32)
    volume = load_volume(stack_of(get_testdata_file("RG1_UNCR.dcm")))
    assert volume.shape == (1, 1955, 1841) and volume.dtype == np.int16
    np.testing.assert_array_equal(volume[0], 32767 - raw)
    assert volume[0].flat[int(np.argmin(raw))] == volume.max()
    np.testing.assert_array_equal(load_volume(stack_of(get_testdata_file("RG1_J2KR.dcm"))), volume)


def test_philips_enhanced_mr_pixels_use_per_frame_rescale(tmp_path: Path) -> None:
    with gzip.open(NIBABEL_MPRAGE) as src, (tmp_path / "mprage.dcm").open("wb") as dst:
        shutil.copyfileobj(src, dst)
    (stack,) = scan_paths([tmp_path]).stacks
    volume = load_volume(stack)
    ds = pydicom.dcmread(tmp_path / "mprage.dcm")
    stored = ds.pixel_array
    per_frame = ds.PerFrameFunctionalGroupsSequence
    assert volume.dtype == np.float32 and volume.shape == (176, 256, 256)
    for k, frame in enumerate(stack.frames):
        item = per_frame[frame.frame_index]
        transform = item.PixelValueTransformationSequence[0]
        expected = stored[frame.frame_index] * float(transform.RescaleSlope) + float(
            transform.RescaleIntercept
        )
        np.testing.assert_allclose(volume[k], expected, rtol=1e-6)
        position = [float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient]
        np.testing.assert_allclose(frame.geometry.position_mm, position, atol=1e-9)


def test_nibabel_siemens_two_slice_series() -> None:
    """Two real Siemens files (implicit VR little endian) of one series: one stack ordered by
    position, 3 mm apart, pixels read at the offsets the scan found; a diffusion series is
    never taken for a T2 fat-sat although it has ScanOptions FS and T2-like timing."""
    folder = NIBABEL_MPRAGE.parent
    result = scan_paths([folder / "1.dcm", folder / "0.dcm"])
    assert result.skipped == []
    (stack,) = result.stacks
    assert [f.path.name for f in stack.frames] == ["0.dcm", "1.dcm"]  # z -75.1 then -72.1
    assert stack.plane == "axial" and (stack.anterior, stack.superior) == ("up", None)
    assert stack.geometry.first.pixel_spacing_mm == (1.796875, 1.796875)
    np.testing.assert_allclose(
        stack.geometry.first.orientation, [1, 0, 0, 0, 0.99998629, -0.00523600], atol=1e-8
    )
    assert stack.geometry.slice_spacing_mm == pytest.approx(3.0, abs=1e-4)
    assert stack.pixel_format.transfer_syntax_uid == "1.2.840.10008.1.2"
    assert all(f.pixel_offset == 95318 for f in stack.frames)
    volume = load_volume(stack)
    for k, frame in enumerate(stack.frames):
        np.testing.assert_array_equal(volume[k], pydicom.dcmread(frame.path).pixel_array)
    assert stack.sequence == "other"
    assert stack.sequence_reason == "SeriesDescription 'CBU_DTI_64D_1A' contains 'dti' (diffusion imaging)"
