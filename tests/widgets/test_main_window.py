"""The main window opens on the default experiment and loads TensorFlow after showing."""

from __future__ import annotations

from widgets.main_window import MainWindow
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment


def test_window_shows_the_experiment_then_loads_the_backend(qtbot):
    window = MainWindow(Experiment.load(DEFAULT_EXPERIMENT))
    qtbot.addWidget(window)
    window.show()
    assert "digits-cnn" in window.windowTitle()
    assert window.statusBar().currentMessage() == "Loading TensorFlow…"
    with qtbot.waitSignal(window.loader.loaded, timeout=60_000):
        window.start_backend()
    assert window.statusBar().currentMessage().startswith("Ready: Keras 3")
    window.close()
