"""Benchmark: export N cases (default 1,000) to CSV and FHIR, each in a whole process.

Not a test.  Builds the demo case once (``app.demo_case.ensure_demo_case``; ``--small`` for
the small demo images) in ``--folder``, writes N copies of its case file beside it (each
with its own case id, all pointing at the same DICOM folders, as a registry's cases of one
site's studies do), then runs in the same run, each as a fresh process:

(a) ``endplate export CASES... --format csv``;
(b) ``endplate export CASES... --format fhir``;
(c) the peer: a plain Python process that reads the same N case files with ``json.load``
    and writes them back with one ``json.dump`` (the floor for reading and writing the
    same records, with no measuring, scanning or validating).

Reports the wall time and peak RSS of each (``os.wait4``), and prints a markdown section.

    .venv/bin/python bench/bench_export.py [--cases 1000] [--small] [--folder DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_PEER = """
import json, sys
cases = [json.load(open(p, encoding="utf-8")) for p in sys.argv[2:]]
with open(sys.argv[1], "w", encoding="utf-8") as f:
    json.dump(cases, f)
"""


def _run(argv: list[str]) -> tuple[float, float, int]:
    """Seconds, peak RSS in MB, exit status of one process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.stderr is not None:
        err = proc.stderr.read().decode("utf-8", "replace").strip()
        if err:
            print(err[-2000:], file=sys.stderr)
    rss_mb = usage.ru_maxrss / 1024  # KiB on Linux
    return seconds, rss_mb, proc.returncode


def make_cases(folder: Path, n: int, small: bool) -> list[Path]:
    from app.demo_case import ensure_demo_case

    case = ensure_demo_case(folder / "demo", small=small)
    data = json.loads(case.read_text(encoding="utf-8"))
    paths = []
    for i in range(n):
        path = case.parent / f"bench-case-{i:05d}.json"
        if not path.exists():
            path.write_text(json.dumps({**data, "case_id": f"BENCH-{i:05d}"}), encoding="utf-8")
        paths.append(path)
    return paths


def _machine() -> str:
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    python = platform.python_version()
    return f"{os.cpu_count()} cores, {mem_gb:.1f} GiB, load average {load}, Python {python}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--small", action="store_true", help="the small demo images (faster to build)")
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "endplate-bench-export")
    parser.add_argument("--make-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.make_only:  # in a child: this process stays small, so wait4's peak RSS is the export's
        make_cases(args.folder, args.cases, args.small)
        return 0
    build = [sys.executable, __file__, "--make-only", "--cases", str(args.cases)]
    build += ["--folder", str(args.folder)]
    subprocess.run(build + (["--small"] if args.small else []), check=True)
    cases = [args.folder / "demo" / f"bench-case-{i:05d}.json" for i in range(args.cases)]
    out = args.folder / "out"
    out.mkdir(parents=True, exist_ok=True)
    names = [str(p) for p in cases]
    endplate = [sys.executable, str(ROOT / "main.py"), "export", "--force", *names]
    csv_out, fhir_out = str(out / "x.csv"), str(out / "x.fhir.json")
    runs = {
        "CSV export (`endplate export --format csv`)": [*endplate, "--format", "csv", "--out", csv_out],
        "FHIR export (`endplate export --format fhir`)": [*endplate, "--format", "fhir", "--out", fhir_out],
        "peer: plain `json.load` + `json.dump` of the same case files": [
            sys.executable,
            "-c",
            _PEER,
            str(out / "peer.json"),
            *names,
        ],
    }
    results = {}
    for name, cmd in runs.items():
        results[name] = _run(cmd)
    n = len(cases)
    print("## Export\n")
    print(
        f"`python bench/bench_export.py --cases {n}{' --small' if args.small else ''}`, "
        f"{time.strftime('%Y-%m-%d')}, {_machine()}.  {n} copies of the demo case "
        f"({'small' if args.small else 'full'} images), all pointing at the same DICOM folders; "
        "each row is one whole process (start-up included), peak RSS from `wait4`.\n"
    )
    print("| what | seconds | per case (ms) | peak RSS (MB) | exit |")
    print("|---|---:|---:|---:|---:|")
    for name, (seconds, rss, status) in results.items():
        print(f"| {name} | {seconds:.1f} | {1000 * seconds / n:.1f} | {rss:.0f} | {status} |")
    print(
        "\nTargets (issue 15): CSV <= 30 s and FHIR <= 60 s for 1,000 cases, peak < 500 MB. "
        "Each DICOM folder is scanned once per run; FHIR entries are validated by "
        "`fhir.resources` once per new structure and every value is checked (docs/export.md)."
    )
    return 0 if all(status == 0 for _, _, status in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
