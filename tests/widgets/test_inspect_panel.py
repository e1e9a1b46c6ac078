"""The Inspect panel: explanations, activations, kernels and activation maximization of a
trained model, all computed in the panel's worker."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QLabel

from widgets.inspect_panel import InspectPanel
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment
from workbench.runs import RunStore
from workbench.training import TrainingSession

TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from workbench.data import load_dataset

    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    experiment.training = {**experiment.training, "epochs": 3}
    dataset = load_dataset(experiment.data, None)
    store = RunStore(tmp_path_factory.mktemp("runs"))
    result = TrainingSession(experiment, dataset=dataset, store=store).run()
    assert result.status == "finished", result.reason
    return result, dataset


@pytest.fixture
def panel(qtbot, trained):
    widget = InspectPanel()
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    widget.show()
    result, dataset = trained
    widget.set_model(result.model, dataset, "test run")
    yield widget
    widget.shutdown()


def run(qtbot, panel, start) -> str:
    with qtbot.waitSignal(panel.task_finished, timeout=TIMEOUT_MS) as done:
        assert start()
    return done.args[0]


def test_a_sample_is_shown_with_its_top_predictions(panel):
    assert panel.image is not None and panel.image.shape == (8, 8, 1)
    assert "Top predictions" in panel.prediction.text()
    panel.sample_field.setValue(5)
    assert "validation sample 5" in panel.sample_caption.text()


def test_explain_shows_every_checked_method_and_the_picture_saves(qtbot, panel, tmp_path):
    for name, box in panel.method_boxes.items():
        box.setChecked(name in ("gradient", "guided_backprop", "grad_cam"))
    assert run(qtbot, panel, panel.explain) == "explain"
    shown = {label.objectName() for label in panel.findChildren(QLabel)
             if label.objectName().startswith("explanation_")}
    assert shown == {"explanation_gradient", "explanation_guided_backprop", "explanation_grad_cam"}
    picture = panel.pictures["explain"]
    assert picture.ndim == 3 and 0 <= picture.min() and picture.max() <= 1
    # Each 8x8 map scaled up to be seen, side by side, with room for its caption under it.
    assert picture.shape[0] > 192 and picture.shape[1] >= 3 * 192
    panel.tabs.setCurrentIndex(0)
    saved = panel.save_picture(tmp_path / "explain.png")
    assert saved is not None and saved.read_bytes()[:4] == b"\x89PNG"


def test_activations_kernels_and_maximize(qtbot, panel):
    assert run(qtbot, panel, panel.show_activations) == "activations"
    assert panel.activations_view.pixmap() is not None and not panel.activations_view.pixmap().isNull()
    assert run(qtbot, panel, panel.show_kernels) == "kernels"
    assert panel.pictures["kernels"].size > 0
    panel.max_steps_field.setValue(10)
    panel.max_count_field.setValue(4)
    assert run(qtbot, panel, panel.maximize) == "maximize"
    assert "Maximized 4 targets" in panel.status.text()


def test_opening_a_run_folder_loads_its_model_and_data(qtbot, panel, trained):
    result, _ = trained
    assert run(qtbot, panel, lambda: panel.open_path(result.run.path)) == "open"
    assert "best model" in panel.model_label.text()
    assert panel.dataset is not None and panel.image is not None


def test_bad_input_reads_well(qtbot, panel, tmp_path):
    assert run(qtbot, panel, lambda: panel.open_path(tmp_path / "missing.keras")) == "failed"
    assert "no such file" in panel.status.text()
    (tmp_path / "broken.png").write_bytes(b"not an image")
    assert not panel.open_image(tmp_path / "broken.png")
    assert panel.status.text()
    for box in panel.method_boxes.values():
        box.setChecked(False)
    assert not panel.explain()
    assert "at least one method" in panel.status.text()
    np.testing.assert_array_equal(panel.image.shape, (8, 8, 1))  # the sample is kept


def test_an_opened_image_is_prepared_like_the_training_data(panel, trained, tmp_path):
    from PIL import Image

    _, dataset = trained
    # A validation digit written as an 8-bit picture (digits pixels are 0-16, scaled to 0-1
    # for training): opened, it must reach the model as the sample itself did.
    sample = np.asarray(dataset.held_out()[0][3], np.float32)  # 0-1
    Image.fromarray(np.round(sample[..., 0] * 255).astype(np.uint8), "L").save(tmp_path / "d.png")
    assert panel.open_image(tmp_path / "d.png")
    assert panel.image.shape == (8, 8, 1)
    np.testing.assert_allclose(panel.image, sample, atol=1 / 255)
    assert "prepared like the model's training data" in panel.sample_caption.text()
    # A model file alone (no data known): the pixels are divided by 255.
    panel.set_model(panel.model, None, "model file")
    assert panel.open_image(tmp_path / "d.png")
    assert float(panel.image.max()) <= 1.0 and "divided by 255" in panel.sample_caption.text()


def test_a_model_without_convolutions_explains_with_saliency_alone(qtbot, panel, trained, keras):
    _, dataset = trained
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs))
    panel.set_model(keras.Model(inputs, outputs), dataset, "an MLP")
    assert not panel.method_boxes["grad_cam"].isEnabled()
    assert "convolution" in panel.method_boxes["grad_cam"].toolTip()
    assert panel.method_boxes["grad_cam"].isChecked()  # the choice is kept for the next model
    assert run(qtbot, panel, panel.explain) == "explain"  # gradient and SmoothGrad, no CAM
    assert [e.method for e in panel._explanations] == ["gradient", "smoothgrad"]
    for name, box in panel.method_boxes.items():
        box.setChecked(name == "grad_cam")
    assert not panel.explain()
    assert "need a convolution layer" in panel.status.text()
    # Its layers' activations are numbers, not maps: none is offered for the Activations tab.
    assert panel.activation_layer_field.count() == 1
    assert panel.activation_layer_field.currentData() is None
    assert not panel.show_activations() and "no layer with activation maps" in panel.status.text()


def test_the_open_button_offers_a_run_folder_or_a_model_file(qtbot, monkeypatch, tmp_path):
    from PySide6.QtWidgets import QFileDialog

    from widgets.model_task_panel import open_model_button

    opened = []
    button = open_model_button("Open run or model", "tip", opened.append)
    qtbot.addWidget(button)
    folder, model_file = button.menu().actions()
    assert folder.text() == "Run folder…" and model_file.text().startswith("Model file")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: ("m.keras", ""))
    folder.trigger()
    model_file.trigger()
    assert opened == [str(tmp_path), "m.keras"]
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: ("", ""))
    model_file.trigger()  # cancelled: nothing opened
    assert len(opened) == 2
