"""``TrainingSession``: one training run of an experiment, with live reports.

``run()`` builds the model from the graph, loads the data, and calls ``model.fit`` with a
callback that relays every batch and epoch (logs and learning rate) through the progress
protocol and into the run folder as it goes. It blocks: the GUI calls it from a worker
thread, the CLI from the main thread. ``pause()``, ``resume()`` and ``stop()`` may be called
from any thread; they take effect between batches. Stopping keeps the model trained so far.

A NaN or exploding loss ends the run at once, as failed, with advice, instead of wasting the
rest of the epoch.

With ``training.distribution`` set, the model is built and compiled inside the strategy's scope
(``workbench.scale.distribution``: mirrored over GPUs or listed devices, or multi-worker from
``TF_CONFIG``); the first progress message and the run's device say how many replicas share
each batch. The strategy is made before Keras starts TensorFlow, which multi-worker needs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from workbench.backend import (
    clean_keras_message,
    device_scope,
    keras_module,
    op_fusion_off,
    resolve_device,
)
from workbench.errors import WorkbenchError
from workbench.experiment import Experiment
from workbench.scale.distribution import (
    describe,
    fit_under_strategy,
    make_strategy,
    parse_distribution,
    scaling_note,
    writes_run,
)
from workbench.tasks import NullProgress, Progress
from workbench.training.callbacks import (
    best_checkpoint,
    schedule_callback,
    snapshot_callback,
)
from workbench.training.compat import training_problem
from workbench.training.config import TrainingConfig
from workbench.training.ensemble import evaluate_snapshots

# A loss this many times the first batch's loss is "exploding".
EXPLOSION_FACTOR = 1e4
# Least seconds between two progress lines during an epoch (a terminal bar redraws as often).
PROGRESS_LINE_INTERVAL_S = 0.1


@dataclass
class TrainingResult:
    """How a run ended.

    Attributes:
        status: "finished", "stopped" or "failed".
        reason: why it stopped or failed, for people.
        model: the trained Keras model (also after a stop; None if it could not be built).
        history: per-epoch metrics, {name: [values]}.
        run: the run folder's ``Run`` when a run store was given.
        ensemble: for snapshot ensembles, the validation score of the snapshots' averaged
            predictions next to the final model's (see ``evaluate_snapshots``).
        dataset: the data it trained on (the panels that look at the model take samples from it).
    """

    status: str
    reason: str | None = None
    model: Any = None
    history: dict = field(default_factory=dict)
    run: Any = None
    ensemble: dict | None = None
    dataset: Any = None

    @property
    def final_metrics(self) -> dict[str, float]:
        return {k: v[-1] for k, v in self.history.items() if v}


class TrainingSession:
    """One training run. See the module docstring.

    Args:
        experiment: what to train (graph, data, training sections); a relative data path is
            read against the experiment file's folder (``Experiment.data_for_loading``), and the run
            records it so.
        dataset: already loaded data (the Data panel has it); loaded from the experiment if None.
        store: a ``RunStore``: the run is recorded on disk when given.
        progress: receives ``step`` and ``partial`` reports; may cancel.
        weights: stored weights to start from (an imported model), by node path.
        epochs: overrides the experiment's epoch count.
    """

    def __init__(self, experiment: Experiment, dataset=None, store=None,
                 progress: Progress | None = None, weights: dict | None = None,
                 epochs: int | None = None):
        self.experiment = dataclasses.replace(experiment, data=experiment.data_for_loading())
        self.dataset = dataset
        self.store = store
        self.progress = progress or NullProgress()
        self.weights = weights
        self.config = TrainingConfig.from_dict(experiment.training)
        if epochs is not None:
            self.config.epochs = epochs
        self._resume = threading.Event()
        self._resume.set()
        self._stop = threading.Event()
        self.device: str | None = None

    # ---------------------------------------------------------------- control
    def pause(self) -> None:
        self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    def stop(self) -> None:
        self._stop.set()
        self._resume.set()

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    def _should_stop(self) -> bool:
        return self._stop.is_set() or self.progress.cancelled()

    def _wait_while_paused(self) -> None:
        while not self._resume.wait(0.1):
            if self._should_stop():
                return

    # -------------------------------------------------------------------- run
    def run(self) -> TrainingResult:
        """Train; never raises for a training problem: the result says what happened."""
        run = scratch = strategy = None
        distribution = parse_distribution(self.config.distribution)
        try:
            # Before Keras starts TensorFlow: multi-worker and logical CPUs are set up at start-up.
            strategy = make_strategy(distribution)
        except WorkbenchError as error:
            return TrainingResult("failed", str(error))
        keras = keras_module()
        try:
            self.config.check_keras_names()
            if self.config.seed is not None:
                keras.utils.set_random_seed(self.config.seed)
            dataset = self.dataset if self.dataset is not None else self._load_data()
            # Before the run folder: a start refused for a mismatch leaves no failed run behind.
            problem = training_problem(self.experiment.graph, self.config, dataset)
            if problem is not None:
                return TrainingResult("failed", problem, dataset=dataset)
            if strategy is None:
                self.device = resolve_device(self.config.device)
                started = f"training on {self.device}"
            else:
                self.device = describe(strategy, distribution)
                started = (f"training on {self.device}; "
                           + scaling_note(self.config, strategy.num_replicas_in_sync))
            store = self.store
            if store is not None and not writes_run(distribution):
                # A multi-worker non-chief writes its run into scratch (workbench.scale.distribution).
                scratch = tempfile.mkdtemp(prefix="workbench-worker-")
                store = type(store)(scratch)
            if store is not None:
                run = store.create(self.experiment)
                run.set_device(self.device)
        except WorkbenchError as error:
            _remove(scratch)
            return TrainingResult("failed", str(error))
        relay = _relay_class()(self, run)
        model = None
        policy = keras.config.dtype_policy()
        try:
            if self.config.mixed_precision:
                keras.config.set_dtype_policy("mixed_float16")
            with device_scope(self.device) if strategy is None else strategy.scope():
                model = self._compile(dataset)
                if strategy is not None:
                    fit_under_strategy(model, strategy)
                self.progress.step(0, self.config.epochs, started)
                callbacks = self._callbacks(relay, run, dataset)
                from workbench.generative.gan import is_gan

                with op_fusion_off() if is_gan(model) else contextlib.nullcontext():
                    model.fit(
                        **dataset.fit_arguments(self.config.batch_size),
                        epochs=self.config.epochs,
                        callbacks=callbacks,
                        verbose=0,
                    )
                if relay.snapshots is not None and relay.status != "failed":
                    relay.ensemble = evaluate_snapshots(model, relay.snapshots, dataset, self.progress)
        except WorkbenchError as error:
            relay.fail(str(error))
        except Exception as error:  # Keras refusing the data, out of memory, ...
            relay.fail(f"training stopped with an error: {clean_keras_message(error)}")
        finally:
            keras.config.set_dtype_policy(policy)
        status, reason = relay.outcome()
        if run is not None:
            if model is not None:
                try:
                    model.save(run.checkpoint_path("final"))
                except Exception as error:  # a failed save must not hide the run's own result
                    reason = (reason + "; " if reason else "") + f"final model not saved: {error}"
            final = {k: v[-1] for k, v in relay.history.items() if v}
            run.finish(status, reason, {**final, **(relay.ensemble or {})})
        if scratch is not None:  # a multi-worker non-chief: its copy of the run was scratch
            _remove(scratch)
            run = None
        return TrainingResult(status, reason, model, relay.history, run, relay.ensemble, dataset)

    def _load_data(self):
        from workbench.data import load_dataset

        return load_dataset(self.experiment.data, self.progress)

    def _compile(self, dataset=None):
        from workbench.graph.convert import build_model

        model = build_model(self.experiment.graph, self.weights).model
        adversarial = self.config.extra.get("adversarial")
        if adversarial:  # adversarial training: part of each batch replaced by attacks
            from workbench.generate.adversarial_training import adversarial_model, data_value_range

            model = adversarial_model(model, adversarial, data_value_range(dataset))
        from workbench.generative.gan import gan_model, gan_settings

        gan = gan_settings(self.config.extra)
        if gan is not None:  # a GAN: its generator and discriminator blocks trained in turns
            model = gan_model(model, gan, getattr(dataset, "input_shape", None) or None)
        model.compile(optimizer=self.config.make_optimizer(), loss=self.config.loss,
                      metrics=list(self.config.metrics))
        return model

    def _callbacks(self, relay, run, dataset) -> list:
        keras = keras_module()
        callbacks: list = [relay]
        config = self.config
        from workbench.generative.previews import preview_callback

        # reconstructions, GAN samples, a VAE's latent space: pictures for the Train panel
        preview = preview_callback(config.extra, dataset, self.progress, self.experiment.data)
        if preview is not None:
            callbacks.append(preview)
        if config.schedule and config.schedule.get("name", "constant") != "constant":
            relay.schedule = schedule_callback(config.schedule, config.learning_rate, config.epochs,
                                               _steps_per_epoch(dataset, config.batch_size))
            callbacks.append(relay.schedule)
            if config.schedule["name"] == "snapshot":
                folder = run.path / "snapshots" if run is not None else None
                relay.snapshots = snapshot_callback(relay.schedule, folder)
                callbacks.append(relay.snapshots)
        if config.early_stopping:
            options = {"monitor": "val_loss", "patience": 5, "restore_best_weights": True}
            callbacks.append(keras.callbacks.EarlyStopping(**{**options, **config.early_stopping}))
        if config.reduce_lr:
            options = {"monitor": "val_loss", "factor": 0.5, "patience": 3}
            callbacks.append(keras.callbacks.ReduceLROnPlateau(**{**options, **config.reduce_lr}))
        if run is not None:
            if config.checkpoint_best:
                callbacks.append(best_checkpoint(run.checkpoint_path("best")))
        for callback in callbacks[1:]:
            _whole_epochs_only(callback, relay)
        return callbacks


def _whole_epochs_only(callback, relay) -> None:
    """Let ``callback`` see the ends of whole epochs only: the best checkpoint must not keep,
    nor early stopping weigh, an epoch cut short by a stop (see ``_end_after_this_batch``)."""
    on_epoch_end = callback.on_epoch_end

    def on_whole_epoch_end(epoch, logs=None):
        if not relay.cut_short:
            on_epoch_end(epoch, logs)

    callback.on_epoch_end = on_whole_epoch_end


def _remove(folder: str | None) -> None:
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def current_learning_rate(model) -> float | None:
    """The optimizer's learning rate now (schedules included): a read from the device."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    try:
        return float(keras_module().ops.convert_to_numpy(optimizer.learning_rate))
    except Exception:  # an optimizer without a readable rate
        return None


