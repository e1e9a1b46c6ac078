"""The LR range test (Smith 2017; popularized by fast.ai): which learning rates train this model?

The rate rises every mini-batch, exponentially or linearly, from ``start`` to ``end``; the loss
of each batch is recorded and smoothed (an exponential moving average with bias correction,
beta 0.98). The test stops once the smoothed loss exceeds ``divergence`` times the best seen
(there is nothing left to learn past that point) and always puts the model's weights and the
optimizer's state back exactly as they were, so it can run on a model in the middle of its
training.

Several suggestions are made from the curve, each with its name, because none is right for
every curve: the steepest descent of the loss against log LR (of a centred average: the
moving average lags), the minimum divided by 10, the valley (the longest descending stretch,
its middle) and the edge where the loss starts rising (an upper bound, not a rate to train at).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from workbench.backend import clean_keras_message, keras_module
from workbench.errors import FormatError, WorkbenchError
from workbench.experiment import Experiment
from workbench.tasks import NullProgress, Progress

MODES = ("exponential", "linear")


@dataclass
class RangeTestConfig:
    """How the range test runs.

    Attributes:
        start, end: the first and last learning rate.
        iterations: mini-batches from ``start`` to ``end``.
        mode: "exponential" (evenly spaced on a log axis) or "linear".
        beta: smoothing of the loss (0 = none).
        divergence: stop once the smoothed loss exceeds this many times the best.
        batch_size: None: the experiment's training batch size.
        seed: batches and dropout are drawn from this seed: the same seed, the same curve.
    """

    start: float = 1e-7
    end: float = 10.0
    iterations: int = 100
    mode: str = "exponential"
    beta: float = 0.98
    divergence: float = 4.0
    batch_size: int | None = None
    seed: int | None = 0

    @classmethod
    def from_dict(cls, data: dict | None) -> RangeTestConfig:
        config = cls(**{k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__})
        config.check()
        return config

    def to_dict(self) -> dict:
        return asdict(self)

    def check(self) -> None:
        where = "lr_finder"
        for key in ("start", "end"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise FormatError(f"{where}.{key}", f"must be a rate > 0 (got {value!r})")
        if not self.end > self.start:
            raise FormatError(f"{where}.end", f"must be above the start rate {self.start:g} "
                                              f"(got {self.end:g})")
        if isinstance(self.iterations, bool) or not isinstance(self.iterations, int) or self.iterations < 5:
            raise FormatError(f"{where}.iterations", f"must be a whole number >= 5 (got {self.iterations!r})")
        if self.mode not in MODES:
            raise FormatError(f"{where}.mode", f"must be one of {', '.join(MODES)} (got {self.mode!r})")
        if not isinstance(self.beta, (int, float)) or not 0 <= self.beta < 1:
            raise FormatError(f"{where}.beta", f"must be at least 0 and below 1 (got {self.beta!r})")
        if not isinstance(self.divergence, (int, float)) or not self.divergence > 1:
            raise FormatError(f"{where}.divergence", f"must be above 1 (got {self.divergence!r})")
        if self.batch_size is not None and (not isinstance(self.batch_size, int) or self.batch_size < 1):
            raise FormatError(f"{where}.batch_size", f"must be a whole number >= 1 (got {self.batch_size!r})")

    def rates(self) -> np.ndarray:
        """The rate of every iteration."""
        if self.mode == "linear":
            return np.linspace(self.start, self.end, self.iterations)
        return np.geomspace(self.start, self.end, self.iterations)


@dataclass
class Suggestion:
    """One suggested rate: ``method`` is a key, ``label`` says how it was found."""

    method: str
    label: str
    lr: float
    index: int


@dataclass
class RangeTestResult:
    """The curve and what it suggests.

    Attributes:
        lrs, losses, smoothed: per iteration run (the test may stop early).
        stopped: why it ended before ``iterations``, or None.
        suggestions: by method, in a fixed order (steepest, minimum/10, valley, edge).
        batches, seconds: what the test cost.
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    stopped: str | None = None
    suggestions: list[Suggestion] = field(default_factory=list)
    batches: int = 0
    seconds: float = 0.0

    def suggestion(self, method: str) -> Suggestion | None:
        return next((s for s in self.suggestions if s.method == method), None)

    def to_dict(self) -> dict:
        return {"lrs": self.lrs.tolist(), "losses": _json_floats(self.losses),
                "smoothed": _json_floats(self.smoothed), "stopped": self.stopped,
                "suggestions": [asdict(s) for s in self.suggestions],
                "batches": self.batches, "seconds": round(self.seconds, 3)}


