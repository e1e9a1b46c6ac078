"""Classic experiments of deep-learning courses, ready to run and compare.

A preset group is a folder of experiment files meant to be trained side by side, plus a
``group.json`` that names them and says what to look for::

    {
      "format": "keras-workbench/preset-group",
      "version": 1,
      "name": "Noise channels vs zero channels",
      "lesson": "What to look for, for people (shown above the curves).",
      "members": ["zeros.json", "noise.json"],
      "compare": {"metric": "val_accuracy", "metrics": ["accuracy"], "seeds": [0, 1, 2]}
    }

``compare`` says how the members are best compared: ``metric`` is the history key drawn first
(one curve per member), ``metrics`` more keys worth drawing, ``seeds`` the training seeds the
lesson is shown with (a band per member), ``evaluate`` (true/false) whether each trained model
is also scored on the validation data (per-class precision, recall, F1, ROC and PR curves:
``workbench.inspect.evaluation``), and ``focus_classes`` the classes the lesson is about (the
rare ones of an imbalanced set). Each member's own ``description`` says what it changes.

``bundled_presets()`` lists the groups shipped in ``experiments/presets/``; ``load_group``
reads any such folder; ``run_group`` trains every member with every seed (headless: the GUI's
Compare view calls it from a worker, the CLI from the main thread) and ``curves`` turns the
results into one mean/min/max band per member.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import ExperimentFileError, FormatError, WorkbenchError
from workbench.experiment import EXPERIMENTS_DIR, Experiment
from workbench.tasks import NullProgress, Progress

PRESETS_DIR = EXPERIMENTS_DIR / "presets"
GROUP_FILE = "group.json"
FORMAT = "keras-workbench/preset-group"
VERSION = 1

_KEYS = {"format", "version", "name", "lesson", "members", "compare"}
_COMPARE_KEYS = {"metric", "metrics", "seeds", "evaluate", "focus_classes"}


@dataclass
class Compare:
    """How the members of a group are compared.

    Attributes:
        metric: the history key drawn first ("val_accuracy", "val_loss", ...).
        metrics: more history keys worth drawing.
        seeds: the training seeds the lesson is shown with.
        evaluate: score each trained model on the validation data (per-class precision,
            recall, F1, ROC and PR curves) because accuracy alone hides the lesson.
        focus_classes: the class indices the lesson is about, if any.
    """

    metric: str = "val_accuracy"
    metrics: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0])
    evaluate: bool = False
    focus_classes: list[int] = field(default_factory=list)

    @property
    def keys(self) -> list[str]:
        """Every history key to draw, ``metric`` first."""
        return [self.metric] + [k for k in self.metrics if k != self.metric]

    def to_dict(self) -> dict:
        data: dict[str, Any] = {"metric": self.metric}
        if self.metrics:
            data["metrics"] = list(self.metrics)
        if self.seeds != [0]:
            data["seeds"] = list(self.seeds)
        if self.evaluate:
            data["evaluate"] = True
        if self.focus_classes:
            data["focus_classes"] = list(self.focus_classes)
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str = "compare") -> Compare:
        """Parse and check a compare section; raises ``FormatError`` at ``compare.<key>``."""
        if not isinstance(data, dict):
            raise FormatError(where, 'expected an object such as {"metric": "val_accuracy"}')
        unknown = sorted(set(data) - _COMPARE_KEYS)
        if unknown:
            raise FormatError(f"{where}.{unknown[0]}", f"compare takes {', '.join(sorted(_COMPARE_KEYS))}")
        metric = data.get("metric")
        if not isinstance(metric, str) or not metric:
            raise FormatError(f"{where}.metric", "expected a history key such as \"val_accuracy\"")
        metrics = data.get("metrics", [])
        if not isinstance(metrics, list) or not all(isinstance(m, str) and m for m in metrics):
            raise FormatError(f"{where}.metrics", "expected a list of history keys, e.g. [\"loss\"]")
        seeds = _whole_list(data.get("seeds", [0]), f"{where}.seeds", "training seeds, e.g. [0, 1, 2]")
        if not seeds:
            raise FormatError(f"{where}.seeds", "expected at least one seed")
        evaluate = data.get("evaluate", False)
        if not isinstance(evaluate, bool):
            raise FormatError(f"{where}.evaluate", "expected true or false")
        focus = _whole_list(data.get("focus_classes", []), f"{where}.focus_classes", "class indices")
        return cls(metric, list(metrics), seeds, evaluate, focus)


@dataclass
class PresetGroup:
    """Experiments to train and compare together, with the lesson they show.

    Attributes:
        key: the folder name ("noise_channels"), stable for scripts and settings.
        name: the title for people.
        lesson: what to look for in the curves.
        members: the experiments, in the order to show them (the first is the baseline).
        compare: how to compare them.
        path: the group's folder.
    """

    key: str
    name: str
    lesson: str
    members: list[Experiment]
    compare: Compare = field(default_factory=Compare)
    path: Path | None = None

    @property
    def member_names(self) -> list[str]:
        return [member.name for member in self.members]

    def member(self, name: str) -> Experiment:
        """The member experiment called ``name`` (its experiment name or file stem)."""
        for member in self.members:
            if name in (member.name, member.path.stem if member.path else None):
                return member
        raise ExperimentFileError(str(self.path or self.key), f"no member {name!r}; the members are "
                                  f"{', '.join(self.member_names)}")


@dataclass
class MemberRun:
    """One training run of one member with one seed.

    Attributes:
        member: the member's experiment name.
        seed: the training seed it ran with.
        result: the ``TrainingResult`` (status, history, model, run folder, ensemble scores).
        evaluation: the trained model scored on the validation data
            (``workbench.inspect.evaluation.Evaluation``) when the group asks for it.
    """

    member: str
    seed: int
    result: Any
    evaluation: Any = None

    @property
    def history(self) -> dict[str, list[float]]:
        return self.result.history


# ------------------------------------------------------------------------ loading
def bundled_presets() -> list[PresetGroup]:
    """The preset groups shipped with the workbench, in folder-name order."""
    if not PRESETS_DIR.is_dir():
        return []
    return [load_group(folder) for folder in sorted(PRESETS_DIR.iterdir())
            if (folder / GROUP_FILE).is_file()]


def find_preset(key: str) -> PresetGroup:
    """The bundled group with folder name (or name) ``key``; the error lists the choices."""
    groups = bundled_presets()
    for group in groups:
        if key in (group.key, group.name):
            return group
    raise ExperimentFileError(str(PRESETS_DIR), f"no lesson {key!r}; choose one of "
                              f"{', '.join(g.key for g in groups)}")


def load_group(folder: str | os.PathLike) -> PresetGroup:
    """Read a group folder (its ``group.json`` and member files).

    Raises:
        ExperimentFileError: naming the file and the JSON path of the first problem.
    """
    folder = Path(folder)
    path = folder / GROUP_FILE
    if not path.is_file():
        raise ExperimentFileError(str(folder), f"is not a preset group: it has no {GROUP_FILE}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ExperimentFileError(str(path), f"is not readable JSON ({error})") from None
    try:
        name, lesson, files, compare = _parse_group(data)
    except FormatError as error:
        raise ExperimentFileError(str(path), error.detail, error.where) from None
    members = []
    for index, file_name in enumerate(files):
        member_path = folder / file_name
        if not member_path.is_file():
            raise ExperimentFileError(str(path), f"names {file_name!r}, which is not in {folder}",
                                      f"members[{index}]")
        members.append(Experiment.load(member_path))
    names = [member.name for member in members]
    for index, member_name in enumerate(names):
        if member_name in names[:index]:
            raise ExperimentFileError(str(path), f"two members are called {member_name!r}: give "
                                      "each experiment its own name", f"members[{index}]")
    return PresetGroup(folder.name, name, lesson, members, compare, folder)


def _parse_group(data: Any) -> tuple[str, str, list[str], Compare]:
    if not isinstance(data, dict):
        raise FormatError("", "a group file must hold a JSON object")
    if data.get("format") != FORMAT:
        raise FormatError("format", f"expected {FORMAT!r}, found {data.get('format')!r}")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= VERSION:
        raise FormatError("version", f"this Keras Workbench reads version {VERSION} (got {version!r})")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise FormatError(unknown[0], f"is not a group key; the keys are {', '.join(sorted(_KEYS))}")
    for key in ("name", "lesson"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise FormatError(key, "expected a non-empty text")
    files = data.get("members")
    if not isinstance(files, list) or len(files) < 2:
        raise FormatError("members", "expected a list of at least two experiment files to compare")
    for index, file_name in enumerate(files):
        if (not isinstance(file_name, str) or not file_name.endswith(".json")
                or Path(file_name).name != file_name):
            raise FormatError(f"members[{index}]", "expected the name of a .json file in the group's folder")
        if file_name in files[:index]:
            raise FormatError(f"members[{index}]", f"{file_name} is listed twice")
    compare = Compare.from_dict(data.get("compare", {"metric": "val_accuracy"}))
    return data["name"], data["lesson"], list(files), compare


def _whole_list(value: Any, where: str, what: str) -> list[int]:
    if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        raise FormatError(where, f"expected a list of {what} (whole numbers >= 0)")
    return list(value)


# ------------------------------------------------------------------------ running
def run_group(group: PresetGroup, seeds: Sequence[int] | None = None, epochs: int | None = None,
              runs_dir: str | os.PathLike | None = None, progress: Progress | None = None,
              members: Sequence[str] | None = None) -> dict[str, list[MemberRun]]:
    """Train every member of ``group`` once per seed.

    Members with the same data section share one loaded dataset. Each run trains a copy of
    the member whose ``training.seed`` is the seed, so the members' files stay as they are.

    Args:
        group: the group.
        seeds: training seeds (default: the group's ``compare.seeds``).
        epochs: overrides every member's epoch count.
        runs_dir: record every run in this run store (one folder per run, grouped by member).
        progress: told "member k of n" with ``step``; every training report is relayed through
            ``partial`` with "member" and "seed" added; ``cancelled()`` stops after the
            current batch, keeping the runs so far.
        members: train only these members (names or file stems); default all.

    Returns:
        {member name: [MemberRun per seed]} in the group's order. A run that failed (a NaN
        loss, say) is kept with its status and reason: a diverging member can be the lesson.
    """
    from workbench.runs import RunStore
    from workbench.training import TrainingSession

    progress = progress or NullProgress()
    seeds = list(group.compare.seeds if seeds is None else seeds)
    chosen = group.members if members is None else [group.member(name) for name in members]
    store = RunStore(Path(runs_dir)) if runs_dir is not None else None
    total = len(chosen) * len(seeds)
    results: dict[str, list[MemberRun]] = {member.name: [] for member in chosen}
    datasets: dict[str, Any] = {}
    done = 0
    for member in chosen:
        for seed in seeds:
            if progress.cancelled():
                return results
            relay = _MemberProgress(progress, member.name, seed, done, total)
            relay.loading = True
            dataset = _dataset(member, datasets, relay)
            relay.loading = False
            if dataset is None:  # cancelled while loading
                return results
            experiment = copy.deepcopy(member)
            experiment.training = {**experiment.training, "seed": seed}
            result = TrainingSession(experiment, dataset=dataset, store=store, progress=relay,
                                     epochs=epochs).run()
            evaluation = None
            if group.compare.evaluate and result.model is not None and dataset.x_val is not None \
                    and result.status == "finished":
                from workbench.inspect.evaluation import evaluate

                evaluation = evaluate(result.model, dataset.x_val, dataset.y_val, dataset.class_names)
            results[member.name].append(MemberRun(member.name, seed, result, evaluation))
            done += 1
            progress.step(done, total, f"{member.name}, seed {seed}: {result.status}")
            if result.status == "stopped":
                return results
    return results


def curves(runs: dict[str, list[MemberRun]], key: str) -> dict[str, dict]:
    """One band per member for history key ``key``: ``workbench.runs.aggregate``'s per-epoch
    mean, min and max over the member's seeds."""
    from workbench.runs.aggregate import aggregate

    return {name: aggregate([run.history for run in member_runs], key)
            for name, member_runs in runs.items()}


