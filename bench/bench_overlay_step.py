"""Benchmark: one slice step in the viewer with the demo case's overlays shown, and without.

Not a test.  In-process, offscreen (``QT_QPA_PLATFORM=offscreen``): opens the demo case
(``app.demo_case.ensure_demo_case``) in a :class:`~app.main_window.MainWindow`, then times
``SliceViewer.set_slice`` plus a synchronous repaint of the viewport (what the reader waits
for) for ``--steps`` steps back and forth over the slices around the landmarks.  The peer in
the same run is the same viewer with an empty overlay state (no items); the two are timed in
alternating blocks so that both see the same machine load.  Prints a markdown section.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_overlay_step.py [--steps 400] [--case CASE]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

BLOCK = 50


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=400, help="steps per variant (>= 200)")
    ap.add_argument("--case", type=Path, default=None, help="a case file (default: the demo case)")
    args = ap.parse_args()
    steps = max(200, args.steps)

    from PySide6 import QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    from app.demo_case import ensure_demo_case
    from app.gui import apply_theme, open_initial
    from app.main_window import MainWindow
    from app.overlays import OverlayState

    case = args.case or ensure_demo_case()
    apply_theme(app)  # type: ignore[arg-type]
    window = MainWindow(interactive_errors=False, close_decision=lambda: "discard")
    window.resize(1500, 920)
    window.show()
    if not open_initial(window, [case], demo=False):
        print(f"could not open {case}", file=sys.stderr)
        return 1
    deadline = time.monotonic() + 120
    while (window.viewer.source is None or window.tasks) and time.monotonic() < deadline:
        app.processEvents()
    viewer = window.viewer
    if viewer.source is None:
        print("the case showed no image", file=sys.stderr)
        return 1
    full = window.overlay.state
    n_items = len(window.overlay.items())
    k0, n = viewer.slice_index, viewer.n_slices
    path = [k for k in (k0, k0 + 1, k0 + 2, k0 + 1, k0, k0 - 1, k0 - 2, k0 - 1) if 0 <= k < n]

    def block(with_overlays: bool, out: list[float], update: list[float] | None = None) -> None:
        window.overlay.set_state(full if with_overlays else OverlayState())
        viewport = viewer.canvas.viewport()
        viewer.set_slice(path[-1])
        viewport.repaint()
        for i in range(BLOCK):
            k = path[i % len(path)]
            if k == viewer.slice_index:
                k = path[(i + 1) % len(path)]
            t = time.perf_counter()
            viewer.set_slice(k)
            t_update = time.perf_counter()
            viewport.repaint()
            out.append((time.perf_counter() - t) * 1000.0)
            if update is not None:
                update.append((t_update - t) * 1000.0)

    with_ms: list[float] = []
    without_ms: list[float] = []
    with_update: list[float] = []
    without_update: list[float] = []
    block(True, [])  # warm-up of both
    block(False, [])
    while len(with_ms) < steps:
        block(True, with_ms, with_update)
        block(False, without_ms, without_update)
    window.overlay.set_state(full)
    rows, cols = viewer.source.geometry.first.rows, viewer.source.geometry.first.columns
    levels = len(full.vertebrae)

    def stats(xs: list[float]) -> tuple[float, float]:
        a = np.asarray(xs)
        return float(np.median(a)), float(np.percentile(a, 95))

    wm, wp = stats(with_ms)
    om, op = stats(without_ms)
    load = os.getloadavg()
    print("## Overlay slice step\n")
    print(
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}, {platform.node() or 'machine'}: {os.cpu_count()} cores, "
        f"load average {load[0]:.2f}; demo case {cols}x{rows}, {levels} vertebrae on the series shown "
        f"({n_items} overlay items), {len(with_ms)} steps each, `set_slice` + synchronous repaint, "
        "offscreen (`bench/bench_overlay_step.py`).\n"
    )
    wum, wup = stats(with_update)
    oum, oup = stats(without_update)
    print("| slice step | median (ms) | p95 (ms) | of which `set_slice` (items updated), median / p95 (ms) |")
    print("|---|---|---|---|")
    print(
        "| with the case's overlays (handles, lines, labels, leaders) "
        f"| {wm:.2f} | {wp:.2f} | {wum:.2f} / {wup:.2f} |"
    )
    print(f"| without overlays (peer, same viewer, same run) | {om:.2f} | {op:.2f} | {oum:.2f} / {oup:.2f} |")
    print(f"| ratio | {wm / om:.2f}x | {wp / op:.2f}x | {wum / oum:.2f}x / {wup / oup:.2f}x |")
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
