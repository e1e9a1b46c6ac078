"""Automatic layout of a graph: a layered drawing, left to right.

The classic Sugiyama recipe, kept small: each node goes to the column of its longest path from
a source, then nodes inside each column are ordered by the average row of their neighbours
(a few sweeps forward and back) to reduce crossings, and finally placed on a grid. Linear in
the number of edges per sweep, so a 500-layer import lays out in milliseconds.
"""

from __future__ import annotations

from workbench.graph.graph import ModelGraph

COLUMN_WIDTH = 290.0  # a node (180) and room for the shape label on the edge
ROW_HEIGHT = 110.0
_SWEEPS = 4


def layer_columns(graph: ModelGraph) -> dict[str, int]:
    """Column of each node: the length of the longest path reaching it from a source."""
    from workbench.graph.validate import topological_order

    order, cyclic = topological_order(graph)
    column = {node_id: 0 for node_id in graph.nodes}
    for node_id in order:
        for edge in graph.out_edges(node_id):
            column[edge.target] = max(column[edge.target], column[node_id] + 1)
    for node_id in cyclic:  # cannot be layered: put them after everything else
        column[node_id] = max(column.values(), default=0) + 1
    return column


def auto_layout(graph: ModelGraph) -> None:
    """Move every node of ``graph`` (and of nested blocks) to a readable position."""
    column = layer_columns(graph)
    columns: dict[int, list[str]] = {}
    for node_id in graph.nodes:  # insertion order gives a stable first ordering
        columns.setdefault(column[node_id], []).append(node_id)
    predecessors: dict[str, list[str]] = {n: [] for n in graph.nodes}
    successors: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for edge in graph.edges:
        predecessors[edge.target].append(edge.source)
        successors[edge.source].append(edge.target)
    row = {n: float(i) for members in columns.values() for i, n in enumerate(members)}
    keys = sorted(columns)
    for sweep in range(_SWEEPS):
        forward = sweep % 2 == 0
        neighbours = predecessors if forward else successors
        for key in keys if forward else reversed(keys):
            members = columns[key]

            def barycentre(node_id: str, neighbours: dict = neighbours) -> float:
                linked = neighbours[node_id]
                if not linked:
                    return row[node_id]
                return sum(row[n] for n in linked) / len(linked)

            members.sort(key=barycentre)
            for i, node_id in enumerate(members):
                row[node_id] = float(i)
    tallest = max((len(m) for m in columns.values()), default=1)
    for key, members in columns.items():
        offset = (tallest - len(members)) / 2.0  # centre short columns on the main line
        for i, node_id in enumerate(members):
            graph.move(node_id, (key * COLUMN_WIDTH, (i + offset) * ROW_HEIGHT))
    for node in graph.nodes.values():
        if node.block is not None:
            auto_layout(node.block)
