"""Reading the text of table cells (an empty cell has no item: its text is "")."""

from __future__ import annotations

from PySide6 import QtWidgets


def cell_text(table: QtWidgets.QTableWidget, row: int, column: int) -> str:
    item = table.item(row, column)
    return "" if item is None else item.text()


def shown_columns(table: QtWidgets.QTableWidget) -> list[int]:
    """The columns the reader sees (hidden ones, e.g. STIR without a STIR, are left out)."""
    return [j for j in range(table.columnCount()) if not table.isColumnHidden(j)]


def table_rows(table: QtWidgets.QTableWidget) -> list[list[str]]:
    """Every row of ``table`` as the texts of its shown cells."""
    columns = shown_columns(table)
    return [[cell_text(table, i, j) for j in columns] for i in range(table.rowCount())]


def header_texts(table: QtWidgets.QTableWidget) -> list[str]:
    out = []
    for j in shown_columns(table):
        item = table.horizontalHeaderItem(j)
        out.append("" if item is None else item.text())
    return out
