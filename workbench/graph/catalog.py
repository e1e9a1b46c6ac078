"""The catalog of layer types: what the palette offers and what the inspector edits.

Each entry names a Keras layer class, its category, how many inputs it takes, and a parameter
schema. The schema is read from Keras itself: the constructor's signature gives the names and
defaults, the class docstring's ``Args:`` section gives the one-line help. A few tables below
add what Keras does not say in a machine-readable way (choices, ranges, value kinds).

Layers that are not in the curated list (any other Keras layer, or a custom layer registered
with ``keras.saving.register_keras_serializable``) are still described generically by
``layer_type(name)``, so every Keras layer fits in a graph.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from workbench.backend import keras_module

INPUT = "Input"

# Parameters every layer has that the user does not edit in the inspector.
_HIDDEN = {"self", "name", "trainable", "dtype", "kwargs", "args", "weights", "autocast"}

ACTIVATIONS = (
    "linear", "relu", "sigmoid", "softmax", "tanh", "elu", "selu", "gelu", "silu", "swish",
    "softplus", "softsign", "leaky_relu", "relu6", "mish", "exponential", "hard_sigmoid",
    "hard_silu", "log_softmax",
)

INITIALIZERS = (
    "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
    "lecun_normal", "orthogonal", "random_normal", "random_uniform", "truncated_normal",
    "zeros", "ones", "identity",
)

# Choices by parameter name, with per-class overrides: (class, param) beats param alone.
_CHOICES: dict[Any, tuple] = {
    "padding": ("valid", "same"),
    ("Conv1D", "padding"): ("valid", "same", "causal"),
    ("SeparableConv1D", "padding"): ("valid", "same", "causal"),
    ("DepthwiseConv1D", "padding"): ("valid", "same", "causal"),
    "data_format": (None, "channels_last", "channels_first"),
    "interpolation": ("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5", "area"),
    "merge_mode": ("concat", "sum", "mul", "ave", None),
    "fill_mode": ("reflect", "wrap", "constant", "nearest"),
    "mode": ("horizontal", "vertical", "horizontal_and_vertical"),
    "score_mode": ("dot", "concat"),
    "output_mode": ("int", "one_hot", "multi_hot", "count", "tf_idf"),
}

# Inclusive ranges by parameter name: (minimum, maximum); None means unbounded.
_RANGES: dict[str, tuple[float | None, float | None]] = {
    "units": (1, None), "filters": (1, None), "num_heads": (1, None), "key_dim": (1, None),
    "value_dim": (1, None), "input_dim": (1, None), "output_dim": (1, None), "n": (1, None),
    "groups": (1, None), "height": (1, None), "width": (1, None), "size": (1, None),
    "kernel_size": (1, None), "strides": (1, None), "pool_size": (1, None),
    "dilation_rate": (1, None), "depth_multiplier": (1, None),
    "rate": (0, 1), "dropout": (0, 1), "recurrent_dropout": (0, 1), "momentum": (0, 1),
    "stddev": (0, None), "epsilon": (0, None), "cropping": (0, None),
    "negative_slope": (0, None), "max_value": (0, None),
}

# Kinds of parameters whose default (None or required) does not tell the type.
_KINDS = {
    "units": "int", "filters": "int", "num_heads": "int", "key_dim": "int", "value_dim": "int",
    "input_dim": "int", "output_dim": "int", "n": "int", "height": "int", "width": "int",
    "groups": "int", "depth_multiplier": "int", "seed": "int",
    "rate": "float", "stddev": "float", "scale": "float", "offset": "float", "dropout": "float",
    "factor": "float", "height_factor": "float", "width_factor": "float",
    "max_value": "float", "negative_slope": "float", "threshold": "float",
    "shape": "shape", "target_shape": "shape", "dims": "shape",
    "equation": "str",
}

# Kinds that hold whatever the default looks like.
_SPECIAL_KINDS = {
    "activation": "activation", "recurrent_activation": "activation",
    "layer": "layer", "backward_layer": "layer", "axis": "ints",
    "kernel_size": "ints", "strides": "ints", "pool_size": "ints", "size": "ints",
    "dilation_rate": "ints", "cropping": "ints",
}


@dataclass(frozen=True)
class ParamSpec:
    """One constructor argument of a layer.

    Attributes:
        name: the Keras argument name (also the key in the node's ``params``).
        kind: int, float, bool, str, choice, ints (an int or a tuple of ints), shape,
            activation, initializer, regularizer, constraint, layer, or any.
        default: the Keras default; meaningless when ``required``.
        required: the constructor has no default for it.
        choices: allowed values for ``choice`` (and suggestions for activation/initializer).
        minimum, maximum: inclusive range for numbers (each element for ``ints``).
        length: tuple length for ``ints`` (1, 2 or 3), from the layer's dimensionality.
        help: one sentence from the Keras docstring.
    """

    name: str
    kind: str
    default: Any = None
    required: bool = False
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    length: int | None = None
    help: str = ""

    def check(self, value: Any) -> str | None:
        """Return why ``value`` is not allowed, or None when it is."""
        if value is None:
            return f"{self.name} is required" if self.required else None
        if self.kind == "bool" and not isinstance(value, bool):
            return f"{self.name} must be true or false (got {value!r})"
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                return f"{self.name} must be a whole number (got {value!r})"
            return self._check_range(value)
        if self.kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"{self.name} must be a number (got {value!r})"
            return self._check_range(value)
        if self.kind == "ints":
            items = value if isinstance(value, (list, tuple)) else [value]
            flat = [v for item in items for v in (item if isinstance(item, (list, tuple)) else [item])]
            if not flat or any(isinstance(v, bool) or not isinstance(v, int) for v in flat):
                return f"{self.name} must be a whole number or a list of them (got {value!r})"
            if self.length and isinstance(value, (list, tuple)) and len(value) != self.length:
                return f"{self.name} must have {self.length} values (got {len(value)})"
            for v in flat:
                problem = self._check_range(v)
                if problem:
                    return problem
            return None
        if self.kind == "shape":
            if not isinstance(value, (list, tuple)) or not all(
                v is None or (isinstance(v, int) and not isinstance(v, bool) and (v > 0 or v == -1))
                for v in value
            ):
                return f"{self.name} must be a list of positive whole numbers (got {value!r})"
            return None
        if self.kind == "choice" and self.choices is not None and value not in self.choices:
            allowed = ", ".join(repr(c) if c is not None else "null" for c in self.choices)
            return f"{self.name} must be one of {allowed} (got {value!r})"
        if self.kind == "str" and not isinstance(value, str):
            return f"{self.name} must be text (got {value!r})"
        return None

    def _check_range(self, value: float) -> str | None:
        low, high = self.minimum, self.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            if high is None:
                return f"{self.name} must be >= {low:g} (got {value!r})"
            if low is None:
                return f"{self.name} must be <= {high:g} (got {value!r})"
            return f"{self.name} must be between {low:g} and {high:g} (got {value!r})"
        return None


@dataclass(frozen=True)
class InputSpec:
    """How many tensors a layer takes and how they are passed to its ``call``.

    ``style`` is "none" (an Input), "single" (one tensor), "list" (one list argument, merge
    layers) or "args" (separate positional arguments named by ``names``).
    """

    style: str = "single"
    minimum: int = 1
    maximum: int | None = 1
    names: tuple[str, ...] = ()

    def port_name(self, port: int) -> str:
        """A person's name for an input port."""
        return self.names[port] if port < len(self.names) else f"input {port + 1}"


@dataclass(frozen=True)
class LayerType:
    """A layer type as the palette and the inspector show it."""

    name: str
    category: str
    help: str
    params: tuple[ParamSpec, ...]
    inputs: InputSpec = field(default_factory=InputSpec)
    initial: dict = field(default_factory=dict)
    key_params: tuple[str, ...] = ()
    curated: bool = True

    def param(self, name: str) -> ParamSpec | None:
        """The schema of parameter ``name``, or None if the layer has no such argument."""
        for spec in self.params:
            if spec.name == name:
                return spec
        return None


_SINGLE = InputSpec()
_MERGE = InputSpec("list", 2, None)
_PAIR = InputSpec("list", 2, 2)
_QVK = InputSpec("list", 2, 3, ("query", "value", "key"))
_MHA = InputSpec("args", 2, 3, ("query", "value", "key"))

# (class name, category, initial parameters for a new node, key parameters, inputs)
_CURATED: list[tuple[str, str, dict, tuple[str, ...], InputSpec]] = [
    (INPUT, "core", {"shape": [8, 8, 1]}, ("shape",), InputSpec("none", 0, 0)),
    ("Dense", "core", {"units": 32}, ("units", "activation"), _SINGLE),
    ("EinsumDense", "core", {"equation": "ab,bc->ac", "output_shape": 32},
     ("equation", "output_shape"), _SINGLE),
    ("Activation", "core", {"activation": "relu"}, ("activation",), _SINGLE),
    ("Identity", "core", {}, (), _SINGLE),
    ("Embedding", "embedding", {"input_dim": 1000, "output_dim": 32},
     ("input_dim", "output_dim"), _SINGLE),
]
_CONV = ("filters", "kernel_size", "strides", "padding", "activation")
for _name in ("Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose",
              "Conv3DTranspose", "SeparableConv1D", "SeparableConv2D"):
    _CURATED.append((_name, "convolution", {"filters": 32, "kernel_size": 3}, _CONV, _SINGLE))
for _name in ("DepthwiseConv1D", "DepthwiseConv2D"):
    _CURATED.append((_name, "convolution", {"kernel_size": 3},
                     ("kernel_size", "strides", "padding", "depth_multiplier"), _SINGLE))
for _dims in ("1D", "2D", "3D"):
    _CURATED += [
        ("MaxPooling" + _dims, "pooling", {"pool_size": [2] * int(_dims[0])},
         ("pool_size", "strides", "padding"), _SINGLE),
        ("AveragePooling" + _dims, "pooling", {"pool_size": [2] * int(_dims[0])},
         ("pool_size", "strides", "padding"), _SINGLE),
        ("GlobalAveragePooling" + _dims, "pooling", {}, (), _SINGLE),
        ("GlobalMaxPooling" + _dims, "pooling", {}, (), _SINGLE),
        ("UpSampling" + _dims, "reshaping", {}, ("size",), _SINGLE),
        ("ZeroPadding" + _dims, "reshaping", {}, ("padding",), _SINGLE),
        ("Cropping" + _dims, "reshaping", {}, ("cropping",), _SINGLE),
    ]
_CURATED += [
    ("BatchNormalization", "normalization", {}, ("momentum",), _SINGLE),
    ("LayerNormalization", "normalization", {}, ("axis",), _SINGLE),
    ("GroupNormalization", "normalization", {}, ("groups",), _SINGLE),
    ("UnitNormalization", "normalization", {}, ("axis",), _SINGLE),
    ("Dropout", "regularization", {"rate": 0.5}, ("rate",), _SINGLE),
    ("SpatialDropout1D", "regularization", {"rate": 0.2}, ("rate",), _SINGLE),
    ("SpatialDropout2D", "regularization", {"rate": 0.2}, ("rate",), _SINGLE),
    ("GaussianNoise", "regularization", {"stddev": 0.1}, ("stddev",), _SINGLE),
    ("GaussianDropout", "regularization", {"rate": 0.1}, ("rate",), _SINGLE),
    ("AlphaDropout", "regularization", {"rate": 0.1}, ("rate",), _SINGLE),
    ("ActivityRegularization", "regularization", {}, ("l1", "l2"), _SINGLE),
    ("Add", "merge", {}, (), _MERGE),
    ("Subtract", "merge", {}, (), _PAIR),
    ("Multiply", "merge", {}, (), _MERGE),
    ("Average", "merge", {}, (), _MERGE),
    ("Maximum", "merge", {}, (), _MERGE),
    ("Minimum", "merge", {}, (), _MERGE),
    ("Concatenate", "merge", {}, ("axis",), _MERGE),
    ("Dot", "merge", {"axes": -1}, ("axes",), _PAIR),
    ("SimpleRNN", "recurrent", {"units": 32}, ("units", "return_sequences"), _SINGLE),
    ("LSTM", "recurrent", {"units": 32}, ("units", "return_sequences"), _SINGLE),
    ("GRU", "recurrent", {"units": 32}, ("units", "return_sequences"), _SINGLE),
    ("Bidirectional", "recurrent",
     {"layer": {"class_name": "LSTM", "config": {"units": 32}}}, ("layer", "merge_mode"), _SINGLE),
    ("TimeDistributed", "recurrent",
     {"layer": {"class_name": "Dense", "config": {"units": 32}}}, ("layer",), _SINGLE),
    ("ConvLSTM2D", "recurrent", {"filters": 16, "kernel_size": 3},
     ("filters", "kernel_size", "return_sequences"), _SINGLE),
    ("MultiHeadAttention", "attention", {"num_heads": 2, "key_dim": 16},
     ("num_heads", "key_dim"), _MHA),
    ("Attention", "attention", {}, ("score_mode",), _QVK),
    ("AdditiveAttention", "attention", {}, (), _QVK),
    ("Flatten", "reshaping", {}, (), _SINGLE),
    ("Reshape", "reshaping", {"target_shape": [-1]}, ("target_shape",), _SINGLE),
    ("Permute", "reshaping", {"dims": [2, 1]}, ("dims",), _SINGLE),
    ("RepeatVector", "reshaping", {"n": 2}, ("n",), _SINGLE),
    ("ReLU", "activation", {}, ("max_value", "negative_slope"), _SINGLE),
    ("LeakyReLU", "activation", {}, ("negative_slope",), _SINGLE),
    ("PReLU", "activation", {}, (), _SINGLE),
    ("ELU", "activation", {}, ("alpha",), _SINGLE),
    ("Softmax", "activation", {}, ("axis",), _SINGLE),
    ("Rescaling", "preprocessing", {"scale": 1 / 255}, ("scale", "offset"), _SINGLE),
    ("Normalization", "preprocessing", {}, ("axis",), _SINGLE),
    ("Resizing", "preprocessing", {"height": 32, "width": 32}, ("height", "width"), _SINGLE),
    ("CenterCrop", "preprocessing", {"height": 32, "width": 32}, ("height", "width"), _SINGLE),
    ("RandomCrop", "preprocessing", {"height": 32, "width": 32}, ("height", "width"), _SINGLE),
    ("RandomFlip", "preprocessing", {}, ("mode",), _SINGLE),
    ("RandomRotation", "preprocessing", {"factor": 0.1}, ("factor",), _SINGLE),
    ("RandomZoom", "preprocessing", {"height_factor": 0.1}, ("height_factor",), _SINGLE),
    ("RandomTranslation", "preprocessing", {"height_factor": 0.1, "width_factor": 0.1},
     ("height_factor", "width_factor"), _SINGLE),
    ("RandomContrast", "preprocessing", {"factor": 0.2}, ("factor",), _SINGLE),
    # The workbench's own layer (workbench/generative/layers.py): a VAE's latent sample + KL loss.
    ("Sampling", "generative", {"kl_weight": 1.0}, ("kl_weight",),
     InputSpec("list", 2, 2, ("z_mean", "z_log_var"))),
]

CATEGORIES = (
    "core", "convolution", "pooling", "normalization", "regularization", "merge",
    "recurrent", "embedding", "attention", "reshaping", "activation", "preprocessing", "generative",
    "other",
)


@dataclass(frozen=True)
class Outline:
    """What is known of a curated layer type without importing Keras."""

    name: str
    category: str
    initial: dict
    key_params: tuple[str, ...]
    inputs: InputSpec


def outline() -> dict[str, Outline]:
    """The curated layers by name, without importing Keras, so the palette and the canvas
    can show them before TensorFlow has loaded."""
    return {name: Outline(name, category, dict(initial), key_params, inputs)
            for name, category, initial, key_params, inputs in _CURATED}


def layer_class(name: str) -> type | None:
    """The Keras class for a node type: a built-in layer, or a registered custom layer."""
    keras = keras_module()
    if name == INPUT:
        return keras.layers.InputLayer
    from workbench.generative.layers import PACKAGE, register

    register()  # the workbench's own layers (Sampling), known by their plain class name too
    candidate = getattr(keras.layers, name, None)
    if inspect.isclass(candidate) and issubclass(candidate, keras.layers.Layer):
        return candidate
    registered = (keras.saving.get_registered_object(name)
                  or keras.saving.get_registered_object(f"{PACKAGE}>{name}"))
    if inspect.isclass(registered) and issubclass(registered, keras.layers.Layer):
        return registered
    return None


def _doc_args(cls: type) -> dict[str, str]:
    """Parse the ``Args:`` section of a Keras docstring into {name: first sentence}."""
    doc = inspect.getdoc(cls) or ""
    match = re.search(r"^\s*Args:\s*$(.*?)(^\s*\w[\w ]*:\s*$|\Z)", doc, re.M | re.S)
    if not match:
        return {}
    helps: dict[str, list[str]] = {}
    current = None
    indent = None
    for line in match.group(1).splitlines():
        if not line.strip():
            continue
        stripped = line.lstrip()
        depth = len(line) - len(stripped)
        entry = re.match(r"(\w+)(\s*\([^)]*\))?:\s*(.*)", stripped)
        if entry and (indent is None or depth <= indent):
            indent = depth
            current = entry.group(1)
            helps[current] = [entry.group(3)]
        elif current:
            helps[current].append(stripped)
    result = {}
    for name, parts in helps.items():
        text = " ".join(" ".join(parts).split()).replace("`", "")
        sentence = re.split(r"(?<=[.;])\s", text, maxsplit=1)[0]
        result[name] = sentence
    return result


def _dimensions(class_name: str) -> int | None:
    match = re.search(r"([123])D", class_name)
    return int(match.group(1)) if match else None


def _plain(value: Any) -> Any:
    """Tuples (nested too) as lists, as the value reads back from JSON."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def _param_spec(class_name: str, parameter: inspect.Parameter, helps: dict[str, str]) -> ParamSpec:
    name = parameter.name
    required = parameter.default is inspect.Parameter.empty
    default = None if required else _plain(parameter.default)
    choices = _CHOICES.get((class_name, name), _CHOICES.get(name))
    kind = _SPECIAL_KINDS.get(name)
    if name.endswith("_initializer"):
        kind = "initializer"
    elif name.endswith("_regularizer"):
        kind = "regularizer"
    elif name.endswith("_constraint"):
        kind = "constraint"
    elif name == "padding" and class_name.startswith("ZeroPadding"):
        kind, choices = "ints", None
    if kind is None:
        if choices is not None:
            kind = "choice"
        elif isinstance(default, bool):
            kind = "bool"
        elif isinstance(default, int):
            kind = "int"
        elif isinstance(default, float):
            kind = "float"
        elif isinstance(default, list) and all(isinstance(v, int) for v in default):
            kind = "ints"
        elif isinstance(default, str):
            kind = "str"
        else:  # required or None by default: the name tells
            kind = _KINDS.get(name, "any")
    if kind == "activation":
        choices = ACTIVATIONS
    elif kind == "initializer":
        choices = INITIALIZERS
    low, high = _RANGES.get(name, (None, None))
    if name == "padding" and class_name.startswith("ZeroPadding"):
        low, high = 0, None
    length = _dimensions(class_name) if kind == "ints" else None
    return ParamSpec(
        name=name, kind=kind, default=default, required=required, choices=choices,
        minimum=low, maximum=high, length=length, help=helps.get(name, ""),
    )


def _describe(cls: type, class_name: str) -> tuple[str, tuple[ParamSpec, ...]]:
    helps = _doc_args(cls)
    try:
        signature = inspect.signature(cls.__init__)
    except (TypeError, ValueError):
        return "", ()
    params = tuple(
        _param_spec(class_name, p, helps)
        for p in signature.parameters.values()
        if p.name not in _HIDDEN and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    )
    doc = (inspect.getdoc(cls) or "").strip().split("\n\n")[0]
    return " ".join(doc.split()), params


def _input_params() -> tuple[ParamSpec, ...]:
    # The InputLayer constructor is awkward to edit (batch_shape vs shape, tensors); a node
    # offers the three arguments people set.
    return (
        ParamSpec("shape", "shape", [8, 8, 1], True,
                  help="Shape of one sample, without the batch dimension."),
        ParamSpec("dtype", "choice", "float32",
                  choices=("float32", "float16", "bfloat16", "int32", "int64", "bool", "string"),
                  help="Data type of the input."),
        ParamSpec("batch_size", "int", None, minimum=1,
                  help="Fixed batch size; leave empty for any batch size."),
    )


@lru_cache(maxsize=1)
def catalog() -> dict[str, LayerType]:
    """Every curated layer type, by class name, in palette order (needs Keras)."""
    entries: dict[str, LayerType] = {}
    for class_name, category, initial, key_params, inputs in _CURATED:
        cls = layer_class(class_name)
        if cls is None:  # a Keras version without this layer: leave it out of the palette
            continue
        if class_name == INPUT:
            help_text = "The model's input: one sample's shape, without the batch dimension."
            params = _input_params()
        else:
            help_text, params = _describe(cls, class_name)
        entries[class_name] = LayerType(
            class_name, category, help_text, params, inputs, dict(initial), key_params
        )
    return entries


@lru_cache(maxsize=256)
def layer_type(name: str) -> LayerType | None:
    """The layer type for a node type name; None when Keras knows no such layer.

    Curated types come from ``catalog()``; any other Keras or registered custom layer is
    described from its signature, with category "other" and generic inputs.
    """
    known = catalog().get(name)
    if known is not None:
        return known
    cls = layer_class(name)
    if cls is None:
        return None
    help_text, params = _describe(cls, name)
    initial = {p.name: p.default for p in params if p.required}
    return LayerType(name, "other", help_text, params, InputSpec("single", 1, None),
                     initial, tuple(p.name for p in params if p.required), curated=False)


def is_model_class(name: str) -> bool:
    """Whether a Keras class name denotes a whole model (a nested block)."""
    return name in ("Functional", "Sequential", "Model")
