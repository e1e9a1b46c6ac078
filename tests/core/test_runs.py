"""The run store: folder layout, run.json, history that survives a kill, listing, grouping."""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from workbench import fileio
from workbench.errors import WorkbenchError
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment
from workbench.runs import RUN_FORMAT, RUN_VERSION, RunStore, aggregate, csvlog, machine, store
from workbench.runs.csvlog import CsvLog, read_csv_log

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def experiment() -> Experiment:
    return Experiment.load(DEFAULT_EXPERIMENT)


@pytest.fixture
def clock(monkeypatch):
    """Fix the store's clock; ``clock.now`` may be moved between creates."""

    class Clock:
        now = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=2)))

    monkeypatch.setattr(store, "_now", lambda: Clock.now)
    return Clock


def _temporary_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".tmp-" in p.name]


def _run_json(run) -> dict:
    return json.loads((run.path / "run.json").read_text())


# ------------------------------------------------------------------ create
def test_create_lays_out_the_folder_and_records_the_run(tmp_path, experiment, clock):
    experiment.training["seed"] = 7
    runs = RunStore(tmp_path / "runs")  # does not exist yet: created on first use
    run = runs.create(experiment)

    assert run.id == "20240506-070809-digits-cnn-1"
    assert run.path == tmp_path / "runs" / run.id
    assert sorted(p.name for p in run.path.iterdir()) == ["experiment.json", "run.json"]
    assert json.loads((run.path / "experiment.json").read_text()) == experiment.to_dict()

    data = _run_json(run)
    assert data["format"] == RUN_FORMAT == "keras-workbench/run" and data["version"] == RUN_VERSION == 1
    assert (data["id"], data["name"], data["experiment"]) == (run.id, run.id, "digits-cnn")
    assert (data["status"], data["reason"], data["finished"], data["device"]) == ("running", None, None, None)
    assert data["started"] == "2024-05-06T07:08:09+02:00"
    assert data["seed"] == 7
    assert data["pid"] == os.getpid() and data["host"] == machine.hostname()
    assert data["versions"] == {
        "python": platform.python_version(),
        "keras": importlib.metadata.version("keras"),
        "tensorflow": importlib.metadata.version("tensorflow"),
        "numpy": np.__version__,
        **({"backend": data["versions"]["backend"]} if "keras" in sys.modules else {}),
    }

    run.set_device("gpu:0 (NVIDIA H100)")
    assert _run_json(run)["device"] == "gpu:0 (NVIDIA H100)"
    info = run.info()
    assert (info.status, info.seed, info.device, info.epochs) == ("running", 7, "gpu:0 (NVIDIA H100)", 0)
    assert run.checkpoint_path("best") == run.path / "best.keras"
    assert run.checkpoint_path("final") == run.path / "final.keras"
    assert run.tensorboard_dir() == run.path / "tensorboard"
    with pytest.raises(WorkbenchError, match="choose 'best' or 'final'"):
        run.checkpoint_path("last")
    assert _temporary_files(tmp_path) == []


def test_run_folders_are_unique_within_a_second_and_named_by_a_slug(tmp_path, experiment, clock):
    runs = RunStore(tmp_path)
    ids = [runs.create(experiment).id for _ in range(3)]
    assert ids == [f"20240506-070809-digits-cnn-{n}" for n in (1, 2, 3)]
    experiment.name = "Mein Übungs-Netz / v2!"
    named = runs.create(experiment, name="baseline")
    assert named.id == "20240506-070809-mein-ubungs-netz-v2-1"
    assert named.info().name == "baseline" and named.info().experiment == "Mein Übungs-Netz / v2!"


def test_the_experiment_is_frozen_with_its_weights(tmp_path, experiment):
    weights = {"dense": [np.arange(6, dtype="float32").reshape(2, 3), np.ones(3, "float32")]}
    experiment.save(tmp_path / "exp.json")
    experiment.save_weights(weights, tmp_path / "exp.weights.npz")
    run = RunStore(tmp_path / "runs").create(experiment)
    experiment.name = "edited later"  # the run keeps the experiment as it was

    frozen = run.experiment()
    assert frozen.name == "digits-cnn" and frozen.weights_file == "experiment.weights.npz"
    assert (run.path / "experiment.weights.npz").is_file()
    loaded = frozen.load_weights()
    assert list(loaded) == ["dense"]
    np.testing.assert_array_equal(loaded["dense"][0], weights["dense"][0])
    np.testing.assert_array_equal(loaded["dense"][1], weights["dense"][1])


