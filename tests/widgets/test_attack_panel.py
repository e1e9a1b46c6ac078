"""The Attack panel: an adversarial example, the robustness sweep, saliency side by side."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from widgets.attack_panel import SWEEP_POINTS, AttackPanel
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment
from workbench.training import TrainingSession

TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def trained():
    from workbench.data import load_dataset

    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    experiment.training = {**experiment.training, "epochs": 3}
    dataset = load_dataset(experiment.data, None)
    result = TrainingSession(experiment, dataset=dataset).run()
    return result.model, dataset


@pytest.fixture
def panel(qtbot, trained):
    widget = AttackPanel()
    qtbot.addWidget(widget)
    widget.resize(1100, 650)
    widget.show()
    widget.set_model(*trained, label="test")
    yield widget
    widget.shutdown()


def run(qtbot, panel, start) -> str:
    with qtbot.waitSignal(panel.task_finished, timeout=TIMEOUT_MS) as done:
        assert start()
    return done.args[0]


def test_attack_shows_three_pictures_and_fools_the_model(qtbot, panel, tmp_path):
    panel.eps_field.setValue(0.3)
    assert run(qtbot, panel, panel.attack) == "attack"
    result = panel.result
    assert result.success[0] and "Fooled" in panel.status.text()
    assert abs(result.perturbation).max() <= 0.3 + 1e-6
    for name in ("original", "perturbation", "adversarial"):
        assert not panel.views[name][0].pixmap().isNull()
    assert run(qtbot, panel, panel.saliency) == "saliency"
    assert not panel.views["adversarial saliency"][0].pixmap().isNull()
    written = panel.save_picture(tmp_path / "attack.png")
    picture = np.asarray(Image.open(written).convert("RGB"))
    assert picture.shape[1] > 2.5 * picture.shape[0]  # original, change, adversarial
    assert panel.save_picture(tmp_path / "missing" / "attack.png") is None
    assert "does not exist" in panel.status.text()


def test_the_sweep_plots_accuracy_falling_with_epsilon(qtbot, panel):
    panel.steps_field.setValue(5)
    panel.eps_field.setValue(0.3)
    assert run(qtbot, panel, panel.run_sweep) == "sweep"
    sweep = panel.sweep
    # From no change up to the epsilon field's, as the CLI's --sweep goes up to --eps.
    assert np.allclose(sweep.epsilons, np.linspace(0, 0.3, SWEEP_POINTS))
    assert set(sweep.accuracy) == {"fgsm", "pgd"}
    assert sweep.accuracy["pgd"][-1] < sweep.accuracy["pgd"][0]
    assert len(panel.sweep_plot.getPlotItem().listDataItems()) == 2


def test_without_data_it_says_what_it_needs(panel, trained):
    panel.set_model(trained[0], None)
    assert not panel.attack()
    assert "data" in panel.status.text()


def test_epsilon_cannot_exceed_the_datas_range(panel, trained):
    _, dataset = trained
    x = dataset.held_out()[0]
    span = float(x.max() - x.min())
    assert panel.eps_field.maximum() == pytest.approx(span, abs=1e-3)  # digits: 0 to 1
    panel.eps_field.setValue(1000)
    assert panel.eps_field.value() == pytest.approx(span, abs=1e-3)
