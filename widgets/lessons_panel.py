"""The Lessons tab: the classic experiments of deep-learning courses, run and compared.

A preset group (``workbench.presets``) is a few experiments that differ in one thing (noise
channels, network size, regularizer, optimizer, ...) and a lesson saying what to look for.
Run trains every member with every seed in the worker (each run is kept in the run store, so
the Runs tab has them too) and draws one curve per member, the mean over the seeds with its
min-max band, growing epoch by epoch. The table under it gives each member's final value and,
where the group asks for it, the rare classes' recall and F1 or the snapshot ensemble's score.
Open loads a member into the editor to change it and train it alone.
"""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from widgets.axes import WholeNumberAxis
from widgets.bands import draw_band
from widgets.tables import read_only_table
from workbench.errors import WorkbenchError

_BAR_STEPS = 100  # the bar moves within a run, not once per run
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


class LessonsPanel(QWidget):
    """Preset groups: lesson, run, compare. See the module docstring.

    Signals:
        group_finished(object): {member: [MemberRun]} of the finished (or stopped) group.
        open_requested(object): the path of a member experiment to open in the editor.
    """

    group_finished = Signal(object)
    open_requested = Signal(object)

    def __init__(self, runs_dir: Path, parent: QWidget | None = None):
        super().__init__(parent)
        from widgets.tasks import TaskRunner
        from workbench.presets import bundled_presets

        self.setObjectName("lessonsPanel")
        self.runs_dir = Path(runs_dir)
        self.groups = sorted(bundled_presets(), key=lambda group: group.name.lower())
        self.results: dict | None = None
        self._histories: dict[tuple[str, int], dict[str, list[float]]] = {}
        self._runner = TaskRunner(self, keras_work=True)
        self._runner.partials.connect(self._on_runner_partials)
        self._runner.stepped.connect(self._on_runner_stepped)
        self._runner.finished.connect(self._on_runner_finished)
        self._runner.failed.connect(self._on_runner_failed)
        self._build_ui()
        if self.groups:
            self.group_list.setCurrentRow(0)

    # ------------------------------------------------------------------ API
    @property
    def running(self) -> bool:
        return self._runner.running

    @property
    def group(self):
        row = self.group_list.currentRow()
        return self.groups[row] if 0 <= row < len(self.groups) else None

    def select_group(self, key: str) -> None:
        for row, group in enumerate(self.groups):
            if group.key == key:
                self.group_list.setCurrentRow(row)
                return
        raise KeyError(key)

    def run_group(self) -> bool:
        """Train the chosen group's members with the chosen seeds (in the worker)."""
        group = self.group
        if group is None or self.running:
            return False
        from workbench.presets import parse_seeds

        try:
            seeds = parse_seeds(self.seeds_field.text())
        except WorkbenchError as error:
            self._show(f"Seeds: {error}", error=True)
            return False
        epochs = self.epochs_field.value() or None
        runs_dir = self.runs_dir
        self._histories = {}
        self.results = None
        self._draw()
        self.result_table.setRowCount(0)
        total = len(group.members) * len(seeds)
        self.progress_bar.setRange(0, total * _BAR_STEPS)
        self.progress_bar.setValue(0)
        self._show(f"Training {len(group.members)} members × {len(seeds)} seed(s)…")

        def work(progress):
            from workbench.presets import run_group

            return run_group(group, seeds=seeds, epochs=epochs, runs_dir=runs_dir, progress=progress)

        self._runner.start(work)
        self._refresh()
        return True

    def stop(self) -> None:
        self._runner.cancel()

    def shutdown(self) -> None:
        if self.running:
            self._runner.wait(cancel=True)

    # ------------------------------------------------------------------- UI
    def _build_ui(self) -> None:
        layout = QHBoxLayout(self)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        self.group_list = QListWidget()
        self.group_list.setObjectName("lessonList")
        self.group_list.addItems([group.name for group in self.groups])
        for row, group in enumerate(self.groups):  # the key is what `workbench lesson` takes
            self.group_list.item(row).setToolTip(f"workbench lesson {group.key}")
        self.group_list.currentRowChanged.connect(self._on_group_list_current_row_changed)
        self.group_list.setMinimumWidth(300)
        self.group_list.setWordWrap(True)
        splitter.addWidget(self.group_list)
        right = QWidget()
        column = QVBoxLayout(right)
        column.setContentsMargins(6, 0, 0, 0)
        self.title = QLabel()
        self.title.setObjectName("lessonTitle")
        self.lesson = QLabel()
        self.lesson.setObjectName("lessonText")
        self.lesson.setWordWrap(True)
        self.lesson.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.members = QLabel()
        self.members.setWordWrap(True)
        self.members.setTextFormat(Qt.TextFormat.RichText)
        for widget in (self.title, self.lesson, self.members):
            column.addWidget(widget)
        column.addLayout(self._build_controls())
        self.status = QLabel()
        self.status.setObjectName("lessonStatus")
        self.status.setWordWrap(True)
        column.addWidget(self.status)
        self.plot = pg.PlotWidget(background="w", axisItems={"bottom": WholeNumberAxis("bottom")})
        self.plot.setObjectName("lessonPlot")
        self.plot.setMinimumHeight(220)
        item = self.plot.getPlotItem()
        item.setLabel("bottom", "epoch")
        item.getAxis("left").enableAutoSIPrefix(False)  # accuracy reads 0.9, not 900 x 0.001
        item.showGrid(x=True, y=True, alpha=0.2)
        self.legend = item.addLegend(offset=(-10, 10), labelTextColor="#222")
        column.addWidget(self.plot, 3)
        self.result_table = read_only_table(0, "lessonResults", self)
        self.result_table.setMinimumHeight(110)
        column.addWidget(self.result_table, 1)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        layout.addWidget(splitter)

    def _build_controls(self) -> QVBoxLayout:
        """Two rows: how to run and compare, then the member to open in the editor."""
        rows = QVBoxLayout()
        row = QHBoxLayout()
        self.seeds_field = QLineEdit()
        self.seeds_field.setObjectName("lessonSeeds")
        self.seeds_field.setMaximumWidth(110)
        self.seeds_field.setToolTip("Training seeds, e.g. 0, 1, 2: each member is trained once per "
                                    "seed and drawn as the mean with its min-max band")
        self.epochs_field = QSpinBox()
        self.epochs_field.setObjectName("lessonEpochs")
        self.epochs_field.setRange(0, 10_000)
        self.epochs_field.setSpecialValueText("as in the files")
        self.epochs_field.setToolTip("Epochs for every member (fewer: a quicker, rougher lesson)")
        self.metric_field = QComboBox()
        self.metric_field.setObjectName("lessonMetric")
        self.metric_field.setMinimumContentsLength(12)
        self.metric_field.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.metric_field.currentTextChanged.connect(lambda _text: self._draw())
        for label, field in (("seeds", self.seeds_field), ("epochs", self.epochs_field),
                             ("metric", self.metric_field)):
            row.addWidget(QLabel(label))
            row.addWidget(field)
        self.run_button = QPushButton("Run and compare")
        self.run_button.setObjectName("lessonRunButton")
        self.run_button.clicked.connect(self.run_group)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("lessonStopButton")
        self.stop_button.clicked.connect(self.stop)
        self.member_field = QComboBox()
        self.member_field.setObjectName("lessonMember")
        self.member_field.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.open_button = QPushButton("Open in editor")
        self.open_button.setObjectName("lessonOpenButton")
        self.open_button.setToolTip("Load this member into the editor to change it or train it alone")
        self.open_button.clicked.connect(self._on_open_button_clicked)
        row.addWidget(self.run_button)
        row.addWidget(self.stop_button)
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("lessonProgress")
        row.addWidget(self.progress_bar, 1)
        rows.addLayout(row)
        second = QHBoxLayout()
        second.addWidget(QLabel("member"))
        second.addWidget(self.member_field)
        second.addWidget(self.open_button)
        second.addStretch(1)
        rows.addLayout(second)
        return rows

    def _refresh(self) -> None:
        busy = self.running
        self.run_button.setEnabled(not busy and self.group is not None)
        self.stop_button.setEnabled(busy)
        self.group_list.setEnabled(not busy)
        self.open_button.setEnabled(self.group is not None)

    def _show(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #c0392b;" if error else "")

    # ---------------------------------------------------------------- drawing
    def _member_histories(self) -> dict[str, list[dict]]:
        """{member: [history per seed]}, from the finished results or the live reports."""
        if self.results is not None:
            return {name: [run.history for run in runs] for name, runs in self.results.items()}
        found: dict[str, list[dict]] = {}
        for (member, _seed), history in self._histories.items():
            found.setdefault(member, []).append(history)
        return found

    def _draw(self) -> None:
        from workbench.runs.aggregate import aggregate

        item = self.plot.getPlotItem()
        item.clear()
        self.legend.clear()
        metric = self.metric_field.currentText()
        group = self.group
        if group is None or not metric:
            return
        item.setLabel("left", metric)
        # Accuracies end high, losses low: the legend goes to the corner the curves leave free.
        rising = any(word in metric for word in ("acc", "auc", "precision", "recall"))
        self.legend.anchor(itemPos=(1, 1 if rising else 0), parentPos=(1, 1 if rising else 0),
                           offset=(-10, -10 if rising else 10))
        histories = self._member_histories()
        for index, name in enumerate(group.member_names):
            summary = aggregate(histories.get(name, []), metric)
            seeds = summary["runs"]
            draw_band(item, summary, f"{name} ({seeds} seed{'s' if seeds != 1 else ''})",
                      _COLOURS[index % len(_COLOURS)])

    def _fill_results(self) -> None:
        """One row per member (``presets.summarize``): the compared metric's final value over
        the seeds, and the group's own numbers (rare-class recall and F1, snapshot ensemble)."""
        from workbench.presets import summarize

        summary = summarize(self.group, self.results or {})
        members = summary["members"]
        focus = summary["focus_classes"]
        ensemble = sorted({key for member in members for key in member["ensemble"]})
        columns = ["member", f"final {summary['metric']}", "min..max", "seeds"]
        columns += [f"class {c} {what}" for what in ("precision", "recall", "F1") for c in focus]
        columns += [key.replace("_val_", " ") for key in ensemble]
        self.result_table.setColumnCount(len(columns))
        self.result_table.setHorizontalHeaderLabels(columns)
        self.result_table.setRowCount(len(members))
        for row, member in enumerate(members):
            final = member["final"]
            cells = [member["name"], _mean_spread(final), _range(final), str(len(member["seeds"]))]
            cells += [_number(scores[what]) for what in ("precision", "recall", "f1")
                      for scores in member["focus"]]
            cells += [_number(member["ensemble"].get(key)) for key in ensemble]
            for col, text in enumerate(cells):
                self.result_table.setItem(row, col, QTableWidgetItem(text))
        self.result_table.resizeColumnsToContents()

    # ---------------------------------------------------------------- slots
    def _on_group_list_current_row_changed(self, _row: int) -> None:
        group = self.group
        if group is None:
            return
        self.title.setText(f"<h3>{group.name}</h3>")
        self.lesson.setText(group.lesson)
        self.members.setText("<br>".join(f"<b>{member.name}</b>: {member.description}"
                                         for member in group.members))
        self.seeds_field.setText(", ".join(str(s) for s in group.compare.seeds))
        self.metric_field.blockSignals(True)
        self.metric_field.clear()
        self.metric_field.addItems(group.compare.keys)
        self.metric_field.blockSignals(False)
        self.member_field.clear()
        for member in group.members:
            self.member_field.addItem(member.name, member.path)
        self.results, self._histories = None, {}
        self.result_table.setRowCount(0)
        self.progress_bar.setValue(0)
        self._show("")
        self._draw()
        self._refresh()

    def _on_open_button_clicked(self) -> None:
        path = self.member_field.currentData()
        if path is not None:
            self.open_requested.emit(Path(path))

    def _on_runner_stepped(self, done: float, total, message: str) -> None:
        self.progress_bar.setValue(int(done * _BAR_STEPS))
        if message:
            self._show(message)

    def _on_runner_partials(self, partials: list) -> None:
        changed = False
        for item in partials:
            if isinstance(item, dict) and item.get("kind") == "epoch" and "member" in item:
                history = self._histories.setdefault((item["member"], item["seed"]), {})
                for key, value in item.get("logs", {}).items():
                    history.setdefault(key, []).append(float(value))
                changed = True
        if changed:
            self._draw()

    def _on_runner_finished(self, results) -> None:
        self.results = results
        runs = [run for member_runs in results.values() for run in member_runs]
        failed = [run for run in runs if run.result.status == "failed"]
        self.progress_bar.setValue(len(runs) * _BAR_STEPS)
        self._draw()
        self._fill_results()
        text = f"Done: {len(runs)} run(s), kept in {self.runs_dir}."
        if failed:
            text += " Failed: " + "; ".join(f"{run.member} (seed {run.seed}): {run.result.reason}"
                                            for run in failed[:3])
        if len(runs) * _BAR_STEPS < self.progress_bar.maximum():
            text = f"Stopped after {len(runs)} run(s); they are kept in {self.runs_dir}."
        self._show(text, error=bool(failed))
        self._refresh()
        self.group_finished.emit(results)

    def _on_runner_failed(self, message: str) -> None:
        self._show(message, error=True)
        self._refresh()
        self.group_finished.emit(None)


def _number(value) -> str:
    return "–" if value is None else f"{value:.4g}"


def _range(final: dict) -> str:
    return "–" if not final["count"] else f"{final['min']:.4g}..{final['max']:.4g}"


def _mean_spread(final: dict) -> str:
    """"mean ± std" over the seeds (the value alone for one seed)."""
    if not final["count"]:
        return "–"
    if final["count"] == 1:
        return f"{final['mean']:.4g}"
    return f"{final['mean']:.4g} ± {final['std']:.2g}"
