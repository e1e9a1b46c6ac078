"""Learning-rate schedules as plain data, with their exact per-batch values.

A schedule is the experiment's ``training.schedule`` object, e.g.
``{"name": "sgdr", "t0": 10, "t_mult": 2}``. Every schedule is relative to the optimizer's
learning rate, its peak (so "Use this rate" from the LR finder moves the whole schedule), and
times are in epochs, fractions allowed (so a schedule means the same for any batch size).

``learning_rates`` gives the rate of every batch of a training run as one NumPy array: the
editor's preview draws it and training applies it batch by batch (``callbacks.py``), so what
the user sees is exactly what the optimizer gets. Keras-free: the GUI previews without
TensorFlow.

Closed forms (``it`` = the batch index from 0, ``spe`` = batches per epoch, ``base`` = the
optimizer's rate):

* step: ``base * factor ** floor(it / (every * spe))``
* exponential: ``base * factor ** (it / spe)``
* cosine: ``low + (base - low) * (1 + cos(pi * it / total)) / 2``, ``low = base * min_fraction``
* cyclical (Smith 2017): ``cycle = floor(1 + it / (2 * ss))``, ``x = |it / ss - 2 * cycle + 1|``,
  ``lr = low + (base - low) * max(0, 1 - x) * scale``, ``ss = step_size * spe``; scale is 1
  (triangular), ``1 / 2 ** (cycle - 1)`` (triangular2) or ``gamma ** it`` (exp_range)
* sgdr (Loshchilov & Hutter 2017): cosine from base to low over ``T_i = t0 * t_mult ** i``
  epochs, restarting at base; fractional epochs inside a cycle
* one_cycle (Smith 2018): cosine from ``base / div_factor`` up to base over ``pct_start`` of the
  run, then down to ``base / div_factor / final_div_factor``; momentum cycles the other way
  between ``max_momentum`` and ``min_momentum`` for optimizers that have one
* snapshot (Huang et al. 2017): ``cycles`` cosine cycles from base to 0, weights kept at each
  cycle's end for an ensemble
* any schedule may start with ``warmup`` epochs rising linearly to its first value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.errors import FormatError


@dataclass(frozen=True)
class Param:
    """One schedule parameter, for checks and for the editor."""

    key: str
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""
    whole: bool = False
    open_minimum: bool = False  # the minimum itself is not allowed


_WARMUP = Param("warmup", 0.0, 0.0, None, help="epochs of linear warm-up before the schedule")
_MIN_FRACTION = Param("min_fraction", 0.1, 0.0, 1.0,
                      help="the lowest rate, as a fraction of the optimizer's rate")

SCHEDULES: dict[str, tuple[str, tuple[Param, ...]]] = {
    "constant": ("Constant", ()),
    "step": ("Step decay", (
        Param("factor", 0.5, 0.0, 1.0, help="multiply the rate by this...", open_minimum=True),
        Param("every", 10.0, 0.0, None, help="...every this many epochs", open_minimum=True),
    )),
    "exponential": ("Exponential decay", (
        Param("factor", 0.95, 0.0, 1.0, help="the rate's factor per epoch", open_minimum=True),
    )),
    "cosine": ("Cosine annealing", (
        Param("min_fraction", 0.0, 0.0, 1.0, help="the final rate, as a fraction of the optimizer's"),
    )),
    "cyclical": ("Cyclical (CLR)", (
        Param("mode", "triangular", choices=("triangular", "triangular2", "exp_range"),
              help="triangular: same height; triangular2: halves each cycle; exp_range: decays by gamma"),
        Param("step_size", 2.0, 0.0, None, open_minimum=True,
              help="epochs from the lowest rate to the highest (half a cycle; 2-10 is usual)"),
        _MIN_FRACTION,
        Param("gamma", 0.99994, 0.0, 1.0, open_minimum=True, help="exp_range: the factor per batch"),
    )),
    "sgdr": ("SGDR (warm restarts)", (
        Param("t0", 10.0, 0.0, None, open_minimum=True, help="epochs of the first cycle"),
        Param("t_mult", 2.0, 1.0, None, help="each cycle is this many times longer than the last"),
        Param("min_fraction", 0.0, 0.0, 1.0, help="the lowest rate, as a fraction of the optimizer's"),
    )),
    "one_cycle": ("One-cycle", (
        Param("pct_start", 0.3, 0.0, 1.0, open_minimum=True, help="share of the run spent rising"),
        Param("div_factor", 25.0, 1.0, None, help="the start rate is the peak divided by this"),
        Param("final_div_factor", 1e4, 1.0, None, help="the final rate is the start rate divided by this"),
        Param("max_momentum", 0.95, 0.0, 1.0, help="momentum (or Adam's beta_1) at the start and end"),
        Param("min_momentum", 0.85, 0.0, 1.0, help="momentum at the peak rate"),
    )),
    "snapshot": ("Snapshot ensemble", (
        Param("cycles", 5, 1, None, whole=True, help="cosine cycles; one snapshot at each cycle's end"),
    )),
}


def schedule_names() -> list[str]:
    return list(SCHEDULES)


def params_of(name: str) -> tuple[Param, ...]:
    return SCHEDULES[name][1] + (_WARMUP,)


def check_schedule(spec: Any, where: str = "training.schedule") -> None:
    """Raise ``FormatError`` at ``where.<key>`` naming the first bad value."""
    if spec is None:
        return
    if not isinstance(spec, dict):
        raise FormatError(where, 'expected an object such as {"name": "cosine"}, or leave it out')
    name = spec.get("name", "constant")
    if name not in SCHEDULES:
        raise FormatError(f"{where}.name", f"must be one of {', '.join(SCHEDULES)} (got {name!r})")
    params = {p.key: p for p in params_of(name)}
    unknown = sorted(set(spec) - set(params) - {"name"})
    if unknown:
        allowed = ", ".join(params) or "no parameters"
        raise FormatError(f"{where}.{unknown[0]}", f"the {name} schedule takes {allowed}")
    for key, value in spec.items():
        if key != "name":
            _check_value(params[key], value, f"{where}.{key}")
    if name == "one_cycle" and _value(spec, "min_momentum") > _value(spec, "max_momentum"):
        raise FormatError(f"{where}.min_momentum", "must not be above max_momentum")


def _check_value(param: Param, value: Any, where: str) -> None:
    if param.choices:
        if value not in param.choices:
            raise FormatError(where, f"must be one of {', '.join(param.choices)} (got {value!r})")
        return
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or (param.whole and not isinstance(value, int)):
        raise FormatError(where, f"expected {'a whole number' if param.whole else 'a number'} "
                                 f"(got {value!r})")
    low, high = param.minimum, param.maximum
    below = low is not None and (value <= low if param.open_minimum else value < low)
    if below or (high is not None and value > high):
        bounds = (f"{'above' if param.open_minimum else 'at least'} {low:g}" if high is None
                  else f"between {low:g} and {high:g}")
        raise FormatError(where, f"must be {bounds} (got {value!r})")


def _value(spec: dict, key: str) -> Any:
    for param in params_of(spec.get("name", "constant")):
        if param.key == key:
            return spec.get(key, param.default)
    raise KeyError(key)


def with_defaults(spec: dict | None) -> dict:
    """The spec with every parameter filled in (for the editor)."""
    spec = dict(spec or {"name": "constant"})
    name = spec.setdefault("name", "constant")
    for param in params_of(name):
        spec.setdefault(param.key, param.default)
    return spec


# ---------------------------------------------------------------------- values
def learning_rates(spec: dict | None, base: float, steps_per_epoch: int, epochs: int) -> np.ndarray:
    """The rate of every batch of a run: float64 array of ``steps_per_epoch * epochs``."""
    if steps_per_epoch < 1 or epochs < 1:
        raise ValueError("a schedule needs at least one batch per epoch and one epoch")
    spec = with_defaults(spec)
    total = steps_per_epoch * epochs
    warm = min(total - 1, round(float(spec["warmup"]) * steps_per_epoch))
    rates = np.empty(total, dtype=np.float64)
    rates[warm:] = _RATES[spec["name"]](spec, float(base), steps_per_epoch,
                                         np.arange(total - warm, dtype=np.float64))
    if warm:
        # Up to the schedule's first value, which the batch after the warm-up gets.
        rates[:warm] = rates[warm] * np.arange(1, warm + 1) / (warm + 1)
    return rates


def momenta(spec: dict | None, steps_per_epoch: int, epochs: int) -> np.ndarray | None:
    """The momentum of every batch for schedules that cycle it (one-cycle), else None."""
    spec = with_defaults(spec)
    if spec["name"] != "one_cycle":
        return None
    total = steps_per_epoch * epochs
    warm = min(total - 1, round(float(spec["warmup"]) * steps_per_epoch))
    high, low = float(spec["max_momentum"]), float(spec["min_momentum"])
    up, down = _one_cycle_phases(spec, total - warm)
    values = np.full(total, high)
    # Momentum falls while the rate rises and rises while it falls.
    values[warm:] = high - (high - low) * np.concatenate([_cosine_ramp(up), _cosine_ramp(down)[::-1]])
    return values


def cycle_ends(spec: dict | None, steps_per_epoch: int, epochs: int) -> list[int]:
    """Batch indices after which a cycle ends (the rate is at its low): where snapshot
    ensembles keep weights. The run's last batch always ends one."""
    spec = with_defaults(spec)
    total = steps_per_epoch * epochs
    warm = min(total - 1, round(float(spec["warmup"]) * steps_per_epoch))
    length = total - warm
    name = spec["name"]
    if name == "snapshot":
        per = math.ceil(length / int(spec["cycles"]))
        ends = list(range(per - 1, length, per))
    elif name == "sgdr":
        ends = [start + size - 1 for start, size in _sgdr_cycles(spec, steps_per_epoch, length)]
    elif name == "cyclical":
        size = 2 * max(1, round(float(spec["step_size"]) * steps_per_epoch))
        ends = list(range(size - 1, length, size))
    else:
        ends = []
    ends = [warm + end for end in ends if end < length]
    if not ends or ends[-1] != total - 1:
        ends.append(total - 1)
    return ends


