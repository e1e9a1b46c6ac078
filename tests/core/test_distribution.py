"""Distribution strategies: mirrored training on two logical CPUs matches one device, a real
two-worker run on localhost writes one run, and the config, TF_CONFIG and scaling-note checks.

Logical CPUs and multi-worker collectives can only be set up before TensorFlow starts, so the
training checks run in fresh Python processes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.errors import FormatError, WorkbenchError
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment
from workbench.scale.distribution import (
    ClusterTask,
    Distribution,
    make_strategy,
    parse_distribution,
    read_tf_config,
    scaling_note,
    writes_run,
)
from workbench.training import TrainingConfig, TrainingSession

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 5

# Trains the default experiment mirrored on /cpu:0 and /cpu:1, then on one device, same seed.
_MIRRORED_SCRIPT = """
import json, sys
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment
from workbench.runs import RunStore
from workbench.tasks import RecordingProgress
from workbench.training import TrainingSession

results = {}
for label, distribution in [("mirrored", {"name": "mirrored", "devices": ["/cpu:0", "/cpu:1"]}),
                            ("none", "none")]:
    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    experiment.training = {**experiment.training, "epochs": int(sys.argv[2]), "distribution": distribution}
    progress = RecordingProgress()
    result = TrainingSession(experiment, store=RunStore(sys.argv[1]), progress=progress).run()
    results[label] = {"status": result.status, "reason": result.reason,
                      "val_accuracy": result.history.get("val_accuracy"),
                      "messages": [m for _, _, m in progress.steps if m.startswith("training on")],
                      "device": result.run.info().device}
