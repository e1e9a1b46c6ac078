"""Validation and shape inference: per-node output shapes, parameter counts and errors.

Keras itself decides whether a layer accepts its inputs: every node's layer is created and
called on symbolic ``KerasTensor``s of its input shapes, so the shapes, counts and refusals
are exactly those ``model.build`` would give. Each node's result is cached under everything
that determines it (type, parameters, call arguments, input shapes), so after one edit only
the edited node and the nodes whose input shapes change are computed again; the rest of a
200-layer graph is a dictionary lookup per node.

Errors are attached to the node that causes them; a node downstream of an error is marked as
waiting rather than failing in turn, so the user sees the one place to fix.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from workbench.backend import clean_keras_message, keras_module, use_cheap_initializers
from workbench.errors import GraphError
from workbench.graph.catalog import INPUT, ParamSpec, layer_type
from workbench.graph.describe import shape_text
from workbench.graph.graph import BLOCK, Edge, ModelGraph, Node
from workbench.graph.keras_layers import call_layer, make_layer

Shape = tuple  # (None, 8, 8, 1)


@dataclass(frozen=True)
class TensorInfo:
    """The shape and dtype of one tensor."""

    shape: Shape
    dtype: str = "float32"

    def __str__(self) -> str:
        return shape_text(self.shape)


@dataclass
class NodeReport:
    """What validation found for one node.

    Attributes:
        outputs: the node's output tensors, or None when they could not be inferred.
        params: parameters owned by this node's layer (0 for a node sharing another's layer).
        trainable: the trainable part of ``params``.
        errors: what is wrong with this node, in words.
        warnings: what is suspicious but does not stop a build.
        waiting: inference stopped at an error upstream.
        incomplete: the errors are only missing inputs (a node still being wired).
    """

    outputs: list[TensorInfo] | None = None
    params: int = 0
    trainable: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    waiting: bool = False
    incomplete: bool = False

    @property
    def output(self) -> TensorInfo | None:
        return self.outputs[0] if self.outputs else None


@dataclass
class ValidationReport:
    """The result of validating a whole graph."""

    nodes: dict[str, NodeReport]
    problems: list[str]
    used: set[str]

    def blocks_build(self, node_id: str) -> bool:
        # Scratch nodes off to the side (not leading to an output) do not stop a build:
        # their errors still show on the node, but count as warnings.
        return node_id in self.used or not self.used

    @property
    def ok(self) -> bool:
        return not self.errors()

    def errors(self) -> list[tuple[str | None, str]]:
        """Every error that stops a build, as (node id or None for the graph, message)."""
        found: list[tuple[str | None, str]] = [(None, p) for p in self.problems]
        for node_id, report in self.nodes.items():
            if self.blocks_build(node_id):
                found += [(node_id, e) for e in report.errors]
        return found

    def warnings(self) -> list[tuple[str, str]]:
        """Warnings, and the errors of scratch nodes, as (node id, message)."""
        found = []
        for node_id, report in self.nodes.items():
            if not self.blocks_build(node_id):
                found += [(node_id, e) for e in report.errors]
            found += [(node_id, w) for w in report.warnings]
        return found

    @property
    def total_params(self) -> int:
        """Parameters of the model that would be built (nodes that reach an output)."""
        return sum(self.nodes[n].params for n in self.used if n in self.nodes)

    @property
    def trainable_params(self) -> int:
        return sum(self.nodes[n].trainable for n in self.used if n in self.nodes)


def topological_order(graph: ModelGraph) -> tuple[list[str], set[str]]:
    """Node ids in dependency order, and the ids caught in a cycle (left out of the order).

    A node that shares another's layer comes after that node, so the layer is first called
    (and built) where it is defined, as Keras numbers the calls.
    """
    pending = {node_id: 0 for node_id in graph.nodes}
    successors: dict[str, list[str]] = {node_id: [] for node_id in graph.nodes}
    links = [(edge.source, edge.target) for edge in graph.edges]
    links += [(node.shares, node.id) for node in graph.nodes.values()
              if node.shares in graph.nodes]
    for source, target in links:
        pending[target] += 1
        successors[source].append(target)
    ready = [node_id for node_id, count in pending.items() if count == 0]
    order = []
    while ready:
        current = ready.pop(0)
        order.append(current)
        for nxt in successors[current]:
            pending[nxt] -= 1
            if pending[nxt] == 0:
                ready.append(nxt)
    return order, set(graph.nodes) - set(order)


def ancestors(graph: ModelGraph, targets: Iterable[str]) -> set[str]:
    """``targets`` and every node with a path into them (what a model of them contains)."""
    return graph.reachable(targets, forward=False)


class Validator:
    """Validates a graph and keeps a cache so that revalidation after an edit is fast.

    Attach one to a graph for the life of an editing session (``Validator(graph)``) and call
    ``validate()`` whenever the view needs fresh results.
    """

    def __init__(self, graph: ModelGraph):
        self.graph = graph
        self._cache: dict[str, tuple[list[TensorInfo] | None, int, int, str | None]] = {}
        self._blocks: dict[str, tuple[int, Validator]] = {}
        self._graph = graph

    def validate(self, graph: ModelGraph | None = None) -> ValidationReport:
        """Validate the attached graph, or another one (a trial copy) with the same cache."""
        graph = graph if graph is not None else self.graph
        self._graph = graph
        self._used_keys: set[str] = set()
        reports = {node_id: NodeReport() for node_id in graph.nodes}
        problems: list[str] = []
        inputs = graph.inputs
        if not inputs:
            problems.append("the model has no Input: add an Input node with the sample shape")
        if not graph.outputs:
            problems.append("the model has no output: mark the node that gives its prediction")
        order, cyclic = topological_order(graph)
        on_cycle = _on_cycle(graph, cyclic)
        for node_id in cyclic:
            if node_id in on_cycle:
                reports[node_id].errors.append(
                    "is part of a cycle: a layer cannot depend on its own output"
                )
            else:
                reports[node_id].waiting = True
        in_edges: dict[str, list[Edge]] = {node_id: [] for node_id in graph.nodes}
        for edge in graph.edges:
            in_edges[edge.target].append(edge)
        for node_id in order:
            self._infer(graph.nodes[node_id], sorted(in_edges[node_id], key=lambda e: e.port),
                        reports)
        used = ancestors(graph, [ref.node for ref in graph.outputs])
        reachable = graph.reachable(inputs)
        for node_id, report in reports.items():
            node = graph.nodes[node_id]
            if node_id not in reachable and node.type != INPUT and node_id not in cyclic:
                report.warnings.append("is not connected to any Input")
            if graph.outputs and node_id not in used:
                report.warnings.append("does not lead to an output: it is left out of the model")
        for ref in graph.outputs:
            outputs = reports[ref.node].outputs
            if outputs is not None and ref.index >= len(outputs):
                reports[ref.node].errors.append(
                    f"has {len(outputs)} output(s); output {ref.index} does not exist"
                )
        self._drop_stale_cache()
        return ValidationReport(reports, problems, used)

    # ------------------------------------------------------------------ per node
    def _infer(self, node: Node, edges: list[Edge], reports: dict[str, NodeReport]) -> None:
        report = reports[node.id]
        if node.type == INPUT:
            self._infer_input(node, edges, report)
            return
        owner = self._graph.nodes.get(node.shares) if node.shares else node
        if owner is None:
            report.errors.append(f"shares the layer of {node.shares!r}, which does not exist")
            return
        block = owner.block if owner.type == BLOCK else None
        spec = layer_type(owner.type) if owner.type != BLOCK else None
        if owner.type != BLOCK and spec is None:
            report.errors.append(
                f"unknown layer type {owner.type!r}: not a Keras layer nor a registered "
                "custom layer (import the module that registers it)"
            )
            return
        if not self._check_ports(edges, spec, block, report):
            return
        inputs = []
        for edge in edges:
            upstream = reports[edge.source]
            if upstream.outputs is None:
                report.waiting = True
                return
            if edge.index >= len(upstream.outputs):
                report.errors.append(
                    f"input {edge.port + 1} takes output {edge.index} of {edge.source}, "
                    f"which has only {len(upstream.outputs)}"
                )
                return
            inputs.append(upstream.outputs[edge.index])
        if owner.type == BLOCK:
            self._infer_block(owner, inputs, report, counted=not node.shares)
            return
        owner_inputs = None
        if node.shares:
            owner_report = reports.get(owner.id)
            if owner_report is None or owner_report.outputs is None:
                report.waiting = True
                return
            owner_inputs = [
                reports[e.source].outputs[e.index]  # type: ignore[index]
                for e in self._graph.in_edges(owner.id)
            ]
        key = json.dumps(
            [owner.type, owner.params, node.call, [(t.shape, t.dtype) for t in inputs],
             owner_inputs and [(t.shape, t.dtype) for t in owner_inputs]],
            sort_keys=True, default=str,
        )
        if key not in self._cache:
            self._cache[key] = self._compute(node, owner, inputs, owner_inputs)
        outputs, count, trainable, error = self._cache[key]
        self._used_keys.add(key)
        if error:
            report.errors.append(error)
            return
        report.outputs = outputs
        if not node.shares:
            report.params, report.trainable = count, trainable

    def _check_ports(self, edges: list[Edge], spec, block: ModelGraph | None,
                     report: NodeReport) -> bool:
        if block is not None:
            minimum = maximum = len(block.inputs)
            names: tuple[str, ...] = tuple(block.inputs)
        elif spec is None:  # a Block node without its nested graph
            report.errors.append("a Block node needs a nested graph")
            return False
        else:
            minimum, maximum, names = spec.inputs.minimum, spec.inputs.maximum, spec.inputs.names
        ports = [e.port for e in edges]
        if len(ports) < minimum:
            report.incomplete = True
            needed = ", ".join(names[:minimum]) if names else f"{minimum}"
            report.errors.append(
                f"needs {minimum} input(s) ({needed}) but has {len(ports)}"
                if names else f"needs at least {minimum} input(s) but has {len(ports)}"
            )
            return False
        if maximum is not None and len(ports) > maximum:
            report.errors.append(f"takes at most {maximum} input(s) but has {len(ports)}")
            return False
        missing = [p for p in range(len(ports)) if p not in ports]
        if missing:
            report.errors.append(f"input port {missing[0]} is not connected")
            return False
        return True

    def _infer_input(self, node: Node, edges: list[Edge], report: NodeReport) -> None:
        if edges:
            report.errors.append("an Input takes no incoming connection")
        params = node.params
        shape_spec = layer_type(INPUT).param("shape")  # type: ignore[union-attr]
        problem = shape_spec.check(params.get("shape")) if shape_spec else None
        if problem is None and any(d == -1 for d in params.get("shape", [])):
            problem = "shape must not contain -1 (use null for a variable size)"
        batch = params.get("batch_size")
        if problem is None and batch is not None:
            problem = ParamSpec("batch_size", "int", minimum=1).check(batch)
        unknown = set(params) - {"shape", "dtype", "batch_size", "sparse", "optional"}
        if problem is None and unknown:
            problem = f"Input has no parameter {sorted(unknown)[0]!r}"
        if problem:
            report.errors.append(problem)
            return
        dtype = params.get("dtype") or keras_module().config.floatx()
        report.outputs = [TensorInfo((batch, *params["shape"]), str(dtype))]

    def _infer_block(self, node: Node, inputs: list[TensorInfo], report: NodeReport,
                     counted: bool = True) -> None:
        block = node.block
        if block is None:
            report.errors.append("a Block node needs a nested graph")
            return
        cached = self._blocks.get(node.id)
        if cached is None or cached[0] != id(block):
            cached = (id(block), Validator(block))
            self._blocks[node.id] = cached
        inner = cached[1].validate()
        if not inner.ok:
            where, message = inner.errors()[0]
            report.errors.append(f"in {where}: {message}" if where else f"inside: {message}")
            return
        for port, (given, input_id) in enumerate(zip(inputs, block.inputs)):
            expected = inner.nodes[input_id].output
            if expected is not None and not _compatible(given.shape, expected.shape):
                report.errors.append(
                    f"input {port + 1} has shape {given} but the block expects {expected}"
                )
                return
        outputs = []
        for ref in block.outputs:
            produced = inner.nodes[ref.node].outputs
            if produced is None:
                report.waiting = True
                return
            outputs.append(produced[ref.index])
        report.outputs = outputs
        if counted:  # a second call of a shared block owns no weights
            report.params, report.trainable = inner.total_params, inner.trainable_params

    def _compute(self, node: Node, owner: Node, inputs: list[TensorInfo],
                 owner_inputs: list[TensorInfo] | None):
        """Create the node's layer and call it on symbolic inputs."""
        keras = keras_module()
        try:
            layer = make_layer(owner.type, owner.params, owner.id)
        except GraphError as error:
            return None, 0, 0, str(error).split(": ", 1)[-1]
        use_cheap_initializers(layer)
        try:
            if owner_inputs is not None:
                call_layer(layer, owner.type, _symbolic(keras, owner_inputs), owner.call)
            result = call_layer(layer, owner.type, _symbolic(keras, inputs), node.call)
        except Exception as error:
            shapes = ", ".join(str(t) for t in inputs)
            return None, 0, 0, f"rejects input shape {shapes}: {clean_keras_message(error)}"
        tensors = result if isinstance(result, (list, tuple)) else [result]
        if isinstance(result, dict):
            tensors = list(result.values())
        outputs = [TensorInfo(tuple(t.shape), str(t.dtype)) for t in tensors]
        trainable = sum(int(_size(w)) for w in layer.trainable_weights)
        return outputs, int(layer.count_params()), trainable, None

    def _drop_stale_cache(self) -> None:
        # Keep the cache bounded: an editing session may try thousands of values. Results
        # this validation used stay, so the next edit is still fast.
        if len(self._cache) > 2 * len(self._used_keys) + 256:
            self._cache = {k: v for k, v in self._cache.items() if k in self._used_keys}
        live = set(self._graph.nodes)
        self._blocks = {k: v for k, v in self._blocks.items() if k in live}


