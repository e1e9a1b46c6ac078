"""Short texts about nodes for people: the key parameters line on a canvas node, shapes."""

from __future__ import annotations

from typing import Any

from workbench.graph.catalog import INPUT, outline
from workbench.graph.graph import BLOCK, Node

_OUTLINE = outline()


def format_value(value: Any) -> str:
    """A compact text for a parameter value: [3, 3] -> 3×3, None -> none."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return "×".join(str(v) for v in value)
        return "(" + ", ".join(format_value(v) for v in value) + ")"
    if isinstance(value, dict):
        if "class_name" in value:
            inner = value.get("config") or {}
            first = next(iter(inner.values()), None) if inner else None
            return f"{value['class_name']}({format_value(first)})" if first is not None else (
                value["class_name"])
        return "{…}"
    return str(value)


def category_of(node: Node) -> str:
    if node.type == BLOCK:
        return "block"
    entry = _OUTLINE.get(node.type)
    return entry.category if entry else "other"


def key_params_text(node: Node, owner: Node | None = None, limit: int = 40) -> str:
    """The line a canvas node shows under its type: its most telling parameters."""
    if node.type == BLOCK and node.block is not None:
        return f"{len(node.block)} layers"
    source = owner or node
    if node.type == INPUT:
        return "shape " + format_value(source.params.get("shape"))
    entry = _OUTLINE.get(source.type)
    names = entry.key_params if entry else tuple(source.params)[:3]
    parts = []
    for name in names:
        if name in source.params:
            value = source.params[name]
            text = format_value(value)
            parts.append(text if name in ("filters", "units", "activation", "padding",
                                          "kernel_size", "rate") else f"{name}={text}")
    text = " · ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shape_text(shape: tuple | list | None) -> str:
    """(None, 8, 8, 1) as people write it."""
    if shape is None:
        return "?"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"
