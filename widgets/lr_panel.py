"""The LR panel: the LR range test with a live curve, and the schedule editor.

Run starts ``find_lr`` on a copy of the experiment in a worker; the curve (loss against the
learning rate on a log axis, raw and smoothed) grows as the batches come. When the test ends
the suggestions appear as named markers, and a draggable cursor picks a rate: "Use this rate"
writes it into the training section with an undoable ``SetSectionCommand``.

The schedule editor below previews the rate of every batch of the configured training (the
same array training applies, ``schedules.learning_rates``) and "Apply schedule" writes it.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QLocale, Qt, Signal
from PySide6.QtGui import QColor, QDoubleValidator
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from widgets.commands import SetSectionCommand
from widgets.document import Document
from widgets.form_fields import ScrollSafeComboBox
from widgets.tasks import TaskRunner
from workbench.errors import WorkbenchError
from workbench.experiment import Experiment
from workbench.training import schedules

_MARKER_COLORS = {"steepest": "#d62728", "minimum": "#2ca02c", "valley": "#9467bd", "edge": "#7f7f7f"}


class RateField(QLineEdit):
    """A learning rate typed in scientific notation (1e-7 reads better than 0.0000001)."""

    def __init__(self, value: float):
        super().__init__(f"{value:g}")
        validator = QDoubleValidator(1e-12, 1e6, 12, self)
        validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
        validator.setLocale(QLocale.c())
        self.setValidator(validator)
        self.setMaximumWidth(90)

    def value(self) -> float:
        """The rate typed; NaN when the text is not a number (the range test's check names it)."""
        try:
            return float(self.text())
        except ValueError:
            return math.nan


class LRPanel(QWidget):
    """LR range test and schedule editor for a document.

    Signals:
        test_finished(object): a range test ended (its ``RangeTestResult``, or None on error).
    """

    test_finished = Signal(object)

    def __init__(self, document: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("lrPanel")
        self._document: Document | None = None
        self._dataset = None
        self.result = None
        self._lrs: list[float] = []
        self._losses: list[float] = []
        self._smoothed: list[float] = []
        self._runner = TaskRunner(self, keras_work=True)
        self._runner.stepped.connect(self._on_runner_stepped)
        self._runner.partials.connect(self._on_runner_partials)
        self._runner.finished.connect(self._on_runner_finished)
        self._runner.failed.connect(self._on_runner_failed)
        self._build_ui()
        self.set_document(document)

    # ------------------------------------------------------------------ API
    @property
    def running(self) -> bool:
        return self._runner.running

    def set_document(self, document: Document | None) -> None:
        if self._document is not None:
            try:
                self._document.section_changed.disconnect(self._on_document_section_changed)
            except (RuntimeError, TypeError):
                pass
        self._document = document
        self._dataset = None
        if document is not None:
            document.section_changed.connect(self._on_document_section_changed)
        self._load_schedule()

    def set_dataset(self, dataset) -> None:
        """Test on the Data panel's loaded data (and preview with its batch count)."""
        self._dataset = dataset
        self._update_preview()

    def start_test(self) -> bool:
        """Start the range test, as Run does; False (with the reason shown) if refused."""
        if self.running or self._document is None:
            return False
        if not self._document.is_backend_ready:
            self._show_status("Keras is still loading…", error=True)
            return False
        from workbench.training.lr_finder import RangeTestConfig, find_lr

        try:
            config = RangeTestConfig.from_dict({
                "start": self.start_field.value(), "end": self.end_field.value(),
                "iterations": self.iterations_field.value(), "mode": self.mode_field.currentText()})
            experiment = Experiment.from_dict(self._document.experiment.to_dict(),
                                              path=self._document.experiment.path)
        except WorkbenchError as error:
            self._show_status(f"Cannot run: {error}", error=True)
            return False
        dataset, weights = self._dataset, self._document.weights or None
        self._clear_curve()
        self.progress_bar.setRange(0, config.iterations)
        self.progress_bar.setValue(0)
        self._show_status("Running the range test…")
        self.run_button.setText("Stop")
        self._runner.start(lambda progress: find_lr(experiment, dataset, config, progress, weights))
        return True

    def stop(self) -> None:
        self._runner.cancel()

    def shutdown(self) -> None:
        if self.running:
            self._runner.wait(cancel=True)
            self._end_run()

    def cursor_rate(self) -> float:
        return 10 ** self.cursor.value()

    def set_cursor_rate(self, rate: float) -> None:
        self.cursor.setValue(math.log10(rate))

    def use_cursor_rate(self) -> None:
        """Write the cursor's rate into the training section (undoable)."""
        if self._document is None:
            return
        rate = float(f"{self.cursor_rate():.3g}")
        training = copy.deepcopy(self._document.experiment.training)
        training.setdefault("optimizer", {"name": "adam"})["learning_rate"] = rate
        self._document.push(SetSectionCommand(self._document, "training", training, key="learning_rate"))
        self._show_status(f"Learning rate set to {rate:g} (Edit > Undo takes it back)")

    # ------------------------------------------------------------------- UI
    def _build_ui(self) -> None:
        layout = QVBoxLayout(self)
        layout.addWidget(self._build_finder(), 3)
        layout.addWidget(self._build_schedule_editor(), 2)

    def _build_finder(self) -> QGroupBox:
        box = QGroupBox("LR range test")
        column = QVBoxLayout(box)
        row = QHBoxLayout()
        self.start_field = self._rate_field("lrStart", 1e-7)
        self.end_field = self._rate_field("lrEnd", 10.0)
        self.iterations_field = QSpinBox()
        self.iterations_field.setObjectName("lrIterations")
        self.iterations_field.setRange(5, 100_000)
        self.iterations_field.setValue(100)
        self.mode_field = ScrollSafeComboBox()
        self.mode_field.setObjectName("lrMode")
        self.mode_field.addItems(["exponential", "linear"])
        for label, field in (("from", self.start_field), ("to", self.end_field),
                             ("batches", self.iterations_field), ("", self.mode_field)):
            if label:
                row.addWidget(QLabel(label))
            row.addWidget(field)
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("lrRunButton")
        self.run_button.setToolTip("Train briefly with a rising learning rate and record the loss; "
                                   "the model is put back as it was afterwards")
        self.run_button.clicked.connect(self._on_run_button_clicked)
        row.addWidget(self.run_button)
        row.addStretch(1)
        column.addLayout(row)
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("lrProgress")
        self.progress_bar.setTextVisible(True)
        self.status = QLabel("Run the test to see which learning rates train this model.")
        self.status.setObjectName("lrStatus")
        self.status.setWordWrap(False)
        column.addWidget(self.progress_bar)
        column.addWidget(self.status)
        body = QHBoxLayout()
        self.plot = pg.PlotWidget(background=self.palette().color(self.backgroundRole()).lighter(104))
        self.plot.setObjectName("lrFinderPlot")
        self.plot.setMinimumSize(300, 180)
        item = self.plot.getPlotItem()
        item.setLogMode(x=True, y=False)
        item.setLabel("bottom", "learning rate")
        item.setLabel("left", "loss")
        item.showGrid(x=True, y=True, alpha=0.15)
        self.raw_curve = item.plot(pen=pg.mkPen(QColor(31, 119, 180, 80), width=1))
        self.smooth_curve = item.plot(pen=pg.mkPen("#1f77b4", width=2))
        self.markers = pg.ScatterPlotItem(size=11)
        item.addItem(self.markers)
        self.cursor = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen("#ff7f0e", width=2),
                                      label="{value}", labelOpts={"position": 0.95})
        self.cursor.setValue(-3)
        self.cursor.sigPositionChanged.connect(self._on_cursor_position_changed)
        item.addItem(self.cursor)
        body.addWidget(self.plot, 3)
        side = QVBoxLayout()
        side.addWidget(QLabel("Suggestions (click to move the cursor):"))
        self.suggestions = QListWidget()
        self.suggestions.setObjectName("lrSuggestions")
        self.suggestions.itemClicked.connect(self._on_suggestions_item_clicked)
        self.suggestions.setMaximumHeight(110)
        side.addWidget(self.suggestions, 1)
        self.use_button = QPushButton("Use this rate")
        self.use_button.setObjectName("useRateButton")
        self.use_button.setToolTip("Write the cursor's rate into the training settings (undoable)")
        self.use_button.clicked.connect(self.use_cursor_rate)
        side.addWidget(self.use_button)
        side.addStretch(1)
        body.addLayout(side, 1)
        column.addLayout(body, 1)
        self._on_cursor_position_changed()
        return box

    def _rate_field(self, name: str, value: float) -> RateField:
        field = RateField(value)
        field.setObjectName(name)
        return field

    def _build_schedule_editor(self) -> QGroupBox:
        box = QGroupBox("Learning-rate schedule")
        row = QHBoxLayout(box)
        settings = QVBoxLayout()
        self.schedule_field = ScrollSafeComboBox()
        self.schedule_field.setObjectName("scheduleName")
        for name, (label, _) in schedules.SCHEDULES.items():
            self.schedule_field.addItem(label, name)
        self.schedule_field.currentIndexChanged.connect(self._on_schedule_field_changed)
        settings.addWidget(self.schedule_field)
        self.params_box = QWidget()
        self.params_form = QFormLayout(self.params_box)
        self.params_form.setContentsMargins(0, 0, 0, 0)
        settings.addWidget(self.params_box)
        self.apply_button = QPushButton("Apply schedule")
        self.apply_button.setObjectName("applyScheduleButton")
        self.apply_button.setToolTip("Write this schedule into the training settings (undoable)")
        self.apply_button.clicked.connect(self._on_apply_button_clicked)
        settings.addWidget(self.apply_button)
        self.schedule_note = QLabel()
        self.schedule_note.setWordWrap(False)
        settings.addWidget(self.schedule_note)
        settings.addStretch(1)
        row.addLayout(settings, 1)
        self.preview = pg.PlotWidget(background=self.palette().color(self.backgroundRole()).lighter(104))
        self.preview.setObjectName("schedulePreview")
        self.preview.setMinimumSize(300, 130)
        preview = self.preview.getPlotItem()
        preview.getAxis("left").enableAutoSIPrefix(False)
        preview.setLabel("bottom", "epoch")
        preview.setLabel("left", "learning rate")
        preview.showGrid(x=True, y=True, alpha=0.15)
        self.preview_curve = preview.plot(pen=pg.mkPen("#2ca02c", width=2))
        row.addWidget(self.preview, 2)
        self._param_fields: dict[str, QWidget] = {}
        return box

    # ------------------------------------------------------- range test run
    def _clear_curve(self) -> None:
        self._lrs, self._losses, self._smoothed = [], [], []
        self.raw_curve.setData([], [])
        self.smooth_curve.setData([], [])
        self.markers.setData([])
        self.suggestions.clear()

    def _on_run_button_clicked(self) -> None:
        if self.running:
            self.stop()
        else:
            self.start_test()

    def _on_runner_stepped(self, done: float, total, message: str) -> None:
        if total:
            self.progress_bar.setRange(0, int(total))
            self.progress_bar.setValue(int(done))
        if message:
            self.progress_bar.setFormat(message)

    def _on_runner_partials(self, partials: list) -> None:
        points = [p for p in partials if isinstance(p, dict) and p.get("kind") == "lr_find"]
        if not points:
            return
        for point in points:
            self._lrs.append(point["lr"])
            self._losses.append(point["loss"] if math.isfinite(point["loss"]) else math.nan)
            self._smoothed.append(point["smoothed"] if math.isfinite(point["smoothed"]) else math.nan)
        self._draw_curve()

    def _draw_curve(self) -> None:
        lrs = np.asarray(self._lrs)
        smoothed = np.asarray(self._smoothed)
        self.raw_curve.setData(lrs, np.asarray(self._losses))
        self.smooth_curve.setData(lrs, smoothed)
        finite = smoothed[np.isfinite(smoothed)]
        if len(finite) > 1:  # the divergence at the end would flatten the useful part
            low, first = float(finite.min()), float(finite[0])
            top = max(first, low) * 1.3 if low > 0 else float(finite.max())
            self.plot.getPlotItem().setYRange(low - 0.05 * abs(low), top, padding=0)

    def _on_runner_finished(self, result) -> None:
        self._end_run()
        self.result = result
        self.progress_bar.setFormat(f"{result.batches} batches in {result.seconds:.1f}s")
        self._lrs, self._losses, self._smoothed = (list(result.lrs), list(result.losses),
                                                   list(result.smoothed))
        self._draw_curve()
        self._show_suggestions(result)
        stopped = f" Stopped: {result.stopped}." if result.stopped else ""
        if result.suggestions:
            self._show_status(f"Done: {result.batches} batches.{stopped} The model is as it was. "
                              "Drag the orange line or click a suggestion, then Use this rate.")
        else:
            self._show_status(f"The loss did not fall over this range.{stopped} Try a wider range.",
                              error=True)
        self.test_finished.emit(result)

    def _on_runner_failed(self, message: str) -> None:
        self._end_run()
        self._show_status(f"The range test failed: {message}", error=True)
        self.test_finished.emit(None)

    def _end_run(self) -> None:
        self.run_button.setText("Run")

    def _show_suggestions(self, result) -> None:
        self.suggestions.clear()
        spots = []
        for suggestion in result.suggestions:
            color = _MARKER_COLORS.get(suggestion.method, "#000000")
            item = QListWidgetItem(f"{suggestion.lr:.2e}  {suggestion.label}")
            item.setData(Qt.ItemDataRole.UserRole, suggestion.lr)
            item.setForeground(QColor(color))
            self.suggestions.addItem(item)
            y = result.smoothed[suggestion.index]
            if math.isfinite(y):
                spots.append({"pos": (math.log10(suggestion.lr), y), "brush": pg.mkBrush(color),
                              "pen": pg.mkPen("w"), "symbol": "t" if suggestion.method == "edge" else "o",
                              "data": suggestion.method})
        self.markers.setData(spots)
        preferred = result.suggestion("valley") or result.suggestion("minimum")
        if preferred is not None:
            self.set_cursor_rate(preferred.lr)

    def _on_suggestions_item_clicked(self, item: QListWidgetItem) -> None:
        self.set_cursor_rate(float(item.data(Qt.ItemDataRole.UserRole)))

    def _on_cursor_position_changed(self) -> None:
        rate = self.cursor_rate()
        self.cursor.label.setFormat(f"{rate:.2e}")
        self.use_button.setText(f"Use {rate:.2e}")

    def _show_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #c0392b;" if error else "")

    # ------------------------------------------------------- schedule editor
    def _training(self) -> dict:
        return self._document.experiment.training if self._document is not None else {}

    def _load_schedule(self) -> None:
        spec = schedules.with_defaults(self._training().get("schedule"))
        index = self.schedule_field.findData(spec["name"])
        self.schedule_field.blockSignals(True)
        self.schedule_field.setCurrentIndex(max(0, index))
        self.schedule_field.blockSignals(False)
        self._build_param_fields(spec)
        self._update_preview()

    def _build_param_fields(self, spec: dict) -> None:
        while self.params_form.rowCount():
            self.params_form.removeRow(0)
        self._param_fields = {}
        for param in schedules.params_of(spec["name"]):
            if param.choices:
                field = ScrollSafeComboBox()
                field.addItems(list(param.choices))
                field.setCurrentText(str(spec[param.key]))
                field.currentTextChanged.connect(self._update_preview)
            elif param.whole:
                field = QSpinBox()
                field.setRange(int(param.minimum or 0), 10_000)
                field.setValue(int(spec[param.key]))
                field.valueChanged.connect(self._update_preview)
            else:
                field = QDoubleSpinBox()
                field.setDecimals(5)
                field.setRange(param.minimum if param.minimum is not None else 0.0,
                               param.maximum if param.maximum is not None else 1e6)
                field.setSingleStep(0.05 if (param.maximum or 10) <= 1 else 1.0)
                field.setValue(float(spec[param.key]))
                field.valueChanged.connect(self._update_preview)
            field.setObjectName(f"schedule_{param.key}")
            field.setToolTip(param.help)
            self._param_fields[param.key] = field
            self.params_form.addRow(param.key.replace("_", " "), field)

    def edited_schedule(self) -> dict:
        """The schedule as the editor shows it."""
        spec = {"name": self.schedule_field.currentData()}
        for key, field in self._param_fields.items():
            if isinstance(field, ScrollSafeComboBox):
                spec[key] = field.currentText()
            elif isinstance(field, QSpinBox):
                spec[key] = field.value()
            else:
                spec[key] = field.value()
        return spec

    def _on_schedule_field_changed(self) -> None:
        self._build_param_fields(schedules.with_defaults({"name": self.schedule_field.currentData()}))
        self._update_preview()

    def _steps_per_epoch(self) -> tuple[int, str]:
        batch = int(self._training().get("batch_size", 64))
        count = getattr(self._dataset, "train_count", None) if self._dataset is not None else None
        if count:
            return max(1, -(-count // batch)), f"{count:,} samples / batch {batch}"
        return 100, "100 batches per epoch assumed until the Data panel has loaded the data"

    def _update_preview(self) -> None:
        spec = self.edited_schedule()
        training = self._training()
        base = float(training.get("optimizer", {}).get("learning_rate", 0.001))
        epochs = int(training.get("epochs", 10))
        steps, source = self._steps_per_epoch()
        try:
            schedules.check_schedule(spec)
            rates = schedules.learning_rates(spec, base, steps, epochs)
        except (WorkbenchError, ValueError) as error:
            self.schedule_note.setText(str(error))
            self.schedule_note.setStyleSheet("color: #c0392b;")
            self.apply_button.setEnabled(False)
            return
        x = np.arange(len(rates)) / steps
        self.preview_curve.setData(x, rates)
        # From zero: a constant rate is a line at its height, not the middle of an empty plot.
        self.preview_curve.getViewBox().setYRange(0, float(rates.max()) * 1.08 or 1.0, padding=0)
        current = schedules.with_defaults(training.get("schedule"))
        applied = current == schedules.with_defaults(spec)
        self.apply_button.setEnabled(not applied)
        self.schedule_note.setStyleSheet("")
        self.schedule_note.setText(
            f"{len(rates):,} batches{'' if self._dataset is not None else ' (100 per epoch assumed)'} · "
            f"{epochs} epochs · peak {rates.max():.3g} · last {rates[-1]:.3g}"
            + (" · applied" if applied else ""))
        self.schedule_note.setToolTip(f"Batches per epoch: {source}")

    def _on_apply_button_clicked(self) -> None:
        if self._document is None:
            return
        spec = self.edited_schedule()
        training = copy.deepcopy(self._training())
        if spec["name"] == "constant":
            training.pop("schedule", None)
        else:
            training["schedule"] = spec
            if training.get("reduce_lr"):
                training.pop("reduce_lr")  # a schedule overrules it: see TrainingConfig.check
                self._show_status("ReduceLROnPlateau was turned off: the schedule sets every batch's rate")
        self._document.push(SetSectionCommand(self._document, "training", training, key="schedule"))

    def _on_document_section_changed(self, name: str) -> None:
        if name == "training":
            self._load_schedule()
        elif name == "data":
            self._dataset = None
            self._update_preview()
