"""Adversarial examples, robustness sweeps and adversarial training on scikit-learn's digits.

The default experiment (the digits CNN, 8x8 grey inputs scaled to [0, 1]) is trained once for
the module into a run folder; the attacks, the sweep and the CLI use it. FGSM is checked against
its closed form computed here with a plain ``GradientTape``; adversarial training is checked by
training the same seeded model with and without it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from workbench.errors import FormatError, WorkbenchError
from workbench.generate.adversarial import (
    AttackSettings,
    amplify,
    attack,
    robustness_sweep,
)
from workbench.generate.adversarial_training import adversarial_model, check_adversarial, data_value_range
from workbench.tasks import RecordingProgress


@pytest.fixture(scope="module")
def digits(keras, tmp_path_factory):
    """(model, dataset, run) of the default digits CNN, trained briefly by a TrainingSession."""
    from workbench.data import load_dataset
    from workbench.experiment import DEFAULT_EXPERIMENT, Experiment
    from workbench.runs import RunStore
    from workbench.training import TrainingSession

    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    dataset = load_dataset(experiment.data)
    store = RunStore(tmp_path_factory.mktemp("runs"))
    result = TrainingSession(experiment, dataset=dataset, store=store, epochs=10).run()
    assert result.status == "finished", result.reason
    return result.model, dataset, result.run


@pytest.fixture(scope="module")
def logits_model(keras):
    """A small seeded CNN whose softmax is a layer of its own, so its logits are a layer's output."""
    keras.utils.set_random_seed(11)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Flatten()(x)
    logits = keras.layers.Dense(5, name="logits")(x)
    outputs = keras.layers.Activation("softmax")(logits)
    return keras.Model(inputs, outputs), keras.Model(inputs, logits)


def closed_form_fgsm(keras, logits_of, x, classes, epsilon, targeted=False):
    """x + epsilon * sign(d loss / dx), clipped to [0, 1] (minus, towards a target)."""
    import tensorflow as tf

    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(keras.ops.sparse_categorical_crossentropy(classes, logits_of(x),
                                                                       from_logits=True))
    sign = np.sign(tape.gradient(loss, x).numpy())
    moved = x.numpy() - epsilon * sign if targeted else x.numpy() + epsilon * sign
    return np.clip(moved, 0.0, 1.0)


def test_fgsm_is_exactly_the_closed_form(keras, logits_model):
    model, logits_of = logits_model
    x = np.random.default_rng(0).uniform(0, 1, (16, 8, 8, 1)).astype(np.float32)
    labels = np.arange(16) % 5
    result = attack(model, x, labels, AttackSettings(method="fgsm", epsilon=0.3))
    expected = closed_form_fgsm(keras, logits_of, x, labels, np.float32(0.3))
    np.testing.assert_array_equal(result.adversarial, expected)
    assert (result.adversarial == 0).any() and (result.adversarial == 1).any()  # clipping happened

    targeted = attack(model, x, labels, AttackSettings(method="fgsm", epsilon=0.1, target=2))
    expected = closed_form_fgsm(keras, logits_of, x, np.full(16, 2), np.float32(0.1), targeted=True)
    np.testing.assert_array_equal(targeted.adversarial, expected)


@pytest.mark.parametrize("norm, epsilon", [("linf", 0.15), ("l2", 1.0)])
@pytest.mark.parametrize("method", ["bim", "pgd"])
def test_pgd_stays_in_the_ball_and_the_range(digits, norm, epsilon, method):
    model, dataset, _ = digits
    x, y = dataset.x_val[:64], dataset.y_val[:64]
    settings = AttackSettings(method=method, epsilon=epsilon, norm=norm, steps=8, step_size=epsilon / 3)
    result = attack(model, x, y, settings)
    norms = result.norms()
    assert norms[norm].max() <= epsilon * (1 + 1e-5) + 1e-6
    assert result.adversarial.min() >= 0 and result.adversarial.max() <= 1
    assert norms[norm].mean() > 0.5 * epsilon  # it did move
    assert np.mean(result.after == y) < np.mean(result.before == y)


