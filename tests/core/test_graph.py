"""ModelGraph edits, events, refusals and (de)serialization."""

from __future__ import annotations

import json

import pytest

from workbench.errors import FormatError, GraphError
from workbench.graph.graph import ModelGraph, OutputRef


def chain() -> ModelGraph:
    graph = ModelGraph("chain")
    graph.add_node("Input", {"shape": [8, 8, 1]}, "image")
    graph.add_node("Conv2D", {"filters": 4, "kernel_size": 3}, "conv")
    graph.add_node("Flatten", {}, "flatten")
    graph.add_node("Dense", {"units": 10}, "out")
    graph.connect("image", "conv")
    graph.connect("conv", "flatten")
    graph.connect("flatten", "out")
    graph.set_outputs(["out"])
    return graph


def test_edits_emit_events_in_order():
    graph = chain()
    events = []
    graph.subscribe(lambda e: events.append((e.kind, e.node)))
    node = graph.add_node("Dropout", {"rate": 0.5})
    graph.set_param(node, "rate", 0.3)
    graph.move(node, (10, 20))
    graph.connect("flatten", node)
    graph.remove_node(node)
    assert node == "dropout"
    assert events == [
        ("node_added", "dropout"), ("node_changed", "dropout"), ("node_moved", "dropout"),
        ("edge_added", "dropout"), ("edge_removed", "dropout"), ("node_removed", "dropout"),
    ]


def test_ids_are_unique_and_derived_from_the_type():
    graph = ModelGraph()
    assert graph.add_node("Conv2D") == "conv2d"
    assert graph.add_node("Conv2D") == "conv2d_1"
    assert graph.add_node("MultiHeadAttention") == "multi_head_attention"
    with pytest.raises(GraphError, match="already exists"):
        graph.add_node("Dense", node_id="conv2d")
    with pytest.raises(GraphError, match="valid layer name"):
        graph.add_node("Dense", node_id="has space")


@pytest.mark.parametrize(
    ("source", "target", "port", "message"),
    [
        ("out", "image", None, "Input takes no"),
        ("conv", "conv", None, "itself"),
        ("out", "conv", 1, "cycle"),
        ("image", "conv", 0, "already connected"),
    ],
)
def test_connect_refuses_with_a_reason(source, target, port, message):
    graph = chain()
    with pytest.raises(GraphError, match=message):
        graph.connect(source, target, port)


def test_connect_takes_first_free_port_and_disconnect_frees_it():
    graph = chain()
    graph.add_node("Add", {}, "add")
    assert graph.connect("conv", "add").port == 0
    assert graph.connect("image", "add").port == 1
    graph.disconnect("add", 0)
    assert graph.connect("flatten", "add").port == 0


def test_remove_node_drops_edges_and_outputs():
    graph = chain()
    graph.remove_node("out")
    assert not graph.out_edges("flatten") and graph.outputs == ()


def test_rename_keeps_edges_outputs_and_sharing():
    graph = chain()
    graph.add_node("Dense", {}, "again", shares="out")
    graph.rename_node("out", "logits")
    assert graph.outputs == (OutputRef("logits"),)
    assert graph.in_edges("logits")[0].source == "flatten"
    assert graph.nodes["again"].shares == "logits"


def test_shared_node_cannot_be_edited_directly_and_gets_a_copy_when_owner_goes():
    graph = chain()
    graph.add_node("Dense", {}, "again", shares="out")
    with pytest.raises(GraphError, match="edit that node instead"):
        graph.set_param("again", "units", 3)
    graph.remove_node("out")
    again = graph.nodes["again"]
    assert again.shares is None and again.params == {"units": 10}


def test_copy_paste_renames_and_keeps_internal_edges():
    graph = chain()
    fragment = graph.copy_fragment(["conv", "flatten"])
    renames = graph.paste_fragment(json.loads(json.dumps(fragment)))
    assert renames == {"conv": "conv_1", "flatten": "flatten_1"}
    assert graph.in_edges("flatten_1")[0].source == "conv_1"
    assert graph.in_edges("conv_1") == []
    assert graph.nodes["conv_1"].pos == (40.0, 40.0)


def test_remove_and_restore_fragment_is_exact():
    graph = chain()
    graph.add_node("Dense", {"units": 2}, "aux")
    graph.connect("flatten", "aux")
    graph.set_outputs(["out", "aux"])
    before = json.dumps(graph.to_dict())
    snapshot = graph.remove_fragment(["flatten", "aux"])
    assert "flatten" not in graph
    graph.restore_fragment(json.loads(json.dumps(snapshot)))
    assert json.dumps(graph.to_dict()) == before


def test_round_trip_through_dict_is_identical():
    graph = chain()
    graph.add_node("Dense", {}, "again", shares="out", call={"mask": [1]})
    data = graph.to_dict()
    assert ModelGraph.from_dict(json.loads(json.dumps(data))).to_dict() == data


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d["nodes"][1].update(type=3), "model.nodes[1].type"),
        (lambda d: d["nodes"][1].pop("id"), "model.nodes[1].id"),
        (lambda d: d["nodes"][2].update(pos=[1]), "model.nodes[2].pos"),
        (lambda d: d["edges"][0].update({"to": "ghost"}), "model.edges[0]"),
        (lambda d: d["edges"][1].update(port=-1), "model.edges[1]"),
        (lambda d: d.update(outputs=["ghost"]), "model.outputs[0]"),
        (lambda d: d["nodes"].append(dict(d["nodes"][0])), "model.nodes[4].id"),
        (lambda d: d["nodes"][1].update(params=[]), "model.nodes[1].params"),
    ],
)
def test_from_dict_names_the_json_path_of_the_problem(mutate, where):
    data = chain().to_dict()
    mutate(data)
    with pytest.raises(FormatError) as caught:
        ModelGraph.from_dict(data)
    assert caught.value.where == where


def test_parameters_must_be_plain_json():
    graph = chain()
    with pytest.raises(GraphError, match="plain JSON"):
        graph.set_param("conv", "filters", float("nan"))
    with pytest.raises(GraphError, match="plain JSON"):
        graph.set_param("conv", "filters", object())