def _constant(spec, base, spe, it):
    return np.full_like(it, base)


def _step(spec, base, spe, it):
    return base * float(spec["factor"]) ** np.floor(it / (float(spec["every"]) * spe))


def _exponential(spec, base, spe, it):
    return base * float(spec["factor"]) ** (it / spe)


def _cosine(spec, base, spe, it):
    low = base * float(spec["min_fraction"])
    return low + (base - low) * (1 + np.cos(np.pi * it / len(it))) / 2


def _cyclical(spec, base, spe, it):
    low = base * float(spec["min_fraction"])
    step_size = max(1.0, round(float(spec["step_size"]) * spe))
    cycle = np.floor(1 + it / (2 * step_size))
    x = np.abs(it / step_size - 2 * cycle + 1)
    scale = {"triangular": np.ones_like(it), "triangular2": 1 / 2 ** (cycle - 1),
             "exp_range": float(spec["gamma"]) ** it}[spec["mode"]]
    return low + (base - low) * np.maximum(0, 1 - x) * scale


def _sgdr_cycles(spec, spe, length):
    """(first batch, batches) of each SGDR cycle: whole batches, so restarts are exact."""
    cycles, start, period = [], 0, float(spec["t0"]) * spe
    while start < length:
        size = max(1, round(period))
        cycles.append((start, min(size, length - start)))
        start += size
        period *= float(spec["t_mult"])
    return cycles


