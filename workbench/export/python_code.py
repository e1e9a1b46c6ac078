"""Readable Keras functional-API code that rebuilds a ``ModelGraph`` exactly.

One line per layer, ``x = layers.Conv2D(16, 3, activation="relu", name="conv_1")(x)``, with
only the parameters that differ from Keras' defaults (the graph stores them that way), the
required ones written positionally. A tensor gets its own variable where it branches, is a
model output or has several outputs; a straight chain reads through ``x``. A nested block
becomes its own ``build_<block>()`` function; a layer called more than once (shared weights)
is made once and called where it is used.

Every line is checked as it is written: the layer it makes must have the same config as the
graph's layer. Where a value has no constructor form that round-trips (some custom or
unusual layers), the line falls back to ``layers.X.from_config({...})`` with a comment saying
why, so the code always rebuilds the graph exactly.
"""

from __future__ import annotations

import inspect
import json
import keyword
import re
from dataclasses import dataclass, field
from typing import Any

from workbench.backend import clean_keras_message, keras_module
from workbench.errors import GraphError
from workbench.graph.catalog import INPUT, layer_class, layer_type
from workbench.graph.graph import BLOCK, ModelGraph, Node
from workbench.graph.keras_layers import compact_config, make_layer, to_json_data
from workbench.graph.validate import ancestors, topological_order, validate

LINE_LIMIT = 99
INDENT = "    "
# Tuple parameters Keras accepts as one int when all sizes are equal (3 for (3, 3)).
_UNIFORM = {"kernel_size", "strides", "pool_size", "dilation_rate", "size"}
# Parameters whose lists read best as tuples (shapes and sizes).
_TUPLES = _UNIFORM | {"target_shape", "dims", "padding", "cropping", "shape", "noise_shape",
                      "output_shape", "axis"}
_OBJECT_MODULES = {"_initializer": "initializers", "_regularizer": "regularizers",
                   "_constraint": "constraints"}
# Names the generated script itself uses: a tensor variable never takes one of them.
RESERVED = {"keras", "layers", "np", "x", "model", "main", "build_model", "compile_model",
            "load_data", "prepare", "argparse", "Path", "WEIGHTS", "HERE", "inputs", "outputs"}