# ---------------------------------------------------------------------- reading
def parse_seeds(text: str) -> list[int]:
    """"0,1,2" (commas and/or spaces) -> [0, 1, 2], repeats dropped; whole numbers >= 0."""
    parts = text.replace(",", " ").split()
    try:
        seeds = [int(part) for part in parts]
    except ValueError:
        seeds = None
    if not seeds or any(seed < 0 for seed in seeds):
        raise WorkbenchError(f"seeds are whole numbers >= 0 separated by commas, e.g. 0,1,2 "
                             f"(got {text!r})")
    return list(dict.fromkeys(seeds))


def summarize(group, runs: dict[str, list]) -> dict:
    """The numbers a lesson is read by, per member, from ``run_group``'s result.

    Returns:
        {"group", "name", "lesson", "metric", "focus_classes", "members": [...]}: each member
        with its runs (seed, status, reason, run folder, history, final value, focus-class
        scores, ensemble scores), ``final`` (mean, std, min, max, count of the compared metric's
        last value over the seeds), ``focus`` (mean precision, recall and F1 per focus class),
        ``ensemble`` (mean of each snapshot-ensemble score) and ``curve`` (the per-epoch mean,
        min and max band of ``workbench.presets.curves``).
    """
    metric = group.compare.metric
    focus = list(group.compare.focus_classes) if group.compare.evaluate else []
    bands = curves(runs, metric)
    members = []
    for name, member_runs in runs.items():
        rows = [_run_row(run, metric, focus) for run in member_runs]
        focus_means = []
        for index, cls in enumerate(focus):
            scores = [row["focus"][index] for row in rows if row["focus"] is not None]
            scores = [s for s in scores if s is not None]
            focus_means.append({"class": cls, "label": scores[0]["label"] if scores else str(cls),
                                **{key: _mean([s[key] for s in scores])
                                   for key in ("precision", "recall", "f1")}})
        ensemble_keys = sorted({k for row in rows if row["ensemble"] for k in row["ensemble"]
                                if k.startswith(("ensemble_", "final_"))})
        ensemble = {key: _mean([row["ensemble"][key] for row in rows
                                if row["ensemble"] and key in row["ensemble"]]) for key in ensemble_keys}
        members.append({"name": name, "seeds": [run.seed for run in member_runs],
                        "final": _stats([row["final"] for row in rows]), "focus": focus_means,
                        "ensemble": ensemble, "curve": bands[name], "runs": rows})
    return {"group": group.key, "name": group.name, "lesson": group.lesson, "metric": metric,
            "focus_classes": focus, "members": members}


