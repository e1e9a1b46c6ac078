"""What tells runs apart: the settings of their frozen experiments, compared.

``read_settings`` gives a run's frozen experiment as flat ``path -> value`` pairs
(``"training.optimizer.learning_rate": 0.01``, ``"model.dropout.rate": 0.2``). Node positions
and the description are left out: moving a card on the canvas does not change what trains.
``differences`` names the settings that differ between runs and ``describe`` words one for a
legend ("lr 0.01", "batch 64"); ``setup_key`` is the same for runs whose experiments (and
initial weights) differ only in their seed, which are the runs that may be averaged.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from workbench.errors import FormatError
from workbench.fileio import sha256_of
from workbench.runs.run import EXPERIMENT_FILE

SEED = "training.seed"
LEARNING_RATE = "training.optimizer.learning_rate"
BATCH_SIZE = "training.batch_size"
OPTIMIZER = "training.optimizer.name"
EPOCHS = "training.epochs"
WEIGHTS = "weights"

# How a legend names the settings people compare most; "" shows the value alone ("adam").
# Listed first, in this order, when they differ; other settings follow alphabetically.
_SHORT_NAMES = {
    "name": "",
    "data.source": "",
    OPTIMIZER: "",
    LEARNING_RATE: "lr",
    BATCH_SIZE: "batch",
    EPOCHS: "epochs",
    SEED: "seed",
}
_SECTIONS = ("model.", "data.", "training.")
_UNSET = "unset"
_VALUE_LENGTH = 24


def read_settings(folder: Path) -> dict[str, Any] | None:
    """The flat settings of the run in ``folder``, or None when its experiment.json is
    missing or unreadable (such a run is compared with nothing)."""
    try:
        experiment = json.loads((Path(folder) / EXPERIMENT_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return flatten(experiment) if isinstance(experiment, dict) else None


def flatten(experiment: dict) -> dict[str, Any]:
    """An experiment document as ``path -> value``; nodes are keyed by id, not list position,
    so that adding a layer does not make every later layer look changed."""
    flat: dict[str, Any] = {}
    for key, value in experiment.items():
        if key in ("format", "version", "description"):
            continue
        if key == "model" and isinstance(value, dict):
            _flatten_graph(value, "model.", flat)
        elif key == "training" and isinstance(value, dict):
            _flatten(_normalised_training(value), "training", flat)
        else:
            _flatten(value, key, flat)
    return flat


def differences(runs: list[dict[str, Any]]) -> list[str]:
    """The settings whose values are not the same in all of ``runs`` (a setting one run lacks
    differs from any value), the usual suspects first."""
    if len(runs) < 2:
        return []
    paths = set().union(*runs)
    differ = {path for path in paths if len({_hashable(run.get(path)) for run in runs}) > 1}
    known = [path for path in _SHORT_NAMES if path in differ]
    return known + sorted(differ - set(known))


def describe(path: str, value: Any) -> str:
    """One setting for a legend: "lr 0.01", "batch 64", "adam", "dropout.rate 0.3"."""
    name = _SHORT_NAMES.get(path)
    if name is None:
        name = next((path[len(s):] for s in _SECTIONS if path.startswith(s)), path)
    text = format_value(value)
    return f"{name} {text}" if name else text


def format_value(value: Any) -> str:
    """A setting's value in a few characters: numbers to 3 significant digits."""
    if value is None:
        return _UNSET
    if isinstance(value, float):
        return f"{value:.3g}"
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= _VALUE_LENGTH else text[:_VALUE_LENGTH - 1] + "…"


def setup_key(folder: Path, settings: dict[str, Any] | None,
              weights_digest: str | None = None) -> str | None:
    """A digest that runs share when their frozen experiments differ at most in the seed and
    they started from the same weights file (when there is one); None without ``settings``
    or when the weights file cannot be read (such a run is compared with nothing).

    ``weights_digest``: the weights file's digest as the run recorded it (``RunInfo``); runs
    made before it was recorded have their file read (once per session).
    """
    if settings is None:
        return None
    same = {path: value for path, value in settings.items() if path != SEED}
    if same.get(WEIGHTS):
        same[WEIGHTS] = weights_digest or _file_digest(Path(folder) / str(same[WEIGHTS]))
        if same[WEIGHTS] is None:
            return None
    text = json.dumps(same, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def seeds_text(seeds: list[int | None]) -> str:
    """The seeds of a group for people: "seed 0", "seeds 0, 1, 2", "seeds 0, 0" (reruns)."""
    words = [str(seed) if seed is not None else "random" for seed in
             sorted(seeds, key=lambda s: (s is None, s or 0))]
    return ("seed " if len(words) == 1 else "seeds ") + ", ".join(words)


# ------------------------------------------------------------------ internals
def _normalised_training(training: dict) -> dict:
    """The training section with its defaults written out, so that a run whose file leaves
    ``batch_size`` at its default compares equal to one that spells out the same value."""
    from workbench.training.config import TrainingConfig  # imported here: training imports runs

    try:
        config = TrainingConfig.from_dict(training)
    except FormatError:
        return training  # not valid now (an older program wrote it): compare it as it is
    normalised = config.to_dict()
    normalised["optimizer"].setdefault("name", "adam")
    normalised["optimizer"].setdefault("learning_rate", config.learning_rate)
    return normalised


def _flatten_graph(graph: dict, prefix: str, flat: dict[str, Any]) -> None:
    for node in graph.get("nodes") or []:
        if not isinstance(node, dict):
            continue
        base = f"{prefix}{node.get('id')}"
        flat[f"{base}.type"] = node.get("type")
        for key, value in node.items():
            if key in ("id", "type", "pos"):
                continue
            if key == "graph" and isinstance(value, dict):
                _flatten_graph(value, f"{base}/", flat)
            elif key == "params" and isinstance(value, dict):
                _flatten(value, base, flat)
            else:
                _flatten(value, f"{base}.{key}", flat)
    for key, value in graph.items():
        if key != "nodes":
            # Edges and outputs as one value each: which one changed says little in a legend.
            flat[f"{prefix}{key}"] = _canonical(value)


def _flatten(value: Any, path: str, flat: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(item, f"{path}.{key}", flat)
    else:
        flat[path] = value


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _hashable(value: Any) -> Any:
    return _canonical(value) if isinstance(value, (list, dict)) else value


def _file_digest(path: Path) -> str | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return _digest(str(path), status.st_size, status.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _digest(path: str, size: int, mtime_ns: int) -> str | None:
    # Keyed by size and time too, so a file replaced since is read again; a run's weights
    # never change, so each is read once a session (they can be hundreds of megabytes).
    try:
        return sha256_of(path)
    except OSError:
        return None
