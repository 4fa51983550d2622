"""Header values -> Endplate's types: pixel format, geometry, windows, series info, attributes.

The per-value half of reading a header (:mod:`dicomio.headers` is the per-file half):
each function takes a dataset (pydicom's, or :class:`dicomio.fast_header.FastDataset`,
which answers the same ``get`` / ``in`` / attribute look-ups) and returns typed values or
raises ``_Skip`` with a reason a user understands.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import UID
from pydicom.valuerep import PersonName

from dicomio.assemble import SeriesInfo
from dicomio.dicom_bytes import _Skip
from dicomio.geometry import ImageGeometry
from dicomio.grouping import Identity
from dicomio.model import PixelFormat, WindowPreset
from dicomio.pixel_errors import pixel_format_problem
from dicomio.windowing import file_windows

#: Header values kept in ``SeriesStack.attributes`` (classification, export, display).
KEPT_ATTRIBUTES = (
    "SeriesDescription",
    "ProtocolName",
    "ScanningSequence",
    "SequenceVariant",
    "ScanOptions",
    "SequenceName",
    "PulseSequenceName",
    "InversionTime",
    "EchoTime",
    "RepetitionTime",
    "FlipAngle",
    "MagneticFieldStrength",
    "MRAcquisitionType",
    "AcquisitionContrast",
    "EchoPulseSequence",
    "SpectrallySelectedSuppression",
    "ImageType",
    "BodyPartExamined",
    "SliceThickness",
    "SpacingBetweenSlices",
    "GantryDetectorTilt",
    "KVP",
    "ConvolutionKernel",
    "PatientPosition",
    "PatientBirthDate",
    "PatientSex",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "SeriesDate",
    "SeriesTime",
    "Manufacturer",
    "ManufacturerModelName",
    "InstitutionName",
    "SOPClassUID",
)

#: How far from 1 the length of an ImageOrientationPatient direction may be unremarked.
_UNIT_TOLERANCE = 1e-3

#: SOP classes that are never images Endplate can measure, by UID prefix.
_NON_IMAGE_SOP_PREFIXES = (
    ("1.2.840.10008.5.1.4.1.1.88.", "a structured report"),
    ("1.2.840.10008.5.1.4.1.1.11.", "a presentation state"),
    ("1.2.840.10008.5.1.4.1.1.481.", "a radiotherapy object"),
    ("1.2.840.10008.5.1.4.1.1.66", "a segmentation, registration or raw data object"),
    ("1.2.840.10008.5.1.4.1.1.9.", "a waveform"),
    ("1.2.840.10008.5.1.4.1.1.104.", "an encapsulated document"),
    ("1.2.840.10008.5.1.4.1.1.67", "a real world value mapping"),
    ("1.2.840.10008.5.1.4.1.1.68", "a surface object"),
    ("1.2.840.10008.5.1.4.1.1.91", "a content assessment"),
    ("1.2.840.10008.5.1.4.1.1.200.", "a protocol or plan"),
    ("1.2.840.10008.5.1.4.34.", "a treatment record"),
    ("1.2.840.10008.5.1.4.38.", "a hanging protocol"),
    ("1.2.840.10008.5.1.4.39.", "a color palette"),
)


# -- small helpers ----------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Header value -> plain JSON-friendly Python (lists, floats, ints, str)."""
    if isinstance(value, MultiValue | list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, PersonName | UID):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("ascii", "replace").strip("\x00 ")
    return str(value) if value is not None else None


def _first_item(ds: Dataset | None, keyword: str) -> Dataset | None:
    if ds is None:
        return None
    seq = ds.get(keyword)
    if seq is None:
        return None
    try:
        return seq[0] if len(seq) else None
    except (TypeError, IndexError):
        return None


def _functional(ds: Dataset, per_frame: Dataset | None, keyword: str) -> Dataset | None:
    """The item of a functional group macro: the frame's own first, else the shared one."""
    item = _first_item(per_frame, keyword)
    if item is None:
        item = _first_item(_first_item(ds, "SharedFunctionalGroupsSequence"), keyword)
    return item


