"""Choosing the regional angles: the dialog, the undoable command, the panel and the overlay.

The demo case holds the phantom's exact landmarks (T11-L3, L1 fractured pre-op and treated
post-op; anterior is -y in patient space).  The expected angle is recomputed here from
the landmarks with plain vector arithmetic, independently of the engine's plane code.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore
from pytestqt.qtbot import QtBot

from dicomio.synthetic import phantom
from measure.angles import RegionalSpec

LEFT = QtCore.Qt.MouseButton.LeftButton
T11_L3 = RegionalSpec("T11", "superior", "L3", "inferior")


@pytest.fixture(scope="module")
def demo_case_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.demo_case import ensure_demo_case

    return ensure_demo_case(tmp_path_factory.mktemp("demo_regional"), small=True)


@pytest.fixture
def opened(window, qtbot: QtBot, demo_case_file: Path):  # type: ignore[no-untyped-def]
    assert window.open_case(demo_case_file)
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=30000)
    return window


def _line_deg(case, tp: str, level: str, prefix: str) -> float:  # type: ignore[no-untyped-def]
    """Endplate line angle in the sagittal (posterior = +y, superior = +z) plane, pointing back."""
    ant = np.array(case.landmark(tp, level, f"{prefix}_ant").position_mm)
    post = np.array(case.landmark(tp, level, f"{prefix}_post").position_mm)
    d = post - ant
    assert d[1] > 0  # posterior lies at larger y in LPS
    return math.degrees(math.atan2(d[2], d[1]))


def _expected_deg(case, tp: str) -> float:  # type: ignore[no-untyped-def]
    """Kyphosis positive: the upper line rises posteriorly relative to the lower one."""
    return _line_deg(case, tp, "T11", "sup") - _line_deg(case, tp, "L3", "inf")


def _panel(window) -> dict[str, tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {row[0]: (row[1], row[2]) for row in window.panel.regional.rows()}


def _overlay_labels(window) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.label for r in window.overlay.state.regional]


def test_t11_superior_to_l3_inferior_in_the_panel_and_overlay_then_undo(opened, qtbot: QtBot) -> None:  # type: ignore[no-untyped-def]
    from app.measure_panel import fmt

    window = opened
    case = window.case
    assert case.regional == ()
    default_rows = _panel(window)
    assert {label for label, _ in default_rows.values()} == {"regional L1"}  # engine default
    assert _overlay_labels(window) == ["T12–L2"]

    window.act_regional.trigger()  # Edit > Regional angles…
    assert window.case_actions.regional_dialog.isVisible()
    qtbot.addWidget(window.case_actions.regional_dialog)
    dialog = window.edit_regional_angles()
    qtbot.addWidget(dialog)
    # Proposed: around the fractured level, superior of the vertebra above to inferior below.
    fields = [c.currentData() for c in (dialog.upper_level, dialog.upper_endplate)]
    fields += [c.currentData() for c in (dialog.lower_level, dialog.lower_endplate)]
    assert fields == ["T12", "superior", "L2", "inferior"]
    assert (
        "default angles are measured: regional L1 (T12 superior - L2 inferior)." in dialog.state_label.text()
    )
    dialog.upper_level.setCurrentIndex(dialog.upper_level.findData("T11"))
    dialog.lower_level.setCurrentIndex(dialog.lower_level.findData("L3"))
    qtbot.mouseClick(dialog.add_button, LEFT)
    assert dialog.table.rowCount() == 1
    assert [dialog.table.item(0, j).text() for j in range(2)] == ["T11 superior", "L3 inferior"]
    n = window.undo_stack.count()
    qtbot.mouseClick(dialog.ok_button, LEFT)
    assert case.regional == (T11_L3,)
    assert window.undo_stack.count() == n + 1

    results = case.measure().timepoints
    rows = _panel(window)
    assert set(rows) == {"pre-op", "post-op"}
    for tp in ("pre-op", "post-op"):
        (reg,) = results[tp].regional
        assert (reg.upper_level, reg.upper_endplate, reg.lower_level, reg.lower_endplate) == (
            "T11",
            "superior",
            "L3",
            "inferior",
        )
        assert reg.angle_deg == pytest.approx(_expected_deg(case, tp), abs=1e-9)
        assert rows[tp] == ("T11 superior - L3 inferior", fmt(reg.angle_deg, reg.uncertainty_deg))
    # Kyphoplasty reduced the kyphosis across the segment by the L1 correction.
    pre, post = (results[tp].regional[0].angle_deg for tp in ("pre-op", "post-op"))
    l1_correction = (
        results["pre-op"].vertebrae["L1"].vka_deg.value - results["post-op"].vertebrae["L1"].vka_deg.value
    )
    assert pre - post == pytest.approx(l1_correction, abs=1e-6)
    truth = {tp: phantom.level_truth(tp)["L1"].vka_deg for tp in ("pre", "post")}  # type: ignore[arg-type]
    assert l1_correction == pytest.approx(truth["pre"] - truth["post"], abs=1e-6) and l1_correction > 5.0
    assert _overlay_labels(window) == ["T11–L3"]
    assert (
        window.overlay.state.regional[0].text == f"{fmt(pre, results['pre-op'].regional[0].uncertainty_deg)}°"
    )

    window.act_undo.trigger()
    assert case.regional == ()
    assert _panel(window) == default_rows
    assert _overlay_labels(window) == ["T12–L2"]
    window.act_redo.trigger()
    assert case.regional == (T11_L3,)
    assert _overlay_labels(window) == ["T11–L3"]


def test_impossible_or_repeated_angle_is_explained_and_cancel_changes_nothing(opened, qtbot: QtBot) -> None:  # type: ignore[no-untyped-def]
    window = opened
    dialog = window.edit_regional_angles()
    qtbot.addWidget(dialog)
    dialog.set_fields("L3", "superior", "T11", "inferior")
    assert not dialog.add_from_fields()
    assert dialog.problem.text() == (
        "L3 superior endplate is not above T11 inferior endplate; expected the upper endplate first."
    )
    dialog.set_fields("L1", "inferior", "L1", "superior")  # same body, wrong way round
    assert not dialog.add_from_fields()
    assert dialog.specs() == ()
    dialog.set_fields("L1", "superior", "L1", "inferior", "L1 body")  # same body: that is the VKA
    assert dialog.add_from_fields() and dialog.problem.text() == ""
    dialog.set_fields("L1", "superior", "L1", "inferior")
    assert not dialog.add_from_fields()
    assert dialog.problem.text() == "The angle L1 body (L1 superior - L1 inferior) is listed already."
    n = window.undo_stack.count()
    dialog.reject()
    assert window.case.regional == () and window.undo_stack.count() == n


def test_list_defaults_then_back_to_default(opened, qtbot: QtBot) -> None:  # type: ignore[no-untyped-def]
    window = opened
    case = window.case
    dialog = window.edit_regional_angles()
    qtbot.addWidget(dialog)
    dialog.set_fields("T11", "superior", "L3", "inferior")
    assert dialog.add_from_fields()
    qtbot.mouseClick(dialog.defaults_button, LEFT)
    assert [s.display_label for s in dialog.specs()] == ["T11 superior - L3 inferior", "regional L1"]
    qtbot.mouseClick(dialog.ok_button, LEFT)
    assert [r[1] for r in window.panel.regional.rows()] == ["T11 superior - L3 inferior", "regional L1"] * 2
    assert sorted(_overlay_labels(window)) == ["T11–L3", "T12–L2"]

    dialog = window.edit_regional_angles()  # the previous dialog is let go
    qtbot.addWidget(dialog)
    assert len(dialog.specs()) == 2
    dialog.table.selectRow(0)
    qtbot.mouseClick(dialog.remove_button, LEFT)
    assert [s.display_label for s in dialog.specs()] == ["regional L1"]
    qtbot.mouseClick(dialog.clear_button, LEFT)
    assert dialog.specs() == () and not dialog.clear_button.isEnabled()
    qtbot.mouseClick(dialog.ok_button, LEFT)
    assert case.regional == ()  # back to the engine's default
    assert {r[1] for r in window.panel.regional.rows()} == {"regional L1"}
    window.act_undo.trigger()
    assert len(case.regional) == 2
