"""The Train panel: settings as undoable edits, and real training runs driven by its buttons."""

from __future__ import annotations

import gc
import math
import threading
import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
)

from widgets.commands import SetParamCommand
from widgets.tasks import GuiThreadGarbage
from widgets.train_panel import (
    SLOW_PLOT_INTERVAL_S,
    GrowingArray,
    Smoother,
    TrainPanel,
    format_duration,
    parse_number,
)

RUN_TIMEOUT_MS = 120_000


@pytest.fixture
def panel(qtbot, document, tmp_path):
    panel = TrainPanel(document, tmp_path / "runs")
    qtbot.addWidget(panel)
    panel.resize(1000, 600)
    panel.show()
    qtbot.waitExposed(panel)
    yield panel
    panel.shutdown()  # a failed test must not leave a training thread behind


def child(panel: TrainPanel, kind: type, name: str):
    found = panel.findChild(kind, name)
    assert found is not None, f"no {kind.__name__} named {name}"
    return found


def type_into(qtbot, widget, text: str) -> None:
    """Replace a field's text as a user would and press Return."""
    line = widget.lineEdit() if hasattr(widget, "lineEdit") else widget
    line.selectAll()
    qtbot.keyClick(widget, Qt.Key.Key_Backspace)
    qtbot.keyClicks(widget, text)
    qtbot.keyClick(widget, Qt.Key.Key_Return)


def choose(combo: QComboBox, data: str) -> None:
    """Pick an entry as a user would (``activated`` is what a click on an entry emits)."""
    index = combo.findData(data)
    assert index >= 0, f"{data} is not offered"
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def message(panel: TrainPanel, key: str) -> QLabel:
    return child(panel, QLabel, f"{key}Message")


def set_run_length(qtbot, panel: TrainPanel, epochs: int, batch_size: int = 64) -> None:
    type_into(qtbot, child(panel, QSpinBox, "epochs"), str(epochs))
    type_into(qtbot, child(panel, QSpinBox, "batch_size"), str(batch_size))


def train(qtbot, panel: TrainPanel, epochs: int):
    """Set epochs and batch size through the panel, click Train and wait for the run to end."""
    set_run_length(qtbot, panel, epochs)
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(child(panel, QPushButton, "trainButton"), Qt.MouseButton.LeftButton)
    return finished.args[0]


def points(curve) -> int:
    x, _ = curve.getOriginalDataset()
    return 0 if x is None else len(x)


def epoch_points(panel: TrainPanel) -> int:
    curve = panel.epoch_curves.get("loss")  # created when the first epoch arrives
    return 0 if curve is None else points(curve)


# ------------------------------------------------------------------- settings
def test_editing_the_learning_rate_is_one_undo_step(qtbot, panel, document):
    field = child(panel, QLineEdit, "learning_rate")
    before = document.experiment.training["optimizer"]["learning_rate"]
    assert field.text() == f"{before:g}"
    type_into(qtbot, field, "3e-4")
    assert document.experiment.training["optimizer"] == {"name": "adam", "learning_rate": 0.0003}
    assert document.undo_stack.count() == 1
    assert field.text() == "0.0003"
    document.undo_stack.undo()
    assert document.experiment.training["optimizer"]["learning_rate"] == before
    assert field.text() == f"{before:g}"


@pytest.mark.parametrize(("name", "kind", "text", "says"), [
    ("learning_rate", QLineEdit, "-1", "> 0"),
    ("learning_rate", QLineEdit, "fast", "must be a number"),
    ("epochs", QSpinBox, "0", "whole number >= 1"),
    ("batch_size", QSpinBox, "0", "whole number >= 1"),
    ("momentum", QLineEdit, "1.5", "<= 1"),
])
def test_an_invalid_value_shows_a_message_and_pushes_nothing(qtbot, panel, document, name, kind,
                                                              text, says):
    if name == "momentum":
        choose(child(panel, QComboBox, "optimizer"), "sgd")
        document.undo_stack.clear()
    before = document.experiment.to_dict()
    assert message(panel, name).isHidden()
    type_into(qtbot, child(panel, kind, name), text)
    assert document.undo_stack.count() == 0
    assert document.experiment.to_dict() == before
    assert not message(panel, name).isHidden()
    assert says in message(panel, name).text()


