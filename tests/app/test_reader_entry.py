"""Reader entries (procedure, cement, leakage, complications, notes) through the dialog.

Driven like a reader would: combo boxes, check boxes, the spin box and the OK button of
the dialog the window opens; stored through an undoable command, kept by save/reopen,
carried by the CSV export.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from PySide6 import QtCore
from pytestqt.qtbot import QtBot

from measure.case import Case, ReaderEntry, Timepoint

LEFT = QtCore.Qt.MouseButton.LeftButton
ENTRY = ReaderEntry(
    procedure="kyphoplasty",
    cement_volume_ml=4.5,
    leakage=("B", "D"),
    complications="transient radicular pain",
    notes="balloon inflated to 200 psi",
)


@pytest.fixture(scope="module")
def demo_case_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.demo_case import ensure_demo_case

    return ensure_demo_case(tmp_path_factory.mktemp("demo_reader"), small=True)


@pytest.fixture
def opened(window, qtbot: QtBot, demo_case_file: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The demo case (L1 fractured pre-op, treated post-op) saved to tmp_path and open."""
    from measure.casefile import load_case, save_case

    path = tmp_path / "case.json"
    save_case(load_case(demo_case_file), path)
    assert window.open_case(path)
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=30000)
    return window, path


def _fill(dialog, qtbot: QtBot, entry: ReaderEntry) -> None:  # type: ignore[no-untyped-def]
    """Set the fields with the widgets (combo, check boxes, spin box, text fields)."""
    dialog.procedure_combo.setCurrentIndex(dialog.procedure_combo.findData(entry.procedure))
    if dialog.volume_check.isChecked() != (entry.cement_volume_ml is not None):
        qtbot.mouseClick(dialog.volume_check, LEFT)
    assert dialog.volume_spin.isEnabled() == (entry.cement_volume_ml is not None)
    dialog.volume_spin.setValue(entry.cement_volume_ml or 0.0)
    for kind, check in dialog.leakage_checks.items():
        if check.isChecked() != (kind in entry.leakage):
            qtbot.mouseClick(check, LEFT)
    dialog.complications_edit.setText(entry.complications)
    dialog.notes_edit.setPlainText(entry.notes)


def _edit(window, qtbot: QtBot, entry: ReaderEntry, scope=None):  # type: ignore[no-untyped-def]
    dialog = window.edit_reader_entry(scope)
    qtbot.addWidget(dialog)
    _fill(dialog, qtbot, entry)
    qtbot.mouseClick(dialog.ok_button, LEFT)
    return dialog


def test_dialog_defaults_to_the_treated_level_and_the_entry_is_undoable(opened, qtbot: QtBot) -> None:  # type: ignore[no-untyped-def]
    window, _path = opened
    case = window.case
    window.act_procedure.trigger()  # Edit > Procedure…
    assert window.case_actions.reader_dialog.isVisible()
    qtbot.addWidget(window.case_actions.reader_dialog)
    dialog = window.edit_reader_entry()
    qtbot.addWidget(dialog)
    assert dialog.scope() == ("post-op", "L1")  # the post-op timepoint's treated level
    assert dialog.level_combo.currentText() == "L1  (treated)"
    assert dialog.entry() is None  # nothing recorded yet: blank fields
    assert not dialog.volume_spin.isEnabled()
    _fill(dialog, qtbot, ENTRY)
    assert dialog.entry() == ENTRY
    n = window.undo_stack.count()
    qtbot.mouseClick(dialog.ok_button, LEFT)
    assert case.reader_entry("post-op", "L1") == ENTRY
    assert window.undo_stack.count() == n + 1 and window.isWindowModified()
    assert window.undo_stack.undoText() == "Edit procedure of L1 post-op"
    assert window.reader_panel.rows() == [
        [
            "post-op",
            "L1",
            "Kyphoplasty (balloon)",
            "4.5",
            "B, D",
            "transient radicular pain",
            "balloon inflated to 200 psi",
        ]
    ]
    window.act_undo.trigger()
    assert case.reader_entry("post-op", "L1") is None
    assert window.reader_panel.rows() == [] and not window.reader_panel.empty_label.isHidden()
    window.act_redo.trigger()
    assert case.reader_entry("post-op", "L1") == ENTRY
    assert window.reader_panel.rows()[0][2] == "Kyphoplasty (balloon)"


