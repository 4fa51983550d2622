"""The wrong-patient guard: a series of another patient joins the case only if the reader says so.

Real clicks on the viewer; the reader's answer to the dialog is injected
(``placement.patient_decision``), the rest is the window's own behaviour.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6 import QtCore
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from dicomio.synthetic import phantom
from dicomio.synthetic.synth import SeriesSpec, write_series
from tests.app.aim import click_pos
from tests.app.conftest import phantom_geometry

LEFT = QtCore.Qt.MouseButton.LeftButton
EXACT = QtCore.Qt.KeyboardModifier.AltModifier  # exactly where clicked (no snap): the clicks are under test


@pytest.fixture(scope="module")
def other_patient(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The phantom scanned for another patient (another study, name, ID and birth date)."""
    folder = tmp_path_factory.mktemp("other") / "ct"
    geom = phantom_geometry()
    spec = SeriesSpec(
        modality="CT",
        description="SAG CT OTHER",
        study_uid="1.2.826.0.1.3680043.8.498.77",
        rescale_intercept=-1024.0,
        patient_name="MARTIN^PAUL",
        patient_id="OTH0002",
        patient_birth_date="19600505",
    )
    write_series(folder, phantom.render(geom, "CT", "pre"), geom, spec)
    return folder


def _open(window, qtbot: QtBot, folder: Path) -> None:  # type: ignore[no-untyped-def]
    window.open_paths([folder])
    qtbot.waitUntil(lambda: not window.tasks and window.viewer.source is not None, timeout=30000)


def _click_first_point(window) -> None:  # type: ignore[no-untyped-def]
    truth = phantom.truth("pre")
    window.viewer.go_to_point(truth["L1"]["sup_ant"])
    window.set_level("L1")
    window.set_placing(True)
    QTest.mouseClick(
        window.viewer.canvas.viewport(), LEFT, EXACT, click_pos(window.viewer, truth["L1"]["sup_ant"])
    )


def test_another_patients_series_joins_only_when_the_reader_says_so(  # type: ignore[no-untyped-def]
    window, qtbot: QtBot, phantom_series, other_patient: Path
) -> None:
    asked: list[str] = []
    answers = ["cancel", "add"]
    window.placement.patient_decision = lambda sentence: (asked.append(sentence), answers.pop(0))[1]

    _open(window, qtbot, phantom_series["pre"])
    _click_first_point(window)
    qtbot.waitUntil(lambda: window.current_timepoint() is not None, timeout=5000)
    own_uid = window.viewer.source.series_uid
    assert window.case.patient.id == "DEMO0001"  # filled in from the first series' DICOM
    assert asked == []  # the case's own patient: nobody is asked

    window.open_paths([other_patient])
    qtbot.waitUntil(lambda: len(window.browser.series_keys()) == 2 and not window.tasks, timeout=30000)
    # Listed at once, with a warning naming both patients; the open series stays shown.
    assert "MARTIN^PAUL" in window.statusBar().currentMessage()
    assert window.viewer.source.series_uid == own_uid
    other = next(
        k for k in window.browser.series_keys() if window.session.library.stacks[k].series_uid != own_uid
    )
    other_uid = window.session.library.stacks[other].series_uid
    window.show_series(other)
    qtbot.waitUntil(lambda: window.viewer.source.series_uid == other_uid and not window.tasks, timeout=30000)

    # First click: the reader cancels; nothing joins the case, and the status bar says why.
    _click_first_point(window)
    assert len(asked) == 1 and "MARTIN^PAUL" in asked[0] and "DEMO^SPINE" in asked[0]
    assert window.case.series_ref(other_uid) is None
    assert window.case.landmarks("pre-op", "L1", other_uid) == {}
    assert window.statusBar().currentMessage().startswith("Not added to the case")

    # Second click: the reader adds it anyway; the case's patient stays the first one.
    _click_first_point(window)
    assert len(asked) == 2
    assert window.case.series_ref(other_uid) is not None
    tp = window.current_timepoint()
    assert set(window.case.landmarks(tp, "L1", other_uid)) == {"sup_ant"}
    assert window.case.patient.id == "DEMO0001"
    window.act_undo.trigger()  # the click and its assignment are one step
    assert window.case.series_ref(other_uid) is None


def test_a_new_case_is_started_for_the_other_patient(  # type: ignore[no-untyped-def]
    window, qtbot: QtBot, phantom_series, other_patient: Path
) -> None:
    window.placement.patient_decision = lambda _sentence: "new-case"
    _open(window, qtbot, phantom_series["pre"])
    _click_first_point(window)
    qtbot.waitUntil(lambda: window.current_timepoint() is not None, timeout=5000)
    first_case = window.case
    window.open_paths([other_patient])
    qtbot.waitUntil(lambda: len(window.browser.series_keys()) == 2 and not window.tasks, timeout=30000)
    other = next(k for k in window.browser.series_keys() if "OTHER" in window.browser.item_text(k))
    other_uid = window.session.library.stacks[other].series_uid
    window.show_series(other)
    qtbot.waitUntil(lambda: window.viewer.source.series_uid == other_uid and not window.tasks, timeout=30000)
    _click_first_point(window)
    # A new case (the first one had unsaved edits: the injected close decision discards them),
    # for the other patient, holding only its series; the series stay listed.
    assert window.case is not first_case
    assert window.case.patient.id == "OTH0002" and window.case.patient.name == "MARTIN^PAUL"
    assert [ref.series_uid for ref in window.case.series] == [other_uid]
    assert set(window.case.landmarks(window.current_timepoint(), "L1", other_uid)) == {"sup_ant"}
    assert len(window.browser.series_keys()) == 2
