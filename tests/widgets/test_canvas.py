"""The canvas draws the graph and turns gestures into undoable edits."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF, Qt

from widgets.canvas.canvas import GraphCanvas
from widgets.canvas.items import NodeItem
from widgets.commands import (
    AddNodeCommand,
    AutoLayoutCommand,
    DisconnectCommand,
    PasteCommand,
    RemoveNodesCommand,
    SetParamCommand,
)
from widgets.document import Document
from workbench.experiment import Experiment


@pytest.fixture
def canvas(qtbot, document):
    canvas = GraphCanvas(document)
    qtbot.addWidget(canvas)
    canvas.resize(1000, 600)
    canvas.show()
    qtbot.waitExposed(canvas)
    return canvas


def file_text(document) -> str:
    return document.experiment.to_json()


def test_canvas_shows_every_node_edge_shape_and_count(canvas, document):
    assert set(canvas.nodes) == set(document.graph.nodes)
    assert len(canvas.edges) == len(document.graph.edges)
    conv = canvas.nodes["conv_1"]
    assert conv.shape_text == "(None, 8, 8, 16)" and conv.count_text == "160 params"
    assert "16 · 3×3 · same · relu" == conv.params_text
    assert canvas.nodes["digit"].is_output
    edge = canvas.edges[("conv_1", "pool_1", 0, 0)]
    assert edge.label == "(None, 8, 8, 16)"


def test_every_edit_undoes_to_byte_identical_json(canvas, document):
    graph = document.graph
    original = file_text(document)
    document.push(AddNodeCommand(graph, "Dense", {"units": 5}, (10, 10), after="pool_2"))
    document.push(SetParamCommand(graph, "conv_1", "filters", 8))
    document.push(SetParamCommand(graph, "conv_1", "padding", SetParamCommand.UNSET))
    document.push(DisconnectCommand(graph, graph.in_edges("conv_2")[0]))
    document.push(RemoveNodesCommand(graph, ["pool_1", "dropout"]))
    document.push(PasteCommand(graph, graph.copy_fragment(["conv_1", "conv_2"]), (40, 40)))
    document.push(AutoLayoutCommand(graph))
    assert file_text(document) != original and document.dirty
    assert set(canvas.nodes) == set(graph.nodes)
    while document.undo_stack.canUndo():
        document.undo_stack.undo()
    assert file_text(document) == original and not document.dirty
    assert set(canvas.nodes) == set(graph.nodes)
    assert len(canvas.edges) == len(graph.edges)


def drag(qtbot, canvas, start: QPointF, end: QPointF) -> None:
    viewport = canvas.viewport()
    a = canvas.mapFromScene(start)
    b = canvas.mapFromScene(end)
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=a)
    for step in range(1, 6):
        qtbot.mouseMove(viewport, a + (b - a) * step / 5)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=b)


def test_drag_from_output_port_connects(qtbot, canvas, document):
    graph = document.graph
    document.push(AddNodeCommand(graph, "Dense", {"units": 3}, (1200, 300), node_id="extra"))
    target: NodeItem = canvas.nodes["extra"]
    drag(qtbot, canvas, canvas.nodes["pool_2"].output_port_pos(0),
         target.sceneBoundingRect().center())
    assert any(e.source == "pool_2" and e.target == "extra" for e in graph.edges)
    qtbot.waitUntil(lambda: canvas.nodes["extra"].shape_text == "(None, 3)")


def test_a_connection_keras_rejects_is_refused_with_the_reason(qtbot, canvas, document):
    graph = document.graph
    document.push(AddNodeCommand(graph, "Add", {}, (900, 400), node_id="join"))
    assert canvas.try_connect("conv_1", "join")
    messages = []
    canvas.message.connect(messages.append)
    before = len(graph.edges)
    drag(qtbot, canvas, canvas.nodes["conv_2"].output_port_pos(0),
         canvas.nodes["join"].sceneBoundingRect().center())
    assert len(graph.edges) == before
    assert messages and "Cannot connect conv_2 → join" in messages[-1]
    assert "(None, 8, 8, 16)" in messages[-1] and "(None, 4, 4, 32)" in messages[-1]
    assert not canvas.try_connect("digit", "conv_1")  # a cycle
    assert "cycle" in messages[-1]


def test_moving_a_node_is_one_undo_step(qtbot, canvas, document):
    item = canvas.nodes["conv_2"]
    start = item.pos()
    drag(qtbot, canvas, item.sceneBoundingRect().center() + QPointF(0, 20),
         item.sceneBoundingRect().center() + QPointF(80, 120))
    moved = document.graph.nodes["conv_2"].pos
    assert moved != (start.x(), start.y())
    assert document.undo_stack.count() == 1
    document.undo_stack.undo()
    assert document.graph.nodes["conv_2"].pos == (start.x(), start.y())
    assert canvas.nodes["conv_2"].pos() == start


def test_selection_is_shared_with_the_document(qtbot, canvas, document):
    canvas.nodes["conv_1"].setSelected(True)
    assert document.selection == ["conv_1"]
    document.select(["digit", "pool_2"])
    assert sorted(canvas.selected_ids()) == ["digit", "pool_2"]


def test_errors_are_drawn_on_the_node(canvas, document):
    document.push(SetParamCommand(document.graph, "conv_2", "filters", 0))
    document.validate_now()
    item = canvas.nodes["conv_2"]
    assert item.errors and "filters must be >= 1" in item.toolTip()
    assert canvas.nodes["digit"].waiting


def test_nested_blocks_open_read_only(qtbot, keras):
    from workbench.graph.convert import from_keras

    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d")], name="inner")
    outer_in = keras.Input((4,), name="x")
    model = keras.Model(outer_in, inner(outer_in), name="outer")
    graph, weights = from_keras(model)
    document = Document(Experiment(name="nested", graph=graph), weights)
    document.backend_ready()
    canvas = GraphCanvas(document)
    qtbot.addWidget(canvas)
    assert canvas.nodes["inner"].params_text == "2 layers"
    canvas.open_block("inner")
    assert canvas.read_only and "d" in canvas.nodes and "inner" not in canvas.nodes
    assert not canvas.nodes["d"].flags() & NodeItem.GraphicsItemFlag.ItemIsMovable
    canvas.leave_block()
    assert not canvas.read_only and "inner" in canvas.nodes


def test_zoom_and_fit(canvas):
    canvas.fit()
    scale = canvas.transform().m11()
    assert 0.05 <= scale <= 1.0
    canvas.zoom(1.25)
    assert canvas.transform().m11() == pytest.approx(scale * 1.25)


def test_a_refused_edit_leaves_no_undo_step(document):
    from widgets.commands import RenameNodeCommand
    from workbench.errors import GraphError

    with pytest.raises(GraphError, match="already exists"):
        document.push(RenameNodeCommand(document.graph, "conv_1", "conv_2"))
    assert document.undo_stack.count() == 0 and not document.dirty
    assert "conv_1" in document.graph.nodes
