"""Benchmark: load a 600-slice 512 x 512 CT series with Endplate, SimpleITK and plain pydicom.

Not a test.  Writes the series once (with ``dicomio.synthetic.synth``) into ``--folder`` (default: a
folder under the system temp dir, reused between runs), then measures in the same run:

(a) Endplate: ``scan_paths`` (headers, threads) + ``load_volume`` (direct reads, threads);
(b) SimpleITK ``ImageSeriesReader``: ``GetGDCMSeriesFileNames`` + ``Execute``;
(c) plain sequential pydicom: ``dcmread`` + ``pixel_array`` + sort + ``np.stack`` + rescale;

best of ``--runs`` runs each, plus the peak memory (tracemalloc) of Endplate's load against
the size of the decoded volume, and the sagittal reformat of the loaded volume.  With
``--cold`` the page cache of every file is dropped before each run
(``posix_fadvise(DONTNEED)``), so the disk is read again.  Prints a markdown table.

    .venv/bin/python bench/bench_load.py [--folder DIR] [--runs 3] [--cold]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dicomio.pixels import load_volume
from dicomio.reformat import sagittal_reformat
from dicomio.scan import scan_paths
from dicomio.synthetic import synth

N_SLICES, ROWS, COLUMNS = 600, 512, 512
SPACING_MM = (0.68, 0.68)
SLICE_MM = 0.8
DONE_MARKER = ".complete"


def write_ct_series(folder: Path) -> list[Path]:
    """The benchmark series (written once; reused when the folder is complete)."""
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
    # A smooth body-like phantom (air outside an ellipse, soft tissue, a bright "spine").
    yy, xx = np.mgrid[0:ROWS, 0:COLUMNS]
    body = ((xx - 256) / 200.0) ** 2 + ((yy - 256) / 150.0) ** 2 < 1
    spine = ((xx - 256) / 30.0) ** 2 + ((yy - 330) / 25.0) ** 2 < 1
    plane = np.where(body, 40, -1000) + np.where(spine, 700, 0)
    rng = np.random.default_rng(0)
    volume = np.empty(geometry.shape, dtype=np.int16)
    for k in range(N_SLICES):
        volume[k] = plane + rng.integers(-20, 21, size=plane.shape)
    spec = synth.SeriesSpec(modality="CT", description="bench CT", rescale_intercept=-1024)
    paths = synth.write_series(folder, volume, geometry, spec, shuffle_names=True)
    marker.write_text("ok\n")
    return paths


def drop_page_cache(paths: list[Path]) -> None:
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def endplate_load(folder: Path) -> np.ndarray:
    result = scan_paths([folder])
    (stack,) = result.stacks
    return load_volume(stack)


def endplate_scan_only(folder: Path) -> None:
    scan_paths([folder])


def simpleitk_load(folder: Path) -> object:
    import SimpleITK

    reader = SimpleITK.ImageSeriesReader()
    names = reader.GetGDCMSeriesFileNames(str(folder))
    reader.SetFileNames(names)
    return reader.Execute()


def simpleitk_names(folder: Path) -> object:
    import SimpleITK

    return SimpleITK.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder))


def pydicom_load(folder: Path) -> np.ndarray:
    import pydicom

    datasets = [pydicom.dcmread(p) for p in sorted(folder.glob("*.dcm"))]
    datasets.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    volume = np.stack([ds.pixel_array for ds in datasets])
    slope, intercept = float(datasets[0].RescaleSlope), float(datasets[0].RescaleIntercept)
    return (volume * slope + intercept).astype(np.int16)


def best_of(fn: Callable[[], object], runs: int, before: Callable[[], None]) -> float:
    times = []
    for _ in range(runs):
        before()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "endplate-bench-ct600")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="drop each file's page cache before every run")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    paths = write_ct_series(args.folder)
    print(f"series: {len(paths)} files in {args.folder} (ready in {time.perf_counter() - t0:.1f} s)")
    before = (lambda: drop_page_cache(paths)) if args.cold else (lambda: None)

    volume = endplate_load(args.folder)
    reference = pydicom_load(args.folder)
    assert np.array_equal(volume, reference), "Endplate and pydicom disagree"
    import SimpleITK

    image = simpleitk_load(args.folder)  # keep it alive while its array view is used
    assert np.array_equal(SimpleITK.GetArrayViewFromImage(image), volume), "SimpleITK disagrees"
    del reference, image

    (stack,) = scan_paths([args.folder]).stacks
    rows = [
        ("Endplate scan + load_volume", best_of(lambda: endplate_load(args.folder), args.runs, before)),
        ("SimpleITK ImageSeriesReader", best_of(lambda: simpleitk_load(args.folder), args.runs, before)),
        ("pydicom sequential", best_of(lambda: pydicom_load(args.folder), max(1, args.runs - 1), before)),
        ("Endplate header scan only", best_of(lambda: endplate_scan_only(args.folder), args.runs, before)),
        ("Endplate load_volume only (scanned stack)", best_of(lambda: load_volume(stack), args.runs, before)),
        (
            "SimpleITK GetGDCMSeriesFileNames only",
            best_of(lambda: simpleitk_names(args.folder), args.runs, before),
        ),
    ]

    before()
    tracemalloc.start()
    loaded = load_volume(stack)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    start = time.perf_counter()
    target, _ = sagittal_reformat(stack.geometry, loaded)
    reformat_s = time.perf_counter() - start

    cache = "cold page cache" if args.cold else "warm page cache"
    print(
        f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {cache}, best of {args.runs}\n"
    )
    print("| method | seconds | vs SimpleITK |")
    print("|---|---:|---:|")
    sitk_s = rows[1][1]
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} | {seconds / sitk_s:.2f}x |")
    print(
        f"\nEndplate load peak memory (tracemalloc): {peak / 2**20:.0f} MiB for a "
        f"{loaded.nbytes / 2**20:.0f} MiB volume ({peak / loaded.nbytes:.3f}x)"
    )
    print(f"Sagittal reformat {stack.geometry.shape} -> {target.shape}: {reformat_s:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
