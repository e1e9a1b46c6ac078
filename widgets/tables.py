"""The read-only row tables of the panels (model summary, runs), set up one way."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QTableWidget, QWidget


def read_only_table(columns: int, object_name: str, parent: QWidget) -> QTableWidget:
    """A compact, row-selecting, non-editable table whose long texts elide in the middle."""
    table = QTableWidget(0, columns)
    table.setObjectName(object_name)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    table.verticalHeader().setVisible(False)
    # Compact rows, as in Keras' own summary: a dock shows the whole of a small model.
    table.verticalHeader().setDefaultSectionSize(parent.fontMetrics().height() + 8)
    table.setShowGrid(False)
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
    table.horizontalHeader().setHighlightSections(False)
    return table
