"""Hyperparameter search (workbench.scale.search*): the space, KerasTuner trials as runs, the CLI."""

from __future__ import annotations

import copy
import gc
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.errors import ExperimentFileError, FormatError, WorkbenchError
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment
from workbench.runs import RunStore
from workbench.scale.search import (
    grid_note,
    grid_points,
    load_search,
    run_search,
    save_search_plot,
    trial_record,
)
from workbench.scale.search_space import apply_values, check_search
from workbench.tasks import RecordingProgress

ROOT = Path(__file__).resolve().parents[2]
SPACE = [
    {"target": "training.optimizer.learning_rate", "type": "float", "min": 1e-3, "max": 3e-2,
     "sampling": "log"},
    {"target": "training.optimizer.name", "type": "choice", "values": ["adam", "sgd", "rmsprop"]},
    {"target": "model.nodes.conv_1.filters", "type": "int", "min": 4, "max": 12, "step": 4},
    {"target": "model.nodes.dropout.rate", "type": "float", "min": 0.0, "max": 0.5, "step": 0.1},
]


def _document(space=None, objective="val_accuracy") -> dict:
    """default.json made tiny: 160 digits, one epoch, small convolutions."""
    data = json.loads(DEFAULT_EXPERIMENT.read_text())
    data["data"]["samples"] = 160
    data["training"]["epochs"] = 1
    for node in data["model"]["nodes"]:
        if node["type"] == "Conv2D":
            node["params"]["filters"] = 4
    data["search"] = {"objective": objective, "space": copy.deepcopy(space or SPACE)}
    return data


def _experiment(space=None, objective="val_accuracy") -> Experiment:
    return Experiment.from_dict(_document(space, objective))


# ------------------------------------------------------------------------------ space
@pytest.mark.parametrize("change, where", [
    (lambda s: s.update(space=[]), "search.space"),
    (lambda s: s["space"][0].update(target="model.nodes.nope.filters"), "search.space[0].target"),
    (lambda s: s["space"][2].update(target="model.nodes.conv_1.filterz"), "search.space[2].target"),
    (lambda s: s["space"][2].update(min=12, max=4), "search.space[2].max"),
    (lambda s: s["space"][1].update(values=[]), "search.space[1].values"),
    (lambda s: s["space"][1].update(values=["adam", "adam"]), "search.space[1].values"),
    (lambda s: s["space"][1].update(values=["adam", "nadam-typo"]), "search.space[1].values"),
    (lambda s: s["space"][3].update(max=1.5), "search.space[3].max"),
    (lambda s: s["space"][0].update(sampling="log", min=0.0), "search.space[0].min"),
    (lambda s: s["space"][0].update(type="integer"), "search.space[0].type"),
    (lambda s: s["space"][0].update(target="training.optimiser.learning_rate"),
     "search.space[0].target"),
    (lambda s: s["space"].append(dict(s["space"][0])), "search.space[4].target"),
    (lambda s: s.update(objective="val_auc"), "search.objective"),
    (lambda s: s.update(method="genetic"), "search.method"),
])
def test_bad_search_entries_name_their_json_path(change, where):
    experiment = _experiment()
    search = copy.deepcopy(experiment.search)
    change(search)
    with pytest.raises(FormatError) as error:
        check_search(search, experiment, catalog=True)
    assert error.value.where == where


def test_search_is_saved_loaded_and_checked_with_the_experiment(tmp_path):
    experiment = _experiment()
    assert experiment.search["space"] == SPACE and "search" not in experiment.extra
    path = experiment.save(tmp_path / "tuned.json")
    assert Experiment.load(path).search == experiment.search
    assert "search" not in Experiment.load(DEFAULT_EXPERIMENT).to_dict()
    document = _document()
    document["search"]["space"][2]["target"] = "model.nodes.missing.filters"
    # A node deleted or renamed since: the file still opens, and the search names it.
    loaded = Experiment.from_dict(document, "tuned.json")
    with pytest.raises(FormatError, match=r"no node 'missing'"):
        check_search(loaded.search, loaded, catalog=True)
    document["search"]["space"][2]["target"] = "model.conv_1"  # not a target at all
    with pytest.raises(ExperimentFileError, match=r"search\.space\[2\]\.target"):
        Experiment.from_dict(document, "tuned.json")


def test_apply_values_changes_exactly_the_targeted_parameters():
    experiment = _experiment()
    experiment.training["optimizer"]["beta_1"] = 0.8  # an Adam option that SGD does not take
    before = experiment.to_dict()
    changed = apply_values(experiment, {"model.nodes.conv_1.filters": 12,
                                        "model.nodes.dropout.rate": 0.30000000000000004,
                                        "training.optimizer.name": "sgd",
                                        "training.optimizer.learning_rate": 0.02})
    assert experiment.to_dict() == before  # the original is untouched
    after = changed.to_dict()
    nodes = {n["id"]: n for n in after["model"]["nodes"]}
    assert nodes["conv_1"]["params"]["filters"] == 12
    assert nodes["dropout"]["params"]["rate"] == 0.3
    assert after["training"]["optimizer"] == {"name": "sgd", "learning_rate": 0.02}
    # Nothing else moved: put the four values back and the documents are equal.
    nodes["conv_1"]["params"]["filters"] = 4
    nodes["dropout"]["params"]["rate"] = 0.2
    after["training"]["optimizer"] = before["training"]["optimizer"]
    assert after == before
    with pytest.raises(WorkbenchError, match="no node 'ghost'"):
        apply_values(experiment, {"model.nodes.ghost.units": 3})


