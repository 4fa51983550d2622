"""Opening and browsing: warnings in the browser, the cancel button, recent cases, window
presets, error dialogs, drag and drop, and the demo from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PySide6 import QtCore, QtGui, QtWidgets
from pytestqt.qtbot import QtBot

from dicomio.synthetic import phantom
from dicomio.synthetic.synth import SeriesSpec, sagittal_geometry, write_series
from tests.conftest import PROJECT_ROOT

T1_HEADER: dict[str, object] = {"ScanningSequence": "SE", "EchoTime": 11.0, "RepetitionTime": 550.0}


def _small_geometry(n: int = 5):  # type: ignore[no-untyped-def]
    """Sagittal slices 3 mm apart through the phantom's L1 (rows 0.8 mm, columns 0.6 mm)."""
    return sagittal_geometry(n, 90, 110, (0.8, 0.6), 3.0, (-9.0, 50.0, -335.0), anterior_on_right=False)


@pytest.fixture(scope="module")
def gap_and_mr(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CT series with its middle slice missing, and an MR T1 without a window in its files."""
    root = tmp_path_factory.mktemp("open")
    geom = _small_geometry()
    ct = SeriesSpec(modality="CT", description="SAG CT GAP", rescale_intercept=-1024.0)
    write_series(root / "gap", phantom.render(geom, "CT", "pre"), geom, ct)
    # The middle slice goes missing.
    x_mid = float(geom.slices[2].position_mm[0])
    (middle,) = [
        p
        for p in (root / "gap").iterdir()
        if abs(float(pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[0]) - x_mid) < 1e-6
    ]
    middle.unlink()
    mr = SeriesSpec(modality="MR", description="SAG T1", mr=T1_HEADER, series_number=3)
    write_series(root / "mr", phantom.render(geom, "T1", "pre"), geom, mr)
    return {"gap": root / "gap", "mr": root / "mr"}


def test_series_warnings_are_shown_in_the_browser(window, qtbot: QtBot, gap_and_mr) -> None:  # type: ignore[no-untyped-def]
    from app.browser import WARNING_COLOUR

    window.open_paths([gap_and_mr["gap"]])
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=30000)
    (key,) = window.browser.series_keys()
    warnings = window.session.summaries[key]["warnings"]
    assert any(w.startswith("Slice gap: 1 step(s)") for w in warnings), warnings
    text = window.browser.item_text(key)
    lines = text.splitlines()
    assert lines[0] == "SAG CT GAP"
    assert lines[1] == "CT · sagittal" and lines[2] == "4 images" and lines[3] == "0.80×0.60×3.0 mm"
    assert lines[4].startswith("⚠ Slice gap: 1 step(s)")  # the warning itself, wrapped, not elided
    assert " ".join(lines[4:]) == f"⚠ {warnings[0]}"
    item = window.browser._items[key]
    assert item.foreground(0).color() == WARNING_COLOUR
    assert "Slice gap" in item.toolTip(0)
    assert window.browser.has_thumbnail(key)


def test_cancel_button_stops_a_running_task_and_the_window_stays_responsive(window, qtbot: QtBot) -> None:  # type: ignore[no-untyped-def]
    from app import workers

    started = threading.Event()

    def long_load(progress, cancel):  # type: ignore[no-untyped-def]
        started.set()
        i = 0
        while not cancel():
            progress(i % 50, 50)
            i += 1
            time.sleep(0.005)  # the job's own work (a worker thread), not a wait in the test
        raise workers.CancelledError()

    task = workers.Task(long_load, "Loading SAG T2")
    ticks = []
    timer = QtCore.QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(5)
    window.runner.run(task, "Loading images…")
    assert started.wait(5)
    qtbot.waitUntil(lambda: window.progress.maximum() == 50, timeout=5000)
    assert window.progress.isVisible() and window.cancel_button.isVisible()
    assert window.progress.format().startswith("Loading images…")
    with qtbot.waitSignal(task.signals.cancelled, timeout=5000):
        qtbot.mouseClick(window.cancel_button, QtCore.Qt.MouseButton.LeftButton)
    timer.stop()
    assert task.is_cancelled
    assert ticks, "the event loop did not run while the task was working"
    assert not window.progress.isVisible() and not window.cancel_button.isVisible()
    assert window.statusBar().currentMessage() == "Loading SAG T2: cancelled"
    assert task not in window.tasks and window.errors == []


def test_window_presets_ct_and_mr_auto(window, qtbot: QtBot, phantom_series, gap_and_mr) -> None:  # type: ignore[no-untyped-def]
    from dicomio.windowing import auto_window

    window.open_paths([phantom_series["pre"]])
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=30000)
    names = [window.window_combo.itemText(i) for i in range(window.window_combo.count())]
    # The file's window equals the bone preset: one entry, the default on CT.
    assert names == ["file  (400/1800)", "CT soft tissue  (40/400)", names[2]]
    assert names[2].startswith("Auto  (")
    assert window.window_combo.currentIndex() == 0
    assert (window.viewer.window_level.center, window.viewer.window_level.width) == (400.0, 1800.0)
    window.window_combo.activated.emit(1)  # what choosing "CT soft tissue" does
    assert (window.viewer.window_level.center, window.viewer.window_level.width) == (40.0, 400.0)
    assert window.viewer.image.levels == pytest.approx([-160.0, 240.0])

    window.open_paths([gap_and_mr["mr"]])
    qtbot.waitUntil(lambda: len(window.session.library.stacks) == 2 and not window.tasks, timeout=30000)
    mr_uid = next(s.series_uid for s in window.session.library.stacks.values() if s.modality == "MR")
    window.show_series(mr_uid)
    qtbot.waitUntil(lambda: window.viewer.source.series_uid == mr_uid and not window.tasks, timeout=30000)
    auto = auto_window(window.session.library.display(mr_uid).volume())
    assert window.window_combo.currentText() == f"MR auto  ({auto.center:.0f}/{auto.width:.0f})"
    assert window.window_combo.count() == 1  # no file window, no CT preset on an MR
    assert window.viewer.window_level.center == pytest.approx(auto.center)
    assert window.viewer.window_level.width == pytest.approx(auto.width)


def test_opening_leaves_only_the_slice_to_the_gui_thread(  # type: ignore[no-untyped-def]
    window, qtbot: QtBot, gap_and_mr, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window presets (a pass over the voxels) and the spine's midline are found in the
    loading worker; the thumbnails start only once the series shown has loaded."""
    from app import series_controller

    events: list[tuple[str, bool]] = []
    real_presets, real_spine, real_load = (
        series_controller.display_presets,
        series_controller._spine_view,
        series_controller.load_volume,
    )

    def on_gui() -> bool:
        return threading.current_thread() is threading.main_thread()

    def presets(stack, volume):  # type: ignore[no-untyped-def]
        events.append(("presets" if volume is not None else "presets without voxels", on_gui()))
        return real_presets(stack, volume)

    def spine(*args):  # type: ignore[no-untyped-def]
        events.append(("spine", on_gui()))
        return real_spine(*args)

    def thumbnail(*args, **kwargs):  # type: ignore[no-untyped-def]
        events.append(("thumbnail", on_gui()))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(series_controller, "display_presets", presets)
    monkeypatch.setattr(series_controller, "_spine_view", spine)
    monkeypatch.setattr(series_controller, "load_volume", thumbnail)
    window.series.displayLoaded.connect(lambda _uid: events.append(("loaded", on_gui())))
    window.open_paths([gap_and_mr["mr"]])
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=30000)
    # An MR without a window of its own opens in the automatic window: found before showing.
    names = [name for name, _ in events]
    assert names == ["spine", "presets", "loaded", "thumbnail"], events
    assert [gui for _, gui in events] == [False, False, True, False]
    (key,) = window.browser.series_keys()
    assert window.browser.has_thumbnail(key)
    assert window.window_combo.currentText().startswith("MR auto  (")

    # A CT opens in the bone window at once; its automatic window follows in the background.
    window.open_paths([gap_and_mr["gap"]])
    qtbot.waitUntil(lambda: len(window.browser.series_keys()) == 2 and not window.tasks, timeout=30000)
    ct_uid = next(s.series_uid for s in window.session.library.stacks.values() if s.modality == "CT")
    events.clear()
    window.show_series(ct_uid)
    qtbot.waitUntil(lambda: window.viewer.source.series_uid == ct_uid and not window.tasks, timeout=30000)
    assert events == [
        ("spine", False),
        ("loaded", True),
        ("presets without voxels", True),
        ("presets", False),
    ]
    names_shown = [window.window_combo.itemText(i) for i in range(window.window_combo.count())]
    assert names_shown[-1].startswith("Auto  (") and window.window_combo.currentText().startswith("CT bone")
    assert (window.viewer.window_level.center, window.viewer.window_level.width) == (400.0, 1800.0)


