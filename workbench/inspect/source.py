"""What the inspection commands look at: a model file, or a run folder with its data.

``open_model_source`` takes a ``.keras``/``.h5`` file or a run folder (one holding
``run.json``). A run gives its best checkpoint when there is one, else its final model, and
the frozen experiment, whose data the ``--sample`` options read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.experiment import Experiment
from workbench.runs import Run
from workbench.runs.run import CHECKPOINTS
from workbench.runs.runfile import RUN_FILE


@dataclass
class ModelSource:
    """A model to inspect and, for a run, where it came from.

    Attributes:
        model: the Keras model (loaded in safe mode, not compiled).
        experiment: the run's frozen experiment; None for a bare model file.
        run: the run; None for a bare model file.
        path: the file or folder it was opened from.
        checkpoint: "best" or "final" for a run, None for a file.
    """

    model: Any
    experiment: Experiment | None
    run: Run | None
    path: Path
    checkpoint: str | None = None

    def dataset(self, progress=None):
        """The experiment's data (``workbench.data.load_dataset``), loaded on each call.

        Raises:
            WorkbenchError: there is no experiment (a bare model file), or the data cannot be
                loaded.
        """
        if self.experiment is None:
            raise WorkbenchError(
                f"{self.path}: has no experiment to take samples from (a bare model file, or a "
                "run whose experiment.json cannot be read); open a run folder, or give an image "
                "file (--input)")
        from workbench.data import load_dataset

        dataset = load_dataset(self.experiment.data_for_loading(), progress)
        if dataset is None:
            raise WorkbenchError("loading the data was cancelled")
        return dataset

    @property
    def label(self) -> str:
        """How panels name it: the file or folder name, which checkpoint of a run, and how
        the run ended when it did not finish (its model is then part-trained)."""
        if not self.checkpoint:
            return self.path.name
        ending = ""
        if self.run is not None:
            info = self.run.info()
            if info.status != "finished":
                ending = f", {info.status} after {info.epochs} epoch{'s' if info.epochs != 1 else ''}"
        return f"{self.path.name} ({self.checkpoint} model{ending})"


def open_with_data(path: str | Path, progress=None) -> tuple[ModelSource, Any]:
    """``open_model_source(path)`` and, for a run, its data; the data is None for a model file
    or when it cannot be loaded (the model is still worth using with image files)."""
    source = open_model_source(path)
    dataset = None
    if source.experiment is not None:
        if progress is not None:
            progress.step(0, None, "loading the run's data")
        try:
            dataset = source.dataset(progress)
        except WorkbenchError:
            dataset = None
    return source, dataset


def is_run_folder(path: str | Path) -> bool:
    """Whether ``path`` is a run folder (a folder with ``run.json``)."""
    path = Path(path)
    return path.is_dir() and (path / RUN_FILE).exists()


def open_model_source(path: str | Path, allow_unsafe: bool = False,
                      checkpoint: str = "best") -> ModelSource:
    """Open a model file or a run folder.

    Args:
        path: a ``.keras``/``.h5`` file, or a run folder.
        allow_unsafe: load models that contain ``Lambda`` layers (runs code from the file).
        checkpoint: for a run, "best" (falls back to "final" when the run kept no best model)
            or "final" (no fallback).

    Raises:
        WorkbenchError: the path does not exist, is neither a model file nor a run folder,
            or the run has no saved model.
    """
    path = Path(path)
    if not path.exists():
        raise WorkbenchError(f"{path}: no such file or run folder")
    if path.is_dir():
        if not is_run_folder(path):
            raise WorkbenchError(f"{path}: is a folder without {RUN_FILE}: give a run folder "
                                 "(made by `workbench train`) or a .keras/.h5 model file")
        return _open_run(Run(path), allow_unsafe, checkpoint)
    if is_run_folder(path.parent):
        # A run's own checkpoint (RUN/best.keras): opened as that run, with its experiment
        # and data, as the run folder would be.
        run = Run(path.parent)
        which = next((w for w in CHECKPOINTS if run.checkpoint_path(w).name == path.name), None)
        if which is not None:
            return _open_run(run, allow_unsafe, which)
    from workbench.modelio import load_model_file

    return ModelSource(model=load_model_file(path, allow_unsafe), experiment=None, run=None,
                       path=path)


def _open_run(run: Run, allow_unsafe: bool, checkpoint: str) -> ModelSource:
    if checkpoint not in ("best", "final"):
        raise WorkbenchError(f"unknown checkpoint {checkpoint!r}: choose 'best' or 'final'")
    order = ["best", "final"] if checkpoint == "best" else ["final"]
    chosen = next((which for which in order if run.checkpoint_path(which).exists()), None)
    if chosen is None:
        raise WorkbenchError(
            f"run {run.id} has no saved model ({' or '.join(run.checkpoint_path(w).name for w in order)}): "
            "the run may have ended before its first epoch finished")
    model = run.load_model(chosen, allow_unsafe=allow_unsafe)
    try:
        experiment = run.experiment()
    except WorkbenchError:
        experiment = None  # the model is still worth inspecting; --sample will say why not
    return ModelSource(model=model, experiment=experiment, run=run, path=run.path,
                       checkpoint=chosen)
