"""``RunsPanel``: the runs in the run store, compared side by side.

A sortable table lists every run folder (a corrupt one as an "unreadable" row, never an
exception) with the settings that tell runs apart (seed, learning rate, batch size,
optimizer, from each run's frozen experiment); selecting rows overlays their curves of one
metric, each named by its start time and what differs between the runs drawn, and grouping
replaces the runs whose experiments differ only in the seed by their mean and min-max band.
Everything is read from the folder on ``refresh()``: the panel keeps no state the run store
does not have. The folder can be changed (``runs_dir_changed`` tells the window).
"""

from __future__ import annotations

import itertools
import math
from datetime import datetime
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from widgets.axes import WholeNumberAxis
from widgets.bands import draw_band
from widgets.tables import SORT_ROLE as _SORT_ROLE
from widgets.tables import read_only_table
from widgets.tables import sortable_item as _item
from workbench.errors import WorkbenchError
from workbench.inspect.source import is_run_folder
from workbench.runs import Run, RunInfo, RunStore, aggregate, compare

STATUS_COLOURS = {
    "finished": "#188038",
    "stopped": "#80868b",
    "failed": "#c5221f",
    "running": "#1a73e8",
    "interrupted": "#b06000",
    "unreadable": "#c5221f",
}
# Final-metric columns, in this order, each shown only when some run has it.
METRIC_COLUMNS = ("loss", "val_loss", "accuracy", "val_accuracy")
_FIXED_COLUMNS = ("Run", "Experiment", "Status", "Started", "Epochs", "Seed", "LR", "Batch",
                  "Optimizer", "Device")
# The columns read from each run's frozen experiment: column -> (setting, header tooltip).
SETTING_COLUMNS = {
    "Seed": (compare.SEED, "Training seed"),
    "LR": (compare.LEARNING_RATE, "Learning rate (the peak, when a schedule moves it)"),
    "Batch": (compare.BATCH_SIZE, "Batch size"),
    "Optimizer": (compare.OPTIMIZER, "Optimizer"),
}
# Metrics offered first in the plot's combo; any other metric follows alphabetically.
_PREFERRED_METRICS = ("val_loss", "loss", "val_accuracy", "accuracy")
# Distinct, colour-blind-friendly line colours (Tableau 10), cycled through.
CURVE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22", "#17becf")
_ID_ROLE = Qt.ItemDataRole.UserRole
_ERROR = "#c5221f"
_WARNING = "#b06000"
_QUIET = "#5f6368"
EMPTY_TEXT = "No runs yet in {root}: train a model to create one."
MISSING_TEXT = ("No runs yet: {root} does not exist (the first run creates it). "
                "Change… shows the runs of another folder.")
HINT_TEXT = "Select runs in the table to compare their curves."
# More legend entries than this go into further columns: the legend must fit beside the plot.
_LEGEND_ROWS = 12
# Settings a legend entry names at most: more would make it as long as the folder name was.
_LABEL_SETTINGS = 3
_FOLDER_LABEL_WIDTH = 420