def test_choices_of_any_json_values_travel_through_keras_tuner(keras):
    import keras_tuner

    from workbench.scale.search import declare, decode

    space = [
        {"target": "model.nodes.conv_1.kernel_size", "type": "choice", "values": [[3, 3], [5, 5]]},
        {"target": "model.nodes.conv_1.use_bias", "type": "choice", "values": [True, False]},
        {"target": "model.nodes.conv_1.activation", "type": "choice", "values": ["relu", None]},
        {"target": "model.nodes.conv_1.filters", "type": "choice", "values": [4, 8]},
        {"target": "model.nodes.dropout.rate", "type": "choice", "values": [0.1, 0.25]},
        {"target": "training.batch_size", "type": "int", "min": 16, "max": 64, "step": 16},
        {"target": "training.checkpoint_best", "type": "bool"},
    ]
    check_search({"space": space}, _experiment(), catalog=True)
    hp = keras_tuner.HyperParameters()
    declare(hp, space)
    assert decode(hp.values, space) == {
        "model.nodes.conv_1.kernel_size": [3, 3], "model.nodes.conv_1.use_bias": True,
        "model.nodes.conv_1.activation": "relu", "model.nodes.conv_1.filters": 4,
        "model.nodes.dropout.rate": 0.1, "training.batch_size": 16, "training.checkpoint_best": False}
    for parameter in hp.space[:5]:
        hp.values[parameter.name] = parameter.values[-1]
    last = decode(hp.values, space)
    assert [last[e["target"]] for e in space[:5]] == [[5, 5], False, None, 8, 0.25]
    assert type(last["model.nodes.conv_1.filters"]) is int


# ----------------------------------------------------------------------------- search
def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _MemoryWatch(RecordingProgress):
    """Records the process's resident memory after each trial."""

    def __init__(self):
        super().__init__()
        self.rss: list[float] = []

    def partial(self, result):
        super().partial(result)
        if result.get("kind") == "trial" and Path("/proc/self/status").exists():
            gc.collect()
            self.rss.append(_rss_mb())


def test_random_search_records_each_trial_as_a_run_in_flat_memory(tmp_path, keras):
    progress = _MemoryWatch()
    result = run_search(_experiment(), method="random", trials=6, runs_dir=tmp_path / "runs",
                        progress=progress, seed=1)
    assert result.status == "finished" and len(result.trials) == 6
    store = RunStore(tmp_path / "runs")
    assert len(store.runs()) == 6  # KerasTuner's own folder (.search) is not listed as a run
    for trial in result.trials:
        assert trial.status == "completed" and 0.0 <= trial.score <= 1.0
        run = store.open(trial.run.name)
        assert run.info().name == f"digits-cnn-trial-{trial.id}" and run.info().status == "finished"
        record = trial_record(run.path)
        assert record["trial"] == trial.id and record["values"] == trial.values
        assert record["score"] == pytest.approx(trial.score)
        assert run.info().final_metrics["val_accuracy"] == pytest.approx(trial.score)
        frozen = run.experiment()  # the run trained the trial's values
        assert frozen.graph.nodes["conv_1"].params["filters"] == trial.values["model.nodes.conv_1.filters"]
        assert frozen.training["optimizer"]["name"] == trial.values["training.optimizer.name"]
    assert result.best.score == max(t.score for t in result.trials)
    reports = [p for p in progress.partials if p.get("kind") == "trial"]
    assert [r["trial"] for r in reports] == [t.id for t in result.trials]
    assert progress.steps[-1][:2] == (6, 6)
    rows = result.results_table()
    assert [r["trial"] for r in rows] == [t.id for t in result.trials]
    assert sum(r["best"] for r in rows) == 1 and SPACE[0]["target"] in rows[0]
    save_search_plot(result, tmp_path / "search.png")
    assert (tmp_path / "search.png").read_bytes()[:4] == b"\x89PNG"
    again = load_search(_experiment(), tmp_path / "runs", result.search_id)  # from the files
    assert [t.to_dict() for t in again.trials] == [t.to_dict() for t in result.trials]
    # Memory: no trial's model outlives it, and resident memory grows by no more than what
    # TensorFlow 2.21 itself keeps per fitted model (its traced functions, about 6 MB for this
    # one even after clear_session: tensorflow/tensorflow#61791); the first trial warms caches.
    if progress.rss:
        print("resident memory after each trial (MB):", [round(m) for m in progress.rss])
        assert progress.rss[-1] - progress.rss[1] < 60, progress.rss
    gc.collect()
    assert len([o for o in gc.get_objects() if isinstance(o, keras.Model)]) <= 1