def _steps_per_epoch(dataset, batch_size: int) -> int | None:
    count = dataset.train_count
    return -(-count // batch_size) if count else None


def _has_schedule(model) -> bool:
    """Whether the optimizer's rate follows a schedule (changes every batch)."""
    keras = keras_module()
    rate = getattr(getattr(model, "optimizer", None), "_learning_rate", None)
    if rate is None:
        return True  # unknown: read it every batch
    return isinstance(rate, keras.optimizers.schedules.LearningRateSchedule)


@lru_cache(maxsize=1)
def _relay_class() -> type:
    """The relay callback class, made on first use (Keras is imported only to train)."""
    keras = keras_module()
    return type("Relay", (_RelayMixin, keras.callbacks.Callback), {})


class _RelayMixin:
    def __init__(self, session: TrainingSession, run):
        super().__init__()
        self.session = session
        self.run = run
        self.history: dict[str, list[float]] = {}
        self.status: str | None = None
        self.reason: str | None = None
        self.step = 0
        self.epoch_means: dict[str, float] = {}  # the running means Keras reported last
        self.first_loss: float | None = None
        self.epoch_started = 0.0
        self.steps_per_epoch = 0  # 0 when the data do not say (a stream of unknown length)
        self.in_epoch = False
        self.epoch_batches = 0  # batches finished in the epoch under way
        self.cut_short = False  # training ended in the middle of an epoch
        self.seen = 0
        self.rate: float | None = None  # the rate as of the epoch's start
        self.schedule = None  # the schedule callback: it knows every batch's rate
        self.snapshots = None  # the snapshot callback of a snapshot ensemble
        self.ensemble: dict | None = None
        self.rate_varies = True  # within an epoch: a schedule
        self.line_shown = -math.inf  # when the progress line was last reported

    # ------------------------------------------------------------ outcome
    def fail(self, reason: str) -> None:
        if self.status != "failed":
            self.status, self.reason = "failed", reason
        if getattr(self, "model", None) is not None:
            self._end_after_this_batch()

    def _end_after_this_batch(self) -> None:
        """Ask Keras to stop. Stopped mid-epoch, Keras still ends the epoch as if it were whole
        (validation, then ``on_epoch_end`` with the means of its first batches): that epoch is
        not recorded, so the run's epochs, curves and final metrics are all whole epochs."""
        self.model.stop_training = True
        self.cut_short = self.in_epoch and not self._epoch_complete()

    def _epoch_complete(self) -> bool:
        return 0 < self.steps_per_epoch <= self.epoch_batches

    def _stop_if_asked(self) -> None:
        if self.session._should_stop() and self.status is None:
            self._end_after_this_batch()
            self.status, self.reason = "stopped", self._stop_reason()

    def _stop_reason(self) -> str:
        epoch = self.epoch + 1
        if not self.cut_short:
            return f"stopped by the user after epoch {epoch}"
        done = self.epoch_batches
        count = (f"{done} of {self.steps_per_epoch} batches" if self.steps_per_epoch
                 else f"{done} batch{'es' if done != 1 else ''}")
        return f"stopped by the user during epoch {epoch} (after {count}; epoch {epoch} not recorded)"

    def outcome(self) -> tuple[str, str | None]:
        return self.status or "finished", self.reason

    # ---------------------------------------------------------- callbacks
    def on_train_begin(self, logs=None) -> None:
        self.started = time.monotonic()
        params = self.params or {}
        self.steps_per_epoch = params.get("steps") or 0
        self.epochs = params.get("epochs") or self.session.config.epochs
        if self.schedule is None:
            self._read_rate()

    def on_test_begin(self, logs=None) -> None:
        if self.cut_short:
            # Keras validates an epoch cut by a stop as if it were whole; that epoch is not
            # recorded, so one batch will do (a stop must not wait for a whole validation).
            self.model.stop_evaluating = True

    def on_train_end(self, logs=None) -> None:
        done = len(self.history.get("loss", []))
        if self.status is None and done < self.epochs:
            self.reason = f"early stopping after {done} of {self.epochs} epochs"

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self.epoch = epoch
        self.in_epoch = True
        self.epoch_batches = 0
        self.epoch_started = time.monotonic()
        if self.schedule is None and epoch > 0 and self.session.config.reduce_lr:
            self._read_rate()  # ReduceLROnPlateau may have lowered it at the last epoch's end

    def _read_rate(self) -> None:
        """Read the rate from the optimizer. A device read (~0.2 ms, 5% of a small model's
        batch), so without a schedule it is read once, and again between epochs only when
        ReduceLROnPlateau may change it; an optimizer's own schedule is read every batch."""
        self.rate = current_learning_rate(self.model)
        self.rate_varies = _has_schedule(self.model)

    def on_train_batch_end(self, batch, logs=None) -> None:
        logs = self._batch_values(batch, _floats(logs))
        self.step += 1
        self.epoch_batches = batch + 1
        loss = logs.get("loss")
        if self.schedule is not None:
            rate = self.schedule.rate_at(self.step - 1)
        else:
            rate = current_learning_rate(self.model) if self.rate_varies else self.rate
        if loss is not None:
            if self.first_loss is None:
                self.first_loss = abs(loss) or 1.0
            if not math.isfinite(loss):
                self.fail(f"the loss became {loss} at epoch {self.epoch + 1}, batch {batch + 1}: "
                          "lower the learning rate (try 10x smaller) or check the data for NaN")
            elif abs(loss) > EXPLOSION_FACTOR * self.first_loss:
                self.fail(f"the loss exploded to {loss:.3g} at epoch {self.epoch + 1} "
                          f"(it started at {self.first_loss:.3g}): lower the learning rate")
        if self.run is not None:
            self.run.append_batch(self.step, self.epoch, logs, rate)
        self.session.progress.partial({"kind": "batch", "step": self.step, "epoch": self.epoch,
                                       "batch": batch, "logs": logs, "lr": rate})
        self._report_progress(loss)
        self._between_batches()

    def _report_progress(self, loss: float | None) -> None:
        """The progress line, at most every ``PROGRESS_LINE_INTERVAL_S`` and at each epoch's
        last batch: a bar shows only the newest line, and formatting one every batch is
        time taken from training."""
        if not self.steps_per_epoch:
            return
        now = time.monotonic()
        if now - self.line_shown < PROGRESS_LINE_INTERVAL_S and not self._epoch_complete():
            return
        self.line_shown = now
        total = self.epochs * self.steps_per_epoch
        eta = (now - self.started) / self.step * (total - self.step)
        self.session.progress.step(
            self.step, total,
            f"epoch {self.epoch + 1}/{self.epochs} · loss {loss:.4f} · {_duration(eta)} left"
            if loss is not None else f"epoch {self.epoch + 1}/{self.epochs}")

    def _batch_values(self, batch: int, means: dict[str, float]) -> dict[str, float]:
        """This batch's own loss and metrics. Keras 3 reports the mean of the epoch so far after
        each batch; the batch's value is what it added to that mean (exact for equal batches,
        close for a smaller last one): (b + 1) * mean_b - b * mean_(b-1)."""
        before = self.epoch_means if batch > 0 else {}
        self.epoch_means = means
        return {key: (batch + 1) * value - batch * before[key]
                if key in before and math.isfinite(value) and math.isfinite(before[key]) else value
                for key, value in means.items()}

    def on_epoch_end(self, epoch, logs=None) -> None:
        if self.cut_short:
            return  # see _end_after_this_batch
        self.in_epoch = False
        logs = _floats(logs)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)
        rate = self._epoch_rate()
        self.history.setdefault("lr", []).append(rate if rate is not None else math.nan)
        if self.run is not None:
            self.run.append_epoch(epoch + 1, logs, rate)
        seconds = time.monotonic() - self.epoch_started
        self.session.progress.partial({"kind": "epoch", "epoch": epoch, "logs": logs, "lr": rate,
                                       "seconds": seconds})
        if epoch + 1 < self.epochs:
            self._stop_if_asked()  # asked during validation: stop here, between epochs

    def _epoch_rate(self) -> float | None:
        """The rate the epoch ended with (None when unknown). Without a schedule it is the one
        read at the epoch's start: ReduceLROnPlateau changes it only after this callback's
        epoch end, so a second device read would give the same number."""
        if self.schedule is not None:
            return self.schedule.rate_at(self.step - 1)
        return current_learning_rate(self.model) if self.rate_varies else self.rate

    def _between_batches(self) -> None:
        if self.session.paused:
            self.session.progress.step(self.step, None, "paused")
            self.session._wait_while_paused()
        self._stop_if_asked()


def _floats(logs: dict | None) -> dict[str, float]:
    values = {}
    for key, value in (logs or {}).items():
        try:
            values[key] = float(value)
        except (TypeError, ValueError):
            continue
    return values


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
