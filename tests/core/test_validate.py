"""Validation and shape inference: shapes, counts, errors on the right node, speed by caching."""

from __future__ import annotations

from workbench.graph.graph import ModelGraph
from workbench.graph.validate import Validator, validate


def two_branches(second_filters: int = 16) -> ModelGraph:
    graph = ModelGraph("branches")
    graph.add_node("Input", {"shape": [8, 8, 1]}, "image")
    graph.add_node("Conv2D", {"filters": 16, "kernel_size": 3, "padding": "same"}, "left")
    graph.add_node("Conv2D", {"filters": second_filters, "kernel_size": 3, "padding": "same"},
                   "right")
    graph.add_node("Add", {}, "add")
    graph.add_node("GlobalAveragePooling2D", {}, "pool")
    graph.add_node("Dense", {"units": 10, "activation": "softmax"}, "out")
    for source, target in [("image", "left"), ("image", "right"), ("left", "add"),
                           ("right", "add"), ("add", "pool"), ("pool", "out")]:
        graph.connect(source, target)
    graph.set_outputs(["out"])
    return graph


def test_shapes_and_counts_match_keras(keras):
    graph = two_branches()
    report = validate(graph)
    assert report.ok, report.errors()
    assert report.nodes["add"].output.shape == (None, 8, 8, 16)
    assert report.nodes["out"].output.shape == (None, 10)
    inp = keras.Input((8, 8, 1))
    left = keras.layers.Conv2D(16, 3, padding="same")(inp)
    right = keras.layers.Conv2D(16, 3, padding="same")(inp)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Add()([left, right]))
    model = keras.Model(inp, keras.layers.Dense(10)(x))
    assert report.total_params == model.count_params()
    assert report.nodes["left"].params == 16 * 9 + 16


def test_shape_mismatch_is_reported_on_the_merge_node_only(keras):
    report = validate(two_branches(second_filters=32))
    assert not report.ok
    (node, message), = report.errors()
    assert node == "add"
    assert "(None, 8, 8, 16)" in message and "(None, 8, 8, 32)" in message
    assert report.nodes["pool"].waiting and not report.nodes["pool"].errors


def test_invalid_parameter_gives_the_allowed_range(keras):
    graph = two_branches()
    graph.set_param("out", "units", 0)
    errors = dict(validate(graph).errors())
    assert "units must be >= 1 (got 0)" in errors["out"]
    graph.set_param("out", "units", 10)
    graph.set_param("left", "padding", "full")
    assert "padding must be one of" in dict(validate(graph).errors())["left"]


def test_unknown_type_missing_and_extra_inputs(keras):
    graph = two_branches()
    graph.add_node("Frobnicate", {}, "mystery")
    graph.connect("pool", "mystery")
    graph.disconnect("add", 1)
    graph.add_node("Subtract", {}, "sub")
    for source in ("left", "right"):
        graph.connect(source, "sub")
    graph.connect("left", "sub", 2)
    graph.set_outputs(["out", "mystery", "sub"])
    errors = dict(validate(graph).errors())
    assert "unknown layer type 'Frobnicate'" in errors["mystery"]
    assert "needs at least 2 input(s) but has 1" in errors["add"]
    assert "at most 2 input(s)" in errors["sub"]


def test_a_cycle_is_reported_on_its_nodes(keras):
    data = two_branches().to_dict()
    data["edges"].append({"from": "pool", "to": "left", "port": 1})
    graph = ModelGraph.from_dict(data)
    errors = validate(graph).errors()
    assert {node for node, m in errors if "cycle" in m} >= {"left", "add", "pool"}


def test_graph_level_problems_and_unreachable_nodes(keras):
    graph = ModelGraph()
    graph.add_node("Dense", {"units": 3}, "lonely")
    report = validate(graph)
    assert any("no Input" in p for p in report.problems)
    assert any("no output" in p for p in report.problems)
    graph = two_branches()
    graph.add_node("Dense", {"units": 3}, "dangling")
    graph.connect("pool", "dangling")
    graph.add_node("Dense", {"units": 3}, "floating")
    report = validate(graph)
    assert report.ok, report.errors()
    warnings = report.warnings()
    assert ("dangling", "does not lead to an output: it is left out of the model") in warnings
    assert ("floating", "is not connected to any Input") in warnings


def test_multi_output_layers_and_output_index(keras):
    graph = ModelGraph()
    graph.add_node("Input", {"shape": [5, 3]}, "seq")
    graph.add_node("LSTM", {"units": 4, "return_state": True}, "lstm")
    graph.add_node("Dense", {"units": 2}, "head")
    graph.connect("seq", "lstm")
    graph.connect("lstm", "head", 0, index=2)
    graph.set_outputs(["head"])
    report = validate(graph)
    assert report.ok, report.errors()
    assert len(report.nodes["lstm"].outputs) == 3
    graph.disconnect("head", 0)
    graph.connect("lstm", "head", 0, index=5)
    assert "output 5" in dict(validate(graph).errors())["head"]


def test_revalidation_after_one_edit_recomputes_only_what_changed(keras, monkeypatch):
    graph = ModelGraph("deep")
    graph.add_node("Input", {"shape": [16]}, "x")
    previous = "x"
    for i in range(200):
        node = graph.add_node("Dense", {"units": 16, "activation": "relu"}, f"d{i}")
        graph.connect(previous, node)
        previous = node
    graph.set_outputs([previous])
    validator = Validator(graph)
    assert validator.validate().ok
    calls = []
    original = Validator._compute
    monkeypatch.setattr(Validator, "_compute",
                        lambda self, node, *a: calls.append(node.id) or original(self, node, *a))
    graph.set_param("d100", "activation", "tanh")
    assert validator.validate().ok
    assert calls == ["d100"]
    calls.clear()
    graph.set_param("d100", "units", 8)  # the next layer sees a new input shape, then no more
    report = validator.validate()
    assert report.ok and calls == ["d100", "d101"]
    assert report.nodes["d101"].params == 8 * 16 + 16