def _sgdr(spec, base, spe, it):
    low = base * float(spec["min_fraction"])
    rates = np.empty_like(it)
    period = float(spec["t0"]) * spe
    for start, size in _sgdr_cycles(spec, spe, len(it)):
        # Position in the cycle in (fractional) epochs over the cycle's length: the full
        # period, also for a last cycle the run cuts short.
        full = max(1, round(period))
        t = np.arange(size, dtype=np.float64) / full
        rates[start:start + size] = low + (base - low) * (1 + np.cos(np.pi * t)) / 2
        period *= float(spec["t_mult"])
    return rates


def _one_cycle_phases(spec, length):
    up = max(1, min(length - 1, round(float(spec["pct_start"]) * length))) if length > 1 else 1
    return up, length - up


def _cosine_ramp(count: int) -> np.ndarray:
    """``count`` values rising from 0 to 1 along half a cosine (0 first, 1 last)."""
    if count <= 0:
        return np.empty(0)
    if count == 1:
        return np.zeros(1)
    return (1 - np.cos(np.pi * np.arange(count) / (count - 1))) / 2


def _one_cycle(spec, base, spe, it):
    start = base / float(spec["div_factor"])
    final = start / float(spec["final_div_factor"])
    up, down = _one_cycle_phases(spec, len(it))
    rising = start + (base - start) * _cosine_ramp(up)
    falling = final + (base - final) * _cosine_ramp(down)[::-1]
    return np.concatenate([rising, falling])[:len(it)]


def _snapshot(spec, base, spe, it):
    per = math.ceil(len(it) / int(spec["cycles"]))
    return base / 2 * (np.cos(np.pi * np.mod(it, per) / per) + 1)


_RATES = {"constant": _constant, "step": _step, "exponential": _exponential, "cosine": _cosine,
          "cyclical": _cyclical, "sgdr": _sgdr, "one_cycle": _one_cycle, "snapshot": _snapshot}
