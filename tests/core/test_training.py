"""Training sessions: real runs on digits, stop, pause, NaN guard, config checks, the CLI."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from workbench.errors import FormatError
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment
from workbench.runs import RunStore
from workbench.tasks import RecordingProgress
from workbench.training import TrainingConfig, TrainingSession


def experiment(**training) -> Experiment:
    result = Experiment.load(DEFAULT_EXPERIMENT)
    result.training = {**result.training, **training}
    return result


def _count_rate_reads(monkeypatch) -> list:
    import workbench.training.session as session_module

    reads = []
    real = session_module.current_learning_rate
    monkeypatch.setattr(session_module, "current_learning_rate",
                        lambda model: reads.append(model) or real(model))
    return reads


def test_the_default_experiment_learns_digits(keras, tmp_path, monkeypatch):
    progress = RecordingProgress()
    session = TrainingSession(experiment(epochs=15), store=RunStore(tmp_path), progress=progress)
    rate_reads = _count_rate_reads(monkeypatch)
    result = session.run()
    assert result.status == "finished", result.reason
    assert result.history["val_accuracy"][-1] > 0.9
    assert result.history["loss"][-1] < result.history["loss"][0]
    batches = [p for p in progress.partials if p["kind"] == "batch"]
    epochs = [p for p in progress.partials if p["kind"] == "epoch"]
    assert len(epochs) == 15 and len(batches) == 15 * 45  # 1437 samples / 32 per batch
    assert all(p["lr"] == pytest.approx(0.01) for p in epochs)
    assert len(rate_reads) == 1  # a device read: nothing changes a constant rate, so read once
    # The progress line: at each epoch's end and now and then between, not every batch.
    lines = [done for done, total, _ in progress.steps if total == 15 * 45]
    assert {45 * epoch for epoch in range(1, 16)} <= set(lines) and lines[-1] == 15 * 45
    assert len(lines) < 15 * 45 / 2
    history = result.run.history()
    assert len(history["loss"]) == 15
    assert result.run.checkpoint_path("final").exists()
    assert result.run.checkpoint_path("best").exists()
    assert result.run.info().status == "finished"
    events = {path.parent.name for path in result.run.tensorboard_dir().rglob("*tfevents*")}
    assert events == {"train", "validation"}  # per-epoch scalars for TensorBoard


def _session_stopped_at(tmp_path, when) -> tuple[TrainingSession, RecordingProgress]:
    """A 50-epoch session that the user stops at the first report for which ``when`` holds."""
    progress = RecordingProgress()
    session = TrainingSession(experiment(epochs=50), store=RunStore(tmp_path), progress=progress)
    original = progress.partial

    def stop_when(report):
        original(report)
        if when(report):
            session.stop()

    progress.partial = stop_when
    return session, progress


def test_stop_keeps_the_model_and_marks_the_run_stopped(keras, tmp_path):
    session, _ = _session_stopped_at(tmp_path, lambda r: r["kind"] == "epoch" and r["epoch"] == 1)
    result = session.run()
    # Asked at an epoch's end: it stops there, before starting another one.
    assert result.status == "stopped" and result.reason == "stopped by the user after epoch 2"
    assert result.model is not None and len(result.history["loss"]) == 2
    assert result.run.info().status == "stopped"


def test_a_stop_during_an_epoch_records_only_the_finished_ones(keras, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    session, progress = _session_stopped_at(
        tmp_path, lambda r: r["kind"] == "batch" and r["epoch"] == 4 and r["batch"] == 2)
    validated = []  # validation batches of each epoch
    original = session._callbacks

    def counting(*args):
        class CountValidation(keras.callbacks.Callback):
            def on_test_begin(self, logs=None):
                validated.append(0)

            def on_test_batch_end(self, batch, logs=None):
                validated[-1] += 1

        return [*original(*args), CountValidation()]

    session._callbacks = counting
    result = session.run()
    assert validated[:4] == [validated[0]] * 4 and validated[0] > 1
    assert validated[4:] == [1]  # the cut epoch is not validated whole: the stop is quick
    assert result.status == "stopped"
    assert result.reason == ("stopped by the user during epoch 5 (after 3 of 45 batches; "
                             "epoch 5 not recorded)")
    assert len(result.history["loss"]) == 4
    assert sum(1 for p in progress.partials if p["kind"] == "epoch") == 4
    history = result.run.history()
    assert history["epoch"] == [1, 2, 3, 4]
    info = result.run.info()
    assert info.status == "stopped" and info.epochs == 4 and info.reason == result.reason
    assert info.final_metrics["val_accuracy"] == pytest.approx(history["val_accuracy"][-1])
    assert result.final_metrics["loss"] == pytest.approx(history["loss"][-1])
    events = EventAccumulator(str(result.run.tensorboard_dir() / "train"))
    events.Reload()
    assert [e.step for e in events.Scalars("epoch_loss")] == [0, 1, 2, 3]


def test_pause_holds_training_until_resumed(keras):
    progress = RecordingProgress()
    session = TrainingSession(experiment(epochs=2), progress=progress)
    paused = threading.Event()
    original = progress.partial

    def pause_once(result):
        original(result)
        if result["kind"] == "batch" and result["step"] == 3 and not paused.is_set():
            session.pause()
            paused.set()

    progress.partial = pause_once
    worker = threading.Thread(target=session.run)
    worker.start()
    assert paused.wait(60)
    count = len(progress.partials)
    worker.join(0.5)
    assert worker.is_alive() and len(progress.partials) == count  # held between batches
    session.resume()
    worker.join(60)
    assert not worker.is_alive()
    assert sum(1 for p in progress.partials if p["kind"] == "epoch") == 2


def test_a_huge_learning_rate_fails_with_advice(keras, tmp_path):
    result = TrainingSession(
        experiment(epochs=3, optimizer={"name": "sgd", "learning_rate": 1e6}),
        store=RunStore(tmp_path),
    ).run()
    assert result.status == "failed"
    assert "learning rate" in result.reason
    assert result.run.info().status == "failed"


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"epochs": 0}, "training.epochs"),
        ({"batch_size": "big"}, "training.batch_size"),
        ({"optimizer": {"name": "adamm"}}, "training.optimizer.name"),
        ({"optimizer": {"name": "sgd", "learning_rate": -1}}, "training.optimizer.learning_rate"),
        ({"optimizer": {"name": "adam", "momentum": 0.9}}, "training.optimizer.momentum"),
        ({"device": "tpu"}, "training.device"),
        ({"reduce_lr": {"factor": 2}}, "training.reduce_lr.factor"),
    ],
)
def test_bad_training_settings_name_the_key(change, where):
    with pytest.raises(FormatError) as caught:
        TrainingConfig.from_dict({**experiment().training, **change})
    assert caught.value.where == where


def test_training_config_round_trips_and_keeps_unknown_keys():
    data = {**experiment().training, "early_stopping": {"patience": 3}, "future_option": 1}
    assert TrainingConfig.from_dict(data).to_dict() == data


def test_unknown_loss_is_a_failed_run_with_the_reason(keras):
    result = TrainingSession(experiment(loss="cross_entropy_please")).run()
    assert result.status == "failed" and "unknown loss" in result.reason


def test_a_relative_data_path_is_read_beside_the_experiment(keras, tmp_path, capsys, monkeypatch):
    from sklearn.datasets import load_digits

    from workbench.cli import main

    digits = load_digits()
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    np.savez(project / "good.npz", x=digits.images[:300, :, :, None], y=digits.target[:300])
    chosen = experiment()
    chosen.data = {"source": "npz", "path": "good.npz", "validation_split": 0.2,
                   "preprocessing": ["scale"]}
    chosen.save(project / "experiment.json")
    monkeypatch.chdir(elsewhere)  # `workbench train` started from another folder
    code = main(["train", str(project / "experiment.json"), "--epochs", "1", "--runs-dir",
                 str(tmp_path / "runs"), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["status"] == "finished", data["reason"]
    frozen = json.loads((Path(data["run"]) / "experiment.json").read_text())
    assert frozen["data"]["path"] == str(project / "good.npz")  # the run names the file it read


def test_cli_train_prints_the_run_folder(keras, tmp_path, capsys):
    from workbench.cli import main

    code = main(["train", str(DEFAULT_EXPERIMENT), "--epochs", "15", "--runs-dir",
                 str(tmp_path), "--json"])
    out = capsys.readouterr().out
    data = json.loads(out)
    assert code == 0 and data["status"] == "finished"
    assert data["final_metrics"]["val_accuracy"] > 0.9
    assert (tmp_path / data["run"].split("/")[-1] / "history.csv").exists()


def _tiny_model(keras):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    return model


def test_best_checkpoint_keeps_the_best_epoch_even_when_its_write_was_deferred(keras, tmp_path):
    from workbench.training import callbacks

    rng = __import__("numpy").random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = x @ [[1.0], [-2.0], [0.5]]
    model = _tiny_model(keras)
    checkpoint = callbacks.best_checkpoint(tmp_path / "best.keras")
    checkpoint.set_model(model)
    losses = [0.9, 0.5, 0.7, 0.3, 0.8]  # the best is epoch 4, after a write at epoch 2
    kept = {}
    for epoch, loss in enumerate(losses):
        model.layers[0].kernel.assign(model.layers[0].kernel + 1.0)  # weights differ by epoch
        if epoch == 3:
            kept = [w.copy() for w in model.get_weights()]
        checkpoint.on_epoch_end(epoch, {"loss": loss})  # no val_loss: the training loss counts
    assert checkpoint.best_epoch == 3 and checkpoint.pending is not None  # within the write gap
    before = [w.copy() for w in model.get_weights()]
    checkpoint.on_train_end()
    saved = keras.saving.load_model(tmp_path / "best.keras")
    for a, b in zip(saved.get_weights(), kept):
        assert (a == b).all()
    for a, b in zip(model.get_weights(), before):  # the model itself is left as it was
        assert (a == b).all()
    assert not list(tmp_path.glob("*.partial.keras"))
    model.fit(x, y, epochs=1, verbose=0)  # still trainable


@pytest.mark.parametrize("spec", [
    {"name": "cyclical", "mode": "triangular2", "step_size": 0.5},
    {"name": "one_cycle", "pct_start": 0.3},
])
def test_a_scheduled_run_follows_the_preview_batch_by_batch(keras, spec):
    from workbench.training.schedules import learning_rates

    progress = RecordingProgress()
    optimizer = {"name": "sgd", "learning_rate": 0.05, "momentum": 0.9}
    session = TrainingSession(experiment(epochs=2, optimizer=optimizer, schedule=spec),
                              progress=progress)
    result = session.run()
    assert result.status == "finished", result.reason
    reported = [p["lr"] for p in progress.partials if p["kind"] == "batch"]
    expected = learning_rates(spec, 0.05, 45, 2)
    assert reported == pytest.approx(list(expected))
    optimizer = result.model.optimizer
    assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(expected[-1])
    if spec["name"] == "one_cycle":  # momentum cycled back up to its maximum at the end
        assert optimizer.get_config()["momentum"] == pytest.approx(0.95)


def test_snapshot_ensemble_keeps_snapshots_and_scores_them(keras, tmp_path):
    session = TrainingSession(experiment(epochs=4, schedule={"name": "snapshot", "cycles": 2}),
                              store=RunStore(tmp_path))
    result = session.run()
    assert result.status == "finished", result.reason
    assert sorted(p.name for p in (result.run.path / "snapshots").iterdir()) == [
        "snapshot-01.weights.h5", "snapshot-02.weights.h5"]
    ensemble = result.ensemble
    assert ensemble["snapshots"] == 2
    assert 0.8 < ensemble["final_val_accuracy"] <= 1 and 0.8 < ensemble["ensemble_val_accuracy"] <= 1
    assert ensemble["final_val_accuracy"] == pytest.approx(result.history["val_accuracy"][-1], abs=1e-6)
    assert result.run.info().final_metrics["ensemble_val_accuracy"] == ensemble["ensemble_val_accuracy"]


def test_adversarial_training_is_a_training_option(keras, tmp_path):
    from workbench.errors import FormatError as _FormatError

    spec = {"method": "fgsm", "epsilon": 0.1}
    result = TrainingSession(experiment(epochs=1, adversarial=spec), store=RunStore(tmp_path)).run()
    assert result.status == "finished", result.reason
    assert result.run.experiment().training["adversarial"]["epsilon"] == 0.1
    saved = result.run.load_model("final")
    assert type(saved).__name__ == "Functional"  # the run keeps a plain model
    with pytest.raises(_FormatError) as caught:
        TrainingConfig.from_dict({"adversarial": {"method": "fgsm", "epsilon": -1}})
    assert caught.value.where.startswith("training.adversarial")


def test_batch_reports_carry_each_batchs_own_loss():
    # Keras 3 logs the epoch's running mean after each batch; the relay reports the batch's own
    # value, so the batches of an epoch average to the epoch's loss and do not jump at its start.
    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    experiment.training = {**experiment.training, "batch_size": 359}  # 1437 samples: 4 full + 1
    progress = RecordingProgress()
    result = TrainingSession(experiment, progress=progress, epochs=2).run()
    batches = [p for p in progress.partials if isinstance(p, dict) and p.get("kind") == "batch"]
    first = [b["logs"]["loss"] for b in batches if b["epoch"] == 0]
    sizes = [359, 359, 359, 359, 1]
    weighted = sum(loss * size for loss, size in zip(first, sizes)) / sum(sizes)
    assert len(first) == 5 and weighted == pytest.approx(result.history["loss"][0], rel=1e-3)
    assert len(set(round(loss, 6) for loss in first)) == 5


def test_each_epoch_records_the_rate_it_trained_with_when_reduce_lr_lowers_it(keras, tmp_path,
                                                                                monkeypatch):
    # min_delta 10: no epoch after the first counts as an improvement, so the rate halves
    # after every epoch from the second on; the epoch that lowers it still trained with the
    # old one (the rate is read at each epoch's start).
    reduce_lr = {"monitor": "loss", "factor": 0.5, "patience": 0, "min_delta": 10}
    progress = RecordingProgress()
    session = TrainingSession(experiment(epochs=3, reduce_lr=reduce_lr), store=RunStore(tmp_path),
                              progress=progress)
    rate_reads = _count_rate_reads(monkeypatch)
    result = session.run()
    assert len(rate_reads) == 3  # once an epoch: the plateau callback may change it in between
    assert result.status == "finished", result.reason
    expected = [0.01, 0.01, 0.005]
    assert result.history["lr"] == pytest.approx(expected)
    assert [p["lr"] for p in progress.partials if p["kind"] == "epoch"] == pytest.approx(expected)
    batch_rates = [p["lr"] for p in progress.partials if p["kind"] == "batch"]
    assert batch_rates == pytest.approx([rate for rate in expected for _ in range(45)])
    assert result.run.history()["lr"] == pytest.approx(expected)
