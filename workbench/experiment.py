"""The experiment document: model graph + data + training, as versioned JSON.

Files carry a format name and version. Loading checks the shape of everything and names the
JSON path of the first problem (``model.nodes[3].type: expected ...``); older versions are
brought up to date by the small functions in ``MIGRATIONS``; a newer version than this
program knows is refused with a clear message rather than half-read. Saves are atomic.

Weights (of an imported or trained model) live beside the JSON in ``NAME.weights.npz`` so the
document itself stays small and readable.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench.errors import ExperimentFileError, FormatError
from workbench.fileio import dumps_readable, write_atomic, write_json_atomic
from workbench.graph.graph import ModelGraph

FORMAT = "keras-workbench/experiment"
VERSION = 1

EXPERIMENTS_DIR = Path(__file__).resolve().parent.parent / "experiments"
DEFAULT_EXPERIMENT = EXPERIMENTS_DIR / "default.json"
TEMPLATES_DIR = EXPERIMENTS_DIR / "templates"

DEFAULT_TRAINING = {
    "optimizer": {"name": "adam", "learning_rate": 0.001},
    "loss": "sparse_categorical_crossentropy",
    "metrics": ["accuracy"],
    "epochs": 10,
    "batch_size": 64,
    "seed": 0,
}


def _migrate_0_to_1(data: dict) -> dict:
    # Version 0 (drafts before the first release) called the model section "graph".
    data = dict(data)
    if "graph" in data and "model" not in data:
        data["model"] = data.pop("graph")
    return data


# MIGRATIONS[n] turns a version-n document into a version-(n+1) one.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {0: _migrate_0_to_1}

_KNOWN_KEYS = {"format", "version", "name", "description", "model", "data", "training", "weights",
               "search"}


@dataclass
class Experiment:
    """One experiment document.

    Attributes:
        name: shown in the title bar and used for run folders.
        graph: the model.
        data: the data section (source, split, preprocessing).
        training: the training section (optimizer, loss, epochs, ...).
        description: a line or two for people ("what to look for").
        weights_file: the weights file beside the JSON, relative to it, if any.
        extra: top-level keys this version does not know, kept so nothing is lost on save.
        path: where it was loaded from or last saved.
        search: the hyperparameter search space, or None (see ``workbench.scale.search_space``).
    """

    name: str = "untitled"
    graph: ModelGraph = field(default_factory=ModelGraph)
    data: dict = field(default_factory=dict)
    training: dict = field(default_factory=lambda: copy.deepcopy(DEFAULT_TRAINING))
    description: str = ""
    weights_file: str | None = None
    extra: dict = field(default_factory=dict)
    path: Path | None = None
    search: dict | None = None

    # ----------------------------------------------------------------- JSON
    def to_dict(self) -> dict:
        data: dict[str, Any] = {"format": FORMAT, "version": VERSION, "name": self.name}
        if self.description:
            data["description"] = self.description
        data["model"] = self.graph.to_dict()
        data["data"] = copy.deepcopy(self.data)
        data["training"] = copy.deepcopy(self.training)
        if self.weights_file:
            data["weights"] = self.weights_file
        if self.search is not None:
            data["search"] = copy.deepcopy(self.search)
        data.update(copy.deepcopy(self.extra))
        return data

    def to_json(self) -> str:
        return dumps_readable(self.to_dict()) + "\n"

    @classmethod
    def from_dict(cls, data: Any, path: str | os.PathLike | None = None) -> Experiment:
        """Read a parsed document; raises ``ExperimentFileError`` naming path and JSON path."""
        label = str(path) if path is not None else "experiment"
        try:
            return cls._from_dict(data, path)
        except FormatError as error:
            raise ExperimentFileError(label, error.detail, error.where) from None

    @classmethod
    def _from_dict(cls, data: Any, path: str | os.PathLike | None) -> Experiment:
        if not isinstance(data, dict):
            raise FormatError("", "an experiment file must hold a JSON object")
        where = _non_finite(data)
        if where is not None:
            raise FormatError(where, "NaN and Infinity are not allowed: write a number")
        if data.get("format") != FORMAT:
            raise FormatError(
                "format", f"expected {FORMAT!r}, found {data.get('format')!r}: "
                "this is not a Keras Workbench experiment"
            )
        version = data.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise FormatError("version", f"expected a whole number, found {version!r}")
        if version > VERSION:
            raise FormatError(
                "version", f"the file is version {version}, written by a newer Keras Workbench; "
                f"this one reads versions up to {VERSION}: please upgrade"
            )
        while version < VERSION:
            data = MIGRATIONS[version](data)
            version += 1
        name = data.get("name", "untitled")
        if not isinstance(name, str) or not name.strip():
            raise FormatError("name", "expected a non-empty text")
        description = data.get("description", "")
        if not isinstance(description, str):
            raise FormatError("description", "expected text")
        if "model" not in data:
            raise FormatError("model", "missing: an experiment needs a model section")
        graph = ModelGraph.from_dict(data["model"], name=_model_name(name), where="model")
        sections = {}
        for key, default in (("data", {}), ("training", DEFAULT_TRAINING)):
            value = data.get(key, copy.deepcopy(default))
            if not isinstance(value, dict):
                raise FormatError(key, "expected an object")
            sections[key] = value
        weights = data.get("weights")
        if weights is not None and (not isinstance(weights, str) or not weights):
            raise FormatError("weights", "expected the name of a .npz file")
        extra = {k: v for k, v in data.items() if k not in _KNOWN_KEYS}
        experiment = cls(name, graph, sections["data"], sections["training"], description, weights,
                         extra, Path(path) if path is not None else None)
        if data.get("search") is not None:
            from workbench.scale.search_space import check_search  # it reads Experiment's parts

            # Without the catalog: loading a file must not import Keras.
            experiment.search = check_search(data["search"], experiment, catalog=False)
        return experiment

    # ---------------------------------------------------------------- files
    @classmethod
    def load(cls, path: str | os.PathLike) -> Experiment:
        """Load an experiment file; every problem is an ``ExperimentFileError``."""
        path = Path(path)
        if not path.exists():
            raise ExperimentFileError(str(path), "no such file")
        if path.is_dir():
            raise ExperimentFileError(str(path), "is a folder, not an experiment file")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ExperimentFileError(str(path), "is not a text file (expected JSON)") from None
        except OSError as error:
            raise ExperimentFileError(str(path), f"cannot be read: {error.strerror}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            message = "is empty" if not text.strip() else (
                f"is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
            )
            raise ExperimentFileError(str(path), message) from None
        except RecursionError:
            raise ExperimentFileError(str(path), "is nested too deeply to be an experiment") from None
        except ValueError as error:  # e.g. an integer literal too long for Python to convert
            raise ExperimentFileError(str(path), f"is not usable JSON: {error}") from None
        return cls.from_dict(data, path)

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write the experiment atomically (to ``path``, or where it came from)."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ExperimentFileError("experiment", "has no file name yet: choose where to save it")
        if not target.parent.exists():
            raise ExperimentFileError(str(target), f"the folder {target.parent} does not exist")
        try:
            write_json_atomic(target, self.to_dict())
        except OSError as error:
            raise ExperimentFileError(str(target), f"cannot be written: {error.strerror}") from None
        self.path = target
        return target

    def data_for_loading(self) -> dict:
        """A copy of the data section with a relative ``path`` made absolute against the
        experiment file's folder: people write the name of a file beside the experiment and
        mean it wherever the program is started from. As written for an unsaved experiment."""
        data = copy.deepcopy(self.data or {})
        path = data.get("path")
        if isinstance(path, str) and path.strip() and self.path is not None:
            candidate = Path(path).expanduser()
            if not candidate.is_absolute():
                data["path"] = str(Path(self.path).absolute().parent / candidate)
        return data

    # -------------------------------------------------------------- weights
    def weights_path(self) -> Path | None:
        if not self.weights_file:
            return None
        base = self.path.parent if self.path else Path(".")
        return base / self.weights_file

    def load_weights(self) -> dict[str, list[np.ndarray]]:
        """The stored weights by node path; empty when the experiment has none."""
        path = self.weights_path()
        if path is None:
            return {}
        if not path.exists():
            raise ExperimentFileError(str(path), "weights file named by the experiment is missing")
        try:
            with np.load(path, allow_pickle=False) as archive:
                weights: dict[str, list[np.ndarray]] = {}
                for key in archive.files:
                    node_path, _, index = key.rpartition("::")
                    weights.setdefault(node_path, []).append((int(index), archive[key]))
        except (OSError, ValueError) as error:
            raise ExperimentFileError(str(path), f"is not a readable weights file ({error})") from None
        return {k: [a for _, a in sorted(v, key=lambda p: p[0])] for k, v in weights.items()}

    def save_weights(self, weights: dict[str, list[np.ndarray]], path: str | os.PathLike) -> None:
        """Store weights beside the experiment and reference them from it."""
        path = Path(path)
        arrays = {f"{node}::{i}": np.asarray(a) for node, items in weights.items()
                  for i, a in enumerate(items)}

        def _write(tmp: str) -> None:
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays)

        write_atomic(path, _write)
        base = self.path.parent if self.path else path.parent
        self.weights_file = os.path.relpath(path, base)


def _non_finite(value: Any, where: str = "") -> str | None:
    """The JSON path of the first NaN or infinity in ``value``, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return where or "(top)"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(
        value, list) else ()
    for key, item in items:
        path = f"{where}[{key}]" if isinstance(key, int) else (f"{where}.{key}" if where else key)
        found = _non_finite(item, path)
        if found is not None:
            return found
    return None


def _model_name(name: str) -> str:
    """A Keras-friendly model name from an experiment name."""
    cleaned = "".join(c if c.isalnum() or c in "_-." else "_" for c in name.strip())
    return cleaned if cleaned and (cleaned[0].isalpha() or cleaned[0] == "_") else "model_" + cleaned


def bundled_templates() -> dict[str, Path]:
    """The template experiments shipped with the workbench, by file stem."""
    return {p.stem: p for p in sorted(TEMPLATES_DIR.glob("*.json"))}


def is_bundled(path: str | os.PathLike) -> bool:
    """Whether ``path`` is one of the experiments shipped with the workbench (opened as a
    template, so a Save never overwrites it)."""
    try:
        Path(path).resolve().relative_to(EXPERIMENTS_DIR.resolve())
    except ValueError:
        return False
    return True
