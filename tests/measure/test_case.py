"""The case model: validation, one event per change, batches, undo values, dirty flag."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from measure.case import (
    Case,
    Patient,
    ReaderEntry,
    RegionalSpec,
    SeriesRef,
    StirDecision,
    Timepoint,
)
from measure.events import CaseEvent
from measure.landmarks import LANDMARK_KEYS, Landmark

#: Standard sagittal IOP: columns go posterior (+Y), rows go inferior (-Z).
SAGITTAL_IOP = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
#: Unequal on purpose: equal spacing hides swapped axes.
PIXEL_SPACING_MM = (0.7, 0.5)
#: Antero-posterior depth of every synthetic body; anterior is -Y in LPS.
Y_ANT_MM, Y_MID_MM, Y_POST_MM = -15.0, 0.0, 15.0


def body_landmarks(
    series_uid: str, z_inferior_mm: float, ha_mm: float, hm_mm: float, hp_mm: float, x_mm: float = 0.0
) -> dict[str, Landmark]:
    """Six landmarks of a body whose inferior endplate is flat at ``z_inferior_mm``.

    The superior endplate points sit at the given heights above it, so Ha/Hm/Hp are
    exact, and the vertebral kyphotic angle is ``atan((hp - ha) / 30 mm)``.
    """
    y = {"ant": Y_ANT_MM, "mid": Y_MID_MM, "post": Y_POST_MM}
    h = {"ant": ha_mm, "mid": hm_mm, "post": hp_mm}
    out = {}
    for part in ("ant", "mid", "post"):
        out[f"inf_{part}"] = Landmark((x_mm, y[part], z_inferior_mm), series_uid, f"{series_uid}.{part}.1")
        out[f"sup_{part}"] = Landmark(
            (x_mm, y[part], z_inferior_mm + h[part]), series_uid, f"{series_uid}.{part}.2"
        )
    return out


def make_case() -> Case:
    """Pre-op and post-op CT: wedge L1 between reference T12 and L2 (all Hp = 25 mm).

    Pre-op L1: Ha 16, Hm 20, Hp 25 mm; post-op L1 (treated): Ha 22, Hm 23, Hp 25 mm.
    """
    case = Case(case_id="VCF-001", patient=Patient("DOE^JANE", "P0001", "1950-04-02", "F"))
    case.add_timepoint(Timepoint("pre", "pre-op", "2026-03-01", "before kyphoplasty"))
    case.add_timepoint(Timepoint("post", "post-op", "2026-03-03"))
    for tp, uid in (("pre", "1.2.826.0.1.1"), ("post", "1.2.826.0.1.2")):
        case.assign_series(
            SeriesRef(
                uid,
                tp,
                f"{tp}_ct",
                description="SAG BONE",
                modality="CT",
                orientation=SAGITTAL_IOP,
                pixel_spacing_mm=PIXEL_SPACING_MM,
            )
        )
    heights = {
        "pre": {"T12": (25.0, 25.0, 25.0), "L1": (16.0, 20.0, 25.0), "L2": (25.0, 25.0, 25.0)},
        "post": {"T12": (25.0, 25.0, 25.0), "L1": (22.0, 23.0, 25.0), "L2": (25.0, 25.0, 25.0)},
    }
    z_inferior = {"T12": 95.0, "L1": 60.0, "L2": 25.0}
    status = {"pre": {"L1": "fractured"}, "post": {"L1": "treated"}}
    for tp, uid in (("pre", "1.2.826.0.1.1"), ("post", "1.2.826.0.1.2")):
        for level, (ha, hm, hp) in heights[tp].items():
            case.add_vertebra(
                tp,
                level,
                status[tp].get(level, "reference"),
                body_landmarks(uid, z_inferior[level], ha, hm, hp),
            )
    return case


class Recorder:
    def __init__(self, case: Case) -> None:
        self.events: list[CaseEvent] = []
        self.unsubscribe = case.subscribe(self.events.append)


def test_each_mutation_sends_exactly_one_event_with_its_location() -> None:
    case = make_case()
    rec = Recorder(case)
    lm = Landmark((0.0, -15.5, 77.0), "1.2.826.0.1.1", "x")

    previous = case.set_landmark("pre", "L1", "sup_ant", lm)
    assert rec.events == [CaseEvent("landmark", "pre", "L1", "sup_ant")]
    assert previous is not None and previous.position_mm == (0.0, -15.0, 76.0)

    steps = [
        (lambda: case.remove_landmark("pre", "L1", "sup_ant"), CaseEvent("landmark", "pre", "L1", "sup_ant")),
        (lambda: case.add_vertebra("pre", "L3"), CaseEvent("vertebra-added", "pre", "L3")),
        (lambda: case.set_status("pre", "L3", "reference"), CaseEvent("status", "pre", "L3")),
        (lambda: case.remove_vertebra("pre", "L3"), CaseEvent("vertebra-removed", "pre", "L3")),
        (
            lambda: case.add_timepoint(Timepoint("fu", "follow-up", "2026-06-01")),
            CaseEvent("timepoint-added", "fu"),
        ),
        (
            lambda: case.assign_series(SeriesRef("1.2.3.9", "fu", "/data/fu")),
            CaseEvent("series", "fu", key="1.2.3.9"),
        ),
        (
            lambda: case.set_reader_entry("post", "L1", ReaderEntry("kyphoplasty", 4.5, ("S", "B"))),
            CaseEvent("reader", "post", "L1"),
        ),
        (lambda: case.set_reader_entry(None, None, ReaderEntry(notes="ok")), CaseEvent("reader")),
        (
            lambda: case.set_stir_decision("pre", "L1", StirDecision("confirmed", "band edema")),
            CaseEvent("stir", "pre", "L1"),
        ),
        (
            lambda: case.set_regional([RegionalSpec("T12", "superior", "L2", "inferior")]),
            CaseEvent("regional"),
        ),
        (lambda: case.set_extra("registry", {"site": 7}), CaseEvent("extras", key="registry")),
        (lambda: case.set_patient(Patient(name="X")), CaseEvent("patient")),
        (
            lambda: case.update_timepoint(Timepoint("fu", "follow-up", "2026-07-01")),
            CaseEvent("timepoint-changed", "fu"),
        ),
        (lambda: case.remove_timepoint("fu"), CaseEvent("timepoint-removed", "fu")),
    ]
    for i, (do, expected) in enumerate(steps, start=2):
        do()
        assert len(rec.events) == i, f"step {i} sent {len(rec.events) - i + 1} events"
        assert rec.events[-1] == expected

    rec.unsubscribe()
    case.set_status("pre", "L1", "unknown")
    assert len(rec.events) == len(steps) + 1  # nothing after unsubscribing


def test_a_batch_sends_one_event_listing_its_changes() -> None:
    case = make_case()
    rec = Recorder(case)
    revision = case.revision
    with case.batch():
        for key in LANDMARK_KEYS:
            case.remove_landmark("pre", "L1", key)
        with case.batch():  # nested batches join the outer one
            case.set_status("pre", "L1", "unknown")
        assert rec.events == []
    assert len(rec.events) == 1
    event = rec.events[0]
    assert (event.kind, event.timepoint, event.level) == ("batch", "pre", "L1")
    assert [c.key for c in event.changes] == [*LANDMARK_KEYS, None]
    assert case.revision == revision + 7
    assert case.landmarks("pre", "L1") == {}

    with case.batch():  # an empty batch says nothing
        pass
    assert len(rec.events) == 1


def test_a_batch_that_fails_still_reports_what_changed() -> None:
    case = make_case()
    rec = Recorder(case)
    with pytest.raises(ValueError, match="no vertebra L4"), case.batch():
        case.set_status("pre", "L1", "treated")
        case.set_status("pre", "L4", "treated")
    assert rec.events == [CaseEvent("status", "pre", "L1")]


def test_dirty_flag_follows_changes_and_saves() -> None:
    case = make_case()
    assert case.dirty  # built but never saved
    case.mark_saved()
    assert not case.dirty
    case.set_status("pre", "T12", "unknown")
    assert case.dirty
    case.mark_saved(Path("/tmp/some/case.json"))
    assert not case.dirty and case.folder == Path("/tmp/some")


def test_undoing_back_to_the_saved_state_is_clean() -> None:
    case = make_case()
    case.mark_saved()
    previous = case.set_status("pre", "T12", "unknown")
    assert case.dirty
    case.set_status("pre", "T12", previous)  # what an undo command does
    assert not case.dirty
    moved = case.landmark("pre", "L1", "sup_ant")
    assert moved is not None
    case.set_landmark("pre", "L1", "sup_ant", moved.moved_to((1.0, 2.0, 3.0)))
    case.set_landmark("pre", "L1", "sup_ant", moved)
    assert not case.dirty
    case.set_extra("note", {"a": 1})
    assert case.dirty
    case.set_extra("note", None)
    assert not case.dirty


def test_mutations_return_the_previous_value_for_undo() -> None:
    case = make_case()
    before = case.vertebra("pre", "L1")
    removed = case.remove_vertebra("pre", "L1")
    assert removed == before and case.vertebra("pre", "L1") is None
    case.add_vertebra(removed.timepoint, removed.level, removed.status, landmark_sets=removed.landmark_sets)
    assert case.vertebra("pre", "L1") == before

    assert case.set_status("pre", "L1", "treated") == "fractured"
    old_entry = case.set_reader_entry("post", "L1", ReaderEntry("spinejack", 3.0))
    assert old_entry is None
    assert case.set_reader_entry("post", "L1", None) == ReaderEntry("spinejack", 3.0)

    ref = case.series_ref("1.2.826.0.1.1")
    assert case.assign_series(SeriesRef("1.2.826.0.1.1", "pre", "elsewhere")) == ref

    snapshot = make_case()
    snapshot.set_status("pre", "L1", "treated")
    snapshot.assign_series(SeriesRef("1.2.826.0.1.1", "pre", "elsewhere"))
    gone = case.remove_timepoint("pre")
    assert case.vertebrae("pre") == [] and case.series_of("pre") == []
    case.restore_timepoint(gone)
    assert [tp.id for tp in case.timepoints] == ["pre", "post"]
    assert case.same_content(snapshot)


def test_snapshots_handed_out_cannot_change_the_case() -> None:
    case = make_case()
    v = case.vertebra("pre", "L1")
    assert v is not None
    (uid,) = v.series
    with pytest.raises(TypeError):
        v.landmark_sets[uid]["sup_ant"] = v.landmark_sets[uid]["sup_post"]  # type: ignore[index]
    with pytest.raises(TypeError):
        v.landmark_sets["9.9"] = {}  # type: ignore[index]
    extras = case.extras
    extras["x"] = 1
    assert case.extras == {}


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (lambda c: c.add_vertebra("pre", "L9"), "unknown vertebral level 'L9'"),
        (lambda c: c.add_vertebra("nope", "L3"), "no timepoint 'nope'"),
        (lambda c: c.add_vertebra("pre", "L1"), "already has a vertebra L1"),
        (lambda c: c.set_status("pre", "L1", "broken"), "status of L1 'broken' is not valid"),
        (lambda c: c.set_landmark("pre", "L1", "tip", None), "landmark key 'tip' is not valid"),
        (lambda c: c.set_landmark("pre", "L4", "sup_ant", None), "has no vertebra L4"),
        (lambda c: c.add_timepoint(Timepoint("pre", "pre-op")), "already has a timepoint 'pre'"),
        (lambda c: c.set_reader_entry("pre", None, ReaderEntry()), "timepoint and a level together"),
        (lambda c: c.assign_series(SeriesRef("9.9", "later", "x")), "no timepoint 'later'"),
    ],
)
def test_invalid_mutations_are_refused_with_a_sentence_and_change_nothing(action, message) -> None:
    case = make_case()
    rec = Recorder(case)
    revision = case.revision
    with pytest.raises(ValueError, match=message):
        action(case)
    assert rec.events == [] and case.revision == revision


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Timepoint("a", "intra-op"), "kind 'intra-op' is not valid; expected one of pre-op"),
        (lambda: Timepoint("a", "pre-op", "01/03/2026"), "expected YYYY-MM-DD"),
        (lambda: Patient(sex="X"), "patient sex 'X'"),
        (lambda: SeriesRef("1.2", "a", "p", orientation=(1, 0, 0, 1, 0, 0)), "not orthogonal"),
        (lambda: SeriesRef("1.2", "a", "p", pixel_spacing_mm=(0.5, 0)), "2 positive values"),
        (lambda: ReaderEntry("glue"), "procedure 'glue'"),
        (lambda: ReaderEntry(leakage=("B", "Z")), "cement leakage type 'Z'"),
        (lambda: ReaderEntry(cement_volume_ml=-1), "non-negative"),
        (lambda: StirDecision("maybe"), "STIR decision 'maybe'"),
        (lambda: RegionalSpec("L2", "superior", "T12", "inferior"), "L2 superior endplate is not above T12"),
    ],
)
def test_value_objects_validate(build, message) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_reader_entry_leakage_is_a_canonical_subset() -> None:
    assert ReaderEntry(leakage=("D", "B", "D")).leakage == ("B", "D")


def test_timepoints_are_ordered_by_kind_then_date() -> None:
    case = Case()
    case.add_timepoint(Timepoint("fu2", "follow-up", "2027-01-01"))
    case.add_timepoint(Timepoint("post", "post-op", "2026-03-03"))
    case.add_timepoint(Timepoint("fu1", "follow-up", "2026-09-01"))
    case.add_timepoint(Timepoint("pre", "pre-op", None))
    assert [t.id for t in case.ordered_timepoints()] == ["pre", "post", "fu1", "fu2"]
    assert [t.id for t in case.timepoints] == ["fu2", "post", "fu1", "pre"]


def test_series_paths_resolve_against_the_case_folder(tmp_path: Path) -> None:
    case = make_case()
    assert case.series_path("1.2.826.0.1.1") == Path("pre_ct")
    case.mark_saved(tmp_path / "case.json")
    assert case.series_path("1.2.826.0.1.1") == tmp_path / "pre_ct"
    case.assign_series(SeriesRef("1.2.826.0.1.1", "pre", "/abs/pre"))
    assert case.series_path("1.2.826.0.1.1") == Path("/abs/pre")


def test_vertebrae_are_listed_cranial_to_caudal() -> None:
    case = make_case()
    case.add_vertebra("pre", "T11")
    case.add_vertebra("pre", "C7")
    assert [v.level for v in case.vertebrae("pre")] == ["C7", "T11", "T12", "L1", "L2"]
    c7, l1 = case.vertebra("pre", "C7"), case.vertebra("pre", "L1")
    assert c7 is not None and l1 is not None
    assert c7.series == () and c7.missing_keys_on("1.2.826.0.1.1") == LANDMARK_KEYS
    assert l1.complete_on(case.measurement_series("pre"))


def test_vertebra_inputs_carry_landmarks_and_the_planes_of_their_series() -> None:
    case = make_case()
    inputs = {v.level: v for v in case.vertebra_inputs("pre")}
    assert list(inputs) == ["T12", "L1", "L2"]
    l1 = inputs["L1"]
    assert l1.status == "fractured"
    assert l1.landmarks["sup_ant"].position_mm == (0.0, -15.0, 76.0)
    plane = l1.planes["1.2.826.0.1.1"]
    assert plane.row_cosine == (0.0, 1.0, 0.0) and plane.col_cosine == (0.0, 0.0, -1.0)
    assert plane.pixel_spacing_mm == PIXEL_SPACING_MM
    # A series without geometry gives no plane (the engine then fits one to the points).
    case.assign_series(SeriesRef("1.2.826.0.1.1", "pre", "pre_ct"))
    assert case.vertebra_inputs("pre")[1].planes == {}


def test_a_timepoint_holds_one_landmark_set_per_series() -> None:
    """CT morphometry and the MR T1 of the same day: two sets, one measured for the registry."""
    case = make_case()
    ct = "1.2.826.0.1.1"
    mr = "1.2.826.0.1.7"
    case.assign_series(SeriesRef(mr, "pre", "/mr", "SAG T1", "MR", "T1", (0, 1, 0, 0, 0, -1), (0.5, 0.5)))
    assert case.landmark_series("pre") == (ct,) and case.measurement_series("pre") == ct
    # The same L1 on the MR, 1 mm taller in front.
    for key, lm in case.landmarks("pre", "L1").items():
        x, y, z = lm.position_mm
        on_mr = Landmark((x, y, z + (1.0 if key == "sup_ant" else 0.0)), mr, None)
        assert case.set_landmark("pre", "L1", key, on_mr) is None  # a new set: nothing before
    v = case.vertebra("pre", "L1")
    assert v is not None and v.series == (ct, mr) and v.status == "fractured"
    assert case.landmark_series("pre") == (ct, mr)
    results = case.measure()
    ct_ha = results.timepoints["pre"].vertebrae["L1"].ha_mm.value
    mr_result = results.on_series("pre", mr)
    assert mr_result is not None and ct_ha is not None
    assert mr_result.vertebrae["L1"].ha_mm.value == pytest.approx(ct_ha + 1.0, abs=1e-9)
    assert results.measurement_series["pre"] == ct  # the first set placed
    # The reader chooses the MR set for the registry.
    tp = case.timepoint("pre")
    case.update_timepoint(replace(tp, measurement_series=mr))
    assert case.measurement_series("pre") == mr
    assert case.measure().timepoints["pre"].vertebrae["L1"].ha_mm.value == pytest.approx(ct_ha + 1.0)
    # Removing the MR set leaves the CT set and falls back to it.
    assert len(case.set_landmark_set("pre", "L1", mr, None)) == 6
    assert case.measurement_series("pre") == ct
