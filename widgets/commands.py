"""Undoable edits. Each command calls ``ModelGraph`` methods only and restores exactly what it
changed, so undo after any edit gives back the same experiment JSON, byte for byte."""

from __future__ import annotations

import copy
from typing import Any

from PySide6.QtGui import QUndoCommand

from workbench.graph.graph import Edge, ModelGraph, OutputRef, snake_case
from workbench.graph.layout import auto_layout

_MOVE_ID = 1001


class GraphCommand(QUndoCommand):
    """Base of every edit: ``apply`` does it, ``undo`` takes it back.

    If ``apply`` is refused (a ``GraphError``: graph methods check before they change
    anything), the command marks itself obsolete so the undo stack drops it instead of
    keeping a step that never happened, and the error reaches the caller.
    """

    def apply(self) -> None:
        raise NotImplementedError

    def redo(self) -> None:
        try:
            self.apply()
        except Exception:
            self.setObsolete(True)
            raise


class AddNodeCommand(GraphCommand):
    """Add a node, optionally connected after another node."""

    def __init__(self, graph: ModelGraph, type_name: str, params: dict,
                 pos: tuple[float, float], after: str | None = None, node_id: str | None = None):
        super().__init__(f"Add {type_name}")
        self.graph, self.type_name, self.params, self.pos = graph, type_name, params, pos
        self.after = after
        self.node_id = node_id or graph.unique_id(snake_case(type_name))

    def apply(self) -> None:
        self.graph.add_node(self.type_name, self.params, self.node_id, self.pos)
        if self.after is not None and self.after in self.graph:
            self.graph.connect(self.after, self.node_id)

    def undo(self) -> None:
        self.graph.remove_node(self.node_id)


class RemoveNodesCommand(GraphCommand):
    """Delete nodes with their edges; undo puts everything back in its place."""

    def __init__(self, graph: ModelGraph, node_ids: list[str], text: str = "Delete"):
        super().__init__(f"{text} {_count(node_ids)}")
        self.graph, self.node_ids = graph, list(node_ids)
        self.snapshot: dict | None = None

    def apply(self) -> None:
        self.snapshot = self.graph.remove_fragment(self.node_ids)

    def undo(self) -> None:
        assert self.snapshot is not None
        self.graph.restore_fragment(self.snapshot)


class PasteCommand(GraphCommand):
    """Paste a copied fragment; the new ids are kept so redo recreates the same ones."""

    def __init__(self, graph: ModelGraph, fragment: dict, offset: tuple[float, float],
                 text: str = "Paste"):
        super().__init__(text)
        self.graph, self.fragment, self.offset = graph, copy.deepcopy(fragment), offset
        self.new_ids: list[str] = []

    def apply(self) -> None:
        renames = self.graph.paste_fragment(self.fragment, self.offset)
        self.new_ids = list(renames.values())

    def undo(self) -> None:
        for node_id in reversed(self.new_ids):
            self.graph.remove_node(node_id)


class ConnectCommand(GraphCommand):
    def __init__(self, graph: ModelGraph, source: str, target: str, port: int | None = None,
                 index: int = 0):
        super().__init__(f"Connect {source} → {target}")
        self.graph, self.source, self.target, self.port, self.index = (
            graph, source, target, port, index)
        self.edge: Edge | None = None

    def apply(self) -> None:
        self.edge = self.graph.connect(self.source, self.target, self.port, self.index)

    def undo(self) -> None:
        assert self.edge is not None
        self.graph.remove_edge(self.edge)


class DisconnectCommand(GraphCommand):
    def __init__(self, graph: ModelGraph, edge: Edge):
        super().__init__(f"Disconnect {edge.source} → {edge.target}")
        self.graph, self.edge = graph, edge
        self.position = 0

    def apply(self) -> None:
        self.position = self.graph.edge_position(self.edge)
        self.graph.remove_edge(self.edge)

    def undo(self) -> None:
        self.graph.connect(self.edge.source, self.edge.target, self.edge.port, self.edge.index,
                           position=self.position)


class SetParamCommand(GraphCommand):
    """Set (or, with ``value=UNSET``, remove) one parameter; undo restores the whole dict."""

    UNSET = object()

    def __init__(self, graph: ModelGraph, node_id: str, key: str, value: Any):
        super().__init__(f"Set {node_id}.{key}")
        self.graph, self.node_id = graph, node_id
        self.before = copy.deepcopy(graph.node(node_id).params)
        self.after = copy.deepcopy(self.before)
        if value is SetParamCommand.UNSET:
            self.after.pop(key, None)
        else:
            self.after[key] = copy.deepcopy(value)

    def apply(self) -> None:
        self.graph.set_params(self.node_id, self.after)

    def undo(self) -> None:
        self.graph.set_params(self.node_id, self.before)