def test_an_unknown_loss_is_refused_with_the_known_ones(qtbot, panel, document):
    type_into(qtbot, child(panel, QComboBox, "loss"), "cross_entropy_please")
    assert document.undo_stack.count() == 0
    assert "unknown loss" in message(panel, "loss").text().lower()
    type_into(qtbot, child(panel, QLineEdit, "metrics"), "accuracy, auc")
    assert document.experiment.training["metrics"] == ["accuracy", "auc"]


def test_train_is_refused_while_a_field_shows_a_refused_value(qtbot, panel, document, tmp_path):
    type_into(qtbot, child(panel, QComboBox, "loss"), "crossentropy")
    assert not message(panel, "loss").isHidden()  # the document keeps the last good loss
    assert not panel.start_training()
    status = child(panel, QLabel, "trainStatus").text()
    assert status.startswith("Cannot train: the loss field shows a value that was not taken")
    assert not panel.running and not (tmp_path / "runs").exists()


def test_the_optimizer_shows_its_own_options_and_keeps_the_rate(qtbot, panel, document):
    combo = child(panel, QComboBox, "optimizer")
    assert [combo.itemText(i) for i in range(combo.count())] == [
        "SGD", "RMSprop", "Adagrad", "Adadelta", "Adam", "AdamW"]
    momentum, nesterov = child(panel, QLineEdit, "momentum"), child(panel, QCheckBox, "nesterov")
    decay = child(panel, QLineEdit, "weight_decay")
    assert not momentum.isVisible() and not decay.isVisible()
    choose(combo, "sgd")
    assert momentum.isVisible() and nesterov.isVisible() and not decay.isVisible()
    type_into(qtbot, momentum, "0.9")
    qtbot.mouseClick(nesterov, Qt.MouseButton.LeftButton)
    rate = document.experiment.training["optimizer"]["learning_rate"]
    assert document.experiment.training["optimizer"] == {
        "name": "sgd", "learning_rate": rate, "momentum": 0.9, "nesterov": True}
    choose(combo, "adamw")  # momentum is not an AdamW option: dropped, not refused
    assert document.experiment.training["optimizer"] == {"name": "adamw", "learning_rate": rate}
    assert decay.isVisible() and not momentum.isVisible()
    assert document.undo_stack.count() == 4
    document.undo_stack.undo()
    assert combo.currentData() == "sgd" and momentum.text() == "0.9" and nesterov.isChecked()


def test_callbacks_and_run_settings_are_plain_section_edits(qtbot, panel, document):
    qtbot.mouseClick(child(panel, QCheckBox, "early_stopping"), Qt.MouseButton.LeftButton)
    type_into(qtbot, child(panel, QSpinBox, "early_stopping_patience"), "2")
    qtbot.mouseClick(child(panel, QCheckBox, "reduce_lr"), Qt.MouseButton.LeftButton)
    qtbot.mouseClick(child(panel, QCheckBox, "checkpoint_best"), Qt.MouseButton.LeftButton)
    type_into(qtbot, child(panel, QLineEdit, "clipnorm"), "1")
    qtbot.keyClick(child(panel, QSpinBox, "seed"), Qt.Key.Key_Down)  # 0 -> "random"
    training = document.experiment.training
    assert training["early_stopping"] == {"patience": 2}
    assert training["reduce_lr"] == {"factor": 0.5, "patience": 3}
    assert training["checkpoint_best"] is False
    assert training["optimizer"]["clipnorm"] == 1.0
    assert training["seed"] is None and child(panel, QSpinBox, "seed").text() == "random"
    device = child(panel, QComboBox, "device")
    assert device.itemData(0) == "auto" and device.findData("cpu") >= 0
    while document.undo_stack.canUndo():
        document.undo_stack.undo()
    assert not child(panel, QCheckBox, "early_stopping").isChecked()
    assert child(panel, QSpinBox, "seed").value() == 0
    assert child(panel, QLineEdit, "clipnorm").text() == ""


