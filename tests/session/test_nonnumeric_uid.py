"""A real file whose UIDs are not numeric DICOM UIDs (letters, as some anonymisers write)
opens, is measured, saved and reopened: the case file's UID rule is length and printable
characters, not digits and dots (docs/case-format.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest

from dicomio.scan import scan_paths
from measure.casefile import load_case, save_case
from measure.landmarks import LANDMARK_KEYS, Landmark
from session.case_images import CaseImages
from session.model import Session
from tests.handcalc import heights_mm
from tests.realdata_truth import MR_FRAME, mr_truth

STUDY_UID = "ANON-STUDY-0001"
SERIES_UID = "1.2.ANON.series_7"
SOP_UID = "ANON.IMG.0001"

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def _anonymised_copy(spine_ls: Path, folder: Path) -> Path:
    """``spine-ls.dcm`` with its study, series and image UIDs rewritten by plain pydicom."""
    ds = pydicom.dcmread(spine_ls)
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = SERIES_UID
    ds.SOPInstanceUID = SOP_UID
    ds.file_meta.MediaStorageSOPInstanceUID = SOP_UID
    folder.mkdir()
    out = folder / "anon.dcm"
    ds.save_as(out, enforce_file_format=True)
    return out


def test_a_case_on_letter_uids_saves_and_reopens(spine_ls: Path, tmp_path: Path) -> None:
    copy = _anonymised_copy(spine_ls, tmp_path / "mr")
    session = Session()
    session.add_scan(scan_paths([copy.parent]))
    stack = session.library.stack(SERIES_UID)
    assert stack is not None and stack.series_uid == SERIES_UID

    session.set_current_series(SERIES_UID)
    plan = session.plan_default_assignment(SERIES_UID)
    case = session.case
    if plan.add_timepoint is not None:
        case.add_timepoint(plan.add_timepoint)
    case.assign_series(plan.series)
    tp = plan.timepoint_id
    points, sop_uid = mr_truth(copy)  # the six hand points in LPS, from the copy's own header
    assert sop_uid == SOP_UID
    case.add_vertebra(tp, "T9")
    for key in LANDMARK_KEYS:
        x, y, z = (float(v) for v in points[key])
        case.set_landmark(tp, "T9", key, Landmark((x, y, z), SERIES_UID, SOP_UID, MR_FRAME - 1))

    saved = save_case(case, tmp_path / "case.json")
    on_disk = json.loads(saved.read_text(encoding="utf-8"))
    assert [s["series_uid"] for s in on_disk["series"]] == [SERIES_UID]

    reopened = load_case(saved)
    assert reopened.same_content(case)
    lm = reopened.landmark(tp, "T9", "sup_ant")
    assert lm is not None and (lm.series_uid, lm.sop_uid, lm.frame_index) == (
        SERIES_UID,
        SOP_UID,
        MR_FRAME - 1,
    )
    images = CaseImages(reopened)
    assert images.missing_series == [] and images.stack(SERIES_UID) is not None
    result = reopened.measure().timepoints[tp].vertebrae["T9"]
    hand = heights_mm({k: tuple(float(c) for c in p) for k, p in points.items()})
    for name in ("ha_mm", "hm_mm", "hp_mm"):
        measured = getattr(result, name).value
        assert measured is not None and measured - hand[name[:2].capitalize()] == pytest.approx(
            0.0, abs=1e-6
        ), name
