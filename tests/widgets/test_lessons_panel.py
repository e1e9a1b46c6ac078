"""The Lessons tab: a preset group trained from the panel, drawn as one band per member."""

from __future__ import annotations

from pathlib import Path

import pytest

from widgets.lessons_panel import LessonsPanel

TIMEOUT_MS = 180_000


@pytest.fixture
def panel(qtbot, tmp_path):
    widget = LessonsPanel(tmp_path / "runs")
    qtbot.addWidget(widget)
    widget.resize(1200, 700)
    widget.show()
    yield widget
    widget.shutdown()


def run(qtbot, panel):
    with qtbot.waitSignal(panel.group_finished, timeout=TIMEOUT_MS) as done:
        assert panel.run_group()
    return done.args[0]


def test_every_bundled_group_is_listed_with_its_lesson(panel):
    assert panel.group_list.count() >= 9
    panel.select_group("noise_channels")
    assert "noise" in panel.lesson.text().lower()
    assert panel.seeds_field.text() == "0, 1, 2"
    assert panel.metric_field.currentText() == "val_accuracy"
    assert panel.member_field.count() == 2


def test_a_group_runs_draws_a_band_per_member_and_keeps_the_runs(qtbot, panel, tmp_path):
    panel.select_group("noise_channels")
    panel.seeds_field.setText("0, 1")
    panel.epochs_field.setValue(2)
    results = run(qtbot, panel)
    assert set(results) == {"noise-channels-zeros", "noise-channels-noise"}
    assert all(len(runs) == 2 and all(r.result.status == "finished" for r in runs)
               for runs in results.values())
    curves = [item for item in panel.plot.getPlotItem().listDataItems() if item.name()]
    assert len(curves) == 2 and all(len(curve.getData()[0]) == 2 for curve in curves)
    assert panel.result_table.rowCount() == 2 and "±" in panel.result_table.item(0, 1).text()
    assert len(list((tmp_path / "runs").iterdir())) == 4  # every run is in the run store
    assert "Done: 4 run(s)" in panel.status.text()
    panel.metric_field.setCurrentText("val_loss")  # another metric: drawn from the same runs
    assert all(item.name().startswith("noise-channels")
               for item in panel.plot.getPlotItem().listDataItems() if item.name())


def test_class_imbalance_shows_the_rare_classes_recall_and_f1(qtbot, panel):
    panel.select_group("class_imbalance")
    panel.seeds_field.setText("0")
    panel.epochs_field.setValue(2)
    run(qtbot, panel)
    headers = [panel.result_table.horizontalHeaderItem(c).text()
               for c in range(panel.result_table.columnCount())]
    assert any("recall" in h for h in headers) and any("F1" in h for h in headers)
    assert panel.result_table.item(0, headers.index(next(h for h in headers if "recall" in h))).text() != "–"


def test_bad_seeds_are_named_and_open_sends_the_member_file(qtbot, panel):
    panel.select_group("capacity")
    panel.seeds_field.setText("one, two")
    assert not panel.run_group()
    assert "whole numbers" in panel.status.text()
    with qtbot.waitSignal(panel.open_requested) as opened:
        panel.open_button.click()
    assert Path(opened.args[0]).is_file() and Path(opened.args[0]).suffix == ".json"
