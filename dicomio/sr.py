"""DICOM SR out and back in: a TID 1500 Measurement Report of one timepoint.

Written with highdicom as a Comprehensive 3D SR.  Each vertebra is one measurement group
(TID 1501) whose tracking identifier is the level (``"T12"``) and whose finding site is
the level's SNOMED CT concept.  Every numeric measurement is a NUM with a UCUM unit; the
ones computed from landmarks are INFERRED FROM the landmark points, each landmark one
SCOORD3D POINT in the source series' frame of reference (LPS mm), named by a private
code (:data:`LANDMARK_POINT_CODES`).  That is how :func:`read_sr` gets the landmarks back
exactly: the point name says which landmark it is, the group says which level.

This module knows DICOM, not the case model: callers (``measure.export``) hand it plain
:class:`SrDocument` data.  highdicom is imported lazily (it is slow to import and only
needed here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from highdicom.sr import CodedConcept, CoordinatesForMeasurement3D, Measurement
    from pydicom.dataset import Dataset


class Coding(NamedTuple):
    """A coded concept: (coding scheme designator, code value, code meaning)."""

    scheme: str
    value: str
    meaning: str


#: Private coding scheme designator of Endplate's codes (private schemes start with "99").
PRIVATE_SCHEME = "99ENDPLATE"
PRIVATE_SCHEME_NAME = "Endplate vertebral morphometry codes"
PRIVATE_SCHEME_VERSION = "1"
PRIVATE_SCHEME_ORGANIZATION = "Endplate project"

#: One SCOORD3D POINT concept per landmark key (``measure.landmarks.LANDMARK_KEYS``).
LANDMARK_POINT_CODES: dict[str, Coding] = {
    "sup_ant": Coding(PRIVATE_SCHEME, "LM-SUP-ANT", "Superior endplate anterior point"),
    "sup_mid": Coding(PRIVATE_SCHEME, "LM-SUP-MID", "Superior endplate middle point"),
    "sup_post": Coding(PRIVATE_SCHEME, "LM-SUP-POST", "Superior endplate posterior point"),
    "inf_ant": Coding(PRIVATE_SCHEME, "LM-INF-ANT", "Inferior endplate anterior point"),
    "inf_mid": Coding(PRIVATE_SCHEME, "LM-INF-MID", "Inferior endplate middle point"),
    "inf_post": Coding(PRIVATE_SCHEME, "LM-INF-POST", "Inferior endplate posterior point"),
}
_KEY_OF_POINT_CODE = {c.value: key for key, c in LANDMARK_POINT_CODES.items()}

#: The whole report: "Imaging Measurement Report" (CID 7021) on a "Imaging procedure".
_PROCEDURE_REPORTED = Coding("SCT", "363679005", "Imaging")
_DEVICE_NAME = "Endplate"


@dataclass(frozen=True)
class SrMeasurement:
    """One NUM item: coded name, value, UCUM unit, and the landmark points it used."""

    name: Coding
    value: float
    unit: Coding  # scheme "UCUM"
    landmark_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class SrVertebra:
    """One measurement group: a vertebra at this timepoint."""

    level: str
    finding_site: Coding
    landmarks_mm: Mapping[str, tuple[float, float, float]]
    measurements: Sequence[SrMeasurement] = ()
    #: SOPInstanceUIDs of the images the landmarks were placed on (must be in evidence).
    source_sop_uids: Sequence[str] = ()
    #: Frame of reference of the landmarks (default: the document's).
    frame_of_reference_uid: str | None = None
    #: Coded findings (CODE items, TID 1501 qualitative evaluations): (name, value) pairs,
    #: e.g. (STIR flag, SCT "Present").
    qualitative: Sequence[tuple[Coding, Coding]] = ()


@dataclass(frozen=True)
class SrRegionalAngle:
    """A regional angle between two endplates, as its own measurement group."""

    label: str  # tracking identifier, e.g. "T11 superior - L1 inferior"
    finding_sites: Sequence[Coding]
    measurement: SrMeasurement
    #: The two endplate lines (two LPS points each), upper then lower.
    endplate_lines_mm: Sequence[Sequence[tuple[float, float, float]]] = ()


@dataclass(frozen=True)
class SrPatient:
    """The patient module to write (already pseudonymised by the caller when asked)."""

    name: str
    patient_id: str
    birth_date: str  # DICOM DA "YYYYMMDD", or "" (a year alone is not a valid DA)
    age: str = ""  # DICOM AS, e.g. "071Y", written when given
    #: True for a pseudonymised export: the DICOM PS3.15 Basic Application Level
    #: Confidentiality Profile is applied (:func:`_deidentify`): UIDs replaced consistently,
    #: source dates replaced, study identifiers emptied.
    pseudonymized: bool = False
    #: What the case holds of the study: the accession number (pseudonymised by the
    #: caller), written instead of the evidence's; the study date (DICOM DA, shifted by the
    #: caller), written instead of the source's when pseudonymised.
    accession_number: str = ""
    study_date: str = ""
    #: Secret that keys the UID replacement of a pseudonymised SR (same secret: same UIDs).
    uid_secret: str = field(default="", repr=False)


@dataclass
class SrDocument:
    """Everything one SR file holds: one timepoint of one case."""

    evidence: Sequence[Dataset]  # headers of the source images (pixel data not needed)
    frame_of_reference_uid: str
    timepoint_id: str
    timepoint_kind: str
    patient: SrPatient
    vertebrae: Sequence[SrVertebra] = ()
    regional: Sequence[SrRegionalAngle] = ()
    series_description: str = "Endplate measurements"
    series_number: int = 900
    timepoint_order: int | None = None
    series_instance_uid: str | None = None
    sop_instance_uid: str | None = None
    extra_evidence_note: list[str] = field(default_factory=list)


def _concept(coding: Coding) -> CodedConcept:
    from highdicom.sr import CodedConcept

    return CodedConcept(value=coding.value, scheme_designator=coding.scheme, meaning=coding.meaning)


def _point_items(
    keys: Sequence[str], landmarks_mm: Mapping[str, Sequence[float]], for_uid: str
) -> list[CoordinatesForMeasurement3D]:
    from highdicom.sr import CoordinatesForMeasurement3D, GraphicTypeValues3D

    items = []
    for key in keys:
        if key not in landmarks_mm:
            continue
        items.append(
            CoordinatesForMeasurement3D(
                graphic_type=GraphicTypeValues3D.POINT,
                graphic_data=np.asarray([landmarks_mm[key]], dtype=float),
                frame_of_reference_uid=for_uid,
                purpose=_concept(LANDMARK_POINT_CODES[key]),
            )
        )
    return items


def _measurement(m: SrMeasurement, coordinates: list[CoordinatesForMeasurement3D]) -> Measurement:
    from highdicom.sr import Measurement

    if not np.isfinite(m.value):
        raise ValueError(f"The SR measurement {m.name.meaning} is not a finite number ({m.value}).")
    return Measurement(
        name=_concept(m.name),
        value=float(m.value),
        unit=_concept(m.unit),
        referenced_coordinates=coordinates or None,
    )


def build_sr(doc: SrDocument) -> Dataset:
    """Build the Comprehensive 3D SR dataset of one timepoint (see the module docstring)."""
    import highdicom as hd
    from highdicom.sr import (
        CodedConcept,
        Comprehensive3DSR,
        DeviceObserverIdentifyingAttributes,
        FindingSite,
        MeasurementReport,
        MeasurementsAndQualitativeEvaluations,
        ObservationContext,
        ObserverContext,
        QualitativeEvaluation,
        SourceImageForMeasurementGroup,
        TimePointContext,
        TrackingIdentifier,
    )
    from pydicom.dataset import Dataset
    from pydicom.sr.codedict import codes

    if not doc.evidence:
        raise ValueError(
            f"The SR of timepoint {doc.timepoint_id!r} needs the headers of its source images; "
            "none were given."
        )
    by_sop = {str(ds.SOPInstanceUID): ds for ds in doc.evidence}
    time_point = TimePointContext(
        time_point=f"{doc.timepoint_id} ({doc.timepoint_kind})",
        time_point_order=doc.timepoint_order,
        subject_time_point_identifier=doc.timepoint_id,
    )
    groups = []
    for v in doc.vertebrae:
        for_uid = v.frame_of_reference_uid or doc.frame_of_reference_uid
        measurements = []
        for m in v.measurements:
            coords = _point_items(m.landmark_keys, v.landmarks_mm, for_uid)
            measurements.append(_measurement(m, coords))
        unused = [k for k in LANDMARK_POINT_CODES if k in v.landmarks_mm]
        used = {k for m in v.measurements for k in m.landmark_keys}
        unused = [k for k in unused if k not in used]
        if unused:
            # Landmarks that no measurement used (an incomplete vertebra) must not be lost:
            # they hang, INFERRED FROM, under a NUM counting the landmarks placed.
            measurements.append(
                _measurement(
                    SrMeasurement(
                        Coding(PRIVATE_SCHEME, "LM-COUNT", "Landmarks placed"),
                        float(len(v.landmarks_mm)),
                        Coding("UCUM", "1", "no units"),
                        tuple(unused),
                    ),
                    _point_items(unused, v.landmarks_mm, for_uid),
                )
            )
        sources = []
        for uid in dict.fromkeys(v.source_sop_uids):
            if uid in by_sop:
                sources.append(SourceImageForMeasurementGroup.from_source_image(by_sop[uid]))
        evaluations = [
            QualitativeEvaluation(_concept(name), _concept(value)) for name, value in v.qualitative
        ]
        groups.append(
            MeasurementsAndQualitativeEvaluations(
                tracking_identifier=TrackingIdentifier(uid=hd.UID(), identifier=v.level),
                time_point_context=time_point,
                finding_type=CodedConcept("51282000", "SCT", "Vertebra"),
                finding_sites=[FindingSite(_concept(v.finding_site))],
                measurements=measurements or None,
                qualitative_evaluations=evaluations or None,
                source_images=sources or None,
            )
        )
    for r in doc.regional:
        coords = []
        from highdicom.sr import CoordinatesForMeasurement3D, GraphicTypeValues3D

        for line in r.endplate_lines_mm:
            coords.append(
                CoordinatesForMeasurement3D(
                    graphic_type=GraphicTypeValues3D.POLYLINE,
                    graphic_data=np.asarray(line, dtype=float),
                    frame_of_reference_uid=doc.frame_of_reference_uid,
                )
            )
        groups.append(
            MeasurementsAndQualitativeEvaluations(
                tracking_identifier=TrackingIdentifier(uid=hd.UID(), identifier=r.label),
                time_point_context=time_point,
                finding_sites=[FindingSite(_concept(s)) for s in r.finding_sites],
                measurements=[_measurement(r.measurement, coords)],
            )
        )
    observer = ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name=_DEVICE_NAME, manufacturer_name=_DEVICE_NAME
        ),
    )
    report = MeasurementReport(
        observation_context=ObservationContext(observer_device_context=observer),
        procedure_reported=_concept(_PROCEDURE_REPORTED),
        imaging_measurements=groups,
    )
    sr = Comprehensive3DSR(
        evidence=list(doc.evidence),
        content=report[0],
        series_instance_uid=doc.series_instance_uid or hd.UID(),
        series_number=doc.series_number,
        sop_instance_uid=doc.sop_instance_uid or hd.UID(),
        instance_number=1,
        manufacturer=_DEVICE_NAME,
        is_complete=True,
        series_description=doc.series_description,
    )
    # The patient module comes from the evidence; replace it by what the caller decided.
    sr.PatientName = doc.patient.name
    sr.PatientID = doc.patient.patient_id
    sr.PatientBirthDate = doc.patient.birth_date  # type: ignore[assignment]  # "" is a valid DA
    if doc.patient.age:
        sr.PatientAge = doc.patient.age
    _deidentify(sr, doc.patient)
    scheme = Dataset()
    scheme.CodingSchemeDesignator = PRIVATE_SCHEME
    scheme.CodingSchemeName = PRIVATE_SCHEME_NAME
    scheme.CodingSchemeVersion = PRIVATE_SCHEME_VERSION
    scheme.CodingSchemeResponsibleOrganization = PRIVATE_SCHEME_ORGANIZATION
    sr.CodingSchemeIdentificationSequence = [scheme]
    return sr


#: Groups whose attributes all describe the patient or the visit: Patient / Patient Study
#: (0010), Clinical Trial Subject (0012), admission and visit (0038).
_IDENTIFYING_GROUPS = (0x0010, 0x0012, 0x0038)
#: What an SR keeps of those groups: the caller's values and the sex (which every other
#: export format carries too).  An allow-list: a field nobody thought of is dropped too.
_PATIENT_KEPT = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex")
#: Type 2 attributes that name the visit or people: emptied, not removed.
_EMPTIED = ("ReferringPhysicianName", "StudyID")
#: Attributes the source images carry and an export must not (PS3.15 Table E.1-1, action
#: X, Z or D for them; every person name other than the patient's goes too), removed
#: wherever they are, nested sequences (ContributingEquipmentSequence ...) included.
_REMOVED = frozenset(
    {
        "InstitutionName",
        "InstitutionAddress",
        "InstitutionalDepartmentName",
        "InstitutionalDepartmentTypeCodeSequence",
        "InstitutionCodeSequence",
        "StationName",
        "DeviceSerialNumber",
        "DeviceUID",
        "DeviceLabel",
        "OperatorsName",
        "OperatorIdentificationSequence",
        "PerformingPhysicianName",
        "PerformingPhysicianIdentificationSequence",
        "ReferringPhysicianAddress",
        "ReferringPhysicianTelephoneNumbers",
        "ReferringPhysicianIdentificationSequence",
        "PhysiciansOfRecord",
        "PhysiciansOfRecordIdentificationSequence",
        "NameOfPhysiciansReadingStudy",
        "PhysiciansReadingStudyIdentificationSequence",
        "RequestingPhysician",
        "RequestingService",
        "RequestingServiceCodeSequence",
        "RequestAttributesSequence",
        "IssuerOfAccessionNumberSequence",
        "AdmittingDiagnosesDescription",
        "AdmittingDiagnosesCodeSequence",
        "ReferencedPatientSequence",
        "StudyComments",
        "ImageComments",
        "PerformedProcedureStepID",
        "PerformedProcedureStepDescription",
        "PerformedStationName",
        "PerformedLocation",
        "ScheduledProcedureStepLocation",
        "ProtocolName",
        "AcquisitionDeviceProcessingDescription",
        "DetectorID",
        "GantryID",
        "ContentCreatorName",
    }
)
#: Dates and times the evidence lends the SR: source dates (PS3.15: D/Z/X).
_SOURCE_DATES = ("StudyDate", "SeriesDate", "ContentDate", "InstanceCreationDate")
_SOURCE_TIMES = ("StudyTime",)
#: UIDs that name kinds of things, not instances: never replaced.
_CLASS_UIDS = frozenset(
    {
        "SOPClassUID",
        "ReferencedSOPClassUID",
        "MediaStorageSOPClassUID",
        "TransferSyntaxUID",
        "CodingSchemeUID",
        "ContextGroupExtensionCreatorUID",
        "ImplementationClassUID",
        "MappingResourceUID",
    }
)
_DICOM_ROOT = "1.2.840.10008."
#: Person names an SR may hold: the patient's, the (emptied) referrer, a content item's.
_NAMES_KEPT = ("PatientName", "ReferringPhysicianName", "PersonName")


def replaced_uid(uid: str, secret: str) -> str:
    """The UID a pseudonymised export writes for ``uid``: ``2.25.`` + 128 bits of
    ``HMAC-SHA256(secret, uid)`` (PS3.5 B.2); the same secret gives the same UID, so every
    reference to one image stays consistent across the files of an export."""
    import hashlib
    import hmac

    digest = hmac.new(secret.encode("utf-8"), f"uid:{uid.strip()}".encode(), hashlib.sha256).hexdigest()
    return "2.25." + str(int(digest[:32], 16))


def _walk(ds: Dataset) -> list[Dataset]:
    """``ds`` and every dataset nested in its sequences (iterative)."""
    out, stack = [], [ds]
    while stack:
        item = stack.pop()
        out.append(item)
        for element in item:
            if element.VR == "SQ" and element.value is not None:
                stack.extend(element.value)
    return out


def _deidentify(sr: Dataset, patient: SrPatient) -> None:
    """Make the SR carry what the case holds, not what the evidence headers said.

    Every SR: the patient groups keep only the caller's values; institution, device,
    operator and physician attributes go wherever highdicom copied them; accession number
    is the case's.  A pseudonymised SR also follows the DICOM PS3.15
    Basic Application Level Confidentiality Profile: every instance UID is replaced
    (:func:`replaced_uid`, consistently), the source's dates are replaced by the (shifted)
    study date, the study time and study id emptied, and Patient Identity Removed is YES.
    """
    from pydicom.datadict import tag_for_keyword

    kept = {tag_for_keyword(k) for k in _PATIENT_KEPT + (("PatientAge",) if patient.age else ())}
    for ds in _walk(sr):
        for element in list(ds):
            keyword = element.keyword
            patient_group = element.tag.group in _IDENTIFYING_GROUPS and ds is sr
            if (patient_group and element.tag not in kept) or keyword in _REMOVED:
                del ds[element.tag]
            elif element.VR == "PN" and keyword not in (
                "PatientName",
                "ReferringPhysicianName",
                "PersonName",
            ):
                del ds[element.tag]  # a person the case does not name
    for keyword in _EMPTIED:
        if keyword in sr:
            setattr(sr, keyword, "")
    sr.AccessionNumber = patient.accession_number
    if not patient.pseudonymized:
        return  # the study date is the study's own, which the SR belongs to
    sr.StudyDate = patient.study_date  # type: ignore[assignment]
    for keyword in _SOURCE_DATES:
        if keyword in sr:
            setattr(sr, keyword, patient.study_date)
    for keyword in _SOURCE_TIMES:
        if keyword in sr:
            setattr(sr, keyword, "")
    if not patient.uid_secret:
        raise ValueError("a pseudonymised SR needs a secret to replace its UIDs; none was given.")
    for ds in _walk(sr):
        for element in ds:
            if element.VR != "UI" or element.keyword in _CLASS_UIDS or element.value in (None, ""):
                continue
            values = element.value if element.VM > 1 else [element.value]
            mapped = [
                v if str(v).startswith(_DICOM_ROOT) else replaced_uid(str(v), patient.uid_secret)
                for v in values
            ]
            element.value = mapped if element.VM > 1 else mapped[0]
    meta = getattr(sr, "file_meta", None)
    if meta is not None and "MediaStorageSOPInstanceUID" in meta:
        meta.MediaStorageSOPInstanceUID = sr.SOPInstanceUID
    sr.PatientIdentityRemoved = "YES"
    sr.DeidentificationMethod = "DICOM PS3.15 Basic Profile, keyed pseudonyms, shifted dates (Endplate)"


def sr_bytes(doc: SrDocument) -> bytes:
    """The SR as Part 10 file bytes (for an atomic write by the caller)."""
    from io import BytesIO

    sr = build_sr(doc)
    buffer = BytesIO()
    sr.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@dataclass(frozen=True)
class SrContents:
    """What :func:`read_sr_contents` gets back from an SR written by :func:`build_sr`."""

    landmarks_mm: dict[str, dict[str, tuple[float, float, float]]]  # level -> key -> LPS
    measurements: dict[str, dict[str, tuple[float, str]]]  # level/label -> code value -> (value, unit)
    #: level -> code value of the evaluation's name -> its coded value
    qualitative: dict[str, dict[str, Coding]]
    #: level -> (SeriesInstanceUID, SOPInstanceUID) of the group's source images
    source_images: dict[str, list[tuple[str, str]]]
    frame_of_reference_uids: set[str]
    patient_name: str
    patient_id: str
    patient_birth_date: str


def read_sr_contents(path: Path) -> SrContents:
    """Read an Endplate SR back with highdicom: landmarks and measurements per group.

    Raises ``ValueError`` (a sentence naming the file) when it is not a TID 1500 report.
    """
    from highdicom.sr import MeasurementReport, srread

    try:
        sr = srread(path)
    except Exception as exc:  # pydicom/highdicom raise several types for a foreign file
        raise ValueError(f"{path} is not a readable DICOM SR document: {exc}") from None
    report = sr.content
    if not isinstance(report, MeasurementReport):
        raise ValueError(
            f"{path} is a DICOM SR but not a Measurement Report (TID 1500); expected an Endplate SR export."
        )
    landmarks: dict[str, dict[str, tuple[float, float, float]]] = {}
    measurements: dict[str, dict[str, tuple[float, str]]] = {}
    qualitative: dict[str, dict[str, Coding]] = {}
    source_images: dict[str, list[tuple[str, str]]] = {}
    frames: set[str] = set()
    series_of_sop = {str(e[2]): str(e[1]) for e in sr.get_evidence()}
    for group in report.get_image_measurement_groups():
        label = str(group.tracking_identifier)
        values = measurements.setdefault(label, {})
        for evaluation in group.get_qualitative_evaluations():
            v = evaluation.value  # a CodedConcept for a CODE item (typed loosely by highdicom)
            qualitative.setdefault(label, {})[evaluation.name.value] = Coding(
                str(getattr(v, "scheme_designator", "")),
                str(getattr(v, "value", v)),
                str(getattr(v, "meaning", "")),
            )
        for image in group.source_images:
            sop = str(image.referenced_sop_instance_uid)
            source_images.setdefault(label, []).append((series_of_sop.get(sop, ""), sop))
        for m in group.get_measurements():
            values.setdefault(m.name.value, (float(m.value), m.unit.value))
            for coord in m.referenced_coordinates:
                frames.add(str(coord.frame_of_reference_uid))
                key = _KEY_OF_POINT_CODE.get(coord.name.value)
                if key is None or coord.name.scheme_designator != PRIVATE_SCHEME:
                    continue
                data = np.asarray(coord.value, dtype=float).reshape(-1, 3)
                point = (float(data[0, 0]), float(data[0, 1]), float(data[0, 2]))
                previous = landmarks.setdefault(label, {}).setdefault(key, point)
                if not np.allclose(previous, point, atol=1e-6):
                    raise ValueError(
                        f"{path}: landmark {key} of {label} appears with two different positions."
                    )
    return SrContents(
        landmarks_mm=landmarks,
        measurements=measurements,
        qualitative=qualitative,
        source_images=source_images,
        frame_of_reference_uids=frames,
        patient_name=str(sr.get("PatientName", "")),
        patient_id=str(sr.get("PatientID", "")),
        patient_birth_date=str(sr.get("PatientBirthDate", "")),
    )


def read_sr(path: Path) -> dict[str, dict[str, tuple[float, float, float]]]:
    """Landmarks per level from an SR written by :func:`build_sr`: ``{level: {key: LPS mm}}``."""
    return read_sr_contents(path).landmarks_mm


@dataclass(frozen=True)
class SourceImage:
    """Header of one source image file (pixel data not read, :func:`dicomio.headers.read_header`)
    and where it is: the evidence an SR references."""

    path: Path
    header: Dataset