class RunsPanel(QWidget):
    """The run store's runs: a table, curves of the selected runs, open and delete.

    Args:
        runs_dir: the run store's folder (it need not exist yet).
        parent: the owning widget.

    Signals:
        model_requested(object): the user asked to open the selected run's model; carries
            the ``Run``, whose ``load_model()`` other panels call when they need it, and
            whose ``info().model_notice()`` says when that model is only part-trained.
            Never emitted for a run with no finished epoch (its model is untrained).
        runs_dir_changed(object): the user chose another runs folder (a ``Path``).
    """

    model_requested = Signal(object)
    runs_dir_changed = Signal(object)

    def __init__(self, runs_dir: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("runsPanel")
        self.store = RunStore(Path(runs_dir))
        self._infos: dict[str, RunInfo] = {}
        self._histories: dict[str, dict[str, list[float]]] = {}
        # Each run's frozen experiment as flat settings (None: unreadable), read on refresh.
        self._settings: dict[str, dict | None] = {}

        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setObjectName("refreshRunsButton")
        self.refresh_button.setToolTip("Read the runs folder again")
        self.open_button = QPushButton("Open model")
        self.open_button.setObjectName("openRunModelButton")
        self.open_button.setToolTip("Use the selected run's model in the other panels")
        self.delete_button = QPushButton("Delete")
        self.delete_button.setObjectName("deleteRunsButton")
        self.delete_button.setToolTip("Delete the selected run folders from disk")
        self.metric_combo = QComboBox()
        self.metric_combo.setObjectName("runsMetricCombo")
        self.metric_combo.setMinimumContentsLength(12)
        self.group_check = QCheckBox("Group seeds")
        self.group_check.setObjectName("groupRunsCheck")
        self.group_check.setToolTip(
            "Show the mean and min-max band of selected runs whose experiments are the same "
            "except the seed, instead of one curve per run")
        self.folder_label = QLabel()
        self.folder_label.setObjectName("runsFolderLabel")
        self.folder_label.setStyleSheet(f"color: {_QUIET}")
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.folder_button = QPushButton("Change…")
        self.folder_button.setObjectName("changeRunsFolderButton")
        self.folder_button.setToolTip("Show the runs of another folder (e.g. ./runs of "
                                      "`workbench train`); new runs are saved there too")
        self.message = QLabel()
        self.message.setObjectName("runsMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()

        self.table = read_only_table(len(_FIXED_COLUMNS), "runsTable", self)
        header = self.table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setStretchLastSection(True)

        self.plot = pg.PlotWidget(background="w", axisItems={"bottom": WholeNumberAxis("bottom")})
        self.plot.setObjectName("runsPlot")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setLabel("bottom", "epoch")
        self.plot.setMinimumHeight(160)
        for side in ("left", "bottom"):
            # Not "val_accuracy (x0.001)" with ticks 200-900: values as they are logged.
            self.plot.getAxis(side).enableAutoSIPrefix(False)
        self.legend = _legend_beside(self.plot.getPlotItem())
        self.hint = pg.TextItem(HINT_TEXT, color="#80868b", anchor=(0.5, 0.5))
        self.plot.addItem(self.hint, ignoreBounds=True)
        # What is drawn now: per-run curves, and mean curves and bands of groups (for tests
        # and for clearing).
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.group_curves: dict[str, pg.PlotDataItem] = {}
        self.bands: dict[str, pg.FillBetweenItem] = {}

        tools = QHBoxLayout()
        tools.setContentsMargins(0, 0, 0, 0)
        for widget in (self.refresh_button, self.open_button, self.delete_button):
            tools.addWidget(widget)
        tools.addSpacing(16)
        tools.addWidget(QLabel("Metric:"))
        tools.addWidget(self.metric_combo)
        tools.addWidget(self.group_check)
        tools.addStretch(1)
        tools.addWidget(QLabel("Folder:"))
        tools.addWidget(self.folder_label)
        tools.addWidget(self.folder_button)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.table)
        splitter.addWidget(self.plot)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        # Start with room for a dozen rows: the table's size hint alone would give it four.
        splitter.setSizes([2000, 3000])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        layout.addLayout(tools)
        layout.addWidget(self.message)
        layout.addWidget(splitter, 1)

        self.refresh_button.clicked.connect(self._on_refresh_button_clicked)
        self.folder_button.clicked.connect(self._on_folder_button_clicked)
        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.delete_button.clicked.connect(self._on_delete_button_clicked)
        self.metric_combo.currentTextChanged.connect(self._on_metric_combo_changed)
        self.group_check.toggled.connect(self._on_group_check_toggled)
        self.table.itemSelectionChanged.connect(self._on_table_selection_changed)
        self.table.itemDoubleClicked.connect(self._on_table_item_double_clicked)
        self.plot.getViewBox().sigResized.connect(self._place_hint)
        self.refresh()

    # ---------------------------------------------------------------- public
    @property
    def runs_dir(self) -> Path:
        return self.store.root

    def set_runs_dir(self, runs_dir: Path) -> None:
        """List the runs of another folder from now on."""
        self.store = RunStore(Path(runs_dir))
        self.refresh()

    def refresh(self) -> None:
        """Read the runs folder again (after a run ends, or on the Refresh button).

        The selection is kept where the same runs are still there.
        """
        selected = self.selected_ids()
        self._histories.clear()  # a running run's history grows between refreshes
        try:
            infos = self.store.runs()
        except OSError as error:  # the folder vanished or is not readable: say so, show none
            infos = []
            self._show_message(f"{self.store.root}: cannot be read ({error.strerror or error}). "
                               "Change… shows the runs of another folder.")
        else:
            self._show_folder_notice(infos)
        self._infos = {info.id: info for info in infos}
        self._settings = {info.id: compare.read_settings(info.path) for info in infos
                          if info.status != "unreadable"}
        self._show_folder()
        self._fill_table(infos)
        self._fill_metrics(infos)
        self.table.blockSignals(True)
        self.select_runs([run_id for run_id in selected if run_id in self._infos])
        self.table.blockSignals(False)
        self._update_buttons()
        self._draw()

    def selected_ids(self) -> list[str]:
        """Ids of the selected runs, in table order."""
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.table.item(row, 0).data(_ID_ROLE) for row in rows]

    def select_runs(self, run_ids: list[str]) -> None:
        """Select the rows of ``run_ids`` (and only those)."""
        self.table.clearSelection()
        wanted = set(run_ids)
        selection = self.table.selectionModel()
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(_ID_ROLE) in wanted:
                selection.select(self.table.model().index(row, 0),
                                 selection.SelectionFlag.Select | selection.SelectionFlag.Rows)

    def row_of(self, run_id: str) -> int | None:
        """The table row showing ``run_id``, or None."""
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(_ID_ROLE) == run_id:
                return row
        return None

    def ask_runs_dir(self) -> Path | None:
        """Ask for a runs folder; None when cancelled (tests replace this)."""
        start = self.runs_dir if self.runs_dir.is_dir() else Path.home()
        chosen = QFileDialog.getExistingDirectory(self, "Runs folder", str(start))
        return Path(chosen) if chosen else None

    def confirm_delete(self, run_ids: list[str]) -> bool:
        """Ask before deleting run folders (tests replace this)."""
        names = "\n".join(self._infos[i].name or i for i in run_ids if i in self._infos)
        answer = QMessageBox.question(
            self, "Delete runs",
            f"Delete {len(run_ids)} run folder(s) and everything in them from disk?\n\n{names}",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def shutdown(self) -> None:
        """Nothing runs in the background here; present for symmetry with the other panels."""

    # ---------------------------------------------------------------- table
    def _metric_columns(self, infos: list[RunInfo]) -> list[str]:
        present = {key for info in infos for key, value in info.final_metrics.items()}
        return [key for key in METRIC_COLUMNS if key in present]

    def _fill_table(self, infos: list[RunInfo]) -> None:
        metrics = self._metric_columns(infos)
        columns = [*_FIXED_COLUMNS, *metrics]
        sort_column = self.table.horizontalHeader().sortIndicatorSection()
        sort_order = self.table.horizontalHeader().sortIndicatorOrder()
        sorted_before = self.table.isSortingEnabled()
        # Sorting while rows are filled in would move rows under our feet.
        self.table.setSortingEnabled(False)
        self.table.clearContents()
        self.table.setColumnCount(len(columns))
        self.table.setHorizontalHeaderLabels(columns)
        for name, (_setting, tip) in SETTING_COLUMNS.items():
            self.table.horizontalHeaderItem(columns.index(name)).setToolTip(
                f"{tip}, from the run's frozen experiment")
        self.table.setRowCount(len(infos))
        for row, info in enumerate(infos):
            for column, item in enumerate(self._row_items(info, metrics)):
                item.setData(_ID_ROLE, info.id)
                self.table.setItem(row, column, item)
        self.table.setSortingEnabled(True)
        if sorted_before and sort_column < len(columns):
            self.table.sortItems(sort_column, sort_order)
        else:  # newest first, as the store lists them
            self.table.sortItems(_FIXED_COLUMNS.index("Started"), Qt.SortOrder.DescendingOrder)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.resizeColumnsToContents()
        # A long generated folder name must not push the numbers out of view.
        header.resizeSection(0, min(header.sectionSize(0), 230))
        header.resizeSection(1, min(header.sectionSize(1), 160))

    def _row_items(self, info: RunInfo, metrics: list[str]) -> list[QTableWidgetItem]:
        unreadable = info.status == "unreadable"
        name = _item(info.id if unreadable else (info.name or info.id), sort=info.name or info.id)
        name.setToolTip(f"{info.id}\n{info.path}")
        status = _item(info.status, sort=info.status)
        status.setForeground(QBrush(QColor(STATUS_COLOURS.get(info.status, "#202124"))))
        font = QFont(status.font())
        font.setBold(True)
        status.setFont(font)
        if info.reason:
            status.setToolTip(info.reason)
        if unreadable:
            name.setToolTip(info.reason or str(info.path))
            italic = QFont(name.font())
            italic.setItalic(True)
            name.setFont(italic)
        # An unreadable folder's count of history rows says little: leave it blank unless some.
        epochs = _item(str(info.epochs) if info.epochs or not unreadable else "", sort=info.epochs,
                       align_right=True)
        items = [
            name,
            _item(info.experiment or "", sort=info.experiment or ""),
            status,
            _item(_time_text(info.started), sort=info.started or ""),
            epochs,
            *self._setting_items(info),
            _item(info.device or "", sort=info.device or ""),
        ]
        for key in metrics:
            value = info.final_metrics.get(key)
            number = _number(value)
            text = "" if value is None else ("nan" if number is None else f"{number:.4g}")
            items.append(_item(text, sort=number, align_right=True))
        if info.started is None:  # unreadable: the folder's own name stands in for the time
            items[3].setData(_SORT_ROLE, info.id)
        return items

    def _setting_items(self, info: RunInfo) -> list[QTableWidgetItem]:
        """The Seed, LR, Batch and Optimizer cells (blank when the experiment is unreadable)."""
        settings = self._settings.get(info.id) or {}
        items = []
        for setting, _tip in SETTING_COLUMNS.values():
            value = settings.get(setting)
            number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
            text = "" if value is None else compare.format_value(value)
            items.append(_item(text, sort=number if number is not None else value,
                               align_right=number is not None))
        return items

    def _fill_metrics(self, infos: list[RunInfo]) -> None:
        names = {key for info in infos for key in info.final_metrics}
        names.update(METRIC_COLUMNS[:2])  # loss curves exist for every run that has epochs
        ordered = [m for m in _PREFERRED_METRICS if m in names]
        ordered += sorted(names - set(ordered) - {"lr"})
        if "lr" in names:
            ordered.append("lr")
        current = self.metric_combo.currentText()
        self.metric_combo.blockSignals(True)
        self.metric_combo.clear()
        self.metric_combo.addItems(ordered)
        self.metric_combo.setCurrentText(current if current in ordered else ordered[0])
        self.metric_combo.blockSignals(False)

    # ---------------------------------------------------------------- plot
    def _history(self, run_id: str) -> dict[str, list[float]]:
        if run_id not in self._histories:
            info = self._infos.get(run_id)
            try:
                history = Run(info.path).history() if info is not None else {}
            except (OSError, WorkbenchError):
                history = {}
            self._histories[run_id] = history
        return self._histories[run_id]

    def _clear_plot(self) -> None:
        for item in [*self.curves.values(), *self.group_curves.values(), *self.bands.values()]:
            self.plot.removeItem(item)
        self.curves.clear()
        self.group_curves.clear()
        self.bands.clear()
        self.legend.clear()

    def _draw(self) -> None:
        """Redraw the curves of the selected runs for the chosen metric."""
        self._clear_plot()
        metric = self.metric_combo.currentText()
        self.plot.setLabel("left", metric)
        readable = [i for i in self.selected_ids()
                    if i in self._infos and self._infos[i].status != "unreadable"]
        # What differs between the runs drawn is what their legend entries say.
        varying = compare.differences([settings for i in readable
                                       if (settings := self._settings.get(i)) is not None])
        groups, singles = (self._seed_groups(readable) if self.group_check.isChecked()
                           else ([], readable))
        colours = itertools.cycle(CURVE_COLOURS)
        for members in groups:
            self._draw_group(members, metric, next(colours), varying)
        with_date = len({(self._infos[i].started or "")[:10] for i in readable}) > 1
        for run_id in singles:
            self._draw_run(run_id, metric, next(colours), self._run_label(run_id, varying, with_date))
        drawn = bool(self.curves or self.group_curves)
        if readable and not drawn:
            self.hint.setText(f"The selected runs have no {metric!r} values yet.")
        else:
            self.hint.setText(HINT_TEXT)
        self.hint.setVisible(not drawn)
        self.legend.setColumnCount(max(1, math.ceil(len(self.legend.items) / _LEGEND_ROWS)))
        self.legend.setVisible(bool(self.legend.items))
        if drawn:
            self.plot.enableAutoRange()
        self._place_hint()

    def _seed_groups(self, run_ids: list[str]) -> tuple[list[list[str]], list[str]]:
        """The runs whose frozen experiments (and initial weights) are the same except the
        seed, in groups of two or more; and the runs that have no such partner."""
        by_setup: dict[str, list[str]] = {}
        alone = set()
        for run_id in run_ids:
            info = self._infos[run_id]
            key = compare.setup_key(info.path, self._settings.get(run_id), info.weights_sha256)
            if key is None:  # its experiment cannot be read: comparable with nothing
                alone.add(run_id)
            else:
                by_setup.setdefault(key, []).append(run_id)
        groups = [members for members in by_setup.values() if len(members) > 1]
        alone.update(members[0] for members in by_setup.values() if len(members) == 1)
        return groups, [run_id for run_id in run_ids if run_id in alone]

    def _draw_run(self, run_id: str, metric: str, colour: str, label: str) -> None:
        x, y = _xy(self._history(run_id), metric)
        if y is None:
            return
        self.curves[run_id] = self.plot.plot(
            x, y, pen=pg.mkPen(colour, width=2), name=label,
            symbol="o" if len(x) < 30 else None, symbolSize=5, symbolBrush=colour,
            symbolPen=None, connect="finite")

    def _draw_group(self, members: list[str], metric: str, colour: str,
                    varying: list[str]) -> None:
        title = self._group_title(members, varying)
        summary = aggregate([self._history(i) for i in members], metric)
        seeds = compare.seeds_text([self._settings[i].get(compare.SEED) for i in members])
        drawn = draw_band(self.plot, summary, f"{title} · mean of {summary['runs']} ({seeds})",
                          colour)
        if drawn is not None:
            self.group_curves[title], self.bands[title] = drawn

    def _group_title(self, members: list[str], varying: list[str]) -> str:
        """The experiment's name and the settings that set this group apart from the other
        runs drawn (not the seed: that varies inside the group); unique among the groups."""
        settings = self._settings[members[0]]
        parts = [self._infos[members[0]].experiment or members[0]]
        parts += _described(settings, [p for p in varying if p not in ("name", compare.SEED)])
        title = " · ".join(parts)
        # Groups may differ only where a legend does not look (the weights, a fourth setting).
        n = 1
        while title in self.group_curves:
            n += 1
            title = f"{' · '.join(parts)} ({n})"
        return title

    def _run_label(self, run_id: str, varying: list[str], with_date: bool) -> str:
        """When the run started, and how it differs from the other runs drawn."""
        info = self._infos[run_id]
        settings = self._settings.get(run_id)
        started = _clock_text(info.started, with_date) or run_id
        if settings is None:  # its experiment cannot be read: its name is all there is
            return f"{started} · {info.experiment or info.name or run_id}"
        return " · ".join([started, *_described(settings, varying)])

    def _place_hint(self, *_args) -> None:
        # Keep the hint in the middle of whatever range the (empty) view shows.
        (x0, x1), (y0, y1) = self.plot.getViewBox().viewRange()
        self.hint.setPos((x0 + x1) / 2, (y0 + y1) / 2)

    # ---------------------------------------------------------------- helpers
    def _update_buttons(self) -> None:
        ids = self.selected_ids()
        readable = [i for i in ids if self._infos.get(i) and self._infos[i].status != "unreadable"]
        self.open_button.setEnabled(len(readable) == 1 and len(ids) == 1)
        self.delete_button.setEnabled(bool(ids))

    def _show_message(self, text: str, colour: str = _ERROR) -> None:
        self.message.setStyleSheet(f"color: {colour}")
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def _show_folder(self) -> None:
        root = str(self.store.root)
        metrics = self.folder_label.fontMetrics()
        self.folder_label.setText(
            metrics.elidedText(root, Qt.TextElideMode.ElideMiddle, _FOLDER_LABEL_WIDTH))
        self.folder_label.setToolTip(f"Runs folder: {root}\nNew runs are saved here too.")

    def _show_folder_notice(self, infos: list[RunInfo]) -> None:
        """Say why the folder lists no runs, or that it may be the wrong folder."""
        root = self.store.root
        if infos and not any(is_run_folder(info.path) for info in infos):
            # Sub-folders, none with a run.json: likely a project folder, not its runs folder.
            self._show_message(
                f"None of the {len(infos)} folder(s) in {root} is a run (a run folder holds "
                "run.json): is this the runs folder? Change… shows another one.")
        elif infos:
            self._show_message("")
        elif root.exists() and not root.is_dir():
            self._show_message(f"{root} is a file, not a folder: Change… shows the runs of a "
                               "folder.")
        elif not root.exists():
            self._show_message(MISSING_TEXT.format(root=root), colour=_QUIET)
        else:
            self._show_message(EMPTY_TEXT.format(root=root), colour=_QUIET)

    # ---------------------------------------------------------------- slots
    def _on_refresh_button_clicked(self) -> None:
        self.refresh()

    def _on_folder_button_clicked(self) -> None:
        chosen = self.ask_runs_dir()
        if chosen is None or chosen == self.runs_dir:
            return
        self.set_runs_dir(chosen)
        self.runs_dir_changed.emit(self.runs_dir)

    def _on_table_selection_changed(self) -> None:
        self._update_buttons()
        self._draw()

    def _on_metric_combo_changed(self, _text: str) -> None:
        self._draw()

    def _on_group_check_toggled(self, _checked: bool) -> None:
        self._draw()

    def _on_table_item_double_clicked(self, item: QTableWidgetItem) -> None:
        self.select_runs([item.data(_ID_ROLE)])
        self._on_open_button_clicked()

    def _on_open_button_clicked(self) -> None:
        ids = self.selected_ids()
        if len(ids) != 1:
            return
        try:
            run = self.store.open(ids[0])
        except WorkbenchError as error:
            self._show_message(str(error))
            return
        # Read again: the table may be older than the run (it may have failed since).
        info = run.info()
        notice = info.model_notice()
        if not info.trained:  # an untrained model would pass for a result in every panel
            self._show_message(f"{_sentence(notice)}; there is nothing to open.")
            return
        self._show_message(f"Opening a part-trained model: {notice}." if notice else "",
                           colour=_WARNING)
        self.model_requested.emit(run)

    def _on_delete_button_clicked(self) -> None:
        ids = self.selected_ids()
        if not ids or not self.confirm_delete(ids):
            return
        problems = []
        for run_id in ids:
            try:
                self.store.delete(run_id)
            except WorkbenchError as error:  # e.g. still running: the others still go
                problems.append(str(error))
        self.refresh()
        if problems:
            self._show_message("; ".join(problems))


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _time_text(iso: str | None) -> str:
    """"2024-05-01T14:03:12+02:00" as "2024-05-01 14:03" (local time as it was recorded)."""
    if not iso:
        return ""
    try:
        return f"{datetime.fromisoformat(iso):%Y-%m-%d %H:%M}"
    except ValueError:
        return iso


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _clock_text(iso: str | None, with_date: bool) -> str:
    """A run's start for a legend: "14:03:12", or "05-01 14:03" when the runs drawn span days."""
    if not iso:
        return ""
    try:
        started = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return f"{started:%m-%d %H:%M}" if with_date else f"{started:%H:%M:%S}"


def _described(settings: dict, paths: list[str]) -> list[str]:
    """The first few of ``paths`` as a legend words them ("lr 0.01"), "…" for the rest."""
    words = [compare.describe(path, settings.get(path)) for path in paths[:_LABEL_SETTINGS]]
    return words + (["…"] if len(paths) > _LABEL_SETTINGS else [])


def _legend_beside(plot_item: pg.PlotItem) -> pg.LegendItem:
    """A legend in a column right of the plot's data, where it never covers a curve.

    Inside the view every corner is taken by some curve: falling losses start top left,
    rising accuracies end top right, and a run that overfits turns back up.
    """
    legend = pg.LegendItem(labelTextColor="#202124", pen=pg.mkPen("#dadce0"),
                           brush=pg.mkBrush(255, 255, 255))
    # Fixed: as large as its entries, not stretched to the plot's height.
    legend.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
    plot_item.layout.addItem(legend, 2, 3)  # row 2 holds the axes and view; 3 is after them
    plot_item.layout.setAlignment(legend, Qt.AlignmentFlag.AlignTop)
    # PlotItem adds each named curve to its ``legend`` (what ``addLegend`` sets).
    plot_item.legend = legend
    legend.hide()
    return legend


def _xy(history: dict[str, list[float]], metric: str) -> tuple[np.ndarray, np.ndarray | None]:
    values = history.get(metric)
    if not values:
        return np.empty(0), None
    y = np.asarray(values, dtype=float)
    epochs = history.get("epoch") or list(range(1, len(y) + 1))
    x = np.asarray(epochs, dtype=float)[: len(y)]
    if not np.isfinite(y).any():
        return x, None
    return x, y
