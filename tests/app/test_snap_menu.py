"""Tools > Snap to endplate and Tools > Snap radius...: real menu actions and dialog, the
effect on a real click, and the preference kept for the next window."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from app.main_window import MainWindow
from dicomio.synthetic import phantom
from measure.userlog import user_data_dir
from tests.app.aim import click_pos
from tests.measure.assist.phantom_slices import outward_error_mm

LEFT = QtCore.Qt.MouseButton.LeftButton
NO_MOD = QtCore.Qt.KeyboardModifier.NoModifier
SUPERIOR = np.array([0.0, 0.0, 1.0])


def _tools_actions(window: MainWindow) -> dict[str, object]:
    (tools,) = [a.menu() for a in window.menuBar().actions() if a.text() == "&Tools"]
    return {a.text().replace("&", ""): a for a in tools.actions()}  # type: ignore[union-attr, attr-defined]


def _click_above_sup_ant(window: MainWindow, qtbot: QtBot, folder: object, off_mm: float) -> tuple:  # type: ignore[type-arg]
    truth = phantom.truth("pre")
    window.open_paths([folder])  # type: ignore[list-item]
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=30000)
    window.viewer.go_to_point(truth["L2"]["sup_ant"])
    window.set_level("L2")
    window.set_placing(True)
    clicked = np.asarray(truth["L2"]["sup_ant"]) + off_mm * SUPERIOR
    QTest.mouseClick(window.viewer.canvas.viewport(), LEFT, NO_MOD, click_pos(window.viewer, clicked))  # type: ignore[arg-type]
    tp_lm = lambda: window.case.landmark(window.current_timepoint(), "L2", "sup_ant")  # type: ignore[arg-type]  # noqa: E731
    qtbot.waitUntil(lambda: window.current_timepoint() is not None and tp_lm() is not None, timeout=3000)
    placed = tp_lm()
    assert placed is not None
    return clicked, np.asarray(placed.position_mm)


def test_the_tools_menu_turns_snapping_off_and_it_stays_off(
    window: MainWindow, qtbot: QtBot, phantom_series: dict
) -> None:  # type: ignore[type-arg]
    actions = _tools_actions(window)
    snap_on = actions["Snap to endplate"]
    assert snap_on.isCheckable() and snap_on.isChecked()  # type: ignore[attr-defined]
    with qtbot.waitSignal(window.snap_menu.changed, timeout=2000):
        snap_on.trigger()  # type: ignore[attr-defined]
    assert window.placement.snap.enabled is False
    saved = json.loads((user_data_dir() / "assist.json").read_text("utf-8"))
    assert saved == {"snap_enabled": False, "snap_radius_mm": 3.0}
    # A click 1.5 mm into the disc now stays where it was made (within the screen pixel).
    clicked, got = _click_above_sup_ant(window, qtbot, phantom_series["pre"], 1.5)
    np.testing.assert_allclose(got, clicked, atol=float(max(window.viewer.view.viewPixelSize())))
    # The next window starts with snapping off.
    second = MainWindow(interactive_errors=False, close_decision=lambda: "discard")
    qtbot.addWidget(second)
    assert second.placement.snap.enabled is False
    assert not _tools_actions(second)["Snap to endplate"].isChecked()  # type: ignore[attr-defined]


def test_with_snapping_on_the_same_click_lands_on_the_endplate(
    window: MainWindow, qtbot: QtBot, phantom_series: dict
) -> None:  # type: ignore[type-arg]
    """The control for the test above: the default (snap on) moves the same click."""
    _, got = _click_above_sup_ant(window, qtbot, phantom_series["pre"], 1.5)
    err = outward_error_mm("L2", "sup_ant", "pre", tuple(got))  # type: ignore[arg-type]
    assert -0.75 <= err <= 0.75


def _set_radius_in_dialog(window: MainWindow, qtbot: QtBot, radius_mm: float) -> None:
    actions = _tools_actions(window)
    radius_action = next(a for k, a in actions.items() if k.startswith("Snap radius"))
    radius_action.trigger()  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: window.snap_menu.dialog is not None and window.snap_menu.dialog.isVisible())
    dialog = window.snap_menu.dialog
    assert isinstance(dialog, QtWidgets.QInputDialog)
    assert dialog.doubleValue() == pytest.approx(window.snap_menu.settings.snap_radius_mm)
    spin = dialog.findChild(QtWidgets.QDoubleSpinBox)
    assert spin is not None
    spin.selectAll()
    QTest.keyClicks(spin, f"{radius_mm:g}")
    with qtbot.waitSignal(window.snap_menu.changed, timeout=2000):
        QTest.keyClick(spin, QtCore.Qt.Key.Key_Return)


def test_the_radius_dialog_sets_the_search_radius(
    window: MainWindow, qtbot: QtBot, phantom_series: dict
) -> None:  # type: ignore[type-arg]
    _set_radius_in_dialog(window, qtbot, 1.0)
    assert window.placement.snap.settings.radius_mm == pytest.approx(1.0)
    assert any(k == "Snap radius (1 mm)..." for k in _tools_actions(window))
    saved = json.loads((user_data_dir() / "assist.json").read_text("utf-8"))
    assert saved["snap_radius_mm"] == pytest.approx(1.0)
    # The endplate is 2.5 mm from this click: beyond a 1 mm radius, so the point stays put.
    clicked, got = _click_above_sup_ant(window, qtbot, phantom_series["pre"], 2.5)
    np.testing.assert_allclose(got, clicked, atol=float(max(window.viewer.view.viewPixelSize())))
    assert "within 1 mm" in window.statusBar().currentMessage()


def test_the_dialog_refuses_a_radius_out_of_range(window: MainWindow, qtbot: QtBot) -> None:
    _set_radius_in_dialog(window, qtbot, 25.0)
    assert window.placement.snap.settings.radius_mm <= 10.0
