"""Sortable table cells (the Runs and Search tables)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from widgets.tables import read_only_table, sortable_item


def _column(table) -> list[str]:
    return [table.item(row, 0).text() for row in range(table.rowCount())]


def test_numbers_sort_as_numbers_and_several_blanks_sort_last(qtbot):
    parent = QWidget()
    qtbot.addWidget(parent)
    table = read_only_table(1, "sorted", parent)
    values = [None, 10.0, None, 9.0, None, 0.5]  # blanks in pairs once crashed the app
    table.setRowCount(len(values))
    for row, value in enumerate(values):
        table.setItem(row, 0, sortable_item("" if value is None else f"{value:g}", sort=value))
    table.setSortingEnabled(True)
    table.sortItems(0, Qt.SortOrder.AscendingOrder)
    assert _column(table) == ["0.5", "9", "10", "", "", ""]
    table.sortItems(0, Qt.SortOrder.DescendingOrder)
    assert _column(table) == ["", "", "", "10", "9", "0.5"]
