"""Write synthetic DICOM series whose geometry is known exactly.

Tests, the demo-data generator and benchmarks need DICOM files with a known answer:
every voxel's LPS position is given by the :class:`~dicomio.geometry.StackGeometry`
passed in, so what a scan + load reads back can be compared to ground truth.  The
writer can be made awkward on purpose (shuffled file names, instance numbers opposite
to position, frames out of order, an extra per-frame item, MONOCHROME1, RLE/JPEG-LS,
gantry tilt), the way real archives are.

Conventions of the geometry helpers (LPS: +X patient left, +Y posterior, +Z superior):

* :func:`sagittal_geometry`: standard IOP ``[0,1,0, 0,0,-1]``: columns go posterior
  (anterior on the screen LEFT), rows go inferior (superior UP); the normal is
  ``row x col = -X`` (towards patient right), so slice ``k`` lies at ``origin - k*step*X``.
  ``anterior_on_right`` uses ``[0,-1,0, 0,0,-1]``; ``feet_first`` makes rows go superior
  (superior DOWN on screen); ``oblique_deg`` rotates both cosines about the patient A-P
  axis (+Y), tilting the plane like the real ``spine-ls.dcm`` (about 4 deg).
* :func:`axial_geometry`: standard IOP ``[1,0,0, 0,1,0]`` (patient left on screen right,
  anterior UP), normal ``+Z`` (slices go superior).  ``feet_first`` uses
  ``[-1,0,0, 0,1,0]`` (normal ``-Z``); ``oblique_deg`` rotates about the L-R axis (+X).

MONOCHROME1: stored values are the bitwise inverse, within ``BitsStored``, of the
MONOCHROME2 values (unsigned ``2**BitsStored - 1 - s``; signed ``-1 - s``), with the same
rescale; a loader that inverts MONOCHROME1 the same way before rescaling gets the
original units back (see :func:`invert_monochrome1`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pydicom
from numpy.typing import ArrayLike, NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    CTImageStorage,
    EnhancedCTImageStorage,
    EnhancedMRImageStorage,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    MRImageStorage,
    MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    RLELossless,
    generate_uid,
)
from pydicom.valuerep import DSfloat

from dicomio.geometry import ImageGeometry, StackGeometry

MultiframeKind = Literal["enhanced", "sc"]

#: ``compression`` argument -> transfer syntax (all lossless, so values round-trip).
COMPRESSIONS: dict[str, str] = {
    "rle": RLELossless,
    "jpeg-ls": JPEGLSLossless,
    "jpeg2000": JPEG2000Lossless,
}

_SINGLE_FRAME_SOP = {"CT": CTImageStorage, "MR": MRImageStorage}
_ENHANCED_SOP = {"CT": EnhancedCTImageStorage, "MR": EnhancedMRImageStorage}


@dataclass
class SeriesSpec:
    """Header content of one synthetic series (everything but geometry and pixels)."""

    modality: str = "CT"  # "CT" or "MR"
    description: str = ""  # SeriesDescription
    series_uid: str | None = None  # generated (pydicom.uid.generate_uid) when None
    study_uid: str | None = None
    frame_of_reference_uid: str | None = None
    series_number: int = 1
    patient_name: str = "DEMO^SPINE"
    patient_id: str = "DEMO0001"
    patient_birth_date: str = "19480101"
    study_date: str = "20260301"
    study_description: str = "SPINE"
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0  # use -1024 for CT
    window_center: float | None = None
    window_width: float | None = None
    #: MR keywords: ScanningSequence, SequenceVariant, InversionTime, EchoTime,
    #: RepetitionTime, SequenceName, ScanOptions, MagneticFieldStrength, ...
    mr: dict[str, object] = field(default_factory=dict)
    extra: dict[str, object] = field(default_factory=dict)  # any other keyword -> value


# -- geometry helpers ----------------------------------------------------------------


def _rotate(vector: NDArray[np.float64], axis: int, angle_deg: float) -> NDArray[np.float64]:
    """Rotate ``vector`` by ``angle_deg`` (right-handed) about patient axis 0/1/2."""
    a = np.radians(angle_deg)
    c, s = np.cos(a), np.sin(a)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    out = vector.astype(float).copy()
    out[i] = c * vector[i] - s * vector[j]
    out[j] = s * vector[i] + c * vector[j]
    return out


def stack_geometry(
    origin_mm: ArrayLike,
    row_cosine: ArrayLike,
    col_cosine: ArrayLike,
    rows: int,
    columns: int,
    pixel_spacing_mm: tuple[float, float],
    slice_offsets_mm: Sequence[float],
) -> StackGeometry:
    """Stack with slice ``k`` at ``origin + slice_offsets_mm[k] * normal``.

    Offsets must increase; uneven offsets give gaps / uneven spacing on purpose.
    """
    row = np.asarray(row_cosine, dtype=float)
    col = np.asarray(col_cosine, dtype=float)
    normal = np.cross(row, col)
    normal = normal / np.linalg.norm(normal)
    origin = np.asarray(origin_mm, dtype=float).reshape(3)
    iop = [*row.tolist(), *col.tolist()]
    slices = tuple(
        ImageGeometry.from_dicom(
            (origin + float(off) * normal).tolist(), iop, pixel_spacing_mm, rows, columns
        )
        for off in slice_offsets_mm
    )
    return StackGeometry(slices)


def _offsets(n_slices: int, slice_spacing_mm: float, slice_offsets_mm: Sequence[float] | None) -> list[float]:
    if slice_offsets_mm is not None:
        if len(slice_offsets_mm) != n_slices:
            raise ValueError(
                f"slice_offsets_mm has {len(slice_offsets_mm)} values; expected one per slice ({n_slices})"
            )
        return [float(x) for x in slice_offsets_mm]
    return [k * float(slice_spacing_mm) for k in range(n_slices)]


def sagittal_geometry(
    n_slices: int,
    rows: int,
    columns: int,
    pixel_spacing_mm: tuple[float, float] = (1.0, 1.0),
    slice_spacing_mm: float = 3.0,
    origin_mm: ArrayLike = (0.0, 0.0, 0.0),
    anterior_on_right: bool = False,
    feet_first: bool = False,
    oblique_deg: float = 0.0,
    slice_offsets_mm: Sequence[float] | None = None,
) -> StackGeometry:
    """A sagittal stack (see the module docstring for the orientation conventions).

    ``pixel_spacing_mm`` is (row spacing, column spacing).  ``slice_offsets_mm`` (one per
    slice, increasing) overrides the even ``slice_spacing_mm``.
    """
    row = np.array([0.0, -1.0 if anterior_on_right else 1.0, 0.0])
    col = np.array([0.0, 0.0, 1.0 if feet_first else -1.0])
    if oblique_deg:
        row, col = _rotate(row, 1, oblique_deg), _rotate(col, 1, oblique_deg)
    return stack_geometry(
        origin_mm,
        row,
        col,
        rows,
        columns,
        pixel_spacing_mm,
        _offsets(n_slices, slice_spacing_mm, slice_offsets_mm),
    )


def axial_geometry(
    n_slices: int,
    rows: int,
    columns: int,
    pixel_spacing_mm: tuple[float, float] = (1.0, 1.0),
    slice_spacing_mm: float = 3.0,
    origin_mm: ArrayLike = (0.0, 0.0, 0.0),
    feet_first: bool = False,
    oblique_deg: float = 0.0,
    slice_offsets_mm: Sequence[float] | None = None,
) -> StackGeometry:
    """An axial stack (see the module docstring for the orientation conventions)."""
    row = np.array([-1.0 if feet_first else 1.0, 0.0, 0.0])
    col = np.array([0.0, 1.0, 0.0])
    if oblique_deg:
        row, col = _rotate(row, 0, oblique_deg), _rotate(col, 0, oblique_deg)
    return stack_geometry(
        origin_mm,
        row,
        col,
        rows,
        columns,
        pixel_spacing_mm,
        _offsets(n_slices, slice_spacing_mm, slice_offsets_mm),
    )


def tilted_geometry(geometry: StackGeometry, gantry_tilt_deg: float) -> StackGeometry:
    """The stack as a CT with gantry tilt writes it: each slice origin shifted in-plane.

    Slice ``k`` at distance ``d_k`` from slice 0 along the normal moves by
    ``d_k * tan(tilt)`` along the column cosine (screen down), so the line through the
    origins makes ``gantry_tilt_deg`` with the normal while IOP stays the same.  This is
    the exact geometry :func:`write_series` writes for ``gantry_tilt_deg``.
    """
    if not gantry_tilt_deg:
        return geometry
    shift = np.tan(np.radians(gantry_tilt_deg))
    offsets = geometry.slice_offsets_mm - geometry.slice_offsets_mm[0]
    slices = []
    for g, d in zip(geometry.slices, offsets, strict=True):
        pos = np.asarray(g.position_mm) + float(d) * shift * np.asarray(g.col_cosine)
        slices.append(
            ImageGeometry.from_dicom(pos.tolist(), g.orientation, g.pixel_spacing_mm, g.rows, g.columns)
        )
    return StackGeometry(tuple(slices))


def moved_geometry(geometry: StackGeometry, rotation: ArrayLike, translation_mm: ArrayLike) -> StackGeometry:
    """The stack moved rigidly, ``p -> rotation @ p + translation``: a series rendered on
    ``geometry`` and written with the moved geometry shows the anatomy at ``p`` at the moved
    point (a new frame of reference in which every truth point moves by the same map)."""
    r = np.asarray(rotation, dtype=float).reshape(3, 3)
    t = np.asarray(translation_mm, dtype=float).reshape(3)
    slices = []
    for g in geometry.slices:
        pos = r @ np.asarray(g.position_mm) + t
        iop = [*(r @ np.asarray(g.row_cosine)).tolist(), *(r @ np.asarray(g.col_cosine)).tolist()]
        slices.append(ImageGeometry.from_dicom(pos.tolist(), iop, g.pixel_spacing_mm, g.rows, g.columns))
    return StackGeometry(tuple(slices))


# -- pixel values --------------------------------------------------------------------


def invert_monochrome1(stored: NDArray[np.integer], bits_stored: int, signed: bool) -> NDArray[np.integer]:
    """Bitwise inverse within ``bits_stored``: MONOCHROME1 <-> MONOCHROME2 stored values.

    Its own inverse, so a loader can use it to undo what :func:`write_series` did.
    """
    arr = np.asarray(stored)
    if signed:
        return (-1 - arr.astype(np.int64)).astype(arr.dtype)
    return ((1 << bits_stored) - 1 - arr.astype(np.int64)).astype(arr.dtype)


def stored_values(
    volume: NDArray[np.floating] | NDArray[np.integer], spec: SeriesSpec
) -> NDArray[np.integer]:
    """``round((v - intercept) / slope)`` as int16 (CT) or uint16 (MR); ValueError if it overflows."""
    signed = spec.modality.upper() == "CT"
    dtype = np.int16 if signed else np.uint16
    info = np.iinfo(dtype)
    if spec.rescale_slope == 0:
        raise ValueError("SeriesSpec.rescale_slope is 0; expected a non-zero slope")
    raw = np.rint((np.asarray(volume, dtype=np.float64) - spec.rescale_intercept) / spec.rescale_slope)
    if raw.size and (raw.min() < info.min or raw.max() > info.max):
        raise ValueError(
            f"volume values {float(raw.min())}..{float(raw.max())} (stored units) do not fit in "
            f"{np.dtype(dtype).name} for modality {spec.modality}; adjust rescale_slope/intercept"
        )
    return raw.astype(dtype)


# -- writer ---------------------------------------------------------------------------


def _ds(value: float) -> DSfloat:
    return DSfloat(float(value), auto_format=True)


def _ds_list(values: Sequence[float]) -> list[DSfloat]:
    return [_ds(v) for v in values]


def _set(ds: Dataset, values: dict[str, object]) -> None:
    for keyword, value in values.items():
        if value is None:
            continue
        setattr(ds, keyword, value)


def _common_dataset(
    spec: SeriesSpec,
    sop_class_uid: str,
    uids: dict[str, str],
    rows: int,
    columns: int,
    photometric: str,
    signed: bool,
) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = uids["study"]
    ds.SeriesInstanceUID = uids["series"]
    ds.FrameOfReferenceUID = uids["for"]
    ds.Modality = spec.modality.upper()
    ds.SeriesDescription = spec.description
    ds.SeriesNumber = spec.series_number
    ds.PatientName = spec.patient_name
    ds.PatientID = spec.patient_id
    ds.PatientBirthDate = spec.patient_birth_date
    ds.PatientSex = "O"
    ds.StudyDate = spec.study_date
    ds.SeriesDate = spec.study_date
    ds.StudyTime = "090000"
    ds.StudyDescription = spec.study_description
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.Manufacturer = "Endplate synthetic"
    ds.BodyPartExamined = "SPINE"
    ds.PositionReferenceIndicator = ""
    ds.Rows = rows
    ds.Columns = columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if signed else 0
    if spec.modality.upper() == "MR":
        _set(ds, spec.mr)
    return ds


def _file_meta(ds: Dataset) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta


def _set_pixels(ds: Dataset, stored: NDArray[np.integer], compression: str | None) -> None:
    ds.PixelData = np.ascontiguousarray(stored).astype(stored.dtype.newbyteorder("<")).tobytes()
    if compression is not None:
        try:
            ds.compress(COMPRESSIONS[compression], np.ascontiguousarray(stored), generate_instance_uid=False)
        except RuntimeError as exc:  # e.g. OpenJPEG refuses images smaller than 32 x 32
            raise ValueError(
                f"could not encode {stored.shape} pixels as {compression}: {exc}; "
                "JPEG 2000 needs images of at least 32 x 32 pixels"
            ) from exc


def _names(n: int, rng: np.random.Generator, shuffle: bool, prefix: str) -> list[str]:
    if not shuffle:
        return [f"{prefix}{k + 1:04d}.dcm" for k in range(n)]
    # Names unrelated to position: random hex, in a random order.
    return [f"{rng.integers(0, 16**8):08x}_{p:04d}.dcm" for p in rng.permutation(n)]


def write_series(
    out_dir: Path,
    volume: NDArray[np.floating] | NDArray[np.integer],
    geometry: StackGeometry,
    spec: SeriesSpec,
    *,
    multiframe: bool = False,
    shuffle_names: bool = False,
    reverse_instance_numbers: bool = False,
    monochrome1: bool = False,
    compression: str | None = None,
    frame_order: Sequence[int] | None = None,
    extra_per_frame_item: bool = False,
    gantry_tilt_deg: float = 0.0,
    seed: int = 0,
    multiframe_kind: MultiframeKind = "enhanced",
) -> list[Path]:
    """Write ``volume`` (slices, rows, columns; output units) as a DICOM series.

    Single-frame: one CT/MR Image Storage file per slice.  ``multiframe``: one Enhanced
    CT/MR object (``multiframe_kind="enhanced"``) or one Multi-frame Grayscale Word
    Secondary Capture object (``"sc"``, like the real ``spine-ls.dcm``), both with shared
    and per-frame functional groups; ``frame_order[j]`` is the slice stored as frame ``j``.
    With ``gantry_tilt_deg`` the written geometry is :func:`tilted_geometry`.
    Returns the written paths (in slice order for single-frame files).
    """
    out_dir = Path(out_dir)
    modality = spec.modality.upper()
    if modality not in ("CT", "MR"):
        raise ValueError(f"SeriesSpec.modality is {spec.modality!r}; expected 'CT' or 'MR'")
    vol = np.asarray(volume)
    if vol.ndim != 3 or vol.shape != geometry.shape:
        raise ValueError(
            f"volume shape {vol.shape} does not match the geometry (slices, rows, columns) {geometry.shape}"
        )
    if compression is not None and compression not in COMPRESSIONS:
        raise ValueError(
            f"compression {compression!r} is not supported; expected one of {sorted(COMPRESSIONS)}"
        )
    if multiframe_kind not in ("enhanced", "sc"):
        raise ValueError(f"multiframe_kind {multiframe_kind!r} is not supported; expected 'enhanced' or 'sc'")
    geometry = tilted_geometry(geometry, gantry_tilt_deg)
    signed = modality == "CT"
    stored = stored_values(vol, spec)
    photometric = "MONOCHROME2"
    if monochrome1:
        stored = invert_monochrome1(stored, 16, signed)
        photometric = "MONOCHROME1"
    uids = {
        "study": spec.study_uid or generate_uid(),
        "series": spec.series_uid or generate_uid(),
        "for": spec.frame_of_reference_uid or generate_uid(),
    }
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    n = vol.shape[0]
    first = geometry.first
    rows, columns = first.rows, first.columns
    thickness = geometry.slice_spacing_mm or 1.0

    if not multiframe:
        names = _names(n, rng, shuffle_names, "IM")
        paths = []
        for k in range(n):
            g = geometry.slices[k]
            ds = _common_dataset(spec, _SINGLE_FRAME_SOP[modality], uids, rows, columns, photometric, signed)
            ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL" if modality == "CT" else "OTHER"]
            ds.InstanceNumber = (n - k) if reverse_instance_numbers else (k + 1)
            ds.ImagePositionPatient = _ds_list(g.position_mm)
            ds.ImageOrientationPatient = _ds_list(g.orientation)
            ds.PixelSpacing = _ds_list(g.pixel_spacing_mm)
            ds.SliceThickness = _ds(thickness)
            ds.SliceLocation = _ds(float(geometry.slice_offsets_mm[k]))
            if modality == "CT" or spec.rescale_slope != 1.0 or spec.rescale_intercept != 0.0:
                ds.RescaleIntercept = _ds(spec.rescale_intercept)
                ds.RescaleSlope = _ds(spec.rescale_slope)
                ds.RescaleType = "HU" if modality == "CT" else "US"
            if spec.window_center is not None and spec.window_width is not None:
                ds.WindowCenter = _ds(spec.window_center)
                ds.WindowWidth = _ds(spec.window_width)
            if gantry_tilt_deg:
                ds.GantryDetectorTilt = _ds(gantry_tilt_deg)
            if modality == "CT":
                ds.KVP = 120
            _set(ds, spec.extra)
            _file_meta(ds)
            _set_pixels(ds, stored[k], compression)
            path = out_dir / names[k]
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
        return paths

    order = list(range(n)) if frame_order is None else [int(i) for i in frame_order]
    if sorted(order) != list(range(n)):
        raise ValueError(f"frame_order must be a permutation of 0..{n - 1}, got {order}")
    sop = (
        _ENHANCED_SOP[modality]
        if multiframe_kind == "enhanced"
        else MultiFrameGrayscaleWordSecondaryCaptureImageStorage
    )
    ds = _common_dataset(spec, sop, uids, rows, columns, photometric, signed)
    ds.InstanceNumber = 1
    ds.NumberOfFrames = n
    ds.ContentDate = spec.study_date
    ds.ContentTime = "090000"
    if multiframe_kind == "enhanced":
        ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
        ds.PixelPresentation = "MONOCHROME"
        ds.VolumetricProperties = "VOLUME"
        ds.VolumeBasedCalculationTechnique = "NONE"
        ds.BurnedInAnnotation = "NO"
    else:
        ds.ImageType = ["DERIVED", "SECONDARY"]
        ds.ConversionType = "WSD"
        ds.BurnedInAnnotation = "NO"
        ds.RescaleIntercept = _ds(spec.rescale_intercept)
        ds.RescaleSlope = _ds(spec.rescale_slope)
        ds.RescaleType = "HU" if modality == "CT" else "US"
        if spec.window_center is not None and spec.window_width is not None:
            ds.WindowCenter = _ds(spec.window_center)
            ds.WindowWidth = _ds(spec.window_width)

    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = _ds_list(first.pixel_spacing_mm)
    measures.SliceThickness = _ds(thickness)
    if geometry.slice_spacing_mm is not None:
        measures.SpacingBetweenSlices = _ds(geometry.slice_spacing_mm)
    shared.PixelMeasuresSequence = DicomSequence([measures])
    orient = Dataset()
    orient.ImageOrientationPatient = _ds_list(first.orientation)
    shared.PlaneOrientationSequence = DicomSequence([orient])
    if multiframe_kind == "enhanced":
        transform = Dataset()
        transform.RescaleIntercept = _ds(spec.rescale_intercept)
        transform.RescaleSlope = _ds(spec.rescale_slope)
        transform.RescaleType = "HU" if modality == "CT" else "US"
        shared.PixelValueTransformationSequence = DicomSequence([transform])
    if spec.window_center is not None and spec.window_width is not None:
        voi = Dataset()
        voi.WindowCenter = _ds(spec.window_center)
        voi.WindowWidth = _ds(spec.window_width)
        shared.FrameVOILUTSequence = DicomSequence([voi])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])

    per_frame = []
    for j, k in enumerate(order):
        item = Dataset()
        pos = Dataset()
        pos.ImagePositionPatient = _ds_list(geometry.slices[k].position_mm)
        item.PlanePositionSequence = DicomSequence([pos])
        content = Dataset()
        content.InStackPositionNumber = k + 1
        content.StackID = "1"
        content.FrameAcquisitionNumber = j + 1
        item.FrameContentSequence = DicomSequence([content])
        per_frame.append(item)
    if extra_per_frame_item:
        per_frame.append(Dataset())
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame)
    if gantry_tilt_deg:
        ds.GantryDetectorTilt = _ds(gantry_tilt_deg)
    _set(ds, spec.extra)
    _file_meta(ds)
    _set_pixels(ds, stored[order], compression)
    path = out_dir / (_names(1, rng, shuffle_names, "MF")[0])
    ds.save_as(path, enforce_file_format=True)
    return [path]
