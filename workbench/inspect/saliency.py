"""The saliency family: how much each input pixel moves the explained class score.

* ``gradient``: |d score / d input|, the largest over colour channels (Simonyan et al.).
* ``smoothgrad``: the gradient averaged over noisy copies of the input (noise as a share of
  the input's range), then the same reduction: less speckle (Smilkov et al.).
* ``guided_backprop``: gradients that pass every ReLU only where both the forward input and
  the backward gradient are positive (Springenberg et al.).
* ``integrated_gradients``: (input - baseline) times the gradient averaged along the straight
  path from the baseline, summed over channels (Sundararajan et al.).
* ``gradient_x_input``: input times gradient, summed over channels.

Every map is scaled into [0, 1] per input. The gradient function is compiled once per model,
output and variant and reused; inputs go through it in batches.
"""

from __future__ import annotations

import numpy as np

from workbench.errors import WorkbenchError
from workbench.inspect import gradients
from workbench.inspect.images import unit_range
from workbench.inspect.layers import model_cache, model_inputs, output_index
from workbench.inspect.score import Explanation, class_array, score_head


def input_gradients(model, x: np.ndarray, class_index=None, output=None, guided: bool = False,
                    batch_size: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of each input's class score with respect to the input.

    Args:
        model: a functional or Sequential Keras model (unchanged).
        x: a batch of inputs shaped like the model's input.
        class_index: None (each input's predicted class), a class, or one class per input.
        output: which model output (multi-output models); None for the first.
        guided: guided backpropagation's gradients instead of plain ones.
        batch_size: inputs per compiled call.

    Returns:
        gradients (shaped like ``x``), scores (N,), classes explained (N,), predicted (N,).
    """
    head = score_head(model, output)
    x = check_inputs(model, x)
    classes = class_array(class_index, len(x))
    for c in set(classes.tolist()) - {-1}:
        head.check_class(c)
    key = ("input_gradient", head.output, guided)
    cache = model_cache(model)
    if key not in cache:
        def objective(inputs, wanted):
            scores, _ = head.logits(inputs, guided=guided)
            values, used, predicted = head.select(scores, wanted)
            return values, (used, predicted)

        cache[key] = gradients.input_gradient(objective)
    function = cache[key]
    parts = [function(x[i:i + batch_size], classes[i:i + batch_size])
             for i in range(0, len(x), batch_size)]
    parts = gradients.to_numpy(parts)
    values = np.concatenate([p[0] for p in parts])
    used = np.concatenate([p[1][0] for p in parts])
    predicted = np.concatenate([p[1][1] for p in parts])
    grads = np.concatenate([p[2] for p in parts])
    return grads, values, used, predicted


def gradient(model, x, class_index=None, output=None, batch_size: int = 32) -> Explanation:
    """Vanilla gradient saliency: |gradient|, the largest over channels."""
    grads, scores, classes, predicted = input_gradients(model, x, class_index, output,
                                                        batch_size=batch_size)
    return _explanation("gradient", model, output, reduce_channels(np.abs(grads), "max"),
                        classes, scores, predicted)


def guided_backprop(model, x, class_index=None, output=None, batch_size: int = 32) -> Explanation:
    """Guided backpropagation: |guided gradient|, the largest over channels (non-negative)."""
    grads, scores, classes, predicted = input_gradients(model, x, class_index, output, guided=True,
                                                        batch_size=batch_size)
    return _explanation("guided_backprop", model, output, reduce_channels(np.abs(grads), "max"),
                        classes, scores, predicted)


def gradient_x_input(model, x, class_index=None, output=None, batch_size: int = 32) -> Explanation:
    """|input x gradient| summed over channels."""
    x = check_inputs(model, x)
    grads, scores, classes, predicted = input_gradients(model, x, class_index, output,
                                                        batch_size=batch_size)
    return _explanation("gradient_x_input", model, output,
                        np.abs(reduce_channels(grads * x, "sum")), classes, scores, predicted)


def smoothgrad(model, x, class_index=None, output=None, samples: int = 25, noise: float = 0.15,
               seed: int | None = 0, batch_size: int = 32) -> Explanation:
    """SmoothGrad: gradients averaged over ``samples`` noisy copies of each input.

    Args:
        samples: noisy copies per input.
        noise: the noise's standard deviation as a share of each input's value range.
        seed: seeds the noise (None: a new draw each call).
    """
    if samples < 1:
        raise WorkbenchError(f"smoothgrad needs at least 1 sample (got {samples})")
    if noise < 0:
        raise WorkbenchError(f"the noise level must not be negative (got {noise})")
    x = check_inputs(model, x)
    _, scores, classes, predicted = input_gradients(model, x, class_index, output,
                                                    batch_size=batch_size)
    rng = np.random.default_rng(seed)
    axes = tuple(range(1, x.ndim))
    sigma = noise * (x.max(axis=axes) - x.min(axis=axes))
    total = np.zeros_like(x)
    for _ in range(samples):
        noisy = x + rng.normal(size=x.shape).astype(np.float32) * sigma.reshape((-1,) + (1,) * (x.ndim - 1))
        total += input_gradients(model, noisy.astype(np.float32), classes, output,
                                 batch_size=batch_size)[0]
    return _explanation("smoothgrad", model, output, reduce_channels(np.abs(total / samples), "max"),
                        classes, scores, predicted)


def integrated_gradients(model, x, class_index=None, output=None, baseline=0.0, steps: int = 32,
                         batch_size: int = 32) -> Explanation:
    """Integrated gradients along the straight path from ``baseline`` to each input.

    Args:
        baseline: a number (every value), or an array shaped like one input or like ``x``.
        steps: points on the path (midpoint rule).
    """
    if steps < 1:
        raise WorkbenchError(f"integrated gradients needs at least 1 step (got {steps})")
    x = check_inputs(model, x)
    try:
        base = np.broadcast_to(np.asarray(baseline, np.float32), x.shape)
    except ValueError:
        raise WorkbenchError(f"the baseline must be a number or shaped like the input {x.shape[1:]} "
                             f"(got shape {np.shape(baseline)})") from None
    _, scores, classes, predicted = input_gradients(model, x, class_index, output,
                                                    batch_size=batch_size)
    total = np.zeros_like(x)
    for alpha in (np.arange(steps, dtype=np.float32) + 0.5) / steps:
        point = base + alpha * (x - base)
        total += input_gradients(model, point, classes, output, batch_size=batch_size)[0]
    attribution = (x - base) * total / steps
    return _explanation("integrated_gradients", model, output,
                        np.abs(reduce_channels(attribution, "sum")), classes, scores, predicted)


# ---------------------------------------------------------------------------- helpers
def check_inputs(model, x) -> np.ndarray:
    """``x`` as a float32 batch that fits the model's (single) input.

    Raises:
        WorkbenchError: several model inputs, or a shape that does not match.
    """
    inputs = model_inputs(model)
    if len(inputs) != 1:
        raise WorkbenchError(f"model {model.name!r} has {len(inputs)} inputs: the inspection "
                             "tools explain models with one input")
    x = np.asarray(x, np.float32)
    expected = tuple(inputs[0].shape[1:])
    if x.ndim == len(expected):
        x = x[None]
    fits = x.ndim == len(expected) + 1 and all(e is None or e == h for e, h in zip(expected, x.shape[1:]))
    if not fits:
        shown = tuple("?" if e is None else e for e in expected)
        raise WorkbenchError(f"inputs of shape {x.shape[1:]} do not fit model {model.name!r}, which "
                             f"takes {shown}; resize the image to the model's input "
                             "(workbench.inspect.images.fit_image does it)")
    return x


def reduce_channels(values: np.ndarray, how: str) -> np.ndarray:
    """(N, H, W, C) -> (N, H, W) by the channels' max or sum; other ranks are kept."""
    if values.ndim != 4:
        return values
    return values.max(axis=-1) if how == "max" else values.sum(axis=-1)


def _explanation(method, model, output, maps, classes, scores, predicted) -> Explanation:
    return Explanation(maps=unit_range(maps), classes=classes, scores=scores, predicted=predicted,
                       method=method, output=output_index(model, output))
