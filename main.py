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

VERBS = ("info", "demo-data", "measure", "export", "case", "cohort", "pacs", "suggest")
EXPORT_FORMATS = ("csv", "json", "sr", "fhir", "pdf", "parquet")  # session.export_run.EXPORT_FORMATS


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

    sug = sub.add_parser(
        "suggest",
        help="propose the six landmarks of the body around a seed (docs/cli.md)",
        description=(
            "Propose the six landmarks of the vertebral body around SEED on the slice the viewer "
            "shows (sagittal images, or the sagittal reformat of an axial CT). A proposal, not a "
            "measurement."
        ),
    )
    sug.add_argument("path", type=Path, metavar="PATH", help="a series folder or file")
    sug.add_argument("--seed", required=True, metavar="X,Y,Z", help="a point inside the body, LPS mm")
    sug.add_argument("--series", metavar="UID", help="the series to use when PATH holds several")
    sug.add_argument("--json", action="store_true", help="print one JSON object (see docs/cli.md)")

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
    exp.add_argument(
        "--out", type=Path, metavar="PATH", help="output file (folder for sr); optional with --send"
    )
    exp.add_argument(
        "--send",
        metavar="NODE",
        help="--format sr only: send the SR files to a PACS node (name from the settings, "
        "dicom://AE@HOST:PORT or http(s)://.../dicom-web)",
    )
    exp.add_argument(
        "--pseudonymize",
        metavar="KEY",
        help="replace patient name and id by a keyed hash (HMAC-SHA256) and birth date by its year",
    )
    exp.add_argument("--force", action="store_true", help="overwrite existing output files")

    case = sub.add_parser("case", help="enter clinical outcomes (VAS, ODI, complications...) into case files")
    case_sub = case.add_subparsers(dest="case_verb", required=True)
    case_set = case_sub.add_parser("set", help="set one clinical field: TIMEPOINT.FIELD VALUE")
    case_set.add_argument("case", type=Path, metavar="CASE")
    case_set.add_argument("target", metavar="TIMEPOINT.FIELD", help="e.g. pre-op.vas (timepoint id or kind)")
    case_set.add_argument("value", metavar="VALUE", help="the value; an empty string clears the field")
    case_import = case_sub.add_parser(
        "import", help="apply a CSV (case_id, timepoint, fields...) to case files"
    )
    case_import.add_argument("csv", type=Path, metavar="CSV")
    case_import.add_argument("cases", nargs="+", type=Path, metavar="CASE")

    cohort = sub.add_parser("cohort", help="the results table of a clinical series from case files")
    cohort.add_argument("inputs", nargs="+", type=Path, metavar="CASES_OR_FOLDERS")
    cohort.add_argument("--out", required=True, type=Path, metavar="REPORT.(json|csv|html|pdf)")
    cohort.add_argument("--device", action="append", help="only levels treated with this device (repeatable)")
    cohort.add_argument("--level", action="append", help="only these levels (repeatable)")
    cohort.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="procedures on or after")
    cohort.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="procedures on or before")
    cohort.add_argument("--all-levels", action="store_true", help="imaging statistics over every level")
    cohort.add_argument("--force", action="store_true", help="overwrite an existing report")
    _pacs_parser(sub)
    return parser


