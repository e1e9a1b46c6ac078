"""Between node parameters and Keras layers.

A node keeps only the ``get_config()`` keys that differ from Keras' defaults, with Keras
objects (initializers, regularizers, wrapped layers) in a short form: ``"he_normal"`` rather
than a four-key dictionary. ``compact_config`` makes that form from a layer's config and
``make_layer`` turns it back into a Keras layer; ``call_layer`` calls a layer on its inputs the
way its catalog entry says (one tensor, a list, or separate arguments).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from workbench.backend import clean_keras_message, keras_module, unsafe_allowed
from workbench.errors import GraphError
from workbench.graph.catalog import INPUT, layer_class, layer_type

_OBJECT_MODULES = ("keras.initializers", "keras.regularizers", "keras.constraints")
_ALWAYS_DROPPED = ("name",)


def to_json_data(value: Any) -> Any:
    """Plain JSON data from a Keras config: tuples become lists, numpy scalars numbers."""

    def fallback(obj: Any) -> Any:
        if hasattr(obj, "tolist"):
            return obj.tolist()
        if hasattr(obj, "item"):
            return obj.item()
        raise TypeError(f"{type(obj).__name__} is not JSON data")

    return json.loads(json.dumps(value, default=fallback))


def _required_names(type_name: str) -> tuple[str, ...]:
    spec = layer_type(type_name)
    return tuple(p.name for p in spec.params if p.required) if spec else ()


@lru_cache(maxsize=512)
def _default_config(type_name: str, required_json: str) -> dict:
    """The config of a layer made with only its required arguments (cached)."""
    cls = layer_class(type_name)
    if cls is None:
        return {}
    try:
        layer = cls.from_config(expand_params(type_name, json.loads(required_json)))
        return to_json_data(layer.get_config())
    except Exception:  # a layer that cannot be made from its required args: strip nothing
        return {}


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _compact_object(value: dict) -> Any:
    """Shorten a serialized initializer/regularizer/constraint."""
    keras = keras_module()
    module = value.get("module", "")
    class_name = value["class_name"]
    config = value.get("config") or {}
    getter = {
        "keras.initializers": keras.initializers.get,
        "keras.regularizers": keras.regularizers.get,
        "keras.constraints": keras.constraints.get,
    }[module]
    try:
        default = to_json_data(getter(class_name).get_config())
    except Exception:
        default = None
    if config == default:
        alias = _snake(class_name)
        try:
            if type(getter(alias)).__name__ == class_name:
                return alias
        except Exception:
            pass
        return class_name
    return {"class_name": class_name, "config": config}


def _compact_value(value: Any) -> Any:
    if isinstance(value, dict) and "class_name" in value and "config" in value:
        module = value.get("module") or ""
        if module in _OBJECT_MODULES:
            return _compact_object(value)
        if module == "keras" and value["class_name"] == "DTypePolicy":
            return value["config"].get("name")
        if layer_class(value["class_name"]) is not None and isinstance(value["config"], dict):
            return {
                "class_name": value["class_name"],
                "config": compact_config(value["class_name"], value["config"]),
            }
    return value


def compact_config(type_name: str, config: dict) -> dict:
    """The node parameters for a Keras layer config: only what differs from the defaults."""
    config = to_json_data(config)
    required = {k: config[k] for k in _required_names(type_name) if k in config}
    default = _default_config(type_name, json.dumps(required, sort_keys=True))
    params = {}
    for key, value in config.items():
        if key in _ALWAYS_DROPPED:
            continue
        if key not in required and key in default and default[key] == value:
            continue
        if key == "trainable" and value is True:
            continue
        if key == "dtype" and isinstance(value, dict) and value.get("config", {}).get("name") == (
            keras_module().config.floatx()
        ):
            continue
        params[key] = _compact_value(value)
    # Some defaults depend on other arguments (a pooling layer's strides default to its
    # pool size): rebuild from the short form and put back whatever came out different.
    cls = layer_class(type_name)
    try:
        rebuilt = to_json_data(cls.from_config(expand_params(type_name, params)).get_config())
    except Exception:
        rebuilt = None
    if rebuilt is not None:
        for key, value in config.items():
            if key not in _ALWAYS_DROPPED and key not in params and rebuilt.get(key) != value:
                params[key] = _compact_value(value)
    return params


def _expand_value(value: Any) -> Any:
    if isinstance(value, dict) and "class_name" in value and "config" in value:
        if "module" not in value and layer_class(value["class_name"]) is not None:
            keras = keras_module()
            builtin = hasattr(keras.layers, value["class_name"])
            return {
                "module": "keras.layers" if builtin else None,
                "class_name": value["class_name"],
                "config": expand_params(value["class_name"], value["config"]),
                "registered_name": None if builtin else value["class_name"],
            }
    return value


def expand_params(type_name: str, params: dict) -> dict:
    """The inverse of ``compact_config``: a config that ``from_config`` accepts.

    Some layers' ``from_config`` reads keys that have constructor defaults (Rescaling wants
    ``offset``), so the signature defaults are filled in under the given parameters.
    """
    spec = layer_type(type_name)
    config = {}
    for param in spec.params if spec else ():
        if not param.required and param.kind not in ("layer", "any"):
            config[param.name] = param.default
    config.update({key: _expand_value(value) for key, value in params.items()})
    return config


def make_layer(type_name: str, params: dict, name: str):
    """Create the Keras layer of a node; raise ``GraphError`` naming the node if Keras refuses.

    Parameter values are checked against the catalog schema first, so the message gives the
    allowed range rather than a Keras internals error.
    """
    cls = layer_class(type_name)
    if cls is None:
        raise GraphError(
            f"unknown layer type {type_name!r}: not a Keras layer nor a registered custom layer",
            name,
        )
    if type_name == "Lambda" and not unsafe_allowed():
        raise GraphError(
            "a Lambda layer runs Python code stored in the file; rebuild it only if you trust "
            "the file (--unsafe on the command line, or Yes when the app asks)", name)
    problem = check_params(type_name, params)
    if problem:
        raise GraphError(problem, name)
    try:
        return cls.from_config(dict(expand_params(type_name, params), name=name))
    except Exception as error:
        raise GraphError(f"invalid parameters: {clean_keras_message(error)}", name) from None


def check_params(type_name: str, params: dict) -> str | None:
    """Check parameter values against the schema; return the first problem or None."""
    spec = layer_type(type_name)
    if spec is None:
        return None
    for param in spec.params:
        if param.required and param.name not in params:
            return f"{param.name} is required"
    known = {p.name for p in spec.params}
    for key, value in params.items():
        param = spec.param(key)
        if param is not None:
            problem = param.check(value)
            if problem:
                return problem
        elif spec.curated and key not in known and key not in _config_keys(type_name, params):
            return f"{type_name} has no parameter {key!r}"
    return None


def _config_keys(type_name: str, params: dict) -> set[str]:
    required = {k: params[k] for k in _required_names(type_name) if k in params}
    return set(_default_config(type_name, json.dumps(required, sort_keys=True)))


def call_layer(layer, type_name: str, inputs: list, call_kwargs: dict | None = None):
    """Call ``layer`` on its input tensors in the style its catalog entry gives."""
    spec = layer_type(type_name)
    style = spec.inputs.style if spec else "single"
    kwargs = dict(call_kwargs or {})
    if style == "args":
        return layer(*inputs, **kwargs)
    if style == "list" or len(inputs) > 1:
        return layer(list(inputs), **kwargs)
    return layer(inputs[0], **kwargs)


def input_config(params: dict) -> dict:
    """Keyword arguments for ``keras.Input`` from an Input node's parameters."""
    shape = params.get("shape")
    return {
        "shape": tuple(shape) if isinstance(shape, list) else shape,
        "dtype": params.get("dtype"),
        "batch_size": params.get("batch_size"),
    }


def input_params(config: dict) -> dict:
    """Input node parameters from a Keras ``InputLayer`` config."""
    batch_shape = list(config.get("batch_shape") or [None])
    params: dict[str, Any] = {"shape": batch_shape[1:]}
    dtype = config.get("dtype")
    if isinstance(dtype, dict):
        dtype = dtype.get("config", {}).get("name")
    if dtype and dtype != keras_module().config.floatx():
        params["dtype"] = dtype
    if batch_shape[0] is not None:
        params["batch_size"] = batch_shape[0]
    return params


__all__ = [
    "INPUT",
    "call_layer",
    "check_params",
    "compact_config",
    "expand_params",
    "input_config",
    "input_params",
    "make_layer",
    "to_json_data",
]
