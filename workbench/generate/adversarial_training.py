"""Adversarial training: the training section's ``"adversarial"`` option.

```json
"training": {..., "adversarial": {"method": "pgd", "epsilon": 0.1, "ratio": 0.5, "steps": 7}}
```

With it, every training batch has a share (``ratio``) of its samples replaced by adversarial
versions made against the model as it is at that batch (Goodfellow et al. mix clean and
adversarial examples; Madry et al. train on PGD examples), so the model learns to resist the
attack. The examples are made with the model's own training loss and the batch's true targets,
in inference mode (dropout off), and clipped to the training data's value range.

``adversarial_model(model, settings, value_range)`` returns the same network as a Keras
``Model`` subclass whose ``train_step`` does this: it is built from the model's own inputs and
outputs, so it shares every layer and weight with ``model`` (the documented way to give a
functional model a custom ``train_step``). Evaluation and prediction are unchanged. ``save``
writes the plain model, so checkpoints stay ordinary Keras files that load anywhere, without
this module.

``check_adversarial`` checks the section (``FormatError`` at ``training.adversarial.<key>``)
without Keras.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

from workbench.errors import FormatError, WorkbenchError

DEFAULTS: dict[str, Any] = {"method": "fgsm", "epsilon": None, "ratio": 0.5, "steps": 7,
                            "step_size": None, "norm": "linf", "random_start": True}
_METHODS = ("fgsm", "bim", "pgd")
_NORMS = ("linf", "l2")


def check_adversarial(spec: Any, where: str = "training.adversarial") -> dict:
    """Check an ``"adversarial"`` training option; returns it with defaults filled in.

    Keys: ``method`` ("fgsm", "bim" or "pgd"; default fgsm), ``epsilon`` (required, > 0, in
    the model's input units), ``ratio`` (share of each batch made adversarial, in (0, 1];
    default 0.5), ``steps`` (BIM/PGD, default 7), ``step_size`` (default 2.5 * epsilon /
    steps), ``norm`` ("linf" or "l2"), ``random_start`` (PGD; default true).

    Raises:
        FormatError: at ``<where>.<key>``, naming what is allowed.
    """
    if not isinstance(spec, dict):
        raise FormatError(where, 'expected an object such as {"method": "fgsm", "epsilon": 0.1}')
    unknown = sorted(set(spec) - set(DEFAULTS))
    if unknown:
        raise FormatError(f"{where}.{unknown[0]}", f"unknown option; known: {', '.join(DEFAULTS)}")
    settings = {**DEFAULTS, **spec}
    method = settings["method"]
    if not isinstance(method, str) or method.lower() not in _METHODS:
        raise FormatError(f"{where}.method", f"must be one of {', '.join(_METHODS)} (got {method!r})")
    settings["method"] = method.lower()
    if "epsilon" not in spec:
        raise FormatError(f"{where}.epsilon", "missing: the largest change of an input, in the "
                          "model's input units (e.g. 0.1 for inputs scaled to [0, 1])")
    _positive(settings["epsilon"], f"{where}.epsilon")
    ratio = settings["ratio"]
    if not _real(ratio) or not 0 < ratio <= 1:
        raise FormatError(f"{where}.ratio", f"must be a number in (0, 1]: the share of each batch "
                          f"made adversarial (got {ratio!r})")
    steps = settings["steps"]
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise FormatError(f"{where}.steps", f"must be a whole number >= 1 (got {steps!r})")
    if settings["step_size"] is not None:
        _positive(settings["step_size"], f"{where}.step_size")
    norm = settings["norm"]
    if not isinstance(norm, str) or norm.lower() not in _NORMS:
        raise FormatError(f"{where}.norm", f"must be one of {', '.join(_NORMS)} (got {norm!r})")
    settings["norm"] = norm.lower()
    if not isinstance(settings["random_start"], bool):
        raise FormatError(f"{where}.random_start",
                          f"expected true or false (got {settings['random_start']!r})")
    return settings


def data_value_range(dataset) -> tuple[float, float] | None:
    """The training inputs' (min, max), the range adversarial examples are clipped to; None
    for streamed data (then only the epsilon ball bounds them)."""
    x = getattr(dataset, "x_train", None)
    if x is None or not np.size(x):
        return None
    low, high = float(np.min(x)), float(np.max(x))
    return (low, high) if high > low else None


def adversarial_model(model, settings: dict, value_range: tuple[float, float] | None = None):
    """``model`` as a Keras model whose training step mixes in adversarial examples.

    Args:
        model: a functional or Sequential Keras model with one input and one output (not
            changed; the result shares its layers and weights).
        settings: the ``"adversarial"`` option (checked here with ``check_adversarial``).
        value_range: the valid input values (low, high); None: no clipping besides epsilon.

    Returns:
        A model to compile and fit in place of ``model``; its ``save`` writes ``model``.

    Raises:
        FormatError: bad settings. WorkbenchError: a model with several inputs or outputs.
    """
    from workbench.inspect.layers import model_inputs

    settings = check_adversarial(settings)
    inputs = model_inputs(model)
    if len(inputs) != 1 or len(model.outputs) != 1:
        raise WorkbenchError(f"adversarial training needs a model with one input and one output; "
                             f"model {model.name!r} has {len(inputs)} and {len(model.outputs)}")
    if value_range is not None and not value_range[0] < value_range[1]:
        raise WorkbenchError(f"the value range must go from low to high (got {value_range})")
    return _model_class()(inputs=inputs[0], outputs=model.outputs[0], name=model.name,
                          plain=model, adversarial=settings, value_range=value_range)


@lru_cache(maxsize=1)
def _model_class() -> type:
    """The Keras model class, made on first use (Keras is imported only to train)."""
    from workbench.backend import keras_module

    keras = keras_module()

    class AdversarialModel(keras.Model):
        """A functional model whose ``train_step`` makes part of each batch adversarial."""

        def __init__(self, *args, plain=None, adversarial=None, value_range=None, **kwargs):
            super().__init__(*args, **kwargs)
            # Plain attributes, not tracked by Keras: the plain model shares these layers
            # already, and tracking it would list every weight twice.
            object.__setattr__(self, "_plain_model", plain)
            object.__setattr__(self, "_adversarial", dict(adversarial))
            object.__setattr__(self, "_value_range", value_range)
            object.__setattr__(self, "_attack_seed", keras.random.SeedGenerator(0))

        @property
        def plain_model(self):
            """The model this one was made from (same layers and weights)."""
            return self._plain_model

        def save(self, filepath, *args, **kwargs):
            """Save the plain model: an ordinary Keras file that loads without this module."""
            return self._plain_model.save(filepath, *args, **kwargs)

        def train_step(self, data):
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
            x = _mixed_batch(self, x, y)
            return super().train_step((x, y) if sample_weight is None else (x, y, sample_weight))

    return AdversarialModel


def _mixed_batch(model, x, y):
    """The batch with its first ``ratio`` share replaced by adversarial examples."""
    from workbench.backend import keras_module
    from workbench.generate import gradients
    from workbench.generate.adversarial import random_start, step_and_project

    ops = keras_module().ops
    spec = model._adversarial
    epsilon = float(spec["epsilon"])
    steps = 1 if spec["method"] == "fgsm" else int(spec["steps"])
    length = epsilon if spec["method"] == "fgsm" else (
        float(spec["step_size"]) if spec["step_size"] is not None else 2.5 * epsilon / steps)
    low, high = model._value_range if model._value_range is not None else (-math.inf, math.inf)
    count = ops.cast(ops.round(spec["ratio"] * ops.cast(ops.shape(x)[0], "float32")), "int32")
    x = ops.cast(x, "float32")
    x0, y0 = x[:count], y[:count]
    update = step_and_project(spec["norm"])

    def objective(inputs):
        prediction = model(inputs, training=False)
        return model.compute_loss(x=inputs, y=y0, y_pred=prediction, training=False)

    def step(inputs, grad):
        return update(inputs, grad, x0, epsilon, length, low, high)

    start = x0
    if spec["method"] == "pgd" and spec["random_start"]:
        start = ops.clip(random_start(x0, epsilon, spec["norm"], model._attack_seed), low, high)
    adversarial = ops.stop_gradient(gradients.iterate(objective, step, start, steps))
    return ops.concatenate([adversarial, x[count:]], axis=0)


def _real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _positive(value, where: str) -> None:
    if not _real(value) or value <= 0:
        raise FormatError(where, f"must be a number > 0 (got {value!r})")
