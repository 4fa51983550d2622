"""Real mouse events on the viewer: place, drag, undo/redo, save and reopen.

The phantom series has anterior on the RIGHT and unequal pixel spacing (0.6 x 0.9 mm), so
a swapped axis or a half-pixel error would show up in the numbers.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from dicomio.synthetic import phantom
from measure.landmarks import LANDMARK_KEYS, LANDMARK_LABELS
from tests.app.aim import click_pos, lps_to_pixel, lps_to_viewport, move_mouse, pixel_to_scene_mm
from tests.handcalc import heights_mm, signed_vka_deg

LEFT = QtCore.Qt.MouseButton.LeftButton
NO_MOD = QtCore.Qt.KeyboardModifier.NoModifier
EXACT = QtCore.Qt.KeyboardModifier.AltModifier


def _open(window, qtbot: QtBot, folder: Path) -> None:  # type: ignore[no-untyped-def]
    window.open_paths([folder])
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=30000)


def _click(window, point_mm) -> None:  # type: ignore[no-untyped-def]
    """One real left click where ``point_mm`` is shown (aimed by tests/app/aim.py)."""
    # Alt: exactly where clicked (no snap to the endplate); the click chain is under test.
    QTest.mouseClick(window.viewer.canvas.viewport(), LEFT, EXACT, click_pos(window.viewer, point_mm))


def _mm_per_screen_px(window) -> float:  # type: ignore[no-untyped-def]
    return float(max(window.viewer.view.viewPixelSize()))


def _place_level(window, qtbot: QtBot, level: str, truth: dict) -> None:  # type: ignore[no-untyped-def, type-arg]
    window.set_level(level)
    window.set_placing(True)
    for key in LANDMARK_KEYS:
        assert window.viewer.prompt == f"{level}: click {LANDMARK_LABELS[key]}"
        _click(window, truth[level][key])

        def placed(key: str = key) -> bool:
            tp = window.current_timepoint()
            return tp is not None and window.case.landmark(tp, level, key) is not None

        qtbot.waitUntil(placed, timeout=2000)


def _panel_row(window, timepoint: str, level: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    table = window.panel.vertebrae
    header = table.header()
    for row in table.rows():
        if row[0] == timepoint and row[1] == level:
            return dict(zip(header, row, strict=True))
    raise AssertionError(f"no row for {timepoint} {level}: {table.rows()}")


def _value(text: str) -> float:
    m = re.match(r"\s*(-?\d+(?:\.\d+)?)", text)
    assert m, text
    return float(m.group(1))


def _l1_label(window) -> str:  # type: ignore[no-untyped-def]

    return window.overlay.labels()["L1"].textItem.toPlainText()


@pytest.fixture
def placed(window, qtbot: QtBot, phantom_series):  # type: ignore[no-untyped-def]
    """Pre-op phantom CT open, L1 placed by six real clicks on the mid-sagittal slice."""
    truth = phantom.truth("pre")
    _open(window, qtbot, phantom_series["pre"])
    window.viewer.go_to_point(truth["L1"]["sup_ant"])
    assert window.viewer.slice_index == 1  # x = -3 mm, the phantom's mid-sagittal plane
    _place_level(window, qtbot, "L1", truth)
    return window, truth


def test_six_clicks_place_l1_and_panel_shows_engine_numbers(placed, qtbot: QtBot) -> None:  # type: ignore[no-untyped-def]
    window, truth = placed
    case = window.case
    tp = window.current_timepoint()
    assert tp == "pre-op"  # the first click assigned the series to a pre-op timepoint
    v = case.vertebra(tp, "L1")
    assert v is not None and v.complete_on(v.series[0])
    tol_mm = _mm_per_screen_px(window)  # a click lands on a whole screen pixel
    for key in LANDMARK_KEYS:
        lm = v.landmarks_on(v.series[0])[key]
        np.testing.assert_allclose(lm.position_mm, truth["L1"][key], atol=tol_mm)
        assert lm.position_mm[0] == pytest.approx(-3.0, abs=1e-9)  # on the slice plane
        assert lm.series_uid == window.viewer.source.series_uid
        assert lm.sop_uid == window.viewer.source.sop_uid_for_slice(1)
    # The engine's numbers, and what the panel shows.
    result = case.measure().timepoints[tp].vertebrae["L1"]
    row = _panel_row(window, tp, "L1")
    assert _value(row["VKA (°)"]) == pytest.approx(result.vka_deg.value, abs=0.051)
    for name, attr in (("Ha (mm)", "ha_mm"), ("Hm (mm)", "hm_mm"), ("Hp (mm)", "hp_mm")):
        assert _value(row[name]) == pytest.approx(getattr(result, attr).value, abs=0.051)
    assert "±" in row["VKA (°)"]
    # ...and they are the phantom's true heights (clicks are within a screen pixel).
    level_truth = phantom.level_truth("pre")["L1"]
    for name, h in (("ha_mm", "Ha"), ("hm_mm", "Hm"), ("hp_mm", "Hp")):
        assert getattr(result, name).value == pytest.approx(level_truth.heights_mm[h], abs=2 * tol_mm)
    # Signed: kyphosis positive.  The phantom's L1 is a wedge fracture (VKA 15-20 deg), so
    # a sign error (anterior on the right of this series) cannot hide behind abs().
    assert (
        level_truth.vka_deg == pytest.approx(signed_vka_deg(truth["L1"]), abs=1e-9)
        and level_truth.vka_deg > 10
    )
    assert result.vka_deg.value == pytest.approx(level_truth.vka_deg, abs=1.0)
    clicked = {k: lm.position_mm for k, lm in v.landmarks_on(v.series[0]).items()}
    assert result.vka_deg.value == pytest.approx(signed_vka_deg(clicked), abs=1e-9)
    # The label beside the vertebra carries the same live angle.
    overlay = next(o for o in window.overlay.state.vertebrae if o.level == "L1")
    assert f"VKA {result.vka_deg.value:.1f}" in overlay.values_text
    # Drawn fully on its slice, faintly (and not draggable) on the neighbouring slice.
    handle = window.overlay.handles[("L1", "sup_ant")]
    assert handle.opacity() == 1.0 and handle.movable
    window.viewer.set_slice(0)  # 3 mm away: the neighbour
    assert handle.isVisible() and handle.opacity() == pytest.approx(0.3) and not handle.movable
    window.viewer.set_slice(1)
    assert handle.opacity() == 1.0
    # The next level is suggested and the prompt moved on.
    assert window.current_level == "L2"
    assert window.viewer.prompt == "L2: click superior endplate, anterior"
    assert window.isWindowModified()


def test_drag_a_point_then_undo_and_redo(placed, qtbot: QtBot) -> None:  # type: ignore[no-untyped-def]
    window, _truth = placed
    tp = window.current_timepoint()
    before = window.case.landmark(tp, "L1", "sup_ant")
    vka_before = window.case.measure().timepoints[tp].vertebrae["L1"].vka_deg.value
    n_commands = window.undo_stack.count()
    viewport = window.viewer.canvas.viewport()
    label_before = _l1_label(window)
    assert f"VKA {vka_before:.1f}" in label_before
    start = click_pos(window.viewer, before.position_mm)
    # Drag 4 mm towards inferior (screen down on this series).
    target_mm = np.array(before.position_mm) + np.array([0.0, 0.0, -4.0])
    end = click_pos(window.viewer, target_mm)
    assert end.y() > start.y()  # inferior is down on screen
    QTest.mousePress(viewport, LEFT, NO_MOD, start)
    for f in np.linspace(0.1, 1.0, 8):
        p = QtCore.QPoint(
            round(start.x() + f * (end.x() - start.x())), round(start.y() + f * (end.y() - start.y()))
        )
        move_mouse(qtbot, window.viewer, p)
        # While dragging only the view moves: the case is unchanged.
        assert window.case.landmark(tp, "L1", "sup_ant") == before
    # The label beside L1 showed the live angle for the dragged position.
    assert _l1_label(window) != label_before
    assert f"VKA {vka_before:.1f}" not in _l1_label(window)
    QTest.mouseRelease(viewport, LEFT, NO_MOD, end)
    qtbot.waitUntil(lambda: window.case.landmark(tp, "L1", "sup_ant") != before, timeout=2000)
    after = window.case.landmark(tp, "L1", "sup_ant")
    assert window.undo_stack.count() == n_commands + 1  # one command, pushed on release
    tol = 2 * _mm_per_screen_px(window)
    np.testing.assert_allclose(after.position_mm, target_mm, atol=tol)
    vka_after = window.case.measure().timepoints[tp].vertebrae["L1"].vka_deg.value
    # Lowering the anterior superior corner closes the body in front: more kyphosis (signed).
    points = {k: lm.position_mm for k, lm in window.case.landmarks(tp, "L1").items()}
    assert vka_after == pytest.approx(signed_vka_deg(points), abs=1e-9)
    points["sup_ant"] = tuple(target_mm)
    assert vka_after == pytest.approx(signed_vka_deg(points), abs=1.0)  # 2 screen px over ~30 mm
    assert vka_after - vka_before > 3.0
    assert _value(_panel_row(window, tp, "L1")["VKA (°)"]) == pytest.approx(vka_after, abs=0.051)

    window.act_undo.trigger()
    assert window.case.landmark(tp, "L1", "sup_ant") == before
    assert _value(_panel_row(window, tp, "L1")["VKA (°)"]) == pytest.approx(vka_before, abs=0.051)
    # The handle is back where the point is: scene mm from the DICOM geometry (test-side).
    x, y = window.overlay.handle_scene_pos("L1", "sup_ant")
    slice_geometry = window.viewer.source.geometry.slices[window.viewer.slice_index]
    column, row, _ = lps_to_pixel(before.position_mm, slice_geometry)
    assert (x, y) == pytest.approx(pixel_to_scene_mm(column, row, slice_geometry), abs=1e-6)
    window.act_redo.trigger()
    assert window.case.landmark(tp, "L1", "sup_ant") == after
    # Undo everything: the six placements and the automatic timepoint assignment.
    while window.undo_stack.canUndo():
        window.undo_stack.undo()
    assert window.case.vertebrae() == [] and window.case.timepoints == ()


def test_save_close_reopen_identical(placed, qtbot: QtBot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from app.main_window import MainWindow

    window, _truth = placed
    window.set_level("L1")
    window.toggle_status("fractured")
    assert window.case.vertebra("pre-op", "L1").status == "fractured"
    out = tmp_path / "saved" / "case.json"
    out.parent.mkdir()
    assert window.save_to(out)
    assert not window.isWindowModified()
    assert "case.json" in window.windowTitle()
    # An edit marks the window modified; undoing it returns to the saved state: clean.
    window.toggle_status("treated")
    assert window.isWindowModified()
    window.undo_stack.undo()
    assert window.case.vertebra("pre-op", "L1").status == "fractured"
    assert not window.isWindowModified()
    saved = window.case
    window.close()

    again = MainWindow(interactive_errors=False, close_decision=lambda: "discard")
    qtbot.addWidget(again)
    again.show()
    assert again.open_case(out)
    qtbot.waitUntil(lambda: again.viewer.source is not None and not again.tasks, timeout=30000)
    assert again.case.same_content(saved)
    assert again.viewer.source.series_uid == saved.series[0].series_uid
    assert {o.level for o in again.overlay.state.vertebrae} == {"L1"}
    assert again.viewer.slice_index == 1  # opened on the slice of the landmarks
    assert _panel_row(again, "pre-op", "L1")["Status"] == "fractured"
    again.cancel_tasks()
    again.wait_for_tasks(10)


def test_copy_measurements_as_tab_separated(placed, qtbot: QtBot) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtGui import QGuiApplication

    window, _truth = placed
    window.act_copy.trigger()
    text = QGuiApplication.clipboard().text()
    lines = text.splitlines()
    assert lines[0].split("\t")[:5] == ["Timepoint", "Level", "Series", "Status", "VKA (°)"]
    assert lines[1].split("\t")[:2] == ["pre-op", "L1"]
    # The copied numbers are those of the clicked points, computed by hand (signed).
    cells = dict(zip(lines[0].split("\t"), lines[1].split("\t"), strict=True))
    v = window.case.vertebra("pre-op", "L1")
    clicked = {k: lm.position_mm for k, lm in v.landmarks_on(v.series[0]).items()}
    assert _value(cells["VKA (°)"]) == pytest.approx(signed_vka_deg(clicked), abs=0.051)
    assert _value(cells["VKA (°)"]) > 10.0  # the wedge fracture: kyphosis
    for name, key in (("Ha (mm)", "Ha"), ("Hm (mm)", "Hm"), ("Hp (mm)", "Hp")):
        assert _value(cells[name]) == pytest.approx(heights_mm(clicked)[key], abs=0.051)


def test_select_a_point_delete_it_and_undo(placed, qtbot: QtBot) -> None:  # type: ignore[no-untyped-def]
    window, _truth = placed
    window.set_placing(False)
    tp = window.current_timepoint()
    point = window.case.landmark(tp, "L1", "inf_mid")
    _click(window, point.position_mm)  # not placing: a click on a point selects it
    qtbot.waitUntil(lambda: window.overlay.selected == ("L1", "inf_mid"), timeout=2000)
    assert window.current_level == "L1"
    window.act_delete.trigger()
    assert window.case.landmark(tp, "L1", "inf_mid") is None
    assert _panel_row(window, tp, "L1")["VKA (°)"] == "5/6 points"
    window.act_undo.trigger()
    assert window.case.landmark(tp, "L1", "inf_mid") == point


def test_key_image_has_the_overlays_where_the_landmarks_are(placed, qtbot: QtBot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from PySide6 import QtGui

    from app.overlays import STATUS_COLOURS

    window, _truth = placed
    window.set_placing(False)
    move_mouse(qtbot, window.viewer, QtCore.QPoint(3, 3))  # no handle is hovered (white)
    qtbot.waitUntil(lambda: not any(h.mouseHovering for h in window.overlay.handles.values()), timeout=2000)
    tp = window.current_timepoint()
    out = window.export_key_image(tmp_path / "key.png")
    image = QtGui.QImage(str(out))
    ratio = image.width() / window.viewer.width()
    colour = STATUS_COLOURS["unknown"]
    hits = 0
    for lm in window.case.landmarks(tp, "L1").values():
        pos = lps_to_viewport(window.viewer, lm.position_mm) + QtCore.QPointF(
            window.viewer.canvas.viewport().mapTo(window.viewer, QtCore.QPoint(0, 0))
        )
        near = [
            image.pixelColor(round(pos.x() * ratio) + dx, round(pos.y() * ratio) + dy)
            for dx in range(-6, 7)
            for dy in range(-6, 7)
        ]
        hits += any(
            abs(c.red() - colour[0]) + abs(c.green() - colour[1]) + abs(c.blue() - colour[2]) < 40
            for c in near
        )
    assert hits == 6


def test_mark_treated_and_reference_then_delete_the_vertebra_and_undo(placed, qtbot: QtBot) -> None:  # type: ignore[no-untyped-def]
    from app.overlays import STATUS_COLOURS

    window, _truth = placed
    tp = window.current_timepoint()
    window.set_level("L1")
    window.status_buttons["treated"].click()
    assert window.case.vertebra(tp, "L1").status == "treated"
    assert window.status_buttons["treated"].isChecked()
    handle = window.overlay.handles[("L1", "sup_post")]
    assert handle.pen.color().getRgb()[:3] == STATUS_COLOURS["treated"]
    window.status_buttons["reference"].click()
    assert window.case.vertebra(tp, "L1").status == "reference"
    assert _panel_row(window, tp, "L1")["Status"] == "reference"
    window.status_buttons["reference"].click()  # a second click clears it
    assert window.case.vertebra(tp, "L1").status == "unknown"
    before = window.case.vertebra(tp, "L1")
    window.act_delete_vertebra.trigger()
    assert window.case.vertebra(tp, "L1") is None
    assert window.overlay.handles == {} and window.panel.vertebrae.rowCount() == 0
    window.act_undo.trigger()
    assert window.case.vertebra(tp, "L1") == before
    assert len(window.overlay.handles) == 6
    for _ in range(3):
        window.act_undo.trigger()  # reference cleared, reference, treated: back to unknown
    assert window.case.vertebra(tp, "L1").status == "unknown" and window.undo_stack.canUndo()


def test_overlay_draws_endplate_lines_heights_and_the_label_and_the_panel_grades(
    placed, qtbot: QtBot
) -> None:  # type: ignore[no-untyped-def]

    from app.coords import lps_to_scene
    from app.overlays import ENDPLATE_PAIRS, HEIGHT_PAIRS

    window, _truth = placed
    tp = window.current_timepoint()
    v = window.case.vertebra(tp, "L1")
    geom = window.viewer.source.geometry
    scene = {
        k: np.array(lps_to_scene(lm.position_mm, geom)[:2]) for k, lm in v.landmarks_on(v.series[0]).items()
    }
    curves = window.overlay.lines()
    segments = []
    for c in curves:
        x, y = c.getData()
        segments.append((np.array([x[0], y[0]]), np.array([x[-1], y[-1]]), c.opts["pen"].style()))
    for pairs, style in (
        (ENDPLATE_PAIRS, QtCore.Qt.PenStyle.SolidLine),
        (HEIGHT_PAIRS, QtCore.Qt.PenStyle.DashLine),
    ):
        for a, b in pairs:
            assert any(
                np.allclose(p, scene[a], atol=1e-6) and np.allclose(q, scene[b], atol=1e-6) and s == style
                for p, q, s in segments
            ), (a, b)
    result = window.case.measure().timepoints[tp].vertebrae["L1"]
    label = _l1_label(window)
    assert label.splitlines()[0] == "L1"
    assert f"Ha {result.ha_mm.value:.1f} · Hm {result.hm_mm.value:.1f} · Hp {result.hp_mm.value:.1f}" in label
    # The label sits on the posterior side (the left on this series: anterior is on the right),
    # clear of the body.
    x, _y, w, _h = window.overlay.label_rect("L1")
    assert x + w < min(p[0] for p in scene.values())
    row = _panel_row(window, tp, "L1")
    assert row["Ha/Hp"].startswith(f"{result.wedge_ratio.value:.2f} ± ")
    assert row["Hm/Hp"].startswith(f"{result.biconcave_ratio.value:.2f} ± ")
    grade = "–" if result.genant_grade is None else str(result.genant_grade)
    assert row["Genant"].split(" ")[0] == grade
    assert row["Type"] == (result.fracture_type or "–")
    loss = result.height_loss.posterior
    assert loss is not None
    key, value = loss.largest_height, loss.largest_pct
    assert row["Loss vs own Hp (%)"].startswith(f"{value:.0f} ± ") and row["Loss vs own Hp (%)"].endswith(
        f"({key})"
    )
