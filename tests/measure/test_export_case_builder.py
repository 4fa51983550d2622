"""A real case built from the demo DICOM set (dicomio.synthetic.demo), saved as a case file, for the
export tests; plus a check that the builder placed every landmark where the ground truth is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from dicomio.synthetic.demo import build_demo_set
from measure.angles import RegionalSpec
from measure.case import Case, Patient, ReaderEntry, SeriesRef, StirDecision, Timepoint
from measure.casefile import load_case, save_case
from measure.landmarks import Landmark

PATIENT_NAME = "Durand^Jeanne"
PATIENT_ID = "PAT-7734-XQ"
BIRTH_DATE = "1947-06-12"


@dataclass
class DemoCase:
    case_path: Path
    truth: dict
    series_keys: dict[str, str]  # timepoint id -> series UID of its sagittal CT


def build_demo_case(folder: Path, case_id: str = "CASE-001", name: str = PATIENT_NAME) -> DemoCase:
    """Demo images under ``folder/dicom`` and a pre/post case file at ``folder/CASE.json``."""
    manifest = build_demo_set(folder / "dicom", small=True)
    truth = json.loads(manifest.ground_truth_path.read_text(encoding="utf-8"))
    case = Case(case_id, Patient(name=name, id=PATIENT_ID, birth_date=BIRTH_DATE, sex="F"))
    dates = {"pre": "2026-03-02", "post": "2026-03-10"}
    kinds = {"pre": "pre-op", "post": "post-op"}
    keys = {"pre": "pre_ct", "post": "post_ct"}
    series_keys = {}
    for tp in ("pre", "post"):
        case.add_timepoint(Timepoint(tp, kinds[tp], dates[tp]))
        s = manifest.by_key(keys[tp])
        g = s.geometry.first
        case.assign_series(
            SeriesRef(
                s.series_uid, tp, str(s.folder), s.description, "CT", None, g.orientation, g.pixel_spacing_mm
            )
        )
        series_keys[tp] = s.series_uid
        per_level = truth["series"][s.series_uid]["landmarks"]
        for level, points in per_level.items():
            status = {"normal": "reference", "fractured": "fractured", "augmented": "treated"}[
                truth["timepoints"][tp]["levels"][level]["status"]
            ]
            landmarks = {
                key: Landmark(tuple(p["position_mm"]), s.series_uid, p["sop_instance_uid"])
                for key, p in points.items()
            }
            case.add_vertebra(tp, level, status, landmarks)
    case.set_regional([RegionalSpec("T12", "superior", "L2", "inferior", "T12-L2 regional")])
    case.set_reader_entry("post", "L1", ReaderEntry("kyphoplasty", 4.5, ("D", "B"), "none", "balloon 15 mm"))
    case.set_stir_decision("pre", "L1", StirDecision("confirmed", "band under the superior endplate"))
    path = folder / f"{case_id}.json"
    save_case(case, path)
    return DemoCase(path, truth, series_keys)


def test_demo_case_holds_the_ground_truth_landmarks(tmp_path: Path) -> None:
    demo = build_demo_case(tmp_path)
    case = load_case(demo.case_path)
    assert [tp.id for tp in case.ordered_timepoints()] == ["pre", "post"]
    assert case.patient.name == PATIENT_NAME
    for tp in ("pre", "post"):
        truth = demo.truth["series"][demo.series_keys[tp]]["landmarks"]
        assert [v.level for v in case.vertebrae(tp)] == ["T11", "T12", "L1", "L2", "L3"]
        for level, points in truth.items():
            for key, p in points.items():
                lm = case.landmark(tp, level, key)
                assert lm is not None
                np.testing.assert_allclose(lm.position_mm, p["position_mm"], atol=1e-9)
                assert lm.sop_uid == p["sop_instance_uid"] is not None


@pytest.fixture(scope="module")
def demo_case(tmp_path_factory: pytest.TempPathFactory) -> DemoCase:
    """One demo case per test module (the tests only read it)."""
    return build_demo_case(tmp_path_factory.mktemp("demo_case"))


@dataclass
class MrCase:
    """A three-timepoint case on the demo set whose pre-op landmarks sit on the MR T1."""

    case_path: Path
    truth: dict
    t1_uid: str
    stir_uid: str
    post_ct_uid: str


#: How much anterior height L1 loses between post-op and follow-up in :func:`build_mr_case`.
FOLLOW_UP_HA_LOSS_MM = 2.0


def build_mr_case(folder: Path, case_id: str = "CASE-MR") -> MrCase:
    """Pre-op on the sagittal T1 (+ the STIR of the same MR study), post-op on the post-op
    CT, and a follow-up on the same CT images where L1's ``sup_ant`` has sunk by
    :data:`FOLLOW_UP_HA_LOSS_MM` within its slice (so the loss of correction is known)."""
    manifest = build_demo_set(folder / "dicom", small=True)
    truth = json.loads(manifest.ground_truth_path.read_text(encoding="utf-8"))
    case = Case(case_id, Patient(name=PATIENT_NAME, id=PATIENT_ID, birth_date=BIRTH_DATE, sex="F"))
    case.add_timepoint(Timepoint("pre", "pre-op", "2026-03-03"))
    case.add_timepoint(Timepoint("post", "post-op", "2026-03-10"))
    case.add_timepoint(Timepoint("fu", "follow-up", "2026-06-10"))
    t1, stir, post = manifest.by_key("pre_t1"), manifest.by_key("pre_stir"), manifest.by_key("post_ct")
    for s, tp, seq in ((t1, "pre", "T1"), (stir, "pre", "STIR"), (post, "post", None)):
        g = s.geometry.first
        case.assign_series(
            SeriesRef(
                s.series_uid,
                tp,
                str(s.folder),
                s.description,
                s.modality,
                seq,
                g.orientation,
                g.pixel_spacing_mm,
            )
        )
    statuses = {"normal": "reference", "fractured": "fractured", "augmented": "treated"}
    for tp, s in (("pre", t1), ("post", post), ("fu", post)):
        truth_tp = "pre" if tp == "pre" else "post"
        for level, points in truth["series"][s.series_uid]["landmarks"].items():
            landmarks = {
                key: Landmark(tuple(p["position_mm"]), s.series_uid, p["sop_instance_uid"])
                for key, p in points.items()
            }
            if tp == "fu" and level == "L1":
                x, y, z = landmarks["sup_ant"].position_mm
                landmarks["sup_ant"] = landmarks["sup_ant"].moved_to((x, y, z - FOLLOW_UP_HA_LOSS_MM))
            status = statuses[truth["timepoints"][truth_tp]["levels"][level]["status"]]
            case.add_vertebra(tp, level, status, landmarks)
    case.set_reader_entry("post", "L1", ReaderEntry("kyphoplasty", 4.5, ("B",), "none", ""))
    case.set_stir_decision("pre", "L1", StirDecision("confirmed", "band-like edema"))
    path = folder / f"{case_id}.json"
    save_case(case, path)
    return MrCase(path, truth, t1.series_uid, stir.series_uid, post.series_uid)


@pytest.fixture(scope="module")
def mr_case(tmp_path_factory: pytest.TempPathFactory) -> MrCase:
    """One MR/CT three-timepoint case per test module (the tests only read it)."""
    return build_mr_case(tmp_path_factory.mktemp("mr_case"))
