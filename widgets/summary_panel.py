"""``ModelSummary``: the Keras ``model.summary()`` of the graph being edited, kept live.

A table of layers in dependency order with their output shapes and parameter counts, above
it the totals. Everything comes from the document's latest ``ValidationReport``; the table
shares the selection with the canvas through ``Document.select``.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QItemSelection, QItemSelectionModel, Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from widgets.document import Document
from widgets.tables import read_only_table
from workbench.graph.describe import shape_text
from workbench.graph.validate import NodeReport, ValidationReport, topological_order

WAITING_TEXT = "Shapes and counts appear once TensorFlow has loaded"
_ERROR = QColor("#c5221f")
_WARNING = QColor("#b06000")
_UNUSED = QColor("#80868b")
_COLUMNS = ("Layer", "Type", "Output shape", "Params")
_PARAMS = 3


class ModelSummary(QWidget):
    """Layers, output shapes and parameter counts of the document's model.

    Args:
        document: the document to summarize; ``set_document`` switches to another.
        parent: the owning widget.
    """

    def __init__(self, document: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("modelSummary")
        self.totals = QLabel()
        self.totals.setObjectName("summaryTotals")
        self.totals.setWordWrap(True)
        self.totals.setTextFormat(Qt.TextFormat.PlainText)
        self.status = QLabel()
        self.status.setObjectName("summaryStatus")
        self.status.setWordWrap(True)
        self.table = read_only_table(len(_COLUMNS), "summaryTable", self)
        self.table.setHorizontalHeaderLabels(_COLUMNS)
        header = self.table.horizontalHeader()
        # Shapes and counts must stay readable; names and types share what is left and elide,
        # so a narrow dock never needs a horizontal scroll bar.
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(36)
        for column, mode in enumerate((QHeaderView.ResizeMode.Fixed,
                                       QHeaderView.ResizeMode.Fixed,
                                       QHeaderView.ResizeMode.ResizeToContents,
                                       QHeaderView.ResizeMode.ResizeToContents)):
            header.setSectionResizeMode(column, mode)
        header.sectionResized.connect(self._on_header_section_resized)
        self.table.viewport().installEventFilter(self)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.table.horizontalHeaderItem(_PARAMS).setTextAlignment(
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.table.itemSelectionChanged.connect(self._on_table_item_selection_changed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.totals)
        layout.addWidget(self.status)
        layout.addWidget(self.table)
        # Set while the table follows the document, so that following does not echo back
        # as a new selection.
        self._syncing = False
        self.document: Document | None = None
        self.set_document(document)

    # ---------------------------------------------------------------- public
    def set_document(self, document: Document) -> None:
        """Summarize ``document`` from now on (after New, Open or Import)."""
        if self.document is not None:
            for signal, slot in self._connections():
                try:
                    signal.disconnect(slot)
                except (RuntimeError, TypeError):  # the old document is already gone
                    pass
        self.document = document
        for signal, slot in self._connections():
            signal.connect(slot)
        self.refresh()

    def row_of(self, node_id: str) -> int | None:
        """The table row showing ``node_id``, or None."""
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(Qt.ItemDataRole.UserRole) == node_id:
                return row
        return None

    def refresh(self) -> None:
        """Rebuild from the document's graph and latest report."""
        document = self.document
        report = document.report
        self._show_totals(report)
        order, cyclic = topological_order(document.graph)
        if report is not None and report.used:
            # The model first, as Keras would list it; scratch nodes off to the side after.
            order.sort(key=lambda node_id: node_id not in report.used)
        order += [node_id for node_id in document.graph.nodes if node_id in cyclic]
        # A rebuild follows every edit: keep the reader's place in a long model.
        scrolled = self.table.verticalScrollBar().value()
        self._syncing = True
        try:
            self.table.setRowCount(0)
            self.table.setRowCount(len(order))
            blocking = {node_id for node_id, _ in report.errors() if node_id} if report else set()
            for row, node_id in enumerate(order):
                self._fill_row(row, node_id, report, node_id in blocking)
            self._fit_columns()
            self.table.verticalScrollBar().setValue(scrolled)
            self._select_rows(document.selection)
        finally:
            self._syncing = False

    # ------------------------------------------------------------- internals
    def _connections(self) -> list:
        document = self.document
        return [(document.validated, self._on_document_validated),
                (document.selection_changed, self._on_document_selection_changed),
                (document.graph_changed, self._on_document_graph_changed)]

    def _show_totals(self, report: ValidationReport | None) -> None:
        if report is None:
            self.totals.setText(WAITING_TEXT)
            self.totals.setStyleSheet("color: #80868b;")
            self.status.hide()
            return
        total, trainable = report.total_params, report.trainable_params
        self.totals.setStyleSheet("")
        # Non-breaking spaces and hyphen inside each part: a narrow dock wraps the line
        # between the parts, never inside "Non-trainable: 0".
        parts = [f"Total params: {total:,}", f"Trainable: {trainable:,}",
                 f"Non-trainable: {total - trainable:,}"]
        self.totals.setText(" · ".join(
            part.replace(" ", "\u00a0").replace("-", "\u2011") for part in parts))
        errors, warnings = len(report.errors()), len(report.warnings())
        if errors or warnings:
            parts = []
            if errors:
                parts.append(f"{errors} error{'s' if errors != 1 else ''}")
            if warnings:
                parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
            colour = _ERROR if errors else _WARNING
            note = " (see Issues)"
            if errors:
                # Layers after an error have no counts yet, so the totals fall short.
                note = " (see Issues); counts stop at the first error"
            self.status.setText(" · ".join(parts) + note)
            self.status.setStyleSheet(f"color: {colour.name()};")
        else:
            self.status.setText("No problems: the model builds")
            self.status.setStyleSheet("color: #188038;")
        self.status.show()

    def _fill_row(self, row: int, node_id: str, report: ValidationReport | None,
                  blocking: bool) -> None:
        node = self.document.graph.nodes[node_id]
        result: NodeReport | None = report.nodes.get(node_id) if report else None
        if result is None:
            shape, params = "", ""
        elif result.outputs is None:
            # Either this node failed or one upstream did: no shape to tell.
            shape, params = "?", ""
        else:
            shape = ", ".join(shape_text(t.shape) for t in result.outputs)
            params = f"{result.params:,}"
        cells = [node_id, node.type, shape, params]
        # Names and types may be elided in a narrow dock: the tooltip always has them whole.
        tip = f"{node_id} ({node.type})"
        colour = None
        if blocking:
            colour, tip = _ERROR, "\n".join([tip, *result.errors])
        elif result is not None and report is not None and node_id not in report.used:
            # A scratch node off to the side: its errors do not stop a build.
            colour, tip = _UNUSED, "\n".join([tip, *result.errors, *result.warnings])
        elif result is not None and result.warnings:
            colour, tip = _WARNING, "\n".join([tip, *result.warnings])
        elif result is not None and result.waiting:
            tip += "\nwaiting for an upstream layer to be fixed"
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, node_id)
            if column == _PARAMS:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if colour is not None:
                item.setForeground(QBrush(colour))
            item.setToolTip(tip)
            self.table.setItem(row, column, item)

    def _fit_columns(self) -> None:
        # Layer and Type get what Output shape and Params leave.
        header = self.table.horizontalHeader()
        spare = self.table.viewport().width() - header.sectionSize(2) - header.sectionSize(3)
        wants = [max(self.table.sizeHintForColumn(c), header.sectionSizeHint(c)) + 8
                 for c in (0, 1)]
        # Short of room, the layer name (what people look for) keeps its width first; the
        # type, which the canvas shows as well, elides.
        least_type = max(header.minimumSectionSize(), 70)
        first = max(header.minimumSectionSize(), min(wants[0], spare - least_type))
        widths = [first, max(least_type, spare - first)]
        for column, width in enumerate(widths):
            if header.sectionSize(column) != width:
                header.resizeSection(column, width)

    def _select_rows(self, node_ids: list[str]) -> None:
        selection = QItemSelection()
        rows = [r for r in (self.row_of(n) for n in node_ids) if r is not None]
        model = self.table.model()
        for row in rows:
            selection.select(model.index(row, 0), model.index(row, len(_COLUMNS) - 1))
        self.table.selectionModel().select(
            selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        if rows:
            self.table.selectionModel().setCurrentIndex(
                model.index(rows[0], 0), QItemSelectionModel.SelectionFlag.NoUpdate)
            self.table.scrollTo(model.index(rows[0], 0))

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt override)
        # The viewport, not the panel: a vertical scroll bar appearing narrows it too.
        if watched is self.table.viewport() and event.type() == QEvent.Type.Resize:
            self._fit_columns()
        return super().eventFilter(watched, event)

    # ------------------------------------------------------------------ slots
    def _on_header_section_resized(self, column: int, _old: int, _new: int) -> None:
        # Output shape or Params changed width with their contents.
        if column >= 2:
            self._fit_columns()

    def _on_document_validated(self, _report: ValidationReport) -> None:
        self.refresh()

    def _on_document_graph_changed(self, event) -> None:
        # With a report, the revalidation that follows every edit refreshes the table; before
        # Keras has loaded, this keeps the list of layers current.
        if self.document.report is None and event.kind != "node_moved":
            self.refresh()

    def _on_document_selection_changed(self, node_ids: list[str]) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            self._select_rows(node_ids)
        finally:
            self._syncing = False

    def _on_table_item_selection_changed(self) -> None:
        if self._syncing:
            return
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        ids = [self.table.item(row, 0).data(Qt.ItemDataRole.UserRole) for row in rows]
        self._syncing = True
        try:
            self.document.select(ids)
        finally:
            self._syncing = False
