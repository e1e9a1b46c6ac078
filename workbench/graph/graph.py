"""``ModelGraph``: the editable model, the one source of truth the canvas draws.

A graph is plain data (no Keras objects): nodes with stable ids that double as Keras layer
names, edges into numbered input ports, positions, and the list of model outputs. A node may
hold a nested graph (a block, such as a pretrained backbone) or share the layer of another
node (a Keras shared layer called twice). Every edit goes through a method here, and every
method tells the listeners what changed, so views and validators never poll.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import FormatError, GraphError

BLOCK = "Block"  # node type of a nested graph
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class Edge:
    """A tensor flowing from output ``index`` of ``source`` into input ``port`` of ``target``."""

    source: str
    target: str
    port: int = 0
    index: int = 0

    def to_dict(self) -> dict:
        data = {"from": self.source, "to": self.target, "port": self.port}
        if self.index:
            data["index"] = self.index
        return data


@dataclass(frozen=True)
class OutputRef:
    """One model output: output ``index`` of node ``node``."""

    node: str
    index: int = 0

    def to_json(self) -> Any:
        return self.node if self.index == 0 else {"node": self.node, "index": self.index}


@dataclass
class Node:
    """One layer (or nested block) of the graph.

    Attributes:
        id: unique in its graph; also the Keras layer name.
        type: Keras layer class name ("Input" for inputs, "Block" for nested graphs).
        params: the layer's ``get_config()`` keys that differ from Keras' defaults.
        pos: canvas position (x, y).
        call: extra keyword arguments of the layer call, e.g. ``{"training": false}``.
        shares: id of the node whose layer (and weights) this node calls again.
        block: the nested graph of a ``Block`` node.
    """

    id: str
    type: str
    params: dict = field(default_factory=dict)
    pos: tuple[float, float] = (0.0, 0.0)
    call: dict = field(default_factory=dict)
    shares: str | None = None
    block: ModelGraph | None = None

    def to_dict(self) -> dict:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type != BLOCK:
            data["params"] = copy.deepcopy(self.params)
        data["pos"] = [_tidy_number(self.pos[0]), _tidy_number(self.pos[1])]
        if self.call:
            data["call"] = copy.deepcopy(self.call)
        if self.shares:
            data["shares"] = self.shares
        if self.block is not None:
            data["graph"] = self.block.to_dict()
        return data


@dataclass(frozen=True)
class GraphEvent:
    """A change to the graph: kind is one of node_added, node_removed, node_changed,
    node_moved, node_renamed, edge_added, edge_removed, outputs_changed."""

    kind: str
    node: str | None = None
    edge: Edge | None = None
    key: str | None = None
    old: str | None = None


Listener = Callable[[GraphEvent], None]


def snake_case(name: str) -> str:
    """``Conv2D`` -> ``conv2d``, ``MultiHeadAttention`` -> ``multi_head_attention``."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z][a-z])|(?<=[a-z])(?=[A-Z])", "_", name)
    return text.lower()


