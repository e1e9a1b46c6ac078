"""Automatic layout of a graph: a layered drawing, left to right, wrapped like text.

The classic Sugiyama recipe, kept small: each node goes to the column of its longest path from
a source, then nodes inside each column are ordered by the average row of their neighbours
(a few sweeps forward and back) to reduce crossings, and finally placed on a grid.

A deep network (ResNet50 has some 150 columns) drawn as one line is a ribbon fifty thousand
pixels long that no zoom level makes readable, so long drawings wrap into bands stacked top to
bottom, like lines of text. Bands break where the network narrows to a single layer (the end
of a residual block), so few edges cross from one band to the next.
"""

from __future__ import annotations

import math

from workbench.graph.graph import ModelGraph

COLUMN_WIDTH = 290.0  # a node (180) and room for the shape label on the edge
ROW_HEIGHT = 110.0
BAND_GAP = 90.0
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


def band_breaks(columns: dict[int, list[str]], width: int | None = None) -> list[int]:
    """The first column of each band.

    Args:
        columns: node ids by column.
        width: columns per band; by default about the square root of 1.2 x the column count,
            which gives a drawing roughly as wide as it is tall on a landscape screen.
    """
    count = max(columns, default=0) + 1
    width = width or max(8, round(math.sqrt(count * 1.2)))
    if count <= width * 1.25:
        return [0]
    starts = [0]
    while count - starts[-1] > width * 1.25:
        begin = starts[-1]
        low, high = begin + int(width * 0.75), min(count - 1, begin + int(width * 1.25))
        narrow = [c for c in range(low, high + 1) if len(columns.get(c, [])) == 1]
        # Start the next band right after a single-layer column nearest the target width.
        best = min(narrow, key=lambda c: abs(c + 1 - begin - width), default=None)
        starts.append(best + 1 if best is not None else begin + width)
    return starts


def auto_layout(graph: ModelGraph, band_width: int | None = None) -> None:
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
    starts = band_breaks(columns, band_width)
    top = 0.0
    for band, first in enumerate(starts):
        last = starts[band + 1] if band + 1 < len(starts) else max(keys, default=0) + 1
        band_keys = [k for k in keys if first <= k < last]
        tallest = max((len(columns[k]) for k in band_keys), default=1)
        for key in band_keys:
            members = columns[key]
            offset = (tallest - len(members)) / 2.0  # centre short columns on the main line
            for i, node_id in enumerate(members):
                graph.move(node_id, ((key - first) * COLUMN_WIDTH,
                                     top + (i + offset) * ROW_HEIGHT))
        top += tallest * ROW_HEIGHT + BAND_GAP
    for node in graph.nodes.values():
        if node.block is not None:
            auto_layout(node.block)


def free_spot(graph: ModelGraph, pos: tuple[float, float]) -> tuple[float, float]:
    """``pos``, or the first place below it where a new node does not cover another."""
    x, y = pos
    taken = [node.pos for node in graph.nodes.values()]
    while any(abs(x - a) < COLUMN_WIDTH * 0.7 and abs(y - b) < ROW_HEIGHT * 0.8 for a, b in taken):
        y += ROW_HEIGHT
    return x, y