def _pacs_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pacs = sub.add_parser(
        "pacs",
        help="query, retrieve from and send to a PACS (docs/pacs.md)",
        description="NODE is a name from the PACS settings, dicom://AE_TITLE@HOST:PORT or http(s)://HOST:PORT/PATH.",
    )
    verbs = pacs.add_subparsers(dest="pacs_verb", required=True)
    echo = verbs.add_parser("echo", help="C-ECHO (DIMSE) or a QIDO-RS ping (DICOMweb), one line")
    echo.add_argument("node", metavar="NODE")
    find = verbs.add_parser("find", help="find studies and their series")
    find.add_argument("node", metavar="NODE")
    find.add_argument("--patient-id", default="")
    find.add_argument("--patient-name", default="", help="DICOM matching: * and ? wildcards")
    find.add_argument(
        "--date", default="", metavar="FROM-TO", help="YYYYMMDD, YYYYMMDD-YYYYMMDD, -TO or FROM-"
    )
    find.add_argument("--modality", default="", help="e.g. CT or MR (studies that hold one)")
    find.add_argument("--accession", default="")
    find.add_argument("--description", default="", help="study description (wildcards allowed)")
    find.add_argument(
        "--max-studies", type=int, default=500, help="more matches than this is an error (default 500)"
    )
    find.add_argument("--json", action="store_true", help="one JSON object per study and line (docs/cli.md)")
    get = verbs.add_parser("get", help="retrieve a study's series into DIR/SERIES_UID/")
    get.add_argument("node", metavar="NODE")
    get.add_argument("study_uid", metavar="STUDY_UID")
    get.add_argument(
        "series_uids", nargs="*", metavar="SERIES_UID", help="default: every series of the study"
    )
    get.add_argument("--out", required=True, type=Path, metavar="DIR")
    verbs.add_parser("nodes", help="list the configured nodes (no secrets)")
    add = verbs.add_parser("add", help="add or replace a node in the settings (file mode 0600)")
    add.add_argument("name", metavar="NAME")
    add.add_argument("url", metavar="URL", help="dicom://AE@HOST:PORT or http(s)://HOST:PORT/PATH")
    add.add_argument("--move", action="store_true", help="DIMSE: retrieve by C-MOVE to our Storage SCP")
    add.add_argument("--user", help="DICOMweb basic auth user name")
    add.add_argument("--password-env", metavar="VAR", help="read the basic auth password from $VAR")
    add.add_argument("--token-env", metavar="VAR", help="read a bearer token from $VAR")
    add.add_argument("--our-ae", help="our AE title (all DIMSE nodes)")
    add.add_argument("--our-port", type=int, help="our Storage SCP port for C-MOVE (all DIMSE nodes)")


def _dispatch_pacs(args: argparse.Namespace) -> int:
    from session import pacs_run

    if args.pacs_verb == "echo":
        return pacs_run.run_pacs_echo(args.node)
    if args.pacs_verb == "find":
        query = {
            "patient_id": args.patient_id,
            "patient_name": args.patient_name,
            "date": args.date,
            "modality": args.modality,
            "accession": args.accession,
            "description": args.description,
        }
        return pacs_run.run_pacs_find(args.node, query, as_json=args.json, max_studies=args.max_studies)
    if args.pacs_verb == "get":
        return pacs_run.run_pacs_get(args.node, args.study_uid, args.series_uids, args.out)
    if args.pacs_verb == "nodes":
        return pacs_run.run_pacs_nodes()
    if args.pacs_verb == "add":
        return pacs_run.run_pacs_add(
            args.name,
            args.url,
            move=args.move,
            username=args.user,
            password_env=args.password_env,
            token_env=args.token_env,
            our_ae=args.our_ae,
            our_port=args.our_port,
        )
    raise AssertionError(args.pacs_verb)


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
        if args.verb == "suggest":
            from session.suggest_run import run_suggest

            return run_suggest(args.path, args.seed, as_json=args.json, series_uid=args.series)
        if args.verb == "export":
            from session.export_run import run_export

            if args.send is not None and args.format != "sr":
                _verb_parser().error("--send sends an SR; use it with --format sr")
            if args.out is None and args.send is None:
                _verb_parser().error("the following arguments are required: --out")
            return run_export(
                args.cases,
                fmt=args.format,
                out=args.out,
                pseudonymize_key=args.pseudonymize,
                force=args.force,
                send=args.send,
            )
        if args.verb == "case":
            from session.clinical_run import run_case_import, run_case_set

            if args.case_verb == "set":
                return run_case_set(args.case, args.target, args.value)
            return run_case_import(args.csv, args.cases)
        if args.verb == "cohort":
            from session.cohort_run import CohortFilters, run_cohort

            filters = CohortFilters(
                devices=tuple(args.device or ()),
                levels=tuple(args.level or ()),
                date_from=args.date_from,
                date_to=args.date_to,
                all_levels=args.all_levels,
            )
            return run_cohort(args.inputs, args.out, filters, force=args.force)
        if args.verb == "pacs":
            return _dispatch_pacs(args)
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
        from measure.userlog import log_path

        log_path()  # the log (and library warnings) from the start; a bad home is said once here
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
