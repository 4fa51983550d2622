"""Cohort report speed: ``endplate cohort`` on synthetic cohorts of 100, 1,000 and 10,000
case files (no DICOM: the report works from the case files alone), whole processes.

Each case: T12/L1/L2 at pre-op, post-op and (80 %) follow-up, L1 a wedge fracture treated
by kyphoplasty or SpineJack; heights, VAS, ODI, ages drawn from plausible distributions
(seeded).  Peer in the same run: a process that only reads and parses the same files with
``json.load`` (the floor for any report that reads every case).  Prints a markdown section.

    python bench/bench_cohort.py [--sizes 100 1000 10000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

UID_OF = {"pre": 1, "post": 2, "fu": 3}  # series UIDs are digits and dots
ROOT = Path(__file__).resolve().parents[1]


def _vertebra(tp: str, level: str, status: str, z0: float, ha: float, hm: float, hp: float) -> dict:
    points = {}
    for key, y, h in (("ant", -25.0, ha), ("mid", -10.0, hm), ("post", 5.0, hp)):
        points[f"sup_{key}"] = {"position": [0.0, y, z0 + h / 2], "series_uid": f"1.2.{UID_OF[tp]}"}
        points[f"inf_{key}"] = {"position": [0.0, y, z0 - h / 2], "series_uid": f"1.2.{UID_OF[tp]}"}
    uid = f"1.2.{UID_OF[tp]}"
    return {"timepoint": tp, "level": level, "status": status, "series_uid": uid, "landmarks": points}


def synthetic_case(i: int, rng: random.Random) -> dict:
    ref = rng.gauss(26.0, 2.0)
    pre_ha = ref * rng.uniform(0.45, 0.8)
    post_ha = pre_ha + (ref - pre_ha) * rng.uniform(0.2, 0.9)
    fu = rng.random() < 0.8
    tps = [("pre", "pre-op", "2025-01-10"), ("post", "post-op", "2025-01-12")]
    if fu:
        tps.append(("fu", "follow-up", "2025-07-12"))
    vertebrae = []
    for tp, _, _ in tps:
        ha = {"pre": pre_ha, "post": post_ha, "fu": post_ha - rng.uniform(0, 1.5)}[tp]
        vertebrae += [
            _vertebra(tp, "T12", "reference", 60, ref, ref, ref),
            _vertebra(tp, "L1", "fractured" if tp == "pre" else "treated", 30, ha, (ha + ref) / 2, ref),
            _vertebra(tp, "L2", "reference", 0, ref + 1, ref + 1, ref + 1),
        ]
    clinical = [
        {"timepoint": "pre", "vas": round(rng.uniform(5, 10), 1), "odi": round(rng.uniform(40, 80)),
         "symptom_duration_days": rng.randint(5, 90)},
        {"timepoint": "post", "vas": round(rng.uniform(0, 5), 1), "operating_time_min": rng.randint(25, 90),
         "length_of_stay_days": rng.randint(1, 5),
         "discharge_destination": rng.choice(["home", "rehabilitation"]),
         "complications": [{"kind": "cement_leakage", "location": rng.choice(["disc", "venous", "epidural"]),
                            "symptomatic": False, "level": "L1"}] if rng.random() < 0.2 else []},
    ]  # fmt: skip
    if fu:
        clinical.append(
            {"timepoint": "fu", "vas": round(rng.uniform(0, 4), 1), "odi": round(rng.uniform(10, 40))}
        )
    return {
        "format": "endplate-case", "version": 4, "coordinate_system": "LPS", "units": "mm",
        "case_id": f"SYN-{i:05d}",
        "patient": {"name": "", "id": f"P{i:05d}", "birth_date": f"{rng.randint(1930, 1960)}-06-15",
                    "sex": "F" if rng.random() < 0.7 else "M"},
        "timepoints": [{"id": a, "kind": b, "date": c} for a, b, c in tps],
        "series": [{"series_uid": f"1.2.{UID_OF[a]}", "timepoint": a, "path": a} for a, _, _ in tps],
        "vertebrae": vertebrae,
        "reader": [{"timepoint": "post", "level": "L1",
                    "procedure": rng.choice(["kyphoplasty", "spinejack"]), "cement_volume_ml": 4.0}],
        "clinical": clinical,
    }  # fmt: skip


def write_cohort(folder: Path, n: int) -> None:
    rng = random.Random(20261202)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"case{i:05d}.json").write_text(json.dumps(synthetic_case(i, rng)), encoding="utf-8")


_PEER = """
import json, os, sys
n = 0
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        if f.endswith(".json"):
            with open(os.path.join(root, f), encoding="utf-8") as h:
                json.load(h)
            n += 1
print(n)
"""


def _timed(argv: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run(argv, check=False, capture_output=True, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest child so far: report it only when it grew.
    return seconds, max(peak, before) / 1024.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--keep", type=Path)
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="endplate-cohort-bench-"))
    lines = [
        "## Cohort report (`endplate cohort`, synthetic case files)",
        "",
        f"{os.cpu_count()} cores; whole processes; peer: read + `json.load` every file, same run.",
        "",
        "| cases | report (json) | per case | peer (json.load) | ratio | peak RSS (report process) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for n in args.sizes:
        folder = base / f"n{n}"
        if not folder.is_dir():
            write_cohort(folder, n)
        out = base / f"report{n}.json"
        seconds, peak = _timed(
            [sys.executable, str(ROOT / "main.py"), "cohort", str(folder), "--out", str(out), "--force"]
        )
        table = json.loads(out.read_text(encoding="utf-8"))
        assert table["n_cases"] == n, table["n_cases"]
        peer, _ = _timed([sys.executable, "-c", _PEER, str(folder)])
        per_case_ms = 1000 * seconds / n
        lines.append(
            f"| {n:,} | {seconds:.1f} s | {per_case_ms:.1f} ms | {peer:.2f} s | {seconds / peer:.0f}x "
            f"| {peak:.0f} MiB |"
        )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