class RenameNodeCommand(GraphCommand):
    def __init__(self, graph: ModelGraph, old: str, new: str):
        super().__init__(f"Rename {old} → {new}")
        self.graph, self.old, self.new = graph, old, new

    def apply(self) -> None:
        self.graph.rename_node(self.old, self.new)

    def undo(self) -> None:
        self.graph.rename_node(self.new, self.old)


class MoveNodesCommand(GraphCommand):
    """Move nodes; consecutive drags of the same nodes merge into one undo step."""

    def __init__(self, graph: ModelGraph, moves: dict[str, tuple[tuple[float, float],
                                                                tuple[float, float]]]):
        super().__init__(f"Move {_count(list(moves))}")
        self.graph, self.moves = graph, dict(moves)  # id -> (before, after)

    def id(self) -> int:  # noqa: A003 (Qt API)
        return _MOVE_ID

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 (Qt API)
        if not isinstance(other, MoveNodesCommand) or set(other.moves) != set(self.moves):
            return False
        self.moves = {k: (self.moves[k][0], other.moves[k][1]) for k in self.moves}
        return True

    def apply(self) -> None:
        for node_id, (_, after) in self.moves.items():
            self.graph.move(node_id, after)

    def undo(self) -> None:
        for node_id, (before, _) in self.moves.items():
            self.graph.move(node_id, before)


class SetOutputsCommand(GraphCommand):
    def __init__(self, graph: ModelGraph, outputs: list[OutputRef], text: str = "Set outputs"):
        super().__init__(text)
        self.graph, self.before, self.after = graph, list(graph.outputs), list(outputs)

    def apply(self) -> None:
        self.graph.set_outputs(self.after)

    def undo(self) -> None:
        self.graph.set_outputs(self.before)


class AutoLayoutCommand(GraphCommand):
    """Lay out the graph and its nested blocks; undo puts every node back."""

    def __init__(self, graph: ModelGraph):
        super().__init__("Auto-layout")
        self.graph = graph
        self.before = _positions(graph)
        self.after: list | None = None

    def apply(self) -> None:
        if self.after is None:
            auto_layout(self.graph)
            self.after = _positions(self.graph)
        else:
            _restore_positions(self.after)

    def undo(self) -> None:
        _restore_positions(self.before)


def _positions(graph: ModelGraph) -> list[tuple[ModelGraph, str, tuple[float, float]]]:
    found = []
    for node in graph.nodes.values():
        found.append((graph, node.id, node.pos))
        if node.block is not None:
            found += _positions(node.block)
    return found


def _restore_positions(positions: list[tuple[ModelGraph, str, tuple[float, float]]]) -> None:
    for graph, node_id, pos in positions:
        graph.move(node_id, pos)


def _count(node_ids: list[str]) -> str:
    return node_ids[0] if len(node_ids) == 1 else f"{len(node_ids)} nodes"


class SetSectionCommand(GraphCommand):
    """Replace the experiment's "data", "training" or "search" section; undo puts the old one
    back. The "search" section may be set to None (the experiment then has no search).

    Consecutive edits of the same section with the same ``key`` (a spin box being stepped)
    merge into one undo step.
    """

    _ID = 1002
    SECTIONS = ("data", "training", "search")

    def __init__(self, document, section: str, value: dict | None, key: str = ""):
        super().__init__(f"Change {section}" + (f" {key}" if key else ""))
        if section not in self.SECTIONS:
            raise ValueError(f"unknown section {section!r}")
        if value is None and section != "search":
            raise ValueError(f"the {section} section cannot be removed")
        self.document, self.section, self.key = document, section, key
        self.before = copy.deepcopy(getattr(document.experiment, section))
        self.after = copy.deepcopy(value)

    def id(self) -> int:  # noqa: A003 (Qt API)
        return self._ID

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 (Qt API)
        if not (isinstance(other, SetSectionCommand) and other.section == self.section
                and other.key == self.key and self.key):
            return False
        self.after = other.after
        return True

    def apply(self) -> None:
        self.document.set_section(self.section, copy.deepcopy(self.after))

    def undo(self) -> None:
        self.document.set_section(self.section, copy.deepcopy(self.before))
