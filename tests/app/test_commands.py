"""Undo commands and guided placement logic, on the case model alone."""

from __future__ import annotations

from PySide6.QtGui import QUndoStack
from pytestqt.qtbot import QtBot

from app import commands, placement
from measure.case import Case, SeriesRef, Timepoint
from measure.landmarks import LANDMARK_KEYS, Landmark


def _case() -> Case:
    case = Case()
    case.add_timepoint(Timepoint("pre-op", "pre-op"))
    case.assign_series(SeriesRef("1.2.3", "pre-op", "/data/ct"))
    return case


def test_place_undo_redo_restores_exact_state(qtbot: QtBot) -> None:
    case = _case()
    stack = QUndoStack()
    events = []
    case.subscribe(events.append)
    lm = Landmark((1.0, 2.0, 3.0), "1.2.3", "9.9")
    stack.push(commands.PlaceLandmarkCommand(case, "pre-op", "L1", "sup_ant", lm))
    assert case.landmark("pre-op", "L1", "sup_ant") == lm
    assert len(events) == 1  # vertebra added + landmark: one batched event
    stack.push(commands.MoveLandmarkCommand(case, "pre-op", "L1", "sup_ant", lm.moved_to((1.0, 2.0, 5.0))))
    assert case.landmark("pre-op", "L1", "sup_ant").position_mm == (1.0, 2.0, 5.0)
    stack.undo()
    assert case.landmark("pre-op", "L1", "sup_ant") == lm
    stack.undo()
    assert case.vertebra("pre-op", "L1") is None  # the vertebra the first click created is gone
    stack.redo()
    stack.redo()
    assert case.landmark("pre-op", "L1", "sup_ant").position_mm == (1.0, 2.0, 5.0)


def test_status_remove_and_assignment_commands_undo(qtbot: QtBot) -> None:
    case = _case()
    stack = QUndoStack()
    stack.push(commands.SetStatusCommand(case, "pre-op", "T12", "reference"))
    assert case.vertebra("pre-op", "T12").status == "reference"
    stack.push(commands.PlaceLandmarkCommand(case, "pre-op", "T12", "inf_post", Landmark((0, 0, 0), "1.2.3")))
    stack.push(commands.RemoveVertebraCommand(case, "pre-op", "T12"))
    assert case.vertebra("pre-op", "T12") is None
    stack.undo()
    v = case.vertebra("pre-op", "T12")
    assert v.status == "reference" and list(v.landmarks_on(v.series[0])) == ["inf_post"]
    stack.push(commands.AddTimepointCommand(case, Timepoint("post-op", "post-op", "2026-03-10")))
    stack.push(commands.AssignSeriesCommand(case, SeriesRef("4.5.6", "post-op", "/data/post")))
    assert case.series_ref("4.5.6").timepoint == "post-op"
    stack.undo()
    stack.undo()
    assert case.series_ref("4.5.6") is None
    assert [t.id for t in case.timepoints] == ["pre-op"]
    stack.redo()
    assert case.timepoint("post-op").date == "2026-03-10"


def test_guided_order_prompt_and_next_level() -> None:
    case = _case()
    assert placement.prompt_for("L1", placement.next_key(case, "pre-op", "L1")) == (
        "L1: click superior endplate, anterior"
    )
    case.add_vertebra("pre-op", "L1")
    for key in LANDMARK_KEYS[:4]:
        case.set_landmark("pre-op", "L1", key, Landmark((0, 0, 0), "1.2.3"))
    assert placement.next_key(case, "pre-op", "L1") == "inf_mid"
    assert placement.prompt_for("L1", "inf_mid") == "L1: click inferior endplate, middle"
    for key in LANDMARK_KEYS[4:]:
        case.set_landmark("pre-op", "L1", key, Landmark((0, 0, 0), "1.2.3"))
    assert placement.next_key(case, "pre-op", "L1") is None
    assert placement.suggest_level(case, "pre-op", "L1") == "L2"
    assert placement.suggest_level(case, "pre-op", "S1") == "L5"
    assert placement.PLACEMENT_LEVELS[0] == "T1" and placement.PLACEMENT_LEVELS[-1] == "S1"
