"""Finding layers in a model, nested models included, and reading their outputs.

A layer is addressed by its path: its name in the model, or ``outer/inner`` for a layer inside
a nested model (a Keras model used as a layer, such as a backbone). A bare name that lives in
exactly one nested model is accepted too.

``trace`` runs a model's graph layer by layer, the nested models' graphs included, recording
the outputs of chosen layers and optionally calling something else in place of a layer (the
linear copy of a softmax head) or after it (the gradient gates of guided backpropagation).
It calls the model's own layer objects, so its weights are the model's, live, and the user's
model is never changed. It runs on symbolic inputs (to build sub-models) and on real tensors
(inside compiled gradient functions) alike.
"""

from __future__ import annotations

import difflib
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from workbench.backend import keras_module
from workbench.errors import WorkbenchError

# Per-model caches of sub-models, heads and compiled functions. Weak keys: a cache entry goes
# when the model does, and an id reused by a later model can never return stale entries.
_CACHES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

_CONV_TYPES = ("Conv2D", "SeparableConv2D", "DepthwiseConv2D", "Conv2DTranspose")


def model_cache(model) -> dict:
    """A dict that lives as long as ``model``, for things built once per model."""
    cache = _CACHES.get(model)
    if cache is None:
        cache = _CACHES[model] = {}
    return cache


def _graph(model):
    """The functional graph that runs ``model``: itself or a Sequential's inner one.

    Raises:
        WorkbenchError: a Sequential model not built yet, or a subclassed model (no graph).
    """
    keras = keras_module()
    if isinstance(model, keras.Sequential):
        graph = getattr(model, "_functional", None)
        if graph is None:
            raise WorkbenchError(f"model {model.name!r} has not been built: it does not know its "
                                 "input shape yet (start it with keras.Input, or call it on data)")
        return graph
    if hasattr(model, "_run_through_graph") and hasattr(model, "_nodes_by_depth"):
        return model
    raise WorkbenchError(f"model {model.name!r} is a subclassed model without a layer graph: "
                         "the inspection tools need a functional or Sequential model")


def _is_model(layer) -> bool:
    return isinstance(layer, keras_module().Model)


def _children(model) -> list:
    keras = keras_module()
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def walk(model, prefix: str = "") -> list[tuple[str, Any]]:
    """Every layer as ``(path, layer)``, input to output; a nested model comes just before
    the layers inside it."""
    found = []
    for layer in _children(model):
        path = prefix + layer.name
        found.append((path, layer))
        if _is_model(layer):
            found += walk(layer, path + "/")
    return found


def layer_names(model) -> list[str]:
    """All addressable layer paths of ``model`` (input layers left out), input to output."""
    return [path for path, _ in walk(model)]


def layer_path(model, name: str) -> str:
    """The full path of the layer called ``name`` (a path, or a bare name unique in the model).

    Raises:
        WorkbenchError: no such layer (naming the closest candidates and what exists), or a
            bare name found in several nested models.
    """
    paths = layer_names(model)
    if name in paths:
        return name
    matches = [p for p in paths if p.rsplit("/", 1)[-1] == name]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise WorkbenchError(f"layer name {name!r} is ambiguous in model {model.name!r}: "
                             f"use one of {', '.join(matches)}")
    raise WorkbenchError(f"model {model.name!r} has no layer {name!r}; {candidates_text(paths, name)}")


def candidates_text(paths: Sequence[str], name: str, limit: int = 30) -> str:
    """"did you mean ...; layers: ..." for an error message about a missing layer."""
    close = difflib.get_close_matches(name, paths, n=5, cutoff=0.5)
    text = f"did you mean {', '.join(close)}? " if close else ""
    shown = ", ".join(paths[:limit])
    more = f" ... and {len(paths) - limit} more (`workbench summary MODEL` lists them)" \
        if len(paths) > limit else ""
    return f"{text}layers: {shown}{more}" if paths else "it has no layers"


def find_layer(model, name: str):
    """The Keras layer at ``name`` (see ``layer_path``); raises WorkbenchError when missing."""
    path = layer_path(model, name)
    return dict(walk(model))[path]


def output_shape(layer) -> tuple | None:
    """A layer's output shape (batch dimension first), or None when it cannot be told
    (a layer called at several places has no single output)."""
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError):
        return None


def spatial_layers(model) -> list[str]:
    """Paths of the layers with a (N, H, W, C) output: those whose activations are maps."""
    return [path for path, layer in walk(model) if len(output_shape(layer) or ()) == 4]


def is_conv(layer) -> bool:
    """Whether ``layer`` is a 2-D convolution with a spatial (N, H, W, C) output."""
    shape = output_shape(layer)
    return type(layer).__name__ in _CONV_TYPES and shape is not None and len(shape) == 4


def conv_layers(model) -> list[str]:
    """Paths of the 2-D convolutions, input to output."""
    return [path for path, layer in walk(model) if is_conv(layer)]


def last_conv_layer(model) -> str:
    """The path of the last 2-D convolution: the layer Grad-CAM weighs by default.

    Raises:
        WorkbenchError: the model has none, saying why CAM methods need one.
    """
    found = conv_layers(model)
    if not found:
        raise WorkbenchError(
            f"model {model.name!r} has no 2-D convolutional layer, so CAM methods have no "
            "feature maps (height x width x channels) to weigh: use a saliency method "
            "(gradient, smoothgrad, integrated_gradients), or choose a layer with a spatial "
            f"output; layers: {', '.join(layer_names(model)[:30])}")
    return found[-1]


