"""The backend-specific part of style transfer and the attacks: tapes and compiled loops.

Every ``tf.GradientTape`` and ``tf.function`` of ``workbench.generate`` lives here (design rule
8), beside its sibling ``workbench/inspect/gradients.py``, whose ``compiled``, ``input_gradient``
and ``to_numpy`` are reused. The algorithms write their objectives, updates and projections with
``keras.ops`` and hand them to these helpers:

* ``gradient_now``: a value and its input gradient, for code that is already compiled (a
  Keras ``train_step``);
* ``iterate``: ``steps`` rounds of "gradient, then update" as one ``tf.while_loop``, so a whole
  PGD attack is a single compiled call whatever the step count;
* ``descent_step``: one optimizer step on a variable (the style-transfer image), compiled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workbench.inspect.gradients import compiled, input_gradient, to_numpy

__all__ = ["compiled", "descent_step", "gradient_now", "input_gradient", "iterate", "iterate_compiled",
           "to_numpy"]


def _tf():
    from workbench.backend import keras_module

    keras = keras_module()
    if keras.backend.backend() != "tensorflow":
        from workbench.errors import WorkbenchError

        raise WorkbenchError(f"style transfer and the attacks run on the TensorFlow backend only "
                             f"(Keras uses {keras.backend.backend()!r}); set KERAS_BACKEND=tensorflow")
    import tensorflow as tf

    return tf


def gradient_now(objective: Callable, x: Any, *args) -> tuple[Any, Any]:
    """``(values, d sum(values) / dx)`` for ``objective(x, *args) -> values`` (eager, or inside
    a compiled function: this helper compiles nothing itself)."""
    tf = _tf()
    with tf.GradientTape() as tape:
        tape.watch(x)
        values = objective(x, *args)
        total = tf.reduce_sum(values)
    return values, tape.gradient(total, x)


def iterate(objective: Callable, update: Callable, x: Any, steps: Any, *args) -> Any:
    """``x`` after ``steps`` rounds of ``x = update(x, d objective(x, *args) / dx, *args)``.

    Written as a ``tf.while_loop``: inside a compiled function the loop is one graph node, so
    the step count is a tensor and changing it does not trace again.

    Args:
        objective: ``objective(x, *args) -> values`` (per sample; their sum is differentiated).
        update: ``update(x, gradient, *args) -> new x`` (same shape and dtype).
        x: the starting point.
        steps: how many rounds (an int or a scalar int32 tensor).
    """
    tf = _tf()

    def body(i, current):
        _, grad = gradient_now(objective, current, *args)
        return i + 1, tf.stop_gradient(update(current, grad, *args))

    _, result = tf.while_loop(lambda i, _: i < steps, body,
                              (tf.constant(0, tf.int32), tf.convert_to_tensor(x)))
    return result


def iterate_compiled(objective: Callable, update: Callable) -> Callable:
    """``iterate`` compiled once: ``f(x, steps, *args) -> x``."""

    def run(x, steps, *args):
        return iterate(objective, update, x, steps, *args)

    return compiled(run)


def descent_step(loss: Callable, optimizer, variable, constrain: Callable | None = None) -> Callable:
    """A compiled step ``f(*args) -> (total, parts)`` that moves ``variable`` down ``loss``.

    Args:
        loss: ``loss(value, *args) -> (total, parts)``: a scalar to minimise and anything else
            worth returning (the loss terms), both computed before the step.
        optimizer: a Keras optimizer (built here for ``variable``, so its slots exist before
            tracing: variables cannot be created inside a compiled step).
        variable: a Keras variable holding what is optimised.
        constrain: ``constrain(value) -> value`` applied after each step (clipping).
    """
    tf = _tf()
    optimizer.build([variable])

    def step(*args):
        with tf.GradientTape() as tape:
            total, parts = loss(variable.value, *args)
        grad = tape.gradient(total, variable)
        optimizer.apply_gradients([(grad, variable)])
        if constrain is not None:
            variable.assign(constrain(variable.value))
        return total, parts

    return compiled(step)
