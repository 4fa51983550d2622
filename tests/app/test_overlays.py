"""The landmark overlays on the demo case: labels behind the spine, constant-size handles,
H hides them, a slice step moves items instead of rebuilding them.

Every expected position is computed here from the DICOM geometry (``tests/app/aim.py``:
ImagePositionPatient, the direction cosines, PixelSpacing, the viewer's visible range), and
every drawn position is read from the items as Qt maps them to the viewport.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from tests.app.aim import lps_to_pixel, lps_to_viewport, move_mouse

ANTERIOR_LPS = np.array([0.0, -1.0, 0.0])  # DICOM LPS: +y is posterior
CORNERS = ("sup_ant", "sup_post", "inf_post", "inf_ant")


@pytest.fixture(scope="module")
def demo_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.demo_case import ensure_demo_case

    return ensure_demo_case(tmp_path_factory.mktemp("demo"), small=True)


@pytest.fixture
def shown(window, qtbot: QtBot, demo_case: Path):  # type: ignore[no-untyped-def]
    from app.gui import open_initial

    assert open_initial(window, [demo_case], demo=False)
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=30000)
    tp = window.current_timepoint()
    uid = window.viewer.source.series_uid
    points = {
        v.level: {k: np.asarray(lm.position_mm, dtype=float) for k, lm in v.landmarks_on(uid).items()}
        for v in window.case.vertebrae(tp)
        if v.landmarks_on(uid)
    }
    assert len(points) >= 4  # several levels
    return window, points


def _viewport_rect(viewer, item) -> QtCore.QRectF:  # type: ignore[no-untyped-def]
    return viewer.canvas.viewportTransform().mapRect(item.sceneBoundingRect())


def _convex_hull(pts: np.ndarray) -> np.ndarray:
    pts = sorted(map(tuple, pts))
    if len(pts) < 3:
        return np.array(pts)

    def cross(o, a, b) -> float:  # type: ignore[no-untyped-def]
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.array(lower[:-1] + upper[:-1])


def _intersects(rect: QtCore.QRectF, polygon: np.ndarray) -> bool:
    """Separating-axis test between a rectangle and a convex polygon (viewport pixels)."""
    box = np.array(
        [
            [rect.left(), rect.top()],
            [rect.right(), rect.top()],
            [rect.right(), rect.bottom()],
            [rect.left(), rect.bottom()],
        ]
    )
    for shape in (box, polygon):
        for i in range(len(shape)):
            edge = shape[(i + 1) % len(shape)] - shape[i]
            axis = np.array([-edge[1], edge[0]])
            a, b = box @ axis, polygon @ axis
            if a.max() < b.min() or b.max() < a.min():
                return False
    return True


def _forbidden(viewer, pts: dict[str, np.ndarray]) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The body quadrilateral swept 60 mm anteriorly (the prevertebral tissue, the aorta)."""
    corners = [pts[k] for k in CORNERS]
    out = []
    for p in corners + [p + 60.0 * ANTERIOR_LPS for p in corners]:
        q = lps_to_viewport(viewer, p)
        out.append((q.x(), q.y()))
    return _convex_hull(np.array(out))


def _check_labels(window, points) -> None:  # type: ignore[no-untyped-def]
    viewer = window.viewer
    labels = window.overlay.labels()
    assert set(points) <= set(labels)
    rects = {}
    for level, pts in points.items():
        label = labels[level]
        assert label.isVisible()
        rect = _viewport_rect(viewer, label)
        rects[level] = rect
        assert rect.width() > 20 and rect.height() > 10
        for other, other_pts in points.items():  # no body at all, nor in front of one
            assert not _intersects(rect, _forbidden(viewer, other_pts)), (level, other)
        # The leader goes from the label's edge to this vertebra's posterior wall.
        x, y = window.overlay.leader(level).getData()
        ends = [
            viewer.canvas.mapFromScene(viewer.view.mapViewToScene(QtCore.QPointF(x[i], y[i])))
            for i in (0, -1)
        ]
        wall = lps_to_viewport(viewer, (pts["sup_post"] + pts["inf_post"]) / 2)
        assert abs(ends[1].x() - wall.x()) <= 1 and abs(ends[1].y() - wall.y()) <= 1
        grown = rect.adjusted(-1.5, -1.5, 1.5, 1.5)
        assert grown.contains(QtCore.QPointF(ends[0])) and not rect.adjusted(2, 2, -2, -2).contains(
            QtCore.QPointF(ends[0])
        )
    for key, label in labels.items():  # the regional angle's label too
        if key not in rects and label.isVisible():
            rects[key] = _viewport_rect(viewer, label)
    keys = list(rects)
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            assert not rects[a].intersects(rects[b]), (a, b)


