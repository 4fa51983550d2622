"""Reading the text of table cells (an empty cell has no item: its text is "")."""

from __future__ import annotations

from PySide6 import QtWidgets


def cell_text(table: QtWidgets.QTableWidget, row: int, column: int) -> str:
    item = table.item(row, column)
    return "" if item is None else item.text()


def table_rows(table: QtWidgets.QTableWidget) -> list[list[str]]:
    """Every row of ``table`` as its cells' texts."""
    return [[cell_text(table, i, j) for j in range(table.columnCount())] for i in range(table.rowCount())]


def header_texts(table: QtWidgets.QTableWidget) -> list[str]:
    out = []
    for j in range(table.columnCount()):
        item = table.horizontalHeaderItem(j)
        out.append("" if item is None else item.text())
    return out
