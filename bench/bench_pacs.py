"""Benchmark: retrieve the real 275-slice CT from a local Orthanc by C-GET, C-MOVE and WADO-RS
with Endplate, against dcmtk's ``getscu`` and ``movescu`` on the same server in the same run.

Not a test.  Starts Orthanc (``tests/orthanc.py``: temporary configuration and storage, free
localhost ports), uploads ``../shared/realdata/lidc-idri-0314-ct``, then for each way the best of
``--runs`` runs into an empty cache folder: seconds and MB/s (bytes of the files written).
Prints a markdown table.

    .venv/bin/python bench/bench_pacs.py [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pydicom

from dicomio.pacs import client
from dicomio.pacs.nodes import DimseNode, LocalAe, Node, parse_node_url
from tests.conftest import REALDATA
from tests.orthanc import ORTHANC_AE, OUR_AE, start_orthanc


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _best(runs: int, fn: Callable[[Path], None], work: Path) -> tuple[float, int]:
    best = float("inf")
    size = 0
    for _ in range(runs):
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        start = time.perf_counter()
        fn(work)
        best = min(best, time.perf_counter() - start)
        size = _size(work)
    return best, size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    files = sorted((REALDATA / "lidc-idri-0314-ct").glob("*.dcm"))
    header = pydicom.dcmread(files[0], stop_before_pixels=True)
    study, series = str(header.StudyInstanceUID), str(header.SeriesInstanceUID)
    with tempfile.TemporaryDirectory(prefix="endplate-bench-pacs-") as tmp:
        root = Path(tmp)
        server = start_orthanc(root / "orthanc")
        try:
            server.upload(files)
            dimse = parse_node_url(server.dimse_url, LocalAe(OUR_AE, server.our_port))
            assert isinstance(dimse, DimseNode)
            web = parse_node_url(server.dicomweb)
            port = str(server.dicom_port)
            common = ["-aet", OUR_AE, "-aec", ORTHANC_AE, "-S", "-k", "QueryRetrieveLevel=SERIES"]
            keys = ["-k", f"StudyInstanceUID={study}", "-k", f"SeriesInstanceUID={series}"]

            def ours(node: Node) -> Callable[[Path], None]:
                def run(work: Path) -> None:
                    client.retrieve_series(node, study, series, work)

                return run

            def getscu(work: Path) -> None:
                subprocess.run(["getscu", *common, *keys, "-od", str(work), "127.0.0.1", port], check=True)

            def movescu(work: Path) -> None:
                subprocess.run(
                    [
                        "movescu",
                        *common,
                        *keys,
                        "-aem",
                        OUR_AE,
                        "+P",
                        str(server.our_port),
                        "-od",
                        str(work),
                        "127.0.0.1",
                        port,
                    ],
                    check=True,
                )

            cases = [
                ("C-GET", "Endplate (pynetdicom)", ours(dimse)),
                ("C-GET", "dcmtk getscu", getscu),
                ("C-MOVE", "Endplate (pynetdicom)", ours(replace(dimse, retrieve="move"))),
                ("C-MOVE", "dcmtk movescu", movescu),
                ("WADO-RS", "Endplate (dicomweb-client)", ours(web)),
            ]
            print(
                f"275-slice CT ({_size(REALDATA / 'lidc-idri-0314-ct') / 1e6:.0f} MB) from a local Orthanc, "
                f"best of {args.runs}\n"
            )
            print("| way | client | s | MB/s |")
            print("|---|---|---:|---:|")
            for way, who, fn in cases:
                seconds, size = _best(args.runs, fn, root / "out")
                print(f"| {way} | {who} | {seconds:.2f} | {size / 1e6 / seconds:.0f} |", flush=True)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
