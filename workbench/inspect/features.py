"""What a layer computes and what it has learnt: activation maps, kernels, dense templates.

* ``activation_maps``: a layer's outputs for some inputs (any layer, nested ones too).
* ``kernel_tiles``: a convolution's kernels as pictures; RGB tiles for a layer that reads a
  colour image (the first layer), grey tiles (the mean over input channels) otherwise.
* ``dense_templates``: a dense layer fed by the flattened image (a linear classifier): each
  unit's weights reshaped to the image, the "template" it matches.

Tiles come in [0, 1] with 0.5 for a zero weight, scaled together so that they compare;
``images.grid`` arranges them into one picture.
"""

from __future__ import annotations

import numpy as np

from workbench.errors import WorkbenchError
from workbench.inspect import gradients
from workbench.inspect.images import unit_range
from workbench.inspect.layers import (
    conv_layers,
    feature_model,
    layer_path,
    model_cache,
    model_inputs,
    walk,
)
from workbench.inspect.saliency import check_inputs


def activation_maps(model, x, layer: str, batch_size: int = 32, normalize: bool = False) -> np.ndarray:
    """The outputs of ``layer`` for inputs ``x``: (N, h, w, K) for a convolution.

    Args:
        normalize: scale each input's maps into [0, 1] (all channels together).
    """
    x = check_inputs(model, x)
    path = layer_path(model, layer)
    cache = model_cache(model)
    key = ("activations", path)
    if key not in cache:
        sub = feature_model(model, [path])
        cache[key] = gradients.compiled(lambda inputs: sub(inputs))
    function = cache[key]
    out = np.concatenate(gradients.to_numpy([function(x[i:i + batch_size])
                                             for i in range(0, len(x), batch_size)]))
    return unit_range(out) if normalize else out


def channel_tiles(maps: np.ndarray, limit: int | None = 64) -> np.ndarray:
    """One input's (h, w, K) maps as K grey tiles (K, h, w), each scaled into [0, 1]."""
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise WorkbenchError(f"activations of shape {maps.shape} are not maps (height, width, "
                             "channels): choose a layer with a spatial output (a convolution, a "
                             "pooling); a dense layer's activations are numbers, not pictures")
    tiles = np.moveaxis(maps, -1, 0)[:limit]
    return unit_range(tiles)


def kernel_tiles(model, layer: str | None = None) -> np.ndarray:
    """A convolution's kernels as tiles (K, kh, kw, 3) RGB, or (K, kh, kw) grey.

    Args:
        layer: a 2-D convolution; None: the first one.

    Raises:
        WorkbenchError: the model or the layer has no 2-D convolution kernels.
    """
    if layer is None:
        convs = conv_layers(model)
        if not convs:
            raise WorkbenchError(f"model {model.name!r} has no 2-D convolutional layer whose "
                                 "kernels could be drawn")
        layer = convs[0]
    path = layer_path(model, layer)
    target = dict(walk(model))[path]
    kernel = getattr(target, "kernel", None)
    if kernel is None or len(kernel.shape) != 4:
        convs = ", ".join(conv_layers(model)) or "none"
        raise WorkbenchError(f"layer {path!r} ({type(target).__name__}) has no 2-D kernel to draw; "
                             f"convolutional layers: {convs}")
    weights = np.asarray(kernel.numpy() if hasattr(kernel, "numpy") else kernel, np.float32)
    if type(target).__name__ == "DepthwiseConv2D":  # (kh, kw, in, multiplier): one per input
        weights = weights.reshape(weights.shape[0], weights.shape[1], 1, -1)
    tiles = _centred(np.moveaxis(weights, -1, 0))  # (K, kh, kw, in)
    if tiles.shape[-1] == 3:
        return tiles
    return tiles.mean(axis=-1)


def dense_templates(model, layer: str | None = None) -> np.ndarray:
    """A dense layer's weights, one tile per unit, shaped like the input image.

    Args:
        layer: a Dense layer reading the flattened input; None: the first Dense layer.

    Returns:
        (units, H, W, C) in [0, 1], 0.5 for a zero weight.

    Raises:
        WorkbenchError: the layer does not read as many values as the input has.
    """
    layers = dict(walk(model))
    if layer is None:
        dense = [p for p, item in layers.items() if type(item).__name__ == "Dense"]
        if not dense:
            raise WorkbenchError(f"model {model.name!r} has no Dense layer")
        layer = dense[0]
    path = layer_path(model, layer)
    target = layers[path]
    kernel = getattr(target, "kernel", None)
    shape = tuple(model_inputs(model)[0].shape[1:])
    if kernel is None or len(kernel.shape) != 2:
        raise WorkbenchError(f"layer {path!r} ({type(target).__name__}) is not a dense layer")
    size = int(np.prod(shape)) if None not in shape else None
    if size != kernel.shape[0]:
        raise WorkbenchError(
            f"layer {path!r} reads {kernel.shape[0]} values but the input {shape} has {size}: "
            "templates are drawn only for a dense layer fed directly by the flattened input "
            "(a linear classifier)")
    weights = np.asarray(kernel.numpy(), np.float32)  # (values, units)
    return _centred(weights.T.reshape((-1,) + shape))


def _centred(weights: np.ndarray) -> np.ndarray:
    """Weights into [0, 1] around 0.5, by their largest magnitude (shared by all tiles)."""
    largest = float(np.abs(weights).max()) if weights.size else 0.0
    if largest == 0:
        return np.full(weights.shape, 0.5, np.float32)
    return (0.5 + 0.5 * weights / largest).astype(np.float32)
