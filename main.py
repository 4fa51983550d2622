"""Endplate entry point: argument parsing and dispatch only.

``endplate`` (or ``python main.py``) with no verb starts the desktop application;
``endplate VERB ...`` runs a command-line verb.  Each verb lives in the package that owns
its logic; this file only parses and dispatches, and turns unexpected errors into one
readable line (the full traceback goes to the log file, never to the user).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

VERBS = ("info", "demo-data", "measure", "export")
EXPORT_FORMATS = ("csv", "json", "sr", "fhir", "pdf")  # session.export_run.EXPORT_FORMATS


def _verb_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="endplate",
        description="Measure vertebral compression fractures on spine CT and MRI.",
    )
    sub = parser.add_subparsers(dest="verb", required=True)

    info = sub.add_parser("info", help="list the studies and series found under PATH")
    info.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="folder(s) or file(s)")
    info.add_argument("--json", action="store_true", help="print one JSON object (see docs/cli.md)")

    demo = sub.add_parser("demo-data", help="write the synthetic T11-L3 demo set with ground truth")
    demo.add_argument("out", type=Path, metavar="OUT", help="folder to create (must be empty or absent)")

    meas = sub.add_parser("measure", help="print every measurement of a case file")
    meas.add_argument("case", type=Path, metavar="CASE")
    meas.add_argument("--json", action="store_true", help="machine-readable output (docs/data-dictionary.md)")
    meas.add_argument(
        "--angle-error-deg",
        type=float,
        default=4.9,
        help="smallest real angle change (default 4.9: Cobb intra-observer 95%% limit, Morrissy 1990)",
    )
    meas.add_argument(
        "--height-error-mm",
        type=float,
        default=2.0,
        help="smallest height change in mm that is real (default 2.0; see docs/data-dictionary.md)",
    )
    meas.add_argument(
        "--height-loss-error-pct",
        type=float,
        default=12.5,
        help="smallest change of height loss in percentage points that is real (default 12.5: Buckens 2013)",
    )
    meas.add_argument(
        "--height-range-mm",
        type=float,
        nargs=2,
        default=(3.0, 80.0),
        metavar=("MIN", "MAX"),
        help="heights outside this range are not measured (default 3 80; measure/plausibility.py)",
    )

    exp = sub.add_parser(
        "export",
        help="export cases to a registry format",
        description=(
            "Export one or more case files. Without --pseudonymize, exports carry the patient "
            "name, id and birth date exactly as the case holds them."
        ),
    )
    exp.add_argument("cases", nargs="+", type=Path, metavar="CASE")
    exp.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    exp.add_argument("--out", required=True, type=Path, metavar="PATH")
    exp.add_argument(
        "--pseudonymize",
        metavar="KEY",
        help="replace patient name and id by a keyed hash (HMAC-SHA256) and birth date by its year",
    )
    exp.add_argument("--force", action="store_true", help="overwrite existing output files")
    return parser


def _gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="endplate",
        description=("Endplate desktop application. Verbs: " + ", ".join(VERBS) + " (endplate VERB --help)."),
    )
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="CASE_OR_DICOM",
        help="a case file, or DICOM folders/files to open",
    )
    parser.add_argument("--demo", action="store_true", help="open the demo case with its landmarks")
    parser.add_argument(
        "--screenshot",
        type=Path,
        metavar="OUT.png",
        help="render the main window offscreen once loaded, write it, and exit",
    )
    return parser


def _dispatch(argv: list[str]) -> int:
    if argv and argv[0] in VERBS:
        args = _verb_parser().parse_args(argv)
        if args.verb == "info":
            from dicomio.info import run_info

            return run_info(args.paths, as_json=args.json)
        if args.verb == "demo-data":
            from dicomio.synthetic.demo import run_demo_data

            return run_demo_data(args.out)
        if args.verb == "measure":
            from measure.plausibility import Plausibility
            from measure.results import ChangeThresholds
            from session.measure_run import run_measure

            thresholds = ChangeThresholds(
                angle_deg=args.angle_error_deg,
                height_loss_pct=args.height_loss_error_pct,
                height_mm=args.height_error_mm,
            )
            try:
                plausibility = Plausibility(*args.height_range_mm)
            except ValueError as exc:
                print(f"endplate: error: --height-range-mm: {exc}", file=sys.stderr)
                return 2
            return run_measure(args.case, as_json=args.json, thresholds=thresholds, plausibility=plausibility)
        if args.verb == "export":
            from session.export_run import run_export

            return run_export(
                args.cases,
                fmt=args.format,
                out=args.out,
                pseudonymize_key=args.pseudonymize,
                force=args.force,
            )
        raise AssertionError(args.verb)
    args = _gui_parser().parse_args(argv)
    from app.gui import run_gui

    return run_gui(paths=args.paths, demo=args.demo, screenshot=args.screenshot)


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; returns the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not (argv and argv[0] in VERBS):
        return _run(argv)
    from dicomio.printable import PrintableStream

    # A verb prints to a terminal: control characters from files are shown, never obeyed.
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = PrintableStream(out), PrintableStream(err)  # type: ignore[assignment]
    try:
        return _run(argv)
    finally:
        sys.stdout, sys.stderr = out, err


def _run(argv: list[str]) -> int:
    try:
        return _dispatch(argv)
    except KeyboardInterrupt:
        print("endplate: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `endplate info DIR | head`: the reader left, not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:  # last line of defence: no traceback reaches a user
        from dicomio.printable import printable
        from measure.userlog import log_path

        log_path()
        logging.getLogger("endplate").exception("unhandled error")
        print(f"endplate: error: {printable(exc)}\n(details were written to {log_path()})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