def test_distribution_is_an_undoable_choice_with_the_batch_scaling_shown(panel, document, monkeypatch):
    combo = child(panel, QComboBox, "distribution")
    note = child(panel, QLabel, "distributionNote")
    assert combo.currentData() == "none" and note.isHidden()
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1", "b:1"]}, '
                                    '"task": {"type": "worker", "index": 0}}')
    choose(combo, "multi-worker")
    assert document.experiment.training["distribution"] == "multi-worker"
    batch = document.experiment.training["batch_size"]
    assert "2 worker(s)" in note.text() and f"global batch {batch}" in note.text()
    monkeypatch.delenv("TF_CONFIG")
    choose(combo, "mirrored")
    assert document.experiment.training["distribution"] == "mirrored"
    assert "replica" in note.text() or "GPU" in note.text()
    choose(child(panel, QComboBox, "device"), "cpu")  # a distributed run picks its own devices
    assert document.experiment.training.get("device", "auto") == "auto"
    assert not message(panel, "device").isHidden()
    document.undo_stack.undo()
    document.undo_stack.undo()
    assert "distribution" not in document.experiment.training and combo.currentData() == "none"
    assert note.isHidden()


def test_training_is_refused_while_the_model_has_an_error(qtbot, panel, document, tmp_path):
    document.push(SetParamCommand(document.graph, "pool_1", "pool_size", [16, 16]))
    document.validate_now()
    assert not document.report.ok
    finished = []
    panel.run_finished.connect(finished.append)
    qtbot.mouseClick(child(panel, QPushButton, "trainButton"), Qt.MouseButton.LeftButton)
    status = child(panel, QLabel, "trainStatus").text()
    assert status.startswith("Cannot train") and "pool_1" in status
    assert not panel.running and not finished and not (tmp_path / "runs").exists()


# ---------------------------------------------------------------- real runs
def test_a_real_run_learns_digits_and_draws_every_batch(qtbot, panel, document):
    train_button = child(panel, QPushButton, "trainButton")
    stop_button = child(panel, QPushButton, "stopButton")
    assert train_button.isEnabled() and not stop_button.isEnabled()
    # At Adam's 1e-3 the CNN needs ~26 epochs to pass 90% on digits; at the default
    # experiment's 1e-2 it gets there in 15 (seeded, ~94%).
    type_into(qtbot, child(panel, QLineEdit, "learning_rate"), "0.01")
    expected = {**document.experiment.training, "epochs": 15, "batch_size": 64}
    epoch_draws = []
    draw_epochs = panel._draw_epochs
    panel._draw_epochs = lambda: (epoch_draws.append(1), draw_epochs())
    started = time.monotonic()
    result = train(qtbot, panel, 15)
    # Epochs far shorter than a second: the epoch plot is redrawn about once a second, not
    # after each of them (the first and the last drawn at once).
    assert len(epoch_draws) <= (time.monotonic() - started) / SLOW_PLOT_INTERVAL_S + 2
    assert result.status == "finished", result.reason
    assert result.history["val_accuracy"][-1] > 0.9
    batches = result.run.batches()["step"]
    assert points(panel.raw_loss_curve) == points(panel.smooth_loss_curve) == len(batches) == 15 * 23
    x, smooth = panel.smooth_loss_curve.getOriginalDataset()
    assert list(x[:3]) == [1, 2, 3] and smooth[-1] < smooth[0]
    assert points(panel.lr_curve) == len(batches)
    assert sorted(panel.epoch_curves) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(points(curve) == 15 for curve in panel.epoch_curves.values())
    _, accuracy = panel.epoch_curves["val_accuracy"].getOriginalDataset()
    assert accuracy[-1] == pytest.approx(result.history["val_accuracy"][-1])
    # The views, which follow the data without refitting every frame, show all of them.
    low, high = panel.loss_plot.getPlotItem().vb.viewRange()[1]
    assert low <= min(result.run.batches()["loss"]) and max(result.run.batches()["loss"]) <= high
    low, high = panel._metric_view.viewRange()[1]
    assert low <= min(accuracy) and max(accuracy) <= high
    assert result.run.path.is_dir() and len(result.run.history()["loss"]) == 15
    assert result.run.info().status == "finished"
    log = child(panel, QPlainTextEdit, "trainLog").toPlainText()
    assert "epoch 15/15" in log and str(result.run.path) in log
    assert child(panel, QLabel, "trainStatus").text().startswith("Finished: 15 epochs")
    assert train_button.isEnabled() and not stop_button.isEnabled()
    assert document.experiment.training == expected  # training changed nothing