def test_pgd_starts_at_random_and_respects_another_range(digits):
    model, dataset, _ = digits
    x = dataset.x_val[:16] * 16  # the same digits in 0-16, for a model that saw [0, 1]...
    settings = AttackSettings(method="pgd", epsilon=2.0, steps=1, step_size=1e-6,
                              value_range=(0.0, 16.0), seed=1)
    result = attack(model, x, dataset.y_val[:16], settings)
    assert result.adversarial.min() >= 0 and result.adversarial.max() <= 16
    # one tiny step: the change is the random start, spread over the ball
    assert np.abs(result.perturbation).max() > 1.0
    assert np.abs(result.perturbation).max() <= 2.0 + 1e-5
    again = attack(model, x, dataset.y_val[:16], settings)
    np.testing.assert_array_equal(result.adversarial, again.adversarial)  # seeded
    with pytest.raises(WorkbenchError, match="outside the valid range"):
        attack(model, x, None, AttackSettings())  # 0-16 inputs, [0, 1] range


def test_accuracy_falls_as_epsilon_grows(digits):
    model, dataset, _ = digits
    x, y = dataset.x_val[:200], dataset.y_val[:200]
    progress = RecordingProgress()
    result = robustness_sweep(model, x, y, [0.0, 0.05, 0.1, 0.2, 0.3], settings=AttackSettings(steps=5),
                              progress=progress)
    assert result.clean_accuracy > 0.85
    for method in ("fgsm", "pgd"):
        values = result.accuracy[method]
        assert values[0] == result.clean_accuracy
        assert all(later <= earlier + 0.02 for earlier, later in zip(values, values[1:]))
        assert values[-1] < 0.2
    # PGD is at least as strong as FGSM at every epsilon (up to noise)
    assert all(p <= f + 0.03 for p, f in zip(result.accuracy["pgd"], result.accuracy["fgsm"]))
    assert [row["epsilon"] for row in result.rows()] == [0.0, 0.05, 0.1, 0.2, 0.3]
    assert len([p for p in progress.partials if p["kind"] == "sweep_point"]) == 10


def test_a_targeted_attack_reaches_its_target(digits):
    model, dataset, _ = digits
    x, y = dataset.x_val[:100], dataset.y_val[:100]
    keep = y != 3
    result = attack(model, x[keep], y[keep], AttackSettings(method="pgd", epsilon=0.3, steps=20, target=3))
    assert result.success.mean() >= 0.9
    assert np.mean(result.after == 3) == result.success.mean()
    assert result.confidence_after[result.success].mean() > 0.5


def test_inputs_already_of_the_target_class_are_not_counted_as_fooled(digits):
    model, dataset, _ = digits
    x, y = dataset.x_val[:60], dataset.y_val[:60]
    result = attack(model, x, y, AttackSettings(method="fgsm", epsilon=0.05, target=3))
    already = y == 3
    assert already.any() and not result.success[already].any()
    assert f"{already.sum()} of 60 inputs are already of class 3" in " ".join(result.notes)
    single = attack(model, x[already][:1], y[already][:1], AttackSettings(target=3))
    assert not single.success[0] and "the input is already of class 3" in single.notes[0]


def test_results_report_predictions_and_the_amplified_change(digits):
    model, dataset, _ = digits
    x, y = dataset.x_val[:8], dataset.y_val[:8]
    result = attack(model, x, y, AttackSettings(method="fgsm", epsilon=0.2))
    probabilities = model.predict(x, verbose=0)
    np.testing.assert_array_equal(result.before, probabilities.argmax(axis=1))
    np.testing.assert_allclose(result.confidence_before, probabilities.max(axis=1), rtol=1e-4)
    np.testing.assert_allclose(result.probabilities_after.sum(axis=1), 1.0, rtol=1e-5)
    shown = result.amplified()
    assert shown.shape == x.shape and shown.min() >= 0 and shown.max() <= 1
    np.testing.assert_allclose(np.abs(shown - 0.5).reshape(8, -1).max(axis=1), 0.5)
    assert np.all(amplify(np.zeros((2, 3))) == 0.5)
    unlabelled = attack(model, x, None, AttackSettings(method="fgsm", epsilon=0.2))
    np.testing.assert_array_equal(unlabelled.labels, result.before)


def test_cancel_returns_the_finished_inputs(digits):
    model, dataset, _ = digits

    class CancelAfterFirst(RecordingProgress):
        def cancelled(self) -> bool:
            return len(self.steps) >= 2

    result = attack(model, dataset.x_val[:40], dataset.y_val[:40],
                    AttackSettings(method="bim", epsilon=0.1, steps=20), CancelAfterFirst(), batch_size=16)
    assert result.stopped
    assert len(result.adversarial) == 16 and len(result.after) == 16