def _json_floats(values: np.ndarray) -> list:
    return [float(v) if math.isfinite(v) else None for v in values]


# --------------------------------------------------------------------- the test
def range_test(model, batches, config: RangeTestConfig | None = None,
               progress: Progress | None = None) -> RangeTestResult:
    """Run the range test on a compiled model.

    Args:
        model: a compiled Keras model; its weights and optimizer state are restored after.
        batches: an iterable of (x, y) batches, cycled when it runs out (a fresh iterator is
            taken from it each time round).
        config: the test's settings.
        progress: gets ``partial({"kind": "lr_find", "iteration", "lr", "loss", "smoothed"})``
            per batch; ``cancelled()`` ends the test early (the model is restored too).
    """
    config = config or RangeTestConfig()
    progress = progress or NullProgress()
    keras = keras_module()
    if getattr(model, "optimizer", None) is None:
        raise WorkbenchError("the model is not compiled: the range test needs its optimizer and loss")
    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    saved = _State.take(model)
    rates = config.rates()
    losses, smoothed = [], []
    stopped = None
    started = time.perf_counter()
    average, best = 0.0, math.inf
    try:
        stream = _cycle(batches)
        for i, rate in enumerate(rates):
            if progress.cancelled():
                stopped = "cancelled"
                break
            x, y = next(stream)
            optimizer.learning_rate = float(rate)
            loss = float(model.train_on_batch(x, y, return_dict=True)["loss"])
            average = config.beta * average + (1 - config.beta) * loss
            value = average / (1 - config.beta ** (i + 1)) if config.beta else loss
            losses.append(loss)
            smoothed.append(value)
            progress.partial({"kind": "lr_find", "iteration": i, "lr": float(rate), "loss": loss,
                              "smoothed": value})
            progress.step(i + 1, len(rates), f"lr {rate:.2e} · loss {loss:.4g}")
            if not math.isfinite(loss):
                stopped = f"the loss became {loss} at lr {rate:.2e}"
                break
            best = min(best, value)
            if i > 0 and value > config.divergence * best:
                stopped = f"the loss diverged (over {config.divergence:g}x its best) at lr {rate:.2e}"
                break
    except WorkbenchError:
        raise
    except Exception as error:  # Keras refusing the data, out of memory, ...
        raise WorkbenchError(f"the range test stopped with an error: {clean_keras_message(error)}") from None
    finally:
        saved.restore(model)
    done = len(losses)
    lrs = rates[:done]
    losses_array, smoothed_array = np.asarray(losses, dtype=float), np.asarray(smoothed, dtype=float)
    return RangeTestResult(lrs, losses_array, smoothed_array, stopped,
                           suggest(lrs, smoothed_array, losses_array), done, time.perf_counter() - started)


class _State:
    """Model weights and optimizer variables, copied to host memory and put back exactly."""

    def __init__(self, weights: list, optimizer_values: list, learning_rate):
        self.weights, self.optimizer_values, self.learning_rate = weights, optimizer_values, learning_rate

    @classmethod
    def take(cls, model) -> _State:
        ops = keras_module().ops
        optimizer = model.optimizer
        return cls([np.array(ops.convert_to_numpy(v.value), copy=True) for v in model.variables],
                   [np.array(ops.convert_to_numpy(v.value), copy=True) for v in optimizer.variables],
                   ops.convert_to_numpy(optimizer.learning_rate).copy())

    def restore(self, model) -> None:
        for variable, value in zip(model.variables, self.weights):
            variable.assign(value)
        optimizer = model.optimizer
        for variable, value in zip(optimizer.variables, self.optimizer_values):
            variable.assign(value)
        optimizer.learning_rate = float(self.learning_rate)


def _cycle(batches):
    while True:
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty:
            raise WorkbenchError("the range test got no training batches: check the data")


