"""Snap while placing, with real mouse events: a click lands on the endplate, Alt places
exactly, the snapped position is shown while the button is held.

The phantom CT (anterior on the right, 0.6 x 0.9 mm pixels) has exact endplate curves;
every click is aimed 1.5 mm off the true landmark along the body's axis, into the disc or
into the body, with the test's own click chain (tests/app/aim.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from dicomio.synthetic import phantom
from measure.landmarks import LANDMARK_KEYS
from tests.app.aim import click_pos, lps_to_pixel, pixel_to_scene_mm
from tests.measure.assist.phantom_slices import outward_error_mm

LEFT = QtCore.Qt.MouseButton.LeftButton
NO_MOD = QtCore.Qt.KeyboardModifier.NoModifier
ALT = QtCore.Qt.KeyboardModifier.AltModifier
SUPERIOR = np.array([0.0, 0.0, 1.0])
OFF_MM = 1.5
TOLERANCE_MM = 0.75


def _open_placing(window, qtbot: QtBot, folder: Path, level: str = "L2") -> dict:  # type: ignore[no-untyped-def, type-arg]
    truth = phantom.truth("pre")
    window.open_paths([folder])
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=30000)
    window.viewer.go_to_point(truth[level]["sup_ant"])
    window.set_level(level)
    window.set_placing(True)
    return truth


def _offset(key: str, i: int) -> np.ndarray:
    """1.5 mm along the body's axis, alternately out into the disc and into the body."""
    outward = SUPERIOR if key.startswith("sup") else -SUPERIOR
    return (OFF_MM if i % 2 == 0 else -OFF_MM) * outward


def _placed(window, level: str, key: str):  # type: ignore[no-untyped-def]
    tp = window.current_timepoint()
    return None if tp is None else window.case.landmark(tp, level, key)


def test_clicks_snap_onto_the_endplates(window, qtbot: QtBot, phantom_series) -> None:  # type: ignore[no-untyped-def]
    truth = _open_placing(window, qtbot, phantom_series["pre"])
    viewport = window.viewer.canvas.viewport()
    for i, key in enumerate(LANDMARK_KEYS):
        clicked = np.asarray(truth["L2"][key]) + _offset(key, i)
        QTest.mouseClick(viewport, LEFT, NO_MOD, click_pos(window.viewer, clicked))
        qtbot.waitUntil(lambda key=key: _placed(window, "L2", key) is not None, timeout=3000)
        got = _placed(window, "L2", key).position_mm
        before = outward_error_mm("L2", key, "pre", tuple(clicked))  # type: ignore[arg-type]
        err = outward_error_mm("L2", key, "pre", got)
        assert abs(before) > 1.0  # the click was off the endplate...
        assert -TOLERANCE_MM <= err <= TOLERANCE_MM, f"{key}: {err:+.2f} mm"  # ...the point is on it
        assert got[0] == pytest.approx(-3.0, abs=1e-9)  # still on the slice shown
        assert "Snapped" in window.statusBar().currentMessage()
    # One undo step per click: the six placements (and the assignment with the first).
    window.act_undo.trigger()
    assert _placed(window, "L2", "inf_post") is None
    assert _placed(window, "L2", "inf_mid") is not None


def test_alt_click_places_exactly_where_clicked(window, qtbot: QtBot, phantom_series) -> None:  # type: ignore[no-untyped-def]
    truth = _open_placing(window, qtbot, phantom_series["pre"])
    clicked = np.asarray(truth["L2"]["sup_ant"]) + OFF_MM * SUPERIOR
    QTest.mouseClick(window.viewer.canvas.viewport(), LEFT, ALT, click_pos(window.viewer, clicked))
    qtbot.waitUntil(lambda: _placed(window, "L2", "sup_ant") is not None, timeout=3000)
    got = np.asarray(_placed(window, "L2", "sup_ant").position_mm)
    screen_px_mm = float(max(window.viewer.view.viewPixelSize()))
    np.testing.assert_allclose(got, clicked, atol=screen_px_mm)  # within the click's pixel
    assert outward_error_mm("L2", "sup_ant", "pre", tuple(got)) > 1.0  # not snapped


