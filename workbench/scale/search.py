"""Hyperparameter search over an experiment's ``"search"`` space, by KerasTuner.

KerasTuner chooses the values (random, grid, Bayesian optimisation, Hyperband) and runs the
chief/worker distribution; this module only connects it to the workbench:

* ``_hypermodel_class`` is a ``keras_tuner.HyperModel`` whose ``build(hp)`` applies the chosen
  values to a copy of the experiment (``apply_values``) and builds its model, and whose
  ``fit`` trains that experiment with a ``TrainingSession`` into the run store, so every trial
  is a run (named ``<experiment>-trial-<id>``, its values and score under ``"search"`` in its
  ``run.json``). The score is the objective at the trial's last epoch.
* The data are loaded once and shared by all trials; KerasTuner clears the Keras session
  before each trial's build, and nothing here keeps a trial's model, so memory stays flat.
* Progress: ``step(done, trials, message)`` through each trial and after it, and
  ``partial({"kind": "trial", "trial", "values", "score", "status", "message", "run"})`` after each
  trial (``{"kind": "trial_epoch", ...}`` after each of its epochs). Cancelling stops the
  running trial between batches (its run is kept as "stopped") and ends the search.

Distributed: with ``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP`` and
``KERASTUNER_ORACLE_PORT`` set, ``run_search`` in the process whose id contains "chief" serves
the oracle until every trial is done, and in the others asks it for trials (KerasTuner's own
gRPC protocol). All of them must share ``runs_dir`` and ``search_id``; ``load_search`` reads a
finished search back from disk. ``workbench tune --workers K`` starts such processes on one
machine (``workbench.scale.tune_cli``).
"""

from __future__ import annotations

import gc
import json
import math
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.experiment import Experiment
from workbench.fileio import write_atomic
from workbench.scale.search_space import (
    METHODS,
    apply_values,
    check_search,
    default_objective,
    objective_direction,
)
from workbench.tasks import NullProgress, Progress

SEARCH_DIR = ".search"  # under the runs folder: KerasTuner's state (hidden from run lists)
RECORD_KEY = "search"  # the run.json key holding a trial's search, id, values and score
MAX_CONSECUTIVE_FAILURES = 3
_TUNER_PREFIX = "tuner/"  # Hyperband's bookkeeping values (epochs, the trial it continues)
_STATUS = {"COMPLETED": "completed", "FAILED": "failed", "INVALID": "failed",
           "RUNNING": "running", "STOPPED": "stopped", "IDLE": "running"}


@dataclass
class TrialResult:
    """One trial of a search.

    Attributes:
        id: KerasTuner's trial id ("00", "01", ...), unique in its search.
        values: the value of each target, as plain JSON values.
        score: the objective at the trial's last epoch; None unless completed.
        status: "completed", "failed", "stopped" (cancelled) or "running".
        run: the trial's run folder (None when it failed before training, e.g. a shape error).
        message: why it failed.
    """

    id: str
    values: dict
    score: float | None
    status: str
    run: Path | None = None
    message: str | None = None

    def to_dict(self) -> dict:
        return {"trial": self.id, "values": dict(self.values), "score": self.score,
                "status": self.status, "run": str(self.run) if self.run else None,
                "message": self.message}