def test_labels_sit_behind_the_spine_apart_with_leaders_at_two_zooms(shown, qtbot: QtBot) -> None:  # type: ignore[no-untyped-def]
    window, points = shown
    viewer = window.viewer
    # Posterior is on the screen side opposite anterior (from the geometry, test-side).
    some = next(iter(points.values()))["sup_post"]
    anterior_dx = lps_to_viewport(viewer, some + 10 * ANTERIOR_LPS).x() - lps_to_viewport(viewer, some).x()
    assert abs(anterior_dx) > 5
    _check_labels(window, points)
    for level, pts in points.items():
        rect = _viewport_rect(viewer, window.overlay.labels()[level])
        wall_x = max(
            (lps_to_viewport(viewer, p).x() for p in pts.values()), key=lambda x: -np.sign(anterior_dx) * x
        )
        if anterior_dx > 0:
            assert rect.right() < wall_x
        else:
            assert rect.left() > wall_x
    size_before = _viewport_rect(viewer, window.overlay.labels()["L1"]).size()
    mm_before = viewer.view.viewPixelSize()[0]
    viewer.view.scaleBy((0.5, 0.5))  # zoom in 2x
    assert viewer.view.viewPixelSize()[0] < 0.6 * mm_before
    _check_labels(window, points)
    size_after = _viewport_rect(viewer, window.overlay.labels()["L1"]).size()
    assert (
        abs(size_after.width() - size_before.width()) < 1
        and abs(size_after.height() - size_before.height()) < 1
    )


def test_handles_keep_their_screen_size_and_sit_on_the_points(shown, qtbot: QtBot) -> None:  # type: ignore[no-untyped-def]
    window, points = shown
    viewer = window.viewer
    sizes = []
    for scale in (1.0, 0.4):
        viewer.view.scaleBy((scale, scale))
        mm_per_px = viewer.view.viewPixelSize()[0]
        for level, pts in points.items():
            for key, p in pts.items():
                handle = window.overlay.handles[(level, key)]
                rect = _viewport_rect(viewer, handle)
                centre = lps_to_viewport(viewer, p)
                assert rect.center().x() == pytest.approx(centre.x(), abs=0.75)
                assert rect.center().y() == pytest.approx(centre.y(), abs=0.75)
                sizes.append((mm_per_px, rect.width(), rect.height()))
    zooms = sorted({round(s[0], 6) for s in sizes})
    assert len(zooms) == 2 and zooms[1] / zooms[0] > 2  # two zoom levels really shown
    widths = [w for _z, w, _h in sizes]
    assert max(widths) - min(widths) < 0.5
    assert min(widths) >= 7 and max(widths) <= 11  # ~9 px: the corner stays visible


def _menu_action(window, text: str):  # type: ignore[no-untyped-def]
    for menu_action in window.menuBar().actions():
        if menu_action.text().replace("&", "") == "View":
            for a in menu_action.menu().actions():
                if a.text().replace("&", "") == text:
                    return a
    raise AssertionError(f"no View > {text}")


def test_h_and_the_view_menu_hide_and_show_every_overlay(shown, qtbot: QtBot) -> None:  # type: ignore[no-untyped-def]
    window, points = shown
    action = _menu_action(window, "Hide overlays")
    assert action.isCheckable() and not action.isChecked()
    on_slice = [window.overlay.handles[(lv, k)] for lv, pts in points.items() for k in pts]
    assert all(h.isVisible() for h in on_slice) and all(
        lb.isVisible() for lb in window.overlay.labels().values()
    )
    window.viewer.setFocus()
    QTest.keyClick(window.viewer, QtCore.Qt.Key.Key_H)
    qtbot.waitUntil(lambda: action.isChecked(), timeout=2000)
    assert not any(item.isVisible() for item in window.overlay.items())
    assert window.overlay.items()  # hidden, not removed
    QTest.keyClick(window.viewer, QtCore.Qt.Key.Key_H)
    qtbot.waitUntil(lambda: not action.isChecked(), timeout=2000)
    assert all(h.isVisible() for h in on_slice) and all(
        lb.isVisible() for lb in window.overlay.labels().values()
    )
    action.trigger()
    assert not window.overlay.is_visible() and not any(h.isVisible() for h in on_slice)
    window.overlay.set_visible(True)  # the layer's own API keeps the menu in sync
    assert not action.isChecked() and all(h.isVisible() for h in on_slice)


