"""The Style panel: pictures in (open or drop), live preview and loss curve, stop, save, and a
clear way out when VGG19's weights cannot be downloaded."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from widgets.style_panel import SAMPLES, StylePanel

TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def extractor_model():
    """A small untrained convolutional model: random features are enough to carry a style."""
    from workbench.backend import keras_module

    keras = keras_module()
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_a")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_b")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv_c")(x)
    outputs = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, outputs, name="tiny_cnn")


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty Keras cache and no network (name lookups fail at once)."""
    def no_lookup(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))


@pytest.fixture
def panel(qtbot, offline):
    widget = StylePanel()
    qtbot.addWidget(widget)
    widget.resize(1200, 700)
    widget.show()
    yield widget
    widget.shutdown()


def run(qtbot, panel, start) -> str:
    with qtbot.waitSignal(panel.task_finished, timeout=TIMEOUT_MS) as done:
        assert start()
    return done.args[0]


def drop(widget, path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    widget.dropEvent(event)


def picture_file(path, color) -> str:
    pixels = np.zeros((24, 40, 3), np.uint8)
    pixels[:] = color
    pixels[::4] = 255 - np.array(color, np.uint8)  # stripes: something for the style to carry
    Image.fromarray(pixels).save(path)
    return str(path)


def test_the_bundled_samples_are_ready_and_vgg19_is_the_default(panel):
    assert (SAMPLES / "content.png").exists()
    assert panel.pictures["content"].shape == (192, 256, 3)
    assert panel.pictures["style"].shape == (256, 256, 3)
    assert panel.extractor_field.currentData() == "vgg19"
    assert "downloads" in panel.extractor_field.currentText()  # the cache is empty here
    ticked = [panel.style_layers_field.item(i).text() for i in range(panel.style_layers_field.count())
              if panel.style_layers_field.item(i).checkState() == Qt.CheckState.Checked]
    assert ticked == ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"]
    assert panel.content_layer_field.currentText() == "block4_conv2"


def test_offline_vgg19_says_what_to_do_instead(qtbot, panel):
    panel.steps_field.setValue(2)
    assert run(qtbot, panel, panel.run_style) == "failed"
    message = panel.status.text()
    assert "no network" in message and "Open model or run" in message and "--" not in message
    assert panel.run_button.isEnabled()  # nothing stuck: the user can pick another extractor


def test_style_transfer_with_a_model_of_ones_own_previews_and_saves(qtbot, panel, extractor_model,
                                                                    tmp_path):
    panel.set_model(extractor_model, None, "tiny")
    assert panel.extractor_field.currentData() == "trained"  # VGG19 is not cached: the model is chosen
    assert panel.content_layer_field.currentText() == "conv_c"
    assert panel.style_layers_field.count() == 3
    drop(panel.content_well, picture_file(tmp_path / "content.png", (200, 60, 40)))
    drop(panel.style_well, picture_file(tmp_path / "style.png", (30, 90, 220)))
    assert panel.pictures["content"].shape == (24, 40, 3)
    panel.size_field.setValue(32)
    panel.steps_field.setValue(60)
    panel.weight_fields["style"].set_value(100)
    previews = []
    panel._runner.partials.connect(previews.append)
    assert run(qtbot, panel, panel.run_style) == "style"
    result = panel.result
    assert result.image.shape == (19, 32, 3) and np.isfinite(result.image).all()
    assert result.losses["style"][-1] <= 0.5 * result.losses["style"][0]
    assert previews and not panel.result_view.pixmap().isNull()
    xs, ys = panel._curves["style"].getData()
    assert len(xs) == 61 and ys[-1] < ys[0]
    assert "Done after 60 steps" in panel.status.text()
    saved = panel.save(tmp_path / "styled.png")
    assert Image.open(saved).size == (32, 19)


def test_stop_keeps_the_picture_so_far(qtbot, panel, extractor_model):
    panel.set_model(extractor_model, None, "tiny")
    panel.size_field.setValue(32)
    panel.steps_field.setValue(5000)
    with qtbot.waitSignal(panel.task_finished, timeout=TIMEOUT_MS):
        assert panel.run_style()
        qtbot.waitUntil(lambda: panel._curves["total"].getData()[0] is not None
                        and len(panel._curves["total"].getData()[0]) > 0, timeout=TIMEOUT_MS)
        assert panel.stop_button.isEnabled()
        panel.stop_button.click()
    assert panel.result.stopped and panel.result.steps < 5000
    assert "Stopped" in panel.status.text() and panel.save_button.isEnabled()


def test_a_model_file_dropped_on_the_panel_becomes_the_extractor(qtbot, panel, extractor_model, tmp_path):
    path = tmp_path / "tiny.keras"
    extractor_model.save(path)
    mime_drop = run(qtbot, panel, lambda: drop(panel, path) or True)
    assert mime_drop == "open"
    assert panel.extractor_field.currentText() == "tiny.keras"
    assert panel.content_layer_field.count() == 3


def test_bad_inputs_are_named_and_keep_what_was_there(panel, tmp_path):
    before = panel.pictures["content"]
    broken = tmp_path / "broken.png"
    broken.write_text("not a picture")
    assert not panel.open_picture("content", broken)
    assert "not a readable image" in panel.status.text()
    assert panel.pictures["content"] is before
    for i in range(panel.style_layers_field.count()):
        panel.style_layers_field.item(i).setCheckState(Qt.CheckState.Unchecked)
    assert not panel.run_style()
    assert "style layer" in panel.status.text()
    assert panel.save() is None and "Nothing to save" in panel.status.text()
