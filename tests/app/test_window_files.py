"""Opening folders with bad files, the compare view, recovery, screenshots."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtGui
from pytestqt.qtbot import QtBot

from tests.app.aim import lps_to_viewport
from tests.conftest import PROJECT_ROOT


@pytest.fixture(scope="session")
def demo_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo case (small images) with the landmarks from ground_truth.json."""
    from app.demo_case import ensure_demo_case

    return ensure_demo_case(tmp_path_factory.mktemp("demo"), small=True)


def test_folder_with_bad_files_lists_them_and_keeps_the_gui_responsive(
    window, qtbot: QtBot, phantom_series
) -> None:  # type: ignore[no-untyped-def]
    ticks = []
    timer = QtCore.QTimer()
    timer.setInterval(1)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    window.open_paths([phantom_series["bad"]])
    # open_paths returned at once: the scan is running in a worker, nothing is shown yet.
    assert window.tasks and window.browser.series_keys() == []
    with qtbot.waitSignal(window.scanFinished, timeout=30000):
        pass
    timer.stop()
    assert ticks, "the event loop did not run while the scan was in progress"
    rows = dict((Path(p).name, reason) for p, reason in window.skipped_panel.rows())
    assert set(rows) == {"notes.txt", "truncated.dcm"}
    assert rows["notes.txt"].startswith("not DICOM")
    assert rows["truncated.dcm"].startswith("truncated")
    # The reader is told in the status bar, and the list opens on a click, not over the image.
    assert window.skipped_button.isVisible() and window.skipped_button.text() == "2 files skipped"
    assert not window.skipped_dock.isVisible()
    qtbot.mouseClick(window.skipped_button, QtCore.Qt.MouseButton.LeftButton)
    assert window.skipped_dock.isVisible()
    assert len(window.browser.series_keys()) == 1  # the good series is still loaded
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=30000)
    assert window.browser.has_thumbnail(window.browser.series_keys()[0])


def test_compare_view_shows_the_engine_deltas(window, qtbot: QtBot, demo_case: Path) -> None:  # type: ignore[no-untyped-def]
    from app.measure_panel import fmt

    assert window.open_case(demo_case)
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=30000)
    window.set_compare(True)
    qtbot.waitUntil(
        lambda: all(v.source is not None for v in window.compare.viewers[:2]) and not window.tasks,
        timeout=30000,
    )
    compare = window.compare
    assert compare.timepoints == ["pre-op", "post-op"]
    assert compare.level == "L1"  # the fractured level comes first
    results = window.case.measure()
    pre = results.timepoints["pre-op"].vertebrae["L1"]
    post = results.timepoints["post-op"].vertebrae["L1"]
    rows = compare.delta_rows()
    assert len(rows) == 1
    row = dict(
        zip(
            [compare.deltas.horizontalHeaderItem(j).text() for j in range(compare.deltas.columnCount())],
            rows[0],
            strict=True,
        )
    )
    assert row["From → to"] == "pre-op → post-op"
    correction = pre.vka_deg.value - post.vka_deg.value  # clinical definition: VKA_pre - VKA_post
    assert row["Correction (°)"].lstrip("≈ ").split(" ± ")[0] == fmt(correction)
    assert row["ΔHa (mm)"].lstrip("≈ ").split(" ± ")[0] == fmt(post.ha_mm.value - pre.ha_mm.value)
    # The demo's ground truth (ground_truth.json): the pre-op landmarks sit on the T1 MR, the
    # post-op ones on the CT, both at the phantom's exact positions.
    truth = json.loads((demo_case.parent / "images" / "ground_truth.json").read_text(encoding="utf-8"))
    levels = {tp: truth["timepoints"][tp]["levels"]["L1"] for tp in ("pre", "post")}
    t1_uid = next(uid for uid, s in truth["series"].items() if s["key"] == "pre_t1")
    assert {lm.series_uid for lm in window.case.landmarks("pre-op", "L1").values()} == {t1_uid}
    truth_gain = levels["post"]["heights_mm"]["Ha"] - levels["pre"]["heights_mm"]["Ha"]
    truth_correction = levels["pre"]["vka_deg"] - levels["post"]["vka_deg"]
    # Exact landmarks: the engine's numbers are the truth to rounding (was abs=0.02).
    assert post.ha_mm.value - pre.ha_mm.value == pytest.approx(truth_gain, abs=1e-6)
    assert correction == pytest.approx(truth_correction, abs=1e-6) and correction > 5.0
    # Both viewers show L1, each on its own timepoint's landmarks.
    for viewer, tp in zip(compare.viewers[:2], ("pre-op", "post-op"), strict=True):
        pts = np.array([lm.position_mm for lm in window.case.landmarks(tp, "L1").values()])
        assert viewer.slice_index == round(viewer.slice_of(pts.mean(axis=0)))
    assert {o.level for o in compare.layers[1].state.vertebrae} >= {"L1", "L2"}


def test_autosave_then_recovery_after_a_crash(window, qtbot: QtBot, demo_case: Path) -> None:  # type: ignore[no-untyped-def]
    from app import recovery
    from app.gui import offer_recovery
    from app.main_window import MainWindow

    assert window.open_case(demo_case)
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=30000)
    assert recovery.pending_recovery() is None
    window.set_level("L2")
    window.toggle_status("fractured")
    assert window.autosaver.save_now() is not None
    assert window.case.dirty  # a recovery copy is not a save
    crashed = window.case  # the window is not closed: as if the process died

    again = MainWindow(interactive_errors=False, close_decision=lambda: "discard")
    qtbot.addWidget(again)
    asked = []
    assert offer_recovery(again, lambda p: asked.append(p) or True)
    assert asked == [recovery.recovery_path()]
    assert again.case.same_content(crashed)
    assert again.case.file_path == demo_case.absolute()
    assert again.isWindowModified()
    qtbot.waitUntil(lambda: not again.tasks, timeout=30000)
    again.close()
    assert recovery.pending_recovery() is None  # a normal close removes it