@dataclass
class SearchResult:
    """What a search found.

    Attributes:
        search_id: the search's name (its KerasTuner project and the runs' ``search.id``).
        method: random, grid, bayesian or hyperband.
        objective, direction: the metric and whether "min" or "max" is better.
        trials: every trial, by id.
        space: the search space entries (for plots and "apply best").
        directory: KerasTuner's project folder.
        status: "finished", or "stopped" when cancelled.
        seconds: wall time.
    """

    search_id: str
    method: str
    objective: str
    direction: str
    trials: list[TrialResult] = field(default_factory=list)
    space: list[dict] = field(default_factory=list)
    directory: Path | None = None
    status: str = "finished"
    seconds: float = 0.0

    @property
    def best(self) -> TrialResult | None:
        """The completed trial with the best score, or None."""
        scored = [t for t in self.trials if t.status == "completed" and t.score is not None]
        if not scored:
            return None
        pick = max if self.direction == "max" else min
        return pick(scored, key=lambda t: t.score)

    @property
    def targets(self) -> list[str]:
        return [entry["target"] for entry in self.space]

    def results_table(self) -> list[dict]:
        """One row per trial: ``trial``, each target, the objective, ``status``, ``run``."""
        best = self.best
        rows = []
        for trial in self.trials:
            row: dict[str, Any] = {"trial": trial.id}
            row.update({target: trial.values.get(target) for target in self.targets})
            row[self.objective] = trial.score
            row["status"] = trial.status
            row["best"] = best is not None and trial.id == best.id
            row["run"] = str(trial.run) if trial.run else None
            rows.append(row)
        return rows

    def to_dict(self) -> dict:
        best = self.best
        return {"search": self.search_id, "method": self.method, "objective": self.objective,
                "direction": self.direction, "status": self.status,
                "seconds": round(self.seconds, 2), "directory": str(self.directory),
                "best": best.to_dict() if best else None,
                "trials": [t.to_dict() for t in self.trials]}


def new_search_id(experiment: Experiment) -> str:
    """A fresh, readable, unique name for a search of ``experiment``."""
    from workbench.runs.store import slugify

    return f"{slugify(experiment.name)}-{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def run_search(experiment: Experiment, method: str = "random", trials: int = 10,
               runs_dir: str | os.PathLike = "runs", progress: Progress | None = None,
               epochs: int | None = None, directory: str | os.PathLike | None = None,
               dataset=None, seed: int = 0, search_id: str | None = None) -> SearchResult:
    """Search the experiment's ``"search"`` space with KerasTuner.

    Args:
        experiment: has a ``search`` section (checked here against the layer catalog).
        method: "random", "grid", "bayesian" or "hyperband".
        trials: how many trials at most (grid stops when the grid is covered; Hyperband
            stops at this count or when its brackets are done).
        runs_dir: where the trials' run folders go.
        progress: step/partial reports; cancelling ends the search after stopping the trial.
        epochs: epochs per trial (Hyperband's most epochs); default the experiment's.
        directory: KerasTuner's folder (default ``<runs_dir>/.search``).
        dataset: already loaded data; loaded once from the experiment when None.
        seed: seeds KerasTuner's choices (training keeps the experiment's own seed).
        search_id: the project name; give the same one to a chief and its workers (or to
            resume a search); a new one when None.

    Returns:
        The trials this process knows: all of them in-process and on the chief, the ones it
        ran on a worker.

    Raises:
        WorkbenchError: no or a bad search section, bad arguments, KerasTuner missing, or
            every trial failing in a row (with the last reason).
    """
    progress = progress or NullProgress()
    plan = _plan(experiment, method, trials, runs_dir, progress, epochs, directory, seed, search_id)
    kt = keras_tuner_module()
    from keras_tuner.src.distribute import utils as distribute

    if dataset is None and not distribute.is_chief_oracle():  # the chief trains nothing
        from workbench.data import load_dataset

        dataset = load_dataset(experiment.data_for_loading(), progress)
    plan.dataset = dataset
    try:
        tuner = _make_tuner(plan)  # KerasTuner builds the model once to learn the space
    except kt.errors.FailedTrialError as error:
        raise WorkbenchError(f"experiment {experiment.name!r}: {error}") from None
    if distribute.has_chief_oracle() and not distribute.is_chief_oracle():
        _wait_for_chief(progress)
    started = time.monotonic()
    status = "finished"
    try:
        tuner.search(verbose=0)
    except _cancelled_class():
        status = "stopped"
    except kt.errors.FatalError as error:
        raise WorkbenchError(str(error)) from None
    except RuntimeError as error:  # the oracle's "Number of consecutive failures exceeded"
        if "consecutive failures" not in str(error):
            raise
        last = plan.last_failure or str(error).splitlines()[0]
        raise WorkbenchError(f"search {plan.search_id}: {MAX_CONSECUTIVE_FAILURES} trials in a row "
                             f"failed; the last: {last}") from None
    finally:
        plan.dataset = None
    if distribute.has_chief_oracle() and not distribute.is_chief_oracle():
        known = list(plan.ended.values())  # a worker sees only its own trials
    else:
        known = list(tuner.oracle.trials.values())
    result = _result(plan, known, status, time.monotonic() - started)
    del tuner
    gc.collect()
    return result