def test_changing_scope_shows_that_entry_and_clearing_removes_it(opened, qtbot: QtBot) -> None:  # type: ignore[no-untyped-def]
    window, _path = opened
    case = window.case
    _edit(window, qtbot, ENTRY)
    whole_case = ReaderEntry(procedure="other", notes="second session planned")
    _edit(window, qtbot, whole_case, scope=(None, None))
    assert case.reader_entry(None, None) == whole_case
    assert [r[:3] for r in window.reader_panel.rows()] == [
        ["whole case", "all", "Other"],
        ["post-op", "L1", "Kyphoplasty (balloon)"],
    ]

    dialog = window.edit_reader_entry()
    qtbot.addWidget(dialog)
    assert dialog.entry() == ENTRY  # the stored entry is shown
    dialog.timepoint_combo.setCurrentIndex(dialog.timepoint_combo.findData("pre-op"))
    assert dialog.scope() == ("pre-op", "L1") and dialog.entry() is None
    dialog.timepoint_combo.setCurrentIndex(dialog.timepoint_combo.findData(None))
    assert dialog.scope() == (None, None) and not dialog.level_combo.isEnabled()
    assert dialog.entry() == whole_case
    dialog.set_scope("post-op", "L1")
    qtbot.mouseClick(dialog.clear_button, LEFT)
    assert dialog.entry() is None
    n = window.undo_stack.count()
    qtbot.mouseClick(dialog.ok_button, LEFT)
    assert case.reader_entry("post-op", "L1") is None  # cleared, as one command
    assert window.undo_stack.count() == n + 1
    window.undo_stack.undo()
    assert case.reader_entry("post-op", "L1") == ENTRY

    # Cancel and an unchanged OK push nothing.
    for button in ("cancel", "ok"):
        dialog = window.edit_reader_entry()
        qtbot.addWidget(dialog)
        _fill(dialog, qtbot, ENTRY)
        if button == "cancel":
            _fill(dialog, qtbot, ReaderEntry(procedure="vertebroplasty"))
            dialog.reject()
        else:
            qtbot.mouseClick(dialog.ok_button, LEFT)
        assert window.undo_stack.count() == n + 1
        assert case.reader_entry("post-op", "L1") == ENTRY


@pytest.mark.parametrize(
    ("vertebrae", "current", "expected"),
    [
        # (timepoint kind, level, status) -> default (timepoint, level)
        ([("pre-op", "L1", "fractured"), ("post-op", "L1", "treated")], None, ("post-op", "L1")),
        ([("pre-op", "T12", "fractured"), ("post-op", "T12", "unknown")], None, ("post-op", "T12")),
        ([("pre-op", "L2", "fractured")], None, ("pre-op", "L2")),
        ([("pre-op", "L3", "reference")], ("pre-op", "L3"), ("pre-op", "L3")),
        ([], None, (None, None)),
    ],
)
def test_default_scope(vertebrae, current, expected) -> None:  # type: ignore[no-untyped-def]
    from app.reader_entry import default_scope

    case = Case()
    for kind, level, status in vertebrae:
        if kind not in {tp.id for tp in case.timepoints}:
            case.add_timepoint(Timepoint(kind, kind))
        case.add_vertebra(kind, level, status)
    assert default_scope(case, *(current or (None, None))) == expected


def test_saved_entry_reopens_and_the_exported_csv_carries_it(opened, qtbot: QtBot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from app.main_window import MainWindow

    window, path = opened
    _edit(window, qtbot, ENTRY)
    # The export reads the case file: the dialog asks, saves, then exports.
    export = window.open_export_dialog(ask_save=lambda _q: True)
    qtbot.addWidget(export)
    out = tmp_path / "registry.csv"
    export.set_output(out)
    with qtbot.waitSignal(export.exportFinished, timeout=60000) as blocker:
        assert export.start_export()
    assert blocker.args[0].exit_status == 0
    assert not window.is_dirty()
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    by_scope = {(r["timepoint_id"], r["level"]): r for r in rows}
    l1 = by_scope[("post-op", "L1")]
    assert (l1["procedure"], l1["cement_volume_ml"], l1["cement_leakage"]) == ("kyphoplasty", "4.5", "B;D")
    assert (l1["complications"], l1["reader_notes"]) == (ENTRY.complications, ENTRY.notes)
    assert all(r["procedure"] == "" for k, r in by_scope.items() if k != ("post-op", "L1"))

    saved = window.case
    window.close()
    again = MainWindow(interactive_errors=False, close_decision=lambda: "discard")
    qtbot.addWidget(again)
    again.show()
    assert again.open_case(path)
    qtbot.waitUntil(lambda: again.viewer.source is not None and not again.tasks, timeout=30000)
    assert again.case.reader_entry("post-op", "L1") == ENTRY
    assert again.case.same_content(saved)
    assert again.reader_panel.rows()[0][:5] == ["post-op", "L1", "Kyphoplasty (balloon)", "4.5", "B, D"]
    again.cancel_tasks()
    again.wait_for_tasks(10)