def test_a_slice_step_keeps_the_items_and_their_positions(shown, qtbot: QtBot) -> None:  # type: ignore[no-untyped-def]
    window, points = shown
    viewer = window.viewer
    k0 = viewer.slice_index
    before = {id(item) for item in window.overlay.items()}
    spacing = viewer.source.geometry.slice_spacing_mm
    n = len(viewer.source.geometry.slices)
    assert n >= 5
    steps = [k for k in (k0 + 1, k0 + 2, k0 - 1, k0 - 2, k0) if 0 <= k < n]
    assert len(steps) >= 4, (k0, n)
    for k in steps:
        with qtbot.waitSignal(viewer.sliceChanged, timeout=2000):
            viewer.set_slice(k)
        assert viewer.slice_index == k
        assert {id(item) for item in window.overlay.items()} == before
        for level, pts in points.items():
            for key, p in pts.items():
                handle = window.overlay.handles[(level, key)]
                # Distance of the point to the slice shown, in slices, from the geometry.
                d = abs(lps_to_pixel(p, viewer.source.geometry.slices[k])[2]) / spacing
                assert handle.isVisible() == (d <= 1.5), (k, level, key, d)
                if d <= 1.5:
                    assert handle.opacity() == pytest.approx(1.0 if d <= 0.5 else 0.3)
                    rect = _viewport_rect(viewer, handle)
                    centre = lps_to_viewport(viewer, p, k)
                    assert rect.center().x() == pytest.approx(centre.x(), abs=0.75)
                    assert rect.center().y() == pytest.approx(centre.y(), abs=0.75)
    # The endplate lines join their corners (viewport, test-side).
    for level, pts in points.items():
        ends = {
            (round(q.x()), round(q.y()))
            for q in (lps_to_viewport(viewer, pts[a]) for a in ("sup_ant", "sup_post"))
        }
        found = False
        for line in window.overlay.lines():
            x, y = line.getData()
            if x is None or len(x) != 2:
                continue
            got = {
                (round(q.x()), round(q.y()))
                for q in (
                    viewer.canvas.mapFromScene(viewer.view.mapViewToScene(QtCore.QPointF(x[i], y[i])))
                    for i in (0, 1)
                )
            }
            found = found or got == ends
        assert found, level


def test_a_label_dragged_by_the_reader_stays_moved(shown, qtbot: QtBot) -> None:  # type: ignore[no-untyped-def]
    window, points = shown
    viewer = window.viewer
    window.set_placing(False)
    label = window.overlay.labels()["L2"]
    start_rect = _viewport_rect(viewer, label)
    start = start_rect.center().toPoint()
    end = start + QtCore.QPoint(40, 25)
    viewport = viewer.canvas.viewport()
    centre_before = window.viewer.window_level
    QTest.mousePress(viewport, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier, start)
    for f in np.linspace(0.1, 1.0, 6):
        move_mouse(qtbot, viewer, start + QtCore.QPoint(round(40 * f), round(25 * f)))
    QTest.mouseRelease(viewport, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier, end)
    moved = _viewport_rect(viewer, label)
    assert moved.left() - start_rect.left() == pytest.approx(40, abs=2)
    assert moved.top() - start_rect.top() == pytest.approx(25, abs=2)
    assert window.viewer.window_level == centre_before  # the drag moved the label, not the window
    # The leader still ends at L2's posterior wall; a slice step and back keep the offset.
    for k in (viewer.slice_index + 1, viewer.slice_index):
        viewer.set_slice(k)
    again = _viewport_rect(viewer, window.overlay.labels()["L2"])
    assert again.left() == pytest.approx(moved.left(), abs=0.5) and again.top() == pytest.approx(
        moved.top(), abs=0.5
    )
    x, y = window.overlay.leader("L2").getData()
    end_pt = viewer.canvas.mapFromScene(viewer.view.mapViewToScene(QtCore.QPointF(x[-1], y[-1])))
    wall = lps_to_viewport(viewer, (points["L2"]["sup_post"] + points["L2"]["inf_post"]) / 2)
    assert abs(end_pt.x() - wall.x()) <= 1 and abs(end_pt.y() - wall.y()) <= 1