def py_value(value: Any, key: str | None = None) -> str:
    """A JSON value of a layer config as Python source.

    Args:
        value: the value (JSON data: dicts, lists, strings, numbers, booleans, None).
        key: the parameter name, which decides how lists read (``(3, 3)`` or ``3``) and how
            Keras objects are written (``keras.initializers.RandomNormal(stddev=0.1)``).
    """
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # double quotes, escapes Python reads the same way
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        if key in _UNIFORM and value and all(v == value[0] for v in value) and isinstance(
                value[0], int) and not isinstance(value[0], bool):
            return repr(value[0])
        items = [py_value(v, key if key in _TUPLES else None) for v in value]
        if key in _TUPLES:
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        return "[" + ", ".join(items) + "]"
    if isinstance(value, dict):
        made = _object_expression(value, key)
        if made is not None:
            return made
        return "{" + ", ".join(f"{json.dumps(str(k))}: {py_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _object_expression(value: dict, key: str | None) -> str | None:
    """``keras.initializers.X(...)`` or ``layers.LSTM(...)`` for a serialized Keras object."""
    if set(value) != {"class_name", "config"} or not isinstance(value["config"], dict):
        return None
    keras = keras_module()
    class_name, config = value["class_name"], value["config"]
    for suffix, module in _OBJECT_MODULES.items():
        if key and key.endswith(suffix) and hasattr(getattr(keras, module), class_name):
            args = ", ".join(f"{k}={py_value(v, k)}" for k, v in config.items())
            return f"keras.{module}.{class_name}({args})"
    if hasattr(keras.layers, class_name) and layer_class(class_name) is not None:
        args, kwargs = _arguments(class_name, config)
        return f"layers.{class_name}({', '.join(args + kwargs)})"
    return None


def _arguments(type_name: str, params: dict) -> tuple[list[str], list[str]]:
    """Positional arguments (the required ones, in signature order) and keyword arguments."""
    cls = layer_class(type_name)
    positional: list[str] = []
    order: list[str] = []
    try:
        signature = list(inspect.signature(cls.__init__).parameters.values())[1:]
    except (TypeError, ValueError):
        signature = []
    open_prefix = True
    for parameter in signature:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        order.append(parameter.name)
        required = parameter.default is inspect.Parameter.empty
        if (open_prefix and required and parameter.name in params
                and parameter.kind == parameter.POSITIONAL_OR_KEYWORD):
            positional.append(parameter.name)
        else:
            open_prefix = False
    rank = {name: i for i, name in enumerate(order)}
    keys = sorted((k for k in params if k not in positional), key=lambda k: rank.get(k, len(rank)))
    return ([py_value(params[k], k) for k in positional],
            [f"{k}={py_value(params[k], k)}" for k in keys])


def identifier(name: str, taken: set[str]) -> str:
    """A Python variable name from a node id, unique among ``taken`` (which it joins)."""
    text = re.sub(r"\W", "_", name)
    if not text or text[0].isdigit():
        text = "n_" + text
    if keyword.iskeyword(text) or text in RESERVED:
        text += "_"
    base, i = text, 2
    while text in taken:
        text = f"{base}_{i}"
        i += 1
    taken.add(text)
    return text


@dataclass
class ModelCode:
    """The model-building part of a script.

    Attributes:
        functions: source of ``build_model()`` and a ``build_<block>()`` per nested block,
            inner functions first.
        notes: what a reader should know (layers left out, fallbacks).
        layers: how many layer lines were written.
        setup: lines the script runs after its imports (registering the workbench's own
            layers, such as a VAE's ``Sampling``).
    """

    functions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    layers: int = 0
    setup: list[str] = field(default_factory=list)

    @property
    def source(self) -> str:
        return "\n\n".join(self.functions)


def model_code(graph: ModelGraph, function: str = "build_model") -> ModelCode:
    """Python source of functions that build ``graph`` as a Keras functional model.

    Raises:
        GraphError: the graph has errors (named by node), as ``build_model`` would raise.
    """
    code = ModelCode()
    _Writer(code, set()).write(graph, function, graph.name, docstring=True)
    return code


class _Writer:
    def __init__(self, code: ModelCode, functions: set[str]):
        self.code = code
        self.function_names = functions

    def write(self, graph: ModelGraph, function: str, model_name: str, docstring: bool = False) -> None:
        report = validate(graph)
        if not report.ok:
            node, message = report.errors()[0]
            raise GraphError(message, node)
        self.function_names.add(function)
        used = ancestors(graph, [ref.node for ref in graph.outputs])
        order = _reading_order(graph, used)
        left_out = [n for n in graph.nodes if n not in used]
        if left_out:
            self.code.notes.append(f"{len(left_out)} layer(s) lead to no output and are left out: "
                                   + ", ".join(left_out))
        counts = {n: len(report.nodes[n].outputs or [None]) for n in order}
        consumers = {n: 0 for n in order}
        for edge in graph.edges:
            if edge.source in consumers and edge.target in used:
                consumers[edge.source] += 1
        shared_owners = {graph.nodes[n].shares for n in order if graph.nodes[n].shares}
        taken: set[str] = set()
        variables: dict[str, str] = {}
        layer_vars: dict[str, str] = {}
        lines: list[str] = []
        for position, node_id in enumerate(order):
            node = graph.nodes[node_id]
            following = order[position + 1] if position + 1 < len(order) else None
            variables[node_id] = self._variable(graph, node, following, consumers, counts, taken)
            if node.type == INPUT:
                lines.append(f"{variables[node_id]} = {_input_expression(node)}")
                continue
            inputs = [_reference(variables[e.source], e.index, counts[e.source])
                      for e in graph.in_edges(node_id)]
            owner_id = node.shares or node_id
            owner = graph.nodes[owner_id]
            call = _call_arguments(owner, inputs, node.call)
            if owner.type == BLOCK:
                if owner_id not in layer_vars:
                    layer_vars[owner_id] = identifier(owner_id + "_model", taken)
                    inner = identifier("build_" + owner_id, self.function_names)
                    self.write(owner.block, inner, owner_id)  # type: ignore[arg-type]
                    lines.append(f"{layer_vars[owner_id]} = {inner}()")
                lines.append(f"{variables[node_id]} = {layer_vars[owner_id]}({call})")
                continue
            made, comment = self._layer_expression(owner, owner_id)
            if comment:
                lines.append(f"# {comment}")
            if owner_id in shared_owners:
                if owner_id not in layer_vars:
                    layer_vars[owner_id] = identifier(owner_id + "_layer", taken)
                    calls = sum(1 for n in order if (graph.nodes[n].shares or n) == owner_id)
                    lines.append(f"# one layer called {calls} times: the calls share its weights")
                    lines += _wrap(f"{layer_vars[owner_id]} = ", made, "")
                lines.append(f"{variables[node_id]} = {layer_vars[owner_id]}({call})")
            else:
                lines += _wrap(f"{variables[node_id]} = ", made, f"({call})")
            self.code.layers += 1
        model_inputs = [variables[i] for i in graph.inputs if i in variables]
        model_outputs = [_reference(variables[r.node], r.index, counts[r.node]) for r in graph.outputs]
        ins = model_inputs[0] if len(model_inputs) == 1 else "[" + ", ".join(model_inputs) + "]"
        outs = model_outputs[0] if len(model_outputs) == 1 else "[" + ", ".join(model_outputs) + "]"
        lines += _wrap("return ", f"keras.Model(inputs={ins}, outputs={outs}, name={json.dumps(model_name)})",
                       "")
        doc = ('"""The model, layer by layer (names and parameters as in the workbench)."""'
               if docstring else f'"""The nested block {model_name!r} as a model of its own."""')
        body = "\n".join(INDENT + line if line else "" for line in [doc, *lines])
        self.code.functions.append(f"def {function}():\n{body}")

    def _variable(self, graph: ModelGraph, node: Node, following: str | None, consumers: dict,
                  counts: dict, taken: set[str]) -> str:
        """``x`` for a link in a straight chain, the node's own name otherwise."""
        out = [e for e in graph.out_edges(node.id) if e.target in consumers]
        chain = (node.type != INPUT and consumers[node.id] == 1 and counts[node.id] == 1
                 and not graph.is_output(node.id) and out and out[0].target == following
                 and out[0].index == 0)
        return "x" if chain else identifier(node.id, taken)

    def _layer_expression(self, node: Node, name: str) -> tuple[str, str | None]:
        """The constructor call of a node's layer, checked to rebuild the same config."""
        keras = keras_module()
        expected = make_layer(node.type, node.params, name)
        target = _comparable(node.type, expected)
        builtin = getattr(keras.layers, node.type, None) is layer_class(node.type)
        reason = None
        if builtin:
            args, kwargs = _arguments(node.type, node.params)
            made = f"layers.{node.type}({', '.join(args + kwargs + [f'name={json.dumps(name)}'])})"
            reason = _mismatch(made, node.type, target)
            if reason is None:
                return made, None
        # No constructor form that round-trips: give Keras the config itself.
        config = dict(node.params, name=name)
        owner = f"layers.{node.type}" if builtin else self._custom_owner(node.type)
        made = f"{owner}.from_config({py_value(config)})"
        if _mismatch(made, node.type, target) is not None:
            config = to_json_data(expected.get_config())
            made = f"{owner}.from_config({py_value(config)})"
        why = (f"written as its config: {reason}" if builtin else
               f"{node.type} is a custom layer: import the module that registers it before this runs")
        if not builtin and self.code.setup:
            why = f"{node.type} is a Keras Workbench layer: the script needs keras-workbench installed"
        self.code.notes.append(f"{name}: {why}")
        return made, why

    def _custom_owner(self, type_name: str) -> str:
        """The expression of a registered custom layer class, by its registered name; the
        workbench's own layers are registered by the script itself."""
        keras = keras_module()
        cls = layer_class(type_name)
        if cls.__module__ == "workbench.generative.layers" and not self.code.setup:
            self.code.setup += ["from workbench.generative.layers import register",
                                "",
                                "register()  # the Keras Workbench layers this model uses (Sampling)"]
        return f"keras.saving.get_registered_object({json.dumps(keras.saving.get_registered_name(cls))})"


def _reading_order(graph: ModelGraph, used: set[str]) -> list[str]:
    """A dependency order that follows chains: after a layer comes its consumer when that is
    ready, so a straight run of layers reads top to bottom through ``x``."""
    successors: dict[str, list[str]] = {n: [] for n in used}
    pending = {n: 0 for n in used}
    links = [(e.source, e.target) for e in graph.edges if e.source in used and e.target in used]
    links += [(graph.nodes[n].shares, n) for n in used if graph.nodes[n].shares in used]
    for source, target in links:
        pending[target] += 1
        successors[source].append(target)
    rank = {n: i for i, n in enumerate(topological_order(graph)[0])}
    order: list[str] = []

    def emit(node_id: str) -> list[str]:
        order.append(node_id)
        released = []
        for nxt in successors[node_id]:
            pending[nxt] -= 1
            if pending[nxt] == 0:
                released.append(nxt)
        return released

    inputs = [n for n in graph.inputs if n in used]  # every Input first, in the model's order
    ready = [n for n in sorted(pending, key=lambda n: rank.get(n, 0))
             if pending[n] == 0 and n not in inputs]
    ready = [released for n in inputs for released in emit(n)] + ready
    while ready:
        ready = emit(ready.pop(0)) + ready  # the consumers first: depth before breadth
    return order


def _comparable(type_name: str, layer) -> tuple:
    return type(layer).__name__, layer.name, compact_config(type_name, layer.get_config())


def _mismatch(expression: str, type_name: str, target: tuple) -> str | None:
    """Why ``expression`` does not make the expected layer, or None when it does."""
    keras = keras_module()
    try:
        layer = eval(expression, {"keras": keras, "layers": keras.layers})  # our own generated code
    except Exception as error:
        return clean_keras_message(error)
    got = _comparable(type_name, layer)
    if got == target:
        return None
    keys = sorted(k for k in set(got[2]) | set(target[2]) if got[2].get(k) != target[2].get(k))
    return ("the constructor gives a different " + ", ".join(keys[:3])) if keys else \
        "the constructor gives a different layer"


def _input_expression(node: Node) -> str:
    params = node.params
    parts = [f"shape={py_value(list(params.get('shape') or []), 'shape')}"]
    if params.get("batch_size") is not None:
        parts.append(f"batch_size={py_value(params['batch_size'])}")
    if params.get("dtype"):
        parts.append(f"dtype={py_value(params['dtype'])}")
    parts.append(f"name={json.dumps(node.id)}")
    return f"keras.Input({', '.join(parts)})"


def _reference(variable: str, index: int, count: int) -> str:
    return f"{variable}[{index}]" if count > 1 or index else variable


def _call_arguments(owner: Node, inputs: list[str], call: dict) -> str:
    """The call's arguments in the style ``call_layer`` uses for this layer type."""
    if owner.type == BLOCK:
        style = "single"
    else:
        spec = layer_type(owner.type)
        style = spec.inputs.style if spec else "single"
    if style == "args":
        args = list(inputs)
    elif style == "list" or len(inputs) > 1:
        args = ["[" + ", ".join(inputs) + "]"]
    else:
        args = inputs[:1]
    args += [f"{k}={py_value(v)}" for k, v in call.items()]
    return ", ".join(args)


def _wrap(head: str, expression: str, tail: str) -> list[str]:
    """One line when it fits; otherwise one argument per line."""
    line = head + expression + tail
    if len(INDENT + line) <= LINE_LIMIT:
        return [line]
    opening = expression.find("(")
    inner = expression[opening + 1:-1]
    parts = _split_arguments(inner)
    if opening < 0 or len(parts) < 2:
        return [line]
    return [head + expression[:opening + 1], *[INDENT + p + "," for p in parts], ")" + tail]


def _split_arguments(text: str) -> list[str]:
    """Split a call's argument list at its top-level commas."""
    parts, depth, current, quoted, escaped = [], 0, [], False, False
    for char in text:
        if quoted:
            current.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
            continue
        if char == '"':
            quoted = True
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts
