"""A series without landmarks opens at the spine's midline, zoomed on the spine; Home returns there.

Truth: the phantom's analytic mid-sagittal plane (x = -3 mm) on a stack where it is not the
centre slice, with its landmarks (which must be in view); the real CT's midline and body
position from plain pydicom (tests/spine_truth.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from app.coords import lps_to_scene
from dicomio.synthetic import phantom
from dicomio.synthetic.synth import SeriesSpec, sagittal_geometry, write_series
from tests.spine_truth import REAL_CT, ct_spine_truth

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
