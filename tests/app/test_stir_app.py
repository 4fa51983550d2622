"""STIR edema in the app, on the demo case (small images): analysis off the GUI thread, the
panel's STIR columns, the bright-voxel overlay on the STIR view, the reader's decision."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets
from pytestqt.qtbot import QtBot
from skimage.measure import points_in_poly

from app.coords import scene_to_lps
from measure.case import StirDecision
from measure.edema import NO_CUTOFF_NOTE, OUTLINE_ORDER, default_choice_note
from session.case_images import CaseImages

WAIT_MS = 30000


@pytest.fixture(scope="module")
def demo_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.demo_case import ensure_demo_case

    return ensure_demo_case(tmp_path_factory.mktemp("stir_demo"), small=True)


def _truth(demo_case: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((demo_case.parent / "images" / "ground_truth.json").read_text(encoding="utf-8"))


def _series_uid(demo_case: Path, key: str) -> str:
    return next(uid for uid, s in _truth(demo_case)["series"].items() if s["key"] == key)


def _open_demo(window, qtbot: QtBot, demo_case: Path) -> None:  # type: ignore[no-untyped-def]
    assert window.open_case(demo_case)
    qtbot.waitUntil(
        lambda: window.viewer.source is not None and not window.tasks and "pre-op" in window.stir.results,
        timeout=WAIT_MS,
    )


def _row(window, timepoint: str, level: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    table = window.panel.vertebrae
    for row in table.rows():
        if row[0] == timepoint and row[1] == level:
            return dict(zip(table.header(), row, strict=True))
    raise AssertionError(f"no row for {timepoint} {level}")


def test_demo_opens_on_the_t1_landmarks_and_the_panel_shows_the_engine_stir(
    window, qtbot: QtBot, demo_case: Path
) -> None:  # type: ignore[no-untyped-def]
    _open_demo(window, qtbot, demo_case)
    t1_uid = _series_uid(demo_case, "pre_t1")
    assert window.viewer.source.series_uid == t1_uid  # the series that carries the landmarks
    assert {
        lm.series_uid for v in window.case.vertebrae("pre-op") for lm in v.landmarks_on(v.series[0]).values()
    } == {t1_uid}
    # The same numbers as the analysis run without the app (scanning the case's folders).
    engine = CaseImages(window.case).stir_results()["pre-op"]
    for level, flag in (("L1", "recent likely"), ("T12", "no")):
        row = _row(window, "pre-op", level)
        r = engine[level]
        assert row["Edema flag"] == flag
        assert row["SIR (STIR)"] == f"{r.sir:.2f}"
        assert row["Edema % (grade)"] == f"{100 * r.edema_fraction:.0f}% ({r.extent_grade})"
        assert row["Reader (STIR)"] == ""
        assert row["T1 ratio"] == f"{r.t1_ratio:.2f}"  # the T1 shares the STIR's frame of reference
    assert engine["L1"].flag is True and engine["L1"].extent_grade >= 1
    assert engine["L1"].t1_ratio < 0.9 < engine["T12"].t1_ratio  # edema is dark on T1
    assert engine["T12"].flag is False and engine["T12"].extent_grade == 0
    assert _row(window, "post-op", "L1")["Edema flag"] == "recency unknown: no STIR series"
    header = window.panel.vertebrae.horizontalHeaderItem(window.panel.vertebrae.header().index("Edema flag"))
    assert NO_CUTOFF_NOTE in header.toolTip() and default_choice_note() in header.toolTip()
    assert "SIR >= 1.3 or at least 10% of the body bright" in default_choice_note()
    # On the T1 the badge is a line of each vertebra's label, with the sentence as tooltip.
    badges = {v.level: v for v in window.overlay.state.vertebrae}
    assert badges["L1"].badge.startswith("edema: recent likely\n(SIR ")
    assert badges["T12"].badge.startswith("no edema")
    assert NO_CUTOFF_NOTE in badges["L1"].badge_tooltip

    # Landmark edits re-run the analysis (debounced, in a worker): without L1 it is gone.
    window.set_level("L1")
    window.delete_current_vertebra()
    qtbot.waitUntil(lambda: "L1" not in window.stir.results.get("pre-op", {}), timeout=WAIT_MS)
    window.act_undo.trigger()
    qtbot.waitUntil(lambda: "L1" in window.stir.results.get("pre-op", {}), timeout=WAIT_MS)
    assert window.stir.results["pre-op"]["L1"].flag is True


def _outline_pixels(window, level: str, geometry, k: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    points = [window.case.landmark("pre-op", level, key).position_mm for key in OUTLINE_ORDER]
    col, row, _ = geometry.slices[k].lps_to_pixel(np.array(points))
    return np.column_stack([col, row])


def test_overlay_on_the_stir_view_paints_l1_not_t12_and_toggles(
    window, qtbot: QtBot, demo_case: Path
) -> None:  # type: ignore[no-untyped-def]
    _open_demo(window, qtbot, demo_case)
    stir_uid = _series_uid(demo_case, "pre_stir")
    assert window.stir.show_stir_view()
    qtbot.waitUntil(
        lambda: window.viewer.source is not None and window.viewer.source.series_uid == stir_uid,
        timeout=WAIT_MS,
    )
    qtbot.waitUntil(lambda: not window.tasks, timeout=WAIT_MS)
    viewer, layer = window.viewer, window.stir.layer
    stir_geom = window.session.stack(stir_uid).geometry
    k = layer.stir_slice
    assert k == viewer.slice_index  # the STIR itself: its own slice
    painted = layer.overlay_pixels()
    assert painted is not None and painted.shape == (stir_geom.first.rows, stir_geom.first.columns)
    rows, cols = np.nonzero(painted)
    assert rows.size > 0
    # Each painted pixel centre, through the item's transform to the view (mm) and from there
    # to patient space, must fall inside L1's outline on that STIR slice, and none in T12's.
    lps = []
    for r, c in zip(rows, cols, strict=True):
        p = viewer.view.mapFromItemToView(layer.image, QtCore.QPointF(c + 0.5, r + 0.5))
        lps.append(scene_to_lps(p.x(), p.y(), viewer.slice_index, viewer.source.geometry))
    col, row, dist = stir_geom.slices[k].lps_to_pixel(np.array(lps))
    assert np.allclose(col, cols, atol=1e-6) and np.allclose(row, rows, atol=1e-6)
    assert np.allclose(dist, 0.0, atol=1e-6)
    centres = np.column_stack([col, row])
    assert points_in_poly(centres, _outline_pixels(window, "L1", stir_geom, k)).all()
    assert not points_in_poly(centres, _outline_pixels(window, "T12", stir_geom, k)).any()
    assert layer.image.isVisible()
    texts = layer.badge_texts()
    assert any(t.startswith("L1 · edema: recent likely") for t in texts)
    assert any(t.startswith("T12 · no edema") for t in texts)

    assert window.stir.act_overlay.shortcut().toString() == "E"
    window.stir.act_overlay.trigger()  # off
    assert layer.overlay_pixels() is None and not layer.image.isVisible()
    window.stir.act_overlay.trigger()  # on again
    assert np.array_equal(layer.overlay_pixels(), painted)


def test_reader_override_is_undoable_and_saved(window, qtbot: QtBot, demo_case: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from measure.casefile import load_case

    _open_demo(window, qtbot, demo_case)
    dialog = window.stir.edit_decision("pre-op", "L1")  # a child of the window (deleted on close)
    assert dialog is not None and dialog.parent() is window and dialog.isVisible()
    labels = [w.text() for w in dialog.findChildren(QtWidgets.QLabel)]
    assert NO_CUTOFF_NOTE in labels
    assert default_choice_note() in labels  # how the default was chosen, in the UI too
    assert any(t.startswith("edema: recent likely") for t in labels)
    note = "old fracture: fatty marrow on T1"
    dialog.choose("overridden-not-recent", note)
    dialog.button_box.button(QtWidgets.QDialogButtonBox.StandardButton.Ok).click()
    decided = StirDecision("overridden-not-recent", note)
    assert window.case.stir_decision("pre-op", "L1") == decided
    assert _row(window, "pre-op", "L1")["Reader (STIR)"] == "override: not recent"
    assert _row(window, "pre-op", "L1")["Edema flag"] == "recent likely"  # the tool's flag stays
    assert window.stir.results["pre-op"]["L1"].recent is False
    label = {v.level: v for v in window.overlay.state.vertebrae}["L1"]
    assert label.badge.startswith("reader: not recent")
    assert note in label.badge_tooltip

    window.act_undo.trigger()
    assert window.case.stir_decision("pre-op", "L1") is None
    assert _row(window, "pre-op", "L1")["Reader (STIR)"] == ""
    window.act_redo.trigger()
    assert window.case.stir_decision("pre-op", "L1") == decided

    saved = tmp_path / "case.json"
    assert window.save_to(saved)
    again = load_case(saved)
    assert again.stir_decision("pre-op", "L1") == decided
    reopened = CaseImages(again).stir_results()["pre-op"]["L1"]
    assert reopened.reader_decision == StirDecision("overridden-not-recent", note)
    assert reopened.flag is True and reopened.recent is False


def test_a_case_without_stir_says_recency_unknown_once(window, qtbot: QtBot, phantom_series) -> None:  # type: ignore[no-untyped-def]
    from app.measure_panel import NO_STIR_MESSAGE

    window.open_paths([phantom_series["pre"]])
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=WAIT_MS)
    window.set_level("L1")
    window.toggle_status("fractured")  # the vertebra exists: the analysis has something to say
    tp = window.current_timepoint()
    qtbot.waitUntil(lambda: "L1" in window.stir.results.get(tp, {}), timeout=WAIT_MS)
    result = window.stir.results[tp]["L1"]
    assert result.flag is None and "recency unknown: no STIR series" in result.message
    # Without a STIR the edema tools stay out of the way: no STIR columns, no badge on the
    # labels, no edema actions; one line under the tables says the age is not assessed.
    row = _row(window, tp, "L1")
    assert "Edema flag" not in row and "T1 ratio" not in row and row["Level"] == "L1"
    assert NO_STIR_MESSAGE in window.panel.message.text()
    assert all(v.badge == "" for v in window.overlay.state.vertebrae)
    assert not window.stir.act_overlay.isVisible() and not window.stir.act_decision.isVisible()
    assert window.stir.layer.content is None  # nothing to draw on a CT
    # The registry still gets the status (the export reads the results, not the panel).
    assert window.session.stir[tp]["L1"].status == "no-stir"
