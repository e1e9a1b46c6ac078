"""Activation maximization: the input a unit, a filter or a class score likes best.

Starting from seeded noise, gradient ascent changes the input to raise the target's activation
(a filter's mean over positions, a dense unit, or a class score before softmax), less an L2
penalty (keeps values near the middle of the range) and a total-variation penalty (smooth
pictures). Regularisers from Yosinski et al. make the result readable: a random shift (jitter)
before each step, a light blur every few steps, and clipping to the input range. Each step is
normalised by the gradient's spread, so the learning rate is a share of the value range.

A batch of inputs is optimised at once, one target unit each, which is how a grid of many
filters of one layer costs about as much as one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from workbench.backend import keras_module
from workbench.errors import FormatError, WorkbenchError
from workbench.inspect import gradients
from workbench.inspect.layers import (
    feature_model,
    layer_path,
    model_cache,
    model_inputs,
    output_shape,
    walk,
)
from workbench.inspect.score import score_head
from workbench.settings import PlainSettings
from workbench.tasks import NullProgress, Progress


@dataclass
class MaximizeSettings(PlainSettings):
    """How activation maximization runs (plain data: ``get_config``/``from_config``).

    Attributes:
        steps: gradient-ascent steps.
        learning_rate: each step's size as a share of the value range.
        l2: weight of the L2 penalty (mean squared distance from the range's middle).
        tv: weight of the total-variation penalty (mean squared difference of neighbours).
        jitter: largest random shift in pixels before each step (0: none).
        blur_every: blur lightly every this many steps (0: never).
        value_range: the input values the model was trained on (low, high); results clip to it.
        seed: seeds the starting noise and the jitter (None: a new draw).
        preview_every: report a preview (``progress.partial``) every this many steps (0: never).
    """

    steps: int = 100
    learning_rate: float = 0.05
    l2: float = 0.01
    tv: float = 0.5
    jitter: int = 1
    blur_every: int = 4
    value_range: tuple[float, float] = (0.0, 1.0)
    seed: int | None = 0
    preview_every: int = 10

    def __post_init__(self) -> None:
        self.value_range = tuple(float(v) for v in self.value_range)
        checks = [("steps", self.steps >= 1), ("learning_rate", self.learning_rate > 0),
                  ("l2", self.l2 >= 0), ("tv", self.tv >= 0), ("jitter", self.jitter >= 0),
                  ("blur_every", self.blur_every >= 0), ("preview_every", self.preview_every >= 0),
                  ("value_range", len(self.value_range) == 2
                   and self.value_range[0] < self.value_range[1])]
        for name, ok in checks:
            if not ok:
                raise FormatError(name, f"invalid value {getattr(self, name)!r}")


@dataclass
class MaximizeResult:
    """Inputs found by activation maximization.

    Attributes:
        images: (K, H, W, C) the inputs scaled into [0, 1] from ``value_range``.
        inputs: (K, H, W, C) the inputs in the model's value range.
        units: (K,) the unit or filter each input maximizes.
        layer: the layer path, or None for class scores.
        history: (steps + 1, K) each target's activation before every step and at the end.
        stopped: True when cancelled before all steps.
    """

    images: np.ndarray
    inputs: np.ndarray
    units: np.ndarray
    layer: str | None
    history: np.ndarray
    stopped: bool = False
    notes: list[str] = field(default_factory=list)


def maximize(model, units, layer: str | None = None, settings: MaximizeSettings | None = None,
             progress: Progress | None = None, output=None) -> MaximizeResult:
    """Find inputs that maximize ``units`` of ``layer`` (one input per unit).

    Args:
        units: filter or unit indices (or class indices when ``layer`` is None).
        layer: a layer path; None (or the output layer) maximizes class scores before softmax.
        settings: how to run (``MaximizeSettings`` defaults when None).
        progress: told each step; gets previews as ``{"kind": "preview", "step", "images",
            "activations"}``; may cancel (the result so far is returned).
        output: which model output for class scores.
    """
    settings = settings or MaximizeSettings()
    progress = progress or NullProgress()
    units = np.asarray(units, np.int32).reshape(-1)
    if len(units) == 0:
        raise WorkbenchError("no units to maximize")
    objective, path, count = _objective(model, layer, output, settings)
    bad = [int(u) for u in units if not 0 <= u < count]
    if bad:
        raise WorkbenchError(f"unit {bad[0]} does not exist: {path or 'the output'} has {count} "
                             f"(0 to {count - 1})")
    shape = tuple(model_inputs(model)[0].shape[1:])
    if None in shape:
        raise WorkbenchError(f"model {model.name!r} takes inputs of any size {shape}: "
                             "activation maximization needs a fixed input size")
    low, high = settings.value_range
    rng = np.random.default_rng(settings.seed)
    middle, span = (low + high) / 2, high - low
    x = (middle + 0.05 * span * rng.standard_normal((len(units),) + shape)).astype(np.float32)
    history, stopped = [], False
    for step in range(settings.steps):
        if progress.cancelled():
            stopped = True
            break
        shift = tuple(rng.integers(-settings.jitter, settings.jitter + 1, 2)) \
            if settings.jitter and x.ndim == 4 else (0, 0)
        moved = np.roll(x, shift, axis=(1, 2)) if x.ndim == 4 else x
        _, acts, grads = gradients.to_numpy(objective(moved, units))
        history.append(acts)
        grads = np.roll(grads, (-shift[0], -shift[1]), axis=(1, 2)) if x.ndim == 4 else grads
        spread = grads.reshape(len(x), -1).std(axis=1) + 1e-8
        x = x + settings.learning_rate * span * grads / spread.reshape((-1,) + (1,) * (x.ndim - 1))
        if settings.blur_every and x.ndim == 4 and (step + 1) % settings.blur_every == 0:
            x = _blur(x)
        x = np.clip(x, low, high).astype(np.float32)
        progress.step(step + 1, settings.steps, f"step {step + 1}: mean activation {acts.mean():.4g}")
        if settings.preview_every and (step + 1) % settings.preview_every == 0:
            progress.partial({"kind": "preview", "step": step + 1, "images": (x - low) / span,
                              "activations": acts})
    history.append(gradients.to_numpy(objective(x, units))[1])
    history = np.stack(history)
    return MaximizeResult(images=((x - low) / span).astype(np.float32), inputs=x, units=units,
                          layer=path, history=history, stopped=stopped,
                          notes=_silent_units_note(units, history) if path is not None else [])


def _silent_units_note(units: np.ndarray, history: np.ndarray) -> list[str]:
    """A note naming the filters that never fired: after a ReLU, a filter silent on the
    starting noise has no gradient to climb, and its picture stays flat noise."""
    silent = [int(unit) for unit, column in zip(units, history.T) if (column <= 0).all()]
    if not silent:
        return []
    which = f"filter {silent[0]}" if len(silent) == 1 else "filters " + ", ".join(map(str, silent))
    return [f"{which} never fired: silent on the starting noise, so no gradient to climb (the "
            "picture stays flat); another seed may start them"]


def maximize_filters(model, layer: str, filters=None, count: int = 16,
                     settings: MaximizeSettings | None = None,
                     progress: Progress | None = None) -> MaximizeResult:
    """Activation maximization of many filters of one layer, all in one batch.

    Args:
        filters: the filter indices; None: the first ``count`` (or all, if fewer).
    """
    if filters is None:
        _, _, available = _objective(model, layer, None, settings or MaximizeSettings())
        filters = range(min(count, available))
    return maximize(model, list(filters), layer, settings, progress)


def _objective(model, layer, output, settings):
    """A compiled gradient function for the target, its layer path and its unit count."""
    head = score_head(model, output)
    path = None if layer is None else layer_path(model, layer)
    if path == head.path:
        path = None  # the output layer: its score before softmax, as for a class
    if path is None:
        count = 2 if head.units == 1 else head.units
    else:
        shape = output_shape(dict(walk(model))[path])
        if shape is None or len(shape) not in (2, 4):
            raise WorkbenchError(f"layer {path!r} has output shape {shape}: maximize a dense "
                                 "layer's units or a convolution's filters")
        count = int(shape[-1])
    key = ("maximize", head.output, path, settings.l2, settings.tv, settings.value_range)
    cache = model_cache(model)
    if key not in cache:
        ops = keras_module().ops
        middle = sum(settings.value_range) / 2
        sub = None if path is None else feature_model(model, [path])

        def objective(x, units):
            if sub is None:
                scores, _ = head.logits(x)
                acts, _, _ = head.select(scores, units)
            else:
                out = sub(x)
                if len(out.shape) == 4:
                    out = ops.mean(out, axis=(1, 2))
                acts = ops.take_along_axis(out, ops.expand_dims(units, -1), axis=-1)[:, 0]
            values = acts - settings.l2 * _mean(ops.square(x - middle))
            if len(x.shape) == 4:
                tv = _mean(ops.square(x[:, 1:] - x[:, :-1])) + _mean(ops.square(x[:, :, 1:] - x[:, :, :-1]))
                values = values - settings.tv * tv
            return values, acts

        cache[key] = gradients.input_gradient(objective)
    return cache[key], path, count


def _mean(values):
    ops = keras_module().ops
    return ops.mean(ops.reshape(values, (ops.shape(values)[0], -1)), axis=1)


def _blur(x: np.ndarray) -> np.ndarray:
    """A light (1, 2, 1)/4 blur along height and width, edges repeated."""
    for axis in (1, 2):
        padded = np.concatenate([np.take(x, [0], axis=axis), x, np.take(x, [-1], axis=axis)], axis=axis)
        n = x.shape[axis]
        x = (np.take(padded, range(0, n), axis=axis) + 2 * np.take(padded, range(1, n + 1), axis=axis)
             + np.take(padded, range(2, n + 2), axis=axis)) / 4
    return x
