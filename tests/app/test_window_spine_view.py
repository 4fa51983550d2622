"""A series without landmarks opens at the spine's midline, zoomed on the spine; Home returns there.

Truth: the phantom's analytic mid-sagittal plane (x = -3 mm) on a stack where it is not the
centre slice, with its landmarks (which must be in view); the real CT's midline and body
position from plain pydicom (tests/spine_truth.py); the real MR's midline frame and bodies
read off by eye (tests/spine_truth.py, tests/measure/test_spine_rect.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from app.coords import lps_to_scene, pixel_to_scene
from dicomio.synthetic import phantom
from dicomio.synthetic.synth import SeriesSpec, sagittal_geometry, write_series
from tests.measure.test_spine_rect import REAL_MR_BODIES
from tests.spine_truth import MR_MIDLINE_FRAME, REAL_CT, REAL_MR, ct_spine_truth

WAIT_MS = 60000
MIDLINE_X = phantom.default_phantom().midline_x_mm
#: 9 sagittal slices 3 mm apart; slice 2 is the mid-sagittal plane (the centre, 4, is 6 mm off).
N_SLICES, MID_SLICE, SLICE_MM = 9, 2, 3.0


@pytest.fixture(scope="module")
def off_centre_ct(tmp_path_factory: pytest.TempPathFactory) -> Path:
    geom = sagittal_geometry(
        N_SLICES, 200, 200, (1.2, 1.2), SLICE_MM, (MIDLINE_X + MID_SLICE * SLICE_MM, -120.0, -250.0)
    )
    assert float(geom.index_to_lps(0, 0, MID_SLICE).reshape(3)[0]) == pytest.approx(MIDLINE_X)
    folder = tmp_path_factory.mktemp("spine_view") / "sag"
    spec = SeriesSpec(modality="CT", description="SAG CT", rescale_intercept=-1024.0)
    write_series(folder, phantom.render(geom, "CT", "pre"), geom, spec)
    return folder


def _open(window, qtbot: QtBot, folder: Path) -> None:  # type: ignore[no-untyped-def]
    window.open_paths([folder])
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=WAIT_MS)


def _contains(rect: QtCore.QRectF, x: float, y: float) -> bool:
    return rect.left() <= x <= rect.right() and rect.top() <= y <= rect.bottom()


def test_phantom_opens_at_the_midline_zoomed_on_the_spine(window, qtbot: QtBot, off_centre_ct: Path) -> None:  # type: ignore[no-untyped-def]
    _open(window, qtbot, off_centre_ct)
    viewer = window.viewer
    geom = viewer.source.geometry
    assert viewer.slice_index == MID_SLICE
    assert viewer.slice_position_text().endswith("R 3.0 mm")
    full_w, full_h = geom.first.size_mm
    home = viewer.view.viewRect()
    assert home.width() * home.height() < 0.8 * full_w * full_h  # zoomed in
    for level in phantom.truth("pre").values():
        for p in level.values():
            x, y, s = lps_to_scene(p, geom)
            assert s == pytest.approx(MID_SLICE) and _contains(home, x, y)
    roi = window.series.spine_view(viewer.source.series_uid).roi
    assert roi is not None
    # Elsewhere, zoomed out: Home and a double click come back to the midline and the spine.
    viewer.set_slice(7)
    viewer.reset_zoom()
    viewer.setFocus()
    QTest.keyClick(viewer, QtCore.Qt.Key.Key_Home)
    assert viewer.slice_index == MID_SLICE
    assert viewer.view.viewRect() == home
    viewer.set_slice(0)
    viewer.reset_zoom()
    centre = viewer.canvas.viewport().rect().center()
    QTest.mouseDClick(viewer.canvas.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=centre)
    qtbot.waitUntil(lambda: viewer.slice_index == MID_SLICE, timeout=5000)
    assert viewer.view.viewRect() == home


def test_real_ct_opens_at_the_midline_zoomed_on_the_spine(window, qtbot: QtBot) -> None:  # type: ignore[no-untyped-def]
    if not REAL_CT.is_dir():
        pytest.skip("the real CT is not here")
    truth = ct_spine_truth()
    _open(window, qtbot, REAL_CT)
    viewer = window.viewer
    geom = viewer.source.geometry
    assert viewer.source.is_reformat
    centre_x = float(geom.index_to_lps(0, 0, geom.shape[0] // 2).reshape(3)[0])
    assert abs(centre_x - truth.midline_x_mm) > 6.0  # today's centre slice would fail
    x_shown = float(geom.index_to_lps(0, 0, viewer.slice_index).reshape(3)[0])
    assert abs(x_shown - truth.midline_x_mm) <= 2.0
    rect = viewer.view.viewRect()
    full_w, _ = geom.first.size_mm
    assert rect.width() < 0.9 * full_w  # zoomed on the spine, not the whole chest
    for z in truth.z_range_mm:
        x, y, _ = lps_to_scene(np.array([x_shown, truth.body_y_mm, z]), geom)
        assert _contains(rect, x, y)
    # This anonymised series has no SeriesDescription: the viewer names it as the browser
    # does, by its SeriesNumber (read here with plain pydicom), not by its UID.
    import pydicom

    a_file = next(p for p in sorted(REAL_CT.iterdir()) if p.suffix == ".dcm" or not p.suffix)
    first = pydicom.dcmread(a_file, stop_before_pixels=True)
    assert not str(first.get("SeriesDescription", ""))
    assert viewer.title.startswith(f"Series {int(first.SeriesNumber)} (sagittal reformat)")


def test_real_mr_opens_at_the_midline_zoomed_on_the_spine(window, qtbot: QtBot) -> None:  # type: ignore[no-untyped-def]
    """The real multi-frame MR: the midline frame, and the view on the column of bodies read
    off by eye (tests/measure/test_spine_rect.py), not the whole field of view."""
    if not REAL_MR.is_file():
        pytest.skip("the real MR is not here")
    _open(window, qtbot, REAL_MR)
    viewer = window.viewer
    display = viewer.source
    geom = display.geometry
    assert display.frame_index_for_slice(viewer.slice_index) == MR_MIDLINE_FRAME
    spine = window.series.spine_view(display.series_uid)
    assert spine.roi is not None, spine.reason
    home = viewer.view.viewRect()
    # Every body read by eye is in view ...
    for row, anterior, posterior in REAL_MR_BODIES:
        for column in (anterior, posterior):
            x, y = pixel_to_scene(column, row, geom)
            assert _contains(home, x, y), (row, column)
    # ... and the view is the spine's rectangle, not the image: centred on it, at its scale in
    # its tighter direction, showing less than the whole image does.
    x0, y0 = pixel_to_scene(spine.roi.column_min, spine.roi.row_min, geom)
    x1, y1 = pixel_to_scene(spine.roi.column_max, spine.roi.row_max, geom)
    full_w, full_h = geom.first.size_mm
    assert x1 - x0 < 0.5 * full_w
    assert home.center().x() == pytest.approx((x0 + x1) / 2, abs=1.0)
    assert home.center().y() == pytest.approx((y0 + y1) / 2, abs=1.0)
    scale = min(home.width() / (x1 - x0), home.height() / (y1 - y0))
    assert scale == pytest.approx(1.04, abs=0.02)  # setRange's 2 % padding each side
    viewer.reset_zoom()
    full = viewer.view.viewRect()
    assert home.width() * home.height() < 0.8 * full.width() * full.height()
    assert full.width() >= full_w and full.height() >= full_h
