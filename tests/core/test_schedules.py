"""Learning-rate schedules: values at known iterations match the closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.errors import FormatError
from workbench.training import TrainingConfig
from workbench.training.schedules import (
    check_schedule,
    cycle_ends,
    learning_rates,
    momenta,
    schedule_names,
    with_defaults,
)

BASE = 0.1


def rates(spec, spe=10, epochs=20):
    return learning_rates(spec, BASE, spe, epochs)


def test_step_and_exponential_decay():
    values = rates({"name": "step", "factor": 0.5, "every": 5})
    assert values[0] == BASE and values[49] == BASE and values[50] == BASE / 2
    assert values[199] == pytest.approx(BASE / 8)
    values = rates({"name": "exponential", "factor": 0.9})
    assert values[10] == pytest.approx(BASE * 0.9) and values[25] == pytest.approx(BASE * 0.9 ** 2.5)


def test_cosine_runs_from_the_peak_to_the_floor():
    values = rates({"name": "cosine", "min_fraction": 0.1})
    assert values[0] == BASE
    assert values[100] == pytest.approx(0.01 + 0.09 * 0.5)  # halfway
    assert values[-1] == pytest.approx(0.01, rel=1e-3)
    assert np.all(np.diff(values) <= 0)


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_cyclical_matches_smiths_formula(mode):
    spec = {"name": "cyclical", "mode": mode, "step_size": 2, "min_fraction": 0.1, "gamma": 0.999}
    values = rates(spec)
    low, high, step_size = BASE * 0.1, BASE, 20  # 2 epochs of 10 batches
    for it in range(len(values)):
        cycle = math.floor(1 + it / (2 * step_size))
        x = abs(it / step_size - 2 * cycle + 1)
        scale = {"triangular": 1, "triangular2": 1 / 2 ** (cycle - 1), "exp_range": 0.999 ** it}[mode]
        assert values[it] == pytest.approx(low + (high - low) * max(0, 1 - x) * scale)
    assert values[0] == pytest.approx(low)  # cycle start
    assert values[20] == pytest.approx(low + (high - low) * {"triangular": 1, "triangular2": 1,
                                                            "exp_range": 0.999 ** 20}[mode])  # peak
    assert values[40] == pytest.approx(low)  # end of the first cycle
    if mode == "triangular2":
        assert values[60] == pytest.approx(low + (high - low) / 2)  # the second peak is half


def test_sgdr_restarts_with_t_mult_and_fractional_epochs():
    spec = {"name": "sgdr", "t0": 2, "t_mult": 2, "min_fraction": 0.0}
    values = rates(spec, spe=10, epochs=14)  # cycles of 2, 4, 8 epochs: restarts at 20, 60
    assert values[0] == BASE and values[20] == BASE and values[60] == BASE
    assert values[19] < 0.01 and values[59] < 0.01
    # Inside the second cycle (40 batches), 1.5 epochs in: cos(pi * 15/40).
    assert values[35] == pytest.approx(BASE * (1 + math.cos(math.pi * 15 / 40)) / 2)
    assert cycle_ends(spec, 10, 14) == [19, 59, 139]


def test_one_cycle_rises_then_anneals_and_cycles_momentum():
    spec = {"name": "one_cycle", "pct_start": 0.25, "div_factor": 25, "final_div_factor": 1e4}
    values = rates(spec, spe=10, epochs=8)  # 80 batches, 20 rising
    assert values[0] == pytest.approx(BASE / 25)
    assert values.argmax() in (19, 20) and values.max() == pytest.approx(BASE)
    assert values[-1] == pytest.approx(BASE / 25 / 1e4)
    moment = momenta(spec, 10, 8)
    assert moment[0] == pytest.approx(0.95) and moment[19] == pytest.approx(0.85)
    assert moment[-1] == pytest.approx(0.95)
    assert momenta({"name": "cosine"}, 10, 8) is None


def test_snapshot_cycles_and_warmup():
    spec = {"name": "snapshot", "cycles": 4}
    values = rates(spec, spe=10, epochs=8)  # 80 batches: cycles of 20
    assert values[0] == BASE and values[20] == BASE and values[10] == pytest.approx(BASE / 2)
    assert cycle_ends(spec, 10, 8) == [19, 39, 59, 79]
    warm = rates({"name": "cosine", "warmup": 1}, spe=10, epochs=8)
    assert warm[0] == pytest.approx(BASE / 11) and warm[9] == pytest.approx(BASE * 10 / 11)
    assert warm[10] == BASE  # the schedule starts after the warm-up


@pytest.mark.parametrize("spec, where", [
    ({"name": "nope"}, "training.schedule.name"),
    ({"name": "step", "factor": 2}, "training.schedule.factor"),
    ({"name": "cyclical", "mode": "sine"}, "training.schedule.mode"),
    ({"name": "sgdr", "t0": 0}, "training.schedule.t0"),
    ({"name": "cosine", "every": 3}, "training.schedule.every"),
    ({"name": "snapshot", "cycles": 2.5}, "training.schedule.cycles"),
    ({"name": "one_cycle", "min_momentum": 0.99}, "training.schedule.min_momentum"),
    ("cosine", "training.schedule"),
])
def test_bad_schedules_name_the_key(spec, where):
    with pytest.raises(FormatError) as caught:
        check_schedule(spec)
    assert caught.value.where == where


def test_every_schedule_has_defaults_that_check_and_a_schedule_excludes_reduce_lr():
    for name in schedule_names():
        spec = with_defaults({"name": name})
        check_schedule(spec)
        assert np.all(np.isfinite(rates(spec))) and np.all(rates(spec) > 0)
    with pytest.raises(FormatError) as caught:
        TrainingConfig.from_dict({"schedule": {"name": "cosine"}, "reduce_lr": {"factor": 0.5}})
    assert caught.value.where == "training.reduce_lr"
