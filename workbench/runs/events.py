"""TensorBoard event files of a run's epochs, written without TensorFlow.

A run folder keeps its per-epoch scalars for TensorBoard as Keras' ``TensorBoard`` callback
names them: ``tensorboard/train`` holds ``epoch_loss``, ``epoch_<metric>`` and
``epoch_learning_rate``, ``tensorboard/validation`` the ``val_`` values under the same names;
the step is the epoch counted from 0, as Keras counts it.

Why not that callback: each of its scalars is a TensorFlow summary op run in the training
thread (~2 ms an epoch on the digits CNN, 1% of its epoch), and it needs TensorFlow. This
uses TensorBoard's own event-file writer (the one PyTorch's ``SummaryWriter`` uses too): the
protocol buffers cost microseconds, and a thread of the writer puts them on disk (flushed
every ``FLUSH_SECONDS``, and when the run finishes).

``history.csv`` is the run's own record; the event files are a view for TensorBoard, so a
problem writing them is reported and never stops training.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

FLUSH_SECONDS = 2.0
_VALIDATION_PREFIX = "val_"


def tensorboard_available() -> bool:
    """The event files need the tensorboard package (a dependency, but a broken install must
    not stop training: the run's CSV logs are complete without it)."""
    return importlib.util.find_spec("tensorboard") is not None


class EpochEvents:
    """The event files in ``folder`` (a run's ``tensorboard/``), opened on the first epoch.

    Attributes:
        problem: why events stopped being written (a full disk, ...), None while all is well.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.problem: str | None = None
        self._writers: dict = {}

    def add(self, epoch: int, logs: dict[str, float], lr: float | None) -> None:
        """Write the scalars of ``epoch`` (counted from 1, as ``history.csv`` counts)."""
        if self.problem is not None:
            return
        train = {key: value for key, value in logs.items()
                 if not key.startswith(_VALIDATION_PREFIX)}
        validation = {key[len(_VALIDATION_PREFIX):]: value for key, value in logs.items()
                      if key.startswith(_VALIDATION_PREFIX)}
        if lr is not None:
            train["learning_rate"] = lr
        try:
            for name, values in (("train", train), ("validation", validation)):
                if values:
                    self._writer(name).add_event(_scalars_event(epoch - 1, values))
        except Exception as error:  # the writer's thread reports disk errors here
            self._give_up(error)

    def close(self) -> None:
        """Put everything on disk and close the files."""
        for writer in self._writers.values():
            try:
                writer.close()
            except Exception as error:
                self._give_up(error)
        self._writers.clear()

    def _writer(self, name: str):
        if name not in self._writers:
            from tensorboard.summary.writer.event_file_writer import EventFileWriter

            self._writers[name] = EventFileWriter(str(self.folder / name),
                                                  flush_secs=FLUSH_SECONDS)
        return self._writers[name]

    def _give_up(self, error: Exception) -> None:
        if self.problem is None:
            reason = getattr(error, "strerror", None) or error
            self.problem = f"TensorBoard events not fully written ({reason})"


def _scalars_event(step: int, values: dict[str, float]):
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary

    summary = Summary(value=[Summary.Value(tag=f"epoch_{key}", simple_value=float(value))
                             for key, value in values.items()])
    return Event(wall_time=time.time(), step=step, summary=summary)
