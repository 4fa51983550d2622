"""Shared helpers of the benchmarks: whole-process runs, medians, peak memory, the series.

Every figure is measured in a child process (``python bench/X.py --child ...``) so that it
includes what a user waits for and the peak memory (``ru_maxrss``) is the process's own.
A child prints one JSON object on its last stdout line.  Benchmarks write their results as
JSON (``--json PATH``): ``{"title", "rows": [{"what", "endplate_s", "peer", "peer_s",
"ratio", "target", "met", ...}], "notes": [...]}``; ``bench/run_all.py`` turns them into
``docs/performance.md``.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL_CT = ROOT.parent / "shared" / "realdata" / "lidc-idri-0314-ct"
if not REAL_CT.is_dir():  # a worktree elsewhere: the shared folder of the project
    REAL_CT = Path("/work/shared/realdata/lidc-idri-0314-ct")

N_SLICES, ROWS, COLUMNS = 600, 512, 512
SPACING_MM, SLICE_MM = (0.68, 0.68), 0.8
DONE_MARKER = ".complete"


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (MiB): ``VmHWM``, which starts afresh at
    ``exec`` (``ru_maxrss`` keeps the parent's peak across ``fork`` + ``exec`` on Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mib() -> float:
    """Resident memory of this process now (MiB)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def child_result(payload: dict[str, Any]) -> None:
    """What a child reports: one JSON line, with its peak memory."""
    payload.setdefault("peak_rss_mib", peak_rss_mib())
    print(json.dumps(payload), flush=True)


def run_child(script: Path, args: Sequence[str], *, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``script --child args`` as its own process; its JSON plus the process's wall time."""
    full_env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **(env or {})}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(script), "--child", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        what = f"{script.name} {' '.join(args)}"
        raise RuntimeError(f"{what} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_s"] = wall
    return result


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def drop_page_cache(paths: Sequence[Path]) -> None:
    """Ask the kernel to forget the files' cached pages (a cold read next time)."""
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def machine() -> dict[str, Any]:
    """The machine and its load, for the report."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            mem_kib = int(f.readline().split()[1])
    except OSError:
        mem_kib = 0
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import SimpleITK

    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "simpleitk": SimpleITK.Version.VersionString(),
        "numpy": np.__version__,
    }


def default_folder(name: str) -> Path:
    return Path(tempfile.gettempdir()) / name


def write_ct600(folder: Path) -> list[Path]:
    """The synthetic 600 x 512 x 512 CT (written once with ``dicomio.synthetic``; reused when
    the folder is complete): air outside a body ellipse, soft tissue, a bright spine, noise."""
    sys.path.insert(0, str(ROOT))
    from dicomio.synthetic import synth

    marker = folder / DONE_MARKER
    if marker.is_file():
        return sorted(p for p in folder.iterdir() if p.suffix == ".dcm")
    folder.mkdir(parents=True, exist_ok=True)
    geometry = synth.axial_geometry(
        N_SLICES,
        ROWS,
        COLUMNS,
        pixel_spacing_mm=SPACING_MM,
        slice_spacing_mm=SLICE_MM,
        origin_mm=(-174, -174, 0),
    )
    volume = ct_phantom(N_SLICES)
    spec = synth.SeriesSpec(modality="CT", description="bench CT", rescale_intercept=-1024)
    paths = synth.write_series(folder, volume, geometry, spec, shuffle_names=True)
    marker.write_text("ok\n")
    return paths


def ct_phantom(n_slices: int) -> np.ndarray:
    """int16 HU: body ellipse (40), spine (740), air (-1000), +/-20 noise."""
    yy, xx = np.mgrid[0:ROWS, 0:COLUMNS]
    body = ((xx - 256) / 200.0) ** 2 + ((yy - 256) / 150.0) ** 2 < 1
    spine = ((xx - 256) / 30.0) ** 2 + ((yy - 330) / 25.0) ** 2 < 1
    plane = (np.where(body, 40, -1000) + np.where(spine, 700, 0)).astype(np.int16)
    rng = np.random.default_rng(0)
    volume = np.empty((n_slices, ROWS, COLUMNS), dtype=np.int16)
    for k in range(n_slices):
        volume[k] = plane + rng.integers(-20, 21, size=plane.shape, dtype=np.int16)
    return volume


def row(
    what: str,
    endplate_s: float,
    peer: str | None = None,
    peer_s: float | None = None,
    target: str = "",
    met: bool | None = None,
    **extra: Any,
) -> dict[str, Any]:
    ratio = endplate_s / peer_s if peer_s else None
    return {
        "what": what,
        "endplate_s": endplate_s,
        "peer": peer,
        "peer_s": peer_s,
        "ratio": ratio,
        "target": target,
        "met": met,
        **extra,
    }


def write_json(path: Path | None, payload: dict[str, Any]) -> None:
    text = json.dumps(payload, indent=2)
    if path is None:
        print(text)
    else:
        Path(path).write_text(text + "\n", encoding="utf-8")
