"""Graph <-> Keras: build a functional model from a graph, import any model into a graph.

Weights travel beside the graph as ``{path: [arrays]}`` where a path is a node id, or
``block/inner`` for a layer inside a nested block, so an imported trained model can be edited,
rebuilt with its weights, inspected or fine-tuned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.backend import keras_module
from workbench.errors import GraphError, ModelFileError
from workbench.graph.catalog import INPUT, is_model_class, layer_class
from workbench.graph.graph import BLOCK, ModelGraph, OutputRef
from workbench.graph.keras_layers import (
    call_layer,
    compact_config,
    input_config,
    input_params,
    make_layer,
    to_json_data,
)
from workbench.graph.layout import auto_layout
from workbench.graph.validate import Validator, ancestors, topological_order

Weights = dict[str, list[np.ndarray]]


@dataclass
class BuildResult:
    """A built model and the stored weights that no longer fit it (a changed layer)."""

    model: Any
    skipped: list[str] = field(default_factory=list)


def build_model(graph: ModelGraph, weights: Weights | None = None, check: bool = True) -> BuildResult:
    """Build a Keras functional model from ``graph``.

    Args:
        graph: the model graph; only the nodes that lead to an output are built.
        weights: stored weights by node path; those whose shapes no longer fit are skipped
            (the layer keeps fresh weights) and listed in the result.
        check: validate first, so that a broken graph raises one readable ``GraphError``
            naming the node instead of a Keras traceback.
    """
    if check:
        report = Validator(graph).validate()
        if not report.ok:
            node, message = report.errors()[0]
            raise GraphError(message, node)
    model = _build(graph, graph.name)
    skipped = apply_weights(model, weights or {})
    return BuildResult(model, skipped)


def to_keras(graph: ModelGraph, weights: Weights | None = None):
    """Build a Keras model from ``graph`` (see ``build_model``)."""
    return build_model(graph, weights).model


def _build(graph: ModelGraph, name: str):
    keras = keras_module()
    used = ancestors(graph, [ref.node for ref in graph.outputs])
    order, _ = topological_order(graph)
    tensors: dict[str, list] = {}
    layers: dict[str, Any] = {}
    for node_id in order:
        if node_id not in used:
            continue
        node = graph.nodes[node_id]
        inputs = [tensors[e.source][e.index] for e in graph.in_edges(node_id)]
        if node.type == INPUT:
            result = keras.Input(name=node_id, **input_config(node.params))
        else:
            owner = node.shares or node_id
            source = graph.nodes[owner]
            if owner not in layers:
                layers[owner] = (_build(source.block, owner) if source.type == BLOCK  # type: ignore[arg-type]
                                 else make_layer(source.type, source.params, owner))
            if source.type == BLOCK:
                result = layers[owner](inputs[0] if len(inputs) == 1 else inputs, **node.call)
            else:
                result = call_layer(layers[owner], source.type, inputs, node.call)
        tensors[node_id] = list(result) if isinstance(result, (list, tuple)) else [result]
    model_inputs = [tensors[i][0] for i in graph.inputs if i in tensors]
    model_outputs = [tensors[r.node][r.index] for r in graph.outputs]
    return keras.Model(
        inputs=model_inputs[0] if len(model_inputs) == 1 else model_inputs,
        outputs=model_outputs[0] if len(model_outputs) == 1 else model_outputs,
        name=name,
    )


def _find_layer(model, path: str):
    current = model
    for part in path.split("/"):
        try:
            current = current.get_layer(part)
        except (ValueError, AttributeError):
            return None
    return current


def apply_weights(model, weights: Weights) -> list[str]:
    """Set stored weights on the layers they belong to; return the paths that did not fit."""
    skipped = []
    for path, arrays in weights.items():
        layer = _find_layer(model, path)
        if layer is None:
            continue  # the node was removed or left out of the model
        current = layer.get_weights()
        if len(current) != len(arrays) or any(
            np.shape(a) != np.shape(b) for a, b in zip(current, arrays)
        ):
            skipped.append(path)
            continue
        layer.set_weights(arrays)
    return skipped


def collect_weights(model, prefix: str = "") -> Weights:
    """Every layer's weights by path, nested models included."""
    keras = keras_module()
    found: Weights = {}
    for layer in model.layers:
        path = prefix + layer.name
        if isinstance(layer, keras.Model):
            found.update(collect_weights(layer, path + "/"))
        else:
            arrays = layer.get_weights()
            if arrays:
                found[path] = [np.asarray(a) for a in arrays]
    return found


# ---------------------------------------------------------------------- import
def from_keras(model, layout: bool = True) -> tuple[ModelGraph, Weights]:
    """Turn a Sequential or functional Keras model into a graph and its weights.

    Nested models become ``Block`` nodes; a shared layer becomes one node per call, the later
    ones pointing at the first with ``shares``. Subclassed models have no graph to read and
    are refused with an explanation.
    """
    graph = _graph_of(model)
    if layout:
        auto_layout(graph)
    return graph, collect_weights(model)


def _graph_of(model) -> ModelGraph:
    keras = keras_module()
    if isinstance(model, keras.Sequential):
        return _from_sequential(model)
    try:
        config = model.get_config()
    except Exception:
        config = None
    if not isinstance(config, dict) or "layers" not in config:
        raise ModelFileError(
            f"model {model.name!r} is a subclassed model: its layers are wired in Python code, "
            "so there is no graph to import (rebuild it with the functional API)"
        )
    return _from_functional(model, config)