def load_search(experiment: Experiment, runs_dir: str | os.PathLike, search_id: str,
                method: str = "random", directory: str | os.PathLike | None = None) -> SearchResult:
    """Read a search back from KerasTuner's trial files and the runs (after a distributed one).

    Raises:
        WorkbenchError: no such search.
    """
    keras_tuner_module()
    from keras_tuner.engine.trial import Trial

    plan = _plan(experiment, method, 1, runs_dir, NullProgress(), None, directory, 0, search_id)
    project = plan.directory / search_id
    if not project.is_dir():
        raise WorkbenchError(f"{project}: no search {search_id!r} here")
    files = sorted(project.glob("trial_*/trial.json"))
    return _result(plan, [Trial.load(str(f)) for f in files], "finished", 0.0)


def trial_record(run_path: str | os.PathLike) -> dict | None:
    """The ``"search"`` record of a run made by a search trial, or None for other runs."""
    from workbench.runs.runfile import read_run_file

    try:
        record = read_run_file(Path(run_path)).get(RECORD_KEY)
    except WorkbenchError:
        return None
    return record if isinstance(record, dict) else None


def keras_tuner_module():
    """``keras_tuner``, imported on first use (after Keras, so TensorFlow starts quietly)."""
    from workbench.backend import keras_module

    keras_module()
    try:
        import keras_tuner
    except ImportError:
        raise WorkbenchError("hyperparameter search needs KerasTuner: pip install keras-tuner") from None
    return keras_tuner


def _wait_for_chief(progress, timeout: float = 600.0) -> None:
    """Wait until the chief's oracle accepts connections.

    gRPC backs off for longer and longer (up to minutes) while a server is not up yet, so a
    worker that asks before the chief listens would idle long after it does.
    """
    import socket

    address = (os.environ["KERASTUNER_ORACLE_IP"], int(os.environ["KERASTUNER_ORACLE_PORT"]))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not progress.cancelled():
        try:
            with socket.create_connection(address, timeout=1.0):
                return
        except OSError:
            time.sleep(0.1)
    # Not up yet: KerasTuner's own wait (an hour) takes over.


# ------------------------------------------------------------------------------- plan
@dataclass
class _Plan:
    """Everything a trial needs, shared by the tuner, the hypermodel and the result."""

    experiment: Experiment
    method: str
    trials: int
    runs_dir: Path
    directory: Path
    search_id: str
    space: list[dict]
    objective: str
    direction: str
    progress: Any
    epochs: int | None
    seed: int
    dataset: Any = None
    done: int = 0
    last_failure: str | None = None
    runs: dict[str, Path] = field(default_factory=dict)  # trial id -> run folder
    ended: dict[str, Any] = field(default_factory=dict)  # trial id -> KerasTuner Trial


