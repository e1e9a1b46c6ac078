"""Input preprocessing fitted on the training split: scale, standardize, min-max.

Every step is an affine map per feature (``x * a + b``), so the steps compose into one map and
only the training data's raw statistics (mean, standard deviation, minimum, maximum) are
needed, whether they come from an array in memory or are gathered batch by batch from a
stream. The statistics are per feature for tables (N, F), per channel for images
(N, H, W, C), and one value for anything else (sequences, plain (N, H, W) arrays).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

INPUT_STEPS = ("scale", "standardize", "minmax")
_TRANSFORM_CHUNK = 8192  # samples transformed at a time


@dataclass
class Stats:
    """Raw statistics of the training inputs (arrays broadcastable against one sample)."""

    mean: np.ndarray
    std: np.ndarray
    low: np.ndarray
    high: np.ndarray


class StatsAccumulator:
    """Gathers ``Stats`` over batches (sums in float64, so large sets stay accurate)."""

    def __init__(self) -> None:
        self.count = self.total = self.squares = self.low = self.high = None

    def add(self, batch: np.ndarray) -> None:
        rows = _feature_rows(np.asarray(batch, dtype=np.float64))
        if rows.size == 0:
            return
        finite = np.where(np.isfinite(rows), rows, np.nan)  # NaN are warned about, not averaged
        with warnings.catch_warnings():  # an all-NaN feature: its statistics fall back below
            warnings.simplefilter("ignore", RuntimeWarning)
            total, squares = np.nansum(finite, axis=0), np.nansum(finite ** 2, axis=0)
            low, high = np.nanmin(finite, axis=0), np.nanmax(finite, axis=0)
        if self.total is None:
            self.total, self.squares, self.low, self.high = total, squares, low, high
            self.count = np.zeros_like(total)
        else:
            self.total += total
            self.squares += squares
            self.low = np.fmin(self.low, low)
            self.high = np.fmax(self.high, high)
        self.count += np.isfinite(rows).sum(axis=0)

    def stats(self, sample_rank: int) -> Stats:
        if self.total is None:  # no data at all: an identity map
            self.total = self.squares = self.low = self.high = self.count = np.zeros(1)
        count = np.maximum(self.count, 1)
        mean = self.total / count
        std = np.sqrt(np.maximum(self.squares / count - mean ** 2, 0.0))
        low, high = np.nan_to_num(self.low, nan=0.0), np.nan_to_num(self.high, nan=1.0)
        return Stats(*(_broadcastable(v, sample_rank) for v in (mean, std, low, high)))


def compute_stats(x: np.ndarray, chunk: int = 4096) -> Stats:
    """``Stats`` of an array of samples, in chunks so no float64 copy of it all is made."""
    accumulator = StatsAccumulator()
    for start in range(0, len(x), chunk):
        accumulator.add(x[start:start + chunk])
    return accumulator.stats(np.ndim(x) - 1)


@dataclass
class Preprocessor:
    """The fitted input steps as one affine map ``x * scale + offset``.

    Attributes:
        steps: the input steps in order (onehot is a label step and not here).
        known_max: what "scale" divides by (None: the source has no known maximum).
        scale, offset: the composed map, broadcastable against a batch of samples.
        applied: a line per step for people ("scale: divided by 255").
    """

    steps: list[str] = field(default_factory=list)
    known_max: float | None = None
    scale: np.ndarray | float = 1.0
    offset: np.ndarray | float = 0.0
    applied: list[str] = field(default_factory=list)

    @classmethod
    def fit(cls, steps: Iterable[str], x: np.ndarray, known_max: float | None) -> Preprocessor:
        """Fit on the training inputs ``x`` (statistics are only computed when a step needs them)."""
        steps = [s for s in steps if s in INPUT_STEPS]
        stats = compute_stats(x) if any(s != "scale" for s in steps) else None
        return cls.from_stats(steps, stats, known_max)

    @classmethod
    def from_stats(cls, steps: Iterable[str], stats: Stats | None, known_max: float | None) -> Preprocessor:
        """Compose the steps from the training data's raw statistics."""
        steps = [s for s in steps if s in INPUT_STEPS]
        scale, offset = np.float64(1.0), np.float64(0.0)
        applied = []
        mean = std = low = high = None
        if stats is not None:
            mean, std, low, high = stats.mean, stats.std, stats.low, stats.high
        for step in steps:
            if step == "scale":
                if not known_max:
                    applied.append("scale: no known maximum for this source, left unchanged")
                    continue
                a, b = 1.0 / known_max, 0.0
                applied.append(f"scale: divided by {known_max:g}")
            elif step == "standardize":
                a = 1.0 / np.where(std > 0, std, 1.0)  # constant features stay put, not inf
                b = -mean * a
                applied.append("standardize: mean 0, standard deviation 1 (training statistics)")
            else:
                span = high - low
                a = 1.0 / np.where(span > 0, span, 1.0)
                b = -low * a
                applied.append("minmax: to [0, 1] (training minimum and maximum)")
            # Later steps see the data after this one: move the statistics through the map.
            scale, offset = scale * a, offset * a + b
            if stats is not None:
                mean, std, low, high = mean * a + b, std * np.abs(a), low * a + b, high * a + b
        return cls(steps, known_max, _compact(scale), _compact(offset), applied)

    @property
    def identity(self) -> bool:
        return bool(np.all(np.asarray(self.scale) == 1.0) and np.all(np.asarray(self.offset) == 0.0))

    def transform(self, x, in_place: bool = False):
        """Apply the map to a NumPy array (float32 result) or a TensorFlow tensor.

        Args:
            x: samples with the training data's sample shape.
            in_place: overwrite ``x`` when it is already a float32 array (saves a copy of a big
                set; only for arrays nobody else holds).
        """
        if not isinstance(x, np.ndarray):  # a tensor in a tf.data pipeline
            import tensorflow as tf

            x = tf.cast(x, tf.float32)
            if self.identity:
                return x
            return x * tf.constant(self.scale, tf.float32) + tf.constant(self.offset, tf.float32)
        result = x if in_place and x.dtype == np.float32 else np.empty(x.shape, np.float32)
        if self.identity:
            if result is not x:
                result[...] = x
            return result
        # In float64, a chunk at a time: float32 arithmetic would put the training maximum of
        # minmax at 1.0000001, and a float64 copy of a whole large set would not fit.
        scale, offset = np.asarray(self.scale, np.float64), np.asarray(self.offset, np.float64)
        for start in range(0, len(x), _TRANSFORM_CHUNK):
            stop = start + _TRANSFORM_CHUNK
            result[start:stop] = x[start:stop] * scale + offset
        return result


def _feature_rows(x: np.ndarray) -> np.ndarray:
    """Rows of features the statistics run over: (N, F) for tables, (N*H*W, C) for images."""
    if x.ndim in (2, 4):
        return x.reshape(-1, x.shape[-1])
    return x.reshape(-1, 1)


def _broadcastable(values: np.ndarray, sample_rank: int) -> np.ndarray:
    """Per-feature values (F,) broadcast against (N, F) tables and (N, H, W, C) images alike;
    other ranks have one value."""
    values = np.asarray(values, dtype=np.float64)
    return values if sample_rank in (1, 3) else values.reshape(())


def _compact(value) -> np.ndarray | float:
    array = np.asarray(value, dtype=np.float64)
    return float(array) if array.ndim == 0 else array
