"""The session's callbacks besides its relay: best checkpoint, schedules, snapshots.

Keras' own ``ModelCheckpoint`` writes the whole ``.keras`` file at every improvement: for a
small model with sub-second epochs that alone costs ~10% of the run
(``benchmarks/train_overhead.py``). ``best_checkpoint`` keeps what a user relies on, the file,
at a bounded cost. (TensorBoard events are written by the run itself: ``runs.events``.)

The classes derive from Keras classes, so they are made on first use (Keras is imported only
to train): call ``best_checkpoint(...)``, ``schedule_callback(...)``, ``snapshot_callback(...)``.
"""

from __future__ import annotations

import math
import os
import time
from functools import lru_cache
from pathlib import Path

from workbench.backend import keras_module

# A deferred best model is written once the last write is this long ago (a small model's
# write takes ~40 ms: 0.4% of the run)...
MIN_WRITE_GAP_S = 10.0
# ...and at least this many times as long as that write took, so writing costs at most ~2%.
WRITE_COST_FACTOR = 50.0


def best_checkpoint(path: Path):
    """A callback keeping the model with the lowest validation loss (the training loss when
    there is no validation data) at ``path``. See ``_BestCheckpoint``."""
    return _best_checkpoint_class()(path)


class _BestCheckpointMixin:
    """The best model so far, on disk, at a bounded cost.

    An improvement is written at once when the last write is long enough ago (see
    ``MIN_WRITE_GAP_S`` and ``WRITE_COST_FACTOR``); otherwise its weights are kept in memory
    and written at the next epoch end that may write, or when training ends. A killed process
    loses at most the improvements of the last 10 s or so, and the file is always whole:
    each write goes to a temporary file that then replaces the old one.

    A deferred best model is written with the optimizer state of the epoch that writes it;
    its weights are those of the best epoch.
    """

    def __init__(self, path: Path):
        super().__init__()
        self.path = Path(path)
        self.best = math.inf
        self.best_epoch: int | None = None
        self.pending: list | None = None  # weights of an improvement not yet on disk
        self.written_at = -math.inf
        self.write_seconds = 0.0

    def on_epoch_end(self, epoch, logs=None) -> None:
        logs = logs or {}
        value = logs.get("val_loss", logs.get("loss"))
        try:
            value = float(value)
        except (TypeError, ValueError):
            return
        if not math.isfinite(value):
            return
        improved = value < self.best
        if improved:
            self.best, self.best_epoch = value, epoch
        if not self._may_write():
            if improved:
                self.pending = self.model.get_weights()
            return
        if improved:
            self.pending = None
            self._write()
        elif self.pending is not None:
            self._write_pending()

    def on_train_end(self, logs=None) -> None:
        if self.pending is not None:
            self._write_pending()

    def _may_write(self) -> bool:
        gap = max(MIN_WRITE_GAP_S, WRITE_COST_FACTOR * self.write_seconds)
        return time.monotonic() - self.written_at >= gap

    def _write_pending(self) -> None:
        current = self.model.get_weights()
        self.model.set_weights(self.pending)
        try:
            self._write()
        finally:
            self.model.set_weights(current)
            self.pending = None

    def _write(self) -> None:
        started = time.monotonic()
        partial = self.path.with_name(self.path.stem + ".partial.keras")
        self.model.save(partial)
        os.replace(partial, self.path)
        self.written_at = time.monotonic()
        self.write_seconds = self.written_at - started


@lru_cache(maxsize=1)
def _best_checkpoint_class() -> type:
    keras = keras_module()
    return type("BestCheckpoint", (_BestCheckpointMixin, keras.callbacks.Callback), {})


def schedule_callback(spec: dict, base_rate: float, epochs: int, steps_per_epoch: int | None):
    """A callback giving the optimizer the schedule's rate (and momentum) before every batch.

    ``steps_per_epoch`` is used when Keras cannot tell (a stream of unknown length)."""
    return _schedule_class()(spec, base_rate, epochs, steps_per_epoch)