def _layer_node_type(entry: dict) -> str:
    class_name = entry["class_name"]
    if is_model_class(class_name):
        return BLOCK
    if layer_class(class_name) is not None:
        return class_name
    registered = entry.get("registered_name")
    if registered and layer_class(registered) is not None:
        return registered
    raise ModelFileError(
        f"layer {entry.get('name')!r} is a {class_name}, which is not a Keras layer the "
        "workbench can represent (an operation applied directly to tensors, or an "
        "unregistered custom class)"
    )


def _from_sequential(model) -> ModelGraph:
    keras = keras_module()
    graph = ModelGraph(model.name)
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise ModelFileError(
            f"Sequential model {model.name!r} has no input shape yet: "
            "build it (or start it with keras.Input) before importing"
        )
    tensor = inputs[0]
    input_layer = next(
        (layer for layer in getattr(model, "_layers", []) if isinstance(layer, keras.layers.InputLayer)),
        None,
    )
    input_id = graph.unique_id(input_layer.name if input_layer else "input")
    graph.add_node(INPUT, input_params({"batch_shape": list(tensor.shape), "dtype": tensor.dtype}),
                   input_id)
    previous = input_id
    for layer in model.layers:
        _add_layer_node(graph, layer, layer.name)
        graph.connect(previous, layer.name, 0)
        previous = layer.name
    graph.set_outputs([previous])
    return graph


def _add_layer_node(graph: ModelGraph, layer, node_id: str, call: dict | None = None) -> None:
    keras = keras_module()
    if isinstance(layer, keras.Model):
        graph.add_node(BLOCK, node_id=node_id, block=_graph_of(layer), call=call)
        return
    entry = {"class_name": type(layer).__name__, "name": layer.name,
             "registered_name": keras.saving.get_registered_name(type(layer))}
    type_name = _layer_node_type(entry)
    graph.add_node(type_name, compact_config(type_name, layer.get_config()), node_id, call=call)


def _history_refs(value: Any) -> list[tuple[str, int, int]]:
    """The (layer, call, output) references of every tensor inside an argument, in order."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        layer_name, call_index, output_index = value["config"]["keras_history"]
        return [(layer_name, call_index, output_index)]
    if isinstance(value, (list, tuple)):
        return [ref for item in value for ref in _history_refs(item)]
    if isinstance(value, dict):
        return [ref for item in value.values() for ref in _history_refs(item)]
    return []


def _as_refs(value: Any) -> list[list]:
    if value and isinstance(value[0], str):
        return [value]
    return list(value)


def _from_functional(model, config: dict) -> ModelGraph:
    graph = ModelGraph(model.name)
    call_ids: dict[tuple[str, int], str] = {}
    wiring: list[tuple[str, dict, str]] = []  # (node id, inbound call data, layer name)
    for entry in config["layers"]:
        name = entry.get("name") or entry["config"]["name"]
        if entry["class_name"] == "InputLayer":
            graph.add_node(INPUT, input_params(entry["config"]), name)
            call_ids[(name, 0)] = name
            continue
        layer = model.get_layer(name)
        for call_index, inbound in enumerate(entry.get("inbound_nodes") or []):
            # Keras records ``training`` on every symbolic call, and the outer call's
            # ``training`` overrides it anyway, so it carries no information: leave it out.
            call = {k: to_json_data(v) for k, v in (inbound.get("kwargs") or {}).items()
                    if v is not None and k != "training" and not _history_refs(v)}
            if call_index == 0:
                _add_layer_node(graph, layer, name, call)
                node_id = name
            else:
                node_id = graph.unique_id(f"{name}_call{call_index + 1}")
                graph.add_node(graph.nodes[name].type, {}, node_id, call=call, shares=name)
            call_ids[(name, call_index)] = node_id
            wiring.append((node_id, inbound, name))
    for node_id, inbound, name in wiring:
        refs = _history_refs(inbound.get("args") or [])
        kwargs = inbound.get("kwargs") or {}
        for key in ("query", "value", "key"):  # attention layers called with keywords
            refs += _history_refs(kwargs.get(key))
        extra = [k for k, v in kwargs.items() if k not in ("query", "value", "key") and _history_refs(v)]
        if extra:
            raise ModelFileError(
                f"layer {name!r} receives a tensor as {extra[0]!r}, which the graph cannot "
                "represent yet"
            )
        for port, (source, call_index, output_index) in enumerate(refs):
            if (source, call_index) not in call_ids:
                raise ModelFileError(f"layer {name!r} reads from an unknown layer {source!r}")
            graph.connect(call_ids[(source, call_index)], node_id, port, output_index)
    graph.set_input_order([call_ids[(n, i)] for n, i, _ in _as_refs(config["input_layers"])])
    graph.set_outputs([OutputRef(call_ids[(n, _model_call_index(model, n, i))], t)
                       for n, i, t in _as_refs(config["output_layers"])])
    return graph


def _model_call_index(model, name: str, index: int) -> int:
    """The call index of an output reference. Keras counts a nested functional model's own
    construction as its call 0 in ``output_layers`` (and not in ``inbound_nodes``): its loader
    subtracts one for them, and so does this."""
    keras = keras_module()
    layer = model.get_layer(name) if name in {layer.name for layer in model.layers} else None
    functional = isinstance(layer, keras.Model) and not isinstance(layer, keras.Sequential)
    return index - 1 if functional and index > 0 else index


def weight_count(weights: Weights) -> int:
    """Total number of stored values (for messages and quick checks)."""
    return int(sum(np.size(a) for arrays in weights.values() for a in arrays))