def _int(ds: Dataset, keyword: str, default: int | None = None) -> int | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _bits(ds: Dataset, keyword: str, default: int) -> int:
    """BitsAllocated / BitsStored as written (0 stays 0 and is refused by the pixel check);
    the default only when the attribute is absent or unparseable."""
    value = _int(ds, keyword)
    return default if value is None else value


def _float_or(value: Any, default: float) -> float:
    try:
        return float(value) if value is not None and str(value).strip() != "" else default
    except (TypeError, ValueError):
        return default


# -- one file --------------------------------------------------------------------------


def _sop_class_problem(sop_class: str) -> str | None:
    for prefix, what in _NON_IMAGE_SOP_PREFIXES:
        if sop_class.startswith(prefix):
            name = UID(sop_class).name
            return f"unsupported SOP class: {name} ({sop_class}) is {what}, not an image"
    return None


def _attributes(ds: Dataset, per_frame: Dataset | None) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for keyword in KEPT_ATTRIBUTES:
        if keyword in ds:
            value = _plain(ds.get(keyword))
            if value is not None:
                attrs[keyword] = value
    # Enhanced MR keeps timing and contrast in functional groups.
    echo = _functional(ds, per_frame, "MREchoSequence")
    if echo is not None and "EchoTime" not in attrs and "EffectiveEchoTime" in echo:
        attrs["EchoTime"] = _plain(echo.EffectiveEchoTime)
    timing = _functional(ds, per_frame, "MRTimingAndRelatedParametersSequence")
    if timing is not None:
        if "RepetitionTime" not in attrs and "RepetitionTime" in timing:
            attrs["RepetitionTime"] = _plain(timing.RepetitionTime)
        if "FlipAngle" not in attrs and "FlipAngle" in timing:
            attrs["FlipAngle"] = _plain(timing.FlipAngle)
    modifier = _functional(ds, per_frame, "MRModifierSequence")
    if modifier is not None and "InversionTime" not in attrs and modifier.get("InversionTimes"):
        times = _plain(modifier.InversionTimes)
        attrs["InversionTime"] = times[0] if isinstance(times, list) else times
    if modifier is not None:  # Enhanced MR's equivalents of ScanningSequence IR / ScanOptions FS
        for keyword in ("InversionRecovery", "SpectrallySelectedExcitation", "SpectrallySelectedSuppression"):
            if keyword not in attrs and modifier.get(keyword):
                attrs[keyword] = _plain(modifier.get(keyword))
    frame_type = _functional(ds, per_frame, "MRImageFrameType") or _functional(
        ds, per_frame, "CTImageFrameType"
    )
    if frame_type is not None:
        if "FrameType" in frame_type:
            attrs["FrameType"] = _plain(frame_type.FrameType)
        if "AcquisitionContrast" not in attrs and "AcquisitionContrast" in frame_type:
            attrs["AcquisitionContrast"] = _plain(frame_type.AcquisitionContrast)
    return attrs


def _pixel_format(ds: Dataset, transform: Dataset | None) -> PixelFormat:
    source = transform if transform is not None else ds
    return PixelFormat(
        bits_allocated=_bits(ds, "BitsAllocated", 16),
        bits_stored=_bits(ds, "BitsStored", _bits(ds, "BitsAllocated", 16)),
        pixel_representation=_int(ds, "PixelRepresentation", 0) or 0,
        photometric=str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip(),
        samples_per_pixel=_int(ds, "SamplesPerPixel", 1) or 1,
        transfer_syntax_uid=str(ds.file_meta.get("TransferSyntaxUID", ""))
        if hasattr(ds, "file_meta")
        else "",
        rescale_slope=_float_or(source.get("RescaleSlope"), 1.0),
        rescale_intercept=_float_or(source.get("RescaleIntercept"), 0.0),
        big_endian=not ds.original_encoding[1] if ds.original_encoding[1] is not None else False,
    )


