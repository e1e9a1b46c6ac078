"""The CAM family: which regions of a convolutional layer's feature maps drive a class score.

* ``grad_cam``: ReLU of the feature maps weighted by their spatially averaged gradients,
  upsampled to the input (Selvaraju et al.).
* ``grad_cam_plus_plus``: channel weights from positive gradients with per-pixel
  coefficients, better with several objects (Chattopadhyay et al.; the closed form for an
  exponential of the score, which needs first-order gradients only).
* ``guided_grad_cam``: guided backpropagation times Grad-CAM: fine detail, class-specific.
* ``score_cam``: no gradients: each channel, upsampled and scaled to [0, 1], masks the input,
  and the class probability of the masked input weighs that channel (Wang et al.).

The layer is the last 2-D convolution unless one is named (a path like ``backbone/conv2d``
reaches inside a nested model). Maps are scaled into [0, 1] per input.
"""

from __future__ import annotations

import numpy as np

from workbench.backend import keras_module
from workbench.errors import WorkbenchError
from workbench.inspect import gradients
from workbench.inspect.images import resize_maps, unit_range
from workbench.inspect.layers import (
    conv_layers,
    last_conv_layer,
    layer_path,
    model_cache,
    output_shape,
    walk,
)
from workbench.inspect.saliency import check_inputs, input_gradients, reduce_channels
from workbench.inspect.score import Explanation, class_array, score_head


def cam_layer(model, layer: str | None) -> str:
    """The path of the layer CAM methods weigh: ``layer`` checked, or the last convolution.

    Raises:
        WorkbenchError: no such layer, a layer without a spatial output, or no convolution.
    """
    if layer is None:
        return last_conv_layer(model)
    path = layer_path(model, layer)
    shape = output_shape(dict(walk(model))[path])
    if shape is None or len(shape) != 4:
        convs = ", ".join(conv_layers(model)) or "none"
        raise WorkbenchError(f"layer {path!r} has output shape {shape}: CAM methods need feature "
                             "maps (batch, height, width, channels); convolutional layers: "
                             f"{convs}")
    return path


def feature_gradients(model, x, layer: str | None = None, class_index=None, output=None,
                      batch_size: int = 32):
    """A layer's feature maps and the class score's gradients with respect to them.

    Returns:
        (path, features (N, h, w, K), gradients (N, h, w, K), scores, classes, predicted).
    """
    path = cam_layer(model, layer)
    head = score_head(model, output)
    x = check_inputs(model, x)
    classes = class_array(class_index, len(x))
    for c in set(classes.tolist()) - {-1}:
        head.check_class(c)
    cache = model_cache(model)
    key = ("tap_gradient", head.output, path)
    if key not in cache:
        def objective(inputs, wanted):
            scores, found = head.logits(inputs, taps=(path,))
            values, used, predicted = head.select(scores, wanted)
            return values, found[path], (used, predicted)

        cache[key] = gradients.tap_gradient(objective)
    function = cache[key]
    parts = gradients.to_numpy([function(x[i:i + batch_size], classes[i:i + batch_size])
                                for i in range(0, len(x), batch_size)])
    join = np.concatenate
    return (path, join([p[2] for p in parts]), join([p[3] for p in parts]),
            join([p[0] for p in parts]), join([p[1][0] for p in parts]), join([p[1][1] for p in parts]))


def grad_cam(model, x, class_index=None, layer: str | None = None, output=None,
             batch_size: int = 32) -> Explanation:
    """Grad-CAM: ReLU(sum_k mean(dS/dA_k) A_k), upsampled to the input."""
    path, features, grads, scores, classes, predicted = feature_gradients(
        model, x, layer, class_index, output, batch_size)
    weights = grads.mean(axis=(1, 2))
    cam = np.maximum(np.einsum("nhwk,nk->nhw", features, weights), 0)
    return _explanation("grad_cam", model, x, cam, path, output, classes, scores, predicted)


