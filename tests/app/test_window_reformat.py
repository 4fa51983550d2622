"""Axial CT shown as a sagittal reformat: the same tools, and clicks land at the true LPS.

The axial phantom CT has unequal in-plane spacing (rows 0.9 mm along Y, columns 0.75 mm
along X) and 2.5 mm slices; the reformat resamples Z at the finest in-plane spacing, so its
pixels are 0.9 mm wide and 0.75 mm tall on screen (non-square).  The reformat slice at
x = -3 mm (the phantom's mid-sagittal plane, an axial column centre) is where the six L1
points are clicked with real mouse events.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from dicomio.synthetic import phantom
from dicomio.synthetic.synth import SeriesSpec, axial_geometry, write_series
from measure.landmarks import LANDMARK_KEYS, LANDMARK_LABELS
from tests.app.aim import click_pos, lps_to_pixel, pixel_to_scene_mm
from tests.handcalc import signed_vka_deg

LEFT = QtCore.Qt.MouseButton.LeftButton
NO_MOD = QtCore.Qt.KeyboardModifier.NoModifier
EXACT = QtCore.Qt.KeyboardModifier.AltModifier
#: x of axial column 0 and the column spacing: column 32 is at x = -3 mm exactly.
X0_MM, COL_MM, ROW_MM, SLICE_MM = -27.0, 0.75, 0.9, 2.5


@pytest.fixture(scope="module")
def axial_ct(tmp_path_factory: pytest.TempPathFactory) -> Path:
    geom = axial_geometry(23, 112, 65, (ROW_MM, COL_MM), SLICE_MM, (X0_MM, -38.0, -400.0))
    assert geom.first.plane == "axial"
    folder = tmp_path_factory.mktemp("axial") / "ax"
    spec = SeriesSpec(
        modality="CT", description="AX CT", rescale_intercept=-1024.0, window_center=400, window_width=1800
    )
    write_series(folder, phantom.render(geom, "CT", "pre"), geom, spec, shuffle_names=True)
    return folder


def test_axial_ct_opens_as_a_sagittal_reformat_and_clicks_give_the_true_lps(
    window, qtbot: QtBot, axial_ct: Path
) -> None:  # type: ignore[no-untyped-def]
    window.open_paths([axial_ct])
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=30000)
    viewer = window.viewer
    source = viewer.source
    assert source.is_reformat and "(sagittal reformat)" in viewer.title
    geom = source.geometry
    assert geom.first.plane == "sagittal"
    # Reformat pixels: columns along Y at the axial row spacing, rows along Z at the finest
    # in-plane spacing (dicomio.reformat), slices along X at the axial column spacing.
    assert geom.first.pixel_spacing_mm == pytest.approx((COL_MM, ROW_MM))
    assert geom.slice_spacing_mm == pytest.approx(COL_MM)
    rect = viewer.image.mapRectToView(viewer.image.boundingRect())
    assert (rect.width(), rect.height()) == pytest.approx(
        (geom.first.columns * ROW_MM, geom.first.rows * COL_MM)
    )  # true proportions in mm
    assert viewer.orientation_letters() == {"left": "A", "right": "P", "up": "S", "down": "I"}
    # The same tools: CT presets, slice stepping by key with the position in mm.
    names = [window.window_combo.itemText(i) for i in range(window.window_combo.count())]
    # The bone window (here the file's own, equal to the bone preset) is the default.
    assert window.window_combo.currentText().endswith("(400/1800)")
    assert any(n.startswith("CT soft tissue") for n in names)

    truth = phantom.truth("pre")
    viewer.go_to_point(truth["L1"]["sup_ant"])
    k = viewer.slice_index
    assert viewer.slice_of(truth["L1"]["sup_ant"]) == pytest.approx(k, abs=1e-9)  # a reformat slice at x = -3
    assert viewer.slice_position_text().endswith("R 3.0 mm")
    QTest.keyClick(viewer, QtCore.Qt.Key.Key_Up)
    assert viewer.slice_index == k + 1 and viewer.slice_position_text().endswith(
        "R 3.8 mm"
    )  # 0.75 mm to the right
    QTest.keyClick(viewer, QtCore.Qt.Key.Key_Down)
    assert viewer.slice_index == k

    window.set_level("L1")
    window.set_placing(True)
    for key in LANDMARK_KEYS:
        assert viewer.prompt == f"L1: click {LANDMARK_LABELS[key]}"
        # Alt: exactly where clicked (no snap to the endplate); the click chain is under test.
        QTest.mouseClick(viewer.canvas.viewport(), LEFT, EXACT, click_pos(viewer, truth["L1"][key]))

        def placed(key: str = key) -> bool:
            tp = window.current_timepoint()
            return tp is not None and window.case.landmark(tp, "L1", key) is not None

        qtbot.waitUntil(placed, timeout=2000)
    tp = window.current_timepoint()
    v = window.case.vertebra(tp, "L1")
    assert v is not None and v.complete_on(v.series[0])
    tol_mm = float(max(viewer.view.viewPixelSize()))  # one screen pixel
    for key in LANDMARK_KEYS:
        lm = v.landmarks_on(v.series[0])[key]
        np.testing.assert_allclose(lm.position_mm, truth["L1"][key], atol=tol_mm)
        assert lm.position_mm[0] == pytest.approx(-3.0, abs=1e-9)  # on the reformat plane
        assert lm.series_uid == source.series_uid
        assert lm.sop_uid is None  # no acquired image lies in a reformat plane
    ref = window.case.series_ref(source.series_uid)
    assert ref is not None and ref.reformat is True
    result = window.case.measure().timepoints[tp].vertebrae["L1"]
    level_truth = phantom.level_truth("pre")["L1"]
    for name, h in (("ha_mm", "Ha"), ("hm_mm", "Hm"), ("hp_mm", "Hp")):
        assert getattr(result, name).value == pytest.approx(level_truth.heights_mm[h], abs=2 * tol_mm)
    assert result.vka_deg.value == pytest.approx(level_truth.vka_deg, abs=1.0)  # signed, kyphosis > 0
    assert (
        level_truth.vka_deg == pytest.approx(signed_vka_deg(truth["L1"]), abs=1e-9)
        and level_truth.vka_deg > 10
    )
    clicked = {k: lm.position_mm for k, lm in v.landmarks_on(v.series[0]).items()}
    assert result.vka_deg.value == pytest.approx(signed_vka_deg(clicked), abs=1e-9)
    # Overlays are drawn on the reformat where the landmarks are: scene mm of each point
    # from the reformat slice's own position, cosines and spacing (test-side, tests/app/aim.py).
    slice_geometry = geom.slices[viewer.slice_index]
    for key in LANDMARK_KEYS:
        x, y = window.overlay.handle_scene_pos("L1", key)
        column, row, off_plane = lps_to_pixel(v.landmarks_on(v.series[0])[key].position_mm, slice_geometry)
        assert off_plane == pytest.approx(0.0, abs=1e-9)
        assert (x, y) == pytest.approx(pixel_to_scene_mm(column, row, slice_geometry), abs=1e-6)
