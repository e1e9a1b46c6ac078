"""Momentum that can change between batches (one-cycle's momentum cycling).

Keras 3 optimizers keep ``momentum`` (SGD, RMSprop) and ``beta_1`` (Adam, AdamW) as Python
floats, which the compiled training step bakes in as constants: assigning a new float later
changes nothing. ``cycle_momentum`` swaps the attribute for a variable the step reads instead,
so a callback can assign a new value before every batch. Two details keep Keras happy:

* the optimizers test the attribute in Python (``if self.momentum != 0``), so the variable
  answers comparisons with plain numbers from its starting value (momentum on or off never
  changes while cycling);
* saved models must stay loadable anywhere: the optimizer's config reports the current value
  as a plain float.
"""

from __future__ import annotations

import operator
from functools import lru_cache

from workbench.backend import keras_module

# optimizer class name -> the attribute holding its momentum term
MOMENTUM_ATTRIBUTE = {"SGD": "momentum", "RMSprop": "momentum", "Adam": "beta_1", "AdamW": "beta_1"}


def momentum_attribute(optimizer) -> str | None:
    """The attribute that holds the optimizer's momentum, or None when it has none in use
    (SGD or RMSprop with momentum 0 would not use a cycled value)."""
    name = MOMENTUM_ATTRIBUTE.get(type(optimizer).__name__)
    if name is None:
        return None
    if name == "momentum" and not float(getattr(optimizer, name, 0.0) or 0.0) > 0:
        return None
    return name


def cycle_momentum(optimizer, model):
    """Make the optimizer's momentum assignable per batch; returns the variable, or None
    when the optimizer has no momentum in use. Call before training starts."""
    attribute = momentum_attribute(optimizer)
    if attribute is None:
        return None
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    start = float(getattr(optimizer, attribute))
    variable = _variable_class()(start, trainable=False, name=f"cycled_{attribute}")
    variable.python_start = start
    # Past the optimizer's attribute tracking: a tracked variable would join the optimizer's
    # saved state and make files unloadable by a plain optimizer.
    object.__setattr__(optimizer, attribute, variable)
    plain_config = optimizer.get_config

    def get_config():
        config = plain_config()
        config[attribute] = float(keras_module().ops.convert_to_numpy(variable))
        return config

    optimizer.get_config = get_config  # this optimizer only: saved files hold a plain float
    return variable


@lru_cache(maxsize=1)
def _variable_class() -> type:
    base = type(keras_module().Variable(0.0))

    def python_compare(op, fallback):
        def compare(self, other):
            if isinstance(other, (int, float)) and not isinstance(other, bool):
                return op(self.python_start, other)
            return fallback(self, other)
        return compare

    return type("CycledMomentum", (base,), {
        "__ne__": python_compare(operator.ne, base.__ne__),
        "__gt__": python_compare(operator.gt, base.__gt__),
        "__hash__": base.__hash__,
    })
