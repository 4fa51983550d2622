"""Bad files get a clear skipped reason, and the valid files beside them still scan."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicomio.geometry import StackGeometry
from dicomio.model import SKIP_REASONS, ScanResult
from dicomio.pixels import load_volume
from dicomio.scan import scan_paths
from dicomio.synthetic.synth import SeriesSpec, axial_geometry, sagittal_geometry, write_series


def _good_geometry(n: int) -> StackGeometry:
    return sagittal_geometry(n, 8, 8, (0.5, 0.8), 3.0)


def _good_values(n: int) -> np.ndarray:
    return np.random.default_rng(2).integers(0, 1000, size=_good_geometry(n).shape).astype(float)


def _good_series(folder: Path, description: str = "GOOD", n: int = 4) -> list[Path]:
    spec = SeriesSpec(modality="MR", description=description)
    return write_series(folder, _good_values(n), _good_geometry(n), spec, shuffle_names=True)


def _reasons(result: ScanResult) -> dict[str, str]:
    for skipped in result.skipped:
        assert skipped.reason.startswith(SKIP_REASONS), skipped.reason
    return {s.path.name: s.reason for s in result.skipped}


def _assert_good_still_scans(result: ScanResult, n: int = 4) -> None:
    """The valid series beside the bad file scans with its exact geometry AND its pixels load."""
    good = [s for s in result.stacks if s.description == "GOOD"]
    assert len(good) == 1 and good[0].n_images == n
    assert good[0].warnings == []
    truth = _good_geometry(n)
    for got, want in zip(good[0].geometry.slices, truth.slices, strict=True):
        np.testing.assert_allclose(got.position_mm, want.position_mm, atol=1e-9)
    np.testing.assert_array_equal(load_volume(good[0]), _good_values(n))


def test_truncated_native_file(tmp_path: Path) -> None:
    paths = _good_series(tmp_path / "good")
    bad = tmp_path / "cut.dcm"
    data = paths[0].read_bytes()
    bad.write_bytes(data[:-50])  # pixel data cut short
    result = scan_paths([tmp_path])
    reason = _reasons(result)["cut.dcm"]
    assert reason.startswith("truncated: the file ends 50 bytes before the end of its pixel data")
    _assert_good_still_scans(result)


def test_truncated_compressed_file(tmp_path: Path) -> None:
    g = axial_geometry(1, 8, 8)
    (path,) = write_series(tmp_path / "rle", np.full(g.shape, 7.0), g, SeriesSpec(), compression="rle")
    bad = tmp_path / "cut_rle.dcm"
    bad.write_bytes(path.read_bytes()[:-20])
    _good_series(tmp_path / "good")
    result = scan_paths([tmp_path])
    assert _reasons(result)["cut_rle.dcm"].startswith("truncated:")
    _assert_good_still_scans(result)


def test_file_cut_inside_the_header(tmp_path: Path) -> None:
    paths = _good_series(tmp_path / "good")
    bad = tmp_path / "header_cut.dcm"
    data = paths[0].read_bytes()
    inside_name = data.index(b"DEMO^SPINE") + 4
    inside_orientation = data.index(b"\x20\x00\x37\x00") + 12  # within ImageOrientationPatient
    for size in (200, inside_name, inside_orientation):  # in the file meta, in the dataset
        bad.write_bytes(data[:size])
        result = scan_paths([tmp_path])
        assert _reasons(result)["header_cut.dcm"].startswith("truncated: the file ends"), size
    _assert_good_still_scans(result)


def test_text_file_named_dcm_and_empty_file(tmp_path: Path) -> None:
    _good_series(tmp_path)
    (tmp_path / "notes.dcm").write_text("Patient called back on Tuesday.\n" * 20)
    (tmp_path / "empty.dcm").write_bytes(b"")
    result = scan_paths([tmp_path])
    reasons = _reasons(result)
    assert reasons["notes.dcm"].startswith("not DICOM: ")
    assert reasons["empty.dcm"].startswith("not DICOM: ")
    _assert_good_still_scans(result)


def test_file_without_image_position(tmp_path: Path) -> None:
    paths = _good_series(tmp_path / "good")
    ds = pydicom.dcmread(paths[0])
    del ds.ImagePositionPatient
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(tmp_path / "no_ipp.dcm", enforce_file_format=True)
    result = scan_paths([tmp_path])
    reason = _reasons(result)["no_ipp.dcm"]
    assert reason.startswith("missing geometry: the image has no ImagePositionPatient")
    _assert_good_still_scans(result)


def test_multiframe_frame_without_position(tmp_path: Path) -> None:
    g = sagittal_geometry(3, 8, 8)
    (path,) = write_series(tmp_path / "mf", np.zeros(g.shape), g, SeriesSpec(modality="MR"), multiframe=True)
    ds = pydicom.dcmread(path)
    del ds.PerFrameFunctionalGroupsSequence[1].PlanePositionSequence
    ds.save_as(path, enforce_file_format=True)
    _good_series(tmp_path / "good")
    result = scan_paths([tmp_path])
    reason = _reasons(result)[path.name]
    assert reason.startswith("missing geometry: frame 2 of 3 has no ImagePositionPatient")
    _assert_good_still_scans(result)


def test_two_series_mixed_in_one_folder(tmp_path: Path) -> None:
    """Files of two series interleaved in one folder (shuffled names): both found, each
    with only its own images, each loading its own pixels."""
    _good_series(tmp_path, "GOOD", 4)
    g = axial_geometry(3, 8, 8)
    other = np.random.default_rng(9).integers(-1000, 1000, size=g.shape).astype(float)
    spec = SeriesSpec(description="OTHER", rescale_intercept=-1024)
    write_series(tmp_path, other, g, spec, shuffle_names=True, seed=7)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 7  # really one folder, names interleaved
    result = scan_paths([tmp_path])
    assert result.skipped == []
    assert sorted((s.description, s.n_images, s.plane) for s in result.stacks) == [
        ("GOOD", 4, "sagittal"),
        ("OTHER", 3, "axial"),
    ]
    _assert_good_still_scans(result)
    (stack,) = [s for s in result.stacks if s.description == "OTHER"]
    np.testing.assert_array_equal(load_volume(stack), other)


def test_file_without_pixel_data(tmp_path: Path) -> None:
    paths = _good_series(tmp_path / "good")
    ds = pydicom.dcmread(paths[0])
    del ds.PixelData
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(tmp_path / "header_only.dcm", enforce_file_format=True)
    result = scan_paths([tmp_path])
    assert _reasons(result)["header_only.dcm"] == (
        "no pixel data: the file holds no image (no PixelData element)"
    )
    _assert_good_still_scans(result)


def test_unreadable_file(tmp_path: Path) -> None:
    """A dangling link (a file listed in the folder that cannot be opened) is 'unreadable'."""
    _good_series(tmp_path / "good")
    (tmp_path / "gone.dcm").symlink_to(tmp_path / "deleted_target.dcm")
    result = scan_paths([tmp_path])
    assert _reasons(result)["gone.dcm"] == "unreadable: a broken symbolic link (its target does not exist)"
    _assert_good_still_scans(result)


def test_dicomdir_and_structured_report(tmp_path: Path) -> None:
    _good_series(tmp_path)
    shutil.copy(get_testdata_file("DICOMDIR"), tmp_path / "DICOMDIR")
    shutil.copy(get_testdata_file("test-SR.dcm"), tmp_path / "report.dcm")
    result = scan_paths([tmp_path])
    reasons = _reasons(result)
    assert reasons["DICOMDIR"].startswith("DICOMDIR: this is a media directory")
    assert reasons["report.dcm"] == (
        "unsupported SOP class: Comprehensive SR Storage (1.2.840.10008.5.1.4.1.1.88.33) "
        "is a structured report, not an image"
    )
    _assert_good_still_scans(result)


@pytest.mark.parametrize(
    ("name", "prefix"),
    [
        ("rtstruct.dcm", "unsupported SOP class: RT Structure Set Storage"),
        ("SC_rgb.dcm", "unsupported pixel format: PhotometricInterpretation 'RGB'"),
        ("MR_truncated.dcm", "truncated: the file ends 62 bytes before the end of its pixel data"),
        ("emri_small.dcm", "missing geometry: this multi-frame object (10 frames) has no PerFrame"),
    ],
)
def test_pydicom_bad_files(tmp_path: Path, name: str, prefix: str) -> None:
    _good_series(tmp_path)
    shutil.copy(get_testdata_file(name), tmp_path / name)
    result = scan_paths([tmp_path])
    assert _reasons(result)[name].startswith(prefix)
    _assert_good_still_scans(result)


def test_missing_path_is_reported(tmp_path: Path) -> None:
    _good_series(tmp_path / "good")
    result = scan_paths([tmp_path / "good", tmp_path / "nowhere"])
    assert _reasons(result) == {"nowhere": "unreadable: no such file or folder"}
    _assert_good_still_scans(result)