def output_layer_path(model, index: int = 0) -> str:
    """The path of the layer that produces the model's output ``index`` (inside nested
    models when one of them produces it)."""
    tensor = _graph(model).outputs[index]
    operation, _, tensor_index = tensor._keras_history
    if _is_model(operation):
        return f"{operation.name}/{output_layer_path(operation, tensor_index)}"
    return operation.name


def model_inputs(model) -> list:
    """The model's input tensors (a clear error for models without a graph)."""
    return list(_graph(model).inputs)


def output_count(model) -> int:
    """How many outputs the model has."""
    return len(_graph(model).outputs)


def output_index(model, output: int | str | None) -> int:
    """The index of the chosen output: an index, the name of the layer producing it, or None
    (the first).

    Raises:
        WorkbenchError: no such output, listing the outputs.
    """
    count = output_count(model)
    names = [output_layer_path(model, i) for i in range(count)]
    if output is None:
        return 0
    if isinstance(output, str) and not output.lstrip("-").isdigit():
        matches = [i for i, n in enumerate(names) if output in (n, n.rsplit("/", 1)[-1])]
        if not matches:
            raise WorkbenchError(f"model {model.name!r} has no output {output!r}; outputs: "
                                 + ", ".join(f"{i} ({n})" for i, n in enumerate(names)))
        return matches[0]
    index = int(output)
    if not 0 <= index < count:
        raise WorkbenchError(f"output {index} does not exist: model {model.name!r} has {count} "
                             "output(s): " + ", ".join(f"{i} ({n})" for i, n in enumerate(names)))
    return index


# ---------------------------------------------------------------------------- running
Replacement = Callable[..., Any]
After = Callable[[str, Any, Any], Any]


def trace(model, inputs: Sequence, taps: Sequence[str] = (),
          replace: dict[str, Replacement] | None = None, after: After | None = None,
          ) -> tuple[list, dict[str, Any]]:
    """Run ``model`` on ``inputs`` layer by layer.

    Args:
        model: a functional or Sequential Keras model (nested models inside are entered).
        inputs: one tensor per model input (symbolic or real).
        taps: layer paths whose outputs to record. A layer called at several places records
            its last call.
        replace: path -> callable taking the layer's call arguments, called instead of it.
        after: ``after(path, layer, outputs)`` returns what the next layers see instead of
            ``outputs`` (called for every layer that is not a nested model).

    Returns:
        The model's outputs (a list) and ``{path: output}`` for every tapped path.
    """
    wanted = set(taps)
    found: dict[str, Any] = {}
    outputs = _run(model, list(inputs), "", wanted, replace or {}, after, found)
    missing = [t for t in taps if t not in found]
    if missing:
        raise WorkbenchError(f"layer {missing[0]!r} is not on the path from the input to the "
                             f"output of model {model.name!r}, so it has no output to show")
    return outputs, found


def _run(model, inputs: list, prefix: str, wanted: set, replace: dict, after, found: dict) -> list:
    graph = _graph(model)

    def operation_fn(operation):
        path = prefix + operation.name

        def call(*args, **kwargs):
            if path in replace:
                outputs = replace[path](*args, **kwargs)
            elif _is_model(operation):
                flat = args[0] if isinstance(args[0], (list, tuple)) else list(args)
                result = _run(operation, list(flat), path + "/", wanted, replace, after, found)
                outputs = result[0] if len(result) == 1 else result
            else:
                outputs = operation(*args, **kwargs)
                if after is not None:
                    outputs = after(path, operation, outputs)
            if path in wanted:
                found[path] = outputs
            return outputs

        return call

    result = graph._run_through_graph(inputs, operation_fn=operation_fn)
    keras = keras_module()
    return list(keras.tree.flatten(result))


def symbolic_inputs(model) -> list:
    """Fresh ``keras.Input``s shaped like the model's inputs."""
    keras = keras_module()
    return [keras.Input(shape=tuple(t.shape[1:]), dtype=t.dtype) for t in model_inputs(model)]


def feature_model(model, layer_names: list[str]):
    """A Keras model from ``model``'s input(s) to the outputs of the named layers only.

    Works when a layer lives inside a nested model (``"backbone/conv2d"``): the graph is
    re-run with the same layer objects, so it shares the model's weights and never changes it.
    Built once per model and list of names.

    Args:
        model: a functional or Sequential model.
        layer_names: layer names or paths (see ``layer_path``).

    Returns:
        A Keras model whose outputs are the named layers' outputs in the order given. Like any
        Keras model, one name gives a model with one output (``predict`` returns an array),
        several give a list.

    Raises:
        WorkbenchError: a name that does not exist (listing candidates).
    """
    paths = tuple(layer_path(model, name) for name in layer_names)
    cache = model_cache(model)
    key = ("feature_model", paths)
    if key not in cache:
        keras = keras_module()
        inputs = symbolic_inputs(model)
        _, found = trace(model, inputs, taps=paths)
        outputs = [found[p] for p in paths]
        cache[key] = keras.Model(inputs if len(inputs) > 1 else inputs[0],
                                 outputs if len(outputs) > 1 else outputs[0],
                                 name=f"{model.name}_features")
    return cache[key]
