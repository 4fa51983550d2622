"""Pre-op, post-op and a dated follow-up assigned from the UI; the compare view with three
viewers on the same level and the engine's deltas (correction, loss of correction)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore
from pytestqt.qtbot import QtBot

from app import commands
from app.coords import lps_to_scene
from dicomio.synthetic import phantom
from dicomio.synthetic.synth import SeriesSpec, write_series
from measure.landmarks import Landmark
from tests.app.conftest import phantom_geometry
from tests.handcalc import signed_vka_deg

LEFT = QtCore.Qt.MouseButton.LeftButton
#: The follow-up: L1's anterior superior corner 4 mm lower than after surgery (collapse).
COLLAPSE_MM = 4.0


@pytest.fixture(scope="module")
def follow_up_series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    geom = phantom_geometry()
    folder = tmp_path_factory.mktemp("follow_up") / "fu"
    spec = SeriesSpec(
        modality="CT",
        description="SAG CT FOLLOW-UP",
        study_uid="1.2.826.0.1.3680043.8.498.1.3",
        study_date="20260915",
        series_number=4,
        rescale_intercept=-1024.0,
        window_center=400,
        window_width=1800,
    )
    write_series(folder, phantom.render(geom, "CT", "post"), geom, spec)
    return folder


def _assign_with_the_ui(window, qtbot: QtBot, description: str, kind: str, date: str | None = None) -> None:  # type: ignore[no-untyped-def]
    key = next(k for k, s in window.session.library.stacks.items() if s.description == description)
    window.browser.select_key(key)
    window.assign_kind.setCurrentText(kind)
    assert window.assign_date.isEnabled() == (kind == "follow-up")
    if date is not None:
        window.assign_date.setDate(QtCore.QDate.fromString(date, "yyyy-MM-dd"))
    qtbot.mouseClick(window.assign_button, LEFT)


def _bbox_centre(viewer, pts: np.ndarray) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Scene centre (mm) of the landmarks' bounding box: where fit_points centres the view."""
    scene = np.array([lps_to_scene(p, viewer.source.geometry)[:2] for p in pts])
    x, y = (scene.min(axis=0) + scene.max(axis=0)) / 2
    return float(x), float(y)


def _place(window, tp: str, uid: str, points: dict, status: str) -> None:  # type: ignore[no-untyped-def, type-arg]
    sop = window.session.stack(uid).frames[1].sop_instance_uid  # the mid-sagittal slice
    window.undo_stack.beginMacro(f"landmarks {tp}")
    for level, keys in points.items():
        for key, p in keys.items():
            window.undo_stack.push(
                commands.PlaceLandmarkCommand(window.case, tp, level, key, Landmark(tuple(p), uid, sop))
            )
    window.undo_stack.push(commands.SetStatusCommand(window.case, tp, "L1", status))
    window.undo_stack.endMacro()


