"""The LR panel: a range test in a worker, suggestions, the cursor, and the schedule editor."""

from __future__ import annotations

import pytest

from widgets.lr_panel import LRPanel
from workbench.training.schedules import learning_rates


@pytest.fixture
def panel(qtbot, document):
    document.backend_ready()
    widget = LRPanel(document)
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    yield widget
    widget.shutdown()


def test_range_test_shows_suggestions_and_use_writes_the_rate_undoably(qtbot, panel, document):
    panel.iterations_field.setValue(40)
    with qtbot.waitSignal(panel.test_finished, timeout=120_000) as finished:
        assert panel.start_test()
    result = finished.args[0]
    assert result is not None and result.batches > 0
    assert panel.suggestions.count() == len(result.suggestions) > 0
    x, y = panel.smooth_curve.getData()
    assert len(x) == result.batches
    panel.suggestions.itemClicked.emit(panel.suggestions.item(0))
    rate = result.suggestions[0].lr
    assert panel.cursor_rate() == pytest.approx(rate)
    before = document.experiment.training["optimizer"]["learning_rate"]
    panel.use_cursor_rate()
    assert document.experiment.training["optimizer"]["learning_rate"] == pytest.approx(rate, rel=1e-2)
    document.undo_stack.undo()
    assert document.experiment.training["optimizer"]["learning_rate"] == before


def test_bad_range_is_refused_with_the_reason(panel):
    panel.start_field.setText("1")
    panel.end_field.setText("0.1")
    assert not panel.start_test()
    assert "end" in panel.status.text() and "above" in panel.status.text()


def test_schedule_editor_previews_every_batch_and_applies(panel, document):
    panel.schedule_field.setCurrentIndex(panel.schedule_field.findData("cyclical"))
    panel._param_fields["step_size"].setValue(1.0)
    training = document.experiment.training
    x, y = panel.preview_curve.getData()
    expected = learning_rates(panel.edited_schedule(), training["optimizer"]["learning_rate"], 100,
                              training["epochs"])
    assert list(y) == pytest.approx(list(expected))
    assert panel.apply_button.isEnabled()
    panel.apply_button.click()
    assert document.experiment.training["schedule"]["name"] == "cyclical"
    assert not panel.apply_button.isEnabled()  # it is the training's schedule now
    document.undo_stack.undo()
    assert "schedule" not in document.experiment.training
    assert panel.schedule_field.currentData() == "constant"
