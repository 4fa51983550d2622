"""``endplate measure CASE [--json]``: every measurement of a case file, for a person or a program.

The case is measured by the engine (:meth:`measure.case.Case.measure`) and its STIR series
analysed (:class:`~session.case_images.CaseImages`); ``--json`` prints the one serializer's
form (:mod:`measure.results_json`, docs/data-dictionary.md), text prints aligned tables
(:mod:`measure.report`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from measure.casefile import CaseFileError, load_case
from measure.edema import stir_text
from measure.plausibility import DEFAULT_PLAUSIBILITY, Plausibility
from measure.report import format_text
from measure.results import ChangeThresholds
from session.case_images import CaseImages


def run_measure(
    case_path: Path,
    as_json: bool,
    thresholds: ChangeThresholds | None = None,
    plausibility: Plausibility = DEFAULT_PLAUSIBILITY,
) -> int:
    """Print every measurement of a case file; exit 2 with one line on stderr if it is bad.

    ``thresholds`` override the measurement-error defaults used to mark a change as
    "within measurement error" (``endplate measure --angle-error-deg ...``).
    """
    try:
        case = load_case(case_path)
        results = case.measure(thresholds, plausibility)
        stir = CaseImages(case).stir_results()
    except CaseFileError as exc:
        print(f"endplate: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # the engine refused the landmarks: a problem of the case's content
        print(f"endplate: error: cannot measure {case_path}: {exc}", file=sys.stderr)
        return 2
    if as_json:
        from measure.results_json import case_results_json

        data = case_results_json(case, results, stir)
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    else:
        measured = [tp.id for tp in case.ordered_timepoints() if tp.id in results.timepoints]
        sys.stdout.write(format_text(case, results, case_path) + stir_text(stir, measured))
    return 0
