"""The layer palette, the model summary and the issues list, driven as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt

from widgets.canvas.canvas import LAYER_MIME
from widgets.document import Document
from widgets.issues_panel import IssuesPanel
from widgets.palette import LayerPalette, first_sentence
from widgets.summary_panel import WAITING_TEXT, ModelSummary
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment
from workbench.graph.catalog import CATEGORIES, layer_type, outline

ROOT = Path(__file__).resolve().parents[2]



@pytest.fixture
def palette(qtbot):
    palette = LayerPalette()
    qtbot.addWidget(palette)
    palette.resize(240, 700)
    palette.show()
    qtbot.waitExposed(palette)
    palette.load_help()
    return palette


@pytest.fixture
def summary(qtbot, document):
    summary = ModelSummary(document)
    qtbot.addWidget(summary)
    summary.resize(420, 400)
    summary.show()
    qtbot.waitExposed(summary)
    return summary


@pytest.fixture
def issues(qtbot, document):
    issues = IssuesPanel(document)
    qtbot.addWidget(issues)
    issues.resize(600, 200)
    issues.show()
    qtbot.waitExposed(issues)
    return issues


def _row_centre(view, item):
    return view.visualItemRect(item).center()


def _double_click(qtbot, view, item) -> None:
    # A real double-click is a click and then a double-click event; QTest's mouseDClick
    # alone skips the first release, and a view ignores a double-click while pressed.
    pos = _row_centre(view, item)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)


# ------------------------------------------------------------------ palette
def test_palette_offers_every_outlined_layer_by_category(palette):
    tree = palette.tree
    assert palette.objectName() == "layerPalette"
    categories = [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]
    used = [c for c in CATEGORIES if any(e.category == c for e in outline().values())]
    assert [c.text(0).lower() for c in categories] == used
    for category in categories:
        assert category.font(0).bold()
        assert category.isExpanded()
        assert not category.flags() & Qt.ItemFlag.ItemIsDragEnabled
    layers = [c.child(i).text(0) for c in categories for i in range(c.childCount())]
    assert len(layers) >= 45
    assert {"Input", "Dense", "Conv2D", "LSTM", "MultiHeadAttention"} <= set(layers)
    dense = palette.layer_item("Dense")
    assert dense.parent().text(0).lower() == "core"
    assert "densely-connected" in dense.toolTip(0)


def test_palette_builds_without_importing_keras():
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from widgets.palette import LayerPalette\n"
        "palette = LayerPalette()\n"
        "assert palette.layer_item('Conv2D') is not None\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow')]\n"
        "assert not loaded, loaded\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_search_filters_by_name_category_or_help(qtbot, palette):
    qtbot.keyClicks(palette.search, "conv")
    visible = palette.visible_layers()
    assert "Conv2D" in visible and "ConvLSTM2D" in visible

    def matches(name: str) -> bool:
        text = " ".join([name, outline()[name].category, first_sentence(layer_type(name).help)])
        return "conv" in text.lower()

    assert all(matches(name) for name in visible)
    assert not [name for name in outline() if name not in visible and matches(name)]
    assert palette.layer_item("Dense").isHidden()
    assert palette.layer_item("Dense").parent().isHidden()  # an empty category goes

    with qtbot.waitSignal(palette.layer_requested) as requested:
        qtbot.keyClick(palette.search, Qt.Key.Key_Return)
    assert requested.args == [visible[0]]

    palette.search.clear()
    assert len(palette.visible_layers()) == len(outline())


def test_search_matches_help_text_once_keras_has_loaded(qtbot, palette):
    qtbot.keyClicks(palette.search, "densely-connected")
    assert palette.visible_layers() == ["Dense"]
    palette.search.setText("no layer is called this")
    assert palette.visible_layers() == []
    assert "No layer matches" in palette.help.text()


def test_double_click_or_enter_requests_a_layer(qtbot, palette):
    tree = palette.tree
    dense = palette.layer_item("Dense")
    requested = []
    palette.layer_requested.connect(requested.append)
    _double_click(qtbot, tree, dense)
    assert requested == ["Dense"]  # once: the first click of the two adds nothing

    tree.setCurrentItem(palette.layer_item("Conv2D"))
    with qtbot.waitSignal(palette.layer_requested) as requested:
        qtbot.keyClick(tree, Qt.Key.Key_Return)
    assert requested.args == ["Conv2D"]

    with qtbot.assertNotEmitted(palette.layer_requested):
        _double_click(qtbot, tree, dense.parent())


def test_a_dragged_row_carries_the_class_name(palette):
    tree = palette.tree
    dense = palette.layer_item("Dense")
    assert dense.flags() & Qt.ItemFlag.ItemIsDragEnabled
    assert tree.mimeTypes() == [LAYER_MIME]
    data = tree.mimeData([dense])
    assert data.hasFormat(LAYER_MIME)
    assert bytes(data.data(LAYER_MIME)) == b"Dense"
    assert not tree.mimeData([dense.parent()]).hasFormat(LAYER_MIME)
    # What the view's own drag asks for: the model, which calls back into the tree.
    index = tree.indexFromItem(dense)
    assert bytes(tree.model().mimeData([index]).data(LAYER_MIME)) == b"Dense"
    assert tree.model().supportedDragActions() & Qt.DropAction.CopyAction


# ------------------------------------------------------------------ summary
def _plain(text: str) -> str:
    # The totals keep each part on one line with non-breaking spaces and hyphen.
    return text.replace("\u00a0", " ").replace("\u2011", "-")


def _cell(summary, node_id: str, column: int) -> str:
    return summary.table.item(summary.row_of(node_id), column).text()


def test_summary_lists_layers_in_order_with_shapes_and_counts(summary):
    table = summary.table
    assert table.objectName() == "summaryTable"
    assert table.rowCount() == 7
    assert [table.item(r, 0).text() for r in range(7)] == [
        "image", "conv_1", "pool_1", "conv_2", "pool_2", "dropout", "digit"]
    assert _cell(summary, "conv_1", 1) == "Conv2D"
    assert _cell(summary, "conv_1", 2) == "(None, 8, 8, 16)"
    assert _cell(summary, "conv_1", 3) == "160"
    assert _cell(summary, "conv_2", 3) == "4,640"
    assert table.item(summary.row_of("conv_2"), 3).textAlignment() & Qt.AlignmentFlag.AlignRight
    assert "5,130" in summary.totals.text()
    assert _plain(summary.totals.text()) == (
        "Total params: 5,130 · Trainable: 5,130 · Non-trainable: 0")
    assert "No problems" in summary.status.text()
    assert not table.editTriggers() & table.EditTrigger.DoubleClicked


def test_summary_waits_for_the_backend(qtbot):
    document = Document(Experiment.load(DEFAULT_EXPERIMENT))
    summary = ModelSummary(document)
    qtbot.addWidget(summary)
    assert summary.totals.text() == WAITING_TEXT
    assert summary.table.rowCount() == 7  # the layers are known already, shapes are not
    assert _cell(summary, "conv_1", 2) == ""


def test_summary_and_document_share_the_selection(qtbot, summary, document):
    table = summary.table
    digit = table.item(summary.row_of("digit"), 0)
    with qtbot.waitSignal(document.selection_changed):
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton,
                         pos=_row_centre(table, digit))
    assert document.selection == ["digit"]

    changes = []
    document.selection_changed.connect(changes.append)
    document.select(["conv_2"])
    rows = [index.row() for index in table.selectionModel().selectedRows()]
    assert rows == [summary.row_of("conv_2")]
    assert changes == [["conv_2"]]  # following the document did not echo back into it
    assert document.selection == ["conv_2"]

    table.selectionModel().select(
        table.model().index(summary.row_of("image"), 0),
        QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)
    assert document.selection == ["image", "conv_2"]


def test_summary_marks_the_node_in_error(summary, document):
    document.graph.set_param("conv_2", "filters", 0)
    document.validate_now()
    item = summary.table.item(summary.row_of("conv_2"), 0)
    assert item.foreground().color().red() > 150 and item.foreground().color().green() < 80
    assert ">= 1" in item.toolTip()
    assert _cell(summary, "conv_2", 2) == "?"
    assert "1 error" in summary.status.text()
    assert "Total params: 160 " in _plain(summary.totals.text())


def test_summary_lists_scratch_nodes_after_the_model_and_greys_them(summary, document):
    document.graph.add_node("Dense", {"units": 4}, node_id="scratch")
    document.validate_now()
    table = summary.table
    assert table.rowCount() == 8
    assert summary.row_of("scratch") == 7
    item = table.item(7, 0)
    assert "needs at least 1 input" in item.toolTip()
    assert item.foreground().color().name() == "#80868b"  # a warning, not a red error
    assert _plain(summary.totals.text()).startswith("Total params: 5,130 ")


def test_summary_follows_a_new_document(qtbot, summary, document):
    other = Document(Experiment.load(DEFAULT_EXPERIMENT))
    other.graph.set_param("digit", "units", 20)
    other.graph.add_node("Dense", {"units": 4}, node_id="scratch")
    summary.set_document(other)
    assert summary.table.rowCount() == 8
    assert summary.totals.text() == WAITING_TEXT
    document.validate_now()  # the old document no longer reaches the panel
    assert summary.totals.text() == WAITING_TEXT
    other.backend_ready()
    assert _plain(summary.totals.text()).startswith("Total params: 5,460 ")  # 5,130 + 10 * 33
    assert _cell(summary, "digit", 3) == "660"


# ------------------------------------------------------------------- issues
def _texts(issues) -> list[str]:
    return [issues.list.item(i).text() for i in range(issues.list.count())]


def test_a_clean_model_has_no_problems(qtbot, issues):
    assert issues.list.objectName() == "issuesList"
    assert _texts(issues) == ["No problems"]


def test_issues_list_errors_and_lead_to_the_node(qtbot, issues, document):
    with qtbot.waitSignal(issues.count_changed) as counted:
        document.graph.set_param("conv_2", "filters", 0)
        document.validate_now()
    assert counted.args == [1, 0]
    entries = [t for t in _texts(issues) if "conv_2" in t and ">= 1" in t]
    assert entries == ["conv_2: filters must be >= 1 (got 0)"]

    item = issues.list.findItems(entries[0], Qt.MatchFlag.MatchExactly)[0]
    with qtbot.waitSignal(issues.node_activated) as activated:
        qtbot.mouseClick(issues.list.viewport(), Qt.MouseButton.LeftButton,
                         pos=_row_centre(issues.list, item))
    assert activated.args == ["conv_2"]
    assert document.selection == ["conv_2"]

    document.graph.set_param("conv_2", "filters", 32)
    with qtbot.waitSignal(issues.count_changed) as counted:
        document.validate_now()
    assert counted.args == [0, 0]
    assert _texts(issues) == ["No problems"]


def test_issues_put_graph_problems_first_then_warnings(qtbot, issues, document):
    document.graph.add_node("Dense", {"units": 4}, node_id="stray")
    document.graph.set_outputs([])
    with qtbot.waitSignal(issues.count_changed) as counted:
        document.validate_now()
    texts = _texts(issues)
    assert texts[0].startswith("The model has no output")
    assert texts[-1] == "stray: is not connected to any Input"
    assert counted.args == [len(texts) - 1, 1]
    with qtbot.assertNotEmitted(issues.node_activated):
        qtbot.mouseClick(issues.list.viewport(), Qt.MouseButton.LeftButton,
                         pos=_row_centre(issues.list, issues.list.item(0)))
