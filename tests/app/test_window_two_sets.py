"""One timepoint measured on two series (the demo's pre-op T1 and CT), by real clicks.

The pre-op CT and T1 are different frames of reference: each holds its own landmark set;
the panel shows both (★ on the set the registry takes); the reader can switch it (undoable);
the sets survive a save and a reopen.  Expected numbers are computed by hand
(tests/handcalc.py) from the phantom's analytic landmarks in ``ground_truth.json``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PySide6 import QtCore
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from measure.casefile import load_case
from measure.landmarks import LANDMARK_KEYS
from tests.app.aim import click_pos
from tests.handcalc import heights_mm

LEFT = QtCore.Qt.MouseButton.LeftButton
EXACT = QtCore.Qt.KeyboardModifier.AltModifier  # exactly where clicked (no snap): the clicks are under test
WAIT_MS = 30000


@pytest.fixture(scope="module")
def demo_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.demo_case import ensure_demo_case

    return ensure_demo_case(tmp_path_factory.mktemp("two_sets"), small=True)


def _series(demo_case: Path, key: str) -> tuple[str, dict]:  # type: ignore[type-arg]
    truth = json.loads((demo_case.parent / "images" / "ground_truth.json").read_text(encoding="utf-8"))
    return next((uid, s) for uid, s in truth["series"].items() if s["key"] == key)


def _rows(window, level: str) -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    """The pre-op rows of ``level`` by their Series cell."""
    table = window.panel.vertebrae
    header = table.header()
    return {
        r[header.index("Series")]: dict(zip(header, r, strict=True))
        for r in table.rows()
        if r[0] == "pre-op" and r[1] == level
    }


def _number(text: str) -> float:
    m = re.match(r"\s*(-?\d+(?:\.\d+)?)", text)
    assert m, text
    return float(m.group(1))


def test_ct_and_mr_sets_in_one_timepoint(window, qtbot: QtBot, demo_case: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert window.open_case(demo_case)
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=WAIT_MS)
    t1_uid, _t1 = _series(demo_case, "pre_t1")
    ct_uid, ct = _series(demo_case, "pre_ct")
    assert window.case.measurement_series("pre-op") == t1_uid
    window.show_series(ct_uid)
    qtbot.waitUntil(lambda: window.viewer.source.series_uid == ct_uid and not window.tasks, timeout=WAIT_MS)
    assert window.current_timepoint() == "pre-op"
    assert not window.act_measure_here.isEnabled()  # no landmarks on the CT yet

    truth = {k: ct["landmarks"]["L1"][k]["position_mm"] for k in LANDMARK_KEYS}
    window.viewer.go_to_point(truth["sup_ant"])
    window.set_level("L1")
    window.set_placing(True)
    for key in LANDMARK_KEYS:
        QTest.mouseClick(window.viewer.canvas.viewport(), LEFT, EXACT, click_pos(window.viewer, truth[key]))
        qtbot.waitUntil(
            lambda key=key: window.case.landmark("pre-op", "L1", key, ct_uid) is not None, timeout=2000
        )
    window.set_placing(False)

    # Two sets of L1 at pre-op; the T1's is still the one measured (it was started first).
    assert set(window.case.landmark_series("pre-op")) == {t1_uid, ct_uid}
    rows = _rows(window, "L1")
    assert len(rows) == 2
    (starred,) = [name for name in rows if name.startswith("★")]
    assert "T1" in starred
    ct_row = next(r for name, r in rows.items() if not name.startswith("★"))
    tol_mm = 2 * float(max(window.viewer.view.viewPixelSize())) + 0.05  # two half-pixel clicks, rounding
    expected = heights_mm(truth)
    assert _number(ct_row["Ha (mm)"]) == pytest.approx(expected["Ha"], abs=tol_mm)
    assert _number(ct_row["Hp (mm)"]) == pytest.approx(expected["Hp"], abs=tol_mm)

    # The reader measures pre-op on the CT: the registry's numbers follow, undoably.
    assert window.act_measure_here.isEnabled()
    window.act_measure_here.trigger()
    assert window.case.measurement_series("pre-op") == ct_uid
    results = window.case.measure()
    assert results.measurement_series["pre-op"] == ct_uid
    ha = results.timepoints["pre-op"].vertebrae["L1"].ha_mm.value
    assert ha == pytest.approx(expected["Ha"], abs=tol_mm)
    assert any(n.startswith("★") and "CT" in n for n in _rows(window, "L1"))
    assert not window.act_measure_here.isEnabled()
    window.act_undo.trigger()
    assert window.case.measurement_series("pre-op") == t1_uid
    window.act_redo.trigger()

    saved = tmp_path / "two_sets.json"
    assert window.save_to(saved)
    again = load_case(saved)
    assert again.measurement_series("pre-op") == ct_uid
    assert set(again.landmark_series("pre-op")) == {t1_uid, ct_uid}
    for key in LANDMARK_KEYS:
        assert again.landmark("pre-op", "L1", key, ct_uid) == window.case.landmark(
            "pre-op", "L1", key, ct_uid
        )
        assert again.landmark("pre-op", "L1", key, t1_uid) == window.case.landmark(
            "pre-op", "L1", key, t1_uid
        )
