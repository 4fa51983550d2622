"""Benchmark: the spine locator on the real CT's sagittal reformat and the real multi-frame MR.

Not a test.  Loads ``../shared/realdata/lidc-idri-0314-ct`` (275 axial 512 x 512 slices) as
its 512-slice sagittal reformat and ``spine-ls.dcm`` with Endplate, then times in the same
run, best of ``--runs``:

(a) ``measure.spine_view.locate_spine`` on the display volume;
(b) a peer touching every voxel once: SimpleITK ``BinaryThreshold`` of the same volume at
    the locator's bone level (what a whole-volume pass costs, without the copy into SimpleITK).

Prints one line per volume.

    .venv/bin/python bench/bench_spine_view.py [--runs 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import SimpleITK

from dicomio.display_stack import DisplayStack
from dicomio.scan import scan_paths
from measure.spine_view import BONE_HU, locate_spine

REALDATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "realdata"


def best_of(runs: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for name in ("lidc-idri-0314-ct", "spine-ls.dcm"):
        (stack,) = scan_paths([REALDATA / name]).stacks
        display = DisplayStack.for_viewing(stack)
        volume, geometry, modality = display.volume(), display.geometry, stack.modality
        view = locate_spine(volume, geometry, modality)
        t_locate = best_of(args.runs, partial(locate_spine, volume, geometry, modality))
        image = SimpleITK.GetImageFromArray(volume)
        t_peer = best_of(args.runs, partial(SimpleITK.BinaryThreshold, image, BONE_HU, 32767.0, 1, 0))
        kind = "sagittal reformat" if display.is_reformat else "acquired"
        print(
            f"{name} ({kind}, {'x'.join(map(str, volume.shape))}): locate_spine {t_locate * 1000:.0f} ms "
            f"(slice {view.slice_index}, confident {view.confident}); "
            f"SimpleITK BinaryThreshold of the volume {t_peer * 1000:.0f} ms; best of {args.runs}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