def _windows(ds: Dataset, per_frame: Dataset | None) -> list[WindowPreset]:
    voi = _functional(ds, per_frame, "FrameVOILUTSequence")
    if voi is not None and "WindowCenter" in voi:
        return file_windows(
            voi.get("WindowCenter"), voi.get("WindowWidth"), voi.get("WindowCenterWidthExplanation")
        )
    return file_windows(ds.get("WindowCenter"), ds.get("WindowWidth"), ds.get("WindowCenterWidthExplanation"))


def _geometry(
    path: Path,
    ds: Dataset,
    position: Any,
    orientation: Any,
    spacing: Any,
    where: str,
) -> ImageGeometry:
    missing = [
        name
        for name, value in (
            ("ImagePositionPatient", position),
            ("ImageOrientationPatient", orientation),
            ("PixelSpacing", spacing),
        )
        if value is None or len(value) == 0
    ]
    if missing:
        raise _Skip(
            f"missing geometry: {where} has no {' or '.join(missing)}; Endplate needs image position, "
            "orientation and pixel spacing to measure in millimetres"
        )
    try:
        return ImageGeometry.from_dicom(position, orientation, spacing, int(ds.Rows), int(ds.Columns))
    except (ValueError, TypeError) as exc:
        raise _Skip(f"missing geometry: {where} has unusable geometry: {exc}") from exc


def _series_info(
    ds: Dataset, attrs: dict[str, Any], windows: list[WindowPreset], ident: Identity
) -> SeriesInfo:
    for_uid = str(ds.get("FrameOfReferenceUID", "")).strip() or None
    return SeriesInfo(
        study_uid=ident.study_uid,
        series_uid=ident.series_uid,
        frame_of_reference_uid=for_uid,
        modality=str(ds.get("Modality", "")).strip(),
        description=str(ds.get("SeriesDescription", "")).strip(),
        series_number=_int(ds, "SeriesNumber"),
        study_date=str(ds.get("StudyDate", "")).strip() or None,
        study_description=str(ds.get("StudyDescription", "")).strip(),
        patient_id=str(ds.get("PatientID", "")).strip(),
        patient_name=str(ds.get("PatientName", "")).strip(),
        windows=windows,
        attributes=attrs,
        series_key=ident.series_key,
        generated_series_uid=bool(ident.series_key),
        generated_study_uid=ident.generated_study_uid,
    )


def _frame_nbytes(ds: Dataset) -> int:
    bits = _bits(ds, "BitsAllocated", 16) * (_int(ds, "SamplesPerPixel", 1) or 1)
    return (int(ds.Rows) * int(ds.Columns) * bits + 7) // 8


def _check_pixel_format(fmt: PixelFormat, where: str) -> None:
    """Refuse here what the loader would refuse (:func:`dicomio.pixel_errors.pixel_format_problem`)."""
    problem = pixel_format_problem(fmt)
    if problem is not None:
        raise _Skip(f"unsupported pixel format: {where} has {problem}")


def _orientation_warning(orientation: Any) -> str | None:
    """A warning when ImageOrientationPatient's two directions are not unit vectors (they are
    normalised by :func:`dicomio.geometry.orientation_from_iop`): say what was assumed."""
    try:
        values = [float(v) for v in orientation]
    except (TypeError, ValueError):
        return None
    if len(values) != 6:
        return None
    lengths = [math.sqrt(sum(v * v for v in values[:3])), math.sqrt(sum(v * v for v in values[3:]))]
    if all(abs(n - 1) <= _UNIT_TOLERANCE for n in lengths):
        return None
    return (
        f"ImageOrientationPatient holds directions of length {lengths[0]:.4g} and {lengths[1]:.4g}, "
        "not unit vectors; Endplate normalised them (the directions kept, as the file's writer "
        "meant, it assumes)."
    )
