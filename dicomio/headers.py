"""DICOM headers -> what Endplate keeps: frames with geometry, pixel format, series info.

One file's dataset (read up to its pixel data) becomes a :class:`FileScan`: the frames it
holds (single-frame, or every frame of an Enhanced/multi-frame object from its
functional groups), each with exact geometry and the byte offset of native pixels, and
the series-level values (:data:`dicomio.header_values.KEPT_ATTRIBUTES`, windows, patient
and study; the values themselves are read by :mod:`dicomio.header_values`).  Files
that cannot be measured on (no geometry, not an image, colour ...) raise ``_Skip`` with
a reason a user understands; a missing StudyInstanceUID, SeriesInstanceUID or
SOPInstanceUID is not a reason (:mod:`dicomio.grouping` names such files).
:func:`read_header` is the same header read for one file whose dataset a caller needs;
:func:`read_image_header` the header of one image of a stack, with generated UIDs filled in
(the SR writer's evidence).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import DeflatedExplicitVRLittleEndian, MediaStorageDirectoryStorage

from dicomio.assemble import FrameCandidate, SeriesInfo
from dicomio.dicom_bytes import (
    HeaderEnd,
    _check_fragments,
    _PixelElement,
    _read_pixel_element,
    _Skip,
    _sniff,
    compressed_frame_problem,
    read_bounded_header,
)
from dicomio.geometry import ImageGeometry
from dicomio.grouping import Identity, identify, text
from dicomio.header_values import (
    KEPT_ATTRIBUTES,
    _attributes,
    _check_pixel_format,
    _frame_nbytes,
    _functional,
    _geometry,
    _int,
    _orientation_warning,
    _pixel_format,
    _series_info,
    _sop_class_problem,
    _windows,
)
from dicomio.model import FrameRef, PixelFormat, SeriesStack, SkippedFile
from dicomio.pixel_errors import budget_problem, decoded_nbytes

__all__ = ["KEPT_ATTRIBUTES", "FileScan", "SeriesCache", "read_header", "read_image_header"]


@dataclass
class FileScan:
    """What one file gave: images (with their series), or the reason it was skipped."""

    path: Path
    info: SeriesInfo | None = None
    candidates: list[FrameCandidate] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: SkippedFile | None = None
    #: Files without SeriesInstanceUID: their frame of reference and acquisition time
    #: (which tell repeats apart, :func:`dicomio.grouping.split_acquisitions`).
    acquisition: tuple[str, ...] = ()
    generated_sop_uid: bool = False


#: Series-level values already read, keyed by (study, series UID or series key, rescale
#: slope, intercept, pixel encoding): the pixel format and SeriesInfo of the first
#: single-frame file of a series.  Reading ~30 series attributes per file was half the
#: scan time of a 600-file CT.
SeriesCache = dict[tuple[str, str, str, str, str], tuple[PixelFormat, SeriesInfo]]


def _scan_dataset(
    path: Path,
    fp: BinaryIO,
    ds: Dataset,
    size: int,
    *,
    has_dicm: bool,
    cut_short: bool,
    series_cache: SeriesCache | None = None,
    zeros_at: int | None = None,
    pixel_element: _PixelElement | None = None,
) -> FileScan:
    meta = ds.file_meta if hasattr(ds, "file_meta") else Dataset()
    if meta.get("MediaStorageSOPClassUID") == MediaStorageDirectoryStorage or "DirectoryRecordSequence" in ds:
        raise _Skip(
            "DICOMDIR: this is a media directory (an index of the files on a CD), not an image; "
            "the images it lists are scanned when their folder is scanned"
        )
    sop_class = str(ds.get("SOPClassUID", meta.get("MediaStorageSOPClassUID", ""))).strip()
    problem = _sop_class_problem(sop_class)
    if problem:
        raise _Skip(problem)

    implicit, little = ds.original_encoding
    implicit = bool(implicit)
    little = True if little is None else bool(little)
    syntax = meta.get("TransferSyntaxUID")
    if syntax == DeflatedExplicitVRLittleEndian:
        element = None  # the stream is inflated in memory: no file offsets
        full = pydicom.dcmread(path)
        if "PixelData" not in full:
            raise _Skip("no pixel data: the file holds no image (no PixelData element)")
    else:
        element = pixel_element if pixel_element is not None else _read_pixel_element(fp, implicit, little)
        if element is None:
            if len(ds) == 0:
                if not has_dicm:
                    raise _Skip("not DICOM: the file has no DICOM header")
                raise _Skip(f"truncated: the file ends inside its header, after {size} bytes")
            if zeros_at is not None:
                raise _Skip(
                    f"no pixel data: the header stops at byte {zeros_at - 8}, where zero bytes follow "
                    f"({size} bytes in all) instead of a PixelData element; the file is damaged or padded"
                )
            if cut_short:
                raise _Skip(f"truncated: the file ends after {size} bytes, inside a header element")
            raise _Skip("no pixel data: the file holds no image (no PixelData element)")
    if element is not None and element.keyword != "PixelData":
        raise _Skip(
            f"unsupported pixel format: the image is stored as {element.keyword} (floating point); "
            "expected integer PixelData"
        )
    if "Rows" not in ds or "Columns" not in ds:
        raise _Skip("unreadable: the image has no Rows or Columns")
    samples = _int(ds, "SamplesPerPixel", 1)
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    if samples != 1 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise _Skip(
            f"unsupported pixel format: PhotometricInterpretation {photometric or 'missing'!r} with "
            f"{samples} sample(s) per pixel; Endplate reads grayscale MONOCHROME1/MONOCHROME2 images"
        )

    n_frames = _int(ds, "NumberOfFrames", 1) or 1
    per_frame_seq = ds.get("PerFrameFunctionalGroupsSequence")
    file_format = _pixel_format(ds, None)
    _check_pixel_format(file_format, "the image")
    rows, columns = int(ds.Rows), int(ds.Columns)
    too_big = budget_problem(
        decoded_nbytes(file_format, rows, columns, n_frames),
        f"the file's {n_frames} frame(s) of {rows} x {columns} pixels",
    )
    if too_big is not None:
        raise _Skip(f"too large: {too_big}")
    frame_bytes = _frame_nbytes(ds)
    encapsulated = element is not None and element.length is None
    bits_per_frame = int(ds.Rows) * int(ds.Columns) * (_int(ds, "BitsAllocated", 16) or 16) * (samples or 1)
    native_le = element is not None and not encapsulated and little and bits_per_frame % 8 == 0
    scan = FileScan(path)
    if element is not None and encapsulated:
        fragments = _check_fragments(fp, element.value_offset, size, little)
        if fragments < 1:
            raise _Skip("truncated: the compressed pixel data holds no image fragment")
        problem = compressed_frame_problem(
            fp, element.value_offset, little, str(syntax or ""), file_format, rows, columns, n_frames
        )
        if problem is not None:
            raise _Skip(f"unreadable: {problem}")
    elif element is not None and element.length is not None:
        expected = frame_bytes * n_frames
        if element.value_offset + element.length > size:
            missing = element.value_offset + element.length - size
            raise _Skip(
                f"truncated: the file ends {missing} bytes before the end of its pixel data "
                f"({element.length} bytes declared); the file was cut short"
            )
        declared = f"{n_frames} frame(s) of {ds.Rows} x {ds.Columns} at {ds.get('BitsAllocated', 16)} bits"
        if element.length < expected:
            raise _Skip(
                f"truncated: the pixel data holds {element.length} bytes, expected {expected} for {declared}"
            )
        if element.length >= 2 * expected:
            raise _Skip(
                f"unsupported pixel format: the pixel data holds {element.length} bytes, "
                f"{element.length / expected:.3g} times the {expected} expected for {declared}: "
                "BitsAllocated, Rows, Columns or NumberOfFrames does not describe the data"
            )
        if element.length > expected + 1:  # one byte pads odd lengths
            scan.warnings.append(
                f"{path.name}: the pixel data holds {element.length} bytes, {element.length - expected} "
                f"more than the {expected} expected for {declared}; the extra bytes at the end were ignored."
            )
    instance_number = _int(ds, "InstanceNumber")

    def offset_of(frame: int) -> tuple[int | None, int | None]:
        if not native_le or element is None:
            return None, None
        return element.value_offset + frame * frame_bytes, frame_bytes

    def identified(first: ImageGeometry) -> Identity:
        ident = identify(ds, first)
        scan.acquisition, scan.generated_sop_uid = ident.acquisition, ident.generated_sop_uid
        return ident

    if per_frame_seq is None and n_frames == 1:
        geometry = _geometry(
            path,
            ds,
            ds.get("ImagePositionPatient"),
            ds.get("ImageOrientationPatient"),
            ds.get("PixelSpacing"),
            "the image",
        )
        if (note := _orientation_warning(ds.get("ImageOrientationPatient"))) is not None:
            scan.warnings.append(note)
        ident = identified(geometry)
        offset, nbytes = offset_of(0)
        frame = FrameRef(path, ident.sop_uid, geometry, None, instance_number, offset, nbytes)
        key = (
            ident.study_uid,
            ident.series_uid or "\x1f".join(ident.series_key),
            str(ds.get("RescaleSlope", "")),
            str(ds.get("RescaleIntercept", "")),
            # how the pixels are encoded: one series may mix them (e.g. some images compressed)
            f"{syntax}|{photometric}|{ds.get('BitsAllocated', '')}|{ds.get('BitsStored', '')}|"
            f"{ds.get('PixelRepresentation', '')}",
        )
        cached = series_cache.get(key) if series_cache is not None else None
        if cached is None:
            attrs = _attributes(ds, None)
            cached = (_pixel_format(ds, None), _series_info(ds, attrs, _windows(ds, None), ident))
            if series_cache is not None:
                series_cache[key] = cached
        scan.candidates.append(FrameCandidate(frame, cached[0]))
        scan.info = cached[1]
        return scan

    # multi-frame: geometry from the shared and per-frame functional groups
    if per_frame_seq is None:
        raise _Skip(
            f"missing geometry: this multi-frame object ({n_frames} frames) has no "
            "PerFrameFunctionalGroupsSequence, so the frames have no positions"
        )
    items = list(per_frame_seq)
    if len(items) < n_frames:
        raise _Skip(
            f"missing geometry: PerFrameFunctionalGroupsSequence has {len(items)} item(s) for "
            f"{n_frames} frames (NumberOfFrames); every frame needs its position"
        )
    if len(items) > n_frames:
        scan.warnings.append(
            f"{path.name}: PerFrameFunctionalGroupsSequence has {len(items)} items for {n_frames} "
            f"frames (NumberOfFrames); the first {n_frames} were used and the extra "
            f"{len(items) - n_frames} ignored."
        )
        items = items[:n_frames]
    frames: list[tuple[ImageGeometry, PixelFormat]] = []
    for j, item in enumerate(items):
        position_item = _functional(ds, item, "PlanePositionSequence")
        orientation_item = _functional(ds, item, "PlaneOrientationSequence")
        measures = _functional(ds, item, "PixelMeasuresSequence")
        geometry = _geometry(
            path,
            ds,
            position_item.get("ImagePositionPatient") if position_item is not None else None,
            orientation_item.get("ImageOrientationPatient")
            if orientation_item is not None
            else ds.get("ImageOrientationPatient"),
            measures.get("PixelSpacing") if measures is not None else ds.get("PixelSpacing"),
            f"frame {j + 1} of {n_frames}",
        )
        transform = _functional(ds, item, "PixelValueTransformationSequence")
        frame_format = _pixel_format(ds, transform)
        _check_pixel_format(frame_format, f"frame {j + 1} of {n_frames}")
        if orientation_item is not None and j == 0:
            note = _orientation_warning(orientation_item.get("ImageOrientationPatient"))
            if note is not None:
                scan.warnings.append(note)
        frames.append((geometry, frame_format))
    ident = identified(frames[0][0])
    for j, (geometry, pixel_format) in enumerate(frames):
        offset, nbytes = offset_of(j)
        frame = FrameRef(path, ident.sop_uid, geometry, j, instance_number, offset, nbytes)
        scan.candidates.append(FrameCandidate(frame, pixel_format))
    first = items[0] if items else None
    scan.info = _series_info(ds, _attributes(ds, first), _windows(ds, first), ident)
    return scan


# -- reading one header -----------------------------------------------------------------


def _read_dataset(fp: BinaryIO) -> tuple[Dataset, bool, HeaderEnd]:
    """The header of an open file, read up to its pixel data (bounded:
    :func:`dicomio.dicom_bytes.read_bounded_header`), whether it has the DICM marker and
    where the read stopped.  Raises ``_Skip`` when the file is not DICOM or its header is
    cut short or too large."""
    has_dicm, looks_like_dicom = _sniff(fp)
    if not looks_like_dicom:
        raise _Skip("not DICOM: the file does not start with a DICOM header (no 'DICM' marker)")
    try:
        ds, end = read_bounded_header(fp)
    except InvalidDicomError as exc:
        raise _Skip(f"not DICOM: {exc}") from exc
    except (EOFError, struct.error) as exc:
        raise _Skip(f"truncated: the header ends early ({exc}); the file was cut short") from exc
    return ds, has_dicm, end


def _skip_reason(exc: Exception) -> str:
    """Why a file could not be read, as a :class:`SkippedFile` reason (``category: detail``)."""
    if isinstance(exc, _Skip):
        return exc.reason
    if isinstance(exc, OSError):
        return f"unreadable: {exc.strerror or exc}"
    # pydicom raises many types on corrupt headers
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    reason = "truncated" if ("end of file" in lowered or "truncat" in lowered) else "unreadable"
    return f"{reason}: the header could not be parsed ({text})"


def read_header(path: Path) -> Dataset:
    """The header of one DICOM file (``stop_before_pixels=True``: pixel data is not read).

    For callers that need a file's own dataset, not a scan: the SR writer reads the
    evidence headers (patient, study, SOP class, frame of reference) of the few images
    its landmarks reference.  A file is DICOM here exactly when the folder scan
    (:func:`dicomio.scan.scan_file`) would read its header, so a file the app showed can
    always be referenced.  The pixel data is not checked (truncation, decodability): that
    is the scan's and the loader's job.

    Raises ``ValueError`` with a sentence naming the file when it is missing, not DICOM
    or its header cannot be parsed.
    """
    path = Path(path)
    try:
        with path.open("rb") as fp:
            ds, _, _ = _read_dataset(fp)
    except Exception as exc:
        raise ValueError(f"Cannot read the DICOM header of {path}: {_skip_reason(exc)}.") from exc
    return ds


def read_image_header(stack: SeriesStack, index: int) -> Dataset:
    """The header of slice ``index`` of ``stack`` (:func:`read_header`), with the UIDs the scan
    generated for what the file lacks (study, series, SOP instance) filled in.

    For the SR's evidence: a reference to an image needs its study, series and SOP UIDs, and
    a file written without them is referenced by the UIDs the case knows it by.
    """
    frame = stack.frames[index]
    ds = read_header(frame.path)
    filled = (
        ("StudyInstanceUID", stack.study_uid),
        ("SeriesInstanceUID", stack.series_uid),
        ("SOPInstanceUID", frame.sop_instance_uid),
    )
    for keyword, uid in filled:
        if not text(ds, keyword):
            setattr(ds, keyword, uid)
    meta = getattr(ds, "file_meta", None)
    if meta is not None and not text(meta, "MediaStorageSOPInstanceUID"):
        meta.MediaStorageSOPInstanceUID = frame.sop_instance_uid
    return ds