# ------------------------------------------------------------------ suggestions
def suggest(lrs: np.ndarray, smoothed: np.ndarray, losses: np.ndarray | None = None) -> list[Suggestion]:
    """Suggested rates from a loss curve (smoothed, and raw when given), by named methods."""
    losses = smoothed if losses is None else losses
    finite = np.isfinite(smoothed) & np.isfinite(losses)
    if finite.sum() < 5:
        return []
    lrs, smoothed, losses = lrs[finite], smoothed[finite], losses[finite]
    bottom = int(np.argmin(smoothed))
    suggestions = []
    log_lr = np.log10(lrs)
    if bottom >= 2:
        # Up to the minimum: past it the loss rises and its slope says nothing about training.
        # The slope of a centred average of the raw loss: the moving average lags the curve
        # by ~1 / (1 - beta) batches, which would put the steepest point too late.
        centred = _centred_average(losses)
        slope = np.gradient(centred[:bottom + 1], log_lr[:bottom + 1])
        steep = int(np.argmin(slope))
        if slope[steep] < 0:
            suggestions.append(Suggestion("steepest", "steepest descent of the loss",
                                          float(lrs[steep]), steep))
    suggestions.append(Suggestion("minimum", "minimum loss / 10", float(lrs[bottom] / 10),
                                  _index_of(lrs, lrs[bottom] / 10)))
    valley = _valley(smoothed)
    if valley is not None:
        suggestions.append(Suggestion("valley", "valley (middle of the longest descent)",
                                      float(lrs[valley]), valley))
    edge = _edge(smoothed, losses, bottom)
    suggestions.append(Suggestion("edge", "loss starts rising (upper bound)", float(lrs[edge]), edge))
    return suggestions


def _centred_average(values: np.ndarray) -> np.ndarray:
    """A moving average over ~5% of the points centred on each (shorter at the ends)."""
    half = max(2, len(values) // 40)
    sums = np.concatenate([[0.0], np.cumsum(values)])
    index = np.arange(len(values))
    low, high = np.maximum(0, index - half), np.minimum(len(values), index + half + 1)
    return (sums[high] - sums[low]) / (high - low)


def _index_of(lrs: np.ndarray, rate: float) -> int:
    return int(np.argmin(np.abs(np.log(lrs) - math.log(rate))))


def _valley(smoothed: np.ndarray) -> int | None:
    """The middle of the longest stretch where the smoothed loss keeps falling."""
    best_start, best_length, start = 0, 0, 0
    for i in range(1, len(smoothed) + 1):
        if i == len(smoothed) or smoothed[i] > smoothed[i - 1]:
            if i - start > best_length:
                best_start, best_length = start, i - start
            start = i
    if best_length < 3:
        return None
    return best_start + best_length // 2


def _edge(smoothed: np.ndarray, losses: np.ndarray, bottom: int, rise: float = 0.1,
          run: int = 3) -> int:
    """The point before the raw loss climbs over ``rise`` (10%) above the smoothed minimum
    and stays there for ``run`` batches: past it the loss only climbs. The raw loss, because
    the moving average lags the rise by tens of iterations; a run of batches, because one
    noisy batch above the line is not a rise."""
    low = smoothed[bottom]
    threshold = low + rise * abs(low) if low != 0 else rise
    above = losses > threshold
    start = int(np.argmin(losses))  # the rise comes after the best batch
    for i in range(start + 1, len(losses) - run + 1):
        if above[i:i + run].all():
            return i - 1
    return len(losses) - 1


# -------------------------------------------------------------- the experiment
def find_lr(experiment: Experiment, dataset=None, config: RangeTestConfig | None = None,
            progress: Progress | None = None, weights: dict | None = None) -> RangeTestResult:
    """The range test on the experiment's model (built fresh, with ``weights`` if given),
    optimizer, loss and training data."""
    from workbench.graph.convert import build_model
    from workbench.training.config import TrainingConfig

    progress = progress or NullProgress()
    config = config or RangeTestConfig()
    training = TrainingConfig.from_dict(experiment.training)
    training.check_keras_names()
    if dataset is None:
        from workbench.data import load_dataset

        dataset = load_dataset(experiment.data_for_loading(), progress)
    keras = keras_module()
    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)
    progress.step(0, config.iterations, "building the model")
    model = build_model(experiment.graph, weights).model
    model.compile(optimizer=training.make_optimizer(), loss=training.loss)
    batch_size = config.batch_size or training.batch_size
    return range_test(model, _batches(dataset, batch_size, config.seed), config, progress)


def _batches(dataset, batch_size: int, seed: int | None):
    """Shuffled in-memory batches (a new order each pass), or the training stream."""
    if dataset.x_train is None:
        return dataset.train_stream
    rng = np.random.default_rng(seed)
    x, y = dataset.x_train, dataset.y_train
    if y is None:  # an autoencoder learns its input
        y = x

    class Batches:
        def __iter__(self):
            order = rng.permutation(len(x))
            for start in range(0, len(order) - batch_size + 1 if len(order) >= batch_size else 1,
                               batch_size):
                rows = np.sort(order[start:start + batch_size])
                yield x[rows], y[rows]

    return Batches()
