"""What an export starts from: a Keras model and, where known, the experiment behind it.

``open_export_source`` takes an experiment file (``.json``, built with its stored weights), a
model file (``.keras``/``.h5``) or a run folder (through ``workbench.inspect.source``).
``ExportSource.from_model`` wraps a model already in memory (the GUI's current model). The
experiment, when there is one, gives the data (sample inputs for the verification, the int8
calibration set) and the training config the Python script compiles and fits with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench.errors import WorkbenchError
from workbench.experiment import Experiment


@dataclass
class ExportSource:
    """A model to export and where it came from.

    Attributes:
        model: the Keras model.
        experiment: the experiment (its own file, or a run's frozen copy); None for a bare
            model file.
        trained: whether the weights are trained ones; False for an experiment without stored
            weights (the export still works and carries a warning).
        warnings: what the export should tell its user about the source.
        path: the file or folder it was opened from (None for a model in memory).
        graph: the model graph the Python generator writes; the experiment's own graph for an
            experiment file, otherwise made from the model with ``from_keras`` when first asked.
    """

    model: Any
    experiment: Experiment | None = None
    trained: bool = True
    warnings: list[str] = field(default_factory=list)
    path: Path | None = None
    graph: Any = None
    _dataset: Any = field(default=None, repr=False)

    @classmethod
    def from_model(cls, model, experiment: Experiment | None = None, trained: bool = True,
                   dataset=None) -> ExportSource:
        """Wrap a model in memory (``trained=False`` adds the untrained-weights warning);
        ``dataset``: the experiment's data when they are loaded already."""
        source = cls(model=model, experiment=experiment, trained=trained, _dataset=dataset)
        if not trained:
            source.warnings.append(_untrained_warning(experiment.name if experiment else model.name))
        return source

    @property
    def label(self) -> str:
        """A short name for messages: the file, or the model's name."""
        return str(self.path) if self.path is not None else f"model {self.model.name!r}"

    def model_graph(self):
        """The ``ModelGraph`` to write as Python (made from the model on first use)."""
        if self.graph is None:
            from workbench.graph.convert import from_keras

            self.graph, _ = from_keras(self.model, layout=False)
        return self.graph

    def dataset(self, progress=None):
        """The experiment's data, loaded once; None without an experiment."""
        if self.experiment is None:
            return None
        if self._dataset is None:
            from workbench.data import load_dataset

            self._dataset = load_dataset(self.experiment.data_for_loading(), progress)
            if self._dataset is None:
                raise WorkbenchError("loading the data was cancelled")
        return self._dataset

    def data_inputs(self, split: str = "val", progress=None) -> np.ndarray | None:
        """Inputs from the experiment's data that fit the model, or None when there are none.

        Args:
            split: "val" (falls back to the training data when there is no validation split)
                or "train".
        """
        dataset = self.dataset(progress)
        if dataset is None or dataset.x_train is None:
            return None
        order = (dataset.x_val, dataset.x_train) if split == "val" else (dataset.x_train,)
        x = next((part for part in order if part is not None and len(part)), None)
        inputs = self.model.inputs
        if x is None or len(inputs) != 1:
            return None
        expected = tuple(inputs[0].shape[1:])
        if len(expected) != x.ndim - 1 or any(e is not None and e != d
                                              for e, d in zip(expected, x.shape[1:])):
            return None
        return np.asarray(x)


def _untrained_warning(name: str) -> str:
    return (f"{name} has no trained weights: the export holds freshly initialised weights "
            "(train it first, or export a run)")


def open_export_source(path: str | Path, allow_unsafe: bool = False,
                       checkpoint: str = "best") -> ExportSource:
    """Open an experiment file, a model file or a run folder for export.

    Args:
        path: an experiment (``.json``, with its weights file when it names one), a
            ``.keras``/``.h5`` model or a run folder.
        allow_unsafe: allow ``Lambda`` layers (runs Python code stored in the file).
        checkpoint: for a run, "best" (else final) or "final".

    Raises:
        WorkbenchError: the path is missing or not one of those, or the model cannot be built.
    """
    path = Path(path)
    if path.suffix.lower() == ".json" and path.is_file():
        return _open_experiment(path, allow_unsafe)
    from workbench.inspect.source import open_model_source

    source = open_model_source(path, allow_unsafe, checkpoint)
    return ExportSource(model=source.model, experiment=source.experiment, trained=True,
                        path=source.path)


def _open_experiment(path: Path, allow_unsafe: bool) -> ExportSource:
    from workbench.graph.convert import build_model

    if allow_unsafe:
        from workbench.backend import allow_unsafe_deserialization

        allow_unsafe_deserialization()
    experiment = Experiment.load(path)
    weights = experiment.load_weights()
    result = build_model(experiment.graph, weights)
    source = ExportSource(model=result.model, experiment=experiment, trained=bool(weights),
                          path=path, graph=experiment.graph)
    if not weights:
        source.warnings.append(_untrained_warning(f"{path}"))
    elif result.skipped:
        source.warnings.append(
            f"{path}: the stored weights no longer fit {', '.join(result.skipped)} (their shape "
            "changed): those layers are exported with fresh weights")
    return source
