"""Edit > Clinical outcomes (a checked form, one undo step) and File > Cohort report (in the
background, with progress) on the demo case; expected values are the ones typed in."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot


@pytest.fixture(scope="module")
def demo_case_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.demo_case import ensure_demo_case

    return ensure_demo_case(tmp_path_factory.mktemp("demo_clinical"), small=True)


def _open(window, qtbot: QtBot, path: Path) -> None:  # type: ignore[no-untyped-def]
    assert window.open_case(path)
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=30000)


def test_clinical_form_checks_then_keeps_one_undo_step(window, qtbot: QtBot, demo_case_file: Path) -> None:  # type: ignore[no-untyped-def]
    _open(window, qtbot, demo_case_file)
    case = window.session.case
    post = next(tp.id for tp in case.timepoints if tp.kind == "post-op")
    dialog = window.case_actions.edit_clinical(post)
    qtbot.addWidget(dialog)
    dialog.edits["vas"].setText("12")  # out of range: refused, the dialog stays open
    dialog.accept()
    assert dialog.isVisible() and "vas must be 0 to 10, got 12." in dialog.problem.text()
    assert case.clinical(post) is None
    dialog.edits["vas"].setText("3,5")  # a French decimal comma is read as a decimal point
    dialog.edits["operating_time_min"].setText("48")
    dialog.edits["complications"].setText("cement_leakage:foraminal:asymptomatic:L1")
    dialog.choices["discharge_destination"].setCurrentIndex(
        dialog.choices["discharge_destination"].findData("home")
    )
    with qtbot.waitSignal(dialog.accepted, timeout=5000):
        dialog.accept()
    record = case.clinical(post)
    assert record is not None and record.vas == 3.5 and record.operating_time_min == 48.0
    assert record.discharge_destination == "home"
    (leak,) = record.complications
    assert (leak.kind, leak.location, leak.symptomatic, leak.level) == (
        "cement_leakage",
        "foraminal",
        False,
        "L1",
    )
    assert window.undo_stack.undoText() == f"Edit clinical outcomes of {post}"
    window.undo_stack.undo()
    assert case.clinical(post) is None
    window.undo_stack.redo()
    assert case.clinical(post) == record
    # Reopened, the form shows what was kept.
    again = window.case_actions.edit_clinical(post)
    qtbot.addWidget(again)
    assert again.edits["vas"].text() == "3.5" and again.edits["operating_time_min"].text() == "48"
    assert again.edits["complications"].text() == "cement_leakage:foraminal:asymptomatic:L1"
    again.reject()


def test_cohort_dialog_writes_the_report_in_the_background(  # type: ignore[no-untyped-def]
    window, qtbot: QtBot, demo_case_file: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "cases"
    folder.mkdir()
    for name in ("a.json", "b.json"):
        shutil.copy(demo_case_file, folder / name)
    # Series paths are relative to the case file: keep the images where the copies look.
    shutil.copytree(demo_case_file.parent / "images", folder / "images")
    (folder / "junk.json").write_text("[]", encoding="utf-8")
    window.act_cohort.trigger()
    dialog = window.case_actions.cohort_dialog
    qtbot.addWidget(dialog)
    dialog.folder_edit.setText(str(folder))
    out = tmp_path / "report.json"
    dialog.out_edit.setText(str(out))
    with qtbot.waitSignal(dialog.reportWritten, timeout=60000) as blocker:
        assert dialog.run()
    assert blocker.args == [str(out)]
    # Four .json files: two cases, the junk, and the demo images' ground_truth.json.
    assert dialog.progress.value() == dialog.progress.maximum() == 4
    table = json.loads(out.read_text(encoding="utf-8"))
    # The demo case: L1 fractured pre-op and treated post-op, once per copy.
    assert table["n_cases"] == 2 and table["n_levels"] == 2
    assert sorted(Path(s["path"]).name for s in table["skipped"]) == ["ground_truth.json", "junk.json"]
    assert "2 file(s) were not read" in dialog.message.text()
