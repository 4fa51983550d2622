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


def csv_text(cases: Sequence[CaseRecords]) -> str:
    """The CSV of all rows of all cases, header first."""
    columns = column_names()
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for case in cases:
        for record in case.rows:
            row = record.as_dict()
            writer.writerow([_cell(row[name]) for name in columns])
    return buffer.getvalue()