def snapshot_callback(schedule, folder: Path | None):
    """A callback keeping the weights at each cycle's end of ``schedule`` (a schedule
    callback): as ``snapshot-NN.weights.h5`` files in ``folder``, or in memory without one."""
    return _snapshot_class()(schedule, folder)


class _ScheduleMixin:
    """Sets the rate of every batch from ``schedules.learning_rates`` (the same array the
    editor previews), and the momentum from ``schedules.momenta`` for one-cycle."""

    def __init__(self, spec: dict, base_rate: float, epochs: int, steps_per_epoch: int | None):
        super().__init__()
        self.spec, self.base_rate, self.epochs = spec, base_rate, epochs
        self.fallback_steps = steps_per_epoch
        self.rates = None
        self.momenta = None
        self.ends: set[int] = set()
        self.step = 0
        self._momentum = None

    def on_train_begin(self, logs=None) -> None:
        from workbench.errors import WorkbenchError
        from workbench.training import schedules
        from workbench.training.momentum import cycle_momentum

        steps = (self.params or {}).get("steps") or self.fallback_steps
        if not steps:
            raise WorkbenchError("a learning-rate schedule needs the number of batches per epoch, "
                                 "and this data stream does not say: use in-memory data or no schedule")
        self.steps_per_epoch = int(steps)
        self.rates = schedules.learning_rates(self.spec, self.base_rate, self.steps_per_epoch, self.epochs)
        self.momenta = schedules.momenta(self.spec, self.steps_per_epoch, self.epochs)
        self.ends = set(schedules.cycle_ends(self.spec, self.steps_per_epoch, self.epochs))
        if self.momenta is not None:
            self._momentum = cycle_momentum(self.model.optimizer, self.model)
        self.step = 0

    def rate_at(self, step: int) -> float:
        """The rate of batch ``step`` (from 0) of the run."""
        return float(self.rates[min(step, len(self.rates) - 1)])

    def on_train_batch_begin(self, batch, logs=None) -> None:
        index = min(self.step, len(self.rates) - 1)
        self.model.optimizer.learning_rate = float(self.rates[index])
        if self._momentum is not None:
            self._momentum.assign(float(self.momenta[index]))

    def on_train_batch_end(self, batch, logs=None) -> None:
        self.step += 1


class _SnapshotMixin:
    """Snapshot ensembles: the weights at the end of every cycle of the schedule."""

    def __init__(self, schedule, folder: Path | None):
        super().__init__()
        self.schedule = schedule
        self.folder = Path(folder) if folder is not None else None
        self.snapshots: list = []  # paths, or weight lists without a folder

    def on_train_begin(self, logs=None) -> None:
        self.finished_batches = 0

    def on_train_batch_end(self, batch, logs=None) -> None:
        step = self.finished_batches  # the batch just finished, from 0 (its own count: the
        self.finished_batches += 1    # schedule's may run before or after this callback)
        if step not in self.schedule.ends:
            return
        if self.folder is None:
            self.snapshots.append(self.model.get_weights())
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"snapshot-{len(self.snapshots) + 1:02d}.weights.h5"
        self.model.save_weights(path)
        self.snapshots.append(path)

    def restore(self, index: int) -> None:
        """Give the model the weights of snapshot ``index``."""
        snapshot = self.snapshots[index]
        if isinstance(snapshot, Path):
            self.model.load_weights(snapshot)
        else:
            self.model.set_weights(snapshot)


@lru_cache(maxsize=1)
def _schedule_class() -> type:
    keras = keras_module()
    return type("LearningRateSchedule", (_ScheduleMixin, keras.callbacks.Callback), {})


@lru_cache(maxsize=1)
def _snapshot_class() -> type:
    keras = keras_module()
    return type("SnapshotEnsemble", (_SnapshotMixin, keras.callbacks.Callback), {})
