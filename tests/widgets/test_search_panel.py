"""The Search panel: the space editor's undoable edits, a live search, Apply best, Stop."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from widgets.commands import RemoveNodesCommand
from widgets.document import Document
from widgets.search_panel import SearchPanel, log_ticks, parse_values
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment

LEARNING_RATE = "training.optimizer.learning_rate"
FILTERS = "model.nodes.conv_1.filters"


@pytest.fixture
def small_document(qtbot):
    """default.json on 200 digits, so a trial of one epoch takes about a second."""
    data = json.loads(DEFAULT_EXPERIMENT.read_text())
    data["data"]["samples"] = 200
    document = Document(Experiment.from_dict(data))
    document.backend_ready()
    return document


@pytest.fixture
def panel(qtbot, small_document, tmp_path):
    widget = SearchPanel(small_document, tmp_path / "runs")
    qtbot.addWidget(widget)
    widget.resize(1250, 720)
    widget.show()
    yield widget
    widget.shutdown()


def _space(document) -> list[dict]:
    search = document.experiment.search
    return search["space"] if search else []


def _search(qtbot, panel, trials: int) -> object:
    panel.trials_field.setValue(trials)
    panel.epochs_field.setValue(1)
    with qtbot.waitSignal(panel.search_finished, timeout=120_000) as finished, \
            qtbot.waitSignal(panel.runs_changed, timeout=120_000):
        assert panel.start_search(), panel.status.text()
    return finished.args[0]


def test_form_adds_entries_one_undo_step_each(panel, small_document):
    stack = small_document.undo_stack
    assert panel.load_suggestion(LEARNING_RATE)
    assert panel.type_field.currentText() == "float"
    assert panel.sampling_field.currentText() == "log"
    panel.add_button.click()
    assert _space(small_document) == [{"target": LEARNING_RATE, "type": "float", "min": 0.001,
                                       "max": 0.1, "sampling": "log"}]
    assert stack.count() == 1
    # Picking a target in the combo fills the form with a range around the current value.
    panel.target_field.setCurrentIndex(panel.target_field.findText(FILTERS))
    assert (panel.min_field.text(), panel.max_field.text(), panel.step_field.text()) == ("8", "32", "8")
    panel.add_button.click()
    assert panel.load_suggestion("training.optimizer.name")
    panel.values_field.setText("adam, sgd")
    panel.add_button.click()
    space = _space(small_document)
    assert space[1] == {"target": FILTERS, "type": "int", "min": 8, "max": 32, "step": 8}
    assert space[2] == {"target": "training.optimizer.name", "type": "choice", "values": ["adam", "sgd"]}
    assert stack.count() == 3 and panel.space_table.rowCount() == 3
    assert small_document.experiment.search["objective"] == "val_accuracy"
    # Edit: select a row, change it in the form, Update.
    panel.space_table.selectRow(1)
    assert panel.target_field.currentText() == FILTERS
    panel.max_field.setText("48")
    panel.update_button.click()
    assert _space(small_document)[1]["max"] == 48 and stack.count() == 4
    stack.undo()
    assert _space(small_document)[1]["max"] == 32
    stack.undo()
    stack.undo()
    assert len(_space(small_document)) == 1 and panel.space_table.rowCount() == 1
    stack.undo()
    assert small_document.experiment.search is None and panel.space_table.rowCount() == 0
    stack.redo()
    panel.space_table.selectRow(0)
    panel.remove_button.click()  # the last entry: the section goes
    assert small_document.experiment.search is None


def test_settings_are_stored_in_the_search_section(panel, small_document):
    assert panel.add_entry({"target": LEARNING_RATE, "type": "float", "min": 1e-3, "max": 1e-1,
                            "sampling": "log"})
    panel.method_field.setCurrentIndex(panel.method_field.findData("bayesian"))
    panel.trials_field.setValue(7)
    panel.objective_field.setCurrentText("val_loss")
    search = small_document.experiment.search
    assert (search["method"], search["trials"], search["objective"]) == ("bayesian", 7, "val_loss")
    assert panel.direction_label.text() == "lower is better"
    assert [panel.objective_field.itemText(i) for i in range(panel.objective_field.count())] == [
        "val_accuracy", "val_loss", "accuracy", "loss"]
    small_document.undo_stack.undo()
    assert small_document.experiment.search["objective"] == "val_accuracy"
    assert panel.objective_field.currentText() == "val_accuracy"


def test_invalid_entries_show_the_reason_and_push_nothing(panel, small_document):
    stack = small_document.undo_stack
    panel.load_suggestion(LEARNING_RATE)
    panel.min_field.setText("0.1")
    panel.max_field.setText("0.01")
    panel.add_button.click()
    assert panel.space_message.isVisible()
    assert "learning_rate max: must be greater than min (0.1)" in panel.space_message.text()
    assert stack.count() == 0 and small_document.experiment.search is None
    panel.min_field.setText("abc")
    panel.add_button.click()
    assert "min must be a number" in panel.space_message.text() and stack.count() == 0
    # The layer catalog's own range: a dropout rate is at most 1.
    assert not panel.add_entry({"target": "model.nodes.dropout.rate", "type": "float", "min": 0.0,
                                "max": 1.5})
    assert "rate must be between 0 and 1" in panel.space_message.text() and stack.count() == 0
    assert not panel.add_entry({"target": "model.nodes.conv_1.filterz", "type": "int", "min": 1,
                                "max": 4})
    assert "has no parameter 'filterz'" in panel.space_message.text() and stack.count() == 0
    panel.load_suggestion(LEARNING_RATE)
    panel.add_button.click()  # a good one clears the message
    assert not panel.space_message.isVisible() and stack.count() == 1


def test_a_target_of_a_deleted_node_is_red_and_blocks_the_search(qtbot, panel, small_document):
    assert not panel.start_search()
    assert "Add a hyperparameter first" in panel.status.text()
    assert panel.add_entry({"target": "model.nodes.dropout.rate", "type": "float", "min": 0.0,
                            "max": 0.5, "step": 0.1})
    small_document.push(RemoveNodesCommand(small_document.graph, ["dropout"]))
    qtbot.waitUntil(lambda: panel.problems[0] is not None)
    assert "no node 'dropout'" in panel.problems[0]
    assert panel.space_table.item(0, 0).foreground().color().name() == "#c0392b"
    assert panel.problems_label.isVisible() and "dropout" in panel.problems_label.text()
    assert not panel.start_search()
    assert "in red" in panel.status.text() and "dropout" in panel.status.text()
    # The stale entry does not block other edits, and removing it fixes the search.
    assert panel.add_entry({"target": LEARNING_RATE, "type": "float", "min": 1e-3, "max": 1e-1,
                            "sampling": "log"})
    assert panel.remove_entry(0)
    assert [e["target"] for e in _space(small_document)] == [LEARNING_RATE]
    assert panel.problems == [None] and not panel.problems_label.isVisible()


def test_search_fills_results_and_apply_best_is_one_undo_step(qtbot, panel, small_document, tmp_path):
    assert not panel.apply_button.isEnabled()
    assert panel.add_entry({"target": LEARNING_RATE, "type": "float", "min": 1e-3, "max": 3e-2,
                            "sampling": "log"})
    assert panel.add_entry({"target": FILTERS, "type": "int", "min": 4, "max": 12, "step": 4})
    result = _search(qtbot, panel, trials=3)
    assert result is not None and result.status == "finished" and len(result.trials) == 3
    table = panel.results_table
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers == ["trial", "status", "val_accuracy", "learning_rate", "conv_1.filters"]
    assert table.rowCount() == 3
    assert all(float(table.item(r, 2).text()) >= 0 for r in range(3))
    x, y = panel.score_points.getData()
    assert list(x) == [0, 1, 2] and list(y) == pytest.approx([t.score for t in result.trials])
    assert len(panel.best_line.getData()[0]) == 3
    panel.param_field.setCurrentIndex(0)  # learning rate: a log axis
    xs, _ = panel.param_points.getData()
    rates = [t.values[LEARNING_RATE] for t in result.trials]
    assert list(xs) == pytest.approx([math.log10(r) for r in rates])
    panel.param_field.setCurrentIndex(1)  # filters: a linear one
    assert list(panel.param_points.getData()[0]) == [t.values[FILTERS] for t in result.trials]
    runs = tmp_path / "runs"
    for trial in result.trials:
        assert Path(trial.run).is_dir() and Path(trial.run).parent == runs
    # Apply best: the best trial's values, one undo step; undo gives the experiment back.
    assert panel.apply_button.isEnabled()
    before = small_document.experiment.to_dict()
    count = small_document.undo_stack.count()
    assert panel.load_suggestion(FILTERS) and "now 16" in panel.target_hint.text()
    assert panel.apply_best()
    best = result.best
    assert small_document.graph.node("conv_1").params["filters"] == best.values[FILTERS]
    assert small_document.experiment.training["optimizer"]["learning_rate"] == best.values[LEARNING_RATE]
    assert small_document.undo_stack.count() == count + 1
    assert "Applied trial" in panel.apply_status.text() and "conv_1.filters 16 →" in panel.apply_status.text()
    # the form's hint, showing filters before the apply, tells the value as it is now
    qtbot.waitUntil(lambda: f"now {best.values[FILTERS]}" in panel.target_hint.text(), timeout=5000)
    small_document.undo_stack.undo()
    assert small_document.experiment.to_dict() == before


def test_stop_keeps_the_finished_trials(qtbot, panel, small_document):
    assert panel.add_entry({"target": LEARNING_RATE, "type": "float", "min": 1e-3, "max": 3e-2,
                            "sampling": "log"})
    panel.trials_field.setValue(20)
    panel.epochs_field.setValue(1)
    with qtbot.waitSignal(panel.search_finished, timeout=120_000) as finished:
        assert panel.start_search()
        assert panel.stop_button.isEnabled() and not panel.run_button.isEnabled()
        qtbot.waitUntil(lambda: panel.results_table.rowCount() >= 1, timeout=120_000)
        panel.stop_button.click()
    result = finished.args[0]
    assert result.status == "stopped" and 1 <= len(result.trials) < 20
    completed = [t for t in result.trials if t.status == "completed"]
    assert completed and panel.results_table.rowCount() == len(result.trials)
    assert "Stopped" in panel.status.text() and panel.apply_button.isEnabled()
    assert panel.run_button.isEnabled() and not panel.running


def test_values_are_typed_as_json_or_words():
    assert parse_values("adam, sgd") == ["adam", "sgd"]
    assert parse_values("[3, 3], [5, 5]") == [[3, 3], [5, 5]]
    assert parse_values("16, 32") == [16, 32]
    with pytest.raises(ValueError, match="list the values"):
        parse_values(" ")


def test_log_axes_label_decades_or_their_steps():
    major, minor = log_ticks(1e-4, 1e-1)
    assert [label for _, label in major] == ["0.0001", "0.001", "0.01", "0.1"]
    assert len(minor) == 3 * 8 and all(label == "" for _, label in minor)
    major, _ = log_ticks(1e-3, 3e-2)
    assert [label for _, label in major] == ["0.001", "0.002", "0.005", "0.01", "0.02"]
    major, _ = log_ticks(0.003, 0.004)
    assert [label for _, label in major] == ["0.003", "0.004"]


def test_a_failing_search_says_why_in_red(qtbot, panel, small_document):
    # A 9x9 pool on the 8x8 digits: no trial's model can be built.
    assert panel.add_entry({"target": "model.nodes.pool_1.pool_size", "type": "choice",
                            "values": [[9, 9]]})
    with qtbot.waitSignal(panel.search_finished, timeout=120_000) as finished:
        assert panel.start_search()
    assert finished.args[0] is None and not panel.running
    assert "The search failed" in panel.status.text() and "cannot be built" in panel.status.text()
    assert "#c0392b" in panel.status.styleSheet() and not panel.apply_button.isEnabled()
