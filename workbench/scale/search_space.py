"""The experiment's ``"search"`` section: which values a hyperparameter search may try.

A search names an objective (a metric of the training logs, ``val_accuracy`` or ``val_loss``;
its direction is inferred from the name unless ``"direction"`` says) and a space of targets::

    {"objective": "val_accuracy", "space": [
        {"target": "training.optimizer.learning_rate", "type": "float",
         "min": 1e-4, "max": 1e-2, "sampling": "log"},
        {"target": "training.optimizer.name", "type": "choice", "values": ["adam", "sgd"]},
        {"target": "model.nodes.conv_1.filters", "type": "int", "min": 8, "max": 32, "step": 8},
        {"target": "model.nodes.dropout.rate", "type": "float", "min": 0.0, "max": 0.5, "step": 0.1}]}

A target is ``model.nodes.<node id>.<parameter>`` (any parameter of a top-level node) or
``training.<key>`` / ``training.<key>.<option>`` (the optimizer's name, rate and options,
the batch size, ...). ``"method"`` and ``"trials"`` may give the defaults of ``workbench tune``.

``check_search`` raises ``FormatError`` at ``search.space[i].<key>``. The experiment loader
calls it with ``catalog=False``, which needs no Keras (node ids, shapes of entries, ranges);
the search itself calls it with ``catalog=True``, which also checks that the parameter is one
the layer takes and that every value the search may try is one the layer and the training
section accept. ``apply_values`` sets chosen values on a copy of an experiment.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from typing import TYPE_CHECKING, Any

from workbench.errors import FormatError, WorkbenchError

if TYPE_CHECKING:
    from workbench.experiment import Experiment

METHODS = ("random", "grid", "bayesian", "hyperband")
TYPES = ("float", "int", "choice", "bool")
SAMPLINGS = ("linear", "log", "reverse_log")
DIRECTIONS = ("min", "max")
# Training keys that hold an object whose options a target may name (training.<key>.<option>).
_SECTIONS = ("optimizer", "early_stopping", "reduce_lr", "schedule")
_SEARCH_KEYS = ("objective", "direction", "space", "method", "trials")
_ENTRY_KEYS = {
    "float": ("target", "type", "min", "max", "step", "sampling"),
    "int": ("target", "type", "min", "max", "step", "sampling"),
    "choice": ("target", "type", "values"),
    "bool": ("target", "type"),
}
# Metric names whose smaller values are better; anything else (accuracy, auc, ...) is maximised.
_SMALLER_IS_BETTER = ("loss", "error", "mae", "mse", "crossentropy", "hinge", "divergence")


def check_search(search: Any, experiment: Experiment, catalog: bool = True) -> dict:
    """Check a search section against ``experiment``; return a normalised copy.

    Args:
        search: the parsed ``"search"`` value.
        experiment: the experiment whose graph and training section the targets name.
        catalog: also check parameters and values against the layer catalog and the training
            section's rules (imports Keras), and that every target node exists; without it
            (loading a file) only what the file itself shows, so a node renamed or deleted
            since does not make the file unreadable: the search names it when it starts.

    Raises:
        FormatError: at ``search``, ``search.<key>`` or ``search.space[i].<key>``.
    """
    if not isinstance(search, dict):
        raise FormatError("search", 'expected an object such as {"objective": "val_accuracy", '
                                    '"space": [...]}')
    unknown = sorted(set(search) - set(_SEARCH_KEYS), key=str)
    if unknown:
        raise FormatError(f"search.{unknown[0]}", f"unknown key: a search takes "
                                                  f"{', '.join(_SEARCH_KEYS)}")
    checked = copy.deepcopy(search)
    objective = search.get("objective", default_objective(experiment))
    if not isinstance(objective, str) or not objective.strip():
        raise FormatError("search.objective", "expected a metric name such as 'val_accuracy' or "
                                              "'val_loss'")
    direction = search.get("direction")
    if direction is not None and direction not in DIRECTIONS:
        raise FormatError("search.direction", f"expected 'min' or 'max' (got {direction!r})")
    method = search.get("method")
    if method is not None and method not in METHODS:
        raise FormatError("search.method", f"expected one of {', '.join(METHODS)} (got {method!r})")
    trials = search.get("trials")
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int) or trials < 1):
        raise FormatError("search.trials", f"expected a whole number >= 1 (got {trials!r})")
    space = search.get("space")
    if not isinstance(space, list) or not space:
        raise FormatError("search.space", "expected a non-empty list of {\"target\": ..., "
                                          "\"type\": ...} entries")
    seen: set[str] = set()
    for index, entry in enumerate(space):
        where = f"search.space[{index}]"
        _check_entry(entry, where)
        if entry["target"] in seen:
            raise FormatError(f"{where}.target", f"{entry['target']!r} is already in the space")
        seen.add(entry["target"])
        _check_target(entry, experiment, where, catalog)
    if catalog:
        _check_objective(objective, experiment)
    return checked


def default_objective(experiment: Experiment) -> str:
    """``val_accuracy`` when the experiment measures accuracy, else ``val_loss``."""
    metrics = experiment.training.get("metrics") or []
    return "val_accuracy" if isinstance(metrics, list) and "accuracy" in metrics else "val_loss"


def objective_direction(search: dict, objective: str | None = None) -> str:
    """"min" or "max": the search's ``direction``, else inferred from the metric's name."""
    if search.get("direction") in DIRECTIONS:
        return search["direction"]
    name = (objective or search.get("objective") or "val_loss").lower()
    return "min" if any(word in name for word in _SMALLER_IS_BETTER) else "max"


def apply_values(experiment: Experiment, values: dict[str, Any]) -> Experiment:
    """A copy of ``experiment`` with each target set to its value.

    ``values`` maps targets (``model.nodes.conv_1.filters``, ``training.optimizer.name``) to
    plain values. When the optimizer's name changes, options the new optimizer does not take
    (Adam's ``beta_1`` for SGD, a searched ``momentum`` for Adam) are dropped, as a
    conditional hyperparameter would be. The original experiment is not changed.

    Raises:
        WorkbenchError: a target is malformed or names a node the graph does not have.
    """
    from workbench.experiment import Experiment  # the document module imports this one

    copied = dataclasses.replace(
        experiment, graph=experiment.graph.clone(), data=copy.deepcopy(experiment.data),
        training=copy.deepcopy(experiment.training), extra=copy.deepcopy(experiment.extra),
        search=copy.deepcopy(experiment.search))
    assert isinstance(copied, Experiment)
    for target, value in values.items():
        value = _tidy(value)
        parts = target.split(".") if isinstance(target, str) else []
        if len(parts) == 4 and parts[:2] == ["model", "nodes"]:
            if parts[2] not in copied.graph.nodes:
                raise WorkbenchError(f"{target}: the model has no node {parts[2]!r}")
            copied.graph.set_param(parts[2], parts[3], value)
        elif len(parts) in (2, 3) and parts[0] == "training" and all(parts):
            section = copied.training
            if len(parts) == 3:
                if not isinstance(section.get(parts[1]), dict):
                    section[parts[1]] = {}
                section = section[parts[1]]
            section[parts[-1]] = value
        else:
            raise WorkbenchError(f"{target!r} is not a search target: use "
                                 "model.nodes.<node>.<parameter> or training.<key>[.<option>]")
    if any(isinstance(t, str) and t.startswith("training.optimizer.") for t in values):
        _drop_foreign_options(copied.training)
    return copied


# ----------------------------------------------------------------------------- internals
def _check_entry(entry: Any, where: str) -> None:
    if not isinstance(entry, dict):
        raise FormatError(where, 'expected an object such as {"target": "training.optimizer.'
                                 'learning_rate", "type": "float", "min": 1e-4, "max": 1e-2}')
    target = entry.get("target")
    if not isinstance(target, str) or not target:
        raise FormatError(f"{where}.target", "expected a target such as 'model.nodes.conv_1.filters' "
                                             "or 'training.optimizer.learning_rate'")
    kind = entry.get("type")
    if kind not in TYPES:
        raise FormatError(f"{where}.type", f"expected one of {', '.join(TYPES)} (got {kind!r})")
    unknown = sorted(set(entry) - set(_ENTRY_KEYS[kind]), key=str)
    if unknown:
        raise FormatError(f"{where}.{unknown[0]}", f"a {kind} entry takes "
                                                   f"{', '.join(_ENTRY_KEYS[kind])}")
    if kind == "choice":
        values = entry.get("values")
        if not isinstance(values, list) or not values:
            raise FormatError(f"{where}.values", "expected a non-empty list of values to try")
        keys = [json.dumps(v, sort_keys=True) for v in values]
        for i, key in enumerate(keys):
            if key in keys[:i]:
                raise FormatError(f"{where}.values", f"{values[i]!r} is listed twice")
    elif kind in ("float", "int"):
        _check_range(entry, kind, where)


def _check_range(entry: dict, kind: str, where: str) -> None:
    def number(key: str, required: bool = True):
        value = entry.get(key)
        if value is None and not required:
            return None
        whole = kind == "int"
        if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
            raise FormatError(f"{where}.{key}", f"expected {'a whole number' if whole else 'a number'}"
                                                f" (got {value!r})")
        if isinstance(value, float) and not math.isfinite(value):
            raise FormatError(f"{where}.{key}", "expected a finite number")
        return value

    low, high = number("min"), number("max")
    if not low < high:
        raise FormatError(f"{where}.max", f"must be greater than min ({low!r})")
    step = number("step", required=False)
    if step is not None and not step > 0:
        raise FormatError(f"{where}.step", f"must be greater than 0 (got {step!r})")
    sampling = entry.get("sampling", "linear")
    if sampling not in SAMPLINGS:
        raise FormatError(f"{where}.sampling", f"expected one of {', '.join(SAMPLINGS)} "
                                               f"(got {sampling!r})")
    if sampling != "linear" and not low > 0:
        raise FormatError(f"{where}.min", f"{sampling} sampling needs min > 0 (got {low!r})")


def _check_target(entry: dict, experiment: Experiment, where: str, catalog: bool) -> None:
    target = entry["target"]
    parts = target.split(".")
    if parts[0] == "model":
        if len(parts) != 4 or parts[1] != "nodes" or not all(parts):
            raise FormatError(f"{where}.target", f"{target!r}: a model target reads "
                                                 "model.nodes.<node id>.<parameter>")
        node_id, param = parts[2], parts[3]
        if node_id not in experiment.graph.nodes and not catalog:
            return  # loading a file: a node renamed or deleted since must not make it unreadable
        if node_id not in experiment.graph.nodes:
            known = ", ".join(sorted(experiment.graph.nodes))
            raise FormatError(f"{where}.target", f"the model has no node {node_id!r} "
                                                 f"(its nodes: {known})")
        node = experiment.graph.nodes[node_id]
        if node.block is not None or node.shares:
            raise FormatError(f"{where}.target", f"{node_id!r} has no parameters of its own "
                                                 "(a nested block or a shared layer)")
        if catalog:
            _check_layer_values(entry, node.type, param, node_id, node.params, where)
    elif parts[0] == "training":
        from workbench.training.config import TrainingConfig

        keys = {f.name for f in dataclasses.fields(TrainingConfig)} - {"extra"}
        if len(parts) not in (2, 3) or not all(parts) or parts[1] not in keys:
            raise FormatError(f"{where}.target", f"{target!r}: a training target reads "
                                                 f"training.<key> with a key among {', '.join(sorted(keys))}")
        if len(parts) == 3 and parts[1] not in _SECTIONS:
            raise FormatError(f"{where}.target", f"training.{parts[1]} has no options: "
                                                 f"use training.{parts[1]}")
        if len(parts) == 2 and parts[1] in _SECTIONS:
            raise FormatError(f"{where}.target", f"name one option of training.{parts[1]}, e.g. "
                                                 f"training.{parts[1]}.name")
        if catalog:
            _check_training_values(entry, experiment, where)
    else:
        raise FormatError(f"{where}.target", f"{target!r}: a target starts with model.nodes. or "
                                             "training.")


def _candidates(entry: dict) -> list:
    """The values that stand for everything the entry may produce: each choice, both ends."""
    if entry["type"] == "choice":
        return list(entry["values"])
    if entry["type"] == "bool":
        return [False, True]
    return [entry["min"], entry["max"]]


def _check_layer_values(entry: dict, node_type: str, param: str, node_id: str, params: dict,
                        where: str) -> None:
    from workbench.graph.catalog import layer_type

    described = layer_type(node_type)
    spec = described.param(param) if described is not None else None
    if spec is None:
        if param in params:
            return  # a parameter Keras' signature does not show (kwargs), set in the file
        raise FormatError(f"{where}.target", f"{node_type} layer {node_id!r} has no parameter "
                                             f"{param!r}")
    value_key = "values" if entry["type"] == "choice" else "max"
    if entry["type"] == "float" and spec.kind == "int":
        raise FormatError(f"{where}.type", f"{param} of {node_id!r} is a whole number: use "
                                           "\"type\": \"int\"")
    for value in _candidates(entry):
        problem = spec.check(value)
        if problem:
            key = "min" if entry["type"] in ("int", "float") and value == entry["min"] else value_key
            raise FormatError(f"{where}.{key}", f"{node_id}: {problem}")


def _check_training_values(entry: dict, experiment: Experiment, where: str) -> None:
    from workbench.training.config import TrainingConfig

    value_key = "values" if entry["type"] == "choice" else "max"
    for value in _candidates(entry):
        trial = apply_values(experiment, {entry["target"]: value})
        try:
            TrainingConfig.from_dict(trial.training)
        except FormatError as error:
            key = "min" if entry["type"] in ("int", "float") and value == entry["min"] else value_key
            raise FormatError(f"{where}.{key}", f"{error.where}: {error.detail}") from None


def _check_objective(objective: str, experiment: Experiment) -> None:
    metrics = experiment.training.get("metrics") or []
    names = {"loss", *(m for m in metrics if isinstance(m, str))}
    if "acc" in names:
        names.add("accuracy")
    base = objective[4:] if objective.startswith("val_") else objective
    if base not in names:
        options = ", ".join(sorted(f"val_{n}" for n in names))
        raise FormatError("search.objective", f"{objective!r} is not measured by this experiment's "
                                              f"training: choose one of {options}")


def _drop_foreign_options(training: dict) -> None:
    from workbench.training.config import _COMMON_OPTIONS, OPTIMIZERS

    optimizer = training.get("optimizer")
    if not isinstance(optimizer, dict):
        return
    name = optimizer.get("name", "adam")
    if not isinstance(name, str) or name.lower() not in OPTIMIZERS:
        return  # TrainingConfig names the bad optimizer
    allowed = set(_COMMON_OPTIONS) | set(OPTIMIZERS[name.lower()][1])
    for key in [k for k in optimizer if k not in allowed]:
        del optimizer[key]


def _tidy(value: Any) -> Any:
    # A stepped float range gives 0.30000000000000004; files and tables should read 0.3.
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.10g}")
    return value
