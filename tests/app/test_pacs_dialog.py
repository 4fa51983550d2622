"""Open from PACS (query, list, retrieve in the background, open) and Send to PACS in the export
dialog, against the session's real Orthanc.  Truth: the uploaded files' headers (plain pydicom),
the SOP UIDs of the retrieved files, and the instances Orthanc holds after the send."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest
from PySide6 import QtCore
from pytestqt.qtbot import QtBot

from dicomio.pacs.nodes import LocalAe
from measure.case import Case, SeriesRef, Timepoint
from measure.casefile import save_case
from measure.landmarks import Landmark
from session.pacs_settings import PacsSettings, save_settings
from tests.orthanc import OUR_AE, Uploaded


def _dialog(window, qtbot: QtBot, cache: Path):  # type: ignore[no-untyped-def]
    dialog = window.open_pacs_dialog(cache_root=cache)
    qtbot.addWidget(dialog)
    return dialog


def test_search_lists_the_study_with_its_series(
    window, qtbot: QtBot, orthanc: Uploaded, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    dialog = _dialog(window, qtbot, tmp_path)
    ct = orthanc.headers[orthanc.ct_series]
    dialog.set_node(orthanc.server.dicomweb)
    dialog.set_query(patient_id=str(ct.PatientID))
    with qtbot.waitSignal(dialog.searched, timeout=30000) as blocker:
        assert dialog.search()
    assert blocker.args == [1]
    study = dialog.tree.topLevelItem(0)
    d = str(ct.StudyDate)
    assert [study.text(c) for c in range(5)] == [
        f"{d[:4]}-{d[4:6]}-{d[6:]}",
        str(ct.PatientID),
        "CT",
        "",
        "275",
    ]
    assert study.childCount() == 1
    assert [study.child(0).text(c) for c in (2, 4)] == ["CT", "275"]


def test_a_bad_date_is_one_sentence_and_nothing_starts(
    window, qtbot: QtBot, orthanc: Uploaded, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    dialog = _dialog(window, qtbot, tmp_path)
    dialog.set_node(orthanc.server.dimse_url)
    dialog.set_query(date="last week")
    assert not dialog.search()
    assert "not a date or range" in dialog.status_text() and not dialog.is_running()


def test_retrieve_opens_the_series_and_the_window_stays_responsive(
    window, qtbot: QtBot, orthanc: Uploaded, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    series = orthanc.demo.by_key("pre_t1")
    save_settings(PacsSettings(LocalAe(OUR_AE, orthanc.server.our_port)))  # as registered in Orthanc
    dialog = _dialog(window, qtbot, tmp_path)
    dialog.set_node(f"{orthanc.server.dimse_url}?move")
    dialog.set_query(patient_id=str(orthanc.headers[series.series_uid].PatientID))
    with qtbot.waitSignal(dialog.searched, timeout=30000):
        dialog.search()
    dialog.select_series([series.series_uid])
    assert dialog.selection() == [
        (str(orthanc.headers[series.series_uid].StudyInstanceUID), [series.series_uid])
    ]
    ticks: list[int] = []
    timer = QtCore.QTimer()
    timer.timeout.connect(lambda: ticks.append(dialog.progress.value()))
    timer.start(5)
    with qtbot.waitSignal(dialog.retrieved, timeout=60000) as blocker:
        assert dialog.retrieve_selected()
        assert dialog.is_running() and not dialog.retrieve_button.isEnabled()
    assert blocker.args[0], dialog.messages
    qtbot.waitUntil(lambda: window.session.library.stack(series.series_uid) is not None, timeout=60000)
    timer.stop()
    assert ticks  # the GUI thread ran its timer while the retrieve went on in a worker
    (folder,) = blocker.args[0]
    assert folder == tmp_path / series.series_uid
    want = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in series.files}
    assert {p.stem for p in folder.glob("*.dcm")} == want
    stack = window.session.library.stack(series.series_uid)
    assert stack is not None and {f.sop_instance_uid for f in stack.frames} == want
    assert {f.path.parent for f in stack.frames} == {folder}  # opened from the cache
    assert "Retrieved 1 series" in dialog.status_text()


def test_a_node_that_is_down_is_one_sentence_in_the_dialog(window, qtbot: QtBot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dialog = _dialog(window, qtbot, tmp_path)
    dialog.set_node("dicom://NOBODY@127.0.0.1:9")
    with qtbot.waitSignal(dialog.searched, timeout=30000) as blocker:
        dialog.search()
    assert blocker.args == [-1]
    assert "not reachable" in dialog.status_text() and not dialog.is_running()


@pytest.mark.parametrize("how", ["stow-rs"])
def test_export_dialog_sends_the_sr_to_pacs(
    window, qtbot: QtBot, orthanc: Uploaded, tmp_path: Path, how: str
) -> None:  # type: ignore[no-untyped-def]
    series = orthanc.demo.by_key("pre_t1")
    truth = json.loads(orthanc.demo.ground_truth_path.read_text("utf-8"))
    case = Case("APP-SEND")
    case.add_timepoint(Timepoint("pre", "pre-op", "2026-03-02"))
    case.assign_series(
        SeriesRef(series.series_uid, "pre", str(series.folder), series.description, series.modality)
    )
    for level, points in truth["series"][series.series_uid]["landmarks"].items():
        case.add_vertebra(
            "pre",
            level,
            "reference",
            {
                k: Landmark(tuple(p["position_mm"]), series.series_uid, p["sop_instance_uid"])
                for k, p in points.items()
            },
        )
    case_path = tmp_path / "case.json"
    save_case(case, case_path)
    with orthanc.server.keep_contents() as before:
        dialog = window.open_export_dialog(ask_save=lambda _q: False)
        qtbot.addWidget(dialog)
        dialog.set_include_current(False)
        dialog.add_case_files([case_path])
        dialog.set_format("sr")
        dialog.set_output(tmp_path / "sr")
        dialog.set_send_to(orthanc.server.dicomweb)
        with qtbot.waitSignal(dialog.exportFinished, timeout=60000) as blocker:
            assert dialog.start_export(), dialog.result_text()
        summary = blocker.args[0]
        assert summary.sent_to is not None and summary.send_error is None
        assert "Sent the SR to" in dialog.result_text()
        (written,) = (tmp_path / "sr").glob("*.dcm")
        new = set(orthanc.server.get_json("/instances")) - before  # type: ignore[arg-type]
        assert len(new) == 1
        tags = orthanc.server.get_json(f"/instances/{next(iter(new))}/simplified-tags")
        assert tags["SOPInstanceUID"] == str(pydicom.dcmread(written).SOPInstanceUID)  # type: ignore[index]
        assert tags["Modality"] == "SR"  # type: ignore[index]
        assert tags["StudyInstanceUID"] == str(orthanc.headers[series.series_uid].StudyInstanceUID)  # type: ignore[index]
