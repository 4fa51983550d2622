"""The synthetic DICOM writer: files pydicom reads back with exact geometry and values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import (
    CTImageStorage,
    EnhancedMRImageStorage,
    ExplicitVRLittleEndian,
    JPEGLSLossless,
    MRImageStorage,
    MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    RLELossless,
)

from dicomio.synthetic.synth import (
    SeriesSpec,
    axial_geometry,
    invert_monochrome1,
    sagittal_geometry,
    tilted_geometry,
    write_series,
)


def _volume(shape: tuple[int, int, int], lo: int = -1000, hi: int = 2000) -> np.ndarray:
    return np.random.default_rng(7).integers(lo, hi, size=shape).astype(float)


def _floats(values) -> list[float]:  # type: ignore[no-untyped-def]
    return [float(v) for v in values]


@pytest.mark.parametrize(
    ("kwargs", "iop", "normal"),
    [
        ({}, [0, 1, 0, 0, 0, -1], [-1, 0, 0]),
        ({"anterior_on_right": True}, [0, -1, 0, 0, 0, -1], [1, 0, 0]),
        ({"feet_first": True}, [0, 1, 0, 0, 0, 1], [1, 0, 0]),
    ],
)
def test_sagittal_geometry_conventions(kwargs: dict, iop: list[float], normal: list[float]) -> None:
    g = sagittal_geometry(4, 10, 12, (0.5, 0.8), 3.3, (5.0, -20.0, 100.0), **kwargs)
    assert g.shape == (4, 10, 12)
    np.testing.assert_allclose(g.first.orientation, iop, atol=1e-12)
    np.testing.assert_allclose(g.normal, normal, atol=1e-12)
    np.testing.assert_allclose(
        g.slices[3].position_mm, np.array([5.0, -20.0, 100.0]) + 9.9 * np.array(normal)
    )
    assert g.first.pixel_spacing_mm == (0.5, 0.8)
    assert g.slice_spacing_mm == pytest.approx(3.3)


def test_sagittal_oblique_matches_real_file_convention() -> None:
    g = sagittal_geometry(2, 4, 4, oblique_deg=4.0)
    s, c = np.sin(np.radians(4.0)), np.cos(np.radians(4.0))
    np.testing.assert_allclose(g.first.col_cosine, [-s, 0, -c], atol=1e-12)
    np.testing.assert_allclose(g.first.row_cosine, [0, 1, 0], atol=1e-12)
    assert g.first.plane == "sagittal"
    assert (g.first.anterior, g.first.superior) == ("left", "up")


def test_axial_geometry_conventions() -> None:
    g = axial_geometry(3, 8, 9, (0.7, 0.6), 2.5, (0, 0, -50))
    np.testing.assert_allclose(g.first.orientation, [1, 0, 0, 0, 1, 0])
    np.testing.assert_allclose(g.slices[2].position_mm, [0, 0, -45])
    ff = axial_geometry(3, 8, 9, feet_first=True)
    np.testing.assert_allclose(ff.normal, [0, 0, -1])
    tilted = axial_geometry(2, 8, 9, oblique_deg=20.0)
    np.testing.assert_allclose(tilted.first.col_cosine, [0, np.cos(np.radians(20)), np.sin(np.radians(20))])


def test_uneven_offsets_are_kept() -> None:
    g = sagittal_geometry(4, 5, 5, slice_offsets_mm=[0.0, 3.0, 9.0, 12.5])
    np.testing.assert_allclose(g.slice_offsets_mm - g.slice_offsets_mm[0], [0, 3, 9, 12.5])
    with pytest.raises(ValueError, match="one per slice"):
        sagittal_geometry(3, 5, 5, slice_offsets_mm=[0.0, 1.0])


def test_single_frame_ct_round_trip(tmp_path: Path) -> None:
    g = sagittal_geometry(5, 6, 7, (0.5, 0.8), 3.3, (10.0, 20.0, 30.0), oblique_deg=7.0)
    vol = _volume(g.shape)
    spec = SeriesSpec(
        modality="CT", description="SAG CT", rescale_intercept=-1024, window_center=400, window_width=1800
    )
    paths = write_series(tmp_path, vol, g, spec)
    assert [p.name for p in paths] == [f"IM{k:04d}.dcm" for k in range(1, 6)]
    for k, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        assert ds.SOPClassUID == CTImageStorage
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.InstanceNumber == k + 1
        np.testing.assert_allclose(_floats(ds.ImagePositionPatient), g.slices[k].position_mm, atol=1e-9)
        np.testing.assert_allclose(_floats(ds.ImageOrientationPatient), g.first.orientation, atol=1e-12)
        assert _floats(ds.PixelSpacing) == [0.5, 0.8]
        assert ds.PixelRepresentation == 1
        assert ds.pixel_array.dtype == np.int16
        np.testing.assert_array_equal(
            ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept), vol[k]
        )
        assert float(ds.WindowCenter) == 400
        assert ds.SeriesDescription == "SAG CT"
    uids = {pydicom.dcmread(p).SeriesInstanceUID for p in paths}
    assert len(uids) == 1


def test_mr_attributes_rescale_and_instance_numbers(tmp_path: Path) -> None:
    g = sagittal_geometry(4, 6, 5, (0.9, 0.6), 4.0)
    vol = _volume(g.shape, 0, 3000)
    spec = SeriesSpec(
        modality="MR",
        description="SAG STIR",
        rescale_slope=0.5,
        mr={"ScanningSequence": ["SE", "IR"], "InversionTime": 150.0, "MagneticFieldStrength": 1.5},
        extra={"BodyPartExamined": "LSPINE", "SeriesNumber": 7},
    )
    paths = write_series(tmp_path, vol, g, spec, reverse_instance_numbers=True, shuffle_names=True, seed=3)
    names = [p.name for p in paths]
    assert names != sorted(names)
    for k, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        assert ds.SOPClassUID == MRImageStorage
        assert ds.InstanceNumber == 4 - k
        assert ds.PixelRepresentation == 0 and ds.pixel_array.dtype == np.uint16
        np.testing.assert_array_equal(ds.pixel_array * 0.5, vol[k])
        assert list(ds.ScanningSequence) == ["SE", "IR"]
        assert float(ds.InversionTime) == 150.0
        assert ds.BodyPartExamined == "LSPINE" and ds.SeriesNumber == 7


def test_monochrome1_and_rle(tmp_path: Path) -> None:
    g = axial_geometry(3, 8, 8, (0.5, 0.8), 2.0)
    vol = _volume(g.shape)
    spec = SeriesSpec(modality="CT", rescale_intercept=-1024)
    paths = write_series(tmp_path, vol, g, spec, monochrome1=True, compression="rle")
    ds = pydicom.dcmread(paths[1])
    assert ds.file_meta.TransferSyntaxUID == RLELossless
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    restored = invert_monochrome1(ds.pixel_array, 16, signed=True)
    np.testing.assert_array_equal(restored.astype(float) - 1024, vol[1])
    # the inversion is its own inverse, for unsigned data too
    u = np.array([0, 1, 65535], dtype=np.uint16)
    np.testing.assert_array_equal(invert_monochrome1(u, 16, False), [65535, 65534, 0])
    np.testing.assert_array_equal(invert_monochrome1(invert_monochrome1(u, 16, False), 16, False), u)


def test_enhanced_multiframe_out_of_order_with_extra_item(tmp_path: Path) -> None:
    g = sagittal_geometry(5, 6, 7, (0.5, 0.8), 3.0, (1.0, 2.0, 3.0), anterior_on_right=True)
    vol = 2 * _volume(g.shape, 0, 4000)  # slope 2: even values round-trip exactly
    order = [3, 0, 4, 1, 2]
    spec = SeriesSpec(
        modality="MR", window_center=1000, window_width=2000, rescale_slope=2.0, rescale_intercept=-10
    )
    (path,) = write_series(
        tmp_path, vol, g, spec, multiframe=True, frame_order=order, extra_per_frame_item=True
    )
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == EnhancedMRImageStorage
    assert ds.NumberOfFrames == 5
    assert len(ds.PerFrameFunctionalGroupsSequence) == 6
    assert len(ds.PerFrameFunctionalGroupsSequence[5]) == 0
    shared = ds.SharedFunctionalGroupsSequence[0]
    assert _floats(shared.PixelMeasuresSequence[0].PixelSpacing) == [0.5, 0.8]
    np.testing.assert_allclose(
        _floats(shared.PlaneOrientationSequence[0].ImageOrientationPatient), [0, -1, 0, 0, 0, -1]
    )
    transform = shared.PixelValueTransformationSequence[0]
    assert (float(transform.RescaleSlope), float(transform.RescaleIntercept)) == (2.0, -10.0)
    arr = ds.pixel_array
    for j, k in enumerate(order):
        pos = ds.PerFrameFunctionalGroupsSequence[j].PlanePositionSequence[0].ImagePositionPatient
        np.testing.assert_allclose(_floats(pos), g.slices[k].position_mm, atol=1e-9)
        np.testing.assert_array_equal(arr[j] * 2.0 - 10, vol[k])


def test_secondary_capture_multiframe_like_real_file(tmp_path: Path) -> None:
    g = sagittal_geometry(3, 40, 40, (0.8, 0.8), 3.3, oblique_deg=4.0)
    vol = _volume(g.shape, 0, 2000)
    spec = SeriesSpec(modality="MR", description="t1_tse_sag", window_center=900, window_width=1800)
    (path,) = write_series(
        tmp_path, vol, g, spec, multiframe=True, multiframe_kind="sc", compression="jpeg-ls"
    )
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == MultiFrameGrayscaleWordSecondaryCaptureImageStorage
    assert ds.file_meta.TransferSyntaxUID == JPEGLSLossless
    assert float(ds.RescaleSlope) == 1.0 and float(ds.WindowWidth) == 1800
    np.testing.assert_array_equal(ds.pixel_array, vol)


def test_gantry_tilt_shifts_origins_in_plane(tmp_path: Path) -> None:
    g = axial_geometry(4, 8, 8, (0.5, 0.5), 2.0)
    truth = tilted_geometry(g, 15.0)
    assert truth.gantry_tilt_deg() == pytest.approx(15.0)
    np.testing.assert_allclose(truth.slices[3].position_mm, [0, 6 * np.tan(np.radians(15)), 6], atol=1e-12)
    paths = write_series(
        tmp_path, _volume(g.shape), g, SeriesSpec(rescale_intercept=-1024), gantry_tilt_deg=15.0
    )
    ds = pydicom.dcmread(paths[3])
    np.testing.assert_allclose(_floats(ds.ImagePositionPatient), truth.slices[3].position_mm, atol=1e-9)
    assert float(ds.GantryDetectorTilt) == 15.0


def test_bad_arguments_are_full_sentences(tmp_path: Path) -> None:
    g = axial_geometry(2, 4, 4)
    with pytest.raises(ValueError, match="does not match the geometry"):
        write_series(tmp_path, np.zeros((3, 4, 4)), g, SeriesSpec())
    with pytest.raises(ValueError, match="do not fit in int16"):
        write_series(tmp_path, np.full(g.shape, 40000.0), g, SeriesSpec())
    with pytest.raises(ValueError, match="compression 'zip'"):
        write_series(tmp_path, np.zeros(g.shape), g, SeriesSpec(), compression="zip")
    with pytest.raises(ValueError, match="permutation"):
        write_series(tmp_path, np.zeros(g.shape), g, SeriesSpec(), multiframe=True, frame_order=[0, 0])
    with pytest.raises(ValueError, match="modality"):
        write_series(tmp_path, np.zeros(g.shape), g, SeriesSpec(modality="US"))
