"""The backend-specific part of the inspection tools: gradients and compiled functions.

Every ``tf.GradientTape`` and ``tf.function`` of ``workbench.inspect`` lives here, so that a
JAX or PyTorch backend needs a sibling of this module and no change to the algorithms, which
write their objectives with ``keras.ops``.

The compiled functions are traced once per input signature and reused; callers cache them per
model and layer (``layers.model_cache``). ``reduce_retracing`` keeps a smaller last batch from
tracing again and again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _tf():
    from workbench.backend import keras_module

    keras = keras_module()
    if keras.backend.backend() != "tensorflow":
        from workbench.errors import WorkbenchError

        raise WorkbenchError(f"the inspection tools run on the TensorFlow backend only "
                             f"(Keras uses {keras.backend.backend()!r}); set KERAS_BACKEND=tensorflow")
    import tensorflow as tf

    return tf


def compiled(fn: Callable) -> Callable:
    """``fn`` compiled into a graph (traced on first call, reused afterwards)."""
    return _tf().function(fn, reduce_retracing=True)


def input_gradient(objective: Callable) -> Callable:
    """A compiled ``f(x, *args) -> (values, aux, dvalues/dx)``.

    Args:
        objective: ``objective(x, *args) -> (values, aux)``: per-sample values (shape (N,)),
            whose sum is differentiated, and anything else worth returning (or None).
    """
    tf = _tf()

    def run(x, *args):
        with tf.GradientTape() as tape:
            tape.watch(x)
            values, aux = objective(x, *args)
            total = tf.reduce_sum(values)
        return values, aux, tape.gradient(total, x)

    return compiled(run)


def tap_gradient(objective: Callable) -> Callable:
    """A compiled ``f(x, *args) -> (values, aux, taps, dvalues/dtaps)``: gradients with respect
    to an intermediate tensor (a layer's feature maps) instead of the input.

    Args:
        objective: ``objective(x, *args) -> (values, taps, aux)`` with per-sample values (N,),
            the intermediate tensor they are differentiated with respect to, and anything else
            worth returning (or None).
    """
    tf = _tf()

    def run(x, *args):
        with tf.GradientTape() as tape:
            values, taps, aux = objective(x, *args)
            total = tf.reduce_sum(values)
        return values, aux, taps, tape.gradient(total, taps)

    return compiled(run)


def positive_gradient_gate(x: Any) -> Any:
    """Identity forward; backward passes only positive gradients.

    Put after every ReLU, it turns backpropagation into guided backpropagation: the ReLU's
    own backward pass already gates on a positive input, this gates on a positive gradient.
    """
    tf = _tf()

    @tf.custom_gradient
    def gate(value):
        def grad(upstream):
            return tf.nn.relu(upstream)

        return tf.identity(value), grad

    return gate(x)


def to_numpy(value: Any):
    """A tensor (or a nest of them) as NumPy arrays."""
    tf = _tf()
    return tf.nest.map_structure(lambda v: v.numpy() if hasattr(v, "numpy") else v, value)
