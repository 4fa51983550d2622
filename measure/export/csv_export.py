"""CSV: one row per case x timepoint x level, columns exactly as the data dictionary.

Plain RFC 4180 CSV (comma, double quotes, CRLF line ends as Python's ``csv`` writes
them), UTF-8 with no BOM.  Empty cell = not available; booleans are ``true``/``false``;
lists are ``;``-separated (docs/data-dictionary.md, "Export columns").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from measure.export.records import CaseRecords, column_names


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back to the same float
    return str(value)


def _lines(rows: Sequence[Sequence[str]]) -> str:
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


def csv_header() -> str:
    """The header line (written once, before the rows of any case)."""
    return _lines([column_names()])


def csv_case_rows(case: CaseRecords) -> str:
    """The rows of one case (for streaming: header, then each case as it is measured)."""
    columns = column_names()
    rows = (record.as_dict() for record in case.rows)
    return _lines([[_cell(row[name]) for name in columns] for row in rows])
