"""Fixtures for the app tests: a small phantom CT series pair on disk, and the main window."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets
from pytestqt.qtbot import QtBot

from dicomio.synthetic import phantom
from dicomio.synthetic.synth import SeriesSpec, sagittal_geometry, write_series

#: Sagittal stack around the phantom's mid-sagittal plane (x = -3 mm): anterior on the
#: RIGHT, unequal pixel spacing (rows 0.6 mm, columns 0.9 mm), slices 3 mm apart.
ROW_MM, COL_MM = 0.6, 0.9


def phantom_geometry():  # type: ignore[no-untyped-def]
    y_first, z_first = 62.0, -285.0  # column 0 is most posterior (anterior on the right)
    n_cols = round(100 / COL_MM)
    n_rows = round(185 / ROW_MM)
    return sagittal_geometry(
        3, n_rows, n_cols, (ROW_MM, COL_MM), 3.0, (-6.0, y_first, z_first), anterior_on_right=True
    )


@pytest.fixture(scope="session")
def phantom_series(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Pre-op and post-op sagittal CT of the default phantom, one folder each, plus junk."""
    root = tmp_path_factory.mktemp("phantom_ct")
    geom = phantom_geometry()
    assert (
        abs(float(np.dot(geom.slices[1].position_mm, geom.normal)) - float(np.dot([-3.0, 0, 0], geom.normal)))
        < 1e-9
    )
    out = {}
    study = "1.2.826.0.1.3680043.8.498.1"
    for n, tp in enumerate(("pre", "post")):
        volume = phantom.render(geom, "CT", tp)
        spec = SeriesSpec(
            modality="CT",
            description=f"SAG CT {tp.upper()}",
            study_uid=study if tp == "pre" else study + ".2",
            series_number=n + 1,
            rescale_intercept=-1024.0,
            window_center=400,
            window_width=1800,
        )
        write_series(root / tp, volume, geom, spec)
        out[tp] = root / tp
    bad = root / "with_bad"
    (bad / "good").mkdir(parents=True)
    for p in (root / "pre").iterdir():
        (bad / "good" / p.name).write_bytes(p.read_bytes())
    (bad / "notes.txt").write_text("not a DICOM file")
    first = sorted((root / "pre").iterdir())[0].read_bytes()
    (bad / "truncated.dcm").write_bytes(first[: len(first) // 2])
    out["bad"] = bad
    return out


@pytest.fixture
def window(qtbot: QtBot) -> Iterator[object]:
    from app.gui import apply_theme
    from app.main_window import MainWindow

    apply_theme(QtWidgets.QApplication.instance())
    win = MainWindow(interactive_errors=False, close_decision=lambda: "discard")
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.cancel_tasks()
    win.wait_for_tasks(10)
    QtCore.QThreadPool.globalInstance().waitForDone(10000)


@pytest.fixture(autouse=True)
def _gc_in_gui_thread(qapp: QtWidgets.QApplication) -> Iterator[None]:
    """As in the app (app.gui.run_gui): the cyclic GC runs only from a GUI-thread timer."""
    from app.gc_guard import GuiThreadCollector

    collector = GuiThreadCollector(qapp)
    yield
    collector.stop(collect=False)  # the next test's collector (GUI thread) frees what is left
    collector.deleteLater()