def test_stop_after_the_first_epoch_keeps_a_stopped_run(qtbot, panel):
    set_run_length(qtbot, panel, 100)
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(child(panel, QPushButton, "trainButton"), Qt.MouseButton.LeftButton)
        assert not child(panel, QPushButton, "trainButton").isEnabled()
        qtbot.waitUntil(lambda: epoch_points(panel) >= 1, timeout=RUN_TIMEOUT_MS)
        qtbot.mouseClick(child(panel, QPushButton, "stopButton"), Qt.MouseButton.LeftButton)
    result = finished.args[0]
    assert result.status == "stopped" and result.reason.startswith("stopped by the user")
    assert result.model is not None and len(result.history["loss"]) < 100
    # Only whole epochs count, wherever the stop landed: curves, history and run agree.
    assert epoch_points(panel) == len(result.history["loss"]) == result.run.info().epochs
    assert result.run.info().status == "stopped"
    status = child(panel, QLabel, "trainStatus").text()
    assert status.startswith("Stopped by the user") and "stopped by" not in status
    log = child(panel, QPlainTextEdit, "trainLog").toPlainText()
    assert result.reason in log and "stopped: stopped" not in log


def test_a_one_epoch_run_says_epoch(qtbot, panel):
    result = train(qtbot, panel, 1)
    assert result.status == "finished", result.reason
    assert child(panel, QProgressBar, "trainProgress").format().startswith("finished · 1 epoch · ")
    assert child(panel, QLabel, "trainStatus").text().startswith("Finished: 1 epoch in ")


def test_the_training_garbage_is_collected_on_the_gui_thread_as_reports_come(qtbot, panel,
                                                                             monkeypatch):
    # Left to itself the collector may run in the worker and destroy Qt objects there.
    asked = []  # at each collection: whether automatic collection was on, and where
    collect = GuiThreadGarbage.collect_young
    monkeypatch.setattr(GuiThreadGarbage, "collect_young", staticmethod(
        lambda: (asked.append((gc.isenabled(), threading.current_thread())), collect())))
    assert gc.isenabled()
    result = train(qtbot, panel, 2)
    assert result.status == "finished", result.reason
    assert asked and all(not automatic and thread is threading.main_thread()
                         for automatic, thread in asked)
    assert gc.isenabled()  # the run has ended: automatic collection is back


def test_a_mismatch_with_the_data_panels_data_is_refused_before_a_run(qtbot, panel, tmp_path):
    from workbench.data import load_dataset

    panel.set_dataset(load_dataset({"source": "shapes", "samples": 64}))
    qtbot.mouseClick(child(panel, QPushButton, "trainButton"), Qt.MouseButton.LeftButton)
    assert child(panel, QLabel, "trainStatus").text() == (
        "Cannot train: the data's samples are 32x32x3 but the model's Input 'image' expects "
        "8x8x1: change the Input's shape on the canvas (or pick other data)")
    assert not panel.running and not (tmp_path / "runs").exists()


def test_a_metric_the_labels_cannot_feed_is_refused_with_advice(qtbot, panel, document, tmp_path):
    type_into(qtbot, child(panel, QLineEdit, "metrics"), "accuracy, auc")
    assert document.experiment.training["metrics"] == ["accuracy", "auc"]
    # Without the Data panel's data the session loads them and refuses before a run folder.
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(child(panel, QPushButton, "trainButton"), Qt.MouseButton.LeftButton)
    result = finished.args[0]
    assert result.status == "failed" and result.run is None
    status = child(panel, QLabel, "trainStatus").text()
    assert status.startswith("Failed: auc needs one-hot labels and one output per class: tick "
                             "One-hot labels in the Data panel")
    assert not any((tmp_path / "runs").glob("*/run.json"))
    # With them (loaded by the Data panel) it is refused at once, without starting.
    panel.set_dataset(result.dataset)
    qtbot.mouseClick(child(panel, QPushButton, "trainButton"), Qt.MouseButton.LeftButton)
    assert not panel.running
    assert child(panel, QLabel, "trainStatus").text().startswith("Cannot train: auc needs one-hot")


