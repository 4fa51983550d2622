"""Benchmark: load a CT series (scan + pixels) with Endplate, SimpleITK (int16) and plain pydicom.

Not a test.  Series: the synthetic 600 x 512 x 512 CT (written once with
``dicomio.synthetic`` into ``--folder``, default a folder under the temp dir) and the real
275-slice CT in ``shared/realdata``.  Each load runs in its own process (``--child``), the
three methods interleaved, warm page cache and cold (``posix_fadvise(DONTNEED)`` before each
run); medians of ``--runs`` (plain pydicom, the slow reference, once per cache state).
Reported: the load time inside the process (what the app
waits for once started), its CPU time (user + system, all threads: on a busy machine the
wall time also counts other processes' turns), the whole process, and the peak RSS above
the process's memory before the load, against the volume's size.  A first child checks that the three methods
return identical voxels.

    .venv/bin/python bench/bench_load.py [--runs 5] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

SCRIPT = Path(__file__).resolve()


# -- children ----------------------------------------------------------------------------------


def _endplate(folder: Path) -> np.ndarray:
    from dicomio.pixels import load_volume
    from dicomio.scan import scan_paths

    (stack,) = scan_paths([folder]).stacks
    return load_volume(stack)


class _Held(np.ndarray):
    """An array view that keeps the SimpleITK image it looks into alive."""

    image: object


def _simpleitk(folder: Path) -> np.ndarray:
    import SimpleITK

    reader = SimpleITK.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    reader.SetOutputPixelType(SimpleITK.sitkInt16)
    image = reader.Execute()
    view = SimpleITK.GetArrayViewFromImage(image).view(_Held)
    view.image = image  # the view is valid only while the image lives
    return view


def _pydicom(folder: Path) -> np.ndarray:
    import pydicom

    datasets = [pydicom.dcmread(p) for p in sorted(folder.glob("*.dcm"))]
    normal = np.cross(
        np.array(datasets[0].ImageOrientationPatient[:3], dtype=float),
        np.array(datasets[0].ImageOrientationPatient[3:], dtype=float),
    )
    datasets.sort(key=lambda ds: float(np.dot(np.array(ds.ImagePositionPatient, dtype=float), normal)))
    volume = np.stack([ds.pixel_array for ds in datasets])
    slope, intercept = float(datasets[0].RescaleSlope), float(datasets[0].RescaleIntercept)
    return (volume * slope + intercept).astype(np.int16)


METHODS = {"endplate": _endplate, "simpleitk": _simpleitk, "pydicom": _pydicom}


def child(argv: list[str]) -> None:
    method, folder = argv[0], Path(argv[1])
    if method == "verify":
        mine = _endplate(folder)
        sitk = np.array(_simpleitk(folder))
        plain = _pydicom(folder)
        # SimpleITK orders slices along its own normal; compare as sets of slices in LPS order.
        same_sitk = np.array_equal(mine, sitk) or np.array_equal(mine, sitk[::-1])
        same_plain = np.array_equal(mine, plain) or np.array_equal(mine, plain[::-1])
        common.child_result({"simpleitk_equal": bool(same_sitk), "pydicom_equal": bool(same_plain)})
        return
    fn = METHODS[method]
    if method == "endplate":  # the imports the app has made before a folder is chosen
        import dicomio.pixels
        import dicomio.scan  # noqa: F401
    elif method == "simpleitk":
        import SimpleITK  # noqa: F401
    else:
        import pydicom  # noqa: F401
    before = common.rss_mib()
    cpu_start = _cpu_s()
    start = time.perf_counter()
    volume = fn(folder)
    seconds = time.perf_counter() - start
    cpu = _cpu_s() - cpu_start
    common.child_result(
        {"load_s": seconds, "cpu_s": cpu, "rss_before_mib": before, "volume_mib": volume.nbytes / 2**20}
    )


def _cpu_s() -> float:
    """CPU time of this process so far (user + system, all threads): on a shared machine
    the wall time also counts the other processes' turns."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- parent ------------------------------------------------------------------------------------


def measure(folder: Path, runs: int, cold: bool) -> dict[str, list[dict[str, Any]]]:
    paths = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    results: dict[str, list[dict[str, Any]]] = {m: [] for m in METHODS}
    if not cold:
        for m in METHODS:  # warm the page cache (and the interpreter's .pyc files)
            common.run_child(SCRIPT, [m, str(folder)])
    for i in range(runs):
        for m in METHODS:
            if m == "pydicom" and i > 0:
                continue  # the slow reference: one run per cache state
            if cold:
                common.drop_page_cache(paths)
            results[m].append(common.run_child(SCRIPT, [m, str(folder)]))
    return results


def summarise(name: str, results: dict[str, list[dict[str, Any]]], cache: str) -> list[dict[str, Any]]:
    mine, sitk, plain = (results[m] for m in ("endplate", "simpleitk", "pydicom"))
    load, sitk_load = common.median_of(mine, "load_s"), common.median_of(sitk, "load_s")
    volume = mine[0]["volume_mib"]
    peak_over = float(np.median([r["peak_rss_mib"] - r["rss_before_mib"] for r in mine]))
    ratio = load / sitk_load
    return [
        common.row(
            f"{name}: load (scan + pixels), {cache}",
            load,
            "SimpleITK ImageSeriesReader (int16)",
            sitk_load,
            target="<= 0.35x SimpleITK",
            met=ratio <= 0.35,
        ),
        common.row(
            f"{name}: load vs plain pydicom, {cache}",
            load,
            "pydicom dcmread + pixel_array + np.stack",
            common.median_of(plain, "load_s"),
        ),
        common.row(
            f"{name}: CPU time of the load (user + system, all threads), {cache}",
            common.median_of(mine, "cpu_s"),
            "SimpleITK, CPU time",
            common.median_of(sitk, "cpu_s"),
        ),
        common.row(
            f"{name}: whole process (start, imports, load), {cache}",
            common.median_of(mine, "process_s"),
            "SimpleITK, whole process",
            common.median_of(sitk, "process_s"),
        ),
        common.row(
            f"{name}: peak RSS of the load / volume ({volume:.0f} MiB), {cache}",
            peak_over / volume,
            "SimpleITK peak / volume",
            float(np.median([r["peak_rss_mib"] - r["rss_before_mib"] for r in sitk])) / volume,
            target="<= 1.2x the volume",
            met=peak_over / volume <= 1.2,
            unit="x",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        child(argv[1:])
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--folder", type=Path, default=common.default_folder("endplate-bench-ct600"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    common.write_ct600(args.folder)
    series = [("synthetic CT 600 x 512^2", args.folder)]
    if common.REAL_CT.is_dir():
        series.append(("real CT lidc-idri-0314 (275 x 512^2)", common.REAL_CT))
    rows: list[dict[str, Any]] = []
    notes = []
    for name, folder in series:
        check = common.run_child(SCRIPT, ["verify", str(folder)])
        notes.append(
            f"{name}: Endplate's voxels equal SimpleITK's: {check['simpleitk_equal']}, "
            f"plain pydicom's: {check['pydicom_equal']}."
        )
        rows += summarise(name, measure(folder, args.runs, cold=False), "warm")
        rows += summarise(name, measure(folder, args.cold_runs, cold=True), "cold")
    common.write_json(args.json, {"title": "Load a CT series (scan + pixels)", "rows": rows, "notes": notes})
    return 0


if __name__ == "__main__":
    sys.exit(main())