print("RESULT " + json.dumps(results))
"""


def _python(code: str, *args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for item in sockets:
        item.bind(("localhost", 0))
    ports = [item.getsockname()[1] for item in sockets]
    for item in sockets:
        item.close()
    return ports


def test_mirrored_on_two_logical_cpus_learns_like_one_device(tmp_path):
    process = _python(_MIRRORED_SCRIPT, str(tmp_path), str(EPOCHS))
    out, err = process.communicate(timeout=240)
    assert process.returncode == 0, err[-2000:]
    results = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
    mirrored, single = results["mirrored"], results["none"]
    assert mirrored["status"] == single["status"] == "finished", (mirrored["reason"], single["reason"])
    assert mirrored["device"] == "mirrored on /cpu:0, /cpu:1 (2 replicas)"
    assert single["device"] == "cpu"
    # The user sees how the batch is shared and how to scale the learning rate.
    assert "global batch 32 = 16 per replica x 2 replicas" in mirrored["messages"][0]
    assert "0.01 x 2 = 0.02" in mirrored["messages"][0]
    final_mirrored, final_single = mirrored["val_accuracy"][-1], single["val_accuracy"][-1]
    assert len(mirrored["val_accuracy"]) == EPOCHS
    assert final_mirrored > 0.85 and final_single > 0.85, (final_mirrored, final_single)
    assert abs(final_mirrored - final_single) < 0.03, (final_mirrored, final_single)
    print(f"final validation accuracy: mirrored {final_mirrored:.4f}, one device {final_single:.4f}")


def test_two_workers_on_localhost_write_one_run(tmp_path):
    data = json.loads(Path(DEFAULT_EXPERIMENT).read_text())
    # Few steps, no per-epoch checkpoint: collectives and saving a distributed model are slow.
    data["training"].update(distribution="multi-worker", batch_size=128, checkpoint_best=False)
    experiment = tmp_path / "experiment.json"
    experiment.write_text(json.dumps(data))
    runs, scratch = tmp_path / "runs", tmp_path / "scratch"
    scratch.mkdir()
    cluster = {"worker": [f"localhost:{port}" for port in _free_ports(2)]}
    code = "import sys; from workbench.cli import main; sys.exit(main(sys.argv[1:]))"
    workers = [
        _python(code, "train", str(experiment), "--epochs", "2", "--runs-dir", str(runs), "--json",
                env={"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}),
                     "TMPDIR": str(scratch)})
        for i in range(2)
    ]
    try:
        outputs = [worker.communicate(timeout=240) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
    for worker, (_, err) in zip(workers, outputs):
        assert worker.returncode == 0, err[-2000:]
    chief, other = (json.loads(out) for out, _ in outputs)
    assert chief["status"] == other["status"] == "finished"
    assert chief["run"] is not None and other["run"] is None  # only the chief keeps a run
    # Both workers computed the same synchronous steps.
    assert chief["final_metrics"]["val_loss"] == pytest.approx(other["final_metrics"]["val_loss"])
    folders = list(runs.iterdir())
    assert [f.name for f in folders] == [Path(chief["run"]).name]
    info = json.loads((folders[0] / "run.json").read_text())
    assert info["status"] == "finished" and info["epochs"] == 2
    assert info["device"].startswith("multi-worker: 2 workers, 2 replicas")
    assert not [p for p in scratch.iterdir() if p.name.startswith("workbench-worker-")]  # cleaned up


# ------------------------------------------------------------------- config
@pytest.mark.parametrize("value, expected", [
    ("none", Distribution()),
    ("mirrored", Distribution("mirrored")),
    ("Multi-Worker", Distribution("multi-worker")),
    ({"name": "mirrored"}, Distribution("mirrored")),
    ({"name": "mirrored", "devices": ["/CPU:0", "cpu:1", "/device:GPU:0"]},
     Distribution("mirrored", ("/cpu:0", "/cpu:1", "/gpu:0"))),
])
def test_distribution_values(value, expected):
    assert parse_distribution(value) == expected


@pytest.mark.parametrize("value, where, words", [
    ("horovod", "training.distribution", "'none', 'mirrored', 'multi-worker'"),
    (3, "training.distribution", "'none', 'mirrored', 'multi-worker'"),
    ({"name": "tpu"}, "training.distribution.name", "'none', 'mirrored', 'multi-worker'"),
    ({"name": "mirrored", "gpus": 2}, "training.distribution.gpus", "unknown key"),
    ({"name": "multi-worker", "devices": ["/gpu:0"]}, "training.distribution.devices", "only \"mirrored\""),
    ({"name": "mirrored", "devices": []}, "training.distribution.devices", "list of device names"),
    ({"name": "mirrored", "devices": ["gpu0"]}, "training.distribution.devices[0]", "/gpu:N or /cpu:N"),
    ({"name": "mirrored", "devices": ["/gpu:0", "gpu:0"]}, "training.distribution.devices", "twice"),
])
def test_bad_distributions_name_the_place_and_the_choices(value, where, words):
    with pytest.raises(FormatError) as caught:
        TrainingConfig.from_dict({"distribution": value})
    assert caught.value.where == where and words in caught.value.detail


def test_distribution_round_trips_and_the_default_is_left_out():
    assert "distribution" not in TrainingConfig.from_dict({}).to_dict()
    value = {"name": "mirrored", "devices": ["/cpu:0", "/cpu:1"]}
    config = TrainingConfig.from_dict({"distribution": value})
    assert config.to_dict()["distribution"] == value
    assert TrainingConfig.from_dict(config.to_dict()) == config
    assert TrainingConfig.from_dict({"distribution": "mirrored"}).to_dict()["distribution"] == "mirrored"


def test_a_distributed_run_does_not_also_pin_a_device():
    with pytest.raises(FormatError) as caught:
        TrainingConfig.from_dict({"distribution": "mirrored", "device": "gpu:0"})
    assert caught.value.where == "training.device" and "distribution.devices" in caught.value.detail


# ---------------------------------------------------------------- TF_CONFIG
def _tf_config(cluster=None, task=None) -> dict:
    cluster = {"worker": ["host0:2222", "host1:2222"]} if cluster is None else cluster
    task = {"type": "worker", "index": 0} if task is None else task
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": task})}


@pytest.mark.parametrize("environ, words", [
    ({}, "TF_CONFIG environment variable, which is not set"),
    ({"TF_CONFIG": "  "}, "not set"),
    ({"TF_CONFIG": "{cluster"}, "TF_CONFIG is not valid JSON"),
    ({"TF_CONFIG": "[1, 2]"}, "must be a JSON object"),
    ({"TF_CONFIG": json.dumps({"task": {"type": "worker", "index": 0}})}, '"cluster" is missing'),
    (_tf_config(cluster={"worker": "host0:2222"}), "cluster.worker: expected a list"),
    (_tf_config(cluster={"worker": ["host0"]}), "'host0' is not a \"host:port\" address"),
    (_tf_config(cluster={"worker": ["host0:99999"]}), "is not a \"host:port\" address"),
    (_tf_config(cluster={"worker": ["h:1"], "ps": ["p:1"]}), "parameter servers"),
    (_tf_config(cluster={"evaluator": ["h:1"]}), "no \"worker\" (or \"chief\") job"),
    ({"TF_CONFIG": json.dumps({"cluster": {"worker": ["h:1"]}})}, '"task" is missing'),
    (_tf_config(task={"type": "evaluator", "index": 0}), "task.type must be \"chief\" or \"worker\""),
    (_tf_config(task={"type": "chief", "index": 0}), "the cluster has no such job"),
    (_tf_config(task={"type": "worker", "index": 2}), "task.index must be a whole number from 0 to 1"),
    (_tf_config(task={"type": "worker", "index": "0"}), "got '0'"),
])
def test_bad_tf_config_is_named_with_what_is_wrong(environ, words):
    with pytest.raises(WorkbenchError) as caught:
        read_tf_config(environ)
    assert "TF_CONFIG" in str(caught.value) and words in str(caught.value)


def test_the_chief_writes_the_run():
    def task(environ) -> ClusterTask:
        return read_tf_config(environ)

    assert task(_tf_config()).is_chief and task(_tf_config()).workers == 2
    assert not task(_tf_config(task={"type": "worker", "index": 1})).is_chief
    with_chief = {"chief": ["c:1"], "worker": ["w0:1", "w1:1"]}
    assert task(_tf_config(with_chief, {"type": "chief", "index": 0})).is_chief
    assert not task(_tf_config(with_chief, {"type": "worker", "index": 0})).is_chief
    assert task(_tf_config(with_chief, {"type": "worker", "index": 1})).workers == 3
    assert writes_run(Distribution("mirrored"), {})  # no TF_CONFIG needed outside multi-worker
    assert not writes_run(Distribution("multi-worker"), _tf_config(task={"type": "worker", "index": 1}))


# -------------------------------------------------------------- scaling note
def test_scaling_note_gives_the_global_batch_and_the_scaled_rate():
    config = TrainingConfig.from_dict({"batch_size": 64, "optimizer": {"name": "sgd", "learning_rate": 0.05}})
    note = scaling_note(config, 4)
    assert "global batch 64 = 16 per replica x 4 replicas" in note
    assert "set batch_size to 256" in note and "0.05 x 4 = 0.2" in note
    assert "unequal" not in note
    assert "unequal shares" in scaling_note(TrainingConfig.from_dict({"batch_size": 10}), 3)
    assert scaling_note(config, 1) == "1 replica: batch 64, learning rate 0.05"


# --------------------------------------------------------- strategies here
def test_missing_devices_are_named_with_the_devices_found(keras):
    with pytest.raises(WorkbenchError) as caught:
        make_strategy(parse_distribution({"name": "mirrored", "devices": ["/gpu:7"]}))
    assert "/gpu:7 does not exist here (found: " in str(caught.value) and "/cpu:0" in str(caught.value)
    with pytest.raises(WorkbenchError) as caught:  # TensorFlow is running: too late to split the CPU
        make_strategy(parse_distribution({"name": "mirrored", "devices": ["/cpu:0", "/cpu:6"]}))
    assert "/cpu:6 does not exist" in str(caught.value) and "fresh process" in str(caught.value)


def test_a_failed_strategy_fails_the_run_with_its_reason(keras, tmp_path):
    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    experiment.training = {**experiment.training, "distribution": {"name": "mirrored", "devices": ["/gpu:7"]}}
    result = TrainingSession(experiment, epochs=1).run()
    assert result.status == "failed" and "/gpu:7 does not exist here" in result.reason


def test_multi_worker_needs_tf_config_and_a_fresh_process(keras, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(WorkbenchError, match="TF_CONFIG environment variable"):
        make_strategy(Distribution("multi-worker"))
    monkeypatch.setenv("TF_CONFIG", _tf_config()["TF_CONFIG"])
    with pytest.raises(WorkbenchError, match="fresh process"):  # Keras already started TensorFlow here
        make_strategy(Distribution("multi-worker"))


def test_other_backends_have_no_strategies(keras, monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(WorkbenchError) as caught:
        make_strategy(Distribution("mirrored"))
    assert "Keras runs on 'jax'" in str(caught.value) and "KERAS_BACKEND=tensorflow" in str(caught.value)
    assert make_strategy(Distribution()) is None