def test_attack_settings_are_plain_data():
    settings = AttackSettings(method="PGD", epsilon=0.1, norm="l-inf", target=2, value_range=(0, 16))
    config = settings.get_config()
    assert config["method"] == "pgd" and config["norm"] == "linf"
    assert json.loads(json.dumps(config)) == config
    assert AttackSettings.from_config(config) == settings
    assert settings.step_length == pytest.approx(0.025)
    assert AttackSettings(method="fgsm", epsilon=0.2).step_count == 1
    for bad in ({"method": "cw"}, {"epsilon": -1}, {"norm": "l1"}, {"steps": 0}, {"target": -1},
                {"value_range": (1, 0)}):
        with pytest.raises(FormatError, match=next(iter(bad))):
            AttackSettings(**bad)


# ----------------------------------------------------------------- adversarial training
def test_check_adversarial_fills_defaults_and_names_bad_values():
    settings = check_adversarial({"epsilon": 0.1})
    assert settings == {"method": "fgsm", "epsilon": 0.1, "ratio": 0.5, "steps": 7, "step_size": None,
                        "norm": "linf", "random_start": True}
    assert check_adversarial({"method": "PGD", "epsilon": 1, "norm": "L2"})["method"] == "pgd"
    cases = [("fast", "training.adversarial", "expected an object"),
             ({"method": "fgsm"}, "training.adversarial.epsilon", "missing"),
             ({"epsilon": 0}, "training.adversarial.epsilon", "> 0"),
             ({"epsilon": 0.1, "ratio": 1.5}, "training.adversarial.ratio", "(0, 1]"),
             ({"epsilon": 0.1, "method": "cw"}, "training.adversarial.method", "fgsm, bim, pgd"),
             ({"epsilon": 0.1, "steps": 0}, "training.adversarial.steps", ">= 1"),
             ({"epsilon": 0.1, "norm": "l1"}, "training.adversarial.norm", "linf, l2"),
             ({"epsilon": 0.1, "random_start": "yes"}, "training.adversarial.random_start", "true or false"),
             ({"epsilon": 0.1, "eps": 0.1}, "training.adversarial.eps", "unknown option")]
    for spec, where, words in cases:
        with pytest.raises(FormatError) as caught:
            check_adversarial(spec)
        assert caught.value.where == where and words in caught.value.detail


def _train(keras, experiment, dataset, adversarial=None):
    from workbench.graph.convert import build_model

    keras.utils.set_random_seed(0)
    model = build_model(experiment.graph).model
    trained = adversarial_model(model, adversarial, data_value_range(dataset)) if adversarial else model
    trained.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                    metrics=["accuracy"])
    trained.fit(dataset.x_train, dataset.y_train, batch_size=32, epochs=8, verbose=0)
    return model, trained


def test_adversarial_training_raises_accuracy_under_fgsm(keras, digits, tmp_path):
    from workbench.experiment import DEFAULT_EXPERIMENT, Experiment
    from workbench.modelio import load_model_file

    _, dataset, _ = digits
    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    plain, _ = _train(keras, experiment, dataset)
    robust, wrapper = _train(keras, experiment, dataset, {"method": "fgsm", "epsilon": 0.2, "ratio": 0.5})
    settings = AttackSettings(method="fgsm", epsilon=0.1)
    x, y = dataset.x_val, dataset.y_val
    plain_accuracy = np.mean(attack(plain, x, y, settings).after == y)
    robust_accuracy = np.mean(attack(robust, x, y, settings).after == y)
    assert robust_accuracy > plain_accuracy + 0.1
    assert np.mean(robust.predict(x, verbose=0).argmax(axis=1) == y) > 0.8  # still a classifier

    # the wrapper shares the weights and saves an ordinary model
    assert wrapper.plain_model is robust and len(wrapper.weights) == len(robust.weights)
    wrapper.save(tmp_path / "robust.keras")
    loaded = load_model_file(tmp_path / "robust.keras")
    assert type(loaded).__name__ == "Functional"
    np.testing.assert_allclose(loaded.predict(x[:8], verbose=0), robust.predict(x[:8], verbose=0), atol=1e-6)


