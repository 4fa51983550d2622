"""The Qt-free session: events, results recomputed once per change, STIR decisions, policy."""

from __future__ import annotations

import pytest

from dicomio.scan import scan_paths
from dicomio.synthetic import phantom
from dicomio.synthetic.demo import DemoManifest
from measure.case import Case, StirDecision, Timepoint
from measure.landmarks import Landmark
from measure.results import StirResult
from session.model import Session, SessionEvent
from tests.handcalc import heights_mm


def _l1_case(series_uid: str, tp: str = "pre-op") -> Case:
    """L1 with the phantom's exact pre-op landmarks."""
    case = Case()
    case.add_timepoint(Timepoint(tp, "pre-op", "2026-03-02"))
    truth = phantom.truth("pre")["L1"]
    case.add_vertebra(tp, "L1", "fractured", {k: Landmark(p, series_uid) for k, p in truth.items()})
    return case


def test_results_follow_the_case_and_every_change_is_one_event() -> None:
    session = Session()
    events: list[SessionEvent] = []
    session.subscribe(events.append)
    assert session.results is not None and dict(session.results.timepoints) == {}

    session.set_case(_l1_case("1.2.3"))
    assert [e.kind for e in events] == ["case"]
    l1 = session.results.vertebra("pre-op", "L1") if session.results else None
    truth = phantom.truth("pre")["L1"]
    assert l1 is not None and l1.ha_mm.value == pytest.approx(heights_mm(truth)["Ha"], abs=1e-9)

    case = session.case
    moved = case.landmark("pre-op", "L1", "sup_ant")
    assert moved is not None
    x, y, z = moved.position_mm
    case.set_landmark("pre-op", "L1", "sup_ant", moved.moved_to((x, y, z + 2.0)))
    assert [e.kind for e in events] == ["case", "case-changed"]
    assert events[-1].case_event is not None and events[-1].case_event.kind == "landmark"
    l1 = session.results.vertebra("pre-op", "L1") if session.results else None
    expected = heights_mm({**truth, "sup_ant": (x, y, z + 2.0)})["Ha"]  # by hand, 2 mm up
    assert expected > heights_mm(truth)["Ha"] + 1.9
    assert l1 is not None and l1.ha_mm.value == pytest.approx(expected, abs=1e-9)


def test_a_new_case_leaves_the_old_one_unobserved() -> None:
    session = Session()
    old = _l1_case("1.2.3")
    session.set_case(old)
    session.set_case(Case())
    events: list[SessionEvent] = []
    session.subscribe(events.append)
    old.set_status("pre-op", "L1", "reference")
    assert events == []


def test_stir_results_carry_the_decisions_the_case_holds_now() -> None:
    session = Session(case=_l1_case("1.2.3"))
    result = StirResult("L1", "ok", "L1: edema", flag=True, sir=2.0, edema_fraction=0.5)
    session.set_stir({"pre-op": {"L1": result}})
    assert (
        session.stir["pre-op"]["L1"].recent is True and session.stir["pre-op"]["L1"].reader_decision is None
    )
    session.case.set_stir_decision("pre-op", "L1", StirDecision("overridden-not-recent", "old fracture"))
    now = session.stir["pre-op"]["L1"]
    assert (
        now.reader_decision == StirDecision("overridden-not-recent", "old fracture") and now.recent is False
    )
    session.set_case(Case())
    assert session.stir == {}


def test_where_the_reader_is(demo_set: DemoManifest) -> None:
    session = Session()
    kinds: list[str] = []
    session.subscribe(lambda e: kinds.append(e.kind))
    stacks = session.add_scan(scan_paths([demo_set.out]))
    assert kinds == ["series"] and len(session.summaries) == len(stacks)
    pre_ct = demo_set.by_key("pre_ct")
    assert session.summaries[session.library.stacks[pre_ct.series_uid].key]["modality"] == "CT"

    session.set_current_series(pre_ct.series_uid)
    assert session.current_timepoint is None  # not assigned yet
    plan = session.plan_default_assignment(pre_ct.series_uid)
    assert (plan.timepoint_id, plan.add_timepoint) == ("pre-op", Timepoint("pre-op", "pre-op", "2026-03-02"))
    assert plan.series.path == str(pre_ct.folder.absolute()) and plan.series.modality == "CT"
    session.case.add_timepoint(plan.add_timepoint)
    session.case.assign_series(plan.series)
    assert session.current_timepoint == "pre-op"

    session.set_level("T12")
    assert session.current_level == "T12" and kinds[-1] == "level"
    with pytest.raises(ValueError, match="unknown vertebral level 'L9'"):
        session.set_level("L9")

    session.forget_series()
    assert not session.library.stacks and session.current_series_uid is None and not session.summaries
