"""The measurement panel: what a reader sees for each vertebra, including refusals."""

from __future__ import annotations

import math

from pytestqt.qtbot import QtBot

from app.measure_panel import VERTEBRA_COLUMNS, MeasurementPanel
from measure.case import Case, SeriesRef, Timepoint
from measure.landmarks import Landmark
from tests.measure.test_morphometry import vertebra_points

SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
TILT = math.radians(5.0)
TILTED = (0.0, 1.0, 0.0, math.sin(TILT), 0.0, -math.cos(TILT))


def _case() -> Case:
    case = Case(case_id="panel")
    case.add_timepoint(Timepoint("pre", "pre-op", "2026-03-01"))
    case.assign_series(SeriesRef("1.1", "pre", "a", orientation=SAGITTAL, pixel_spacing_mm=(0.5, 0.8)))
    case.assign_series(SeriesRef("2.2", "pre", "b", orientation=TILTED, pixel_spacing_mm=(0.5, 0.8)))
    good = vertebra_points(ha=16.0, hm=20.0, hp=25.0, centre=(0.0, 0.0, 0.0))
    case.add_vertebra("pre", "L1", "fractured", {k: Landmark(tuple(p), "1.1") for k, p in good.items()})
    bad = vertebra_points(centre=(0.0, 0.0, -40.0))
    case.add_vertebra(
        "pre",
        "L2",
        "reference",
        {k: Landmark(tuple(p), "2.2" if k == "inf_post" else "1.1") for k, p in bad.items()},
    )
    return case


def test_refused_vertebra_shows_its_reason_and_others_their_numbers(qtbot: QtBot) -> None:
    panel = MeasurementPanel()
    qtbot.addWidget(panel)
    case = _case()
    panel.show_results(case, case.measure())
    rows = {r[1]: dict(zip(VERTEBRA_COLUMNS, r, strict=False)) for r in panel.vertebrae.rows()}
    assert rows["L2"]["VKA (°)"] == "not measured"
    assert "differ by 5.0 deg" in panel.message.text() and panel.message.text().startswith("pre ")
    l2_row = next(i for i in range(panel.vertebrae.rowCount()) if panel.vertebrae.item(i, 1).text() == "L2")
    assert "differ by 5.0 deg" in panel.vertebrae.item(l2_row, 3).toolTip()
    # L1 is still measured: Ha 16 mm, with its one-pixel +/- and a height loss with +/-.
    assert rows["L1"]["Ha (mm)"].startswith("16.0 ± ")
    assert rows["L1"]["Loss vs own Hp (%)"].startswith("36 ± ") and rows["L1"]["Loss vs own Hp (%)"].endswith(
        "(ha)"
    )