def test_create_refuses_missing_weights_and_leaves_nothing(tmp_path, experiment):
    experiment.weights_file = "gone.weights.npz"
    experiment.path = tmp_path / "exp.json"
    with pytest.raises(WorkbenchError, match="gone.weights.npz: the weights file .* is missing"):
        RunStore(tmp_path / "runs").create(experiment)
    assert not (tmp_path / "runs").exists() or list((tmp_path / "runs").iterdir()) == []


def test_a_failed_create_removes_its_half_written_folder(tmp_path, experiment, monkeypatch):
    def crash(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio.os, "fsync", crash)
    with pytest.raises(WorkbenchError, match="cannot write the run .No space left on device"):
        RunStore(tmp_path).create(experiment)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------- history
def test_history_rows_are_written_as_epochs_end(tmp_path, experiment):
    run = RunStore(tmp_path).create(experiment)
    history = run.path / "history.csv"
    run.append_epoch(1, {"loss": 0.5, "accuracy": 0.25}, 0.1)
    assert history.read_text() == "epoch,accuracy,loss,lr\n1,0.25,0.5,0.1\n"
    # A metric appearing later widens the header; older rows get an empty cell for it.
    run.append_epoch(2, {"loss": 0.25, "accuracy": 0.5, "val_loss": 0.3}, 0.05)
    # One going missing leaves its cell empty; lr and epoch in the logs do not clash.
    run.append_epoch(3, {"loss": 0.125, "accuracy": 0.75, "lr": 9.0, "epoch": 9}, None)
    assert history.read_text() == (
        "epoch,accuracy,loss,val_loss,lr\n"
        "1,0.25,0.5,,0.1\n"
        "2,0.5,0.25,0.3,0.05\n"
        "3,0.75,0.125,,\n"
    )
    columns = run.history()
    assert list(columns) == ["epoch", "accuracy", "loss", "val_loss", "lr"]
    assert columns["epoch"] == [1, 2, 3] and columns["loss"] == [0.5, 0.25, 0.125]
    assert math.isnan(columns["val_loss"][0]) and columns["val_loss"][1] == 0.3
    assert columns["lr"][:2] == [0.1, 0.05] and math.isnan(columns["lr"][2])
    assert run.info().epochs == 3
    assert run.info().final_metrics == {"accuracy": 0.75, "loss": 0.125, "val_loss": None, "lr": None}
    assert _temporary_files(tmp_path) == []


