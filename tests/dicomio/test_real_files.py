"""Header/geometry side of real scanner files (pixel decoding is tested elsewhere)."""

from __future__ import annotations

import gzip
import itertools
import shutil
from pathlib import Path

import nibabel
import numpy as np
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless

from dicomio.scan import scan_paths

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
    (stack,) = scan_paths([get_testdata_file("eCT_Supplemental.dcm")]).stacks
    assert stack.n_images == 2
    assert stack.pixel_format.rescale_intercept == -1024.0
    assert stack.geometry.slice_spacing_mm == pytest.approx(10.0)
    assert [w.name for w in stack.windows][:1] == ["file"]


def test_monochrome1_projection_has_no_geometry() -> None:
    result = scan_paths([get_testdata_file("RG1_UNCR.dcm")])
    assert result.stacks == []
    (skipped,) = result.skipped
    assert skipped.reason.startswith("missing geometry: the image has no ImagePositionPatient")


def test_enhanced_mr_without_functional_groups_is_skipped() -> None:
    result = scan_paths([get_testdata_file("emri_small.dcm")])
    assert result.stacks == []
    assert result.skipped[0].reason.startswith("missing geometry")