def test_the_snapped_position_is_shown_while_the_button_is_down(window, qtbot: QtBot, phantom_series) -> None:  # type: ignore[no-untyped-def]
    truth = _open_placing(window, qtbot, phantom_series["pre"])
    viewport = window.viewer.canvas.viewport()
    snap = window.placement.snap
    assert not snap.preview_visible
    clicked = np.asarray(truth["L2"]["sup_ant"]) + OFF_MM * SUPERIOR
    pos = click_pos(window.viewer, clicked)
    QTest.mousePress(viewport, LEFT, NO_MOD, pos)
    qtbot.waitUntil(lambda: snap.preview_visible, timeout=2000)
    assert _placed(window, "L2", "sup_ant") is None  # nothing placed while the button is down
    # The ring sits on the true corner (scene mm computed test-side from the DICOM geometry).
    shown = window.viewer.source.geometry.slices[window.viewer.slice_index]
    column, row, _ = lps_to_pixel(truth["L2"]["sup_ant"], shown)
    true_scene = np.array(pixel_to_scene_mm(column, row, shown))
    ring = np.array(snap.preview_scene_mm())
    assert float(np.linalg.norm(ring - true_scene)) < TOLERANCE_MM + 0.5
    QTest.mouseRelease(viewport, LEFT, NO_MOD, pos)
    qtbot.waitUntil(lambda: _placed(window, "L2", "sup_ant") is not None, timeout=3000)
    assert not snap.preview_visible
    got = _placed(window, "L2", "sup_ant").position_mm
    column, row, _ = lps_to_pixel(got, shown)
    assert np.array(pixel_to_scene_mm(column, row, shown)) == pytest.approx(
        ring, abs=1e-6
    )  # placed where shown


def test_snap_can_be_turned_off(window, qtbot: QtBot, phantom_series) -> None:  # type: ignore[no-untyped-def]
    truth = _open_placing(window, qtbot, phantom_series["pre"])
    window.placement.snap.enabled = False
    clicked = np.asarray(truth["L2"]["sup_ant"]) + OFF_MM * SUPERIOR
    QTest.mouseClick(window.viewer.canvas.viewport(), LEFT, NO_MOD, click_pos(window.viewer, clicked))
    qtbot.waitUntil(lambda: _placed(window, "L2", "sup_ant") is not None, timeout=3000)
    got = _placed(window, "L2", "sup_ant").position_mm
    assert outward_error_mm("L2", "sup_ant", "pre", got) > 1.0


def test_a_dragged_handle_snaps_on_release(window, qtbot: QtBot, phantom_series) -> None:  # type: ignore[no-untyped-def]
    from tests.app.aim import move_mouse

    truth = _open_placing(window, qtbot, phantom_series["pre"])
    viewport = window.viewer.canvas.viewport()
    for key in LANDMARK_KEYS:  # exactly on the truth (Alt)
        QTest.mouseClick(viewport, LEFT, ALT, click_pos(window.viewer, truth["L2"][key]))
        qtbot.waitUntil(lambda key=key: _placed(window, "L2", key) is not None, timeout=3000)
    window.set_placing(False)
    before = _placed(window, "L2", "sup_mid")
    posterior = np.array([0.0, 1.0, 0.0])
    # 3 mm along the endplate (posterior) and 1.5 mm up into the disc.
    target = np.asarray(before.position_mm) + 3.0 * posterior + OFF_MM * SUPERIOR
    start, end = click_pos(window.viewer, before.position_mm), click_pos(window.viewer, target)
    QTest.mousePress(viewport, LEFT, NO_MOD, start)
    for f in np.linspace(0.2, 1.0, 5):
        move_mouse(
            qtbot,
            window.viewer,
            QtCore.QPoint(
                round(start.x() + f * (end.x() - start.x())), round(start.y() + f * (end.y() - start.y()))
            ),
        )
    QTest.mouseRelease(viewport, LEFT, NO_MOD, end)
    qtbot.waitUntil(lambda: _placed(window, "L2", "sup_mid") != before, timeout=3000)
    got = np.asarray(_placed(window, "L2", "sup_mid").position_mm)
    assert outward_error_mm("L2", "sup_mid", "pre", tuple(target)) > 1.0
    err = outward_error_mm("L2", "sup_mid", "pre", tuple(got))
    assert -TOLERANCE_MM <= err <= TOLERANCE_MM
    along = float((got - np.asarray(before.position_mm)) @ posterior)
    assert along == pytest.approx(3.0, abs=0.6)  # moved along the endplate as dragged