def test_follow_up_with_its_date_and_a_three_way_compare(
    window, qtbot: QtBot, phantom_series, follow_up_series: Path
) -> None:  # type: ignore[no-untyped-def]
    window.open_paths([phantom_series["pre"], phantom_series["post"], follow_up_series])
    qtbot.waitUntil(lambda: len(window.session.library.stacks) == 3 and not window.tasks, timeout=30000)
    _assign_with_the_ui(window, qtbot, "SAG CT PRE", "pre-op")
    _assign_with_the_ui(window, qtbot, "SAG CT POST", "post-op")
    key = next(k for k, s in window.session.library.stacks.items() if s.description == "SAG CT FOLLOW-UP")
    window.browser.select_key(key)
    window.assign_kind.setCurrentText("follow-up")
    assert window.assign_date.date().toString("yyyy-MM-dd") == "2026-09-15"  # its study date by default
    _assign_with_the_ui(window, qtbot, "SAG CT FOLLOW-UP", "follow-up", "2026-10-01")
    tps = {t.kind: t for t in window.case.timepoints}
    assert set(tps) == {"pre-op", "post-op", "follow-up"}
    assert tps["follow-up"].date == "2026-10-01" and tps["pre-op"].date == "2026-03-01"
    fu_uid = window.session.library.stacks[key].series_uid
    assert window.case.series_ref(fu_uid).timepoint == tps["follow-up"].id
    assert window.browser.currentItem().text(1) == "follow-up\n2026-10-01"
    window.act_undo.trigger()  # the follow-up assignment is one undoable step
    assert "follow-up" not in {t.kind for t in window.case.timepoints}
    window.act_redo.trigger()
    assert window.case.timepoint(tps["follow-up"].id).date == "2026-10-01"

    uid = {s.description: s.series_uid for s in window.session.library.stacks.values()}
    levels = ("T12", "L1", "L2")
    pre, post = phantom.truth("pre"), phantom.truth("post")
    follow_up = {lv: dict(post[lv]) for lv in levels}
    follow_up["L1"]["sup_ant"] = tuple(np.asarray(post["L1"]["sup_ant"]) + np.array([0.0, 0.0, -COLLAPSE_MM]))
    _place(window, "pre-op", uid["SAG CT PRE"], {lv: pre[lv] for lv in levels}, "fractured")
    _place(window, "post-op", uid["SAG CT POST"], {lv: post[lv] for lv in levels}, "treated")
    _place(window, tps["follow-up"].id, fu_uid, follow_up, "treated")

    window.set_compare(True)
    compare = window.compare
    qtbot.waitUntil(
        lambda: all(v.source is not None for v in compare.viewers) and not window.tasks, timeout=30000
    )
    assert compare.timepoints == ["pre-op", "post-op", tps["follow-up"].id]
    assert all(v.isVisible() for v in compare.viewers)
    assert [v.source.series_uid for v in compare.viewers] == [
        uid["SAG CT PRE"],
        uid["SAG CT POST"],
        fu_uid,
    ]
    assert compare.viewers[2].title.startswith("follow-up  2026-10-01")
    assert compare.level == "L1"
    # Synchronised: each viewer on the slice of its L1 landmarks, centred on them.
    for viewer, tp in zip(compare.viewers, compare.timepoints, strict=True):
        pts = np.array([lm.position_mm for lm in window.case.landmarks(tp, "L1").values()])
        assert viewer.slice_index == round(viewer.slice_of(pts.mean(axis=0)))
        centre = viewer.view.viewRect().center()
        x, y = _bbox_centre(viewer, pts)
        assert (centre.x(), centre.y()) == pytest.approx((x, y), abs=0.5)
    compare.level_combo.setCurrentText("L2")  # another level: all three follow
    for viewer, tp in zip(compare.viewers, compare.timepoints, strict=True):
        pts = np.array([lm.position_mm for lm in window.case.landmarks(tp, "L2").values()])
        centre = viewer.view.viewRect().center()
        x, y = _bbox_centre(viewer, pts)
        assert (centre.x(), centre.y()) == pytest.approx((x, y), abs=0.5)
    compare.level_combo.setCurrentText("L1")

    results = window.case.measure()
    vka = {tp: results.timepoints[tp].vertebrae["L1"].vka_deg.value for tp in compare.timepoints}
    ha = {tp: results.timepoints[tp].vertebrae["L1"].ha_mm.value for tp in compare.timepoints}
    header = [compare.deltas.horizontalHeaderItem(j).text() for j in range(compare.deltas.columnCount())]
    rows = {r[1]: dict(zip(header, r, strict=True)) for r in compare.delta_rows()}
    fu = tps["follow-up"].id
    assert set(rows) == {"pre-op → post-op", f"post-op → {fu}", f"pre-op → {fu}"}
    correction = rows["pre-op → post-op"]
    assert correction["Kind"] == "correction"
    assert correction["Correction (°)"].split(" ± ")[0] == f"{vka['pre-op'] - vka['post-op']:.1f}"
    level_truth = {tp: phantom.level_truth(tp)["L1"] for tp in ("pre", "post")}
    assert vka["pre-op"] - vka["post-op"] == pytest.approx(
        level_truth["pre"].vka_deg - level_truth["post"].vka_deg, abs=1e-6
    )
    loss = rows[f"post-op → {fu}"]
    assert loss["Kind"] == "loss of correction"
    assert loss["Loss of correction (°)"] == f"{vka[fu] - vka['post-op']:.1f}"  # beyond the 4.9° error
    assert vka[fu] - vka["post-op"] > 4.9
    # Signed against the hand computation: the collapse brings kyphosis back (a positive loss).
    expected_loss_deg = signed_vka_deg(follow_up["L1"]) - level_truth["post"].vka_deg
    assert vka[fu] == pytest.approx(signed_vka_deg(follow_up["L1"]), abs=1e-6)
    assert vka[fu] - vka["post-op"] == pytest.approx(expected_loss_deg, abs=1e-6) and expected_loss_deg > 4.9
    assert loss["ΔHa (mm)"].split(" ± ")[0] == f"{ha[fu] - ha['post-op']:.1f}"
    inf_ant = np.asarray(post["L1"]["inf_ant"])
    expected_loss_mm = np.linalg.norm(follow_up["L1"]["sup_ant"] - inf_ant) - np.linalg.norm(
        np.asarray(post["L1"]["sup_ant"]) - inf_ant
    )
    assert ha[fu] - ha["post-op"] == pytest.approx(expected_loss_mm, abs=1e-9)
    assert expected_loss_mm == pytest.approx(-COLLAPSE_MM, abs=0.2)
    # An unchanged level: its loss of correction is marked as within measurement error.
    panel = {(r[0], r[1]): r for r in window.panel.comparisons.rows()}
    assert panel[("T12", f"post-op → {fu}")][-1] == "≈ 0.0"
    assert panel[("L1", f"post-op → {fu}")][-1] == loss["Loss of correction (°)"]
    # The table shown is what delta_rows() says.
    shown = [
        [compare.deltas.item(i, j).text() for j in range(compare.deltas.columnCount())]
        for i in range(compare.deltas.rowCount())
    ]
    assert shown == compare.delta_rows()
