"""Benchmark: open a CT folder in the app to its first rendered image; slice stepping; memory.

Not a test.  Each run is its own process (``--child``, Qt offscreen): it starts the main
window, then "chooses the folder" (``MainWindow.open_paths``) and processes events until
the viewer shows the series' first rendered image (the sagittal reformat for an axial CT),
then until every background task is done.  It then steps through 60 slices, each step
painted synchronously.  Peer, in a process of its own: SimpleITK's int16 load of the same
series.  Series: the real 275-slice CT, and a 300-slice 512^2 CT with a 12 deg gantry tilt
written once with ``dicomio.synthetic`` (``--tilted-folder``).  Medians of ``--runs``.

    .venv/bin/python bench/bench_app_open.py [--runs 3] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

SCRIPT = Path(__file__).resolve()
TILTED_SLICES = 300


def write_tilted(folder: Path) -> None:
    """300 axial slices of 512^2 with a 12 deg gantry tilt (written once)."""
    from dicomio.synthetic import synth

    if (folder / common.DONE_MARKER).is_file():
        return
    folder.mkdir(parents=True, exist_ok=True)
    geometry = synth.axial_geometry(
        TILTED_SLICES,
        common.ROWS,
        common.COLUMNS,
        pixel_spacing_mm=common.SPACING_MM,
        slice_spacing_mm=1.0,
        origin_mm=(-174, -174, 0),
    )
    spec = synth.SeriesSpec(modality="CT", description="bench CT tilted", rescale_intercept=-1024)
    synth.write_series(folder, common.ct_phantom(TILTED_SLICES), geometry, spec, gantry_tilt_deg=12.0)
    (folder / common.DONE_MARKER).write_text("ok\n")


def _child_app(folder: Path) -> dict[str, Any]:
    from PySide6 import QtCore, QtWidgets

    from app.gui import _application

    app = _application()
    from app.main_window import MainWindow

    window = MainWindow(interactive_errors=False)
    window.resize(1600, 1000)
    window.show()
    QtWidgets.QApplication.processEvents()
    before = common.rss_mib()
    viewer = window.viewer
    flags = QtCore.QEventLoop.ProcessEventsFlag.AllEvents
    start = time.perf_counter()
    window.open_paths([folder])  # the folder is chosen
    first = None
    while time.perf_counter() - start < 300:
        QtWidgets.QApplication.processEvents(flags, 10)
        if first is None and viewer.source is not None:
            viewer.canvas.viewport().repaint()  # rendered, not only set
            first = time.perf_counter() - start
        if first is not None and not window.tasks:
            break
        time.sleep(0.002)
    done = time.perf_counter() - start
    if first is None:
        raise RuntimeError(f"the series in {folder} was not shown: {window.errors}")
    steps = []
    k0 = max(0, viewer.slice_index - 30)
    for k in range(k0, min(viewer.n_slices, k0 + 60)):
        t = time.perf_counter()
        viewer.set_slice(k)
        viewer.canvas.viewport().repaint()
        QtWidgets.QApplication.processEvents()
        steps.append(time.perf_counter() - t)
    window.close()
    del app
    return {
        "first_s": first,
        "done_s": done,
        "rss_before_mib": before,
        "step_median_ms": 1000 * statistics.median(steps),
        "step_p95_ms": 1000 * float(np.percentile(steps, 95)),
    }


def _child_sitk(folder: Path) -> dict[str, Any]:
    import SimpleITK

    start = time.perf_counter()
    reader = SimpleITK.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    reader.SetOutputPixelType(SimpleITK.sitkInt16)
    image = reader.Execute()
    seconds = time.perf_counter() - start
    volume_mib = image.GetNumberOfPixels() * 2 / 2**20
    return {"load_s": seconds, "volume_mib": volume_mib}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        fn = _child_app if argv[1] == "app" else _child_sitk
        common.child_result(fn(Path(argv[2])))
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    tilted = common.default_folder("endplate-bench-ct300-tilt")
    parser.add_argument("--tilted-folder", type=Path, default=tilted)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    write_tilted(args.tilted_folder)
    series = []
    if common.REAL_CT.is_dir():
        series.append(("real CT lidc-idri-0314 (275 x 512^2, axial)", common.REAL_CT, 1.5, True))
    name = f"synthetic CT {TILTED_SLICES} x 512^2, 12 deg gantry tilt"
    series.append((name, args.tilted_folder, 3.0, False))
    rows: list[dict[str, Any]] = []
    notes = []
    for name, folder, factor, real in series:
        common.run_child(SCRIPT, ["sitk", str(folder)])  # warm the page cache
        apps, peers = [], []
        for _ in range(args.runs):
            apps.append(common.run_child(SCRIPT, ["app", str(folder)]))
            peers.append(common.run_child(SCRIPT, ["sitk", str(folder)]))
        first = common.median_of(apps, "first_s")
        done = common.median_of(apps, "done_s")
        sitk = common.median_of(peers, "load_s")
        volume = peers[0]["volume_mib"]
        peak_over = float(np.median([a["peak_rss_mib"] - a["rss_before_mib"] for a in apps]))
        peak = common.median_of(apps, "peak_rss_mib")
        rows.append(
            common.row(
                f"app: folder chosen -> first rendered image, {name}",
                first,
                "SimpleITK int16 load of the series",
                sitk,
                target=f"<= {factor}x SimpleITK" + (" and <= 2 s (issue 10)" if real else ""),
                met=first <= factor * sitk and (first <= 2.0 if real else True),
            )
        )
        rows.append(
            common.row(
                f"app: folder chosen -> reformat shown and background work done, {name}",
                done,
                "SimpleITK int16 load of the series",
                sitk,
                target="<= 3 s (issue 10)" if real else "",
                met=(done <= 3.0) if real else None,
            )
        )
        rows.append(
            common.row(
                f"app: peak RSS growth while opening / volume ({volume:.0f} MiB), {name}",
                peak_over / volume,
                target="<= 2x (issue 10), <= 2.5x (issue 15)" if real else "<= 2.5x (issue 15)",
                met=peak_over / volume <= (2.0 if real else 2.5),
                unit="x",
            )
        )
        step_med = common.median_of(apps, "step_median_ms")
        step_p95 = common.median_of(apps, "step_p95_ms")
        rows.append(
            common.row(
                f"app: slice step (set slice + synchronous paint, no landmarks), p95, {name}",
                step_p95 / 1000,
                target="< 16 ms",
                met=step_p95 < 16,
            )
        )
        notes.append(
            f"{name}: whole app process peak RSS {peak:.0f} MiB (window alone before opening: "
            f"{float(np.median([a['rss_before_mib'] for a in apps])):.0f} MiB); slice step median "
            f"{step_med:.1f} ms, p95 {step_p95:.1f} ms."
        )
    common.write_json(args.json, {"title": "Open a CT in the app", "rows": rows, "notes": notes})
    return 0


if __name__ == "__main__":
    sys.exit(main())
