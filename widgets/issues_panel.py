"""``IssuesPanel``: every error and warning of the latest validation, one line each.

Graph-level problems come first, then node errors, then warnings, so the thing that stops a
build is at the top. Clicking a line that names a node selects it, and the main window
centres the canvas on it.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from widgets.document import Document
from workbench.graph.validate import ValidationReport

_ERROR = QColor("#c5221f")
_WARNING = QColor("#b06000")
_QUIET = QColor("#80868b")
_NODE_ROLE = Qt.ItemDataRole.UserRole
WAITING_TEXT = "Checks start once TensorFlow has loaded"


def _white_pen(width: float) -> QPen:
    pen = QPen(QColor("white"), width)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    return pen


def _error_icon() -> QIcon:
    """A red disc with a white cross, drawn rather than taken from a font that may lack ✖."""
    pixmap = QPixmap(14, 14)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("#d62728"))
    painter.drawEllipse(1, 1, 12, 12)
    painter.setPen(_white_pen(1.8))
    painter.drawLine(QPointF(4.8, 4.8), QPointF(9.2, 9.2))
    painter.drawLine(QPointF(9.2, 4.8), QPointF(4.8, 9.2))
    painter.end()
    return QIcon(pixmap)


def _warning_icon() -> QIcon:
    """An orange triangle with an exclamation mark."""
    pixmap = QPixmap(14, 14)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("#e69500"))
    painter.drawPolygon(QPolygonF([QPointF(7, 1), QPointF(13.2, 12.5), QPointF(0.8, 12.5)]))
    painter.setPen(_white_pen(1.6))
    painter.drawLine(QPointF(7, 5), QPointF(7, 8.4))
    painter.drawPoint(QPointF(7, 10.6))
    painter.end()
    return QIcon(pixmap)


class IssuesPanel(QWidget):
    """The list of validation errors and warnings of a document.

    Args:
        document: the document to check; ``set_document`` switches to another.
        parent: the owning widget.

    Signals:
        node_activated(str): the user picked an issue on this node (to centre the view).
        count_changed(int, int): errors and warnings after a refresh (for a dock title).
    """

    node_activated = Signal(str)
    count_changed = Signal(int, int)

    def __init__(self, document: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setObjectName("issuesList")
        self.list.setUniformItemSizes(True)
        self.list.setSpacing(1)
        self.list.setIconSize(QSize(14, 14))
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.itemClicked.connect(self._on_list_item_clicked)
        # Enter on the keyboard; a double-click also lands here, which only repeats the
        # (idempotent) select and centre of the click before it.
        self.list.itemActivated.connect(self._on_list_item_clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        self._icons = {"error": _error_icon(), "warning": _warning_icon()}
        self.document: Document | None = None
        self.set_document(document)

    # ---------------------------------------------------------------- public
    def set_document(self, document: Document) -> None:
        """List the issues of ``document`` from now on."""
        if self.document is not None:
            try:
                self.document.validated.disconnect(self._on_document_validated)
            except (RuntimeError, TypeError):  # the old document is already gone
                pass
        self.document = document
        document.validated.connect(self._on_document_validated)
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the list from the document's latest report."""
        report: ValidationReport | None = self.document.report
        self.list.clear()
        if report is None:
            self._add_note(WAITING_TEXT)
            self.count_changed.emit(0, 0)
            return
        errors, warnings = report.errors(), report.warnings()
        for node_id, message in errors:
            self._add("error", node_id, message)
        for node_id, message in warnings:
            self._add("warning", node_id, message)
        if not errors and not warnings:
            self._add_note("No problems")
        self.count_changed.emit(len(errors), len(warnings))

    # ------------------------------------------------------------- internals
    def _add(self, kind: str, node_id: str | None, message: str) -> None:
        # Node messages are phrased to follow the node's name ("conv_2: rejects input ...").
        text = f"{node_id}: {message}" if node_id else message[:1].upper() + message[1:]
        item = QListWidgetItem(self._icons[kind], text)
        item.setData(_NODE_ROLE, node_id)
        item.setForeground(QBrush(_ERROR if kind == "error" else _WARNING))
        item.setToolTip(text)
        self.list.addItem(item)

    def _add_note(self, text: str) -> None:
        item = QListWidgetItem(text)
        item.setForeground(QBrush(_QUIET))
        # Enabled but not selectable: nothing to act on, and it should not look disabled.
        item.setFlags(Qt.ItemFlag.ItemIsEnabled)
        self.list.addItem(item)

    # ------------------------------------------------------------------ slots
    def _on_document_validated(self, _report: ValidationReport) -> None:
        self.refresh()

    def _on_list_item_clicked(self, item: QListWidgetItem) -> None:
        node_id = item.data(_NODE_ROLE)
        if node_id and node_id in self.document.graph:
            self.document.select([node_id])
            self.node_activated.emit(node_id)
