"""File > Export…: the dialog runs the registry export off the GUI thread and reports it.

The case is the demo case (exact phantom landmarks) with a patient whose id differs from
the case id, saved to a temporary folder; every choice is injected through the dialog's
setters, never through a file dialog.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
from pathlib import Path

import pytest
from PySide6 import QtCore
from pytestqt.qtbot import QtBot

from measure.case import Patient
from tests.handcalc import signed_vka_deg

PATIENT = Patient(name="DOE^JANE", id="PID-4711", birth_date="1948-05-17", sex="F")


@pytest.fixture(scope="module")
def demo_case_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.demo_case import ensure_demo_case

    return ensure_demo_case(tmp_path_factory.mktemp("demo_export"), small=True)


@pytest.fixture
def saved_case(demo_case_file: Path, tmp_path: Path) -> Path:
    """The demo case with a named patient, saved as ``tmp_path/cases/case.json``."""
    from measure.casefile import load_case, save_case

    case = load_case(demo_case_file)
    case.set_patient(PATIENT)
    out = tmp_path / "cases" / "case.json"
    out.parent.mkdir()
    save_case(case, out)
    return out


def _open(window, qtbot: QtBot, path: Path) -> None:  # type: ignore[no-untyped-def]
    assert window.open_case(path)
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=30000)


def _no_question(question: str) -> bool:
    raise AssertionError(f"the dialog asked to save a case without unsaved changes: {question}")


def _dialog(window, qtbot: QtBot, ask_save=_no_question):  # type: ignore[no-untyped-def]
    dialog = window.open_export_dialog(ask_save=ask_save)
    qtbot.addWidget(dialog)
    return dialog


def _run(dialog, qtbot: QtBot):  # type: ignore[no-untyped-def]
    """Start the export and wait for its summary (the dialog must be running in between)."""
    with qtbot.waitSignal(dialog.exportFinished, timeout=60000) as blocker:
        assert dialog.start_export(), dialog.result_text()
        assert dialog.is_running()
        assert not dialog.export_button.isEnabled()
    assert not dialog.is_running() and dialog.export_button.isEnabled()
    return blocker.args[0]


def _csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_export_current_case_to_csv_then_pdf(window, qtbot: QtBot, saved_case: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _open(window, qtbot, saved_case)
    window.act_export_data.trigger()  # File > Export measurements…
    assert window.case_actions.export_dialog.isVisible() and not window.case_actions.export_dialog.isModal()
    qtbot.addWidget(window.case_actions.export_dialog)
    dialog = _dialog(window, qtbot)
    # Defaults: the current case, CSV, a file next to the case that is not the case file.
    assert dialog.request().include_current
    assert dialog.request().fmt == "csv"
    assert dialog.request().out == saved_case.parent / "case-export.csv"
    out = tmp_path / "registry" / "endplate.csv"
    dialog.set_output(out)
    summary = _run(dialog, qtbot)
    assert summary.exit_status == 0 and summary.written == [out]
    assert dialog.result_text() == f"Exported 1 case (case.json) as CSV to {out}."

    rows = _csv_rows(out)
    case = window.case
    assert {(r["timepoint_id"], r["level"]) for r in rows} == {
        (v.timepoint, v.level) for v in case.vertebrae()
    }
    assert {r["case_id"] for r in rows} == {"ENDPLATE-DEMO"}
    assert {r["patient_id"] for r in rows} == {"PID-4711"}  # no pseudonymisation asked
    results = case.measure().timepoints
    for r in rows:
        vka = results[r["timepoint_id"]].vertebrae[r["level"]].vka_deg.value
        assert float(r["vka_deg"]) == pytest.approx(vka, abs=1e-9)
        # ...and that is the signed VKA computed by hand from the phantom landmarks.
        v = case.vertebra(r["timepoint_id"], r["level"])
        hand = signed_vka_deg({k: lm.position_mm for k, lm in v.landmarks_on(v.series[0]).items()})
        assert float(r["vka_deg"]) == pytest.approx(hand, abs=1e-6)
        assert r["status"] == v.status

    # Another format keeps the chosen name and changes its extension.
    dialog.set_format("pdf")
    assert dialog.request().out == tmp_path / "registry" / "endplate.pdf"
    summary = _run(dialog, qtbot)
    pdf = tmp_path / "registry" / "endplate.pdf"
    assert summary.written == [pdf]
    assert pdf.read_bytes().startswith(b"%PDF")
    assert pdf.stat().st_size > 5000  # key images, tables and charts, not an empty page
    assert dialog.result_text() == f"Exported 1 case (case.json) as PDF to {pdf}."


def test_pseudonymised_csv_carries_no_patient_identity(
    window, qtbot: QtBot, saved_case: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    _open(window, qtbot, saved_case)
    case_bytes = saved_case.read_bytes()
    dialog = _dialog(window, qtbot)
    out = tmp_path / "pseudo.csv"
    dialog.set_output(out)
    dialog.set_pseudonymize("")  # ticked, but no key
    assert not dialog.start_export()
    assert "Type a pseudonymisation key" in dialog.result_text()
    assert not out.exists()
    assert dialog.key_edit.echoMode() == dialog.key_edit.EchoMode.Password
    assert "HMAC" in dialog.privacy_label.text()  # says what it does

    key = "registry-key-2026"
    dialog.set_pseudonymize(key)
    assert _run(dialog, qtbot).exit_status == 0
    text = out.read_text(encoding="utf-8")
    for secret in ("PID-4711", "DOE", "JANE", "1948-05-17", "19480517"):
        assert secret not in text
    expected = hmac.new(key.encode(), b"id:PID-4711", hashlib.sha256).hexdigest()[:16]
    rows = _csv_rows(out)
    assert {r["patient_id"] for r in rows} == {expected}
    assert {r["patient_birth_date"] for r in rows} == {"1948"}
    assert {r["pseudonymized"] for r in rows} == {"true"}
    assert saved_case.read_bytes() == case_bytes  # the case file is never changed


def test_existing_file_is_kept_without_overwrite(
    window, qtbot: QtBot, saved_case: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    _open(window, qtbot, saved_case)
    dialog = _dialog(window, qtbot)
    out = tmp_path / "existing.csv"
    out.write_text("keep me\n")
    dialog.set_output(out)
    assert not dialog.start_export()
    assert not dialog.is_running()
    assert dialog.result_text() == (
        f"The file existing.csv already exists in {tmp_path}; it was not overwritten. "
        "Tick “Overwrite existing files” to replace it, or choose another name."
    )
    assert out.read_text() == "keep me\n"

    # The SR writes one file per timepoint into a folder: the exporter refuses the existing
    # one, and the dialog says so in its own words (no command-line option names).
    sr = tmp_path / "sr"
    sr.mkdir()
    (sr / "ENDPLATE-DEMO_pre-op.dcm").write_bytes(b"not overwritten")
    dialog.set_format("sr")
    dialog.set_output(sr)
    summary = _run(dialog, qtbot)
    assert summary.exit_status == 2 and summary.written == []
    text = dialog.result_text()
    assert text.startswith("The case file case.json was not exported: The output file ")
    assert "ENDPLATE-DEMO_pre-op.dcm already exists" in text
    assert "--force" not in text and "“Overwrite existing files”" in text
    assert (sr / "ENDPLATE-DEMO_pre-op.dcm").read_bytes() == b"not overwritten"

    dialog.set_format("csv")
    dialog.set_output(out)
    dialog.set_force(True)
    assert _run(dialog, qtbot).exit_status == 0
    assert _csv_rows(out)[0]["case_id"] == "ENDPLATE-DEMO"


def test_bad_extra_case_is_named_and_the_good_ones_exported(
    window, qtbot: QtBot, saved_case: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from measure.casefile import load_case, save_case

    _open(window, qtbot, saved_case)
    other = load_case(saved_case)
    other.set_case_id("CASE-2")
    good = saved_case.parent / "second.json"
    save_case(other, good)
    broken = tmp_path / "broken.json"
    broken.write_text(saved_case.read_text()[:200])  # cut short
    dialog = _dialog(window, qtbot)
    dialog.add_case_files([good, broken, good])  # a file added twice is listed once
    assert dialog.extra_cases() == [good, broken]
    out = tmp_path / "two.csv"
    dialog.set_output(out)
    summary = _run(dialog, qtbot)
    assert summary.exit_status == 1
    assert summary.exported == [saved_case, good]
    assert [p for p, _ in summary.failed] == [broken]
    lines = dialog.result_text().splitlines()
    assert lines[0] == f"Exported 2 cases (case.json, second.json) as CSV to {out}."
    assert lines[1].startswith("The case file broken.json was not exported: case file ")
    assert "not valid JSON" in lines[1] and "Traceback" not in dialog.result_text()
    ids = {r["case_id"] for r in _csv_rows(out)}
    assert ids == {"ENDPLATE-DEMO", "CASE-2"}

    # Without the current case and without extra files there is nothing to export.
    dialog.set_include_current(False)
    dialog.case_list.selectAll()
    dialog.remove_cases_button.click()
    assert dialog.extra_cases() == []
    assert not dialog.start_export()
    assert dialog.result_text().startswith("There is no case to export")


def test_gui_thread_keeps_running_during_the_export(
    window, qtbot: QtBot, saved_case: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    _open(window, qtbot, saved_case)
    dialog = _dialog(window, qtbot)
    dialog.set_format("sr")  # reads the DICOM headers of every source image
    dialog.set_output(tmp_path / "sr")
    running_ticks: list[bool] = []
    timer = QtCore.QTimer()
    timer.setInterval(1)
    timer.timeout.connect(lambda: running_ticks.append(dialog.is_running()))
    steps: list[str] = []
    dialog._steps.step.connect(steps.append)
    timer.start()
    with qtbot.waitSignal(dialog.exportFinished, timeout=60000) as blocker:
        assert dialog.start_export()
        dialog.reject()  # Escape or Close while the files are written: the dialog stays
        assert dialog.isVisible() and dialog.is_running()
        assert not dialog.close_button.isEnabled()
    timer.stop()
    summary = blocker.args[0]
    assert any(running_ticks), "the event loop did not run while the export was in progress"
    assert summary.exit_status == 0
    assert sorted(p.name for p in summary.written) == [
        "ENDPLATE-DEMO_post-op.dcm",
        "ENDPLATE-DEMO_pre-op.dcm",
    ]
    assert steps[0] == "reading case.json"
    assert dialog.result_text().startswith(f"Exported 1 case (case.json) as DICOM SR: 2 files in {tmp_path}")
    assert dialog.close_button.isEnabled()
    dialog.reject()
    assert not dialog.isVisible()


def test_unsaved_case_is_saved_first_only_when_the_reader_agrees(
    window, qtbot: QtBot, saved_case: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from measure.casefile import load_case

    _open(window, qtbot, saved_case)
    window.set_level("L2")
    window.toggle_status("fractured")  # an unsaved edit (pre-op L2)
    assert window.is_dirty()
    questions: list[str] = []
    answers = [False, True]
    dialog = _dialog(window, qtbot, ask_save=lambda q: questions.append(q) or answers.pop(0))
    assert "unsaved changes: it will be saved first" in dialog.current_check.text()
    out = tmp_path / "after-save.csv"
    dialog.set_output(out)
    assert not dialog.start_export()  # the reader said no
    assert dialog.result_text().startswith("Export cancelled: the current case has unsaved changes")
    assert not out.exists() and window.is_dirty()
    assert load_case(saved_case).vertebra("pre-op", "L2").status == "reference"
    assert _run(dialog, qtbot).exit_status == 0  # the reader said yes
    assert len(questions) == 2 and "unsaved changes" in questions[0]
    assert not window.is_dirty()
    assert load_case(saved_case).vertebra("pre-op", "L2").status == "fractured"
    statuses = {(r["timepoint_id"], r["level"]): r["status"] for r in _csv_rows(out)}
    assert statuses[("pre-op", "L2")] == "fractured"


def test_output_cannot_replace_a_case_file(window, qtbot: QtBot, saved_case: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _open(window, qtbot, saved_case)
    dialog = _dialog(window, qtbot)
    dialog.set_format("json")
    dialog.set_force(True)
    dialog.set_output(saved_case)
    before = saved_case.read_bytes()
    assert not dialog.start_export()
    assert dialog.result_text() == (
        f"The output {saved_case} is one of the case files to export; choose another name."
    )
    assert saved_case.read_bytes() == before