def _colour_near(image: QtGui.QImage, x: int, y: int, rgb: tuple[int, int, int], radius: int = 7) -> bool:
    """True when a pixel within ``radius`` has (nearly) the overlay colour ``rgb``."""
    for dx in range(-radius, radius + 1):
        for dy in range(-radius, radius + 1):
            c = image.pixelColor(x + dx, y + dy)
            if abs(c.red() - rgb[0]) + abs(c.green() - rgb[1]) + abs(c.blue() - rgb[2]) < 40:
                return True
    return False


def test_screenshot_has_overlays_at_the_landmarks(
    window, qtbot: QtBot, demo_case: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from app.gui import finish_screenshot, open_initial
    from app.overlays import STATUS_COLOURS

    assert open_initial(window, [demo_case], demo=False)
    out = tmp_path / "shot.png"
    viewer = window.viewer
    qtbot.waitUntil(lambda: viewer.source is not None and not window.tasks, timeout=30000)
    tp = window.current_timepoint()
    vertebra = window.case.vertebra(tp, "L1")
    colour = STATUS_COLOURS[vertebra.status]  # fractured: orange
    assert colour == (255, 120, 40)
    points = {k: lm.position_mm for k, lm in vertebra.landmarks_on(vertebra.series[0]).items()}
    origin = QtCore.QPointF(viewer.canvas.viewport().mapTo(window, QtCore.QPoint(0, 0)))
    to_window = {k: lps_to_viewport(viewer, p) + origin for k, p in points.items()}
    assert finish_screenshot(window, out, expect_content=True) == 0
    image = QtGui.QImage(str(out))
    assert not image.isNull() and out.stat().st_size > 10000
    ratio = image.width() / window.width()  # device pixel ratio
    for key, pos in to_window.items():
        assert _colour_near(image, round(pos.x() * ratio), round(pos.y() * ratio), colour), key
    # ... and not where there is no landmark (the middle of the disc 15 mm anterior).
    empty = lps_to_viewport(viewer, np.asarray(points["inf_ant"]) + np.array([0.0, -15.0, 0.0])) + origin
    assert not _colour_near(image, round(empty.x() * ratio), round(empty.y() * ratio), colour, radius=2)
    image.save("/tmp/endplate-test-shot.png")


def test_screenshot_flag_end_to_end(demo_case: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli.png"
    proc = subprocess.run(
        [sys.executable, "main.py", str(demo_case), "--screenshot", str(out)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert QtGui.QImage(str(out)).width() > 800


def test_assign_timepoints_drop_a_folder_and_export_a_key_image(
    window, qtbot: QtBot, phantom_series, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    mime = QtCore.QMimeData()
    mime.setUrls(
        [
            QtCore.QUrl.fromLocalFile(str(phantom_series["pre"])),
            QtCore.QUrl.fromLocalFile(str(phantom_series["post"])),
        ]
    )
    drop = QtGui.QDropEvent(
        QtCore.QPointF(200, 200),
        QtCore.Qt.DropAction.CopyAction,
        mime,
        QtCore.Qt.MouseButton.LeftButton,
        QtCore.Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(drop)
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=30000)
    assert len(window.browser.series_keys()) == 2
    uids = sorted(window.session.library.stacks[k].series_uid for k in window.browser.series_keys())
    pre_uid = next(u for u in uids if window.session.stack(u).description.endswith("PRE"))
    post_uid = next(u for u in uids if u != pre_uid)
    window.assign_series(pre_uid, "pre-op", "2026-03-01")
    window.assign_series(post_uid, "post-op", "2026-03-09")
    kinds = {t.kind: t.date for t in window.case.timepoints}
    assert kinds == {"pre-op": "2026-03-01", "post-op": "2026-03-09"}
    assert window.case.series_ref(post_uid).timepoint == "post-op"
    window.undo_stack.undo()  # one undo step per assignment
    assert window.case.series_ref(post_uid) is None
    out = window.export_key_image(tmp_path / "key.png")
    image = QtGui.QImage(str(out))
    assert image.size() == window.viewer.size() * window.viewer.devicePixelRatio()


def test_thumbnails_and_selection_survive_a_second_scan(window, qtbot: QtBot, phantom_series) -> None:  # type: ignore[no-untyped-def]
    window.open_paths([phantom_series["pre"]])
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=30000)
    (first,) = window.browser.series_keys()
    qtbot.waitUntil(lambda: window.browser.has_thumbnail(first), timeout=30000)
    window.browser.select_key(first)
    icon_key = window.browser._items[first].icon(0).cacheKey()
    window.open_paths([phantom_series["post"]])
    qtbot.waitUntil(lambda: len(window.browser.series_keys()) == 2 and not window.tasks, timeout=30000)
    second = next(k for k in window.browser.series_keys() if k != first)
    qtbot.waitUntil(lambda: window.browser.has_thumbnail(second), timeout=30000)
    # The first series' thumbnail is the same picture (kept, not lost nor remade), still selected.
    assert window.browser._items[first].icon(0).cacheKey() == icon_key
    assert window.browser.current_key() == first
    assert window.viewer.source.series_uid == window.session.library.stacks[first].series_uid