def test_a_huge_learning_rate_fails_with_advice_in_the_log(qtbot, panel):
    choose(child(panel, QComboBox, "optimizer"), "sgd")
    type_into(qtbot, child(panel, QLineEdit, "learning_rate"), "1e6")
    result = train(qtbot, panel, 3)
    assert result.status == "failed"
    log = child(panel, QPlainTextEdit, "trainLog").toPlainText()
    assert "failed:" in log and "learning rate" in log and str(result.run.path) in log
    status = child(panel, QLabel, "trainStatus")
    assert status.text().startswith("Failed") and "learning rate" in status.text()
    assert result.run.info().status == "failed"


def test_pause_holds_training_and_resume_continues(qtbot, panel):
    pause = child(panel, QPushButton, "pauseButton")
    set_run_length(qtbot, panel, 100)
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(child(panel, QPushButton, "trainButton"), Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: panel.batch_count >= 5, timeout=RUN_TIMEOUT_MS)
        qtbot.mouseClick(pause, Qt.MouseButton.LeftButton)
        assert pause.text() == "Resume" and panel.state == "paused"
        held = -1
        for _ in range(20):  # the batch in flight lands and its report is delivered
            qtbot.wait(300)
            if panel.batch_count == held:
                break
            held = panel.batch_count
        qtbot.wait(500)
        assert panel.batch_count == held
        assert "paused" in child(panel, QLabel, "trainStatus").text().lower()
        qtbot.mouseClick(pause, Qt.MouseButton.LeftButton)
        assert pause.text() == "Pause" and panel.state == "running"
        qtbot.waitUntil(lambda: panel.batch_count > held + 5, timeout=RUN_TIMEOUT_MS)
        qtbot.mouseClick(child(panel, QPushButton, "stopButton"), Qt.MouseButton.LeftButton)
    assert finished.args[0].status == "stopped"
    assert not pause.isEnabled()


# ------------------------------------------------------------------ helpers
def test_the_progress_bar_takes_every_report_at_a_slow_pace(panel, monkeypatch):
    """Reports come once per plot interval, each a hair early: none of them is skipped (the
    bar fell two intervals behind the log)."""
    from types import SimpleNamespace

    import widgets.train_panel as train_panel

    clock = {"now": 100.0}
    monkeypatch.setattr(train_panel, "time", SimpleNamespace(monotonic=lambda: clock["now"]))
    panel._state, panel._epochs_planned = "running", 10
    panel._steps.extend([1])
    panel._pace(2.0)
    for report in range(1, 6):
        panel._on_runner_stepped(100 * report + 50, 1000, f"epoch {report}")
        assert panel.progress_bar.value() == 100 * report + 50
        # The text says this report's epoch (100 steps each), not the last batch report's.
        assert panel.progress_bar.format().startswith(f"epoch {report + 1}/10")
        clock["now"] += 1.99


def test_at_a_slow_pace_each_delivery_is_drawn_as_it_comes(panel, monkeypatch):
    """Reports delivered every 2 s: the batch curves show each delivery at once (a pacer of
    the same period drew each up to an interval late), the per-epoch curves every other one."""
    panel._state, panel._epochs_planned = "running", 10
    monkeypatch.setattr(panel._budget, "interval", lambda: 2.0)

    def deliver(epoch: int) -> None:
        batches = [{"kind": "batch", "step": 10 * epoch + b + 1, "epoch": epoch, "batch": b,
                    "logs": {"loss": 1.0 / (epoch + 1)}, "lr": 0.01} for b in range(10)]
        end = {"kind": "epoch", "epoch": epoch, "logs": {"loss": 1.0, "val_loss": 1.1}, "lr": 0.01,
               "seconds": 0.1}
        panel._on_runner_partials(batches + [end])
        panel._draws.flush()

    drawn = []
    for epoch in range(4):  # one delivery after another, well inside 2 s
        deliver(epoch)
        drawn.append((points(panel.raw_loss_curve), epoch_points(panel)))
    assert drawn == [(10, 0), (20, 2), (30, 2), (40, 4)]


