"""Benchmark: sagittal reformat with Endplate against SimpleITK's ResampleImageFilter, same grid.

Not a test.  Cases: the synthetic 600 x 512 x 512 CT with a 12 deg gantry tilt (the volume
made in memory with the phantom of ``bench/_common.py``; tilted geometry from
``dicomio.synthetic``), and the real 275-slice CT (axis-aligned).  SimpleITK resamples the
same volume onto the same output grid (linear interpolation): for the tilted case through
the affine map from output to source index, for the real CT through its spacing and
origin.  Both run in one child process, interleaved, medians of ``--runs``; the
accuracy line compares Endplate's output with today's per-slice exact mapping
(``resample_slice``) on sampled slices.

    .venv/bin/python bench/bench_reformat.py [--runs 3] [--json OUT.json]
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


def _sitk_resample(
    volume: np.ndarray, image: object, matrix: np.ndarray, offset: np.ndarray, shape: Any
) -> Any:
    """SimpleITK's resample of ``image`` (index space) along ``index = matrix @ out + offset``."""
    import SimpleITK

    xyz = [2, 1, 0]
    transform = SimpleITK.AffineTransform(3)
    transform.SetMatrix(matrix[np.ix_(xyz, xyz)].ravel().tolist())
    transform.SetTranslation(offset[xyz].tolist())
    reference = SimpleITK.Image([shape[2], shape[1], shape[0]], SimpleITK.sitkInt16)
    return SimpleITK.Resample(image, reference, transform, SimpleITK.sitkLinear, float(volume.min()))


def child(argv: list[str]) -> None:
    import SimpleITK

    from dicomio import reformat
    from dicomio.pixels import load_volume
    from dicomio.scan import scan_paths
    from dicomio.synthetic import synth

    case, runs = argv[0], int(argv[1])
    if case == "tilted":
        geometry = synth.tilted_geometry(
            synth.axial_geometry(
                common.N_SLICES,
                common.ROWS,
                common.COLUMNS,
                pixel_spacing_mm=common.SPACING_MM,
                slice_spacing_mm=common.SLICE_MM,
            ),
            12.0,
        )
        volume = common.ct_phantom(common.N_SLICES)
    else:
        (stack,) = scan_paths([common.REAL_CT]).stacks
        geometry, volume = stack.geometry, load_volume(stack)
    target = reformat.sagittal_reformat_geometry(geometry)
    affine = reformat._affine_index_map(geometry, target)
    assert affine is not None, "the benchmark cases have an affine index map"
    image = SimpleITK.GetImageFromArray(volume)
    mine, peer = [], []
    out = None
    for _ in range(runs):
        start = time.perf_counter()
        _, out = reformat.sagittal_reformat(geometry, volume)
        mine.append(time.perf_counter() - start)
        start = time.perf_counter()
        result = _sitk_resample(volume, image, *affine, target.shape)
        peer.append(time.perf_counter() - start)
        del result
    assert out is not None
    # Accuracy against the exact per-slice mapping of the general path, on sampled slices.
    worst = 0
    cval = float(volume.min())
    for k in np.linspace(0, target.shape[0] - 1, 6).astype(int):
        plane = reformat.resample_slice(geometry, volume, target, int(k), cval=cval)
        worst = max(worst, int(np.max(np.abs(np.rint(plane).astype(int) - out[k].astype(int)))))
    common.child_result(
        {
            "endplate_s": statistics.median(mine),
            "simpleitk_s": statistics.median(peer),
            "max_diff_hu": worst,
            "shape_in": list(volume.shape),
            "shape_out": list(target.shape),
        }
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        child(argv[1:])
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = []
    notes = []
    cases = [("tilted", "synthetic CT 600 x 512^2, 12 deg gantry tilt", "<= 1x SimpleITK, within 1 HU")]
    if common.REAL_CT.is_dir():
        cases.append(("real", "real CT lidc-idri-0314 (axis-aligned)", ""))
    for case, name, target in cases:
        r = common.run_child(SCRIPT, [case, str(args.runs)])
        ratio = r["endplate_s"] / r["simpleitk_s"]
        met = (ratio <= 1.0 and r["max_diff_hu"] <= 1) if target else None
        rows.append(
            common.row(
                f"sagittal reformat, {name}, {tuple(r['shape_in'])} -> {tuple(r['shape_out'])}",
                r["endplate_s"],
                "SimpleITK ResampleImageFilter, same grid",
                r["simpleitk_s"],
                target=target,
                met=met,
            )
        )
        notes.append(
            f"{name}: largest difference from the exact per-slice mapping (6 sampled slices): "
            f"{r['max_diff_hu']} HU; reformat process peak RSS {r['peak_rss_mib']:.0f} MiB."
        )
    common.write_json(args.json, {"title": "Sagittal reformat", "rows": rows, "notes": notes})
    return 0


if __name__ == "__main__":
    sys.exit(main())