def test_a_grid_too_big_for_its_trials_is_named():
    space = [{"target": "training.optimizer.learning_rate", "type": "float", "min": 1e-4, "max": 1e-2,
              "sampling": "log"},
             {"target": "model.nodes.conv_1.filters", "type": "int", "min": 4, "max": 16, "step": 4}]
    assert grid_points(space) == 40  # KerasTuner counts 10 values for a float range without step
    note = grid_note(space, 3)
    assert "40 points" in note and "training.optimizer.learning_rate" in note and "give a step" in note
    assert grid_note(space[1:], 4) is None


def test_grid_search_covers_the_grid(tmp_path):
    space = [{"target": "training.optimizer.name", "type": "choice", "values": ["adam", "sgd"]},
             {"target": "model.nodes.conv_1.kernel_size", "type": "choice", "values": [[3, 3], [5, 5]]}]
    result = run_search(_experiment(space), method="grid", trials=10, runs_dir=tmp_path)
    combinations = {(t.values["training.optimizer.name"], tuple(t.values["model.nodes.conv_1.kernel_size"]))
                    for t in result.trials}
    assert len(result.trials) == 4
    assert combinations == set(itertools.product(["adam", "sgd"], [(3, 3), (5, 5)]))
    frozen = [RunStore(tmp_path).open(t.run.name).experiment() for t in result.trials]
    kernels = {tuple(e.graph.nodes["conv_1"].params["kernel_size"]) for e in frozen}
    assert kernels == {(3, 3), (5, 5)}


def test_cancel_stops_the_search_inside_a_trial(tmp_path):
    class CancelInSecondTrial(RecordingProgress):
        mark = None

        def partial(self, result):
            super().partial(result)
            if result.get("kind") == "trial":
                self.mark = len(self.steps)

        def cancelled(self):  # once the second trial has trained a few batches
            return self.mark is not None and len(self.steps) > self.mark + 2

    progress = CancelInSecondTrial()
    result = run_search(_experiment(), method="random", trials=5, runs_dir=tmp_path,
                        progress=progress)
    assert result.status == "stopped"
    assert [t.status for t in result.trials] == ["completed", "stopped"]
    stopped = RunStore(tmp_path).open(result.trials[1].run.name).info()
    assert stopped.status == "stopped"


def test_trials_that_all_fail_end_the_search_with_the_reason(tmp_path):
    space = [{"target": "training.optimizer.learning_rate", "type": "float", "min": 1e8, "max": 1e9}]
    experiment = _experiment(space)
    experiment.training["optimizer"]["name"] = "sgd"
    with pytest.raises(WorkbenchError, match="3 trials in a row failed.*loss"):
        run_search(experiment, method="random", trials=5, runs_dir=tmp_path)
    assert [RunStore(tmp_path).runs()[0].status] == ["failed"]


def test_a_search_needs_a_search_section(tmp_path):
    with pytest.raises(WorkbenchError, match="no search space"):
        run_search(Experiment.load(DEFAULT_EXPERIMENT), runs_dir=tmp_path)


def test_tune_command_prints_the_table_json_and_plot(tmp_path, capsys):
    from workbench.scale.tune_cli import main

    path = tmp_path / "tuned.json"
    path.write_text(json.dumps(_document()))
    plot = tmp_path / "scores.png"
    assert main([str(path), "--trials", "2", "--runs-dir", str(tmp_path / "runs"),
                 "--plot", str(plot), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)  # KerasTuner's own prints stay off stdout
    assert [t["trial"] for t in data["trials"]] == ["0", "1"] and data["method"] == "random"
    assert data["best"]["score"] == max(t["score"] for t in data["trials"])
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert main([str(DEFAULT_EXPERIMENT), "--trials", "2"]) == 1
    assert "no \"search\" section" in capsys.readouterr().err
    assert main([str(path), "--trials", "0"]) == 1
    assert "--trials must be at least 1" in capsys.readouterr().err


# ------------------------------------------------------------------------- distributed
def test_chief_and_two_workers_on_loopback_share_the_trials(tmp_path):
    # Three TensorFlow processes: 15-20 s on 2 idle cores (benchmarks/tune.py times it).
    path = tmp_path / "tuned.json"
    path.write_text(json.dumps(_document()))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-m", "workbench.scale.tune_cli", str(path), "--trials",
                           "4", "--workers", "2", "--runs-dir", str(tmp_path / "runs"), "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads(done.stdout)
    assert sorted(t["trial"] for t in data["trials"]) == ["0", "1", "2", "3"]
    assert all(t["status"] == "completed" for t in data["trials"])
    pids = {json.loads((Path(t["run"]) / "run.json").read_text())["pid"] for t in data["trials"]}
    assert len(pids) == 2  # both workers trained
    assert data["best"]["score"] == max(t["score"] for t in data["trials"])


def test_the_default_seed_repeats_its_trials(tmp_path, keras):
    # KerasTuner reads a seed of 0 as "no seed": the workbench's 0 must still repeat.
    first, second = (run_search(_experiment(), method="random", trials=2, runs_dir=tmp_path / f"r{i}",
                                epochs=1, seed=0) for i in range(2))
    assert [t.values for t in first.trials] == [t.values for t in second.trials]
