"""``GraphCanvas``: the view of a document's ``ModelGraph``.

The canvas draws the graph and turns gestures into undo commands; it never stores what the
graph knows. Gestures: drag a node to move it, drag from an output port (right dot) to a node
to connect, rubber-band or Ctrl-click to select, Delete to remove, wheel to zoom, middle
button (or Space + drag) to pan, double-click a block to look inside it (Esc to come back).
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QCursor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsScene, QGraphicsView, QToolTip

from widgets.canvas.items import EdgeItem, NodeItem, edge_path
from widgets.commands import ConnectCommand, MoveNodesCommand
from widgets.document import Document
from workbench.errors import GraphError
from workbench.graph.catalog import INPUT, outline
from workbench.graph.describe import category_of, key_params_text, shape_text
from workbench.graph.graph import BLOCK, GraphEvent, ModelGraph
from workbench.graph.validate import ValidationReport, connection_problem

LAYER_MIME = "application/x-keras-workbench-layer"
_GRID = 24
_READABLE = 0.7  # the smallest zoom at which node texts can still be read


class GraphCanvas(QGraphicsView):
    """The model canvas.

    Signals:
        message(str): a short note for the status bar (a refused connection, say).
        layer_dropped(type_name, QPointF): a palette entry was dropped at a scene position.
        block_opened(str): the user entered a nested block (its id), or left it ("").
    """

    message = Signal(str)
    layer_dropped = Signal(str, QPointF)
    block_opened = Signal(str)

    def __init__(self, document: Document):
        super().__init__()
        self.setObjectName("modelCanvas")
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setAcceptDrops(True)
        self.document: Document | None = None
        self.graph: ModelGraph | None = None
        self.nodes: dict[str, NodeItem] = {}
        self.edges: dict[tuple, EdgeItem] = {}
        self.block_path: list[str] = []  # ids of the blocks entered, outermost first
        self._drag_start: dict[str, QPointF] = {}
        self._wire: QGraphicsPathItem | None = None
        self._wire_source: tuple[str, int] | None = None
        self._panning = False
        self._space = False
        self._pan_from = QPointF()
        self._syncing_selection = False
        self._scene.selectionChanged.connect(self._on_scene_selection_changed)
        self.set_document(document)

    # ------------------------------------------------------------ document
    def set_document(self, document: Document) -> None:
        """Show another document (after New or Open)."""
        if self.document is not None:
            self.document.graph_changed.disconnect(self._on_document_graph_changed)
            self.document.validated.disconnect(self._on_document_validated)
            self.document.selection_changed.disconnect(self._on_document_selection_changed)
        self.document = document
        document.graph_changed.connect(self._on_document_graph_changed)
        document.validated.connect(self._on_document_validated)
        document.selection_changed.connect(self._on_document_selection_changed)
        self.block_path = []
        self._show(document.graph)

    @property
    def read_only(self) -> bool:
        """Inside a nested block the canvas shows, but does not edit."""
        return bool(self.block_path)

    def _show(self, graph: ModelGraph) -> None:
        self._scene.clear()
        self.nodes.clear()
        self.edges.clear()
        self._wire = None
        self.graph = graph
        for node in graph.nodes.values():
            self._add_node_item(node.id)
        for edge in graph.edges:
            self._add_edge_item(edge)
        report = self._report_for_view()
        if report is not None:
            self._apply_report(report)
        self._scene.setSceneRect(QRectF())
        self._grow_scene_rect()
        self.show_start()

    def _grow_scene_rect(self) -> None:
        """Keep room around the drawing to pan into (and to drop new layers on)."""
        margin = 2000.0
        wanted = self._scene.itemsBoundingRect().adjusted(-margin, -margin, margin, margin)
        current = self._scene.sceneRect()
        if not current.contains(wanted):
            self._scene.setSceneRect(current.united(wanted) if not current.isEmpty() else wanted)

    def open_block(self, node_id: str) -> None:
        """Show the inside of a nested block (read only)."""
        assert self.graph is not None
        node = self.graph.nodes.get(node_id)
        if node is None or node.block is None:
            return
        self.block_path.append(node_id)
        self._show(node.block)
        self.block_opened.emit(node_id)
        self.message.emit(f"Inside block {' › '.join(self.block_path)} (read only): "
                          "Esc or View › Leave block to go back")

    def leave_block(self) -> None:
        """Go back up one nesting level."""
        if not self.block_path or self.document is None:
            return
        self.block_path.pop()
        graph = self.document.graph
        for node_id in self.block_path:
            graph = graph.nodes[node_id].block  # type: ignore[assignment]
        self._show(graph)
        self.block_opened.emit(self.block_path[-1] if self.block_path else "")

    # ------------------------------------------------------------- viewing
    def fit(self) -> None:
        """Zoom so the whole graph is visible (not larger than 100 %)."""
        rect = self._scene.itemsBoundingRect()
        if rect.isEmpty():
            self.resetTransform()
            self.centerOn(0, 0)
            return
        self.fitInView(rect.adjusted(-40, -40, 40, 40), Qt.AspectRatioMode.KeepAspectRatio)
        if self.transform().m11() > 1.0:
            self.resetTransform()
            self.centerOn(rect.center())

    def show_start(self) -> None:
        """The first view of a model: all of it if that stays readable, else its inputs at
        a readable zoom (a 200-layer import fitted whole is only a texture)."""
        self.fit()
        if self.transform().m11() >= _READABLE:
            return
        rect = self._scene.itemsBoundingRect()
        self.resetTransform()
        self.scale(_READABLE, _READABLE)
        width = self.viewport().width() / _READABLE
        height = self.viewport().height() / _READABLE
        # The inputs: the left end of the first band.
        self.centerOn(rect.left() + width / 2 - 40,
                      min(rect.center().y(), rect.top() + height / 2 - 40))

    def zoom(self, factor: float) -> None:
        scale = self.transform().m11() * factor
        if 0.05 <= scale <= 4.0:
            self.scale(factor, factor)

    def centre_on_node(self, node_id: str) -> None:
        item = self.nodes.get(node_id)
        if item is not None:
            self.centerOn(item.sceneBoundingRect().center())

    def visible_centre(self) -> QPointF:
        return self.mapToScene(self.viewport().rect().center())

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802
        painter.fillRect(rect, QColor("#f8f9fa"))
        if self.transform().m11() < 0.35:
            return  # a grid that dense is only noise
        left = int(rect.left()) - int(rect.left()) % _GRID
        top = int(rect.top()) - int(rect.top()) % _GRID
        painter.setPen(QPen(QColor("#e3e6ea"), 0))
        lines = []
        x = left
        while x < rect.right():
            lines.append((QPointF(x, rect.top()), QPointF(x, rect.bottom())))
            x += _GRID
        y = top
        while y < rect.bottom():
            lines.append((QPointF(rect.left(), y), QPointF(rect.right(), y)))
            y += _GRID
        for a, b in lines:
            painter.drawLine(a, b)

    # --------------------------------------------------------------- items
    def _add_node_item(self, node_id: str) -> NodeItem:
        assert self.graph is not None
        node = self.graph.nodes[node_id]
        item = NodeItem(node_id)
        if self.read_only:
            item.setFlag(NodeItem.GraphicsItemFlag.ItemIsMovable, False)
        item.setPos(QPointF(*node.pos))
        self._scene.addItem(item)
        self.nodes[node_id] = item
        self._refresh_node(node_id)
        return item

    def _refresh_node(self, node_id: str) -> None:
        assert self.graph is not None
        node = self.graph.nodes[node_id]
        owner = self.graph.nodes.get(node.shares) if node.shares else None
        type_name = node.type if not node.shares else f"{node.type} (shares {node.shares})"
        inputs = _input_ports(self.graph, node)
        self.nodes[node_id].set_texts(
            type_name=type_name, params_text=key_params_text(node, owner),
            category=category_of(node), input_ports=inputs,
            is_output=self.graph.is_output(node_id),
        )

    def _add_edge_item(self, edge) -> None:
        item = EdgeItem(self.nodes[edge.source], self.nodes[edge.target], edge.port, edge.index)
        self._scene.addItem(item)
        self.edges[(edge.source, edge.target, edge.port, edge.index)] = item

    def _remove_edge_item(self, edge) -> None:
        item = self.edges.pop((edge.source, edge.target, edge.port, edge.index), None)
        if item is not None:
            item.detach()
            self._scene.removeItem(item)

    def _report_for_view(self) -> ValidationReport | None:
        """The validation report of the graph on screen (a nested block has none)."""
        if self.document is None or self.document.report is None or self.read_only:
            return None
        return self.document.report

    def _apply_report(self, report: ValidationReport) -> None:
        for node_id, item in self.nodes.items():
            info = report.nodes.get(node_id)
            if info is None:
                continue
            outputs = info.outputs or []
            item.set_texts(
                shape_text=" ".join(shape_text(t.shape) for t in outputs[:2])
                or ("waiting for input" if info.waiting else ""),
                count_text=f"{info.params:,} params" if info.params else "",
                errors=list(info.errors), warnings=list(info.warnings),
                waiting=info.waiting, output_ports=max(1, len(outputs)),
            )
        for (source, _, _, index), edge in self.edges.items():
            info = report.nodes.get(source)
            outputs = info.outputs if info else None
            edge.set_label(shape_text(outputs[index].shape) if outputs and index < len(outputs)
                           else "")

    # ------------------------------------------------------- graph events
    def _on_document_graph_changed(self, event: GraphEvent) -> None:
        if self.read_only:
            return  # the outer graph changed; the block on screen did not
        kind = event.kind
        if kind == "node_added":
            self._add_node_item(event.node)
            self._grow_scene_rect()
        elif kind == "node_removed":
            item = self.nodes.pop(event.node, None)
            if item is not None:
                self._scene.removeItem(item)
        elif kind == "node_changed":
            self._refresh_node(event.node)
        elif kind == "node_moved":
            item = self.nodes.get(event.node)
            pos = QPointF(*self.graph.nodes[event.node].pos)  # type: ignore[union-attr]
            if item is not None and item.pos() != pos:
                item.setPos(pos)
                self._grow_scene_rect()
        elif kind == "node_renamed":
            item = self.nodes.pop(event.old)
            item.node_id = event.node
            item.update()  # the name is drawn from node_id: repaint (and drop the cache)
            self.nodes[event.node] = item
            self.edges = {
                (e.source.node_id, e.target.node_id, e.port, e.index): e
                for e in self.edges.values()
            }
            self._refresh_node(event.node)
        elif kind == "edge_added":
            self._add_edge_item(event.edge)
            self._refresh_node(event.edge.target)
        elif kind == "edge_removed":
            self._remove_edge_item(event.edge)
            if event.edge.target in self.nodes:
                self._refresh_node(event.edge.target)
        elif kind == "outputs_changed":
            for node_id in self.nodes:
                self._refresh_node(node_id)

    def _on_document_validated(self, report: ValidationReport) -> None:
        if not self.read_only:
            self._apply_report(report)

    # ------------------------------------------------------------ selection
    def selected_ids(self) -> list[str]:
        return [i.node_id for i in self._scene.selectedItems() if isinstance(i, NodeItem)]

    def selected_edges(self) -> list:
        return [i for i in self._scene.selectedItems() if isinstance(i, EdgeItem)]

    def _on_scene_selection_changed(self) -> None:
        if self._syncing_selection or self.document is None or self.read_only:
            return
        self.document.select(self.selected_ids())

    def _on_document_selection_changed(self, node_ids: list) -> None:
        if self.read_only:
            return
        self._syncing_selection = True
        try:
            for node_id, item in self.nodes.items():
                item.setSelected(node_id in node_ids)
        finally:
            self._syncing_selection = False

    # ------------------------------------------------------------- gestures
    def _node_at(self, view_pos) -> NodeItem | None:
        for item in self.items(view_pos):
            if isinstance(item, NodeItem):
                return item
        return None

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if event.button() == Qt.MouseButton.MiddleButton or (
            self._space and event.button() == Qt.MouseButton.LeftButton
        ):
            self._panning = True
            self._pan_from = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        if event.button() == Qt.MouseButton.LeftButton and not self.read_only:
            scene_pos = self.mapToScene(event.position().toPoint())
            item = self._node_at(event.position().toPoint())
            if item is not None:
                port = item.output_port_at(scene_pos)
                if port is not None:
                    self._start_wire(item.node_id, port, scene_pos)
                    return
        super().mousePressEvent(event)
        self._drag_start = {i.node_id: i.pos() for i in self._scene.selectedItems()
                            if isinstance(i, NodeItem)}

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if self._panning:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(int(self.horizontalScrollBar().value() - delta.x()))
            self.verticalScrollBar().setValue(int(self.verticalScrollBar().value() - delta.y()))
            return
        if self._wire is not None:
            self._update_wire(self.mapToScene(event.position().toPoint()))
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if self._panning:
            self._panning = False
            self.unsetCursor()
            return
        if self._wire is not None:
            target = self._node_at(event.position().toPoint())
            scene_pos = self.mapToScene(event.position().toPoint())
            self._finish_wire(target, scene_pos)
            return
        super().mouseReleaseEvent(event)
        self._commit_moves()

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802 (Qt override)
        item = self._node_at(event.position().toPoint())
        if item is not None and self.graph is not None:
            node = self.graph.nodes.get(item.node_id)
            if node is not None and node.block is not None:
                self.open_block(item.node_id)
                return
        super().mouseDoubleClickEvent(event)

    def wheelEvent(self, event) -> None:  # noqa: N802 (Qt override)
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom(1.15 ** steps)

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.setCursor(Qt.CursorShape.OpenHandCursor)
            return
        if event.key() == Qt.Key.Key_Escape and self.read_only:
            self.leave_block()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.unsetCursor()
            return
        super().keyReleaseEvent(event)

    def _commit_moves(self) -> None:
        if self.document is None or not self._drag_start:
            return
        moves = {}
        for node_id, start in self._drag_start.items():
            item = self.nodes.get(node_id)
            if item is not None and item.pos() != start:
                end = item.pos()
                snapped = QPointF(round(end.x() / 8) * 8, round(end.y() / 8) * 8)
                item.setPos(snapped)
                moves[node_id] = ((start.x(), start.y()), (snapped.x(), snapped.y()))
        self._drag_start = {}
        if moves:
            self.document.push(MoveNodesCommand(self.document.graph, moves))

    # ------------------------------------------------------------ wiring
    def _start_wire(self, source: str, index: int, scene_pos: QPointF) -> None:
        self._wire_source = (source, index)
        self._wire = QGraphicsPathItem()
        self._wire.setPen(QPen(QColor("#1a73e8"), 2, Qt.PenStyle.DashLine))
        self._wire.setZValue(3)
        self._scene.addItem(self._wire)
        self._update_wire(scene_pos)

    def _update_wire(self, scene_pos: QPointF) -> None:
        assert self._wire is not None and self._wire_source is not None
        start = self.nodes[self._wire_source[0]].output_port_pos(self._wire_source[1])
        self._wire.setPath(edge_path(start, scene_pos))

    def _finish_wire(self, target: NodeItem | None, scene_pos: QPointF) -> None:
        assert self._wire_source is not None
        source, index = self._wire_source
        self._scene.removeItem(self._wire)
        self._wire, self._wire_source = None, None
        if target is None or target.node_id == source:
            return
        port = self._free_port(target, scene_pos)
        self.try_connect(source, target.node_id, port, index)

    def _free_port(self, target: NodeItem, scene_pos: QPointF) -> int | None:
        """The port under the drop if it is free, else the first free one (None)."""
        assert self.graph is not None
        port = target.input_port_near(scene_pos)
        used = {e.port for e in self.graph.in_edges(target.node_id)}
        return port if port not in used else None

    def try_connect(self, source: str, target: str, port: int | None = None,
                    index: int = 0) -> bool:
        """Connect if Keras would accept it; otherwise say why and change nothing."""
        assert self.document is not None
        if self.document.is_backend_ready:
            problem = connection_problem(self.document.validator, source, target, port, index)
        else:
            problem = _structural_problem(self.document.graph, source, target, port)
        if problem:
            taken = [e.source for e in self.document.graph.in_edges(target)]
            if "at most" in problem and taken:
                problem = (f"its input is already connected (from {', '.join(taken)}): select "
                           "that connection and press Delete first")
            text = f"Cannot connect {source} → {target}: {problem}"
            self.message.emit(text)
            QToolTip.showText(QCursor.pos(), text, self)
            return False
        self.document.push(ConnectCommand(self.document.graph, source, target, port, index))
        return True

    # -------------------------------------------------------- drag and drop
    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if event.mimeData().hasFormat(LAYER_MIME) and not self.read_only:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if event.mimeData().hasFormat(LAYER_MIME) and not self.read_only:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if not event.mimeData().hasFormat(LAYER_MIME):
            event.ignore()
            return
        type_name = bytes(event.mimeData().data(LAYER_MIME)).decode()
        self.layer_dropped.emit(type_name, self.mapToScene(event.position().toPoint()))
        event.acceptProposedAction()


def _input_ports(graph: ModelGraph, node) -> int:
    """How many input dots a node shows: its connected ports plus a free one where another
    input is allowed (a merge layer grows a port as it is wired)."""
    used = len(graph.in_edges(node.id))
    if node.type == INPUT:
        return 0
    if node.type == BLOCK and node.block is not None:
        return max(1, len(node.block.inputs))
    spec = outline().get(node.type)
    minimum, maximum = (spec.inputs.minimum, spec.inputs.maximum) if spec else (1, None)
    wanted = max(minimum, used + 1)
    return max(1, wanted if maximum is None else min(wanted, maximum))


def _structural_problem(graph: ModelGraph, source: str, target: str, port: int | None) -> str | None:
    """Before Keras is loaded only the graph's own rules can be checked."""
    trial = graph.clone()
    try:
        trial.connect(source, target, port)
    except GraphError as error:  # cycle, taken port, into an Input
        return str(error).split(": ", 1)[-1]
    return None