def test_recent_cases_menu_reopens_a_saved_case(window, qtbot: QtBot, phantom_series, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from app import recovery

    window.open_paths([phantom_series["pre"]])
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=30000)
    window.set_level("L2")
    window.toggle_status("reference")
    path = tmp_path / "recent" / "case.json"
    path.parent.mkdir()
    assert window.save_to(path)
    assert recovery.recent_cases()[0] == path.resolve()
    saved = window.case
    window.set_case(type(saved)())  # another (empty) case is open now
    window.recent_menu.aboutToShow.emit()
    actions = [a for a in window.recent_menu.actions() if a.text() == str(path.resolve())]
    assert len(actions) == 1
    actions[0].trigger()
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=30000)
    assert window.case.same_content(saved)
    assert window.case.vertebra("pre-op", "L2").status == "reference"


def test_an_error_is_a_dialog_naming_the_file_and_the_reason(qtbot: QtBot, tmp_path: Path) -> None:
    from app.main_window import MainWindow

    win = MainWindow(close_decision=lambda: "discard")  # interactive: errors are dialogs
    qtbot.addWidget(win)
    win.show()
    bad = tmp_path / "damaged.json"
    bad.write_text("{ not json", encoding="utf-8")
    assert not win.open_case(bad)
    boxes = [b for b in win.findChildren(QtWidgets.QMessageBox) if b.isVisible()]
    assert len(boxes) == 1
    box = boxes[0]
    assert box.windowTitle() == "Cannot open case"
    assert str(bad) in box.text() and "not valid JSON" in box.text()
    assert "Traceback" not in box.text()
    assert box.isModal() or box.windowModality() != QtCore.Qt.WindowModality.NonModal
    box.accept()
    qtbot.waitUntil(lambda: not box.isVisible(), timeout=2000)


