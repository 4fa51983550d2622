"""The slice viewer on its own: true proportions, clicks in LPS, slices, window, labels."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from app.viewer import SliceViewer, VolumeSource
from dicomio.synthetic.synth import sagittal_geometry
from tests.app.aim import click_pos, lps_to_viewport, move_mouse


@pytest.fixture
def viewer(qtbot: QtBot) -> SliceViewer:
    # Anterior on the right, rows 0.5 mm, columns 1.0 mm, 5 slices 3 mm apart along +X.
    geom = sagittal_geometry(5, 100, 160, (0.5, 1.0), 3.0, (10.0, 20.0, 30.0), anterior_on_right=True)
    volume = np.arange(np.prod(geom.shape), dtype=np.float32).reshape(geom.shape)
    v = SliceViewer()
    qtbot.addWidget(v)
    v.resize(800, 500)
    v.show()
    qtbot.waitExposed(v)
    v.set_source(VolumeSource(geom, volume, "1.2.3", tuple(f"sop{k}" for k in range(5))))
    return v


def test_true_proportions_in_mm(viewer: SliceViewer) -> None:
    # 160 columns x 1.0 mm by 100 rows x 0.5 mm: the image is 160 mm by 50 mm in the scene.
    rect = viewer.image.mapRectToView(viewer.image.boundingRect())
    assert (rect.width(), rect.height()) == pytest.approx((160.0, 50.0))
    a = viewer.lps_to_widget((12.0, 20.0, 30.0))
    b = viewer.lps_to_widget((12.0, 0.0, 30.0))  # 20 mm anterior
    c = viewer.lps_to_widget((12.0, 20.0, 10.0))  # 20 mm inferior
    assert b.x() - a.x() == pytest.approx(c.y() - a.y(), abs=1)  # same mm, same pixels
    assert b.x() > a.x()  # anterior is on the right for this series


def test_lps_to_widget_agrees_with_the_independent_aim_within_a_pixel(viewer: SliceViewer) -> None:
    """The production mapping is tested here, not trusted elsewhere: the click tests aim with
    tests/app/aim.py (DICOM geometry + visible range, written in the tests)."""
    geom = viewer.source.geometry
    # Pixel centres of the corners and the middle of slice 1, and off-grid points.
    points = [geom.index_to_lps(c, r, 1).reshape(3) for c in (0, 80, 159) for r in (0, 50, 99)]
    points += [np.array([13.0, 37.3, 11.1]), np.array([13.0, 150.0, 5.0])]

    def check() -> None:
        for p in points:
            expected = lps_to_viewport(viewer, p)
            got = viewer.lps_to_widget(p)
            assert abs(got.x() - expected.x()) <= 1.0 and abs(got.y() - expected.y()) <= 1.0, (
                p,
                got,
                expected,
            )

    viewer.set_slice(1)
    check()
    # Hand check of the aim itself: the centre of pixel (0, 0) is half a pixel inside the
    # image's top-left corner (scene (0, 0)), which sits where the view range puts it.
    visible, box = viewer.view.viewRect(), viewer.view.mapRectToScene(viewer.view.rect())
    sx, sy = box.width() / visible.width(), box.height() / visible.height()  # px per mm
    corner = QtCore.QPointF(box.left() - visible.left() * sx, box.top() - visible.top() * sy)
    centre00 = lps_to_viewport(viewer, geom.index_to_lps(0, 0, 1).reshape(3))
    assert centre00.x() - corner.x() == pytest.approx(0.5 * 1.0 * sx, abs=1e-6)  # dx = 1.0 mm
    assert centre00.y() - corner.y() == pytest.approx(0.5 * 0.5 * sy, abs=1e-6)  # dy = 0.5 mm
    # Zoomed and panned: still the same pixel.
    viewer.view.setRange(QtCore.QRectF(40.0, 10.0, 60.0, 25.0), padding=0)
    check()


def test_click_gives_lps_on_the_current_slice(viewer: SliceViewer, qtbot: QtBot) -> None:
    viewer.set_slice(3)
    target = np.array([19.0, 0.5, 21.25])  # on slice 3 (x = 10 + 3 * 3)
    got = []
    viewer.clickedLps.connect(lambda lps, k, _m: got.append((lps, k)))
    QTest.mouseClick(
        viewer.canvas.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=click_pos(viewer, target)
    )
    assert len(got) == 1
    lps, k = got[0]
    assert k == 3
    tol = max(viewer.view.viewPixelSize())  # a click is on a whole screen pixel
    np.testing.assert_allclose(lps, target, atol=tol)
    assert lps[0] == pytest.approx(19.0, abs=1e-9)


def test_slice_keys_wheel_window_and_labels(viewer: SliceViewer, qtbot: QtBot) -> None:
    assert viewer.slice_index == 2
    QTest.keyClick(viewer, QtCore.Qt.Key.Key_Up)
    assert viewer.slice_index == 3
    QTest.keyClick(viewer, QtCore.Qt.Key.Key_PageDown)
    assert viewer.slice_index == 0
    np.testing.assert_array_equal(viewer.image.image, viewer.source.volume()[0])
    assert viewer.slice_position_text() == "Slice 1/5   L 10.0 mm"
    assert viewer.orientation_letters() == {"right": "A", "left": "P", "up": "S", "down": "I"}
    viewer.set_window(100.0, 50.0)
    assert viewer.image.levels == pytest.approx([75.0, 125.0])
    # A right-button drag changes the window: to the right widens, up raises the level.
    vp = viewer.canvas.viewport()
    start = QtCore.QPoint(300, 250)
    QTest.mousePress(vp, QtCore.Qt.MouseButton.RightButton, pos=start)
    for i in range(1, 6):
        move_mouse(qtbot, viewer, QtCore.QPoint(300 + 10 * i, 250))
    QTest.mouseRelease(vp, QtCore.Qt.MouseButton.RightButton, pos=QtCore.QPoint(350, 250))
    assert viewer.window_level.width > 50.0
    assert viewer.window_level.center == pytest.approx(100.0)
    length_mm, length_px = viewer.scale_bar_mm()
    assert length_mm in (10, 20, 50) and length_px == pytest.approx(
        length_mm / viewer.view.viewPixelSize()[0]
    )


def test_wheel_steps_slices_and_ctrl_wheel_zooms(viewer: SliceViewer) -> None:
    from PySide6 import QtGui, QtWidgets

    vp = viewer.canvas.viewport()

    def wheel(delta: int, modifiers: QtCore.Qt.KeyboardModifier) -> None:
        pos = QtCore.QPointF(400, 250)
        event = QtGui.QWheelEvent(
            pos,
            vp.mapToGlobal(pos),
            QtCore.QPoint(),
            QtCore.QPoint(0, delta),
            QtCore.Qt.MouseButton.NoButton,
            modifiers,
            QtCore.Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        QtWidgets.QApplication.sendEvent(vp, event)

    assert viewer.slice_index == 2
    wheel(120, QtCore.Qt.KeyboardModifier.NoModifier)
    assert viewer.slice_index == 3
    wheel(-120, QtCore.Qt.KeyboardModifier.NoModifier)
    wheel(-120, QtCore.Qt.KeyboardModifier.NoModifier)
    assert viewer.slice_index == 1
    width_before = viewer.view.viewRect().width()
    wheel(120, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert viewer.slice_index == 1
    assert viewer.view.viewRect().width() < width_before  # zoomed in


def _drag(qtbot: QtBot, viewer: SliceViewer, button: QtCore.Qt.MouseButton) -> None:
    vp = viewer.canvas.viewport()
    start, end = QtCore.QPoint(400, 250), QtCore.QPoint(300, 210)  # 100 px left, 40 px up
    QTest.mousePress(vp, button, pos=start)
    for f in np.linspace(0.2, 1.0, 5):
        move_mouse(qtbot, viewer, QtCore.QPoint(round(400 - 100 * f), round(250 - 40 * f)))
    QTest.mouseRelease(vp, button, pos=end)


def test_left_drag_windows_unless_placing(viewer: SliceViewer, qtbot: QtBot) -> None:
    """As in Horos, Weasis, Slicer: left drag is window/level; while placing it does nothing."""
    viewer.set_window(100.0, 400.0)
    rect = viewer.view.viewRect()
    edited: list[tuple[float, float]] = []
    viewer.windowEdited.connect(lambda c, w: edited.append((c, w)))
    _drag(qtbot, viewer, QtCore.Qt.MouseButton.LeftButton)
    # 100 px left narrows, 40 px up raises the level (400/250 = 1.6 units per pixel).
    assert viewer.window_level.width == pytest.approx(400.0 - 100 * 1.6, rel=0.15)
    assert (
        viewer.window_level.center > 100.0
        and edited
        and edited[-1] == pytest.approx((viewer.window_level.center, viewer.window_level.width))
    )
    assert viewer.view.viewRect() == rect  # no pan
    viewer.view.left_drag_windows = False
    before = (viewer.window_level.center, viewer.window_level.width)
    _drag(qtbot, viewer, QtCore.Qt.MouseButton.LeftButton)
    assert (viewer.window_level.center, viewer.window_level.width) == before
    assert viewer.view.viewRect() == rect


def test_home_and_double_click_reset_the_view(viewer: SliceViewer, qtbot: QtBot) -> None:
    viewer.set_home(1, (10.0, 20.0, 30.0, 40.0))
    viewer.set_slice(2)
    viewer.view.setRange(QtCore.QRectF(0, 0, 5, 5), padding=0)
    QTest.keyClick(viewer, QtCore.Qt.Key.Key_Home)
    r = viewer.view.viewRect()
    assert viewer.slice_index == 1
    assert r.contains(QtCore.QRectF(10.0, 20.0, 30.0, 40.0))
    assert min(r.width() / 30.0, r.height() / 40.0) < 1.1  # fitted (aspect kept), not the whole image
    viewer.set_slice(0)
    viewer.view.setRange(QtCore.QRectF(0, 0, 5, 5), padding=0)
    QTest.mouseDClick(viewer.canvas.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=QtCore.QPoint(300, 250))
    qtbot.waitUntil(lambda: viewer.slice_index == 1)
    assert viewer.view.viewRect().contains(QtCore.QRectF(10.0, 20.0, 30.0, 40.0))


def test_middle_drag_on_the_image_pans_by_the_same_millimetres(viewer: SliceViewer, qtbot: QtBot) -> None:
    vp = viewer.canvas.viewport()
    before = viewer.view.viewRect()
    mm_per_px = viewer.view.viewPixelSize()
    _drag(qtbot, viewer, QtCore.Qt.MouseButton.MiddleButton)
    after = viewer.view.viewRect()
    # The image follows the mouse: the view moved right and down by the dragged distance.
    assert after.x() - before.x() == pytest.approx(100 * mm_per_px[0], rel=0.05)
    assert after.y() - before.y() == pytest.approx(40 * mm_per_px[1], rel=0.1)
    assert (after.width(), after.height()) == pytest.approx((before.width(), before.height()))
    assert viewer.slice_index == 2  # a pan is not a slice step
    # A click after the pan still lands on the right point.
    got = []
    viewer.clickedLps.connect(lambda lps, k, _m: got.append(lps))
    from app.coords import scene_to_lps

    centre = viewer.view.viewRect().center()
    target = scene_to_lps(centre.x(), centre.y(), 2, viewer.source.geometry)
    assert viewer.canvas.viewport().rect().contains(click_pos(viewer, target))
    QTest.mouseClick(vp, QtCore.Qt.MouseButton.LeftButton, pos=click_pos(viewer, target))
    np.testing.assert_allclose(got[0], target, atol=max(viewer.view.viewPixelSize()))