class ModelGraph:
    """An editable model graph. See the module docstring."""

    def __init__(self, name: str = "model"):
        self.name = name
        self._nodes: dict[str, Node] = {}
        self._edges: list[Edge] = []
        self._outputs: list[OutputRef] = []
        self._input_order: list[str] | None = None
        self._listeners: list[Listener] = []

    # ----------------------------------------------------------------- reading
    @property
    def nodes(self) -> dict[str, Node]:
        """Nodes by id, in insertion order (read only: edit through the methods)."""
        return self._nodes

    @property
    def edges(self) -> tuple[Edge, ...]:
        return tuple(self._edges)

    @property
    def outputs(self) -> tuple[OutputRef, ...]:
        return tuple(self._outputs)

    @property
    def inputs(self) -> list[str]:
        """Input node ids in the model's input order."""
        found = [n.id for n in self._nodes.values() if n.type == "Input"]
        if self._input_order and sorted(self._input_order) == sorted(found):
            return list(self._input_order)
        return found

    def node(self, node_id: str) -> Node:
        try:
            return self._nodes[node_id]
        except KeyError:
            raise GraphError("no such node", node_id) from None

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def in_edges(self, node_id: str) -> list[Edge]:
        """Edges into ``node_id``, sorted by port."""
        return sorted((e for e in self._edges if e.target == node_id), key=lambda e: e.port)

    def out_edges(self, node_id: str) -> list[Edge]:
        return [e for e in self._edges if e.source == node_id]

    def is_output(self, node_id: str) -> bool:
        return any(ref.node == node_id for ref in self._outputs)

    def unique_id(self, base: str, reserved: set[str] | frozenset = frozenset()) -> str:
        """A free node id made from ``base`` (``dense``, ``dense_1``, ...), also avoiding
        the ``reserved`` ids (names handed out but not added yet)."""
        base = re.sub(r"[^A-Za-z0-9_.\-]", "_", base) or "node"
        if not re.match(r"[A-Za-z_]", base):
            base = "n_" + base

        def taken(name: str) -> bool:
            return name in self._nodes or name in reserved

        if not taken(base):
            return base
        stem = re.sub(r"_\d+$", "", base)
        i = 1
        while taken(f"{stem}_{i}"):
            i += 1
        return f"{stem}_{i}"

    def walk(self, prefix: str = "") -> Iterable[tuple[str, Node]]:
        """Every node with its path (``block/inner``), nested blocks included."""
        for node in self._nodes.values():
            path = prefix + node.id
            yield path, node
            if node.block is not None:
                yield from node.block.walk(path + "/")

    # ---------------------------------------------------------------- listening
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _emit(self, kind: str, **kwargs: Any) -> None:
        event = GraphEvent(kind, **kwargs)
        for listener in list(self._listeners):
            listener(event)

    # ------------------------------------------------------------------ editing
    def add_node(
        self,
        type_name: str,
        params: dict | None = None,
        node_id: str | None = None,
        pos: tuple[float, float] = (0.0, 0.0),
        call: dict | None = None,
        shares: str | None = None,
        block: ModelGraph | None = None,
    ) -> str:
        """Add a node and return its id (made unique from the type when not given)."""
        if not isinstance(type_name, str) or not type_name:
            raise GraphError("a node needs a layer type")
        if node_id is None:
            node_id = self.unique_id(snake_case(type_name))
        self._check_new_id(node_id)
        if shares is not None and shares not in self._nodes:
            raise GraphError(f"shares the layer of {shares!r}, which is not in the graph", node_id)
        _check_json(params or {}, node_id)
        node = Node(node_id, type_name, copy.deepcopy(params or {}),
                    (float(pos[0]), float(pos[1])), copy.deepcopy(call or {}), shares, block)
        self._nodes[node_id] = node
        self._emit("node_added", node=node_id)
        return node_id

    def remove_node(self, node_id: str) -> None:
        """Remove a node with its edges; nodes that shared its layer get their own copy."""
        node = self.node(node_id)
        for edge in [e for e in self._edges if node_id in (e.source, e.target)]:
            self.remove_edge(edge)
        if self.is_output(node_id):
            self.set_outputs([ref for ref in self._outputs if ref.node != node_id])
        for other in self._nodes.values():
            if other.shares == node_id:
                other.shares = None
                other.type, other.params = node.type, copy.deepcopy(node.params)
                self._emit("node_changed", node=other.id, key="shares")
        del self._nodes[node_id]
        self._emit("node_removed", node=node_id)

    def rename_node(self, old: str, new: str) -> None:
        """Give a node a new id (its Keras layer name), keeping its edges and outputs."""
        node = self.node(old)
        if new == old:
            return
        self._check_new_id(new)
        self._nodes = {(new if k == old else k): v for k, v in self._nodes.items()}
        node.id = new
        self._edges = [
            Edge(new if e.source == old else e.source, new if e.target == old else e.target,
                 e.port, e.index)
            for e in self._edges
        ]
        self._outputs = [OutputRef(new if r.node == old else r.node, r.index) for r in self._outputs]
        if self._input_order:
            self._input_order = [new if i == old else i for i in self._input_order]
        for other in self._nodes.values():
            if other.shares == old:
                other.shares = new
        self._emit("node_renamed", node=new, old=old)

    def connect(self, source: str, target: str, port: int | None = None, index: int = 0,
                position: int | None = None) -> Edge:
        """Connect output ``index`` of ``source`` to input ``port`` of ``target``.

        ``port=None`` takes the first free port; ``position`` puts the edge at that place in
        the edge list (undo uses it to restore a file byte for byte). Refuses a self-loop, an
        occupied port, an edge into an Input and an edge that would close a cycle, each with
        the reason.
        """
        self.node(source)
        target_node = self.node(target)
        if source == target:
            raise GraphError("cannot connect a layer to itself", target)
        if target_node.type == "Input":
            raise GraphError("an Input takes no incoming connection", target)
        used = {e.port for e in self._edges if e.target == target}
        if port is None:
            port = next(p for p in range(len(used) + 1) if p not in used)
        if not isinstance(port, int) or port < 0:
            raise GraphError(f"input port must be a whole number >= 0 (got {port!r})", target)
        if port in used:
            raise GraphError(f"input port {port} is already connected", target)
        if self._reaches(target, source):
            raise GraphError(f"connecting {source} -> {target} would create a cycle", target)
        edge = Edge(source, target, port, index)
        if position is None:
            self._edges.append(edge)
        else:
            self._edges.insert(position, edge)
        self._emit("edge_added", node=target, edge=edge)
        return edge

    def edge_position(self, edge: Edge) -> int:
        """Where ``edge`` stands in the edge list."""
        return self._edges.index(edge)

    def remove_edge(self, edge: Edge) -> None:
        if edge not in self._edges:
            raise GraphError(f"there is no connection {edge.source} -> {edge.target}", edge.target)
        self._edges.remove(edge)
        self._emit("edge_removed", node=edge.target, edge=edge)

    def disconnect(self, target: str, port: int) -> Edge:
        """Remove the edge into ``port`` of ``target`` and return it."""
        for edge in self._edges:
            if edge.target == target and edge.port == port:
                self.remove_edge(edge)
                return edge
        raise GraphError(f"input port {port} is not connected", target)

    def set_param(self, node_id: str, key: str, value: Any) -> None:
        """Set one layer parameter (``None`` is a value: Keras' null)."""
        node = self._editable(node_id)
        _check_json({key: value}, node_id)
        node.params[key] = copy.deepcopy(value)
        self._emit("node_changed", node=node_id, key=key)

    def unset_param(self, node_id: str, key: str) -> None:
        """Remove a parameter so the Keras default applies."""
        node = self._editable(node_id)
        if key in node.params:
            del node.params[key]
            self._emit("node_changed", node=node_id, key=key)

    def set_params(self, node_id: str, params: dict) -> None:
        """Replace all parameters of a node."""
        node = self._editable(node_id)
        _check_json(params, node_id)
        node.params = copy.deepcopy(params)
        self._emit("node_changed", node=node_id, key=None)

    def set_call(self, node_id: str, call: dict) -> None:
        """Set the extra keyword arguments of the layer call (e.g. ``training``)."""
        node = self.node(node_id)
        _check_json(call, node_id)
        node.call = copy.deepcopy(call)
        self._emit("node_changed", node=node_id, key="call")

    def move(self, node_id: str, pos: tuple[float, float]) -> None:
        node = self.node(node_id)
        node.pos = (float(pos[0]), float(pos[1]))
        self._emit("node_moved", node=node_id)

    def set_outputs(self, outputs: Iterable[OutputRef | str]) -> None:
        refs = [r if isinstance(r, OutputRef) else OutputRef(r) for r in outputs]
        for ref in refs:
            self.node(ref.node)
        self._outputs = refs
        self._emit("outputs_changed")

    def set_input_order(self, order: list[str] | None) -> None:
        self._input_order = list(order) if order else None
        self._emit("outputs_changed")

    # ------------------------------------------------------ fragments (copy/paste)
    def copy_fragment(self, node_ids: Iterable[str]) -> dict:
        """The selected nodes and the edges among them, as plain data for a clipboard."""
        chosen = [i for i in self._nodes if i in set(node_ids)]
        return {
            "nodes": [self._nodes[i].to_dict() for i in chosen],
            "edges": [e.to_dict() for e in self._edges if e.source in chosen and e.target in chosen],
        }

    def paste_fragment(self, fragment: dict, offset: tuple[float, float] = (40.0, 40.0)) -> dict:
        """Add a copied fragment, renaming ids that are taken; returns {old id: new id}."""
        nodes = [_node_from_dict(n, f"nodes[{i}]") for i, n in enumerate(fragment.get("nodes", []))]
        renames: dict[str, str] = {}
        for node in nodes:
            renames[node.id] = self.unique_id(node.id, set(renames.values()))
        for node in nodes:
            shares = renames.get(node.shares, node.shares) if node.shares else None
            if shares is not None and shares not in self._nodes and shares not in renames.values():
                shares = None
            self.add_node(node.type, node.params, renames[node.id],
                          (node.pos[0] + offset[0], node.pos[1] + offset[1]),
                          node.call, shares, node.block)
        for i, data in enumerate(fragment.get("edges", [])):
            edge = _edge_from_dict(data, f"edges[{i}]")
            if edge.source in renames and edge.target in renames:
                self.connect(renames[edge.source], renames[edge.target], edge.port, edge.index)
        return renames

    def remove_fragment(self, node_ids: Iterable[str]) -> dict:
        """Remove nodes and return what ``restore_fragment`` needs to put them back exactly:
        the nodes, every edge touching them, their output slots and their order."""
        chosen = set(node_ids)
        for node_id in chosen:
            self.node(node_id)
        order = list(self._nodes)
        snapshot = {
            "nodes": [self._nodes[i].to_dict() for i in order if i in chosen],
            "positions": {i: order.index(i) for i in chosen},
            "edges": [[i, e.to_dict()] for i, e in enumerate(self._edges)
                      if e.source in chosen or e.target in chosen],
            "outputs": [[k, r.to_json()] for k, r in enumerate(self._outputs) if r.node in chosen],
        }
        for node_id in [i for i in order if i in chosen]:
            self.remove_node(node_id)
        return snapshot

    def restore_fragment(self, snapshot: dict) -> None:
        """Undo ``remove_fragment``: same ids, node order, edges and outputs."""
        for data in snapshot["nodes"]:
            node = _node_from_dict(data, "node")
            self._check_new_id(node.id)
            self._nodes[node.id] = node
            self._emit("node_added", node=node.id)
        positions = snapshot.get("positions", {})
        ordered = sorted(self._nodes, key=lambda i: positions.get(i, -1))
        current = [i for i in self._nodes if i not in positions]
        merged: list[str] = []
        for node_id in ordered:
            if node_id in positions:
                while len(merged) < positions[node_id] and current:
                    merged.append(current.pop(0))
                merged.append(node_id)
        merged += current
        self._nodes = {i: self._nodes[i] for i in merged}
        for position, data in snapshot["edges"]:  # ascending, so each lands where it was
            edge = _edge_from_dict(data, "edge")
            self._edges.insert(position, edge)
            self._emit("edge_added", node=edge.target, edge=edge)
        if snapshot["outputs"]:
            outputs = list(self._outputs)
            for slot, ref in snapshot["outputs"]:
                outputs.insert(slot, _output_from_json(ref, "outputs"))
            self.set_outputs(outputs)

    # ------------------------------------------------------------ serialization
    def to_dict(self) -> dict:
        data: dict[str, Any] = {
            "nodes": [n.to_dict() for n in self._nodes.values()],
            "edges": [e.to_dict() for e in self._edges],
            "outputs": [r.to_json() for r in self._outputs],
        }
        if self._input_order and self._input_order != [
            n.id for n in self._nodes.values() if n.type == "Input"
        ]:
            data["inputs"] = list(self._input_order)
        return data

    @classmethod
    def from_dict(cls, data: Any, name: str = "model", where: str = "model") -> ModelGraph:
        """Build a graph from its JSON form; a malformed part raises ``FormatError`` naming
        its JSON path (``model.nodes[2].type``)."""
        if not isinstance(data, dict):
            raise FormatError(where, "expected an object with nodes, edges and outputs")
        graph = cls(name)
        nodes = _expect(data.get("nodes", []), list, f"{where}.nodes", "a list")
        for i, item in enumerate(nodes):
            node = _node_from_dict(item, f"{where}.nodes[{i}]")
            if node.id in graph._nodes:
                raise FormatError(f"{where}.nodes[{i}].id", f"duplicate node id {node.id!r}")
            graph._nodes[node.id] = node
        for i, item in enumerate(_expect(data.get("edges", []), list, f"{where}.edges", "a list")):
            edge = _edge_from_dict(item, f"{where}.edges[{i}]")
            for end in (edge.source, edge.target):
                if end not in graph._nodes:
                    raise FormatError(f"{where}.edges[{i}]", f"unknown node {end!r}")
            if any(e.target == edge.target and e.port == edge.port for e in graph._edges):
                raise FormatError(
                    f"{where}.edges[{i}]", f"port {edge.port} of {edge.target!r} is connected twice"
                )
            graph._edges.append(edge)
        outputs = _expect(data.get("outputs", []), list, f"{where}.outputs", "a list")
        for i, item in enumerate(outputs):
            ref = _output_from_json(item, f"{where}.outputs[{i}]")
            if ref.node not in graph._nodes:
                raise FormatError(f"{where}.outputs[{i}]", f"unknown node {ref.node!r}")
            graph._outputs.append(ref)
        for i, node in enumerate(graph._nodes.values()):
            if node.shares is not None and node.shares not in graph._nodes:
                raise FormatError(f"{where}.nodes[{i}].shares", f"unknown node {node.shares!r}")
        if "inputs" in data:
            order = _expect(data["inputs"], list, f"{where}.inputs", "a list of node ids")
            if any(not isinstance(i, str) or i not in graph._nodes for i in order):
                raise FormatError(f"{where}.inputs", "names a node that is not in the graph")
            graph._input_order = list(order)
        return graph

    def clone(self) -> ModelGraph:
        """A deep copy without listeners."""
        copy_ = ModelGraph.from_dict(self.to_dict(), self.name)
        return copy_

    # ---------------------------------------------------------------- internals
    def _check_new_id(self, node_id: str) -> None:
        if not isinstance(node_id, str) or not _NAME_RE.match(node_id):
            raise GraphError(
                f"{node_id!r} is not a valid layer name: use letters, digits, '_', '-' and '.', "
                "starting with a letter or '_'"
            )
        if node_id in self._nodes:
            raise GraphError(f"a node named {node_id!r} already exists")

    def _editable(self, node_id: str) -> Node:
        node = self.node(node_id)
        if node.shares:
            raise GraphError(f"shares the layer of {node.shares}: edit that node instead", node_id)
        return node

    def _reaches(self, start: str, goal: str) -> bool:
        """Whether a path of edges leads from ``start`` to ``goal``."""
        return goal in self.reachable([start])

    def reachable(self, starts: Iterable[str], forward: bool = True) -> set[str]:
        """``starts`` and every node reached from them along the edges (``forward``), or
        every node they depend on (backwards, where a node sharing a layer depends on the
        node that owns it)."""
        links: dict[str, list[str]] = {}
        for edge in self._edges:
            source, target = (edge.source, edge.target) if forward else (edge.target, edge.source)
            links.setdefault(source, []).append(target)
        if not forward:
            for node in self._nodes.values():
                if node.shares:
                    links.setdefault(node.id, []).append(node.shares)
        seen: set[str] = set()
        stack = list(starts)
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(links.get(current, []))
        return seen


