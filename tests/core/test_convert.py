"""Graph <-> Keras: round trips, real architectures, nested and shared layers, weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

from workbench.experiment import DEFAULT_EXPERIMENT, Experiment, bundled_templates
from workbench.graph.convert import build_model, from_keras, to_keras
from workbench.graph.validate import validate

BUNDLED = [DEFAULT_EXPERIMENT, *bundled_templates().values()]


def structure(graph) -> dict:
    """The graph's JSON without positions (import lays nodes out anew)."""
    data = json.loads(json.dumps(graph.to_dict()))

    def strip(d):
        for node in d["nodes"]:
            node.pop("pos", None)
            if "graph" in node:
                strip(node["graph"])
        return d

    return strip(data)


def assert_same_outputs(first, second, samples: int = 2, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    inputs = [rng.random((samples, *t.shape[1:])).astype("float32") for t in first.inputs]
    feed = inputs[0] if len(inputs) == 1 else inputs
    a = first(feed, training=False)
    b = second(feed, training=False)
    a = a if isinstance(a, (list, tuple)) else [a]
    b = b if isinstance(b, (list, tuple)) else [b]
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert np.max(np.abs(np.asarray(x) - np.asarray(y))) < 1e-5


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_bundled_experiments_validate_build_and_round_trip_identically(keras, path):
    experiment = Experiment.load(path)
    report = validate(experiment.graph)
    assert report.ok, report.errors()
    model = to_keras(experiment.graph)
    assert model.count_params() == report.total_params
    graph, weights = from_keras(model)
    assert structure(graph) == structure(experiment.graph)
    assert_same_outputs(model, to_keras(graph, weights))


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("ResNet50", {"input_shape": (64, 64, 3), "classes": 7}),
        ("MobileNetV2", {"input_shape": (96, 96, 3), "alpha": 0.35}),
        ("DenseNet121", {"input_shape": (64, 64, 3), "classes": 5}),
    ],
)
def test_keras_applications_import_and_rebuild_exactly(keras, name, kwargs):
    original = getattr(keras.applications, name)(weights=None, **kwargs)
    graph, weights = from_keras(original)
    rebuilt = to_keras(graph, weights)
    assert rebuilt.count_params() == original.count_params()
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in original.layers]
    assert [type(a).__name__ for a in rebuilt.layers] == [type(b).__name__ for b in original.layers]
    assert_same_outputs(original, rebuilt, samples=1)


def test_nested_backbone_classifier_keeps_weights(keras):
    backbone = keras.applications.MobileNetV2(
        weights=None, include_top=False, input_shape=(64, 64, 3), alpha=0.35
    )
    backbone.trainable = False
    inputs = keras.Input((64, 64, 3), name="photo")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1, name="scale")(inputs)
    x = backbone(x, training=False)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="head")(x)
    model = keras.Model(inputs, outputs, name="transfer")
    graph, weights = from_keras(model)
    block = graph.nodes[backbone.name]
    assert block.type == "Block" and len(block.block) == len(backbone.layers)
    assert f"{backbone.name}/Conv1" in weights
    rebuilt = to_keras(graph, weights)
    assert rebuilt.count_params() == model.count_params()
    assert_same_outputs(model, rebuilt, samples=1)
    assert validate(graph).total_params == model.count_params()


@pytest.mark.parametrize("case", ["direct", "called twice", "one of two outputs"])
def test_a_nested_model_whose_output_is_the_model_output(keras, case):
    # Keras numbers a nested functional model's calls from 1 in ``output_layers`` (its
    # construction is call 0) but from 0 in ``inbound_nodes``.
    inner_input = keras.Input((4,))
    inner = keras.Model(inner_input, keras.layers.Dense(4, name="inner_dense")(inner_input), name="inner")
    inputs = keras.Input((4,), name="x")
    first = inner(keras.layers.Dense(4, name="pre")(inputs))
    outputs = {"direct": first, "called twice": inner(first),
               "one of two outputs": [keras.layers.Dense(2, name="head")(first), first]}[case]
    model = keras.Model(inputs, outputs, name="outer")
    graph, weights = from_keras(model)
    assert_same_outputs(model, to_keras(graph, weights))


def test_sequential_with_nested_sequential(keras):
    inner = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, name="inner_dense")],
                             name="inner")
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(6, activation="relu", name="first"), inner,
         keras.layers.Dense(2, name="last")], name="seq"
    )
    graph, weights = from_keras(model)
    assert [n.type for n in graph.nodes.values()] == ["Input", "Dense", "Block", "Dense"]
    assert_same_outputs(model, to_keras(graph, weights))


def test_multi_input_multi_output_and_shared_layers(keras):
    text = keras.Input((12,), dtype="int32", name="tokens")
    meta = keras.Input((3,), name="meta")
    embed = keras.layers.Embedding(50, 8, name="embed")
    encoder = keras.layers.Bidirectional(keras.layers.LSTM(6), name="encoder")
    a = encoder(embed(text))
    b = keras.layers.Dense(12, name="meta_dense")(meta)
    shared = keras.layers.Dense(4, activation="relu", name="shared")
    joined = keras.layers.Concatenate(name="joined")([shared(a), shared(b)])
    attention = keras.layers.MultiHeadAttention(2, 4, name="attention")
    seq = keras.layers.Reshape((2, 4), name="as_seq")(joined)
    attended = attention(seq, seq)
    model = keras.Model(
        [text, meta],
        [keras.layers.Dense(1, activation="sigmoid", name="label")(joined),
         keras.layers.Flatten(name="attended")(attended)],
        name="multi",
    )
    graph, weights = from_keras(model)
    assert graph.inputs == ["tokens", "meta"]
    assert graph.nodes["shared_call2"].shares == "shared"
    assert validate(graph).total_params == model.count_params()
    rebuilt = to_keras(graph, weights)
    assert rebuilt.count_params() == model.count_params()
    rng = np.random.default_rng(1)
    feed = [rng.integers(0, 50, (2, 12)), rng.random((2, 3)).astype("float32")]
    for x, y in zip(model(feed), rebuilt(feed)):
        assert np.max(np.abs(np.asarray(x) - np.asarray(y))) < 1e-5
    again, _ = from_keras(rebuilt)
    assert structure(again) == structure(graph)


def test_stored_weights_that_no_longer_fit_are_reported(keras):
    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    model = to_keras(experiment.graph)
    graph, weights = from_keras(model)
    graph.set_param("conv_2", "filters", 8)
    result = build_model(graph, weights)
    assert result.skipped == ["conv_2", "digit"]  # digit reads conv_2's channels
    np.testing.assert_array_equal(result.model.get_layer("conv_1").get_weights()[0],
                                  model.get_layer("conv_1").get_weights()[0])


def test_subclassed_models_are_refused_with_a_reason(keras):
    from workbench.errors import ModelFileError

    class Custom(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    model = Custom()
    model(np.zeros((1, 3), "float32"))
    with pytest.raises(ModelFileError, match="subclassed"):
        from_keras(model)
