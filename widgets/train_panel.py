"""The Train panel: training settings on the left, a live run on the right.

The settings edit the experiment's "training" section through undoable
``SetSectionCommand``s only; a value is vetted by ``TrainingConfig`` before it is pushed, and
a refused one stays in its field with the reason in red under it. The panel keeps no copy of
the section: ``Document.section_changed`` (an edit, an undo) puts the values back in the
fields.

Train runs a ``TrainingSession`` on a frozen copy of the experiment in a ``TaskRunner``. The
session reports every batch; the runner hands them over at the plots' pace (10 times a
second at most, down to every 2 s when drawing costs the GUI thread more than its budget, see
``GuiBudget``), and each delivery appends the whole list of reports to growing NumPy arrays
and redraws the batch curves. Curves are made once and given their data with one ``setData``
each, downsampled and clipped to the view, so a run of 100k batches costs the GUI about the
same per frame as one of a hundred.
"""

from __future__ import annotations

import copy
import html
import math
import re
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QColor, QFontDatabase, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from widgets.axes import WholeNumberAxis
from widgets.commands import SetSectionCommand
from widgets.document import Document
from widgets.form_fields import ScrollSafeComboBox, ScrollSafeSpinBox
from widgets.generated_view import KINDS as GENERATED_KINDS
from widgets.generated_view import GeneratedView
from widgets.inspector import ERROR_COLOR
from widgets.live_range import LiveYRange
from widgets.tasks import DrawQueue, GuiBudget, Pacer, QtProgress, TaskRunner
from workbench.errors import FormatError, WorkbenchError
from workbench.experiment import Experiment
from workbench.training.config import LOSSES, METRICS, OPTIMIZERS, TrainingConfig

SMOOTHING_BETA = 0.98
LOG_BLOCKS = 2000
_SETTINGS_WIDTH = 300
# Batch curves are redrawn at most this often. Drawing the plots is most of what a live run
# costs the GUI thread, and the training waits for that thread: benchmarks/train_overhead.py
# measures the trade (10 redraws a second look just as live).
# When redrawing costs the GUI thread more than its budget, the plots slow down. The budget is
# a share of one core whatever the machine's size: the GUI thread's work delays the training
# thread (it holds the GIL) and the thread pool's op that waits for the core it took, so a
# millisecond of it costs training about a millisecond (benchmarks/background_cost.py measures
# it; on 2 cores, where training keeps only one of them busy).
# Never slower than every 2 s, though: the run must still look live (a 2-core machine
# training the digits CNN settles there, its GUI thread at ~1.2% of a core, half of it
# repainting the plots and the bar).
PLOT_INTERVAL_S = 0.1
SLOWEST_PLOT_INTERVAL_S = 2.0
GUI_BUDGET_OF_CORE = 0.012
# Per-epoch curves are redrawn at most this often, and at half the batch curves' pace: the
# epoch plot is the dearest to redraw (~5 ms), and a small model ends several epochs a second.
# So is a constant learning rate, a flat line that only grows (a changed rate shows at once).
SLOW_PLOT_INTERVAL_S = 1.0
_RATE_WINDOW_S = 3.0  # samples/s over the last few seconds: responsive, yet not jumpy
_INT_MAX = 2**31 - 1
# One colour per metric: a metric's training and validation curves share it.
_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#bcbd22", "#7f7f7f")
_OPTIMIZER_OPTIONS_KEPT = ("learning_rate", "clipnorm", "clipvalue", "global_clipnorm")

IDLE, RUNNING, PAUSED, STOPPING = "idle", "running", "paused", "stopping"


class GrowingArray:
    """A float array that grows by amortized doubling; ``view`` is the filled part.

    Plots get views of one buffer instead of a list rebuilt into an array each frame, so
    appending stays cheap at any length.
    """

    def __init__(self, capacity: int = 1024):
        self._data = np.empty(capacity, dtype=float)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def extend(self, values) -> None:
        values = np.asarray(values, dtype=float)
        end = self._size + len(values)
        if end > len(self._data):
            grown = np.empty(max(end, 2 * len(self._data)), dtype=float)
            grown[:self._size] = self._data[:self._size]
            self._data = grown
        self._data[self._size:end] = values
        self._size = end

    def clear(self) -> None:
        self._size = 0

    @property
    def view(self) -> np.ndarray:
        return self._data[:self._size]


class Smoother:
    """Exponential moving average with bias correction, as fast.ai and TensorBoard draw it.

    The correction (divide by 1 - beta^n) keeps the first points from starting at zero.
    Non-finite values are skipped so one NaN does not poison the rest of the curve.
    """

    def __init__(self, beta: float = SMOOTHING_BETA):
        self.beta = beta
        self.average = 0.0
        self.count = 0

    def add(self, values) -> np.ndarray:
        out = np.empty(len(values), dtype=float)
        beta = self.beta
        for i, value in enumerate(values):
            if math.isfinite(value):
                self.average = beta * self.average + (1 - beta) * value
                self.count += 1
            out[i] = self.average / (1 - beta ** self.count) if self.count else math.nan
        return out


# ----------------------------------------------------------------- small editors
class _SpinBox(ScrollSafeSpinBox):
    """A spin box that commits on Return, focus-out and arrow steps (not every keystroke) and
    leaves wheel events to the scroll area unless it has focus."""

    def __init__(self, minimum: int, maximum: int = _INT_MAX):
        super().__init__()
        self.setRange(minimum, maximum)
        self.setKeyboardTracking(False)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)


_ComboBox = ScrollSafeComboBox


