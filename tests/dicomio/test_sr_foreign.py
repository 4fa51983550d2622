"""SR written by another tool: a TID 1500 Measurement Report built here directly with
highdicom (not with Endplate's writer), read by Endplate's SR readers.

What the readers document (``dicomio.sr.read_sr_contents``, ``measure.export.sr_import``):

* ``read_sr_contents`` reads any TID 1500 report: per measurement group (by tracking
  identifier) each NUM's code value, value and UCUM unit, the frames of reference of its
  coordinates and the group's source images; landmarks only from points named by
  Endplate's private codes.  A file that is no SR, or an SR that is no TID 1500 report,
  is refused with a ``ValueError`` sentence naming the file.
* ``landmarks_from_sr`` raises a ``ValueError`` sentence naming the file "when the file is
  not an Endplate TID 1500 report".
"""

from __future__ import annotations

import re
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from highdicom.sr import (
    CodedConcept,
    Comprehensive3DSR,
    ContainerContentItem,
    CoordinatesForMeasurement3D,
    FindingSite,
    GraphicTypeValues3D,
    Measurement,
    MeasurementReport,
    MeasurementsAndQualitativeEvaluations,
    ObservationContext,
    ObserverContext,
    PersonObserverIdentifyingAttributes,
    SourceImageForMeasurementGroup,
    TextContentItem,
    TrackingIdentifier,
)
from pydicom.data import get_testdata_file
from pydicom.sr.codedict import codes

from dicomio.sr import read_sr_contents

POINT_MM = (-3.0, 12.5, -140.25)
LENGTH_MM = 15.8


def _source() -> pydicom.Dataset:
    return pydicom.dcmread(get_testdata_file("CT_small.dcm"))


def _write(sr: pydicom.Dataset, path: Path) -> Path:
    sr.save_as(path)
    return path


@pytest.fixture
def foreign_report(tmp_path: Path) -> Path:
    """Another vendor's report: a person observer, one group tracked as "L1" with the L1
    finding site, a Length NUM (SCT 410668003, mm) inferred from one SCOORD3D point named
    by highdicom's default purpose (SCT "Source"), and the CT image as its source."""
    src = _source()
    point = CoordinatesForMeasurement3D(
        graphic_type=GraphicTypeValues3D.POINT,
        graphic_data=np.array([POINT_MM]),
        frame_of_reference_uid=src.FrameOfReferenceUID,
    )
    length = Measurement(
        name=CodedConcept("410668003", "SCT", "Length"),
        value=LENGTH_MM,
        unit=CodedConcept("mm", "UCUM", "millimeter"),
        referenced_coordinates=[point],
    )
    group = MeasurementsAndQualitativeEvaluations(
        tracking_identifier=TrackingIdentifier(uid=hd.UID(), identifier="L1"),
        finding_type=CodedConcept("51282000", "SCT", "Vertebra"),
        finding_sites=[FindingSite(CodedConcept("66794005", "SCT", "L1 vertebra"))],
        measurements=[length],
        source_images=[SourceImageForMeasurementGroup.from_source_image(src)],
    )
    observer = ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=PersonObserverIdentifyingAttributes(name="Other^Reader"),
    )
    report = MeasurementReport(
        observation_context=ObservationContext(observer_person_context=observer),
        procedure_reported=CodedConcept("363679005", "SCT", "Imaging"),
        imaging_measurements=[group],
    )
    sr = Comprehensive3DSR(
        evidence=[src],
        content=report[0],
        series_instance_uid=hd.UID(),
        series_number=7,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="Other Vendor",
    )
    return _write(sr, tmp_path / "foreign.dcm")


def test_a_foreign_measurement_report_is_read_for_what_it_holds(foreign_report: Path) -> None:
    src = _source()
    contents = read_sr_contents(foreign_report)
    assert contents.measurements == {"L1": {"410668003": (pytest.approx(LENGTH_MM, abs=1e-9), "mm")}}
    assert contents.frame_of_reference_uids == {str(src.FrameOfReferenceUID)}
    assert contents.source_images == {"L1": [(str(src.SeriesInstanceUID), str(src.SOPInstanceUID))]}
    # The point is not one of Endplate's six named landmarks: none is made up from it.
    assert contents.landmarks_mm == {}
    assert contents.patient_id == str(src.PatientID)


def test_landmarks_from_a_foreign_report_are_refused_with_a_sentence(foreign_report: Path) -> None:
    from measure.export.sr_import import landmarks_from_sr

    with pytest.raises(ValueError, match=re.escape(str(foreign_report))) as refused:
        landmarks_from_sr(foreign_report)
    assert "no vertebra measurement group holds Endplate landmark points" in str(refused.value)


def test_a_foreign_sr_that_is_not_a_measurement_report_is_refused(tmp_path: Path) -> None:
    root = ContainerContentItem(name=CodedConcept("121070", "DCM", "Findings"))
    root.ContentSequence = [
        TextContentItem(
            name=CodedConcept("121071", "DCM", "Finding"),
            value="L1 wedge fracture",
            relationship_type="CONTAINS",
        )
    ]
    sr = Comprehensive3DSR(
        evidence=[_source()],
        content=root,
        series_instance_uid=hd.UID(),
        series_number=7,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="Other Vendor",
    )
    path = _write(sr, tmp_path / "findings.dcm")
    with pytest.raises(ValueError, match=r"is a DICOM SR but not a Measurement Report \(TID 1500\)") as info:
        read_sr_contents(path)
    assert str(path) in str(info.value)
