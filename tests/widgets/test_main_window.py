"""The main window as a user drives it: add, edit, undo, save, open, recover, import, export."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from widgets.main_window import MainWindow
from widgets.recovery import RecoveryStore
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment, bundled_templates


@pytest.fixture
def make_window(qtbot, tmp_path):
    def make(experiment=None, recovery_name="recovery.json"):
        settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
        settings.setValue("runsDir", str(tmp_path / "runs"))
        window = MainWindow(experiment or Experiment.load(DEFAULT_EXPERIMENT), settings,
                            RecoveryStore(tmp_path / recovery_name))
        qtbot.addWidget(window)
        window.resize(1280, 800)
        window.show()
        window.errors = []
        window.show_error = lambda title, message: window.errors.append(message)
        # Never block on a modal dialog, even when a test fails half-way.
        window.ask_save_changes = lambda: QMessageBox.StandardButton.Discard
        window.ask_stop_work = lambda tabs: True
        window.ask_allow_unsafe = lambda message: False
        return window

    return make


@pytest.fixture
def window(make_window, qtbot):
    window = make_window()
    with qtbot.waitSignal(window.loader.loaded, timeout=60_000):
        window.start_backend()
    return window


def close_without_prompt(window):
    window.document.undo_stack.setClean()
    window.close()


def test_opens_on_the_default_experiment_and_loads_tensorflow_after(make_window, qtbot):
    window = make_window()
    assert window.windowTitle().startswith("digits-cnn")
    assert window.statusBar().currentMessage() == "Loading TensorFlow…"
    assert window.document.report is None
    with qtbot.waitSignal(window.loader.loaded, timeout=60_000):
        window.start_backend()
    assert window.statusBar().currentMessage().startswith("Ready: Keras 3")
    assert window.document.report is not None and window.document.report.ok
    assert window.findChild(object, "modelCanvas") is window.canvas
    for name in ("layerPalette", "inspector", "modelSummary", "issuesList"):
        assert window.findChild(object, name) is not None, name
    close_without_prompt(window)


def test_add_from_palette_edit_and_undo_back_to_identical_json(window, qtbot):
    original = window.document.experiment.to_json()
    window.document.select(["pool_2"])
    window.palette.layer_requested.emit("Dense")
    graph = window.document.graph
    assert "dense" in graph.nodes and graph.in_edges("dense")[0].source == "pool_2"
    assert window.document.selection == ["dense"]
    assert window.isWindowModified()
    editor = window.inspector.findChild(object, "param_units")
    editor.setValue(7)
    editor.editingFinished.emit()
    assert graph.nodes["dense"].params["units"] == 7
    qtbot.waitUntil(lambda: "dense" in window.document.report.nodes
                    and window.document.report.nodes["dense"].output is not None)
    assert window.document.report.nodes["dense"].output.shape == (None, 7)
    while window.document.undo_stack.canUndo():
        window.undo_action.trigger()
    assert window.document.experiment.to_json() == original
    assert not window.isWindowModified()
    window.redo_action.trigger()
    assert "dense" in graph.nodes
    close_without_prompt(window)


def test_copy_paste_duplicate_delete_select_all(window):
    graph = window.document.graph
    count = len(graph)
    window.document.select(["conv_1", "pool_1"])
    window.copy()
    window.paste()
    assert len(graph) == count + 2 and {"conv_3", "pool_3"} <= set(graph.nodes)
    assert sorted(window.document.selection) == sorted(set(graph.nodes) - {
        "image", "conv_1", "pool_1", "conv_2", "pool_2", "dropout", "digit"})
    window.duplicate()
    assert len(graph) == count + 4
    window.select_all()
    assert len(window.document.selection) == count + 4
    window.document.select(["dropout"])
    window.delete_selection()
    assert "dropout" not in graph
    window.document.undo_stack.undo()
    assert "dropout" in graph and graph.in_edges("digit")[0].source == "dropout"
    close_without_prompt(window)


def test_save_and_open_round_trip(window, tmp_path):
    window.palette.layer_requested.emit("Dropout")
    path = tmp_path / "mine.json"
    assert window._save_to(path)
    assert not window.isWindowModified() and "mine.json" in window.windowTitle()
    saved = path.read_text()
    assert window.open_path(DEFAULT_EXPERIMENT)
    assert window.open_path(path)
    assert window.document.experiment.to_json() == saved
    assert str(path.resolve()) in window.recent_files()
    close_without_prompt(window)


def test_opening_a_corrupt_file_keeps_the_current_document(window, tmp_path):
    window.palette.layer_requested.emit("Dense")
    before = window.document.experiment.to_json()
    document = window.document
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "keras-workbench/experiment", "version": 1, "model": {"nodes": 3}}')
    window.ask_save_changes = lambda: QMessageBox.StandardButton.Discard
    assert not window.open_path(bad)
    assert window.document is document and document.experiment.to_json() == before
    assert window.errors and "bad.json" in window.errors[-1] and "model.nodes" in window.errors[-1]
    close_without_prompt(window)


def test_recovery_after_a_crash(make_window, qtbot, tmp_path):
    first = make_window()
    first.palette.layer_requested.emit("Dense")
    first.autosave()
    expected = first.document.experiment.to_json()
    assert (tmp_path / "recovery.json").exists()
    # a crash: the window is gone without closeEvent; the recovery file stays
    first.document.undo_stack.setClean()
    first.hide()
    store = RecoveryStore(tmp_path / "recovery.json")
    recovered = store.read()
    assert recovered is not None
    second = make_window(recovery_name="other.json")
    second.restore_recovered(recovered)
    assert second.document.experiment.to_json() == expected
    assert second.isWindowModified() and second.document.dirty
    close_without_prompt(second)
    first.recovery.clear()


def test_close_prompts_when_there_are_unsaved_changes(window):
    window.palette.layer_requested.emit("Dense")
    answers = []
    window.ask_save_changes = lambda: answers.append(1) or QMessageBox.StandardButton.Cancel
    assert not window.close() and window.isVisible() and answers
    window.ask_save_changes = lambda: QMessageBox.StandardButton.Discard
    assert window.close()


def test_closing_while_training_asks_and_keeps_the_run_stopped(window, qtbot):
    window.document.experiment.training["epochs"] = 500
    assert window.train_panel.start_training()
    qtbot.waitUntil(lambda: window.train_panel.batch_count > 0, timeout=60_000)
    asked = []
    window.ask_stop_work = lambda tabs: asked.append(tabs) or False
    assert not window.close() and window.isVisible() and window.train_panel.running
    assert asked == [["Train"]]
    window.ask_stop_work = lambda tabs: True
    assert window.close()  # returns once the run has stopped
    from workbench.runs import RunStore

    (info,) = RunStore(window.train_panel.runs_dir).runs()
    assert info.status == "stopped"


def test_import_a_keras_model_and_export_it_again(window, keras, tmp_path):
    template = Experiment.load(bundled_templates()["resnet"])
    from workbench.graph.convert import to_keras

    model = to_keras(template.graph)
    source = tmp_path / "trained.keras"
    model.save(source)
    assert window.open_path(source)
    assert window.document.path is None and len(window.document.graph) == len(model.layers)
    assert window.document.weights
    target = tmp_path / "again.keras"
    assert window.export_model(target)
    again = keras.saving.load_model(target, compile=False)
    x = np.random.default_rng(0).random((2, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), again.predict(x, verbose=0),
                               atol=1e-5)
    close_without_prompt(window)


def test_a_lambda_model_asks_before_loading(window, keras, tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    path = tmp_path / "lambda.keras"
    model.save(path)
    asked = []
    window.ask_allow_unsafe = lambda message: asked.append(message) or False
    assert not window.open_path(path)
    assert asked and "Lambda" in asked[0] and window.document.title == "digits-cnn"
    close_without_prompt(window)


def test_window_state_is_remembered(make_window, tmp_path):
    first = make_window()
    first.docks["issues"].hide()
    close_without_prompt(first)
    second = make_window()
    assert not second.docks["issues"].isVisible()
    close_without_prompt(second)


def test_undo_keeps_working_after_switching_documents(window, qtbot):
    from PySide6.QtCore import QCoreApplication, QEvent

    window.new_document()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # the old stack is gone
    window.palette.layer_requested.emit("Dense")
    assert window.undo_action.isEnabled()
    window.undo_action.trigger()
    assert "dense" not in window.document.graph.nodes
    assert window.redo_action.isEnabled()
    window.open_path(bundled_templates()["mlp"])
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert not window.undo_action.isEnabled()
    window.palette.layer_requested.emit("Dropout")
    assert window.undo_action.isEnabled()
    close_without_prompt(window)


def test_adding_after_a_layer_inserts_into_its_chain(window):
    graph = window.document.graph
    window.document.select(["conv_2"])
    window.palette.layer_requested.emit("BatchNormalization")
    assert graph.in_edges("batch_normalization")[0].source == "conv_2"
    assert graph.in_edges("pool_2")[0].source == "batch_normalization"
    positions = [n.pos for n in graph.nodes.values()]
    assert len(set(positions)) == len(positions)  # nothing placed on top of another
    window.undo_action.trigger()  # one step takes the whole insertion back
    assert graph.in_edges("pool_2")[0].source == "conv_2" and "batch_normalization" not in graph
    close_without_prompt(window)


def test_bundled_experiments_open_as_templates(window):
    assert window.open_path(bundled_templates()["lenet5"])
    assert window.document.path is None  # Save asks where: the bundled file is never overwritten
    close_without_prompt(window)


def test_ctrl_z_in_a_committed_field_undoes_the_model(window, qtbot):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QLineEdit

    window.palette.layer_requested.emit("Dense")
    assert "dense" in window.document.graph.nodes
    field = QLineEdit(window)  # a field with nothing of its own to undo
    field.show()
    field.setFocus()
    qtbot.waitUntil(field.hasFocus)
    qtbot.keyClick(field, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert "dense" not in window.document.graph.nodes
    field.setText("typed")
    field.insert("!")  # now the field has its own edit to undo, and keeps Ctrl+Z
    qtbot.keyClick(field, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert field.text() == "typed" and "dense" not in window.document.graph.nodes
    close_without_prompt(window)


def test_open_model_in_the_runs_tab_feeds_inspect_and_embeddings(qtbot, window):
    from workbench.runs import RunStore
    from workbench.training import TrainingSession

    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    result = TrainingSession(experiment, store=RunStore(window.runs_dir), epochs=1).run()
    assert result.status == "finished", result.reason
    with qtbot.waitSignal(window.inspect_panel.task_finished, timeout=60_000) as done:
        window.runs_panel.model_requested.emit(result.run)
    assert done.args[0] == "open"
    assert window.tabs.currentWidget().widget() is window.inspect_panel
    assert result.run.id in window.inspect_panel.model_label.text()
    assert window.embed_panel.model is window.inspect_panel.model
    assert window.embed_panel.dataset is not None
    window.embed_panel.sample_requested.emit(4)  # a point clicked in the scatter
    assert window.inspect_panel.sample_field.value() == 4
    close_without_prompt(window)


def test_a_lesson_member_opens_in_the_editor_as_a_template(window):
    from workbench.presets import find_preset

    member = find_preset("capacity").members[0]
    window.lessons_panel.open_requested.emit(member.path)
    assert window.document.experiment.name == member.name
    assert window.document.experiment.path is None  # Save asks where: the bundled file stays
    assert window.tabs.currentIndex() == 0
    close_without_prompt(window)


def test_the_demo_trains_then_attacks_with_the_runs_own_data(qtbot, window):
    """What ``main.py --screenshot --panel attack --demo`` does; the Data tab never loads its
    data here, so the panels must get the data the run trained on."""
    from widgets.demo import run_demo

    window.document.experiment.training["epochs"] = 2
    done = []
    assert window.data_panel.dataset is None
    run_demo(window, "attack", lambda: done.append(True))
    qtbot.waitUntil(lambda: bool(done), timeout=180_000)
    assert window.inspect_panel.dataset is not None and window.attack_panel.dataset is not None
    assert window.attack_panel.result is not None  # a validation sample was attacked
    assert window.attack_panel.sweep is not None  # after the robustness sweep
    assert "run" in window.attack_panel.model_label.text()
    close_without_prompt(window)


@pytest.mark.parametrize("fmt, name", [("keras", "m.keras"), ("tflite", "m.tflite")])
def test_the_export_dialog_writes_and_verifies(qtbot, window, tmp_path, fmt, name):
    dialog = window.export_dialog()
    dialog.format_field.setCurrentIndex(dialog.format_field.findData(fmt))
    dialog.path_field.setText(str(tmp_path / name))
    with qtbot.waitSignal(dialog.exported, timeout=120_000) as done:
        dialog.export_button.click()
    result = done.args[0]
    assert result is not None and (tmp_path / name).exists()
    assert result.verification.ok
    assert "matches" in dialog.report.text() and "no trained weights" in dialog.report.text()
    dialog.path_field.setText(str(tmp_path / "missing" / name))
    with qtbot.waitSignal(dialog.exported, timeout=120_000) as done:
        dialog.export_button.click()
    assert done.args[0] is None and "Not exported" in dialog.report.text()
    dialog.reject()
    close_without_prompt(window)


def test_every_activity_fits_a_1280x800_window_without_scrolling(window, qtbot):
    from PySide6.QtWidgets import QScrollArea

    checked = []
    for name, index in window._activity_tabs.items():
        window.tabs.setCurrentIndex(index)
        scroller = window.tabs.widget(index)
        if not isinstance(scroller, QScrollArea):
            continue  # the Model canvas pans and zooms instead
        qtbot.waitUntil(scroller.widget().isVisible, timeout=5000)
        qtbot.wait(20)  # the layout settles
        panel, viewport = scroller.widget().size(), scroller.viewport().size()
        assert panel.height() <= viewport.height() and panel.width() <= viewport.width(), (
            name, panel, viewport)
        checked.append(name)
    assert {"data", "train", "style", "lessons"} <= set(checked)
    close_without_prompt(window)


def test_without_the_gui_extra_the_app_says_what_to_install(monkeypatch, capsys):
    import importlib.util

    from widgets import app

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "pyqtgraph" else real(name, *args))
    assert app.main([]) == 1
    message = capsys.readouterr().err
    assert "pyqtgraph" in message and "PySide6" not in message
    assert 'pip install "keras-workbench[gui]"' in message and "workbench command" in message


def test_exporting_a_trained_model_keeps_its_experiment_and_data(qtbot, window, tmp_path, keras):
    """A model trained in the window (or opened from a run) exports with the experiment it
    trained from: int8 calibrates on its data, the check compares on them, and the Python
    file has its data and training code."""
    from workbench.data import load_dataset
    from workbench.runs import RunStore
    from workbench.training import TrainingSession

    experiment = Experiment.from_dict(window.document.experiment.to_dict())
    experiment.training = {**experiment.training, "epochs": 1}
    dataset = load_dataset(experiment.data, None)
    result = TrainingSession(experiment, dataset=dataset, store=RunStore(tmp_path / "runs")).run()
    window._on_train_panel_run_finished(result)
    assert window.inspect_panel.experiment is not None
    dialog = window.export_dialog()
    assert dialog.source_field.currentText().startswith("Trained: run ")
    dialog.format_field.setCurrentIndex(dialog.format_field.findData("python"))
    dialog.path_field.setText(str(tmp_path / "train.py"))
    with qtbot.waitSignal(dialog.exported, timeout=120_000) as done:
        dialog.export_button.click()
    assert done.args[0] is not None, dialog.report.text()
    script = (tmp_path / "train.py").read_text()
    assert "load_digits" in script and "TODO" not in script
    dialog.format_field.setCurrentIndex(dialog.format_field.findData("tflite"))
    dialog.quantize_field.setCurrentText("int8")
    dialog.path_field.setText(str(tmp_path / "m.tflite"))
    with qtbot.waitSignal(dialog.exported, timeout=120_000) as done:
        dialog.export_button.click()
    assert done.args[0] is not None, dialog.report.text()
    assert "random" not in dialog.report.text()
    dialog.reject()
    close_without_prompt(window)