def format_number(value: Any) -> str:
    """A number as a field shows it: ``0.001``, ``1e-05``, ``1000000``; None as empty."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:.10g}"


def parse_number(text: str, what: str, minimum: float | None = None, maximum: float | None = None,
                 above: float | None = None) -> float:
    """Read a number typed in a field ("1e-3" notation welcome).

    Raises:
        ValueError: not a number, or out of range; the message is for people.
    """
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"{what} must be a number such as 0.001 or 1e-3 (got {text.strip()!r})") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number")
    if above is not None and not value > above:
        raise ValueError(f"{what} must be > {format_number(above)} (got {format_number(value)})")
    if minimum is not None and value < minimum:
        raise ValueError(f"{what} must be >= {format_number(minimum)} (got {format_number(value)})")
    if maximum is not None and value > maximum:
        raise ValueError(f"{what} must be <= {format_number(maximum)} (got {format_number(value)})")
    return value


def parse_metrics(text: str) -> list[str]:
    """Metric names from "accuracy, auc" (commas or spaces between names)."""
    return [name for name in re.split(r"[,\s]+", text.strip()) if name]


def format_duration(seconds: float) -> str:
    """``0m12s``, ``3m05s``, ``1h02m``: short and of constant shape, for progress lines."""
    seconds = max(0, int(round(seconds)))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


class TrainPanel(QWidget):
    """Training settings, Train/Pause/Stop, live plots, progress and a log of the run.

    Args:
        document: the document whose experiment is trained; ``set_document`` switches.
        runs_dir: the run store's folder: every run gets a sub-folder there.
        parent: the owning widget.

    Signals:
        run_finished(TrainingResult): a run ended (finished, stopped or failed).
    """

    run_finished = Signal(object)

    def __init__(self, document: Document, runs_dir: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("trainPanel")
        self.runs_dir = Path(runs_dir)
        self._document: Document | None = None
        self._dataset = None
        self._session = None
        self._state = IDLE
        self._devices_known = False
        self.last_result = None
        self._messages: dict[str, QLabel] = {}
        # The first run starts at a redraw a second, not at the fastest: on a small machine ten
        # redraws a second cost training several per cent until the budget has measured them.
        self._budget = GuiBudget(fastest=PLOT_INTERVAL_S, slowest=SLOWEST_PLOT_INTERVAL_S,
                                 budget=GUI_BUDGET_OF_CORE, start=SLOW_PLOT_INTERVAL_S)
        # The batch curves are drawn as each delivery of reports comes: the runner delivers
        # once per plot interval, and that paces them. A Pacer of the same period fell out of
        # step with the deliveries and drew each one up to an interval late.
        self._plot_interval = PLOT_INTERVAL_S
        self._epoch_pacer = Pacer(self._draw_epochs_when_visible, SLOW_PLOT_INTERVAL_S, self)
        self._lr_pacer = Pacer(self._queue_lr_draw, SLOW_PLOT_INTERVAL_S, self)
        self._draws = DrawQueue(self)  # each plot repaints in its own pass of the event loop
        # keras_work: Python's collector stays on the GUI thread while the run trains, and
        # collects as each delivery comes (GuiThreadGarbage): no timer of its own to wake for.
        self._runner = TaskRunner(self, keras_work=True)
        self._runner.stepped.connect(self._on_runner_stepped)
        self._runner.partials.connect(self._on_runner_partials)
        self._runner.finished.connect(self._on_runner_finished)
        self._runner.failed.connect(self._on_runner_failed)
        self._build_ui()
        self._reset_run_data()
        self.set_document(document)
        self._set_state(IDLE)

    # ------------------------------------------------------------------ API
    @property
    def document(self) -> Document | None:
        return self._document

    @property
    def state(self) -> str:
        """"idle", "running", "paused" or "stopping"."""
        return self._state

    @property
    def running(self) -> bool:
        return self._runner.running

    @property
    def plot_interval(self) -> float:
        """Seconds between redraws of the batch curves now (see ``GuiBudget``)."""
        return self._plot_interval

    @property
    def batch_count(self) -> int:
        """Batches of the current (or last) run received so far."""
        return len(self._steps)

    @property
    def epoch_count(self) -> int:
        return len(self._epoch_x)

    def set_document(self, document: Document | None) -> None:
        """Follow another document (New, Open, Import), letting go of the old one.

        A run in progress goes on: it trains a copy of the experiment it started with.
        """
        old = self._document
        if old is not None:
            try:
                old.section_changed.disconnect(self._on_document_section_changed)
                old.validated.disconnect(self._on_document_validated)
            except (RuntimeError, TypeError):  # the old document is already destroyed
                pass
        self._document = document
        self._dataset = None  # it was loaded for the old document's data section
        if document is not None:
            document.section_changed.connect(self._on_document_section_changed)
            document.validated.connect(self._on_document_validated)
            if document.is_backend_ready:
                self._load_devices()
        self._refresh()

    def set_dataset(self, dataset) -> None:
        """Train on ``dataset`` (the Data panel's, already loaded) instead of loading it again.

        It is dropped when the data section changes, so a run never trains on stale data.
        """
        self._dataset = dataset
        description = getattr(dataset, "description", None)
        if dataset is not None and description:
            self._log(f"data: {description}")

    def start_training(self) -> bool:
        """Start a run, as the Train button does; False (with the reason shown) if refused."""
        if self._runner.running:
            return False
        problem = self._start_problem()
        if problem is not None:
            self._show_status(f"Cannot train: {problem}", error=True)
            self._log(f"not started: {problem}")
            return False
        from workbench.runs import RunStore
        from workbench.training.session import TrainingSession

        document = self._document
        try:
            # A frozen copy: edits made while it trains change the next run, not this one.
            experiment = Experiment.from_dict(document.experiment.to_dict(),
                                              path=document.experiment.path)
            session = TrainingSession(experiment, dataset=self._dataset,
                                      store=RunStore(self.runs_dir),
                                      weights=document.weights or None)
        except WorkbenchError as error:
            self._show_status(f"Cannot train: {error}", error=True)
            self._log(f"not started: {error}")
            return False
        self._session = session
        self._reset_run_data()
        config = session.config
        self._epochs_planned = config.epochs
        self._run_batch_size = config.batch_size
        self._train_samples = _train_samples(self._dataset)
        self._started = time.monotonic()
        name = OPTIMIZERS[config.optimizer.get("name", "adam").lower()][0]
        self._log(f"started {experiment.name}: {config.epochs} epochs · batch {config.batch_size} · "
                  f"{name} lr {format_number(config.learning_rate)}"
                  + ("" if self._dataset is None else " · data from the Data panel"))
        self._show_status("Starting: building the model and loading the data…")
        self.progress_bar.setRange(0, 0)  # busy until the first batch says how far it is
        self._set_state(RUNNING)
        self._budget.restart()
        self._pace(PLOT_INTERVAL_S)
        self._runner.start(lambda progress: _train(session, progress))
        return True

    def pause(self) -> None:
        if self._session is not None and self._state == RUNNING:
            self._session.pause()
            self._set_state(PAUSED)
            # Nothing is drawn while paused: the batch in flight is shown at once, not at the
            # pace a busy run had slowed the updates to.
            self._budget.restart()
            self._pace(PLOT_INTERVAL_S)
            self._draw_batches()
            self._show_status(f"Paused at epoch {self._epoch_now + 1}, batch {self._batch_now + 1}"
                              if self._steps else "Paused")

    def resume(self) -> None:
        if self._session is not None and self._state == PAUSED:
            self._session.resume()
            self._rate_marks.clear()  # a pause is not slow training
            self._set_state(RUNNING)
            self._show_status("Resumed")

    def stop(self) -> None:
        """Ask the run to stop after the current batch; the model trained so far is kept."""
        if self._session is not None and self._state in (RUNNING, PAUSED):
            self._session.stop()
            self._set_state(STOPPING)
            self._show_status("Stopping after this batch…")

    def shutdown(self) -> None:
        """Stop a running session and wait for its thread (the window is closing)."""
        if self._session is not None:
            self._session.stop()
        self._runner.wait(cancel=True)

    # ------------------------------------------------------------- building
    def _build_ui(self) -> None:
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setObjectName("trainSplitter")
        splitter.setChildrenCollapsible(False)
        outer = QHBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(splitter)

        scroll = QScrollArea()
        scroll.setObjectName("trainSettings")
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(240)
        settings = QWidget()
        scroll.setWidget(settings)
        column = QVBoxLayout(settings)
        column.setContentsMargins(8, 8, 8, 8)
        self._section_error = QLabel()
        self._section_error.setObjectName("trainingSectionError")
        self._section_error.setWordWrap(True)
        self._section_error.setStyleSheet(f"color: {ERROR_COLOR};")
        self._section_error.hide()
        column.addWidget(self._section_error)
        column.addWidget(self._build_optimizer_group())
        column.addWidget(self._build_objective_group())
        column.addWidget(self._build_run_group())
        column.addWidget(self._build_callbacks_group())
        column.addStretch(1)
        splitter.addWidget(scroll)

        right = QWidget()
        layout = QVBoxLayout(right)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(self._build_controls())
        self.status_label = QLabel()
        self.status_label.setObjectName("trainStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status_label)
        vertical = QSplitter(Qt.Orientation.Vertical)
        vertical.setChildrenCollapsible(False)
        vertical.addWidget(self._build_plots())
        self.generated_view = GeneratedView()  # reconstructions, GAN samples, latent space
        vertical.addWidget(self.generated_view)
        self.log_view = QPlainTextEdit()
        self.log_view.setObjectName("trainLog")
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(LOG_BLOCKS)
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.log_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.log_view.setMinimumHeight(70)
        vertical.addWidget(self.log_view)
        vertical.setStretchFactor(0, 3)
        vertical.setStretchFactor(1, 2)
        vertical.setStretchFactor(2, 1)
        layout.addWidget(vertical, 1)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([_SETTINGS_WIDTH, 700])

    def _field(self, key: str, editor: QWidget, extra: QWidget | None = None) -> QWidget:
        """The editor (and an optional companion) with a red message line under them."""
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        if extra is None:
            layout.addWidget(editor)
        else:
            row = QHBoxLayout()
            row.setContentsMargins(0, 0, 0, 0)
            row.addWidget(editor)
            row.addWidget(extra)
            layout.addLayout(row)
        message = QLabel()
        message.setObjectName(f"{key}Message")
        message.setWordWrap(True)
        message.setStyleSheet(f"color: {ERROR_COLOR};")
        message.hide()
        layout.addWidget(message)
        self._messages[key] = message
        editor.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        return box

    @staticmethod
    def _form(title: str) -> tuple[QGroupBox, QFormLayout]:
        group = QGroupBox(title)
        form = QFormLayout(group)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        form.setVerticalSpacing(4)
        return group, form

    def _line(self, key: str, placeholder: str = "", tip: str = "") -> QLineEdit:
        line = QLineEdit()
        line.setObjectName(key)
        line.setPlaceholderText(placeholder)
        line.setToolTip(tip)
        line.editingFinished.connect(lambda key=key: self._on_field_edited(key))
        return line

    def _spin(self, key: str, minimum: int, tip: str = "") -> _SpinBox:
        spin = _SpinBox(minimum)
        spin.setObjectName(key)
        spin.setToolTip(tip)
        spin.valueChanged.connect(lambda _value, key=key: self._on_field_edited(key))
        return spin

    def _check(self, key: str, text: str, tip: str = "") -> QCheckBox:
        check = QCheckBox(text)
        check.setObjectName(key)
        check.setToolTip(tip)
        check.toggled.connect(lambda _on, key=key: self._on_field_edited(key))
        return check

    def _build_optimizer_group(self) -> QGroupBox:
        group, form = self._form("Optimizer")
        self._optimizer = _ComboBox()
        self._optimizer.setObjectName("optimizer")
        for key, (class_name, _options) in OPTIMIZERS.items():
            self._optimizer.addItem(class_name, key)
        self._optimizer.activated.connect(lambda _index: self._on_field_edited("optimizer"))
        form.addRow("Optimizer", self._field("optimizer", self._optimizer))
        self._learning_rate = self._line("learning_rate", "0.001",
                                         "Step size of the optimizer; 1e-3 notation works")
        form.addRow("Learning rate", self._field("learning_rate", self._learning_rate))
        self._momentum = self._line("momentum", "0", "Momentum (0 to 1); empty for Keras' default")
        self._nesterov = self._check("nesterov", "Nesterov", "Nesterov momentum (SGD)")
        self._momentum_row = self._field("momentum", self._momentum, self._nesterov)
        form.addRow("Momentum", self._momentum_row)
        self._weight_decay = self._line("weight_decay", "0.004", "Decoupled weight decay (AdamW)")
        self._weight_decay_row = self._field("weight_decay", self._weight_decay)
        form.addRow("Weight decay", self._weight_decay_row)
        self._clipnorm = self._line("clipnorm", "off",
                                    "Clip each gradient to this norm; empty for no clipping")
        form.addRow("Clip norm", self._field("clipnorm", self._clipnorm))
        self._optimizer_form = form
        return group

    def _build_objective_group(self) -> QGroupBox:
        group, form = self._form("Objective")
        self._loss = _ComboBox()
        self._loss.setObjectName("loss")
        self._loss.setEditable(True)
        self._loss.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self._loss.addItems(LOSSES)
        self._loss.setToolTip("A Keras loss name")
        self._loss.activated.connect(lambda _index: self._on_field_edited("loss"))
        self._loss.lineEdit().editingFinished.connect(lambda: self._on_field_edited("loss"))
        form.addRow("Loss", self._field("loss", self._loss))
        self._metrics = self._line("metrics", "accuracy",
                                   "Keras metric names separated by commas, e.g. "
                                   + ", ".join(METRICS))
        form.addRow("Metrics", self._field("metrics", self._metrics))
        return group

    def _build_run_group(self) -> QGroupBox:
        group, form = self._form("Run")
        self._epochs = self._spin("epochs", 0, "Passes over the training data")
        form.addRow("Epochs", self._field("epochs", self._epochs))
        self._batch_size = self._spin("batch_size", 0, "Samples per gradient step")
        form.addRow("Batch size", self._field("batch_size", self._batch_size))
        self._seed = self._spin("seed", -1, "Seeds Python, NumPy and the backend: the same seed "
                                "gives the same run; 'random' leaves them unseeded")
        self._seed.setSpecialValueText("random")
        form.addRow("Seed", self._field("seed", self._seed))
        self._device = _ComboBox()
        self._device.setObjectName("device")
        self._device.setToolTip("Where to train; 'auto' picks the first GPU when there is one")
        self._device.activated.connect(lambda _index: self._on_field_edited("device"))
        form.addRow("Device", self._field("device", self._device))
        self._distribution = _ComboBox()
        self._distribution.setObjectName("distribution")
        for key, label in (("none", "one device"), ("mirrored", "mirrored: every GPU here"),
                           ("multi-worker", "multi-worker (TF_CONFIG)")):
            self._distribution.addItem(label, key)
        self._distribution.setToolTip(
            "Train one model on several devices (TensorFlow distribution strategies). "
            "Multi-worker: run `workbench train EXPERIMENT` on every machine, each with its "
            "TF_CONFIG; the batch size is the global batch")
        self._distribution.activated.connect(lambda _index: self._on_field_edited("distribution"))
        self._distribution_note = QLabel()
        self._distribution_note.setObjectName("distributionNote")
        self._distribution_note.setWordWrap(True)
        self._distribution_note.setStyleSheet("color: #555;")
        form.addRow("Distribution", self._field("distribution", self._distribution))
        form.addRow(self._distribution_note)
        self._mixed_precision = self._check(
            "mixed_precision", "Mixed precision (float16)",
            "Compute in float16 with float32 variables: faster on recent GPUs")
        form.addRow(self._field("mixed_precision", self._mixed_precision))
        return group

    def _build_callbacks_group(self) -> QGroupBox:
        group, form = self._form("Callbacks")
        self._early_stopping = self._check("early_stopping", "Early stopping",
                                           "Stop when the validation loss stops improving, and "
                                           "restore the best weights")
        self._early_patience = self._spin("early_stopping_patience", 0,
                                          "Epochs without improvement before stopping")
        self._early_patience.setPrefix("patience ")
        form.addRow(self._field("early_stopping", self._early_stopping, self._early_patience))
        self._reduce_lr = self._check("reduce_lr", "Reduce LR on plateau",
                                      "Multiply the learning rate by the factor when the "
                                      "validation loss stops improving")
        form.addRow(self._field("reduce_lr", self._reduce_lr))
        self._reduce_factor = self._line("reduce_lr_factor", "0.5", "Factor (between 0 and 1)")
        self._reduce_patience = self._spin("reduce_lr_patience", 0,
                                           "Epochs without improvement before reducing")
        self._reduce_patience.setPrefix("patience ")
        form.addRow("Factor", self._field("reduce_lr_factor", self._reduce_factor,
                                          self._reduce_patience))
        self._checkpoint_best = self._check("checkpoint_best", "Keep best checkpoint",
                                            "Save the weights with the best validation loss "
                                            "in the run folder (best.keras)")
        form.addRow(self._field("checkpoint_best", self._checkpoint_best))
        return group

    def _build_controls(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.train_button = QPushButton("Train")
        self.train_button.setObjectName("trainButton")
        self.train_button.setToolTip("Train the model with these settings (a new run)")
        self.train_button.clicked.connect(self._on_train_button_clicked)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setObjectName("pauseButton")
        self.pause_button.clicked.connect(self._on_pause_button_clicked)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setToolTip("Stop after the current batch; the model trained so far is kept")
        self.stop_button.clicked.connect(self._on_stop_button_clicked)
        # Pause and Resume must not make the row jump.
        width = max(self.pause_button.sizeHint().width(),
                    self.pause_button.fontMetrics().horizontalAdvance("Resume") + 24)
        self.pause_button.setMinimumWidth(width)
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("trainProgress")
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFormat("")
        for widget in (self.train_button, self.pause_button, self.stop_button):
            row.addWidget(widget)
        row.addWidget(self.progress_bar, 1)
        return row

    def _plot(self, name: str, title: str, bottom: str, left: str,
              axis_items: dict | None = None) -> pg.PlotWidget:
        palette = self.palette()
        widget = pg.PlotWidget(background=palette.color(QPalette.ColorRole.Base), axisItems=axis_items)
        widget.setObjectName(name)
        widget.setMinimumSize(160, 110)
        item = widget.getPlotItem()
        text = palette.color(QPalette.ColorRole.WindowText)
        item.setTitle(title, color=text.name(), size="9pt")
        for axis in ("left", "bottom", "right"):
            item.getAxis(axis).setPen(pg.mkPen(_blend(text, palette.color(QPalette.ColorRole.Base))))
            item.getAxis(axis).setTextPen(pg.mkPen(text))
            # A loss reads 0.0004, not "4 (x0.0001)"; and a prefix that comes and goes as the
            # range moves re-lays the plot out (and repaints it whole) during a run.
            item.getAxis(axis).enableAutoSIPrefix(False)
        for axis in ("left", "right"):
            # Room for labels like "0.0001" from the start, and never less once the labels
            # needed more: a live plot is not laid out (and repainted whole) again each
            # time its tick labels get a digit longer or shorter.
            item.getAxis(axis).textWidth = widget.fontMetrics().horizontalAdvance("0.0001")
            item.getAxis(axis).setStyle(autoReduceTextSpace=False)
        item.setLabel("bottom", bottom)
        item.setLabel("left", left)
        # item.showGrid(x=True, y=True, alpha=0.15)
        item.setMenuEnabled(True)
        return widget

    def _curve(self, pen, **options) -> pg.PlotDataItem:
        """A batch curve: 100k+ points stay smooth, as only what is in view is drawn, at most
        ~2 points per pixel."""
        curve = pg.PlotDataItem(pen=pen, dynamicRangeLimit=None, **options)
        curve.setDownsampling(auto=True, method="peak")
        curve.setClipToView(True)
        return curve

    def _build_plots(self) -> QWidget:
        box = QWidget()
        grid = QGridLayout(box)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        self.loss_plot = self._plot("lossPlot", "Training loss per batch", "step", "loss")
        loss_item = self.loss_plot.getPlotItem()
        legend = loss_item.addLegend(offset=(-10, 10), labelTextSize="8pt")
        legend.setLabelTextColor(self.palette().color(QPalette.ColorRole.WindowText))
        self.raw_loss_curve = self._curve(pg.mkPen(QColor(31, 119, 180, 70), width=1), name="batch")
        self.smooth_loss_curve = self._curve(pg.mkPen("#1f77b4", width=2), name="smoothed")

        loss_item.addItem(self.raw_loss_curve)
        loss_item.addItem(self.smooth_loss_curve)
        self._loss_range = LiveYRange(loss_item.vb)

        self.epoch_plot = self._plot("epochPlot", "", "epoch", "loss",
                                     axis_items={"bottom": WholeNumberAxis("bottom")})
        epoch_item = self.epoch_plot.getPlotItem()
        epoch_item.setTitle(None)
        # Falling losses and rising accuracies leave no free corner for a legend inside the
        # plot, and Keras' metric names are long: the legend is two lines above it, one
        # colour per metric and a key for training and validation. It never widens the plot
        # (a long line is cut; the tooltip has it whole).
        self.epoch_legend = QLabel()
        self.epoch_legend.setObjectName("epochLegend")
        self.epoch_legend.setTextFormat(Qt.TextFormat.RichText)
        self.epoch_legend.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.epoch_legend.setAutoFillBackground(True)
        self.epoch_legend.setBackgroundRole(QPalette.ColorRole.Base)
        self.epoch_legend.setContentsMargins(4, 3, 4, 0)
        self.epoch_legend.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.epoch_legend.setFixedHeight(2 * self.epoch_legend.fontMetrics().lineSpacing() + 6)
        # Metrics (accuracy in [0, 1]) get their own axis on the right: on the loss axis they
        # would be squashed flat by a loss that starts at 2.3 or, for MSE, at 1000.
        self._metric_view = pg.ViewBox()
        epoch_item.showAxis("right")
        epoch_item.scene().addItem(self._metric_view)
        epoch_item.getAxis("right").linkToView(self._metric_view)
        epoch_item.getAxis("right").setLabel("metrics")
        self._metric_view.setXLink(epoch_item)
        epoch_item.vb.sigResized.connect(self._on_epoch_view_resized)
        self._epoch_loss_range = LiveYRange(epoch_item.vb)
        self._metric_range = LiveYRange(self._metric_view)
        self.epoch_curves: dict[str, pg.PlotDataItem] = {}

        self.lr_plot = self._plot("lrPlot", "Learning rate", "step", "lr",
                                  axis_items={"left": _LogLabelledAxis("left")})
        self.lr_curve = self._curve(pg.mkPen("#2ca02c", width=2))
        self.lr_plot.getPlotItem().addItem(self.lr_curve)
        self._lr_log = False

        epoch_box = QWidget()
        column = QVBoxLayout(epoch_box)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.epoch_legend)
        column.addWidget(self.epoch_plot, 1)
        grid.addWidget(self.loss_plot, 0, 0, 1, 2)
        grid.addWidget(epoch_box, 1, 0)
        grid.addWidget(self.lr_plot, 1, 1)
        # Room between the epoch plot's right axis title and the rate plot's left one: side
        # by side they read as one ("metrics lr").
        grid.setHorizontalSpacing(16)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 2)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 2)
        return box

    # -------------------------------------------------------- settings <-> fields
    def _training(self) -> dict:
        return self._document.experiment.training if self._document is not None else {}

    def _refresh(self) -> None:
        """Show the document's training section in the fields (after an edit, undo, open)."""
        for message in self._messages.values():
            message.hide()
        training = self._training()
        try:
            TrainingConfig.from_dict(training)
            self._section_error.hide()
        except FormatError as error:
            self._section_error.setText(f"The training section has a problem: {error}")
            self._section_error.show()
        optimizer = training.get("optimizer") if isinstance(training.get("optimizer"), dict) else {}
        name = str(optimizer.get("name", "adam")).lower()
        early = training.get("early_stopping")
        reduce = training.get("reduce_lr")
        seed = training.get("seed")
        editors = (self._optimizer, self._learning_rate, self._momentum, self._nesterov,
                   self._weight_decay, self._clipnorm, self._loss, self._metrics, self._epochs,
                   self._batch_size, self._seed, self._device, self._distribution,
                   self._mixed_precision,
                   self._early_stopping, self._early_patience, self._reduce_lr, self._reduce_factor,
                   self._reduce_patience, self._checkpoint_best)
        blockers = [QSignalBlocker(editor) for editor in editors]
        blockers.append(QSignalBlocker(self._loss.lineEdit()))
        index = self._optimizer.findData(name)
        if index < 0:  # an unknown name from a file: show it, the section error says why
            self._optimizer.addItem(name, name)
            index = self._optimizer.count() - 1
        self._optimizer.setCurrentIndex(index)
        self._learning_rate.setText(format_number(optimizer.get("learning_rate", 0.001)))
        self._momentum.setText(format_number(optimizer.get("momentum")))
        self._nesterov.setChecked(bool(optimizer.get("nesterov", False)))
        self._weight_decay.setText(format_number(optimizer.get("weight_decay")))
        self._clipnorm.setText(format_number(optimizer.get("clipnorm")))
        self._loss.setCurrentText(str(training.get("loss", "")))
        metrics = training.get("metrics", [])
        self._metrics.setText(", ".join(str(m) for m in metrics) if isinstance(metrics, list) else "")
        self._metrics.setCursorPosition(0)  # the first names, not the end of a long list
        self._epochs.setValue(_as_int(training.get("epochs"), 10))
        self._batch_size.setValue(_as_int(training.get("batch_size"), 64))
        self._seed.setValue(-1 if seed is None else _as_int(seed, 0))
        device = str(training.get("device", "auto"))
        if self._device.findData(device) < 0:
            self._device.addItem(device if device == "auto" or self._devices_known
                                 else device, device)
        self._device.setCurrentIndex(self._device.findData(device))
        distribution = training.get("distribution", "none")
        name = distribution.get("name") if isinstance(distribution, dict) else distribution
        if self._distribution.findData(name) < 0:  # unknown, from a file: the section error says why
            self._distribution.addItem(str(name), name)
        self._distribution.setCurrentIndex(self._distribution.findData(name))
        self._mixed_precision.setChecked(bool(training.get("mixed_precision", False)))
        self._early_stopping.setChecked(isinstance(early, dict))
        self._early_patience.setValue(_as_int((early or {}).get("patience"), 5))
        self._early_patience.setEnabled(isinstance(early, dict))
        self._reduce_lr.setChecked(isinstance(reduce, dict))
        self._reduce_factor.setText(format_number((reduce or {}).get("factor", 0.5)))
        self._reduce_patience.setValue(_as_int((reduce or {}).get("patience"), 3))
        self._reduce_factor.setEnabled(isinstance(reduce, dict))
        self._reduce_patience.setEnabled(isinstance(reduce, dict))
        self._checkpoint_best.setChecked(training.get("checkpoint_best", True) is not False)
        del blockers
        self._distribution_note.setText(self._distribution_text(training))
        self._distribution_note.setVisible(bool(self._distribution_note.text()))
        name = str(optimizer.get("name", "adam")).lower()
        options = OPTIMIZERS.get(name, ("", ()))[1]
        self._optimizer_form.setRowVisible(self._momentum_row, "momentum" in options)
        self._nesterov.setVisible("nesterov" in options)
        self._optimizer_form.setRowVisible(self._weight_decay_row, "weight_decay" in options)

    def _distribution_text(self, training: dict) -> str:
        """How a distributed run shares its batch (empty for one device)."""
        from workbench.errors import WorkbenchError
        from workbench.scale.distribution import (
            MIRRORED,
            parse_distribution,
            read_tf_config,
            scaling_note,
        )

        try:
            distribution = parse_distribution(training.get("distribution", "none"))
            config = TrainingConfig.from_dict(training)
        except FormatError:
            return ""
        if not distribution.distributed:
            return ""
        if distribution.name == MIRRORED:
            if distribution.devices:
                replicas = len(distribution.devices)
            elif self._devices_known:
                replicas = sum(1 for i in range(self._device.count())
                               if str(self._device.itemData(i)).startswith("gpu"))
                if replicas == 0:
                    return ("No GPU here: mirrored trains one copy on the CPU, as one device "
                            "would. List devices in the file (\"devices\": [\"/cpu:0\", "
                            "\"/cpu:1\"]) to try it, or use it on a machine with GPUs")
            else:
                return "Mirrored over every GPU of this machine (counted once TensorFlow has loaded)"
            return scaling_note(config, replicas)
        try:
            workers = read_tf_config().workers
        except WorkbenchError:
            return ("Multi-worker needs TF_CONFIG, which is not set here: save the experiment and "
                    "run `workbench train EXPERIMENT` on every machine, each with its TF_CONFIG "
                    "(see `workbench k8s`); Train in this window would fail")
        return f"{workers} worker(s) from TF_CONFIG: {scaling_note(config, workers)}"

    def _load_devices(self) -> None:
        """Fill the device list (needs Keras: only once the backend has loaded)."""
        if self._devices_known:
            return
        from workbench.backend import available_devices

        try:
            devices = available_devices()
        except Exception:  # a broken GPU driver must not break the panel: "auto" still works
            devices = ["cpu"]
        self._devices_known = True
        with QSignalBlocker(self._device):
            current = self._device.currentData()
            self._device.clear()
            self._device.addItem("auto", "auto")
            for device in devices:
                self._device.addItem(device, device)
            if current is not None and self._device.findData(current) < 0:
                self._device.addItem(f"{current} (not available)", current)
            self._device.setCurrentIndex(max(0, self._device.findData(current or "auto")))

    def _edited_section(self, key: str) -> dict:
        """The training section with the field ``key``'s value; ValueError for unreadable text."""
        training = copy.deepcopy(self._training())
        optimizer = training.get("optimizer")
        optimizer = dict(optimizer) if isinstance(optimizer, dict) else {"name": "adam"}
        if key == "optimizer":
            name = self._optimizer.currentData()
            allowed = set(_OPTIMIZER_OPTIONS_KEPT) | set(OPTIMIZERS.get(name, ("", ()))[1])
            # Options of the old optimizer that the new one does not take would be refused.
            optimizer = {"name": name, **{k: v for k, v in optimizer.items()
                                          if k in allowed and k != "name"}}
        elif key == "learning_rate":
            optimizer["learning_rate"] = parse_number(self._learning_rate.text(), "the learning rate",
                                                      above=0)
        elif key in ("momentum", "weight_decay", "clipnorm"):
            line = {"momentum": self._momentum, "weight_decay": self._weight_decay,
                    "clipnorm": self._clipnorm}[key]
            label = key.replace("_", " ")
            if not line.text().strip():
                optimizer.pop(key, None)
            elif key == "momentum":
                optimizer[key] = parse_number(line.text(), label, minimum=0, maximum=1)
            elif key == "clipnorm":
                optimizer[key] = parse_number(line.text(), label, above=0)
            else:
                optimizer[key] = parse_number(line.text(), label, minimum=0)
        elif key == "nesterov":
            if self._nesterov.isChecked():
                optimizer["nesterov"] = True
            else:
                optimizer.pop("nesterov", None)
        elif key == "loss":
            training["loss"] = self._loss.currentText().strip()
        elif key == "metrics":
            training["metrics"] = parse_metrics(self._metrics.text())
        elif key in ("epochs", "batch_size"):
            training[key] = self._epochs.value() if key == "epochs" else self._batch_size.value()
        elif key == "seed":
            training["seed"] = None if self._seed.value() < 0 else self._seed.value()
        elif key == "device":
            training["device"] = self._device.currentData() or "auto"
            if training["device"] == "auto":
                training.pop("device")
        elif key == "distribution":
            name = self._distribution.currentData() or "none"
            before = training.get("distribution")
            if name == "none":
                training.pop("distribution", None)
            elif isinstance(before, dict) and before.get("name") == name:
                pass  # the same strategy: keep its device list
            else:
                training["distribution"] = name
        elif key in ("mixed_precision", "checkpoint_best"):
            on = (self._mixed_precision if key == "mixed_precision" else self._checkpoint_best).isChecked()
            # Leave defaults out, as TrainingConfig.to_dict does, so files stay short.
            if on == (key == "checkpoint_best"):
                training.pop(key, None)
            else:
                training[key] = on
        elif key in ("early_stopping", "early_stopping_patience"):
            if self._early_stopping.isChecked():
                early = training.get("early_stopping")
                early = dict(early) if isinstance(early, dict) else {}
                early["patience"] = self._early_patience.value()
                training["early_stopping"] = early
            else:
                training.pop("early_stopping", None)
        elif key in ("reduce_lr", "reduce_lr_factor", "reduce_lr_patience"):
            if self._reduce_lr.isChecked():
                reduce = training.get("reduce_lr")
                reduce = dict(reduce) if isinstance(reduce, dict) else {}
                reduce["factor"] = parse_number(self._reduce_factor.text() or "0.5",
                                                "the factor", above=0, maximum=0.999999)
                reduce["patience"] = self._reduce_patience.value()
                training["reduce_lr"] = reduce
            else:
                training.pop("reduce_lr", None)
        training["optimizer"] = optimizer
        return training

    def _vet(self, training: dict, key: str) -> None:
        """Raise ``FormatError`` if the engine would refuse ``training``."""
        config = TrainingConfig.from_dict(training)
        if key in ("loss", "metrics") and self._document.is_backend_ready:
            config.check_keras_names()  # needs Keras; a typo is caught here, not at Train

    def _on_field_edited(self, key: str) -> None:
        if self._document is None:
            return
        message = self._messages[_message_key(key)]
        try:
            training = self._edited_section(key)
            if training == self._training():
                message.hide()
                return
            self._vet(training, key)
        except ValueError as error:
            self._show_field_message(message, str(error))
            return
        except FormatError as error:
            # The field's own problem reads best without its JSON path; another key's problem
            # (a bad value loaded from a file) needs the path to be found.
            own = error.where == _WHERE.get(_message_key(key), f"training.{key}")
            self._show_field_message(message, error.detail if own else str(error))
            return
        message.hide()
        # The key makes repeated steps of one spin box a single undo step.
        self._document.push(SetSectionCommand(self._document, "training", training, key=key))

    @staticmethod
    def _show_field_message(message: QLabel, text: str) -> None:
        message.setText(text[:1].upper() + text[1:])
        message.show()

    def _on_document_section_changed(self, name: str) -> None:
        if name == "training":
            self._refresh()
        elif name == "data":
            self._dataset = None  # loaded for the old data section

    def _on_document_validated(self, _report) -> None:
        if not self._devices_known:
            self._load_devices()
            self._refresh()

    # -------------------------------------------------------------- running
    def _start_problem(self) -> str | None:
        """Why a run cannot start now, or None."""
        document = self._document
        if document is None:
            return "no experiment is open"
        refused = next((key for key, message in self._messages.items() if not message.isHidden()), None)
        if refused is not None:
            # The run would train with the value before it: not what the field shows.
            return (f"the {refused.replace('_', ' ')} field shows a value that was not taken "
                    f"({self._messages[refused].text()}): correct it first")
        if not document.is_backend_ready or document.report is None:
            return "TensorFlow is still loading; try again in a moment"
        errors = document.report.errors()
        if errors:
            node, text = errors[0]
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            return (f"the model has an error{more}: " + (f"{node}: " if node else "") + text
                    + " — fix it on the canvas first")
        try:
            config = TrainingConfig.from_dict(document.experiment.training)
        except FormatError as error:
            return f"{error}"
        from workbench.training.compat import training_problem

        # With the Data panel's data at hand the mismatch is refused here, before any run;
        # without them the session checks once it has loaded them, still before a run folder.
        return training_problem(document.experiment.graph, config, self._dataset, document.report)

    def _set_state(self, state: str) -> None:
        self._state = state
        active = state in (RUNNING, PAUSED)
        self.train_button.setEnabled(state == IDLE)
        self.pause_button.setEnabled(active)
        self.pause_button.setText("Resume" if state == PAUSED else "Pause")
        self.pause_button.setToolTip("Continue training" if state == PAUSED
                                     else "Hold training after the current batch")
        self.stop_button.setEnabled(active)

    def _show_status(self, text: str, error: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet(f"color: {ERROR_COLOR};" if error else "")

    def _log(self, *lines: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        # One append for many lines (the epochs of a delivery): the log is laid out once.
        self.log_view.appendPlainText("\n".join(f"{stamp}  {line}" for line in lines))
        bar = self.log_view.verticalScrollBar()
        bar.setValue(bar.maximum())  # the newest line in view, even before the first layout

    def _reset_run_data(self) -> None:
        if hasattr(self, "generated_view"):
            self.generated_view.clear()
        self._steps = GrowingArray()
        self._raw_loss = GrowingArray()
        self._smooth_loss = GrowingArray()
        self._rates = GrowingArray()
        self._smoother = Smoother()
        self._epoch_x = GrowingArray(64)
        self._epoch_values: dict[str, GrowingArray] = {}
        self._epoch_colors: dict[str, int] = {"loss": 0}  # metric -> colour, by first appearance
        self._epoch_now = 0
        self._batch_now = 0
        self._epochs_planned = 0
        self._run_batch_size = 0
        self._train_samples: int | None = None
        self._rate_marks: deque[tuple[float, int]] = deque()
        self._steps_per_epoch: float | None = None
        self._started = time.monotonic()
        self._lr_log = False
        self._lr_min, self._lr_max = math.inf, -math.inf
        self._lr_constant: float | None = None
        self._x_extent: int | None = None
        self._batches_dirty = False
        self._epochs_dirty = False
        self._epoch_pacer.reset()
        self._lr_pacer.reset()
        self._deliveries = 0
        self._lr_drawn = math.nan  # the newest rate the learning-rate plot shows
        self._bar_at = -math.inf
        self._loss_low, self._loss_high = math.inf, -math.inf
        if hasattr(self, "lr_plot"):
            self._draws.clear()
            for live_range in (self._loss_range, self._epoch_loss_range, self._metric_range):
                live_range.reset()
            self.lr_plot.getPlotItem().setLogMode(False, False)
            for plot in (self.loss_plot, self.lr_plot, self.epoch_plot):
                plot.getPlotItem().enableAutoRange(x=True)
            for curve in (self.raw_loss_curve, self.smooth_loss_curve, self.lr_curve):
                curve.setData([], [])
            for name, curve in self.epoch_curves.items():
                (self._metric_view if _is_metric(name) else self.epoch_plot.getPlotItem()).removeItem(curve)
            self.epoch_curves = {}
        self._legend_entries: dict[str, str] = {}
        if hasattr(self, "epoch_legend"):
            self._show_legend()

    def _on_runner_stepped(self, done: float, total, message: str) -> None:
        if self._state == IDLE:
            return
        if message and (done == 0 or not message.startswith("epoch")) and self._state == RUNNING:
            # The engine's words for what it is doing ("loading digits", "training on cpu");
            # the per-batch lines go to the progress bar, with our own rate and time left.
            self._show_status(message[:1].upper() + message[1:])
        if not self._steps:  # building, loading data: a busy bar
            return
        now = time.monotonic()
        # The bar keeps the plots' pace (redrawing it is not free either). Reports come once per
        # interval, each a hair early or late: a full interval's wait would skip every other
        # one, and the bar would lag the log by two intervals.
        if total and now - self._bar_at < self.plot_interval / 2 and total == self._x_extent:
            return
        self._bar_at = now
        if total:
            self._steps_per_epoch = total / max(1, self._epochs_planned)
            if total != self._x_extent:
                self._set_x_extent(int(total))
        # The text first: setValue repaints the bar at once, and a text set after it would
        # paint it a second time.
        self.progress_bar.setFormat(self._progress_text(done, total))
        if total:
            self.progress_bar.setRange(0, int(total))
            self.progress_bar.setValue(int(done))

    def _set_x_extent(self, total_steps: int) -> None:
        """Fix the x axes to the whole run: the curves grow towards the end as the run
        progresses, and the axes need not be re-ticked every frame (a third of the cost of
        a frame with auto-ranging)."""
        self._x_extent = total_steps
        # Each plot re-ticks and repaints in a pass of its own (see DrawQueue).
        for plot in (self.loss_plot, self.lr_plot):
            self._draws.request(f"extent {plot.objectName()}", lambda plot=plot:
                                plot.getPlotItem().setXRange(0, total_steps, padding=0.02))
        self._draws.request("extent epochs", lambda: self.epoch_plot.getPlotItem().setXRange(
            1, max(2, self._epochs_planned), padding=0.05))

    def _progress_text(self, done: float, total) -> str:
        epoch = self._epoch_now + 1
        if total and self._steps_per_epoch:
            # This report's own epoch: the batch reports that move _epoch_now are handed over
            # just after it, and at a slow pace the bar would show the epoch of the last one.
            epoch = min(self._epochs_planned, max(1, math.ceil(done / self._steps_per_epoch)))
        parts = [f"epoch {epoch}/{self._epochs_planned}"]
        rate = self._steps_per_second()
        if self._state == PAUSED:
            parts.append("paused")
        elif rate:
            per_step = self._run_batch_size
            if self._train_samples and self._steps_per_epoch:
                per_step = self._train_samples / self._steps_per_epoch  # the last batch is short
            parts.append(f"{rate * per_step:,.0f} samples/s")
            if total:
                parts.append(f"{format_duration((total - done) / rate)} left")
        return " · ".join(parts)

    def _steps_per_second(self) -> float | None:
        if len(self._rate_marks) < 2:
            return None
        (t0, s0), (t1, s1) = self._rate_marks[0], self._rate_marks[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 and s1 > s0 else None

    def _pace(self, interval: float) -> None:
        """Redraw the plots every ``interval`` seconds, and take reports as often (delivering
        them costs the GUI thread too)."""
        self._plot_interval = interval
        self._epoch_pacer.interval = self._lr_pacer.interval = max(SLOW_PLOT_INTERVAL_S, 2 * interval)
        self._runner.set_interval(interval)

    def _on_runner_partials(self, partials: list) -> None:
        self._pace(self._budget.interval())
        self._deliveries += 1
        steps, losses, rates = [], [], []
        epochs, pictures = [], []
        for item in partials:
            kind = item.get("kind")
            if kind in GENERATED_KINDS:
                pictures.append(item)
            elif kind == "preview_failed":
                self._log(item.get("reason", "previews stopped"))
            elif kind == "batch":
                steps.append(item["step"])
                loss = item["logs"].get("loss", math.nan)
                losses.append(loss if math.isfinite(loss) else math.nan)
                rate = item.get("lr")
                rates.append(math.nan if rate is None else rate)
                self._epoch_now, self._batch_now = item["epoch"], item["batch"]
            elif kind == "epoch":
                epochs.append(item)
        if steps:
            self._add_batches(steps, losses, rates)
        if pictures:
            self.generated_view.show_previews(pictures)
        if epochs:
            self._log(*(self._add_epoch(item) for item in epochs))
            self._epochs_dirty = True
        if self._epochs_dirty:
            self._at_half_pace(self._epoch_pacer)

    def _at_half_pace(self, pacer: Pacer) -> None:
        """Ask ``pacer`` (per-epoch curves, a constant rate) to draw at half the batch curves'
        pace. Reports delivered over half a second apart draw it at every other delivery: a
        Pacer of twice their period falls out of step with them and draws each one late."""
        if 2 * self._plot_interval <= SLOW_PLOT_INTERVAL_S:
            pacer.request()
        elif self._deliveries % 2 == 0:
            pacer.run_now()

    def _add_batches(self, steps: list, losses: list, rates: list) -> None:
        now = time.monotonic()
        self._rate_marks.append((now, steps[-1]))
        while len(self._rate_marks) > 2 and now - self._rate_marks[1][0] > _RATE_WINDOW_S:
            self._rate_marks.popleft()
        self._steps.extend(steps)
        self._raw_loss.extend(losses)
        self._smooth_loss.extend(self._smoother.add(losses))
        self._rates.extend(rates)
        low, high = _finite_bounds([losses])
        self._loss_low, self._loss_high = min(self._loss_low, low), max(self._loss_high, high)
        for rate in rates:
            if rate > 0:  # NaN compares False
                self._lr_min, self._lr_max = min(self._lr_min, rate), max(self._lr_max, rate)
        self._batches_dirty = True
        self._draw_batches()

    def _draw_batches(self) -> None:
        """Queue the batch plots' redraws (one ``setData`` per curve)."""
        if not self._batches_dirty or not self.isVisible():
            return  # hidden (another tab in front): drawn when shown again
        self._batches_dirty = False
        self._draws.request("loss", self._draw_loss)
        if self._rates and self._rates.view[-1] == self._lr_drawn:
            self._at_half_pace(self._lr_pacer)  # a constant rate: its flat line only grows
        else:
            self._lr_pacer.run_now()  # a schedule or ReduceLROnPlateau moved it: show it now

    def _queue_lr_draw(self) -> None:
        if self.isVisible():
            self._draws.request("lr", self._draw_lr)

    def _draw_loss(self) -> None:
        x = self._steps.view
        # The smoothed curve is a running mean of the raw one: inside the raw one's bounds.
        self._loss_range.show(self._loss_low, self._loss_high)
        self.raw_loss_curve.setData(x, self._raw_loss.view)
        self.smooth_loss_curve.setData(x, self._smooth_loss.view)

    def _draw_lr(self) -> None:
        x = self._steps.view
        self._lr_drawn = self._rates.view[-1] if len(x) else math.nan
        # A log axis once the rate spans more than 10x (schedules, ReduceLROnPlateau): on a
        # linear one the small end of a cosine or a warm-up would be a flat line at zero.
        wanted = self._lr_max > 10 * self._lr_min
        if wanted != self._lr_log:
            self._lr_log = wanted
            self.lr_plot.getPlotItem().setLogMode(False, wanted)
        self.lr_curve.setData(x, self._rates.view)
        constant = self._lr_max if self._lr_max == self._lr_min else None
        if constant != self._lr_constant:
            self._lr_constant = constant
            item = self.lr_plot.getPlotItem()
            if constant is not None:
                # A constant rate would be auto-ranged to a sliver around it: show it from zero.
                item.setYRange(0, 1.5 * constant, padding=0)
            else:
                item.enableAutoRange(y=True)

    def _draw_epochs_when_visible(self) -> None:
        if self._epochs_dirty and self.isVisible():
            self._epochs_dirty = False
            self._draws.request("epochs", self._draw_epochs)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        """Back in front: draw what arrived while another tab was (a hidden panel draws
        nothing, so a run watched from elsewhere costs the GUI next to nothing)."""
        super().showEvent(event)
        self._draw_batches()
        self._draw_epochs_when_visible()

    def _draw_epochs(self) -> None:
        losses = [values.view for name, values in self._epoch_values.items() if not _is_metric(name)]
        metrics = [values.view for name, values in self._epoch_values.items() if _is_metric(name)]
        self._epoch_loss_range.show(*_finite_bounds(losses))
        self._metric_range.show(*_finite_bounds(metrics))
        for name, curve in self.epoch_curves.items():
            values = self._epoch_values[name].view
            if np.isfinite(values).any():
                curve.setData(self._epoch_x.view, values)
            else:  # all NaN (a diverged run): nothing to draw, and pyqtgraph would warn
                curve.setData([], [])

    def _add_epoch(self, item: dict) -> str:
        """Keep an epoch's values for the plots; returns its line for the log."""
        logs = {k: v for k, v in item.get("logs", {}).items() if k not in ("lr", "learning_rate")}
        # Keras sorts logs by name; people read loss first, then metrics, then validation.
        logs = dict(sorted(logs.items(), key=lambda kv: (kv[0].startswith("val_"),
                                                         "loss" not in kv[0], kv[0])))
        row = len(self._epoch_x)
        self._epoch_x.extend([item["epoch"] + 1])
        for name in logs:
            if name not in self._epoch_values:
                values = GrowingArray(64)
                values.extend([math.nan] * row)  # a metric that appears late lines up
                self._epoch_values[name] = values
                self._add_epoch_curve(name)
        for name, values in self._epoch_values.items():
            value = logs.get(name, math.nan)
            values.extend([value if math.isfinite(value) else math.nan])
        shown = " · ".join(f"{k} {_metric_text(v)}" for k, v in logs.items())
        rate = item.get("lr")
        return (f"epoch {item['epoch'] + 1}/{self._epochs_planned} · {shown}"
                + (f" · lr {rate:.4g}" if rate is not None else "")
                + f" · {item.get('seconds', 0.0):.1f}s")

    def _add_epoch_curve(self, name: str) -> None:
        base = name[4:] if name.startswith("val_") else name
        index = self._epoch_colors.setdefault(base, len(self._epoch_colors))
        color = QColor(_COLORS[index % len(_COLORS)])
        validation = name.startswith("val_")
        # Training solid with filled dots, validation dashed with hollow triangles: told
        # apart without colour too.
        style = Qt.PenStyle.DashLine if validation else Qt.PenStyle.SolidLine
        # One point per epoch: unlike the batch curves, nothing to clip or downsample.
        curve = pg.PlotDataItem(pen=pg.mkPen(color, width=2, style=style), dynamicRangeLimit=None,
                                symbol="t" if validation else "o", symbolSize=6,
                                symbolPen=pg.mkPen(color),
                                symbolBrush=None if validation else pg.mkBrush(color), antialias=True)
        if _is_metric(name):
            self._metric_view.addItem(curve)
        else:
            self.epoch_plot.getPlotItem().addItem(curve)
        self.epoch_curves[name] = curve
        if base not in self._legend_entries:
            self._legend_entries[base] = f'<span style="color:{color.name()}">● {html.escape(base)}</span>'
            self._show_legend()

    def _show_legend(self) -> None:
        names = "&nbsp;&nbsp; ".join(self._legend_entries.values()) or "Per epoch"
        key = "—●— training&nbsp;&nbsp;&nbsp; - -▽- - validation&nbsp;&nbsp;&nbsp; metrics on the right axis"
        self.epoch_legend.setText(f"{names}<br><small>{key}</small>")
        self.epoch_legend.setToolTip(", ".join(self.epoch_curves) or "")

    def _on_epoch_view_resized(self) -> None:
        item = self.epoch_plot.getPlotItem()
        self._metric_view.setGeometry(item.vb.sceneBoundingRect())
        self._metric_view.linkedViewChanged(item.vb, self._metric_view.XAxis)

    def _on_runner_finished(self, result) -> None:
        self._finish(result)

    def _on_runner_failed(self, message: str) -> None:
        # The session never raises for a training problem; this is a bug or a missing package.
        from workbench.training.session import TrainingResult

        self._finish(TrainingResult("failed", message))

    def _finish(self, result) -> None:
        # The last batches and epochs, without waiting for the redraw intervals.
        self._draw_batches()
        self._lr_pacer.run_now()
        self._epoch_pacer.run_now()
        self._draws.flush()
        self._session = None
        self._set_state(IDLE)
        self.last_result = result
        elapsed = format_duration(time.monotonic() - self._started)
        epochs = _epochs_text(len(self._epoch_x))
        final = {k: v for k, v in (result.final_metrics or {}).items() if k != "lr"}
        key = next((k for k in ("val_accuracy", "accuracy", "val_loss", "loss") if k in final), None)
        summary = f"{key} {_metric_text(final[key])}" if key else ""
        if result.status == "finished":
            text = f"Finished: {epochs} in {elapsed}" + (f" · {summary}" if summary else "")
            if result.reason:  # early stopping
                text += f" ({result.reason})"
        elif result.status == "stopped":
            stopped = _outcome_text("stopped", result.reason or "by the user")
            text = stopped[:1].upper() + stopped[1:] + (f" · {summary}" if summary else "")
        else:
            text = f"Failed: {result.reason or 'unknown error'}"
        if self._steps and result.status == "finished":
            self.progress_bar.setValue(self.progress_bar.maximum())
        if self.progress_bar.maximum() == 0:  # never left the busy state
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(0)
        self.progress_bar.setFormat(f"{result.status} · {epochs} · {elapsed}")
        self._show_status(text, error=result.status == "failed")
        self._log(_outcome_text(result.status, result.reason or f"{epochs} in {elapsed}")
                  + (f" · {summary}" if summary and result.status != "failed" else ""))
        if result.run is not None:
            self._log(f"run folder: {result.run.path}")
        self.run_finished.emit(result)

    # ---------------------------------------------------------------- slots
    def _on_train_button_clicked(self) -> None:
        self.start_training()

    def _on_pause_button_clicked(self) -> None:
        if self._state == PAUSED:
            self.resume()
        else:
            self.pause()

    def _on_stop_button_clicked(self) -> None:
        self.stop()


class _LogLabelledAxis(pg.AxisItem):
    """An axis whose log mode labels only 1, 2 and 5 times a power of ten.

    pyqtgraph labels every minor tick (2, 3, ... 9) when a log axis spans less than a few
    decades, as a learning rate usually does, and the labels pile up.
    """

    def __init__(self, orientation: str):
        super().__init__(orientation)
        self.setStyle(maxTextLevel=1)

    def logTickValues(self, minVal, maxVal, size, stdTicks):  # noqa: N802,N803 (pyqtgraph API)
        ticks = super().logTickValues(minVal, maxVal, size, stdTicks)
        if not ticks or ticks[-1][0] is not None:
            return ticks
        minor = ticks[-1][1]
        labelled = [v for v in minor if round(10 ** (v - math.floor(v))) in (1, 2, 5)]
        rest = [v for v in minor if v not in labelled]
        return [*ticks[:-1], (None, labelled), (None, rest)]


def _train(session, progress: QtProgress):
    """The worker's function: the session reports through the runner's progress."""
    session.progress = progress
    return session.run()


# Where ``FormatError`` reports the value of fields not at ``training.<field>``.
_WHERE = {
    "optimizer": "training.optimizer.name", "learning_rate": "training.optimizer.learning_rate",
    "momentum": "training.optimizer.momentum", "weight_decay": "training.optimizer.weight_decay",
    "clipnorm": "training.optimizer.clipnorm", "reduce_lr_factor": "training.reduce_lr.factor",
    "early_stopping": "training.early_stopping.patience",
}


def _message_key(key: str) -> str:
    """The field whose message line shows problems of ``key`` (companions share one)."""
    return {"nesterov": "momentum", "early_stopping_patience": "early_stopping",
            "reduce_lr_patience": "reduce_lr_factor", "reduce_lr": "reduce_lr"}.get(key, key)


def _is_metric(name: str) -> bool:
    return "loss" not in name


def _finite_bounds(arrays) -> tuple[float, float]:
    """The smallest and largest finite value in ``arrays``; (inf, -inf) when there is none."""
    low, high = math.inf, -math.inf
    for values in arrays:
        values = np.asarray(values, dtype=float)
        finite = values[np.isfinite(values)]
        if finite.size:
            low, high = min(low, float(finite.min())), max(high, float(finite.max()))
    return low, high


def _epochs_text(count: int) -> str:
    return f"{count} epoch{'s' if count != 1 else ''}"


def _outcome_text(status: str, reason: str) -> str:
    """"failed: <reason>", or the reason alone when it already names the status ("stopped by
    the user after epoch 2" rather than "stopped: stopped by the user ...")."""
    return reason if reason.startswith(status) else f"{status}: {reason}"


def _metric_text(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) and abs(value) < 1e4 else f"{value:.3g}"


def _as_int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _blend(a: QColor, b: QColor, share: float = 0.6) -> QColor:
    return QColor(*(int(share * x + (1 - share) * y) for x, y in
                    zip((a.red(), a.green(), a.blue()), (b.red(), b.green(), b.blue()))))


def _train_samples(dataset) -> int | None:
    """Training samples of a loaded dataset, if it says (for an exact samples/s)."""
    x = getattr(dataset, "x_train", None)
    if isinstance(x, dict):  # several inputs
        x = next(iter(x.values()), None)
    if isinstance(x, (list, tuple)):
        x = x[0] if x else None
    if x is None:
        return None
    try:
        return len(x) or None
    except TypeError:  # a generator or tf.data pipeline: no length
        return None
