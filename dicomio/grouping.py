"""Which series, study and image a file belongs to when its UIDs are missing or empty.

Some anonymisers write StudyInstanceUID, SeriesInstanceUID or SOPInstanceUID empty (or
drop them); GDCM, SimpleITK and dcm2niix still load such files, and so does Endplate.
Files without a SeriesInstanceUID are grouped by :func:`series_key` (patient, study,
modality, series number, description, series date and time, orientation, image size);
within one key, the frame of reference and then the acquisition time tell *repeats of the
same slices* apart (:func:`split_acquisitions`), and nothing else: real anonymised data
gives every slice its own FrameOfReferenceUID (LIDC-IDRI), and many scanners stamp every
slice or rotation with its own time, so either as a plain key part would cut one series
into single images.  The missing UIDs are *generated*, deterministically: the same files
give the same UIDs on any machine, in any order and in any folder, so a case that keeps
such a UID finds its series again when the folder is reopened or moved.  Every generated
UID becomes a warning the user reads.

The recipe (:func:`generated_uid`): ``"2.25." + str(uuid5(UID_NAMESPACE, NAME).int)``,
a UUID-derived UID (DICOM PS3.5 B.2) from a name-based UUID (RFC 4122, SHA-1), where
``NAME = json.dumps([kind, *parts], separators=(",", ":"))`` and ``kind`` is
``"study"``, ``"series"`` or ``"image"``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from dicomio.assemble import _ORIENTATION_DECIMALS, DUPLICATE_MM, FrameCandidate
from dicomio.geometry import ImageGeometry

#: The namespace of every UUID Endplate generates for a missing UID (fixed forever: a
#: different namespace would give every generated UID a new value).
UID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:endplate:dicomio:generated-uid")

#: A missing StudyInstanceUID is generated from these values (kind ``"study"``).
STUDY_KEY_KEYWORDS = (
    "PatientID",
    "PatientName",
    "PatientBirthDate",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "StudyID",
    "StudyDescription",
)

#: The header values of :func:`series_key`, in its order; the study UID is the file's own
#: or the generated one, orientation (3 decimals) and size come from the geometry.
SERIES_KEY_KEYWORDS = (
    "PatientID",
    "PatientName",
    "StudyInstanceUID",
    "StudyDate",
    "Modality",
    "SeriesNumber",
    "SeriesDescription",
    "SeriesDate",
    "SeriesTime",
    "ImageOrientationPatient",
    "Rows x Columns",
)

#: What tells repeats of the same slices apart within one series key, in this order
#: (:func:`split_acquisitions`); the acquisition time is AcquisitionTime, else
#: AcquisitionDateTime, else ContentTime.
ACQUISITION_KEYWORDS = ("FrameOfReferenceUID", "AcquisitionTime")

#: A missing SOPInstanceUID is generated from the series identity and these values.
IMAGE_KEY_KEYWORDS = (
    "InstanceNumber",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "Rows x Columns",
    "NumberOfFrames",
    "AcquisitionNumber",
    "EchoNumbers",
    "TemporalPositionIdentifier",
    "FrameOfReferenceUID",
    "AcquisitionTime",
    "ImageType",
)


def generated_uid(kind: str, parts: Sequence[str]) -> str:
    """The deterministic UID of ``kind`` (``"study"``, ``"series"``, ``"image"``) for ``parts``.

    Not ``pydicom.uid.generate_uid``: with ``prefix=None`` it ignores its entropy sources
    (a random UUID each call), and with a prefix it joins them without a separator.
    """
    name = json.dumps([kind, *parts], separators=(",", ":"))
    return f"2.25.{uuid.uuid5(UID_NAMESPACE, name).int}"


def text(ds: Dataset, keyword: str) -> str:
    """A header value as stripped text (multi-valued joined by ``\\``); "" when absent or empty."""
    value: Any = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str) and isinstance(value, Sequence):
        return "\\".join(str(v).strip(" \x00") for v in value)
    return str(value).strip(" \x00\t\r\n")


def _number(ds: Dataset, keyword: str) -> str:
    """An IS value as a canonical integer ("0030" and "30" are one series number)."""
    raw = text(ds, keyword)
    try:
        return str(int(raw))
    except ValueError:
        return raw


def _mm(values: Any, decimals: int) -> str:
    """Coordinates as fixed-point text, ``-0`` written ``0`` (float noise never splits a key)."""
    return ",".join(f"{round(float(v), decimals) + 0.0:.{decimals}f}" for v in values)


def acquisition_time(ds: Dataset) -> str:
    """When the image was acquired: AcquisitionTime, else AcquisitionDateTime, else ContentTime."""
    return text(ds, "AcquisitionTime") or text(ds, "AcquisitionDateTime") or text(ds, "ContentTime")


def series_key(ds: Dataset, study_uid: str, geometry: ImageGeometry) -> tuple[str, ...]:
    """What identifies one series of a file without SeriesInstanceUID (see
    :data:`SERIES_KEY_KEYWORDS`).  The patient and study are part of it, so two patients
    never share a generated series; orientation is rounded as the stack split rounds it."""
    return (
        text(ds, "PatientID"),
        text(ds, "PatientName"),
        study_uid,
        text(ds, "StudyDate"),
        text(ds, "Modality").upper(),
        _number(ds, "SeriesNumber"),
        text(ds, "SeriesDescription"),
        text(ds, "SeriesDate"),
        text(ds, "SeriesTime"),
        _mm(geometry.orientation, _ORIENTATION_DECIMALS),
        f"{geometry.rows}x{geometry.columns}",
    )


@dataclass(frozen=True)
class Identity:
    """The UIDs of one file: its own, or generated where it has none."""

    study_uid: str
    series_uid: str  # "" when the series is still to be named from ``series_key``
    sop_uid: str
    series_key: tuple[str, ...] = ()  # set when the file has no SeriesInstanceUID
    #: With ``series_key``: the file's :data:`ACQUISITION_KEYWORDS` values.
    acquisition: tuple[str, ...] = ()
    generated_study_uid: bool = False
    generated_sop_uid: bool = False


def identify(ds: Dataset, geometry: ImageGeometry) -> Identity:
    """The file's study, series and image UIDs; missing ones are generated (module docstring).

    ``geometry`` is the file's (first) image: its orientation and size key the series,
    its position keys the image.
    """
    study_uid = text(ds, "StudyInstanceUID")
    generated_study = not study_uid
    if generated_study:
        study_uid = generated_uid("study", [text(ds, k) for k in STUDY_KEY_KEYWORDS])
    series_uid = text(ds, "SeriesInstanceUID")
    key: tuple[str, ...] = () if series_uid else series_key(ds, study_uid, geometry)
    meta = getattr(ds, "file_meta", None)
    sop_uid = text(ds, "SOPInstanceUID") or (text(meta, "MediaStorageSOPInstanceUID") if meta else "")
    generated_sop = not sop_uid
    acquisition = (text(ds, "FrameOfReferenceUID"), acquisition_time(ds)) if key or generated_sop else ()
    if generated_sop:
        image = [
            _number(ds, "InstanceNumber"),
            _mm(geometry.position_mm, 3),
            _mm(geometry.orientation, _ORIENTATION_DECIMALS),
            f"{geometry.rows}x{geometry.columns}",
            _number(ds, "NumberOfFrames") or "1",
            _number(ds, "AcquisitionNumber"),
            _number(ds, "EchoNumbers"),
            _number(ds, "TemporalPositionIdentifier"),
            *acquisition,
            text(ds, "ImageType"),
        ]
        sop_uid = generated_uid("image", [*(key or (series_uid,)), *image])
    return Identity(
        study_uid=study_uid,
        series_uid=series_uid,
        sop_uid=sop_uid,
        series_key=key,
        acquisition=acquisition if key else (),
        generated_study_uid=generated_study,
        generated_sop_uid=generated_sop,
    )


def series_uid_of(key: Sequence[str], acquisitions: Sequence[tuple[str, ...]]) -> str:
    """The generated SeriesInstanceUID of one acquisition: its series key, then each of
    :data:`ACQUISITION_KEYWORDS` when all its files share one value, else "" (it stays the
    same when a repeat of other slices is added to the folder)."""
    shared = [
        values.pop() if len(values := {a[k] for a in acquisitions}) == 1 else ""
        for k in range(len(ACQUISITION_KEYWORDS))
    ]
    return generated_uid("series", [*key, *shared])


def _offsets(candidates: Sequence[FrameCandidate], normal: np.ndarray) -> np.ndarray:
    return np.sort([float(np.dot(c.frame.geometry.position_mm, normal)) for c in candidates])


def _repeats(groups: Sequence[Sequence[FrameCandidate]]) -> bool:
    """Do these groups of images repeat the same slices: each two or more images, none at
    the same position, and each image has an image of another group at its position?"""
    if len(groups) < 2:
        return False
    normal = groups[0][0].frame.geometry.normal
    offsets = [_offsets(g, normal) for g in groups]
    for k, mine in enumerate(offsets):
        if mine.size < 2 or float(np.min(np.diff(mine))) < DUPLICATE_MM:
            return False
        others = np.sort(np.concatenate([o for j, o in enumerate(offsets) if j != k]))
        at = np.searchsorted(others, mine)
        below = others[np.clip(at - 1, 0, others.size - 1)]
        above = others[np.clip(at, 0, others.size - 1)]
        if float(np.max(np.minimum(np.abs(mine - below), np.abs(above - mine)))) >= DUPLICATE_MM:
            return False
    return True


def split_acquisitions(files: Sequence[tuple[tuple[str, ...], Sequence[FrameCandidate]]]) -> list[list[int]]:
    """Files of one series key (``(acquisition values, images)`` each) -> acquisitions, as
    lists of indices into ``files``.

    Each of :data:`ACQUISITION_KEYWORDS` in turn divides a group only when its values cut
    the group into repeats of the same slices (:func:`_repeats`, e.g. a sagittal spine in
    two stations, or a scan repeated); otherwise (one value per slice or per rotation) the
    files stay together.
    """
    groups = [list(range(len(files)))]
    for level in range(len(ACQUISITION_KEYWORDS)):
        divided: list[list[int]] = []
        for group in groups:
            by_value: dict[str, list[int]] = {}
            for i in group:
                by_value.setdefault(files[i][0][level], []).append(i)
            parts = [by_value[v] for v in sorted(by_value)]
            images = [[c for i in part for c in files[i][1]] for part in parts]
            divided.extend(parts if _repeats(images) else [group])
        groups = divided
    return groups


# -- what the user reads -----------------------------------------------------------------


def series_warning(uid: str, split: bool) -> str:
    told = "; repeats of the same slices were told apart by frame of reference or acquisition time"
    return (
        "No SeriesInstanceUID: these files have none (or an empty one, as some anonymisers write "
        "it). They were grouped by patient, study, modality, series number, description, series "
        f"time, orientation and image size{told if split else ''}, and given the generated UID "
        f"{uid}, the same whenever these files are scanned (a case keeps it and finds the series "
        "again by it)."
    )


def study_warning(uid: str) -> str:
    return (
        "No StudyInstanceUID: these files have none (or an empty one); their study was given the "
        f"generated UID {uid}, from the patient ID, name and birth date, the study date and time, "
        "the accession number, the study ID and the study description."
    )


def sop_warning(n_files: int) -> str:
    return (
        f"No SOPInstanceUID: {n_files} file(s) have none (or an empty one); each image was given a "
        "generated UID from its series, position, orientation, size, instance, acquisition, echo "
        "and temporal position numbers, frame of reference, acquisition time and image type, the "
        "same whenever it is scanned, so a landmark can name its image."
    )
