"""Benchmark: start-up of the command line and the window, whole processes.

Not a test.  Measured (medians of ``--runs``, each a fresh process):
``main.py --help``; ``main.py measure`` on the demo case (built once with
``app.demo_case.ensure_demo_case`` into a temp folder); the demo window rendered to a PNG
(``main.py --demo --screenshot``, demo already built) against a bare Qt + pyqtgraph window
rendered the same way (the peer: what any PySide6 + pyqtgraph app pays); and whether
``requests`` is imported by ``import app.main_window`` (it should not be).

Modules run byte-compiled, as from an installed package (pip compiles them) or a source
tree Python may write ``__pycache__`` in: the processes get a private
``PYTHONPYCACHEPREFIX`` (filled by the warm-up run) and no ``PYTHONDONTWRITEBYTECODE``,
whatever the calling shell sets; otherwise every start would compile every module from
source (0.1-0.3 s here), which no user's start does twice.

    .venv/bin/python bench/bench_startup.py [--runs 3] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

BARE_WINDOW = """
import sys
from PySide6 import QtWidgets
import pyqtgraph as pg
app = QtWidgets.QApplication(sys.argv)
w = pg.GraphicsLayoutWidget(); w.resize(1600, 1000); w.addViewBox().addItem(pg.ImageItem())
w.show(); app.processEvents(); w.grab().save(sys.argv[1], "PNG")
"""


def timed(cmd: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=common.ROOT, check=False)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr[-1500:]}")
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    py = sys.executable
    main_py = str(common.ROOT / "main.py")
    # The app keeps its demo, log and settings in its data folder: a private one, kept between
    # runs (the demo is built once).
    home = Path(tempfile.gettempdir()) / "endplate-bench-home"
    home.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "ENDPLATE_HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "PYTHONPYCACHEPREFIX": str(home / "pycache"),  # byte-compiled, as installed (see above)
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    build = subprocess.run(
        [py, "-c", "from app.demo_case import ensure_demo_case; print(ensure_demo_case())"],
        capture_output=True,
        text=True,
        env=env,
        cwd=common.ROOT,
        check=True,
    )
    case = build.stdout.strip().splitlines()[-1]
    shot = str(home / "shot.png")
    subprocess.run([py, main_py, "--demo", "--screenshot", shot], env=env, cwd=common.ROOT, check=True)
    # The warm-up runs also byte-compile what the measured ones import (see the docstring).
    subprocess.run([py, main_py, "measure", case], env=env, cwd=common.ROOT, capture_output=True, check=True)
    subprocess.run([py, "-c", BARE_WINDOW, shot], env=env, cwd=common.ROOT, check=True)
    help_s = timed([py, main_py, "--help"], env, args.runs)
    measure_s = timed([py, main_py, "measure", case], env, args.runs)
    demo_s = timed([py, main_py, "--demo", "--screenshot", shot], env, args.runs)
    bare_s = timed([py, "-c", BARE_WINDOW, shot], env, args.runs)
    probe = subprocess.run(
        [py, "-c", "import sys, app.main_window; print('requests' in sys.modules)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=common.ROOT,
        check=True,
    )
    requests_loaded = probe.stdout.strip().splitlines()[-1] == "True"
    rows = [
        common.row("start-up: main.py --help", help_s),
        common.row("start-up: main.py measure DEMO_CASE", measure_s, target="<= 0.5 s", met=measure_s <= 0.5),
        common.row(
            "start-up: --demo --screenshot (demo built)",
            demo_s,
            "bare PySide6 + pyqtgraph window, rendered",
            bare_s,
            target="<= 2 s",
            met=demo_s <= 2.0,
        ),
    ]
    notes = [
        f"`requests` imported by `import app.main_window`: {requests_loaded} (target: False).",
        "Modules byte-compiled (a private PYTHONPYCACHEPREFIX, warmed up), as an installed package runs.",
    ]
    common.write_json(args.json, {"title": "Start-up", "rows": rows, "notes": notes})
    return 0


if __name__ == "__main__":
    sys.exit(main())
