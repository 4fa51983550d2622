"""Proposed bodies with real mouse and key events: Shift+click proposes, Enter accepts (one
undo step for all six points) and chains to the next body caudally, Esc rejects; a
proposal is not in the case: no measurement, not saved.

Truth: the phantom's exact landmarks (the app tests' CT, anterior on the right, 0.6 x 0.9 mm).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PySide6 import QtCore
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from dicomio.synthetic import phantom
from measure.landmarks import LANDMARK_KEYS
from tests.app.aim import click_pos

LEFT = QtCore.Qt.MouseButton.LeftButton
SHIFT = QtCore.Qt.KeyboardModifier.ShiftModifier
NO_MOD = QtCore.Qt.KeyboardModifier.NoModifier
LIMIT_MM = 1.5


def _centre(lm: dict) -> np.ndarray:  # type: ignore[type-arg]
    return np.mean([lm[k] for k in LANDMARK_KEYS], axis=0)


def _propose_l2(window, qtbot: QtBot, folder: Path) -> dict:  # type: ignore[no-untyped-def, type-arg]
    truth = phantom.truth("pre")
    window.open_paths([folder])
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=30000)
    window.viewer.go_to_point(truth["L2"]["sup_ant"])
    window.set_level("L2")
    seed = _centre(truth["L2"]) + np.array([0.0, 3.0, 2.0])  # off-centre, inside the body
    QTest.mouseClick(window.viewer.canvas.viewport(), LEFT, SHIFT, click_pos(window.viewer, seed))
    qtbot.waitUntil(lambda: window.proposals.shown is not None, timeout=5000)
    return truth


def _assert_near(points: dict, truth: dict) -> None:  # type: ignore[type-arg]
    for key in LANDMARK_KEYS:
        err = float(np.linalg.norm(np.subtract(points[key], truth[key])))
        assert err <= LIMIT_MM, f"{key}: {err:.2f} mm"


def test_shift_click_proposes_without_touching_the_case(  # type: ignore[no-untyped-def]
    window, qtbot: QtBot, phantom_series, tmp_path: Path
) -> None:
    truth = _propose_l2(window, qtbot, phantom_series["pre"])
    window.proposals.reject()
    # The case holds one real point first (an empty case cannot be saved), then L2 is proposed.
    window.set_level("L3")
    window.set_placing(True)
    alt = QtCore.Qt.KeyboardModifier.AltModifier
    QTest.mouseClick(
        window.viewer.canvas.viewport(), LEFT, alt, click_pos(window.viewer, truth["L3"]["sup_ant"])
    )
    qtbot.waitUntil(lambda: window.current_timepoint() is not None, timeout=3000)
    window.set_placing(False)
    window.set_level("L2")
    n_commands = window.undo_stack.count()
    results_before = window.case.measure()
    QTest.mouseClick(
        window.viewer.canvas.viewport(), LEFT, SHIFT, click_pos(window.viewer, _centre(truth["L2"]))
    )
    qtbot.waitUntil(lambda: window.proposals.shown is not None, timeout=5000)
    shown = window.proposals.shown
    assert shown.level == "L2"
    _assert_near(shown.points_mm, truth["L2"])
    assert window.proposals.overlay.visible
    assert "not measured until accepted" in window.proposals.overlay.label_text()
    # Not in the case: nothing measured, no undo step, nothing saved.
    assert window.undo_stack.count() == n_commands
    assert window.case.vertebra(window.current_timepoint(), "L2") is None
    assert window.case.measure() == results_before
    saved = tmp_path / "case.json"
    assert window.save_to(saved)
    text = json.dumps(json.loads(saved.read_text()))
    assert '"L3"' in text and '"L2"' not in text
    # Esc rejects: the proposal is gone and still nothing was added.
    QTest.keyClick(window.viewer, QtCore.Qt.Key.Key_Escape)
    assert window.proposals.shown is None and not window.proposals.overlay.visible
    assert window.undo_stack.count() == n_commands


def test_enter_accepts_all_six_as_one_undo_step_and_chains_caudally(
    window, qtbot: QtBot, phantom_series
) -> None:  # type: ignore[no-untyped-def]
    truth = _propose_l2(window, qtbot, phantom_series["pre"])
    proposed = dict(window.proposals.shown.points_mm)
    n_commands = window.undo_stack.count()
    QTest.keyClick(window.viewer, QtCore.Qt.Key.Key_Return)
    tp = window.current_timepoint()
    assert tp is not None
    placed = {k: lm.position_mm for k, lm in window.case.landmarks(tp, "L2").items()}
    assert placed == proposed  # exactly what was shown
    _assert_near(placed, truth["L2"])
    assert window.undo_stack.count() == n_commands + 1  # one step (with the assignment)
    result = window.case.measure().timepoints[tp].vertebrae["L2"]
    assert abs(result.hp_mm.value - phantom.level_truth("pre")["L2"].heights_mm["Hp"]) < 2 * LIMIT_MM
    # Chained: L3 proposed below, the level label advanced (the reader's count, not the image's).
    assert window.current_level == "L3"
    assert window.proposals.shown is not None and window.proposals.shown.level == "L3"
    _assert_near(window.proposals.shown.points_mm, truth["L3"])
    # Undo removes all six L2 points at once (the L3 proposal was never in the case).
    window.proposals.reject()
    window.act_undo.trigger()
    tp_after = window.current_timepoint()
    assert tp_after is None or window.case.vertebra(tp_after, "L2") is None


def test_a_click_outside_any_body_says_place_by_hand(window, qtbot: QtBot, phantom_series) -> None:  # type: ignore[no-untyped-def]
    truth = phantom.truth("pre")
    window.open_paths([phantom_series["pre"]])
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=30000)
    window.viewer.go_to_point(truth["L2"]["sup_ant"])
    disc_front = np.asarray(truth["L2"]["inf_ant"]) + np.array([0.0, -10.0, -3.0])  # in front of the disc
    QTest.mouseClick(window.viewer.canvas.viewport(), LEFT, SHIFT, click_pos(window.viewer, disc_front))
    qtbot.waitUntil(lambda: window.proposals.last is not None, timeout=5000)
    assert window.proposals.shown is None
    assert "Place the points by hand" in window.statusBar().currentMessage()
    assert window.current_timepoint() is None  # nothing entered the case


def test_b_proposes_the_body_at_the_view_centre(window, qtbot: QtBot, phantom_series) -> None:  # type: ignore[no-untyped-def]
    truth = phantom.truth("pre")
    window.open_paths([phantom_series["pre"]])
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=30000)
    window.viewer.go_to_point(_centre(truth["L2"]), center=True)
    window.set_level("L2")
    window.viewer.setFocus()
    QTest.keyClick(window.viewer, QtCore.Qt.Key.Key_B)
    qtbot.waitUntil(lambda: window.proposals.shown is not None, timeout=5000)
    _assert_near(window.proposals.shown.points_mm, truth["L2"])
    assert not window.placement.placing  # B is not P: placing mode untouched


def test_shift_enter_chains_cranially(window, qtbot: QtBot, phantom_series) -> None:  # type: ignore[no-untyped-def]
    """From L3 upwards: L2 is proposed next (the level label moves up by one)."""
    truth = phantom.truth("pre")
    window.open_paths([phantom_series["pre"]])
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=30000)
    window.viewer.go_to_point(truth["L3"]["sup_ant"])
    window.set_level("L3")
    QTest.mouseClick(
        window.viewer.canvas.viewport(), LEFT, SHIFT, click_pos(window.viewer, _centre(truth["L3"]))
    )
    qtbot.waitUntil(lambda: window.proposals.shown is not None, timeout=5000)
    QTest.keyClick(window.viewer, QtCore.Qt.Key.Key_Return, SHIFT)
    assert window.case.vertebra(window.current_timepoint(), "L3") is not None
    assert window.current_level == "L2"
    assert window.proposals.shown is not None and window.proposals.shown.level == "L2"
    _assert_near(window.proposals.shown.points_mm, truth["L2"])