def _run_row(run, metric: str, focus: list[int]) -> dict:
    values = run.history.get(metric) or []
    scores = None
    if run.evaluation is not None and focus:
        per_class = run.evaluation.per_class()  # computed once: it draws every ROC/PR curve
        scores = [{"label": per_class[c]["class"], "precision": per_class[c]["precision"],
                   "recall": per_class[c]["recall"], "f1": per_class[c]["f1"]}
                  if c < len(per_class) else None for c in focus]
    return {"seed": run.seed, "status": run.result.status, "reason": run.result.reason,
            "run": str(run.result.run.path) if run.result.run is not None else None,
            "final": float(values[-1]) if values else None, "focus": scores,
            "ensemble": dict(run.result.ensemble) if run.result.ensemble else None,
            "history": {key: [float(v) for v in column] for key, column in run.history.items()}}


def _finite(values) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def _mean(values) -> float | None:
    values = _finite(values)
    return math.fsum(values) / len(values) if values else None


def _stats(values) -> dict:
    finite = _finite(values)
    if not finite:
        return {"mean": None, "std": None, "min": None, "max": None, "count": 0}
    mean = math.fsum(finite) / len(finite)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in finite) / len(finite))
    return {"mean": mean, "std": std, "min": min(finite), "max": max(finite), "count": len(finite)}


def _dataset(member: Experiment, cache: dict[str, Any], progress: Progress):
    from workbench.data import load_dataset

    data = member.data_for_loading()
    key = json.dumps(data, sort_keys=True)
    if key not in cache:
        dataset = load_dataset(data, progress)
        if dataset is None:
            return None
        cache[key] = dataset
    return cache[key]


class _MemberProgress:
    """Relays one member's reports to the group's progress, tagged with member and seed."""

    def __init__(self, parent: Progress, member: str, seed: int, index: int, total: int):
        self.parent, self.member, self.seed = parent, member, seed
        self.index, self.total = index, total
        self.loading = False  # data loading reports its own steps: not the run's progress

    def step(self, done: float, total: float | None = None, message: str = "") -> None:
        fraction = done / total if total and not self.loading else 0.0
        self.parent.step(self.index + min(max(fraction, 0.0), 1.0), self.total,
                         f"{self.member}, seed {self.seed}: {message}")

    def partial(self, result: Any) -> None:
        if isinstance(result, dict):
            result = {**result, "member": self.member, "seed": self.seed}
        self.parent.partial(result)

    def cancelled(self) -> bool:
        return self.parent.cancelled()
