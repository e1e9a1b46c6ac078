"""The read-only row tables of the panels (model summary, runs, search), set up one way, and
cells that sort by a key of their own."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QTableWidget, QTableWidgetItem, QWidget

SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # where a sortable cell keeps its key


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


class _SortableItem(QTableWidgetItem):
    """A cell that sorts by a key of its own (numbers as numbers, blanks last)."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.data(SORT_ROLE), other.data(SORT_ROLE)
        if mine is None or theirs is None:
            # Two blanks: by their text. (Not QTableWidgetItem's own __lt__: from Python it
            # calls back into this method, for ever, until the process crashes.)
            return self.text() < other.text() if mine is None and theirs is None else theirs is None
        try:
            return mine < theirs
        except TypeError:
            return str(mine) < str(theirs)


def sortable_item(text: str, sort=None, align_right: bool = False) -> QTableWidgetItem:
    """A cell showing ``text`` that sorts by ``sort`` (None sorts last)."""
    item = _SortableItem(text)
    item.setData(SORT_ROLE, sort)
    if align_right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item
