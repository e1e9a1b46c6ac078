"""The Data and Runs panels, driven as a user would: load data, edit options, compare runs."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QLineEdit,
    QPushButton,
    QStackedWidget,
)

from widgets.commands import SetSectionCommand
from widgets.data_panel import ERROR_COLOR, WARNING_COLOR, DataPanel
from widgets.runs_panel import STATUS_COLOURS, RunsPanel
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment
from workbench.runs import RunStore

_LOAD_TIMEOUT_MS = 60_000

# ---------------------------------------------------------------------------- data panel


@pytest.fixture
def data_panel(qtbot, document):
    panel = DataPanel(document)
    qtbot.addWidget(panel)
    panel.resize(1000, 600)
    panel.show()
    qtbot.waitExposed(panel)
    yield panel
    panel.shutdown()


def _click_load(qtbot, panel: DataPanel):
    """Press Load and wait for the dataset (loading runs in a worker, not on the GUI thread)."""
    button = panel.findChild(QPushButton, "loadDataButton")
    with qtbot.waitSignal(panel.dataset_loaded, timeout=_LOAD_TIMEOUT_MS) as loaded:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        assert panel.running and not button.isEnabled()  # the click returned while it loads
    assert not panel.running
    return loaded.args[0]


def _set_source(document, **data) -> None:
    document.push(SetSectionCommand(document, "data", data, key="source"))


def test_load_shows_samples_histogram_and_shapes(qtbot, data_panel):
    dataset = _click_load(qtbot, data_panel)
    assert data_panel.dataset is dataset and len(dataset.x_train) == 1437
    view = data_panel.findChild(QStackedWidget, "sampleGrid")
    assert view is data_panel.sample_view and view.mode == "images"
    assert view.grid.count() == 24
    # The labels under the images are the classes of the first training samples.
    assert view.grid.labels() == [str(int(c)) for c in dataset.y_train[:24]]
    histogram = data_panel.findChild(pg.PlotWidget, "classHistogram")
    heights = np.asarray(data_panel.bars.opts["height"])
    assert histogram is data_panel.histogram and len(heights) == 10
    assert heights.sum() == 1437
    assert list(heights) == list(np.bincount(dataset.y_train, minlength=10))
    info = data_panel.info.text()
    assert "(1437, 8, 8, 1)" in info and "(360,)" in info and "float32" in info and "int32" in info
    assert "1,437 train" in data_panel.description.text()
    assert data_panel.warnings == [] and data_panel.warnings_label.isHidden()
    assert data_panel.error.isHidden()


def test_validation_split_edit_is_one_undo_step(qtbot, data_panel, document):
    spin = data_panel.findChild(QDoubleSpinBox, "validationSplitSpin")
    assert spin.value() == pytest.approx(0.2)
    spin.stepUp()  # a spin box being stepped: the steps merge into one undo step
    spin.stepUp()
    assert document.experiment.data["validation_split"] == pytest.approx(0.3)
    assert document.undo_stack.count() == 1
    document.undo_stack.undo()
    assert document.experiment.data["validation_split"] == pytest.approx(0.2)
    assert spin.value() == pytest.approx(0.2)  # the field follows the document
    dataset = _click_load(qtbot, data_panel)
    assert len(dataset.x_val) == 360


def test_unchecking_the_default_step_writes_an_empty_list(data_panel, document):
    # "scale" is DataConfig's default: leaving the key out would bring it back.
    data_panel.findChild(QCheckBox, "preprocessing_scale").setChecked(False)
    assert document.experiment.data["preprocessing"] == []
    data_panel.findChild(QCheckBox, "augmentation_flip").setChecked(True)
    assert document.experiment.data["augmentation"] == ["flip"]
    assert document.undo_stack.count() == 2


def test_invalid_values_are_refused_in_red_under_their_field(qtbot, data_panel, document):
    _set_source(document, source="spirals")
    noise = data_panel.findChild(QLineEdit, "dataNoiseEdit")
    assert noise.isVisible()
    steps = document.undo_stack.count()
    noise.setText("lots")
    noise.editingFinished.emit()
    assert "lots" in data_panel.message_for("noise")
    assert ERROR_COLOR in data_panel._messages["noise"].styleSheet()
    assert "noise" not in document.experiment.data and document.undo_stack.count() == steps
    noise.setText("0.1")
    noise.editingFinished.emit()
    assert document.experiment.data["noise"] == 0.1 and data_panel.message_for("noise") == ""
    # A bad value arriving with the section (a hand-edited file) is shown where it belongs.
    document.push(SetSectionCommand(document, "data", {"source": "digits", "validation_split": 1.5}))
    assert "0 up to" in data_panel.message_for("validation_split")


def test_missing_npz_file_is_a_readable_error_and_keeps_the_data(qtbot, data_panel, document, tmp_path):
    before = _click_load(qtbot, data_panel)
    source = data_panel.findChild(QComboBox, "dataSourceCombo")
    source.setCurrentIndex(source.findData("npz"))
    assert document.experiment.data["source"] == "npz"
    path = data_panel.findChild(QLineEdit, "dataPathEdit")
    assert path.isVisible() and "npz file" in data_panel.message_for("path")  # what to fill in
    missing = tmp_path / "missing.npz"
    path.setText(str(missing))
    path.editingFinished.emit()
    assert document.experiment.data["path"] == str(missing)
    qtbot.mouseClick(data_panel.load_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not data_panel.running, timeout=_LOAD_TIMEOUT_MS)
    assert data_panel.error.isVisible() and ERROR_COLOR in data_panel.error.styleSheet()
    assert str(missing) in data_panel.error.text() and "no such file" in data_panel.error.text()
    assert "Traceback" not in data_panel.error.text()
    assert data_panel.dataset is before and data_panel.sample_view.grid.count() == 24
    assert data_panel.stale.isVisible()  # the shown data are not what the options say now


def test_auto_load_loads_a_built_in_set_when_first_shown(qtbot, document):
    panel = DataPanel(document, auto_load=True)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.dataset_loaded, timeout=_LOAD_TIMEOUT_MS):
        panel.show()
    assert panel.sample_view.grid.count() == 24


def test_set_document_shows_the_new_documents_data(qtbot, data_panel, document):
    from widgets.document import Document

    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    experiment.data = {"source": "npz", "path": "arrays.npz", "x_key": "images"}
    other = Document(experiment)
    data_panel.set_document(other)
    assert data_panel.findChild(QComboBox, "dataSourceCombo").currentData() == "npz"
    assert data_panel.findChild(QLineEdit, "dataXKeyEdit").text() == "images"
    assert not data_panel.findChild(QLineEdit, "dataTargetEdit").isVisible()  # csv only
    data_panel.findChild(QLineEdit, "dataYKeyEdit").setText("labels")
    data_panel.findChild(QLineEdit, "dataYKeyEdit").editingFinished.emit()
    assert other.experiment.data["y_key"] == "labels" and other.undo_stack.count() == 1
    assert document.undo_stack.count() == 0  # the old document is left alone


def test_spirals_show_a_scatter_coloured_by_class(qtbot, data_panel, document):
    _set_source(document, source="spirals", samples=300)
    dataset = _click_load(qtbot, data_panel)
    view = data_panel.sample_view
    assert view.mode == "scatter" and len(view.scatter) == 3
    assert sum(len(item.data) for item in view.scatter) == len(dataset.x_train) == 240
    heights = np.asarray(data_panel.bars.opts["height"])
    assert len(heights) == 3 and heights.sum() == 240


def test_a_new_source_drops_a_task_it_cannot_do(data_panel, document):
    _set_source(document, source="csv", path="table.csv", target="y", task="regression")
    combo = data_panel.findChild(QComboBox, "dataSourceCombo")
    combo.setCurrentIndex(combo.findData("shapes"))  # shapes: classification or segmentation
    assert document.experiment.data["source"] == "shapes"
    assert document.experiment.data.get("task") in (None, "classification")
    _set_source(document, source="npz", path="data.npz", task="segmentation")
    combo.setCurrentIndex(combo.findData("shapes"))  # a task shapes can do is kept
    assert document.experiment.data["task"] == "segmentation"


def test_model_input_mismatch_is_an_orange_warning(qtbot, data_panel, document):
    _click_load(qtbot, data_panel)
    assert data_panel.model_input_shape() == (8, 8, 1) and not data_panel.warnings
    document.graph.set_param("image", "shape", [9, 9, 1])
    document.validate_now()
    assert data_panel.model_input_shape() == (9, 9, 1)
    assert any("(9, 9, 1)" in w and "(8, 8, 1)" in w for w in data_panel.warnings)
    assert data_panel.warnings_label.isVisible()
    assert WARNING_COLOR in data_panel.warnings_label.text()
    assert "(9, 9, 1)" in data_panel.warnings_label.text()


# ---------------------------------------------------------------------------- runs panel


def _make_run(store: RunStore, name: str, epochs: int, status: str | None, offset: float = 0.0,
              reason: str | None = None):
    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    experiment.name = name
    run = store.create(experiment)
    run.set_device("cpu")
    for epoch in range(1, epochs + 1):
        loss = 2.0 * math.exp(-0.4 * epoch) + offset
        run.append_epoch(epoch, {"loss": loss, "val_loss": loss + 0.1, "accuracy": 1 - loss / 2,
                                 "val_accuracy": 0.9 - loss / 2}, lr=1e-3)
    if status is not None:
        run.finish(status, reason=reason)
    return run


@pytest.fixture
def runs(tmp_path):
    """Three finished or failed runs of two experiments, and one corrupt run folder."""
    store = RunStore(tmp_path / "runs")
    made = {
        "a1": _make_run(store, "cnn", 5, "finished"),
        "a2": _make_run(store, "cnn", 4, "finished", offset=0.2),
        "b1": _make_run(store, "mlp", 3, "failed", offset=0.5, reason="loss became NaN"),
    }
    broken = store.root / "20200101-000000-broken-1"
    broken.mkdir()
    (broken / "run.json").write_text("{ this is not json", encoding="utf-8")
    return store, made, broken


@pytest.fixture
def runs_panel(qtbot, runs):
    store, _, _ = runs
    panel = RunsPanel(store.root)
    qtbot.addWidget(panel)
    panel.resize(1000, 600)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def _status_of(panel: RunsPanel, run_id: str):
    row = panel.row_of(run_id)
    headers = [panel.table.horizontalHeaderItem(c).text() for c in range(panel.table.columnCount())]
    return panel.table.item(row, headers.index("Status"))


def test_runs_table_lists_runs_with_coloured_statuses(runs_panel, runs):
    _, made, broken = runs
    table = runs_panel.findChild(type(runs_panel.table), "runsTable")
    assert table is runs_panel.table and table.rowCount() == 4
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(headers)
    finished = _status_of(runs_panel, made["a1"].id)
    assert finished.text() == "finished"
    assert finished.foreground().color().name() == STATUS_COLOURS["finished"]
    failed = _status_of(runs_panel, made["b1"].id)
    assert failed.text() == "failed" and failed.toolTip() == "loss became NaN"
    unreadable = _status_of(runs_panel, broken.name)
    assert unreadable.text() == "unreadable" and "run.json" in unreadable.toolTip()
    row = runs_panel.row_of(made["a1"].id)
    assert table.item(row, headers.index("Epochs")).text() == "5"
    assert float(table.item(row, headers.index("val_loss")).text()) == pytest.approx(
        2.0 * math.exp(-2.0) + 0.1, rel=1e-3)
    # Sorting by epochs puts numbers in numeric order, not text order.
    table.sortItems(headers.index("Epochs"), Qt.SortOrder.AscendingOrder)
    epochs = [table.item(r, headers.index("Epochs")).text() for r in range(table.rowCount())]
    assert epochs[-1] == "5"


def test_selecting_two_runs_overlays_two_curves(runs_panel, runs):
    _, made, _ = runs
    plot = runs_panel.findChild(pg.PlotWidget, "runsPlot")
    assert plot is runs_panel.plot and not runs_panel.curves
    runs_panel.metric_combo.setCurrentText("val_loss")
    runs_panel.select_runs([made["a1"].id, made["b1"].id])
    assert set(runs_panel.curves) == {made["a1"].id, made["b1"].id}
    x, y = runs_panel.curves[made["a1"].id].getData()
    assert list(x) == [1, 2, 3, 4, 5] and y[0] == pytest.approx(2.0 * math.exp(-0.4) + 0.1)
    pens = {runs_panel.curves[i].opts["pen"].color().name() for i in runs_panel.curves}
    assert len(pens) == 2  # one colour per run
    assert len(runs_panel.legend.items) == 2
    runs_panel.metric_combo.setCurrentText("accuracy")
    x, y = runs_panel.curves[made["a1"].id].getData()
    assert y[0] == pytest.approx(1 - (2.0 * math.exp(-0.4)) / 2)


def test_grouping_by_experiment_draws_mean_and_band(runs_panel, runs):
    _, made, _ = runs
    runs_panel.select_runs([made["a1"].id, made["a2"].id, made["b1"].id])
    runs_panel.metric_combo.setCurrentText("loss")
    runs_panel.group_check.setChecked(True)
    assert set(runs_panel.group_curves) == {"cnn"} and set(runs_panel.bands) == {"cnn"}
    assert isinstance(runs_panel.bands["cnn"], pg.FillBetweenItem)
    assert set(runs_panel.curves) == {made["b1"].id}  # alone in its experiment: a plain curve
    x, mean = runs_panel.group_curves["cnn"].getData()
    assert list(x) == [1, 2, 3, 4, 5]
    assert mean[0] == pytest.approx(2.0 * math.exp(-0.4) + 0.1)  # (a1 + a2) / 2 at epoch 1
    assert mean[4] == pytest.approx(2.0 * math.exp(-2.0))  # only a1 reached epoch 5
    runs_panel.group_check.setChecked(False)
    assert not runs_panel.bands and len(runs_panel.curves) == 3


def test_open_model_emits_the_run(runs_panel, runs, qtbot):
    _, made, broken = runs
    runs_panel.select_runs([made["a1"].id])
    assert runs_panel.open_button.isEnabled()
    with qtbot.waitSignal(runs_panel.model_requested) as signal:
        qtbot.mouseClick(runs_panel.open_button, Qt.MouseButton.LeftButton)
    assert signal.args[0].id == made["a1"].id
    assert signal.args[0].history()["loss"]
    runs_panel.select_runs([broken.name])
    assert not runs_panel.open_button.isEnabled()


def test_delete_asks_then_removes_the_folder(runs_panel, runs, qtbot):
    store, made, broken = runs
    asked = []
    runs_panel.confirm_delete = lambda ids: asked.append(ids) or False
    runs_panel.select_runs([made["a2"].id])
    qtbot.mouseClick(runs_panel.delete_button, Qt.MouseButton.LeftButton)
    assert asked == [[made["a2"].id]] and made["a2"].path.exists()
    runs_panel.confirm_delete = lambda ids: True
    runs_panel.select_runs([made["a2"].id, broken.name])  # a corrupt folder can go too
    qtbot.mouseClick(runs_panel.delete_button, Qt.MouseButton.LeftButton)
    assert not made["a2"].path.exists() and not broken.exists()
    assert runs_panel.table.rowCount() == 2
    assert runs_panel.row_of(made["a2"].id) is None


def test_refresh_picks_up_new_runs_and_keeps_the_selection(runs_panel, runs, qtbot):
    store, made, _ = runs
    runs_panel.select_runs([made["a1"].id])
    extra = _make_run(store, "cnn", 2, "stopped", reason="stopped by the user")
    assert runs_panel.row_of(extra.id) is None
    qtbot.mouseClick(runs_panel.refresh_button, Qt.MouseButton.LeftButton)
    assert _status_of(runs_panel, extra.id).text() == "stopped"
    assert runs_panel.selected_ids() == [made["a1"].id]


def test_empty_or_missing_runs_folder_says_so(qtbot, tmp_path):
    panel = RunsPanel(tmp_path / "nothing-here")
    qtbot.addWidget(panel)
    assert panel.table.rowCount() == 0
    assert "No runs yet" in panel.message.text() and not panel.message.isHidden()