def test_pgd_adversarial_training_runs_and_refuses_two_outputs(keras, digits):
    model, dataset, _ = digits
    spec = {"method": "pgd", "epsilon": 0.1, "steps": 2, "ratio": 1.0}
    wrapper = adversarial_model(model, spec, (0.0, 1.0))
    wrapper.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    history = wrapper.fit(dataset.x_train[:64], dataset.y_train[:64], batch_size=32, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # shared weights
    model.set_weights(before)

    inputs = keras.Input((4,))
    two = keras.Model(inputs, [keras.layers.Dense(2)(inputs), keras.layers.Dense(3)(inputs)])
    with pytest.raises(WorkbenchError, match="one input and one output"):
        adversarial_model(two, {"epsilon": 0.1})


# ---------------------------------------------------------------------------- CLI
def run_cli(argv: list[str]) -> int:
    """The ``workbench`` command, in this process: 0/1 exit codes, 2 for usage (SystemExit)."""
    from workbench.cli import main

    return main(argv)


def test_attack_command_writes_the_picture_and_the_batch(digits, tmp_path, capsys):
    from PIL import Image

    _, dataset, run = digits
    out = tmp_path / "attack.png"
    assert run_cli(["attack", str(run.path), "--method", "fgsm", "--eps", "0.3", "--sample", "2",
                    "--json", "-o", str(out)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["label"] == int(dataset.y_val[2])
    assert data["linf"] == pytest.approx(0.3, abs=1e-6)
    assert data["before"]["class"] == data["label"] and 0 < data["before"]["confidence"] <= 1
    assert data["value_range"] == [0.0, 1.0]
    picture = np.asarray(Image.open(out).convert("L"))
    height, width = picture.shape
    assert width > 2.5 * height  # three panels side by side...
    assert picture[160:, :160].min() < 100  # ...each with its caption under it (dark text)

    out = tmp_path / "attack.npy"
    assert run_cli(["attack", str(run.path), "--eps", "0.3", "--sample", "2", "--target", "4",
                    "--steps", "20", "-o", str(out)]) == 0
    batch = np.load(out)
    assert batch.shape == (1, 8, 8, 1) and batch.min() >= 0 and batch.max() <= 1
    assert "target 4" in capsys.readouterr().out


def test_attack_command_sweeps(digits, tmp_path, capsys):
    from PIL import Image

    _, _, run = digits
    csv_path = tmp_path / "sweep.csv"
    assert run_cli(["attack", str(run.path), "--eps", "0.2", "--sweep", "--count", "60", "--steps", "3",
                    "--epsilons", "0,0.1,0.2", "-o", str(csv_path)]) == 0
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "epsilon,fgsm_accuracy,pgd_accuracy" and len(lines) == 4
    capsys.readouterr()
    json_path = tmp_path / "sweep.json"
    assert run_cli(["attack", str(run.path), "--eps", "0.2", "--sweep", "--count", "60", "--steps", "3",
                    "--json", "-o", str(json_path)]) == 0
    table = json.loads(json_path.read_text())
    assert len(table["rows"]) == 9 and table["split"] == "validation" and table["samples"] == 60
    assert json.loads(capsys.readouterr().out)["rows"] == table["rows"]
    png = tmp_path / "sweep.png"
    assert run_cli(["attack", str(run.path), "--eps", "0.2", "--sweep", "--count", "30", "--steps", "2",
                    "--epsilons", "0,0.2", "-o", str(png)]) == 0
    assert Image.open(png).format == "PNG"


@pytest.mark.parametrize("extra, message", [
    (["-o", "x.png"], "give the input to attack"),
    (["--sample", "1", "-o", "x.csv"], "written by --sweep"),
    (["--sweep", "-o", "x.npy"], ".png, .csv, .json"),
    (["--sweep", "--sample", "1", "-o", "x.png"], "leave out"),
    (["--sample", "9999", "-o", "x.png"], "does not exist"),
    (["--sample", "1", "--target", "12", "-o", "x.png"], "class 12 does not exist"),
])
def test_attack_command_errors_are_one_line(digits, tmp_path, capsys, monkeypatch, extra, message):
    _, _, run = digits
    monkeypatch.chdir(tmp_path)
    assert run_cli(["attack", str(run.path), "--eps", "0.1", *extra]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_an_attack_sheet_needs_pictures():
    from workbench.generate.adversarial import AttackResult, AttackSettings

    def result(shape):
        x = np.zeros((1, *shape), np.float32)
        one = np.ones(1)
        return AttackResult(x, x + 0.1, one, one, one, one, one, np.ones((1, 2)), np.ones((1, 2)),
                            AttackSettings())

    assert result((8, 8, 1)).sheet(class_names=["a", "b"]).shape[-1] == 3
    with pytest.raises(WorkbenchError, match=r"input \(4,\) is not an image"):
        result((4,)).sheet()