def test_growing_arrays_and_the_smoother():
    values = GrowingArray(capacity=2)
    for start in range(0, 100, 7):
        values.extend(range(start, min(start + 7, 100)))
    assert list(values.view) == list(range(100))
    smoother = Smoother(0.98)
    first = smoother.add([2.0, math.nan, 2.0])
    assert list(first) == pytest.approx([2.0, 2.0, 2.0])  # debiased: no ramp up from zero
    assert smoother.add([1.0])[0] < 2.0


def test_numbers_and_durations_read_as_people_write_them():
    assert parse_number("1e-3", "the learning rate") == 0.001
    with pytest.raises(ValueError, match="must be > 0"):
        parse_number("0", "the learning rate", above=0)
    assert format_duration(12) == "0m12s" and format_duration(3725) == "1h02m"


def test_shutdown_without_a_run_is_harmless(panel):
    panel.shutdown()
    assert not panel.running and panel.state == "idle"


def test_an_sgdr_run_draws_the_rate_the_schedule_editor_previews(qtbot, panel, document):
    from widgets.commands import SetSectionCommand
    from workbench.training.schedules import learning_rates

    spec = {"name": "sgdr", "t0": 0.5, "t_mult": 2}
    training = {**document.experiment.training, "schedule": spec, "epochs": 2, "batch_size": 64}
    document.push(SetSectionCommand(document, "training", training))
    result = train(qtbot, panel, 2)
    assert result.status == "finished", result.reason
    drawn = panel.lr_curve.getOriginalDataset()[1]  # a log axis shows log10 values
    expected = learning_rates(spec, training["optimizer"]["learning_rate"], 23, 2)  # 1437 / 64
    assert list(drawn) == pytest.approx(list(expected))
    assert max(drawn) == pytest.approx(training["optimizer"]["learning_rate"])


@pytest.mark.parametrize("preset, shown", [
    ("vae.json", {"reconstructions", "latent", "decoded_grid"}),
    ("dcgan.json", {"samples"}),
])
def test_generative_runs_show_their_pictures_live(qtbot, tmp_path, preset, shown):
    from widgets.document import Document
    from workbench.experiment import Experiment
    from workbench.presets import PRESETS_DIR

    document = Document(Experiment.load(PRESETS_DIR / "generative" / preset))
    document.backend_ready()
    panel = TrainPanel(document, tmp_path / "runs")
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    panel.show()
    try:
        view = panel.generated_view
        assert view.isHidden()  # nothing to show before a run
        result = train(qtbot, panel, 2)
        assert result.status == "finished", result.reason
        assert not view.isHidden()
        assert {kind for kind, box in view.boxes.items() if not box.isHidden()} == shown
        for kind in shown - {"latent"}:
            assert not view.views[kind].pixmap().isNull()
        if "latent" in shown:
            assert len(view.latent_scatter.data) > 10
        assert "epoch 2" in view.captions[next(iter(shown))].text()
    finally:
        panel.shutdown()


def test_a_panel_behind_another_tab_draws_nothing_until_shown(qtbot, document, tmp_path):
    from PySide6.QtWidgets import QTabWidget, QWidget

    tabs = QTabWidget()
    qtbot.addWidget(tabs)
    panel = TrainPanel(document, tmp_path / "runs")
    tabs.addTab(panel, "Train")
    tabs.addTab(QWidget(), "Elsewhere")
    tabs.resize(1000, 600)
    tabs.show()
    qtbot.waitExposed(tabs)
    set_run_length(qtbot, panel, 2)
    tabs.setCurrentIndex(1)  # the user looks elsewhere while it trains
    try:
        with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
            assert panel.start_training()
        result = finished.args[0]
        assert result.status == "finished", result.reason
        assert panel.batch_count == 2 * 23  # every report was taken...
        assert points(panel.raw_loss_curve) == 0 and epoch_points(panel) == 0  # ...none drawn
        tabs.setCurrentIndex(0)
        qtbot.waitUntil(lambda: points(panel.raw_loss_curve) == 2 * 23 and epoch_points(panel) == 2,
                        timeout=5000)
        assert points(panel.lr_curve) == 2 * 23
    finally:
        panel.shutdown()
