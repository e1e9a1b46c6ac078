"""The layer catalog: coverage, schemas read from Keras, generic layers."""

from __future__ import annotations

import pytest

from workbench.graph.catalog import CATEGORIES, ParamSpec, catalog, layer_type
from workbench.graph.keras_layers import make_layer

REQUIRED = {
    "Add", "Concatenate", "Multiply", "Average", "Subtract", "LSTM", "GRU", "SimpleRNN",
    "Bidirectional", "MultiHeadAttention", "UpSampling2D", "ZeroPadding2D", "Cropping2D",
    "Reshape", "Permute", "Embedding", "Dense", "Conv2D", "MaxPooling2D", "BatchNormalization",
    "Dropout", "LeakyReLU", "Rescaling", "RandomFlip",
}


def test_catalog_covers_every_category_with_at_least_45_layers(keras):
    entries = catalog()
    assert len(entries) >= 45
    assert REQUIRED <= set(entries)
    used = {entry.category for entry in entries.values()}
    assert used <= set(CATEGORIES)
    for category in ("core", "convolution", "pooling", "normalization", "regularization",
                     "merge", "recurrent", "embedding", "attention", "reshaping", "activation",
                     "preprocessing"):
        assert category in used, category


def test_every_curated_layer_can_be_created_from_its_initial_parameters(keras):
    for name, entry in catalog().items():
        if name == "Input":
            continue
        layer = make_layer(name, entry.initial, f"test_{name.lower()}")
        assert isinstance(layer, keras.layers.Layer)


def test_schema_comes_from_keras_signature_and_docstring(keras):
    conv = layer_type("Conv2D")
    filters = conv.param("filters")
    assert filters.required and filters.kind == "int" and filters.minimum == 1
    assert "filters" in filters.help or "output space" in filters.help
    padding = conv.param("padding")
    assert padding.default == "valid" and padding.choices == ("valid", "same")
    assert layer_type("Conv1D").param("padding").choices == ("valid", "same", "causal")
    assert conv.param("strides").kind == "ints" and conv.param("strides").length == 2
    assert conv.param("kernel_initializer").kind == "initializer"
    assert conv.param("activation").kind == "activation"
    rate = layer_type("Dropout").param("rate")
    assert (rate.minimum, rate.maximum) == (0, 1)
    assert layer_type("BatchNormalization").param("scale").kind == "bool"
    assert layer_type("Add").inputs.minimum == 2 and layer_type("Add").inputs.maximum is None
    assert layer_type("MultiHeadAttention").inputs.names[:2] == ("query", "value")


@pytest.mark.parametrize(
    ("spec", "value", "fragment"),
    [
        (ParamSpec("units", "int", minimum=1), 0, ">= 1"),
        (ParamSpec("units", "int", minimum=1), 2.5, "whole number"),
        (ParamSpec("rate", "float", minimum=0, maximum=1), 1.5, "between 0 and 1"),
        (ParamSpec("padding", "choice", choices=("valid", "same")), "full", "one of"),
        (ParamSpec("use_bias", "bool"), "yes", "true or false"),
        (ParamSpec("kernel_size", "ints", minimum=1, length=2), [3, 3, 3], "2 values"),
        (ParamSpec("shape", "shape"), [8, -2], "positive"),
        (ParamSpec("units", "int", required=True), None, "required"),
    ],
)
def test_param_check_names_the_allowed_values(spec, value, fragment):
    problem = spec.check(value)
    assert problem is not None and fragment in problem and spec.name in problem


def test_good_values_pass_the_check():
    assert ParamSpec("units", "int", minimum=1).check(64) is None
    assert ParamSpec("kernel_size", "ints", minimum=1, length=2).check(3) is None
    assert ParamSpec("kernel_size", "ints", minimum=1, length=2).check([3, 5]) is None
    assert ParamSpec("rate", "float", minimum=0, maximum=1).check(0) is None


def test_any_keras_layer_and_registered_custom_layers_are_described(keras):
    generic = layer_type("Masking")  # not curated, but a Keras layer
    assert generic is not None and generic.category == "other" and not generic.curated

    @keras.saving.register_keras_serializable(package="tests")
    class Doubler(keras.layers.Layer):
        """Multiplies its input by a factor."""

        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    custom = layer_type("tests>Doubler")
    assert custom is not None and custom.param("factor").default == 2.0
    assert layer_type("NoSuchLayer") is None
