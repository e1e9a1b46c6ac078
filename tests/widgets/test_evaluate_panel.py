"""The Evaluate panel: confusion heat map equal to scikit-learn's, row normalization, cell and
error galleries, one-vs-rest curves, tile clicks, and clear messages for what it cannot score."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PySide6.QtCore import Qt
from sklearn.metrics import confusion_matrix

from widgets.evaluate_panel import EvaluatePanel
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment
from workbench.training import TrainingSession

TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def trained():
    """The default digits CNN trained briefly (a few errors to look at), and its data."""
    from workbench.data import load_dataset

    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    dataset = load_dataset(experiment.data, None)
    result = TrainingSession(experiment, dataset=dataset, epochs=2).run()
    assert result.status == "finished", result.reason
    return result.model, dataset


@pytest.fixture
def panel(qtbot, trained):
    widget = EvaluatePanel()
    qtbot.addWidget(widget)
    widget.resize(1280, 800)
    widget.show()
    model, dataset = trained
    widget.set_model(model, dataset, "test run")
    yield widget
    widget.shutdown()


@pytest.fixture
def evaluated(qtbot, panel):
    with qtbot.waitSignal(panel.task_finished, timeout=TIMEOUT_MS) as done:
        qtbot.mouseClick(panel.evaluate_button, Qt.MouseButton.LeftButton)
    assert done.args == ["evaluate"], panel.status.text()
    return panel


def table_values(table) -> np.ndarray:
    return np.array([[float(table.item(r, c).text() or 0) for c in range(table.columnCount())]
                     for r in range(table.rowCount())])


def test_evaluate_fills_the_confusion_matrix_per_class_table_and_status(evaluated, trained):
    model, dataset = trained
    predictions = model.predict(dataset.x_val, verbose=0).argmax(axis=1)
    expected = confusion_matrix(dataset.y_val, predictions, labels=range(10))
    table = evaluated.confusion_table
    np.testing.assert_array_equal(table_values(table), expected)
    assert [table.horizontalHeaderItem(c).text() for c in range(10)] == evaluated.evaluation.class_names
    status = evaluated.status.text()
    assert "Accuracy" in status and "macro F1" in status and "ROC AUC" in status and "validation" in status
    per_class = evaluated.per_class_table
    assert per_class.rowCount() == 10
    support = [int(per_class.item(r, 4).text()) for r in range(10)]
    assert support == list(np.bincount(dataset.y_val, minlength=10))
    recall = np.diag(expected) / expected.sum(axis=1)
    np.testing.assert_allclose([float(per_class.item(r, 2).text()) for r in range(10)], recall, atol=5e-4)

    evaluated.normalize_field.setChecked(True)
    rates = table_values(table)
    np.testing.assert_allclose(rates.sum(axis=1), 1.0, atol=0.06)  # two decimals per cell
    np.testing.assert_allclose(rates, expected / expected.sum(axis=1, keepdims=True), atol=0.005)


def test_clicking_a_cell_shows_its_samples_and_a_tile_click_requests_the_sample(qtbot, evaluated):
    ev = evaluated.evaluation
    table = evaluated.confusion_table
    row = int(np.argmax(np.diag(ev.confusion())))
    rect = table.visualRect(table.model().index(row, row))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    count = int(ev.confusion()[row, row])
    shown = evaluated.gallery_indices
    assert len(shown) == min(count, 64)
    assert all(ev.labels[i] == row and ev.predictions[i] == row for i in shown)
    assert f"{count} samples: true {ev.class_names[row]}, predicted {ev.class_names[row]}" in \
        evaluated.gallery_caption.text()
    assert not evaluated.gallery.pixmap().isNull()

    tile = min(2, len(shown) - 1)
    with qtbot.waitSignal(evaluated.sample_requested, timeout=1000) as requested:
        qtbot.mouseClick(evaluated.gallery, Qt.MouseButton.LeftButton,
                         pos=evaluated.gallery.tile_rect(tile).center())
    assert requested.args == [shown[tile]]


def test_curves_and_galleries(evaluated):
    ev = evaluated.evaluation
    assert len(evaluated.curves) == ev.num_classes == 10
    legend = [label.text for _, label in evaluated.legend.items]
    assert len(legend) == 10 and all("AUC" in text for text in legend)
    aucs = [c.auc for c in ev.roc_curves()]
    assert all(0 <= auc <= 1 for auc in aucs)
    evaluated.curve_kind_field.setCurrentIndex(evaluated.curve_kind_field.findData("pr"))
    assert len(evaluated.curves) == 10
    assert all("AP" in label.text for _, label in evaluated.legend.items)

    evaluated.count_field.setValue(12)
    evaluated.errors_button.click()
    errors = evaluated.gallery_indices
    assert 0 < len(errors) <= 12
    assert all(ev.predictions[i] != ev.labels[i] for i in errors)
    confidence = ev.confidence[errors]
    assert np.all(np.diff(confidence) <= 0)  # the most confident first
    evaluated.uncertain_button.click()
    assert len(evaluated.gallery_indices) == 12
    assert "uncertain" in evaluated.gallery_caption.text()


def test_what_cannot_be_scored_gives_a_clear_message(qtbot, panel, trained, keras):
    model, dataset = trained
    panel.set_model(model, None)
    assert "No labelled data" in panel.status.text()
    assert not panel.evaluate_button.isEnabled() and not panel.evaluate()

    inputs = keras.Input((8, 8, 1))
    regression = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(inputs)), name="regressor")
    panel.set_model(regression, dataset)
    assert "regressor gives 1 score per sample but the data have 10 classes" in panel.status.text()
    assert not panel.evaluate()

    panel.set_model(model, dataclasses.replace(dataset, x_val=None, y_val=None))
    assert f"{len(dataset.x_train)} training samples (the data have no validation split)" in \
        panel.status.text()
    assert panel.evaluate_button.isEnabled()

    panel.set_model(model, dataclasses.replace(dataset, task="regression"))
    assert "not classification" in panel.status.text()

    # Nothing tells the panel the class count: the engine's own refusal is shown.
    panel.set_model(regression, dataclasses.replace(dataset, num_classes=None))
    with qtbot.waitSignal(panel.task_finished, timeout=TIMEOUT_MS) as done:
        assert panel.evaluate()
    assert done.args == ["failed"]
    assert "outside the model's 2 classes" in panel.status.text()
    assert panel.evaluation is None and panel.confusion_table.rowCount() == 0
