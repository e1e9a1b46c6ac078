"""What the canvas draws: a node card with ports, and an edge curve labelled with its shape.

Items hold no model state of their own beyond what they display: the node id to look up, the
texts last given by the scene, and their position while a drag is in progress.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsObject, QGraphicsPathItem

NODE_WIDTH = 180.0
HEADER = 24.0
LINE = 17.0
PORT_RADIUS = 6.0
PORT_SPACING = 18.0

CATEGORY_COLOURS = {
    "core": "#4c72b0", "convolution": "#dd8452", "pooling": "#55a868", "normalization": "#8172b3",
    "regularization": "#937860", "merge": "#da8bc3", "recurrent": "#8c8c8c",
    "embedding": "#ccb974", "attention": "#64b5cd", "reshaping": "#7f9f9f",
    "activation": "#c44e52", "preprocessing": "#6a9f58", "block": "#2f4b7c", "other": "#777777",
}
ERROR = QColor("#d62728")
WARNING = QColor("#e69500")
SELECTED = QColor("#1f77d0")


class NodeItem(QGraphicsObject):
    """A node card: header with the name, the type, key parameters, output shape and count."""

    def __init__(self, node_id: str):
        super().__init__()
        self.node_id = node_id
        self.type_name = ""
        self.params_text = ""
        self.shape_text = ""
        self.count_text = ""
        self.category = "other"
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.waiting = False
        self.is_output = False
        self.input_ports = 1
        self.output_ports = 1
        self.setFlags(
            QGraphicsItem.GraphicsItemFlag.ItemIsMovable
            | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
            | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges
        )
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setAcceptHoverEvents(True)
        self.setZValue(1)
        self.edges: list[EdgeItem] = []

    # ------------------------------------------------------------ geometry
    def height(self) -> float:
        ports = max(self.input_ports, self.output_ports)
        return max(HEADER + 3 * LINE + 8, HEADER + ports * PORT_SPACING + 8)

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt override)
        pad = PORT_RADIUS + 2
        return QRectF(-pad, -2, NODE_WIDTH + 2 * pad, self.height() + 4)

    def input_port_pos(self, port: int) -> QPointF:
        """Scene position of input ``port`` (left edge)."""
        return self.mapToScene(QPointF(0, HEADER + PORT_SPACING * (port + 0.5)))

    def output_port_pos(self, index: int = 0) -> QPointF:
        """Scene position of output ``index`` (right edge)."""
        return self.mapToScene(QPointF(NODE_WIDTH, HEADER + PORT_SPACING * (index + 0.5)))

    def output_port_at(self, scene_pos: QPointF) -> int | None:
        """The output port under ``scene_pos``, if any."""
        local = self.mapFromScene(scene_pos)
        for index in range(self.output_ports):
            centre = QPointF(NODE_WIDTH, HEADER + PORT_SPACING * (index + 0.5))
            if (local - centre).manhattanLength() <= PORT_RADIUS * 2.2:
                return index
        return None

    def input_port_near(self, scene_pos: QPointF) -> int:
        """The input port closest to ``scene_pos`` (by height)."""
        local = self.mapFromScene(scene_pos)
        slot = int((local.y() - HEADER) // PORT_SPACING)
        return max(0, min(slot, self.input_ports - 1))

    # -------------------------------------------------------------- update
    def set_texts(self, **values) -> None:
        """Update what the card shows (only the given fields) and repaint."""
        changed = False
        for key, value in values.items():
            if getattr(self, key) != value:
                setattr(self, key, value)
                changed = True
        if changed:
            self.prepareGeometryChange()
            tip = [f"<b>{self.node_id}</b> ({self.type_name})"]
            tip += [f"<span style='color:#d62728'>✖ {e}</span>" for e in self.errors]
            tip += [f"<span style='color:#b07000'>⚠ {w}</span>" for w in self.warnings]
            self.setToolTip("<br>".join(tip))
            self.update()
            for edge in self.edges:
                edge.update_path()

    # ------------------------------------------------------------ painting
    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        height = self.height()
        body = QRectF(0, 0, NODE_WIDTH, height)
        colour = QColor(CATEGORY_COLOURS.get(self.category, "#777777"))
        background = QColor("#fff4f4") if self.errors else QColor("#ffffff")
        border = ERROR if self.errors else WARNING if self.warnings else QColor("#9aa0a6")
        width = 2.0 if (self.errors or self.warnings) else 1.0
        if self.isSelected():
            border, width = SELECTED, 2.5
        path = QPainterPath()
        path.addRoundedRect(body, 7, 7)
        painter.fillPath(path, background)
        painter.save()
        painter.setClipPath(path)  # the header takes the card's rounded top corners
        painter.fillRect(QRectF(0, 0, NODE_WIDTH, HEADER), colour)
        painter.restore()
        painter.setPen(QPen(border, width, Qt.PenStyle.DashLine if self.waiting else
                            Qt.PenStyle.SolidLine))
        painter.drawPath(path)

        bold = QFont()
        bold.setBold(True)
        bold.setPointSizeF(9.5)
        small = QFont()
        small.setPointSizeF(8.5)
        painter.setFont(bold)
        painter.setPen(QColor("white"))
        name = QFontMetricsF(bold).elidedText(self.node_id, Qt.TextElideMode.ElideRight,
                                              NODE_WIDTH - 46)
        painter.drawText(QRectF(10, 0, NODE_WIDTH - 20, HEADER),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, name)
        if self.is_output:
            painter.drawText(QRectF(10, 0, NODE_WIDTH - 16, HEADER),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, "OUT")
        painter.setFont(small)
        metrics = QFontMetricsF(small)
        inner = NODE_WIDTH - 24
        count_width = metrics.horizontalAdvance(self.count_text) + 8 if self.count_text else 0
        y = HEADER + 2
        painter.setPen(QColor("#5f6368"))
        painter.drawText(QRectF(12, y, inner, LINE),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                         self.count_text)
        painter.drawText(QRectF(12, y, inner - count_width, LINE), Qt.AlignmentFlag.AlignVCenter,
                         metrics.elidedText(self.type_name, Qt.TextElideMode.ElideRight,
                                            inner - count_width))
        y += LINE
        painter.setPen(QColor("#202124"))
        painter.drawText(QRectF(12, y, inner, LINE), Qt.AlignmentFlag.AlignVCenter,
                         metrics.elidedText(self.params_text, Qt.TextElideMode.ElideRight, inner))
        y += LINE
        painter.setPen(ERROR if self.errors else QColor("#1a73e8"))
        footer = (self.errors[0] if self.errors else self.shape_text)
        painter.drawText(QRectF(12, y, inner, LINE), Qt.AlignmentFlag.AlignVCenter,
                         metrics.elidedText(footer, Qt.TextElideMode.ElideRight, inner))

        painter.setPen(QPen(QColor("#5f6368"), 1))
        painter.setBrush(QBrush(QColor("#e8eaed")))
        for port in range(self.input_ports):
            painter.drawEllipse(QPointF(0, HEADER + PORT_SPACING * (port + 0.5)),
                                PORT_RADIUS - 1, PORT_RADIUS - 1)
        painter.setBrush(QBrush(colour))
        for index in range(self.output_ports):
            painter.drawEllipse(QPointF(NODE_WIDTH, HEADER + PORT_SPACING * (index + 0.5)),
                                PORT_RADIUS, PORT_RADIUS)

    def itemChange(self, change, value):  # noqa: N802 (Qt override)
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            for edge in self.edges:
                edge.update_path()
        return super().itemChange(change, value)


def edge_path(start: QPointF, end: QPointF) -> QPainterPath:
    """The curve of a connection from an output port to an input port.

    Forward edges are a smooth S. An edge that must go back to the left (to the next band of
    a wrapped layout) leaves to the right, runs back above the target's row and enters the
    target from the left, instead of cutting across the drawing.
    """
    path = QPainterPath(start)
    if end.x() >= start.x() - 10:
        bend = max(40.0, abs(end.x() - start.x()) * 0.5)
        path.cubicTo(start + QPointF(bend, 0), end - QPointF(bend, 0), end)
        return path
    loop = 40.0
    lane = end.y() - 55.0  # just above the target's card, in the gap between bands
    path.cubicTo(QPointF(start.x() + loop, start.y()), QPointF(start.x() + loop, lane),
                 QPointF(start.x(), lane))
    path.lineTo(QPointF(end.x(), lane))
    path.cubicTo(QPointF(end.x() - loop, lane), QPointF(end.x() - loop, end.y()), end)
    return path


class EdgeItem(QGraphicsPathItem):
    """A connection drawn as a curve from an output port to an input port, with its shape."""

    def __init__(self, source: NodeItem, target: NodeItem, port: int, index: int):
        super().__init__()
        self.source, self.target, self.port, self.index = source, target, port, index
        self.label = ""
        self.setZValue(0)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setPen(QPen(QColor("#80868b"), 1.6))
        source.edges.append(self)
        target.edges.append(self)
        self.update_path()

    def detach(self) -> None:
        for end in (self.source, self.target):
            if self in end.edges:
                end.edges.remove(self)

    def update_path(self) -> None:
        self.setPath(edge_path(self.source.output_port_pos(self.index),
                               self.target.input_port_pos(self.port)))

    def set_label(self, text: str) -> None:
        if text != self.label:
            self.label = text
            self.setToolTip(f"{self.source.node_id} → {self.target.node_id}: {text}")
            self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt override)
        return super().boundingRect().adjusted(-60, -14, 60, 14)

    def shape(self) -> QPainterPath:
        from PySide6.QtGui import QPainterPathStroker

        stroker = QPainterPathStroker()
        stroker.setWidth(10)
        return stroker.createStroke(self.path())

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        # An edge that wraps to the next band of the layout is drawn lighter and dashed: it
        # reads as "continues below" rather than as part of the drawing it crosses.
        wraps = self.path().elementCount() > 4
        pen = QPen(SELECTED if self.isSelected() else QColor("#a0a6ad" if wraps else "#80868b"),
                   2.4 if self.isSelected() else 1.4 if wraps else 1.6,
                   Qt.PenStyle.DashLine if wraps else Qt.PenStyle.SolidLine)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.path())
        if self.label:
            font = QFont()
            font.setPointSizeF(7.5)
            painter.setFont(font)
            metrics = QFontMetricsF(font)
            middle = self.path().pointAtPercent(0.5)
            width = metrics.horizontalAdvance(self.label) + 8
            box = QRectF(middle.x() - width / 2, middle.y() - 8, width, 16)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(255, 255, 255, 225))
            painter.drawRoundedRect(box, 4, 4)
            painter.setPen(QColor("#3c4043"))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, self.label)