def test_folders_dropped_on_the_window_are_opened(window, qtbot: QtBot, phantom_series) -> None:  # type: ignore[no-untyped-def]
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(phantom_series["post"]))])
    pos = QtCore.QPointF(300, 300)
    enter = QtGui.QDragEnterEvent(
        pos.toPoint(),
        QtCore.Qt.DropAction.CopyAction,
        mime,
        QtCore.Qt.MouseButton.LeftButton,
        QtCore.Qt.KeyboardModifier.NoModifier,
    )
    QtWidgets.QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    text_only = QtCore.QMimeData()
    text_only.setText("not a file")
    refused = QtGui.QDragEnterEvent(
        pos.toPoint(),
        QtCore.Qt.DropAction.CopyAction,
        text_only,
        QtCore.Qt.MouseButton.LeftButton,
        QtCore.Qt.KeyboardModifier.NoModifier,
    )
    QtWidgets.QApplication.sendEvent(window, refused)
    assert not refused.isAccepted()
    drop = QtGui.QDropEvent(
        pos,
        QtCore.Qt.DropAction.CopyAction,
        mime,
        QtCore.Qt.MouseButton.LeftButton,
        QtCore.Qt.KeyboardModifier.NoModifier,
    )
    QtWidgets.QApplication.sendEvent(window, drop)
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=30000)
    assert [s.description for s in window.session.library.stacks.values()] == ["SAG CT POST"]


def test_demo_from_the_command_line_is_built_on_first_use_with_its_landmarks(tmp_path: Path) -> None:
    from measure.casefile import load_case

    home = tmp_path / "home"
    out = tmp_path / "demo.png"
    proc = subprocess.run(
        [sys.executable, "main.py", "--demo", "--screenshot", str(out)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "ENDPLATE_HOME": str(home)},
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr == ""
    image = QtGui.QImage(str(out))
    assert image.width() >= 1600 and image.height() >= 1000
    case = load_case(home / "demo" / "demo-case.json")  # generated into the user's data folder
    truth = json.loads((home / "demo" / "images" / "ground_truth.json").read_text(encoding="utf-8"))
    levels = sorted(truth["timepoints"]["pre"]["levels"])
    assert sorted(v.level for v in case.vertebrae("pre-op")) == levels
    assert all(v.complete_on(v.series[0]) for v in case.vertebrae())
    l1 = case.vertebra("pre-op", "L1")
    assert l1.status == "fractured"
    t1_uid = next(uid for uid, s in truth["series"].items() if s["key"] == "pre_t1")
    sup_ant = truth["series"][t1_uid]["landmarks"]["L1"]["sup_ant"]["position_mm"]
    np.testing.assert_allclose(l1.landmarks_on(l1.series[0])["sup_ant"].position_mm, sup_ant, atol=1e-9)