def _plan(experiment, method, trials, runs_dir, progress, epochs, directory, seed,
          search_id) -> _Plan:
    if experiment.search is None:
        raise WorkbenchError(f"experiment {experiment.name!r} has no search space: add a \"search\" "
                             "section with an objective and the values to try")
    if method not in METHODS:
        raise WorkbenchError(f"unknown search method {method!r}: choose {', '.join(METHODS)}")
    for label, value in (("trials", trials), ("epochs", epochs)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise WorkbenchError(f"{label} must be a whole number >= 1 (got {value!r})")
    try:
        search = check_search(experiment.search, experiment, catalog=True)
    except WorkbenchError as error:
        raise WorkbenchError(f"experiment {experiment.name!r}: {error}") from None
    objective = search.get("objective") or default_objective(experiment)
    runs_dir = Path(runs_dir)
    return _Plan(experiment, method, trials, runs_dir,
                 Path(directory) if directory else runs_dir / SEARCH_DIR,
                 search_id or new_search_id(experiment), search["space"], objective,
                 objective_direction(search, objective), progress, epochs, seed)


def _tuner_seed(seed: int) -> int:
    """KerasTuner's oracles take a seed of 0 for "no seed" (``seed or random.randint``): shift
    every seed by one so 0, the default, repeats its trials like any other seed."""
    return int(seed) + 1


def _make_tuner(plan: _Plan):
    kt = keras_tuner_module()
    objective = kt.Objective(plan.objective, direction=plan.direction)
    common = {"hypermodel": _hypermodel_class()(plan), "objective": objective, "seed": _tuner_seed(plan.seed),
              "directory": str(plan.directory), "project_name": plan.search_id,
              "overwrite": False, "max_consecutive_failed_trials": MAX_CONSECUTIVE_FAILURES}
    cls = _tuner_class(plan.method)
    if plan.method == "hyperband":
        max_epochs = plan.epochs or int(plan.experiment.training.get("epochs", 10))
        tuner = cls(max_epochs=max_epochs, factor=3, hyperband_iterations=1, **common)
        tuner.oracle.max_trials = plan.trials  # Hyperband has no trial budget of its own
        return tuner
    if plan.method == "bayesian":
        # KerasTuner's default of 3 random points per dimension would use up a small budget.
        initial = max(2, min(3 * len(plan.space), plan.trials // 2))
        return cls(max_trials=plan.trials, num_initial_points=initial, **common)
    return cls(max_trials=plan.trials, **common)


# --------------------------------------------------------------------- values <-> KerasTuner
def _encoded(entry: dict) -> bool:
    """Whether a choice's values travel through KerasTuner as JSON text: KerasTuner's Choice
    takes values of one type, int, float or str (it turns booleans into ints), and kernel
    sizes are lists."""
    kinds = {type(v) for v in entry["values"]}
    return len(kinds) > 1 or not kinds <= {str, int, float}


def declare(hp, space: list[dict]) -> None:
    """Declare the space's hyperparameters on a ``keras_tuner.HyperParameters``."""
    for entry in space:
        name, kind = entry["target"], entry["type"]
        if kind == "choice":
            values = entry["values"]
            hp.Choice(name, [json.dumps(v) for v in values] if _encoded(entry) else values)
        elif kind == "bool":
            hp.Boolean(name)
        elif kind == "int":
            hp.Int(name, entry["min"], entry["max"], step=entry.get("step"),
                   sampling=entry.get("sampling", "linear"))
        else:
            hp.Float(name, float(entry["min"]), float(entry["max"]), step=entry.get("step"),
                     sampling=entry.get("sampling", "linear"))


def grid_points(space: list[dict]) -> int:
    """How many points a grid search over ``space`` has, as KerasTuner counts them (a float
    range without a step counts 10 values)."""
    kt = keras_tuner_module()
    hp = kt.HyperParameters()
    declare(hp, space)
    points = 1
    for parameter in hp.space:
        points *= len(list(parameter.values))
    return points


def grid_note(space: list[dict], trials: int) -> str | None:
    """What a grid search of ``trials`` trials leaves out, or None when it covers the grid."""
    points = grid_points(space)
    if trials >= points:
        return None
    stepless = [entry["target"] for entry in space
                if entry["type"] == "float" and entry.get("step") is None]
    return (f"the grid has {points:,} points and {trials} trial(s) try only the first of them"
            + (f"; a float range without a step counts 10 values ({', '.join(stepless)}): give a "
               "step, or more trials" if stepless else "; give more trials"))


def decode(values: dict, space: list[dict]) -> dict:
    """KerasTuner's values as plain target values (Hyperband's ``tuner/*`` left out)."""
    entries = {entry["target"]: entry for entry in space}
    plain = {}
    for name, value in values.items():
        if name.startswith(_TUNER_PREFIX) or name not in entries:
            continue
        entry = entries[name]
        if entry["type"] == "choice" and _encoded(entry) and isinstance(value, str):
            value = json.loads(value)
        elif isinstance(value, float) and math.isfinite(value):
            value = float(f"{value:.10g}")
        plain[name] = value
    return plain


# -------------------------------------------------------------------- KerasTuner classes
@lru_cache(maxsize=1)
def _cancelled_class() -> type:
    """Raised to end a search on cancel: a KerasTuner ``FatalError``, so it is not taken for
    a failed trial and leaves ``tuner.search``."""
    kt = keras_tuner_module()
    return type("SearchCancelled", (kt.errors.FatalError,), {})


@cache
def _tuner_class(method: str) -> type:
    kt = keras_tuner_module()
    base = {"random": kt.RandomSearch, "grid": kt.GridSearch,
            "bayesian": kt.BayesianOptimization, "hyperband": kt.Hyperband}[method]
    return type(f"Workbench{base.__name__}", (_TunerHooks, base), {})


class _TunerHooks:
    """Hooks of KerasTuner's tuner loop: cancel between trials, the trial id for its run,
    and the report after each trial."""

    def pre_create_trial(self):
        if self.hypermodel.plan.progress.cancelled():
            raise _cancelled_class()("the search was cancelled")
        super().pre_create_trial()

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self.hypermodel.trial_id = trial.trial_id
        self.hypermodel.checkpoint = self._get_checkpoint_fname(trial.trial_id)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)  # the oracle scores and records it
        self.hypermodel.trial_ended(self.oracle.get_trial(trial.trial_id))


@lru_cache(maxsize=1)
def _hypermodel_class() -> type:
    kt = keras_tuner_module()
    return type("ExperimentHyperModel", (_HyperModelMixin, kt.HyperModel), {})


class _HyperModelMixin:
    """The experiment as a KerasTuner hypermodel (see the module docstring)."""

    def __init__(self, plan: _Plan):
        super().__init__(name=plan.experiment.name)
        self.plan = plan
        self.trial_id = "0"
        self.checkpoint: str | None = None

    def declare_hyperparameters(self, hp):
        declare(hp, self.plan.space)

    def build(self, hp):
        from workbench.graph.convert import build_model

        kt = keras_tuner_module()
        experiment = apply_values(self.plan.experiment, decode(hp.values, self.plan.space))
        try:
            return build_model(experiment.graph).model
        except WorkbenchError as error:  # e.g. a kernel larger than its input: this trial only
            raise kt.errors.FailedTrialError(f"the model cannot be built: {error}") from None

    def fit(self, hp, model, *args, **kwargs):
        from workbench.graph.convert import collect_weights
        from workbench.runs import RunStore
        from workbench.training import TrainingSession

        kt = keras_tuner_module()
        plan, trial_id = self.plan, self.trial_id
        values = decode(hp.values, plan.space)
        experiment = apply_values(plan.experiment, values)
        # Its own name, so the runs of a search are not grouped as seeds of one experiment.
        experiment.name = f"{plan.experiment.name}-trial-{trial_id}"
        epochs, weights = plan.epochs, None
        if _TUNER_PREFIX + "epochs" in hp.values:  # Hyperband: continue a trial, or start one
            epochs = hp.values[_TUNER_PREFIX + "epochs"] - hp.values.get(_TUNER_PREFIX + "initial_epoch", 0)
            if _TUNER_PREFIX + "trial_id" in hp.values:
                weights = collect_weights(model)  # KerasTuner loaded that trial's checkpoint
        record = {"id": plan.search_id, "method": plan.method, "trial": trial_id,
                  "objective": plan.objective, "values": values, "score": None}
        store = _TrialStore(RunStore(plan.runs_dir), experiment.name, record)
        session = TrainingSession(experiment, dataset=plan.dataset, store=store, weights=weights,
                                  progress=_TrialProgress(plan, trial_id), epochs=epochs)
        result = session.run()
        if store.run is not None:
            plan.runs[trial_id] = store.run.path
        if result.status == "stopped" and plan.progress.cancelled():
            raise _cancelled_class()(f"the search was cancelled during trial {trial_id}")
        if result.status != "finished":
            plan.last_failure = result.reason or result.status
            raise kt.errors.FailedTrialError(plan.last_failure)
        metrics = {k: float(v) for k, v in result.final_metrics.items() if math.isfinite(v)}
        if plan.objective not in metrics:
            raise kt.errors.FatalError(
                f"the objective {plan.objective!r} is not among the training's metrics "
                f"({', '.join(sorted(metrics))}): name one of them in search.objective")
        if plan.method == "hyperband" and self.checkpoint:  # the next round continues from it
            Path(self.checkpoint).parent.mkdir(parents=True, exist_ok=True)
            result.model.save_weights(self.checkpoint)
        return metrics

    def trial_ended(self, trial) -> None:
        plan = self.plan
        plan.ended[trial.trial_id] = trial
        plan.done += 1
        status = _STATUS.get(trial.status, "failed")
        score = _score(trial) if status == "completed" else None
        run = plan.runs.get(trial.trial_id)
        if run is not None:
            _update_record(run, {"score": score, "status": status})
        values = decode(trial.hyperparameters.values, plan.space)
        message = _last_line(getattr(trial, "message", None)) if status == "failed" else None
        shown = f"{plan.objective} {score:.4g}" if score is not None else status
        plan.progress.step(plan.done, plan.trials, f"trial {trial.trial_id}: {shown}"
                           + (f": {message}" if message else ""))
        plan.progress.partial({"kind": "trial", "trial": trial.trial_id, "values": values,
                               "score": score, "status": status, "message": message,
                               "run": str(run) if run else None})


def _last_line(text: str | None) -> str | None:
    """The reason in KerasTuner's failure message (a traceback ends with it)."""
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else None


class _TrialStore:
    """A ``RunStore`` front for one trial: names the run and records the trial in it."""

    def __init__(self, store, name: str, record: dict):
        self.store, self.name, self.record = store, name, record
        self.run = None

    def create(self, experiment, name=None):
        self.run = self.store.create(experiment, name=self.name)
        _update_record(self.run.path, self.record)
        return self.run


class _TrialProgress:
    """A trial's training reports as part of the search's progress."""

    def __init__(self, plan: _Plan, trial_id: str):
        self.plan, self.trial_id = plan, trial_id

    def step(self, done: float, total: float | None = None, message: str = "") -> None:
        share = min(done / total, 1.0) if total else 0.0
        self.plan.progress.step(self.plan.done + share, self.plan.trials,
                                f"trial {self.trial_id}: {message}")

    def partial(self, result: Any) -> None:
        if isinstance(result, dict) and result.get("kind") == "epoch":
            self.plan.progress.partial({"kind": "trial_epoch", "trial": self.trial_id,
                                        "epoch": result.get("epoch"), "logs": result.get("logs")})

    def cancelled(self) -> bool:
        return self.plan.progress.cancelled()


def _update_record(run_path: Path, changes: dict) -> None:
    from workbench.runs.runfile import read_run_file, write_run_file

    data = read_run_file(run_path)
    record = data.get(RECORD_KEY) if isinstance(data.get(RECORD_KEY), dict) else {}
    data[RECORD_KEY] = {**record, **changes}
    try:
        write_run_file(run_path, data)
    except OSError as error:
        raise WorkbenchError(f"{run_path}: cannot record the trial ({error.strerror or error})") from None


def _score(trial) -> float | None:
    score = getattr(trial, "score", None)
    return float(score) if score is not None and math.isfinite(score) else None


# --------------------------------------------------------------------------- results
def _trial_runs(runs_dir: Path, search_id: str) -> dict[str, tuple[Path, str]]:
    """The runs of a search by trial id, with their status (found through their records)."""
    from workbench.runs import RunStore

    found = {}
    for info in RunStore(runs_dir).runs():
        record = trial_record(info.path)
        if record and record.get("id") == search_id and isinstance(record.get("trial"), str):
            found[record["trial"]] = (info.path, info.status)
    return found


def _result(plan: _Plan, trials: list, status: str, seconds: float) -> SearchResult:
    runs = _trial_runs(plan.runs_dir, plan.search_id)
    rows = []
    for trial in sorted(trials, key=lambda t: t.trial_id):
        state = _STATUS.get(trial.status, "failed")
        run, run_status = runs.get(trial.trial_id, (None, None))
        if state == "running" and run_status in ("stopped", "failed", "interrupted"):
            state = "stopped" if run_status != "failed" else "failed"
        message = getattr(trial, "message", None)
        if message:  # KerasTuner keeps the traceback; its last line says why
            message = message.strip().splitlines()[-1]
        rows.append(TrialResult(trial.trial_id, decode(trial.hyperparameters.values, plan.space),
                                _score(trial) if state == "completed" else None, state, run,
                                message))
    return SearchResult(plan.search_id, plan.method, plan.objective, plan.direction, rows,
                        [dict(e) for e in plan.space], plan.directory / plan.search_id, status,
                        seconds)


# ------------------------------------------------------------------------------ plot
def _trial_number(trial_id, fallback: int) -> int:
    try:
        return int(trial_id)
    except (TypeError, ValueError):
        return fallback


def save_search_plot(result: SearchResult, path: str | os.PathLike) -> None:
    """A PNG: the score of each trial (and the best so far), then the score against each
    hyperparameter (log axes for log-sampled ranges, categories for choices)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise WorkbenchError(f"{path}: the plot is written as PNG: name it *.png")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.ticker
    from matplotlib.figure import Figure

    scored = [t for t in result.trials if t.score is not None]
    panels = 1 + len(result.space)
    columns = min(panels, 3)
    rows = -(-panels // columns)
    figure = Figure(figsize=(4.2 * columns, 3.4 * rows), dpi=100)
    best = result.best
    axes = figure.add_subplot(rows, columns, 1)
    order = [_trial_number(t.id, i) for i, t in enumerate(scored)]  # as the table numbers them
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.plot(order, [t.score for t in scored], "o", color="#1f77b4", label=result.objective)
    running, best_so_far = None, []
    for trial in scored:
        better = running is None or (trial.score > running if result.direction == "max"
                                     else trial.score < running)
        running = trial.score if better else running
        best_so_far.append(running)
    axes.plot(order, best_so_far, "-", color="#d62728", label="best so far")
    axes.set_xlabel("trial")
    axes.set_ylabel(result.objective)
    axes.set_title(f"{result.method} search: {len(scored)} of {len(result.trials)} trials scored",
                   fontsize=9)
    axes.legend(fontsize=8)
    for index, entry in enumerate(result.space, start=2):
        axes = figure.add_subplot(rows, columns, index)
        target = entry["target"]
        values = [t.values.get(target) for t in scored]
        if entry["type"] in ("choice", "bool"):
            labels = [json.dumps(v) if not isinstance(v, str) else v
                      for v in (entry.get("values") or [False, True])]
            xs = [labels.index(json.dumps(v) if not isinstance(v, str) else v) for v in values]
            axes.set_xticks(range(len(labels)), labels, fontsize=8)
        else:
            xs = values
            if entry.get("sampling") == "log":
                axes.set_xscale("log")
                axes.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # no crowded labels
        axes.plot(xs, [t.score for t in scored], "o", color="#1f77b4", alpha=0.8)
        if best is not None and best in scored:
            axes.plot([xs[scored.index(best)]], [best.score], "*", color="#d62728", markersize=14)
        axes.set_xlabel(target.removeprefix("model.nodes.").removeprefix("training."), fontsize=8)
        axes.set_ylabel(result.objective, fontsize=8)
        axes.grid(True, alpha=0.2)
    figure.tight_layout()
    try:
        write_atomic(path, lambda tmp: figure.savefig(tmp, format="png"))
    except OSError as error:
        raise WorkbenchError(f"{path}: cannot write the plot ({error.strerror or error})") from None
