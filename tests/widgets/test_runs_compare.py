"""Comparing runs in the Runs tab: the runs folder, the columns and legend entries that tell
runs apart, grouping only the seeds of one setup, the plot's axes and legend, and opening
the model of a run that did not finish."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMessageBox

from widgets.runs_panel import RunsPanel
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment
from workbench.runs import RunInfo, RunStore, compare


def _experiment(seed: int = 0, lr: float = 0.01, batch: int = 32, name: str = "cnn",
                **changes) -> Experiment:
    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    experiment.name = name
    experiment.training["seed"] = seed
    experiment.training["optimizer"]["learning_rate"] = lr
    experiment.training["batch_size"] = batch
    for key, value in changes.items():
        section, option = key.split("__")
        getattr(experiment, section)[option] = value
    return experiment


def _make_run(store: RunStore, experiment: Experiment, epochs: int = 4, status: str = "finished",
              offset: float = 0.0, reason: str | None = None):
    run = store.create(experiment)
    run.set_device("cpu")
    for epoch in range(1, epochs + 1):
        loss = 2.0 * math.exp(-0.4 * epoch) + offset
        run.append_epoch(epoch, {"loss": loss, "val_loss": loss + 0.1,
                                 "accuracy": 0.5 + epoch / 20, "val_accuracy": 0.4 + epoch / 20},
                         lr=1e-3)
    run.finish(status, reason=reason)
    return run


def _panel(qtbot, root) -> RunsPanel:
    panel = RunsPanel(root)
    qtbot.addWidget(panel)
    panel.resize(1280, 800)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def _column(panel: RunsPanel, run_id: str, header: str) -> str:
    headers = [panel.table.horizontalHeaderItem(c).text() for c in range(panel.table.columnCount())]
    return panel.table.item(panel.row_of(run_id), headers.index(header)).text()


def _legend_texts(panel: RunsPanel) -> list[str]:
    return [label.text for _sample, label in panel.legend.items]


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path / "runs")


# ------------------------------------------------------------------ runs folder
def test_change_button_shows_another_folder_and_tells_the_window(qtbot, store, tmp_path):
    cli_runs = RunStore(tmp_path / "project" / "runs")  # where `workbench train` writes
    mine = _make_run(cli_runs, _experiment())
    panel = _panel(qtbot, store.root)
    assert panel.table.rowCount() == 0
    assert panel.folder_button.isVisible() and panel.folder_button.text() == "Change…"
    assert str(store.root) in panel.folder_label.toolTip()  # the label may elide a long path
    assert panel.folder_label.text().endswith("/runs")

    panel.ask_runs_dir = lambda: None  # cancelled: nothing changes
    with qtbot.assertNotEmitted(panel.runs_dir_changed):
        qtbot.mouseClick(panel.folder_button, Qt.MouseButton.LeftButton)
    assert panel.runs_dir == store.root

    panel.ask_runs_dir = lambda: cli_runs.root
    with qtbot.waitSignal(panel.runs_dir_changed) as signal:
        qtbot.mouseClick(panel.folder_button, Qt.MouseButton.LeftButton)
    assert signal.args == [cli_runs.root]
    assert panel.runs_dir == cli_runs.root and str(cli_runs.root) in panel.folder_label.toolTip()
    assert panel.row_of(mine.id) is not None and panel.message.isHidden()


def test_missing_file_and_unreadable_folders_say_so(qtbot, tmp_path, monkeypatch):
    panel = _panel(qtbot, tmp_path / "gone")
    assert "does not exist" in panel.message.text() and str(tmp_path / "gone") in panel.message.text()
    assert "No runs yet" in panel.message.text() and not panel.message.isHidden()

    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder", encoding="utf-8")
    panel.set_runs_dir(a_file)
    assert "is a file, not a folder" in panel.message.text()

    project = tmp_path / "project"  # the project folder instead of its runs folder
    for name in ("experiments", "widgets"):
        (project / name).mkdir(parents=True)
    panel.set_runs_dir(project)
    assert "None of the 2 folder(s)" in panel.message.text()
    assert "is this the runs folder" in panel.message.text()

    # A folder this user may not list (chmod 000; root would read it anyway, so simulated).
    def refused(_store):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(RunStore, "runs", refused)
    panel.set_runs_dir(tmp_path / "locked")
    assert "cannot be read (Permission denied)" in panel.message.text()
    assert panel.message.styleSheet() == "color: #c5221f" and panel.table.rowCount() == 0


def test_main_window_saves_the_folder_and_trains_there(qtbot, tmp_path):
    from widgets.main_window import MainWindow
    from widgets.recovery import RecoveryStore

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("runsDir", str(tmp_path / "runs"))
    window = MainWindow(Experiment.load(DEFAULT_EXPERIMENT), settings,
                        RecoveryStore(tmp_path / "recovery.json"))
    qtbot.addWidget(window)
    window.ask_save_changes = lambda: QMessageBox.StandardButton.Discard
    chosen = tmp_path / "elsewhere"
    chosen.mkdir()
    window.runs_panel.ask_runs_dir = lambda: chosen
    qtbot.mouseClick(window.runs_panel.folder_button, Qt.MouseButton.LeftButton)
    assert settings.value("runsDir") == str(chosen)
    assert window.runs_dir == chosen
    assert window.train_panel.runs_dir == chosen == window.lessons_panel.runs_dir
    assert window.search_panel.runs_dir == chosen


# ------------------------------------------------------------------ columns and legend
def test_columns_show_seed_learning_rate_batch_and_optimizer(qtbot, store):
    slow = _make_run(store, _experiment(seed=3, lr=0.001, batch=64))
    fast = _make_run(store, _experiment(seed=1, lr=0.01, batch=32))
    panel = _panel(qtbot, store.root)
    assert [_column(panel, slow.id, h) for h in ("Seed", "LR", "Batch", "Optimizer")] == [
        "3", "0.001", "64", "adam"]
    assert [_column(panel, fast.id, h) for h in ("Seed", "LR", "Batch")] == ["1", "0.01", "32"]
    headers = [panel.table.horizontalHeaderItem(c).text() for c in range(panel.table.columnCount())]
    panel.table.sortItems(headers.index("LR"), Qt.SortOrder.DescendingOrder)
    assert panel.table.item(0, 0).data(Qt.ItemDataRole.UserRole) == fast.id  # 0.01 > 0.001


def test_legend_names_runs_by_time_and_what_differs(qtbot, store):
    runs = [_make_run(store, _experiment(seed=seed)) for seed in (0, 1)]
    runs.append(_make_run(store, _experiment(seed=0, lr=0.001)))
    panel = _panel(qtbot, store.root)
    panel.select_runs([run.id for run in runs])
    texts = _legend_texts(panel)
    assert len(texts) == 3
    for text in texts:
        assert "cnn" not in text and len(text) < 40  # not the folder name: what differs
    assert sum("seed 1" in text for text in texts) == 1
    assert sum("lr 0.001" in text for text in texts) == 1
    assert len(set(texts)) == 3
    # Two runs alike except the seed: only the seed tells them apart.
    panel.select_runs([runs[0].id, runs[1].id])
    assert sorted(text.split(" · ", 1)[1] for text in _legend_texts(panel)) == ["seed 0", "seed 1"]


# ------------------------------------------------------------------ grouping
def test_grouping_averages_only_runs_that_differ_in_the_seed(qtbot, store):
    seeds = [_make_run(store, _experiment(seed=s), offset=0.1 * s) for s in (0, 1, 2)]
    bigger_batch = [_make_run(store, _experiment(seed=s, batch=64), offset=1.0) for s in (0, 1)]
    other_data = _make_run(store, _experiment(seed=3, data__validation_split=0.3), offset=2.0)
    # Same experiment name throughout: grouping by name would average all six.
    panel = _panel(qtbot, store.root)
    panel.metric_combo.setCurrentText("loss")
    panel.select_runs([run.id for run in [*seeds, *bigger_batch, other_data]])
    panel.group_check.setChecked(True)

    assert len(panel.group_curves) == 2 and len(panel.bands) == 2
    assert set(panel.curves) == {other_data.id}  # no partner: a curve of its own
    by_batch = {title: curve for title, curve in panel.group_curves.items()}
    small = next(c for t, c in by_batch.items() if "batch 32" in t)
    large = next(c for t, c in by_batch.items() if "batch 64" in t)
    _, mean = small.getData()
    assert mean[0] == pytest.approx(2.0 * math.exp(-0.4) + 0.1)  # mean of offsets 0, .1, .2
    _, mean = large.getData()
    assert mean[0] == pytest.approx(2.0 * math.exp(-0.4) + 1.0)
    texts = _legend_texts(panel)
    assert any("mean of 3" in t and "seeds 0, 1, 2" in t and "batch 32" in t for t in texts)
    assert any("mean of 2" in t and "seeds 0, 1" in t and "batch 64" in t for t in texts)


def test_moving_a_node_does_not_split_a_group_but_new_weights_do(qtbot, store, tmp_path):
    first = _make_run(store, _experiment(seed=0))
    moved = _experiment(seed=1)
    moved.graph.node("conv_1").pos = (999.0, 40.0)
    moved.description = "the same network, its cards moved"
    second = _make_run(store, moved)
    settings = [compare.read_settings(run.path) for run in (first, second)]
    assert compare.differences(settings) == [compare.SEED]
    assert compare.setup_key(first.path, settings[0]) == compare.setup_key(second.path, settings[1])

    # Two runs that start from different weights files are not seeds of one setup.
    keys = []
    for value in (0.0, 1.0):
        experiment = _experiment(seed=int(value))
        experiment.save(tmp_path / f"start-{value}.json")
        experiment.save_weights({"conv_1": [np.full((3, 3, 1, 16), value, np.float32)]},
                                tmp_path / f"start-{value}.weights.npz")
        run = _make_run(store, experiment)
        keys.append(compare.setup_key(run.path, compare.read_settings(run.path)))
    assert keys[0] != keys[1] and None not in keys


def test_runs_record_their_starting_weights_digest_and_grouping_uses_it(qtbot, store, tmp_path,
                                                                         monkeypatch):
    import hashlib

    runs = []
    for seed in (0, 1):  # the same weights, from two files in two places
        experiment = _experiment(seed=seed)
        (tmp_path / f"copy-{seed}").mkdir()
        experiment.save(tmp_path / f"copy-{seed}" / "start.json")
        experiment.save_weights({"conv_1": [np.full((3, 3, 1, 16), 0.5, np.float32)]},
                                tmp_path / f"copy-{seed}" / "start.weights.npz")
        runs.append(_make_run(store, experiment))
    infos = [run.info() for run in runs]
    expected = hashlib.sha256((runs[0].path / "experiment.weights.npz").read_bytes()).hexdigest()
    assert infos[0].weights_sha256 == infos[1].weights_sha256 == expected
    assert _make_run(store, _experiment(seed=2)).info().weights_sha256 is None  # no weights

    # The recorded digests group them: no weights file is read (on the GUI thread) to do it.
    def no_reading(*args):
        raise AssertionError("a weights file was read")

    monkeypatch.setattr(compare, "_digest", no_reading)
    keys = [compare.setup_key(info.path, compare.read_settings(info.path), info.weights_sha256)
            for info in infos]
    assert keys[0] == keys[1] is not None


# ------------------------------------------------------------------ plot
def test_axes_show_values_as_logged_and_the_legend_stays_off_the_curves(qtbot, store):
    runs = [_make_run(store, _experiment(seed=s)) for s in (0, 1)]
    panel = _panel(qtbot, store.root)
    panel.metric_combo.setCurrentText("val_accuracy")
    panel.select_runs([run.id for run in runs])
    qtbot.wait(50)  # let the layout place the legend
    axis = panel.plot.getAxis("left")
    assert axis.autoSIPrefixScale == 1.0 and "x0.001" not in axis.labelString()
    assert axis.labelString().find("val_accuracy") >= 0
    view = panel.plot.getViewBox().sceneBoundingRect()
    legend = panel.legend.sceneBoundingRect()
    assert panel.legend.isVisible() and legend.width() > 0
    assert legend.left() >= view.right() - 1  # beside the data (give or take the frame's pen)
    for curve in panel.curves.values():  # the curves end (at the top right) left of it
        x, y = curve.getData()
        end = panel.plot.getViewBox().mapViewToScene(pg.Point(x[-1], y[-1]))
        assert end.x() < legend.left()
    panel.select_runs([])
    assert not panel.legend.isVisible()


# ------------------------------------------------------------------ opening a model
def test_open_refuses_a_run_that_never_finished_an_epoch(qtbot, store):
    failed = _make_run(store, _experiment(), epochs=0, status="failed", reason="loss became NaN")
    panel = _panel(qtbot, store.root)
    panel.select_runs([failed.id])
    with qtbot.assertNotEmitted(panel.model_requested):
        qtbot.mouseClick(panel.open_button, Qt.MouseButton.LeftButton)
    text = panel.message.text()
    assert not panel.message.isHidden()
    assert "before its first epoch finished" in text and "loss became NaN" in text
    assert "never trained" in text and "nothing to open" in text


def test_open_warns_that_a_stopped_runs_model_is_part_trained(qtbot, store):
    stopped = _make_run(store, _experiment(), epochs=2, status="stopped", reason="stopped by the user")
    done = _make_run(store, _experiment(seed=1))
    panel = _panel(qtbot, store.root)
    panel.select_runs([stopped.id])
    with qtbot.waitSignal(panel.model_requested) as signal:
        qtbot.mouseClick(panel.open_button, Qt.MouseButton.LeftButton)
    notice = signal.args[0].info().model_notice()
    assert notice == (f"run {stopped.id} was stopped after 2 epochs (stopped by the user): "
                      "its model is from an unfinished training")
    cut = RunInfo(**{**vars(signal.args[0].info()), "reason": "stopped by the user during "
                     "epoch 3 (after 4 of 45 batches; epoch 3 not recorded)"})
    assert cut.model_notice() == (
        f"run {stopped.id} was stopped after 2 epochs: its model is from an unfinished training; "
        "stopped by the user during epoch 3 (after 4 of 45 batches; epoch 3 not recorded)")
    assert panel.message.text() == f"Opening a part-trained model: {notice}."
    assert panel.message.styleSheet() == "color: #b06000"
    panel.select_runs([done.id])
    with qtbot.waitSignal(panel.model_requested) as signal:
        qtbot.mouseClick(panel.open_button, Qt.MouseButton.LeftButton)
    assert signal.args[0].info().model_notice() is None and panel.message.isHidden()