def _scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """The scalars TensorBoard reads from an event folder: {tag: [(step, value)]}."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(e.step, pytest.approx(e.value)) for e in events.Scalars(tag)]
            for tag in events.Tags()["scalars"]}


def test_epochs_become_tensorboard_scalars_named_as_keras_names_them(tmp_path, experiment):
    run = RunStore(tmp_path).create(experiment)
    run.append_epoch(1, {"loss": 0.5, "accuracy": 0.25, "val_loss": 0.75, "val_accuracy": 0.2}, 0.1)
    run.append_epoch(2, {"loss": 0.25, "accuracy": 0.5, "val_loss": 0.5, "val_accuracy": 0.4}, None)
    run.finish("finished")
    folder = run.tensorboard_dir()
    assert _scalars(folder / "train") == {
        "epoch_loss": [(0, 0.5), (1, 0.25)], "epoch_accuracy": [(0, 0.25), (1, 0.5)],
        "epoch_learning_rate": [(0, 0.1)]}  # steps count epochs from 0, as Keras does
    assert _scalars(folder / "validation") == {
        "epoch_loss": [(0, 0.75), (1, 0.5)], "epoch_accuracy": [(0, 0.2), (1, 0.4)]}
    assert _run_json(run)["reason"] is None


def test_a_failing_event_writer_is_reported_and_never_stops_the_run(tmp_path, experiment,
                                                                    monkeypatch):
    from tensorboard.summary.writer import event_file_writer

    def full_disk(self, event):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(event_file_writer.EventFileWriter, "add_event", full_disk)
    run = RunStore(tmp_path).create(experiment)
    run.append_epoch(1, {"loss": 0.5}, 0.1)
    run.append_epoch(2, {"loss": 0.25}, 0.1)
    run.finish("finished")
    data = _run_json(run)
    assert (data["status"], data["epochs"]) == ("finished", 2)  # history.csv has both epochs
    assert data["reason"] == "TensorBoard events not fully written (No space left on device)"


def test_a_row_cut_short_by_a_kill_is_skipped_and_not_glued_to_the_next(tmp_path, experiment):
    run = RunStore(tmp_path).create(experiment)
    run.append_epoch(1, {"loss": 1.0}, 0.1)
    with open(run.path / "history.csv", "a") as handle:
        handle.write("2,0.12")  # the process died in the middle of this row
    assert run.history()["loss"] == [1.0]
    reopened = RunStore(tmp_path).open(run.id)
    reopened.append_epoch(2, {"loss": 0.5}, 0.1)
    assert reopened.history() == {"epoch": [1, 2], "loss": [1.0, 0.5], "lr": [0.1, 0.1]}


def test_a_log_looks_for_a_cut_row_only_before_its_own_first_write(tmp_path, experiment,
                                                                   monkeypatch):
    # Reading the file's end costs an open and a read at every epoch end; after its own first
    # write the log knows the file ends with its newline.
    import workbench.runs.csvlog as csvlog

    run = RunStore(tmp_path).create(experiment)
    run.append_epoch(1, {"loss": 1.0}, 0.1)
    looked = []
    real = csvlog._ends_with_newline
    monkeypatch.setattr(csvlog, "_ends_with_newline", lambda path: looked.append(path) or real(path))
    run.append_epoch(2, {"loss": 0.5}, 0.1)
    run.append_epoch(3, {"loss": 0.25}, 0.1)
    assert looked == []
    RunStore(tmp_path).open(run.id).append_epoch(4, {"loss": 0.2}, 0.1)
    assert looked == [run.path / "history.csv"]  # a reopened run looks once
    assert run.history()["epoch"] == [1, 2, 3, 4]


def test_batches_are_buffered_and_flushed_by_count_and_on_finish(tmp_path, experiment):
    run = RunStore(tmp_path).create(experiment)
    for step in range(1, 200):
        run.append_batch(step, 0, {"loss": 1.0 / step}, 0.01)
    assert run.batches() == {}  # still in memory: one write per ~200 rows keeps it cheap
    run.append_batch(200, 0, {"loss": 0.005}, 0.01)
    assert run.batches()["step"] == list(range(1, 201))
    for step in range(201, 204):
        run.append_batch(step, 1, {"loss": 0.004, "accuracy": 0.9}, None)
    assert len(run.batches()["step"]) == 200
    run.finish("finished")
    batches = run.batches()
    assert list(batches) == ["step", "epoch", "accuracy", "loss", "lr"]
    assert batches["step"][-3:] == [201, 202, 203] and batches["epoch"][-1] == 1
    assert math.isnan(batches["accuracy"][0]) and batches["accuracy"][-1] == 0.9


def test_a_durable_row_is_in_the_file_at_once_and_on_the_disk_in_the_background(tmp_path,
                                                                                 monkeypatch):
    # A slow disk: the fsync waits until the test lets it go. The training thread does not.
    release, synced = threading.Event(), []

    def slow_fsync(path):
        release.wait(10)
        synced.append(Path(path).name)

    monkeypatch.setattr(csvlog, "_fsync", slow_fsync)
    log = CsvLog(tmp_path / "history.csv", ("epoch",))
    log.append({"epoch": 1, "loss": 0.5, "lr": 0.1})
    log.append({"epoch": 2, "loss": 0.4, "lr": 0.1})
    assert read_csv_log(tmp_path / "history.csv", ("epoch",))["loss"] == [0.5, 0.4]
    assert synced == []
    release.set()
    log.sync()  # waits for the fsyncs
    assert synced and set(synced) == {"history.csv"}


def test_a_failed_fsync_is_reported_when_the_run_finishes(tmp_path, experiment, monkeypatch):
    def failing_fsync(path):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(csvlog, "_fsync", failing_fsync)
    run = RunStore(tmp_path).create(experiment)
    run.append_epoch(1, {"loss": 0.5}, 0.1)
    run.append_epoch(2, {"loss": 0.4}, 0.1)
    run.finish("finished")
    info = run.info()
    assert info.status == "finished" and info.epochs == 2
    assert "history.csv is written but the disk did not confirm it (fsync: Input/output error)" \
        in info.reason


def test_a_buffered_log_flushes_after_a_second(tmp_path):
    now = [100.0]
    log = CsvLog(tmp_path / "b.csv", ("step",), durable=False, flush_rows=200, flush_seconds=1.0,
                 clock=lambda: now[0])
    log.append({"step": 1, "loss": 0.5, "lr": None})
    now[0] = 100.5
    log.append({"step": 2, "loss": 0.4, "lr": None})
    assert not (tmp_path / "b.csv").exists()
    now[0] = 101.0
    log.append({"step": 3, "loss": 0.3, "lr": None})
    assert read_csv_log(tmp_path / "b.csv", ("step",))["loss"] == [0.5, 0.4, 0.3]


def test_history_survives_a_process_killed_mid_run(tmp_path):
    if not hasattr(signal, "SIGKILL"):
        pytest.skip("no SIGKILL on this platform")
    script = r"""
