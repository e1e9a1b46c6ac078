"""The model graph: catalog of layer types, editable graph, validation, Keras conversion."""

from __future__ import annotations

from workbench.graph.graph import BLOCK, Edge, GraphEvent, ModelGraph, Node, OutputRef

__all__ = ["BLOCK", "Edge", "GraphEvent", "ModelGraph", "Node", "OutputRef"]