def grad_cam_plus_plus(model, x, class_index=None, layer: str | None = None, output=None,
                       batch_size: int = 32) -> Explanation:
    """Grad-CAM++: channel weights sum_ij alpha_ij ReLU(dS/dA_ij) with the closed-form alphas."""
    path, features, grads, scores, classes, predicted = feature_gradients(
        model, x, layer, class_index, output, batch_size)
    g2, g3 = grads ** 2, grads ** 3
    denominator = 2 * g2 + features.sum(axis=(1, 2), keepdims=True) * g3
    alpha = g2 / np.where(denominator != 0, denominator, 1.0)
    weights = (alpha * np.maximum(grads, 0)).sum(axis=(1, 2))
    cam = np.maximum(np.einsum("nhwk,nk->nhw", features, weights), 0)
    return _explanation("grad_cam_plus_plus", model, x, cam, path, output, classes, scores, predicted)


def guided_grad_cam(model, x, class_index=None, layer: str | None = None, output=None,
                    batch_size: int = 32) -> Explanation:
    """Guided Grad-CAM: |guided backpropagation| (largest over channels) times Grad-CAM."""
    cam = grad_cam(model, x, class_index, layer, output, batch_size)
    guided, _, _, _ = input_gradients(model, x, cam.classes, output, guided=True,
                                      batch_size=batch_size)
    maps = unit_range(reduce_channels(np.abs(guided), "max") * cam.maps)
    cam.maps, cam.method = maps, "guided_grad_cam"
    return cam


def score_cam(model, x, class_index=None, layer: str | None = None, output=None,
              batch_size: int = 32, max_channels: int | None = None) -> Explanation:
    """Score-CAM: channels weighted by the class probability of the input they mask.

    Args:
        max_channels: use only this many channels, the most active on average (None: all);
            the cost is one forward pass per channel and input.
    """
    ops = keras_module().ops
    path = cam_layer(model, layer)
    head = score_head(model, output)
    x = check_inputs(model, x)
    forward = _forward(model, head, path)
    classes = class_array(class_index, len(x))
    for c in set(classes.tolist()) - {-1}:
        head.check_class(c)
    scores, used, predicted, _, features = _batched(forward, x, classes, batch_size)
    cams = []
    for i in range(len(x)):
        acts = features[i]  # (h, w, K)
        channels = np.arange(acts.shape[-1])
        if max_channels is not None and max_channels < len(channels):
            channels = np.argsort(-acts.mean(axis=(0, 1)))[:max_channels]
        masks = unit_range(resize_maps(np.moveaxis(acts[..., channels], -1, 0), x.shape[1:3]))
        masked = x[i][None] * masks[..., None]
        _, _, _, logits, _ = _batched(forward, masked, np.full(len(masked), used[i], np.int32),
                                      batch_size)
        if head.units == 1:
            sign = 1.0 if used[i] == 1 else -1.0
            weights = np.asarray(ops.convert_to_numpy(ops.sigmoid(sign * logits[:, 0])))
        else:
            weights = np.asarray(ops.convert_to_numpy(ops.softmax(logits, axis=-1)))[:, used[i]]
        cams.append(np.maximum(np.tensordot(acts[..., channels], weights, axes=([-1], [0])), 0))
    return _explanation("score_cam", model, x, np.stack(cams), path, output, used, scores, predicted)


def _forward(model, head, path):
    """A compiled forward pass returning scores, classes, logits and the layer's features."""
    cache = model_cache(model)
    key = ("forward", head.output, path)
    if key not in cache:
        def run(inputs, wanted):
            logits, found = head.logits(inputs, taps=(path,))
            values, used, predicted = head.select(logits, wanted)
            return values, used, predicted, logits, found[path]

        cache[key] = gradients.compiled(run)
    return cache[key]


def _batched(function, x, classes, batch_size):
    parts = gradients.to_numpy([function(x[i:i + batch_size], classes[i:i + batch_size])
                                for i in range(0, len(x), batch_size)])
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(len(parts[0])))


def _explanation(method, model, x, cam, path, output, classes, scores, predicted) -> Explanation:
    x = np.asarray(x)
    size = x.shape[1:3] if x.ndim == 4 else x.shape[0:2]
    maps = unit_range(resize_maps(cam, size))
    return Explanation(maps=maps, classes=classes, scores=scores, predicted=predicted,
                       method=method, layer=path, output=score_head(model, output).output)
