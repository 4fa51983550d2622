"""Run every benchmark with its peers and rewrite ``docs/performance.md`` from the results.

    .venv/bin/python bench/run_all.py [--quick] [--out docs/performance.md]

Each benchmark is a script ``bench/bench_*.py`` that accepts ``--json OUT`` (and ``--runs``)
and writes ``{"title", "rows", "notes"}`` (see ``bench/_common.py``); the scripts listed in
:data:`BENCHES` run in this order with the run counts given, any other ``bench_*.py`` that
accepts ``--json`` runs with its defaults.  Series are built once into the temp folder
(the synthetic 600 x 512^2 CT, a 300-slice tilted CT); the real CT comes from
``shared/realdata``.  Every figure in the written page comes from this run, with the
date, the machine (cores, memory) and the load average before and after.  About 6-9
minutes on the 2-core VM (``--quick``: one run each, about 3 minutes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

BENCH = Path(__file__).resolve().parent
#: (script, arguments, arguments with --quick)
BENCHES = [
    ("bench_load.py", ["--runs", "3", "--cold-runs", "2"], ["--runs", "1", "--cold-runs", "1"]),
    ("bench_reformat.py", ["--runs", "2"], ["--runs", "1"]),
    ("bench_app_open.py", ["--runs", "3"], ["--runs", "1"]),
    ("bench_startup.py", ["--runs", "3"], ["--runs", "1"]),
]
#: Benchmarks that print their own markdown section (their stdout goes into the page as it
#: is): (script, arguments, arguments with --quick).
MARKDOWN_BENCHES = [
    ("bench_overlay_step.py", ["--steps", "400"], ["--steps", "200"]),
    ("bench_spine_view.py", ["--runs", "5"], ["--runs", "2"]),
    ("bench_assist.py", ["--runs", "20"], ["--runs", "5"]),
    ("bench_export.py", ["--cases", "1000"], ["--cases", "100", "--small"]),
    ("bench_cohort.py", ["--sizes", "100", "1000", "10000"], ["--sizes", "100", "1000"]),
    ("bench_pacs.py", ["--runs", "2"], ["--runs", "1"]),
]


def _seconds(value: float | None, unit: str = "s") -> str:
    if value is None:
        return ""
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value * 1000:.1f} ms" if value < 0.1 else f"{value:.2f} s"


def _met(value: bool | None) -> str:
    return "" if value is None else ("**met**" if value else "**not met**")


def table(result: dict[str, Any]) -> list[str]:
    lines = [
        f"## {result['title']}",
        "",
        "| what | Endplate | peer (same run) | peer | ratio | target | |",
        "|---|---:|---|---:|---:|---|---|",
    ]
    for r in result["rows"]:
        unit = r.get("unit", "s")
        ratio = f"{r['ratio']:.2f}x" if r.get("ratio") is not None else ""
        lines.append(
            f"| {r['what']} | {_seconds(r['endplate_s'], unit)} | {r.get('peer') or ''} | "
            f"{_seconds(r.get('peer_s'), unit)} | {ratio} | {r.get('target') or ''} | {_met(r.get('met'))} |"
        )
    lines.append("")
    lines += [f"- {n}" for n in result.get("notes", [])]
    lines.append("")
    return lines


def discover() -> list[tuple[str, list[str], list[str]]]:
    known = {name for name, _, _ in BENCHES}
    extra = []
    for path in sorted(BENCH.glob("bench_*.py")):
        if path.name in known:
            continue
        help_text = subprocess.run(
            [sys.executable, str(path), "--help"], capture_output=True, text=True, check=False
        ).stdout
        if "--json" in help_text:
            extra.append((path.name, [], []))
    return [*BENCHES, *extra]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one run of each (a smoke run)")
    parser.add_argument("--out", type=Path, default=common.ROOT / "docs" / "performance.md")
    args = parser.parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    machine_before = common.machine()
    t0 = time.perf_counter()
    results: list[dict[str, Any]] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="endplate-run-all-") as tmp:
        for name, full, quick in discover():
            out = Path(tmp) / (name + ".json")
            start = time.perf_counter()
            print(f"run_all: {name} ...", flush=True)
            proc = subprocess.run(
                [sys.executable, str(BENCH / name), *(quick if args.quick else full), "--json", str(out)],
                capture_output=True,
                text=True,
                cwd=common.ROOT,
                check=False,
            )
            took = time.perf_counter() - start
            if proc.returncode != 0 or not out.is_file():
                failures.append(f"{name} failed ({proc.returncode}): {proc.stderr.strip()[-600:]}")
                print(f"run_all: {name} FAILED in {took:.0f} s", flush=True)
                continue
            result = json.loads(out.read_text(encoding="utf-8"))
            result["script"], result["took_s"] = name, took
            results.append(result)
            print(f"run_all: {name} done in {took:.0f} s", flush=True)
        sections: list[tuple[str, str]] = []
        for name, full, quick in MARKDOWN_BENCHES:
            start = time.perf_counter()
            print(f"run_all: {name} ...", flush=True)
            env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
            proc = subprocess.run(
                [sys.executable, str(BENCH / name), *(quick if args.quick else full)],
                capture_output=True,
                text=True,
                cwd=common.ROOT,
                check=False,
                env=env,
            )
            took = time.perf_counter() - start
            if proc.returncode != 0 or not proc.stdout.strip():
                failures.append(f"{name} failed ({proc.returncode}): {proc.stderr.strip()[-600:]}")
                print(f"run_all: {name} FAILED in {took:.0f} s", flush=True)
                continue
            sections.append((name, proc.stdout.strip()))
            print(f"run_all: {name} done in {took:.0f} s", flush=True)
    total = time.perf_counter() - t0
    machine_after = common.machine()
    rows = [r for res in results for r in res["rows"] if r.get("met") is not None]
    met = [r for r in rows if r["met"]]
    missed = (
        "; not met: " + "; ".join(r["what"] for r in rows if not r["met"]) if len(met) < len(rows) else ""
    )
    lines = [
        "# Performance",
        "",
        "Written by `python bench/run_all.py` (do not edit by hand: every figure below comes from",
        "that run). Speed is measured by the benchmarks in `bench/`, each against a peer in the",
        "same run, never asserted in tests; tests assert that the fast paths give the same",
        "voxels as plain pydicom, SimpleITK and the exact per-pixel mapping.",
        "",
        f"- Run: {started:%Y-%m-%d %H:%M} UTC, {total / 60:.1f} min"
        + (" (`--quick`: one run each)" if args.quick else ""),
        f"- Machine: {machine_before['cpu']}, {machine_before['cores']} cores, "
        f"{machine_before['memory_gib']} GiB RAM; Python {machine_before['python']}, "
        f"SimpleITK {machine_before['simpleitk']}, numpy {machine_before['numpy']}",
        f"- Load average (1, 5, 15 min) before: {machine_before['load_average']}, after: "
        f"{machine_after['load_average']}"
        + (
            " -- **the machine was busy: figures are noisy, ratios to the peers are the better guide**"
            if max(machine_before["load_average"][0], machine_after["load_average"][0])
            > 0.5 * (machine_before["cores"] or 1)
            else ""
        ),
        f"- Targets (issues 10 and 15) met in this run: **{len(met)} of {len(rows)}**" + missed,
        "",
        "Times are medians of whole processes (each run a fresh `python`), the load and open",
        "times measured inside them from the moment the folder is chosen; memory is the",
        "process's peak RSS (`VmHWM`) above its RSS just before the load, against the volume.",
        "",
    ]
    for res in results:
        lines += table(res)
    for name, text in sections:
        if not text.lstrip().startswith("#"):
            lines += [f"## `bench/{name}`", ""]
        lines += [text, "", f"(`bench/{name}`, this run)", ""]
    if failures:
        lines += ["## Benchmarks that failed in this run", ""] + [f"- {f}" for f in failures] + [""]
    lines += [
        "## How the load and the reformat are done",
        "",
        "- Scan (`dicomio/scan.py`): headers only, one file after the other in the calling thread",
        "  (pydicom's parsing is pure Python: threads only contend for the GIL), with",
        "  `posix_fadvise(WILLNEED)` read-ahead of the next files' headers for a cold disk.",
        "- Pixels (`dicomio/pixels.py`): `readinto` at the offsets the scan recorded, into one",
        "  preallocated array (int16 for CT), in threads (I/O releases the GIL).",
        "- Reformat (`dicomio/reformat.py`): an axis-aligned volume is interpolated separably in",
        "  blocks along the source slices (views where no interpolation is needed); a gantry-",
        "  tilted volume (an affine index map) goes through SimpleITK's ResampleImageFilter slab by",
        "  slab; anything else (uneven slices with tilt) through the exact per-pixel mapping. In",
        "  the app (`DisplayStack`) the source is streamed into the reformat a slab of slices at a",
        "  time, so memory holds the reformat plus a slab, not the source volume as well.",
        "- Compressed pixel data goes through pydicom's decoders one frame at a time, with at most",
        "  one decoding thread per 20 frames (`_FRAMES_PER_DECODER`): a decoding thread holds",
        "  several frames at once, so more threads would raise the peak on small series (the",
        "  tests assert <= 1.25x the volume on compressed series).",
        "- Window (`dicomio/windowing.py:auto_window`): percentiles of a strided sample of at most",
        "  2 M voxels, taken before converting to float64.",
        "- Start-up: scipy and SimpleITK are imported where used; pydicom is imported without",
        "  `requests` (it only needs it to download test files).",
        "",
    ]
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print(f"run_all: wrote {args.out} ({len(met)} of {len(rows)} targets met) in {total / 60:.1f} min")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