def _on_cycle(graph: ModelGraph, leftover: set[str]) -> set[str]:
    """The nodes of ``leftover`` (those a topological sort could not place) that lie on a
    cycle themselves, rather than merely downstream of one."""
    successors: dict[str, list[str]] = {}
    for edge in graph.edges:
        if edge.source in leftover and edge.target in leftover:
            successors.setdefault(edge.source, []).append(edge.target)
    found = set()
    for start in leftover:
        stack, seen = list(successors.get(start, [])), set()
        while stack:
            current = stack.pop()
            if current == start:
                found.add(start)
                break
            if current not in seen:
                seen.add(current)
                stack.extend(successors.get(current, []))
    return found


def _symbolic(keras, tensors: list[TensorInfo]) -> list:
    return [keras.KerasTensor(t.shape, dtype=t.dtype) for t in tensors]


def _size(weight) -> int:
    size = 1
    for dim in weight.shape:
        size *= int(dim)
    return size


def _compatible(given: Shape, expected: Shape) -> bool:
    if len(given) != len(expected):
        return False
    return all(a is None or b is None or a == b for a, b in zip(given, expected))


def validate(graph: ModelGraph) -> ValidationReport:
    """Validate a graph once (for repeated validation keep a ``Validator``)."""
    return Validator(graph).validate()


def connection_problem(validator: Validator, source: str, target: str, port: int | None = None,
                       index: int = 0) -> str | None:
    """Why Keras would reject connecting ``source`` to ``target``, or None if it would not.

    The connection is tried on a copy of the validator's graph (sharing its cache, so this
    costs about one layer build). Missing inputs elsewhere on the target do not count: a
    merge layer with one of its two inputs is unfinished, not wrong.
    """
    trial = validator.graph.clone()
    try:
        trial.connect(source, target, port, index)
    except GraphError as error:
        return str(error).split(": ", 1)[-1] if error.node else str(error)
    report = validator.validate(trial).nodes[target]
    validator._graph = validator.graph
    if report.errors and not report.incomplete:
        return report.errors[0]
    return None