import os, signal, sys
from pathlib import Path
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment
from workbench.runs import RunStore

run = RunStore(Path(sys.argv[1])).create(Experiment.load(DEFAULT_EXPERIMENT))
run.set_device("cpu")
for epoch in (1, 2, 3):
    for batch in range(4):
        run.append_batch(epoch * 10 + batch, epoch - 1, {"loss": 1.0 / epoch}, 0.01)
    run.append_epoch(epoch, {"loss": 1.0 / epoch, "accuracy": 0.25 * epoch}, 0.01)
run.append_batch(99, 3, {"loss": 0.1}, 0.01)  # buffered: dies with the process
print(run.id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
print("not reached", flush=True)
"""
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == -signal.SIGKILL, result.stderr
    run_id = result.stdout.split()[0]
    assert "not reached" not in result.stdout

    runs = RunStore(tmp_path)
    run = runs.open(run_id)
    history = run.history()
    assert history["epoch"] == [1, 2, 3]
    assert history["loss"] == [1.0, 0.5, 1.0 / 3]
    assert history["accuracy"] == [0.25, 0.5, 0.75]
    assert run.batches()["step"] == [10, 11, 12, 13, 20, 21, 22, 23, 30, 31, 32, 33]

    [info] = runs.runs()
    assert _run_json(run)["status"] == "running"  # nobody closed it ...
    assert info.status == "interrupted"  # ... but its process is gone
    assert info.reason == "the process ended without closing the run"
    assert info.epochs == 3 and info.device == "cpu"
    assert info.final_metrics == {"accuracy": 0.75, "loss": 1.0 / 3, "lr": 0.01}
    assert _temporary_files(tmp_path) == []


def test_a_run_is_running_while_its_process_lives(tmp_path, experiment):
    runs = RunStore(tmp_path)
    run = runs.create(experiment)
    assert [info.status for info in runs.runs()] == ["running"]  # this process writes it

    # Pretend a child process wrote it, then watch that process die.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        data = _run_json(run)
        data["pid"], data["process_started"] = child.pid, machine.process_start(child.pid)
        (run.path / "run.json").write_text(json.dumps(data))
        assert run.info().status == "running"
        if data["process_started"] is not None:  # start times are known on Linux
            # The same pid with another start time is another process that reused the number.
            (run.path / "run.json").write_text(json.dumps({**data, "process_started": 1}))
            assert run.info().status == "interrupted"
            (run.path / "run.json").write_text(json.dumps(data))
        child.kill()
        if data["process_started"] is not None:
            # Killed but not yet reaped by its parent: a zombie (seen in /proc), which has ended.
            deadline = time.monotonic() + 10
            while run.info().status == "running" and time.monotonic() < deadline:
                time.sleep(0.01)
            assert run.info().status == "interrupted"
    finally:
        child.kill()
        child.wait()
    assert run.info().status == "interrupted"

    # Written on another machine (a shared drive): nothing here can tell, so it stays running.
    (run.path / "run.json").write_text(json.dumps({**data, "host": "another-machine"}))
    assert run.info().status == "running"


# ------------------------------------------------------------------ finish
def test_finish_records_how_the_run_ended(tmp_path, experiment):
    run = RunStore(tmp_path).create(experiment)
    run.append_epoch(1, {"loss": 1.0}, 0.1)
    run.append_epoch(2, {"loss": 0.5}, 0.1)
    run.finish("failed", "the loss became nan at epoch 3", {"loss": float("nan"), "accuracy": 0.5})
    data = _run_json(run)
    assert (data["status"], data["reason"], data["epochs"]) == ("failed", "the loss became nan at epoch 3", 2)
    assert data["final_metrics"] == {"loss": None, "accuracy": 0.5}  # JSON has no NaN
    assert datetime.fromisoformat(data["finished"]) >= datetime.fromisoformat(data["started"])
    info = run.info()
    assert (info.status, info.epochs, info.finished) == ("failed", 2, data["finished"])

    with pytest.raises(WorkbenchError, match="a run ends as finished, stopped, failed, not 'done'"):
        run.finish("done")

    other = RunStore(tmp_path).create(experiment)
    other.append_epoch(1, {"loss": 0.75}, 0.1)
    other.finish("stopped", "stopped by the user after 3 batches")
    assert _run_json(other)["final_metrics"] == {"loss": 0.75, "lr": 0.1}  # from the history
    assert _temporary_files(tmp_path) == []


def test_a_failed_finish_leaves_run_json_as_it_was(tmp_path, experiment, monkeypatch):
    run = RunStore(tmp_path).create(experiment)
    before = (run.path / "run.json").read_text()

    def crash(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio.os, "fsync", crash)
    with pytest.raises(WorkbenchError, match=r"run\.json: cannot be written \(No space left"):
        run.finish("finished")
    assert (run.path / "run.json").read_text() == before
    assert _temporary_files(tmp_path) == []


# ----------------------------------------------------------------- listing
def test_runs_are_listed_newest_first(tmp_path, experiment, clock):
    runs = RunStore(tmp_path)
    assert RunStore(tmp_path / "none").runs() == []
    first = [runs.create(experiment).id for _ in range(11)]  # -1 .. -11 in the same second
    clock.now += timedelta(seconds=1)
    latest = runs.create(experiment).id
    (tmp_path / "notes.txt").write_text("not a run")
    (tmp_path / ".hidden").mkdir()
    assert [info.id for info in runs.runs()] == [latest, *reversed(first)]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "run.json: missing"),
        ("", "run.json: is empty"),
        ('{"format": "keras-workbench/run", "vers', "run.json: is not valid JSON"),
        ("[1, 2]", "format: expected 'keras-workbench/run', found 'list'"),
        ('{"format": "keras-workbench/run", "version": 9}', "newer Keras Workbench; this one reads runs up"),
        ('{"format": "keras-workbench/run", "version": 1, "name": "a", "experiment": "e", '
         '"status": "running", "started": "x", "epochs": "three"}', "epochs: unexpected value 'three'"),
        ('{"format": "keras-workbench/run", "version": 1, "name": "a"}', "experiment: missing"),
    ],
)
def test_a_broken_run_json_is_listed_as_unreadable(tmp_path, experiment, content, reason):
    runs = RunStore(tmp_path)
    good = runs.create(experiment)
    good.finish("finished")
    broken = tmp_path / "20000101-000000-broken-1"
    broken.mkdir()
    if content is not None:
        (broken / "run.json").write_text(content)

    infos = runs.runs()
    assert [(info.id, info.status) for info in infos] == [(good.id, "finished"),
                                                          (broken.name, "unreadable")]
    assert reason in infos[1].reason and "\n" not in infos[1].reason
    with pytest.raises(WorkbenchError, match=re.escape(reason)):
        runs.open(broken.name)
    assert list(runs.groups()) == ["digits-cnn"]
    runs.delete(broken.name)  # an unreadable run can still be cleaned up
    assert [info.id for info in runs.runs()] == [good.id]


def test_open_finds_runs_by_id_only(tmp_path, experiment):
    runs = RunStore(tmp_path)
    run = runs.create(experiment)
    assert runs.open(run.id).path == run.path
    with pytest.raises(WorkbenchError, match="no run 'nothing-here' in"):
        runs.open("nothing-here")
    with pytest.raises(WorkbenchError, match="is not a run of"):
        runs.open(f"../{tmp_path.name}/{run.id}")


# ------------------------------------------------------------------ delete
def test_delete_removes_a_run_and_refuses_anything_outside_the_root(tmp_path, experiment):
    root = tmp_path / "runs"
    runs = RunStore(root)
    run = runs.create(experiment)
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "thesis.tex").write_text("years of work")
    (root / "link").symlink_to(outside, target_is_directory=True)

    for bad in ["../precious", str(outside), "", ".", "..", "link/..", "link"]:
        with pytest.raises(WorkbenchError, match="is not a run of|no run"):
            runs.delete(bad)
    with pytest.raises(WorkbenchError, match="no run 'missing'"):
        runs.delete("missing")
    assert (outside / "thesis.tex").read_text() == "years of work"

    with pytest.raises(WorkbenchError, match="still running: stop it before deleting it"):
        runs.delete(run.id)
    run.finish("stopped")
    runs.delete(run.id)
    assert not run.path.exists() and runs.runs() == []
    assert sorted(p.name for p in root.iterdir()) == ["link"]

    running = runs.create(experiment)
    runs.delete(running.id, force=True)
    assert not running.path.exists()


# ------------------------------------------------------- groups, aggregate
def test_groups_collect_the_seeds_of_an_experiment(tmp_path, experiment, clock):
    runs = RunStore(tmp_path)
    for seed in (0, 1, 2):
        experiment.training["seed"] = seed
        run = runs.create(experiment)
        for epoch in range(1, seed + 2):  # the seeds ran 1, 2 and 3 epochs
            run.append_epoch(epoch, {"loss": float(seed + epoch)}, None)
        run.finish("finished")
        clock.now += timedelta(seconds=1)
    other = Experiment.load(DEFAULT_EXPERIMENT)
    other.name = "wider"
    runs.create(other).finish("finished")

    groups = runs.groups()
    assert list(groups) == ["wider", "digits-cnn"]  # the newest run's group first
    assert [info.seed for info in groups["digits-cnn"]] == [2, 1, 0]
    assert [info.epochs for info in groups["digits-cnn"]] == [3, 2, 1]
    band = aggregate([runs.open(info.id).history() for info in groups["digits-cnn"]], "loss")
    # losses: seed 0 [1], seed 1 [2, 3], seed 2 [3, 4, 5]
    assert band["epoch"] == [1, 2, 3] and band["count"] == [3, 2, 1]
    assert band["mean"] == [2.0, 3.5, 5.0]
    assert band["min"] == [1.0, 3.0, 5.0] and band["max"] == [3.0, 4.0, 5.0]


def test_aggregate_over_runs_of_unequal_length():
    histories = [
        {"loss": [3.0, 2.0, 1.0]},
        {"loss": [5.0, 4.0]},
        {"loss": [1.0, math.nan, 0.5, 0.25]},  # a NaN does not poison the band
        {"accuracy": [0.5]},  # no loss at all: left out
    ]
    band = aggregate(histories, "loss")
    assert band["runs"] == 3
    assert band["epoch"] == [1, 2, 3, 4]
    assert band["count"] == [3, 2, 2, 1]
    assert band["mean"] == [3.0, 3.0, 0.75, 0.25]
    assert band["min"] == [1.0, 2.0, 0.5, 0.25]
    assert band["max"] == [5.0, 4.0, 1.0, 0.25]
    empty = aggregate([], "loss")
    assert empty == {"epoch": [], "mean": [], "min": [], "max": [], "count": [], "runs": 0}


# -------------------------------------------------------------- load_model
def test_load_model_reads_the_runs_checkpoint(tmp_path, experiment, keras):
    run = RunStore(tmp_path).create(experiment)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))
    model.save(run.checkpoint_path("final"))

    loaded = run.load_model()
    sample = np.arange(8, dtype="float32").reshape(2, 4)
    np.testing.assert_allclose(loaded.predict(sample, verbose=0), model.predict(sample, verbose=0))
    assert [layer.name for layer in loaded.layers][-1] == "head"
    with pytest.raises(WorkbenchError, match=r"has no best model \(best.keras\): saving the best"):
        run.load_model("best")
