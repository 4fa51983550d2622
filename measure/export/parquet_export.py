"""Parquet: the CSV's rows and columns with their types, for registries that load into
DuckDB, Spark or pandas (pyarrow).

One row per case x timepoint x level, the columns of the data dictionary in its order and
with its types (string, number -> float64, integer -> int64, boolean -> bool); an empty
cell is a null, never a zero.  The column definitions and units are kept in the schema's
field metadata, so the file carries its own dictionary.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from measure.export.records import CaseRecords, data_dictionary

_TYPES = {"string": "string", "number": "float64", "integer": "int64", "boolean": "bool_"}


def parquet_bytes(cases: Sequence[CaseRecords]) -> bytes:
    """The Parquet file (bytes) of all rows of all cases."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = data_dictionary()["columns"]
    rows = [record.as_dict() for case in cases for record in case.rows]
    fields = []
    arrays = []
    for column in columns:
        kind = _TYPES[column["type"]]
        meta = {"definition": column["definition"], "unit": column["unit"]}
        fields.append(pa.field(column["name"], getattr(pa, kind)(), nullable=True, metadata=meta))
        values: list[Any] = [row[column["name"]] for row in rows]
        if kind == "string":
            values = [None if v is None else str(v) for v in values]
        elif kind == "float64":
            values = [None if v is None else float(v) for v in values]
        arrays.append(pa.array(values, type=getattr(pa, kind)()))
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata={"source": "Endplate"}))
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()