def _tidy_number(value: float) -> float | int:
    """Positions rounded to a tenth, whole numbers written without ``.0``."""
    rounded = round(float(value), 1)
    return int(rounded) if rounded.is_integer() else rounded


# ------------------------------------------------------------- parsing helpers
def _expect(value: Any, kind: type | tuple, where: str, description: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise FormatError(where, f"expected {description}, found {json.dumps(value)[:60]}")
    return value


def _check_json(value: Any, node_id: str) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise GraphError(f"parameters must be plain JSON data ({error})", node_id) from None


def _node_from_dict(data: Any, where: str) -> Node:
    _expect(data, dict, where, "an object")
    node_id = _expect(data.get("id"), str, f"{where}.id", "a node id (text)")
    if not _NAME_RE.match(node_id):
        raise FormatError(f"{where}.id", f"{node_id!r} is not a valid layer name")
    type_name = _expect(data.get("type"), str, f"{where}.type", "a layer type name (text)")
    params = _expect(data.get("params", {}), dict, f"{where}.params", "an object")
    try:
        json.dumps(params, allow_nan=False)
    except ValueError:
        raise FormatError(f"{where}.params", "contains NaN or infinity") from None
    pos = _expect(data.get("pos", [0, 0]), list, f"{where}.pos", "[x, y]")
    if len(pos) != 2 or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < 1e12 for v in pos
    ):
        raise FormatError(f"{where}.pos", "expected [x, y] with two numbers")
    call = _expect(data.get("call", {}), dict, f"{where}.call", "an object")
    shares = data.get("shares")
    if shares is not None:
        _expect(shares, str, f"{where}.shares", "a node id")
    block = None
    if type_name == BLOCK and shares is None:  # a second call of a block has no graph
        block = ModelGraph.from_dict(data.get("graph"), node_id, f"{where}.graph")
    return Node(node_id, type_name, copy.deepcopy(params), (float(pos[0]), float(pos[1])),
                copy.deepcopy(call), shares, block)


def _edge_from_dict(data: Any, where: str) -> Edge:
    _expect(data, dict, where, "an object with from, to and port")
    source = _expect(data.get("from"), str, f"{where}.from", "a node id")
    target = _expect(data.get("to"), str, f"{where}.to", "a node id")
    port = _expect(data.get("port", 0), int, f"{where}.port", "a whole number")
    index = _expect(data.get("index", 0), int, f"{where}.index", "a whole number")
    if port < 0 or index < 0:
        raise FormatError(where, "port and index must be >= 0")
    return Edge(source, target, port, index)


def _output_from_json(item: Any, where: str) -> OutputRef:
    if isinstance(item, str):
        return OutputRef(item)
    _expect(item, dict, where, "a node id or {node, index}")
    node = _expect(item.get("node"), str, f"{where}.node", "a node id")
    index = _expect(item.get("index", 0), int, f"{where}.index", "a whole number")
    if index < 0:
        raise FormatError(f"{where}.index", "must be >= 0")
    return OutputRef(node, index)
