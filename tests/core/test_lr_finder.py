"""The LR range test: suggestions in the known good range, divergence stop, exact restore."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.errors import FormatError, WorkbenchError
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment
from workbench.tasks import RecordingProgress
from workbench.training.lr_finder import RangeTestConfig, find_lr, range_test, suggest


def regression(keras, optimizer=None):
    """Full-batch least squares: divergence starts at 2 / L, L the Hessian's top eigenvalue."""
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(256, 4)) * [1.0, 2.0, 0.5, 3.0]).astype("float32")
    y = (x @ np.array([[1.0], [-1.0], [2.0], [0.5]]) + 0.3).astype("float32")
    design = np.hstack([x, np.ones((256, 1))])
    top = np.linalg.eigvalsh(2 * design.T @ design / len(x)).max()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer or keras.optimizers.SGD(0.01), loss="mse")
    return model, [(x, y)], 2 / top


def test_suggestions_fall_in_the_good_range_and_divergence_stops_the_test(keras):
    model, batches, limit = regression(keras)
    config = RangeTestConfig(start=1e-5, end=10, iterations=100)
    result = range_test(model, batches, config)
    assert result.stopped and "diverged" in result.stopped
    assert result.batches < 100 and result.lrs[-1] < 10
    good = (limit / 100, limit)
    for method in ("steepest", "minimum", "valley"):
        suggestion = result.suggestion(method)
        assert suggestion is not None, method
        assert good[0] <= suggestion.lr <= good[1], (method, suggestion.lr, limit)
    edge = result.suggestion("edge").lr
    # Where the loss was seen rising: above 2 / L, since instability needs a few steps past it
    # to grow out of the small error left along the top eigenvector.
    assert limit <= edge <= 10 * limit
    assert all(s.label for s in result.suggestions)


def test_weights_and_optimizer_state_are_restored_bit_for_bit(keras):
    model, batches, _ = regression(keras, keras.optimizers.Adam(0.01))
    model.fit(batches[0][0], batches[0][1], epochs=3, verbose=0)  # some optimizer state
    before = [np.array(v.numpy()) for v in model.variables]
    optimizer_before = [np.array(v.numpy()) for v in model.optimizer.variables]
    range_test(model, batches, RangeTestConfig(iterations=30))
    for a, b in zip(before, [v.numpy() for v in model.variables]):
        assert np.array_equal(a, b)
    for a, b in zip(optimizer_before, [v.numpy() for v in model.optimizer.variables]):
        assert np.array_equal(a, b)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.01)


def test_the_same_seed_gives_the_same_curve_and_progress_sees_every_batch(keras):
    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    progress = RecordingProgress()
    first = find_lr(experiment, config=RangeTestConfig(iterations=40, seed=3), progress=progress)
    second = find_lr(experiment, config=RangeTestConfig(iterations=40, seed=3))
    assert np.array_equal(first.losses, second.losses)
    points = [p for p in progress.partials if p["kind"] == "lr_find"]
    assert len(points) == first.batches and points[0]["lr"] == pytest.approx(1e-7)
    assert first.suggestion("minimum") is not None


def test_cancel_stops_and_restores(keras):
    model, batches, _ = regression(keras)
    before = [np.array(v.numpy()) for v in model.variables]

    class CancelAfterFive(RecordingProgress):
        def cancelled(self):
            return len(self.partials) >= 5

    result = range_test(model, batches, RangeTestConfig(iterations=50), CancelAfterFive())
    assert result.stopped == "cancelled" and result.batches == 5
    for a, b in zip(before, [v.numpy() for v in model.variables]):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("settings, where", [
    ({"start": 0}, "lr_finder.start"),
    ({"start": 1, "end": 0.5}, "lr_finder.end"),
    ({"iterations": 2}, "lr_finder.iterations"),
    ({"mode": "cubic"}, "lr_finder.mode"),
    ({"beta": 1}, "lr_finder.beta"),
    ({"divergence": 1}, "lr_finder.divergence"),
])
def test_bad_settings_name_the_key(settings, where):
    with pytest.raises(FormatError) as caught:
        RangeTestConfig.from_dict(settings)
    assert caught.value.where == where


def test_an_uncompiled_model_is_refused(keras):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(WorkbenchError, match="not compiled"):
        range_test(model, [(np.zeros((4, 2)), np.zeros((4, 1)))])


def test_suggest_on_a_synthetic_curve():
    lrs = np.geomspace(1e-6, 1, 61)
    loss = 1 / (1 + np.exp(4 * (np.log10(lrs) + 3)))  # falls around 1e-3
    loss = np.where(lrs > 0.05, loss + (lrs - 0.05) * 40, loss)  # then rises
    found = {s.method: s.lr for s in suggest(lrs, loss)}
    assert 3e-4 < found["steepest"] < 3e-3
    assert found["edge"] > 0.03 and found["minimum"] < found["edge"]


def test_cli_lr_find_prints_suggestions_and_writes_the_plot(keras, tmp_path, capsys):
    import json

    from workbench.cli import main

    plot = tmp_path / "lr.png"
    code = main(["lr-find", str(DEFAULT_EXPERIMENT), "--iterations", "30", "--plot", str(plot), "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["lrs"]) == data["batches"] <= 30
    assert {s["method"] for s in data["suggestions"]} >= {"minimum", "edge"}
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["lr-find", str(DEFAULT_EXPERIMENT), "--plot", str(tmp_path / "lr.jpg")]) == 1
    assert "PNG" in capsys.readouterr().err
