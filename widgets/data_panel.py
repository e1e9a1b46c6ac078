"""The Data panel: the experiment's data source and options, and a look at the loaded data.

The options on the left edit the experiment's "data" section through undoable
``SetSectionCommand``s only; each value is vetted by ``DataConfig.from_dict`` before it is
pushed, and a refused one stays in its field with the reason in red under it. The panel keeps
no copy of the section: ``Document.section_changed`` (an edit, an undo) puts the values back.

Load runs ``load_dataset`` in a ``TaskRunner`` (a download or a folder of images takes
seconds); the loaded ``Dataset`` is shown on the right — a grid of samples with their labels
(or a scatter for 2-D tables), the class histogram, shapes and dtypes, and the warnings of
``data_warnings`` against the model's Input shape — and handed on by ``dataset_loaded``.
"""

from __future__ import annotations

import copy
import functools
import html
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QColor, QFontDatabase, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from widgets.commands import SetSectionCommand
from widgets.document import Document
from widgets.pictures import to_qimage
from widgets.tasks import TaskRunner
from workbench.data import DataConfig, data_warnings, load_dataset
from workbench.data.config import (
    AUGMENTATION_ALIASES,
    AUGMENTATIONS,
    BUILT_IN_SOURCES,
    MAX_CLASSES,
    PREPROCESSING,
    SOURCE_OPTIONS,
    SOURCES,
    TASK_SOURCES,
    TASKS,
)
from workbench.errors import FormatError, WorkbenchError

ERROR_COLOR = "#d32f2f"
WARNING_COLOR = "#b06000"
_MUTED_COLOR = "#6b6b6b"
SAMPLE_COUNT = 24
_SCATTER_LIMIT = 5000
_MAX_TICKS = 20
_SETTINGS_WIDTH = 310
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf")

_SOURCE_LABELS = {
    "digits": "Digits (scikit-learn, 8×8)", "shapes": "Shapes (generated images)",
    "spirals": "Spirals (generated 2-D)", "blobs": "Blobs (generated 2-D)",
    "mnist": "MNIST (download)", "fashion_mnist": "Fashion-MNIST (download)",
    "cifar10": "CIFAR-10 (download)", "cifar100": "CIFAR-100 (download)",
    "folder": "Image folder", "npz": "NumPy .npz file", "hdf5": "HDF5 file", "csv": "CSV table",
}
# Options only some sources read; their rows are hidden for the others (and the keys dropped
# on a source change, since DataConfig refuses an option the source does not read).
_SOURCE_FIELDS = ("path", "x_key", "y_key", "target", "image_size", "classes", "noise", "task")
_FILE_FILTERS = {"npz": "NumPy archives (*.npz)", "hdf5": "HDF5 files (*.h5 *.hdf5 *.hdf)",
                 "csv": "CSV tables (*.csv *.tsv *.txt)"}
_PREPROCESSING_LABELS = {"scale": "Scale to [0, 1]", "standardize": "Standardize",
                         "minmax": "Min-max", "onehot": "One-hot labels"}
_PREPROCESSING_TIPS = {
    "scale": "Divide by the source's known maximum (16 for digits, 255 for 8-bit images)",
    "standardize": "Zero mean and unit variance, computed on the training split",
    "minmax": "Map each feature to [0, 1] using the training split's range",
    "onehot": "Labels become one-hot rows: use categorical_crossentropy as the loss",
}
_AUGMENTATION_LABELS = {"flip": "Flip", "rotation": "Rotation", "zoom": "Zoom",
                        "translation": "Translation", "contrast": "Contrast", "noise": "Noise"}
_DEFAULTS = DataConfig()


def source_fields(source: str) -> tuple[str, ...]:
    """The source-specific options that ``source`` reads."""
    used = [key for key, sources in SOURCE_OPTIONS.items() if source in sources]
    if source == "csv":
        used.append("target")
    if any(source in sources for sources in TASK_SOURCES.values()):
        used.append("task")
    return tuple(key for key in _SOURCE_FIELDS if key in used)


class SampleGrid(QWidget):
    """A grid of small images with their labels, scaled to fill the widget (pixels kept sharp)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._images: list[QImage] = []
        self._labels: list[str] = []
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_samples(self, images: list[QImage], labels: list[str]) -> None:
        self._images, self._labels = list(images), list(labels)
        self.update()

    def count(self) -> int:
        """How many samples are shown."""
        return len(self._images)

    def labels(self) -> list[str]:
        return list(self._labels)

    def _layout(self) -> tuple[int, int, float]:
        """Columns, rows and cell size that make the largest square cells fit."""
        n = len(self._images)
        best = (1, n, 0.0)
        text = self.fontMetrics().height() + 2
        for columns in range(1, n + 1):
            rows = math.ceil(n / columns)
            size = min(self.width() / columns, (self.height() - rows * text) / rows)
            if size > best[2]:
                best = (columns, rows, size)
        return best

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        painter = QPainter(self)
        if not self._images:
            painter.end()
            return
        columns, rows, size = self._layout()
        text = self.fontMetrics().height() + 2
        gap = max(2.0, size * 0.08)
        image_size = max(size - gap, 4.0)
        left = (self.width() - columns * size) / 2
        top = (self.height() - rows * (size + text)) / 2
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)  # crisp pixels
        painter.setPen(QColor("#202124"))
        metrics = self.fontMetrics()
        for index, (image, label) in enumerate(zip(self._images, self._labels)):
            row, column = divmod(index, columns)
            x = left + column * size + gap / 2
            y = top + row * (size + text)
            painter.drawImage(QRectF(x, y, image_size, image_size), image)
            painter.drawText(QRectF(x - gap / 2, y + image_size, size, text),
                             Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                             metrics.elidedText(label, Qt.TextElideMode.ElideRight, int(size)))
        painter.end()


class SampleView(QStackedWidget):
    """Samples of the training set: an image grid, or a scatter coloured by class for tables."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("sampleGrid")
        self.placeholder = QLabel("Press Load to see samples of the data.")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setStyleSheet(f"color: {_MUTED_COLOR}")
        self.grid = SampleGrid()
        self.scatter_plot = pg.PlotWidget(background="w")
        self.scatter_plot.setObjectName("sampleScatter")
        self.scatter_plot.showGrid(x=True, y=True, alpha=0.15)
        self.scatter_plot.setMinimumSize(160, 120)
        self.legend = self.scatter_plot.addLegend(offset=(-6, 6), labelTextColor="#202124",
                                                  brush=pg.mkBrush(255, 255, 255, 200))
        self.scatter: list[pg.ScatterPlotItem] = []
        for page in (self.placeholder, self.grid, self.scatter_plot):
            self.addWidget(page)

    @property
    def mode(self) -> str:
        """What is shown: "empty", "images" or "scatter"."""
        return {self.placeholder: "empty", self.grid: "images"}.get(self.currentWidget(), "scatter")

    def show_images(self, images: list[QImage], labels: list[str]) -> None:
        self.grid.set_samples(images, labels)
        self.setCurrentWidget(self.grid)

    def show_scatter(self, x: np.ndarray, classes: np.ndarray | None, names: list[str],
                     axes: tuple[str, str]) -> None:
        """Plot rows of ``x`` (two columns) with one colour per class."""
        for item in self.scatter:
            self.scatter_plot.removeItem(item)
        self.scatter = []
        self.legend.clear()
        self.scatter_plot.setLabel("bottom", axes[0])
        self.scatter_plot.setLabel("left", axes[1])
        groups = ([(None, np.ones(len(x), dtype=bool))] if classes is None
                  else [(c, classes == c) for c in np.unique(classes)])
        many = len(groups) > len(_COLOURS)
        for index, (label, mask) in enumerate(groups):
            colour = (pg.intColor(index, hues=len(groups)) if many
                      else QColor(_COLOURS[index % len(_COLOURS)]))
            name = None if label is None else _class_name(int(label), names)
            # Named items join the legend; a legend of a hundred classes would help nobody.
            item = pg.ScatterPlotItem(x[mask, 0], x[mask, 1], size=6, pen=None,
                                      brush=pg.mkBrush(colour), name=name if index < 20 else None)
            self.scatter_plot.addItem(item)
            self.scatter.append(item)
        self.scatter_plot.enableAutoRange()
        self.setCurrentWidget(self.scatter_plot)

    def clear(self) -> None:
        self.grid.set_samples([], [])
        self.setCurrentWidget(self.placeholder)


class DataPanel(QWidget):
    """The experiment's data options, Load, and what the loaded data looks like.

    Args:
        document: the open document; ``set_document`` switches to another.
        auto_load: load a built-in data set (no file, no download) the first time the panel
            is shown.
        parent: the owning widget.

    Signals:
        dataset_loaded(object): a ``Dataset`` finished loading (the Train panel reuses it).
    """

    dataset_loaded = Signal(object)

    def __init__(self, document: Document, auto_load: bool = False, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("dataPanel")
        self._document: Document | None = None
        self._dataset = None
        self._loaded_config: dict | None = None  # the data section the dataset came from
        self._auto_load = auto_load
        self._shown_once = False
        self.warnings: list[str] = []
        self._messages: dict[str, QLabel] = {}
        self._rows: dict[str, list[QWidget]] = {}
        self._loading_config: dict | None = None
        self._loading_document: Document | None = None
        self.runner = TaskRunner(self)
        self.runner.stepped.connect(self._on_runner_stepped)
        self.runner.finished.connect(self._on_runner_finished)
        self.runner.failed.connect(self._on_runner_failed)
        self.runner.running_changed.connect(self._on_runner_running_changed)

        settings = self._make_settings()
        scroll = QScrollArea()
        scroll.setWidget(settings)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Wide enough for the widest row (two columns of check boxes), so nothing is clipped;
        # the vertical scroll bar gets its own room.
        bar = scroll.style().pixelMetric(scroll.style().PixelMetric.PM_ScrollBarExtent)
        scroll.setFixedWidth(max(_SETTINGS_WIDTH, settings.minimumSizeHint().width()) + bar + 4)

        self.sample_view = SampleView()
        self.histogram = pg.PlotWidget(background="w")
        self.histogram.setObjectName("classHistogram")
        self.histogram.setMinimumSize(160, 120)
        self.histogram.setMouseEnabled(x=False, y=False)
        self.histogram.setMenuEnabled(False)
        self.histogram.hideButtons()
        self.histogram.setTitle("Training samples per class", color="#202124", size="10pt")
        self.histogram.hide()  # empty axes say nothing: the placeholder has the room until Load
        self.bars: pg.BarGraphItem | None = None
        self.info = QLabel()
        self.info.setObjectName("dataInfo")
        self.info.setTextFormat(Qt.TextFormat.PlainText)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.info.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.info.setWordWrap(True)
        self.info.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.description = QLabel()
        self.description.setObjectName("dataDescription")
        self.description.setWordWrap(True)
        self.description.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warnings_label = QLabel()
        self.warnings_label.setObjectName("dataWarnings")
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setTextFormat(Qt.TextFormat.RichText)
        self.warnings_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warnings_label.hide()

        pictures = QSplitter(Qt.Orientation.Horizontal)
        pictures.setChildrenCollapsible(False)
        pictures.addWidget(self.sample_view)
        pictures.addWidget(self.histogram)
        pictures.setSizes([3000, 2000])
        text = QWidget()
        text_layout = QVBoxLayout(text)
        text_layout.setContentsMargins(0, 0, 0, 0)
        text_layout.setSpacing(4)
        text_layout.addWidget(self.description)
        text_layout.addWidget(self.info)
        text_layout.addWidget(self.warnings_label)
        text_layout.addStretch(1)
        right = QSplitter(Qt.Orientation.Vertical)
        right.setChildrenCollapsible(False)
        # Many warnings or a long class list scroll rather than squeeze the pictures.
        text_scroll = QScrollArea()
        text_scroll.setWidget(text)
        text_scroll.setWidgetResizable(True)
        text_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        text_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        right.addWidget(pictures)
        right.addWidget(text_scroll)
        right.setSizes([3000, 1300])
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(scroll)
        layout.addWidget(right, 1)
        self.set_document(document)

    # ---------------------------------------------------------------- public
    @property
    def dataset(self):
        """The last loaded ``Dataset``, or None."""
        return self._dataset

    @property
    def running(self) -> bool:
        return self.runner.running

    def set_document(self, document: Document | None) -> None:
        """Show and edit ``document``'s data from now on (after New, Open or Import)."""
        if self._document is not None:
            for signal, slot in self._connections():
                try:
                    signal.disconnect(slot)
                except (RuntimeError, TypeError):  # the old document is already gone
                    pass
        self._document = document
        if document is not None:
            for signal, slot in self._connections():
                signal.connect(slot)
        self.runner.cancel()  # a load for the old document is of no use any more
        self._show_error("")
        self._refresh()
        self._update_stale_note()
        self._update_warnings()

    def load(self) -> None:
        """Load the data section as it is now, in a worker thread (the Load button)."""
        if self._document is None or self.runner.running:
            return
        config = self._data_for_loading()
        self._show_error("")
        self.progress.setRange(0, 0)  # busy until the first step says how far along it is
        self.progress_text.setText("Loading…")

        def work(progress):
            return load_dataset(config, progress)

        self._loading_config = self._data()
        self._loading_document = self._document
        self.runner.start(work)

    def cancel(self) -> None:
        """Ask a running load to stop (it stops at its next step)."""
        self.runner.cancel()

    def shutdown(self) -> None:
        """Cancel and wait for a running load (the window is closing)."""
        self.runner.wait(cancel=True)

    # ---------------------------------------------------------------- settings
    def _make_settings(self) -> QWidget:
        settings = QWidget()
        column = QVBoxLayout(settings)
        column.setContentsMargins(0, 0, 6, 0)
        column.setSpacing(8)

        source_box = QGroupBox("Source")
        form = _form(source_box)
        self._source = QComboBox()
        self._source.setObjectName("dataSourceCombo")
        for name in SOURCES:
            self._source.addItem(_SOURCE_LABELS.get(name, name), name)
        self._source.currentIndexChanged.connect(self._on_source_combo_changed)
        self._add_row(form, "Source", self._source, "source")

        self._path = self._line_edit("dataPathEdit", "path")
        self._browse = QPushButton("Browse…")
        self._browse.setObjectName("dataBrowseButton")
        self._browse.clicked.connect(self._on_browse_button_clicked)
        path_row = QWidget()
        path_layout = QHBoxLayout(path_row)
        path_layout.setContentsMargins(0, 0, 0, 0)
        path_layout.addWidget(self._path, 1)
        path_layout.addWidget(self._browse)
        self._add_row(form, "Path", path_row, "path")
        self._x_key = self._line_edit("dataXKeyEdit", "x_key", "x (or x_train)")
        self._add_row(form, "Inputs key", self._x_key, "x_key")
        self._y_key = self._line_edit("dataYKeyEdit", "y_key", "y (or y_train)")
        self._add_row(form, "Labels key", self._y_key, "y_key")
        self._target = self._line_edit("dataTargetEdit", "target", "the last column")
        self._add_row(form, "Target column", self._target, "target")
        self._task = QComboBox()
        self._task.setObjectName("dataTaskCombo")
        self._task.currentIndexChanged.connect(lambda _i: self._on_field_edited("task"))
        self._add_row(form, "Task", self._task, "task")

        self._image_h, self._image_w = QSpinBox(), QSpinBox()
        for box, name in ((self._image_h, "dataImageHeight"), (self._image_w, "dataImageWidth")):
            box.setObjectName(name)
            box.setRange(0, 4096)
            box.setSpecialValueText("auto")
            box.setKeyboardTracking(False)
            box.valueChanged.connect(self._on_image_size_spin_changed)
        size_row = QWidget()
        size_layout = QHBoxLayout(size_row)
        size_layout.setContentsMargins(0, 0, 0, 0)
        size_layout.addWidget(self._image_h, 1)
        size_layout.addWidget(QLabel("×"))
        size_layout.addWidget(self._image_w, 1)
        self._add_row(form, "Image size", size_row, "image_size")
        self._classes = QSpinBox()
        self._classes.setObjectName("dataClassesSpin")
        self._classes.setRange(1, 100)  # 1 shows "default"; DataConfig wants at least 2
        self._classes.setSpecialValueText("default")
        self._classes.setKeyboardTracking(False)
        self._classes.valueChanged.connect(lambda _v: self._on_field_edited("classes"))
        self._add_row(form, "Classes", self._classes, "classes")
        self._noise = self._line_edit("dataNoiseEdit", "noise", "default")
        self._add_row(form, "Noise", self._noise, "noise")
        self._samples = QSpinBox()
        self._samples.setObjectName("dataSamplesSpin")
        self._samples.setRange(0, 100_000_000)
        self._samples.setSingleStep(100)
        self._samples.setKeyboardTracking(False)
        self._samples.setToolTip("How many samples to generate, or at most how many to use "
                                 "(a seeded subset, stratified by class)")
        self._samples.valueChanged.connect(lambda _v: self._on_field_edited("samples"))
        self._add_row(form, "Samples", self._samples, "samples")
        column.addWidget(source_box)

        split_box = QGroupBox("Split and preprocessing")
        form = _form(split_box)
        self._split = QDoubleSpinBox()
        self._split.setObjectName("validationSplitSpin")
        self._split.setRange(0.0, 0.95)
        self._split.setSingleStep(0.05)
        self._split.setDecimals(2)
        self._split.setKeyboardTracking(False)
        self._split.setToolTip("The share of the data held out for validation")
        self._split.valueChanged.connect(lambda _v: self._on_field_edited("validation_split"))
        self._add_row(form, "Validation split", self._split, "validation_split")
        self._seed = QSpinBox()
        self._seed.setObjectName("dataSeedSpin")
        self._seed.setRange(-1, 2**31 - 1)
        self._seed.setSpecialValueText("random")
        self._seed.setKeyboardTracking(False)
        self._seed.setToolTip("Seed of the split, subsets and generated data; "
                              "\"random\" draws anew on every load")
        self._seed.valueChanged.connect(lambda _v: self._on_field_edited("seed"))
        self._add_row(form, "Seed", self._seed, "seed")
        self._preprocessing = self._check_grid(
            form, "Preprocessing", "preprocessing", PREPROCESSING, _PREPROCESSING_LABELS,
            _PREPROCESSING_TIPS)
        self._augmentation = self._check_grid(
            form, "Augmentation", "augmentation", AUGMENTATIONS, _AUGMENTATION_LABELS, {})
        self._balanced = QCheckBox("Balanced class weights")
        self._balanced.setObjectName("balancedClassWeights")
        self._balanced.setToolTip("Rare classes weigh more in the loss, so every class counts "
                                  "the same")
        self._balanced.toggled.connect(lambda _on: self._on_field_edited("class_weights"))
        self._add_row(form, "", self._balanced, "class_weights")
        column.addWidget(split_box)

        self.load_button = QPushButton("Load")
        self.load_button.setObjectName("loadDataButton")
        self.load_button.setToolTip("Load the data with these options and show samples")
        self.load_button.clicked.connect(self._on_load_button_clicked)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelLoadButton")
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self.cancel_button.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.load_button, 1)
        buttons.addWidget(self.cancel_button)
        column.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setObjectName("dataProgress")
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        self.progress.hide()
        self.progress_text = QLabel()
        self.progress_text.setStyleSheet(f"color: {_MUTED_COLOR}")
        self.progress_text.setWordWrap(True)
        self.progress_text.hide()
        self.error = QLabel()
        self.error.setObjectName("dataError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {ERROR_COLOR}")
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.hide()
        self.stale = QLabel("The data options changed since loading: press Load to apply them.")
        self.stale.setObjectName("dataStaleNote")
        self.stale.setWordWrap(True)
        self.stale.setStyleSheet(f"color: {_MUTED_COLOR}")
        self.stale.hide()
        for widget in (self.progress, self.progress_text, self.error, self.stale):
            column.addWidget(widget)
        column.addStretch(1)
        return settings

    def _line_edit(self, name: str, key: str, placeholder: str = "") -> QLineEdit:
        edit = QLineEdit()
        edit.setObjectName(name)
        edit.setPlaceholderText(placeholder)
        edit.editingFinished.connect(lambda: self._on_field_edited(key))
        return edit

    def _check_grid(self, form: QFormLayout, label: str, key: str, names: tuple[str, ...],
                    labels: dict[str, str], tips: dict[str, str]) -> dict[str, QCheckBox]:
        boxes: dict[str, QCheckBox] = {}
        cell = QWidget()
        grid = QGridLayout(cell)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setVerticalSpacing(2)
        for index, name in enumerate(names):
            box = QCheckBox(labels.get(name, name))
            box.setObjectName(f"{key}_{name}")
            box.setToolTip(tips.get(name, ""))
            box.toggled.connect(lambda _on: self._on_field_edited(key))
            grid.addWidget(box, index // 2, index % 2)
            boxes[name] = box
        self._add_row(form, label, cell, key)
        return boxes

    def _add_row(self, form: QFormLayout, label: str, field: QWidget, key: str) -> None:
        """A form row with a red message under the field, hidden until a value is refused."""
        message = QLabel()
        message.setObjectName(f"dataMessage_{key}")
        message.setWordWrap(True)
        message.setStyleSheet(f"color: {ERROR_COLOR}")
        message.setTextFormat(Qt.TextFormat.PlainText)
        message.hide()
        cell = QWidget()
        cell_layout = QVBoxLayout(cell)
        cell_layout.setContentsMargins(0, 0, 0, 0)
        cell_layout.setSpacing(2)
        cell_layout.addWidget(field)
        cell_layout.addWidget(message)
        form.addRow(label, cell)
        self._messages[key] = message
        self._rows[key] = [cell] + [w for w in (form.labelForField(cell),) if w is not None]

    def message_for(self, key: str) -> str:
        """The red message under field ``key`` ("" when the value is fine)."""
        message = self._messages[key]
        return "" if message.isHidden() else message.text()

    # ---------------------------------------------------------------- section <-> fields
    def _data(self) -> dict:
        return copy.deepcopy(self._document.experiment.data or {}) if self._document else {}

    def _data_for_loading(self) -> dict:
        """The data section with a relative path made absolute against the experiment's folder."""
        return self._document.experiment.data_for_loading() if self._document else {}

    def _refresh(self) -> None:
        """Put the data section's values into the fields (after any edit or undo)."""
        data = self._data()
        value = functools.partial(_value, data)
        source = data.get("source", _DEFAULTS.source)
        widgets = (self._source, self._path, self._x_key, self._y_key, self._target, self._task,
                   self._image_h, self._image_w, self._classes, self._noise, self._samples,
                   self._split, self._seed, self._balanced, *self._preprocessing.values(),
                   *self._augmentation.values())
        blockers = [QSignalBlocker(widget) for widget in widgets]
        index = self._source.findData(source)
        if index < 0:  # a source this version does not know: show it as it is, refused below
            self._source.addItem(str(source), source)
            index = self._source.count() - 1
        self._source.setCurrentIndex(index)
        self._path.setText(_text(value("path")))
        self._x_key.setText(_text(value("x_key")))
        self._y_key.setText(_text(value("y_key")))
        self._target.setText(_text(value("target")))
        self._task.clear()
        for task in TASKS:
            if task == "classification" or source in TASK_SOURCES.get(task, ()):
                self._task.addItem(task, task)
        task = value("task")
        if self._task.findData(task) < 0:
            self._task.addItem(str(task), task)
        self._task.setCurrentIndex(self._task.findData(task))
        size = value("image_size")
        height, width = (size if isinstance(size, (list, tuple)) and len(size) == 2
                         else (size, size))
        self._image_h.setValue(_whole(height))
        self._image_w.setValue(_whole(width))
        self._classes.setMaximum(MAX_CLASSES.get(source, 100))
        self._classes.setValue(max(_whole(value("classes")), 1))
        self._noise.setText(_text(value("noise")))
        generated = source in ("shapes", "spirals", "blobs")
        self._samples.setSpecialValueText("default" if generated else "all")
        self._samples.setValue(_whole(value("samples")))
        split = value("validation_split")
        self._split.setValue(float(split) if _is_number(split) else 0.0)
        seed = value("seed")
        self._seed.setValue(-1 if seed is None else _whole(seed))
        steps = value("preprocessing")
        for name, box in self._preprocessing.items():
            box.setChecked(isinstance(steps, list) and name in steps)
        chosen = _augmentation_names(value("augmentation"))
        for name, box in self._augmentation.items():
            box.setChecked(name in chosen)
        self._balanced.setChecked(value("class_weights") == "balanced")
        del blockers
        used = source_fields(source)
        for key in _SOURCE_FIELDS:
            for widget in self._rows[key]:
                widget.setVisible(key in used)
        self._path.setPlaceholderText("a folder with one sub-folder per class" if source == "folder"
                                      else f"a {source} file")
        self._vet_section(data)

    def _vet_section(self, data: dict) -> None:
        """Show what is wrong with the section as it stands (a bad value from a file)."""
        for message in self._messages.values():
            message.hide()
        try:
            DataConfig.from_dict(data)
        except FormatError as error:
            key = _key_of(error.where)
            shown = key in self._messages and (key not in _SOURCE_FIELDS
                                               or key in source_fields(data.get("source", "")))
            if shown:
                _show_message(self._messages[key], error.detail)
            else:
                _show_message(self._messages["source"], str(error))

    def _edited_section(self, key: str) -> dict:
        """The data section with field ``key`` taken from its widget.

        Raises:
            FormatError: the field holds text that is not a value (a noise of "abc").
        """
        data = self._data()
        if key == "source":
            source = self._source.currentData()
            data["source"] = source
            # Options of the old source would be refused by the new one.
            used = source_fields(source)
            for name in _SOURCE_FIELDS:
                if name not in used and not (name == "target" and data.get(name) == "input"):
                    data.pop(name, None)
            task = data.get("task")
            if task in TASK_SOURCES and source not in TASK_SOURCES[task]:
                data.pop("task", None)  # back to classification, which every source can do
        elif key in ("path", "x_key", "y_key", "target"):
            _set(data, key, getattr(self, f"_{key}").text().strip() or None)
        elif key == "task":
            _set(data, key, self._task.currentData())
        elif key == "image_size":
            height, width = self._image_h.value(), self._image_w.value()
            _set(data, key, None if not (height and width) else height if height == width
                 else [height, width])
        elif key == "classes":
            _set(data, key, self._classes.value() if self._classes.value() > 1 else None)
        elif key == "noise":
            text = self._noise.text().strip()
            try:
                _set(data, key, float(text) if text else None)
            except ValueError:
                raise FormatError("data.noise", f"expected a number such as 0.1 (got {text!r})") from None
        elif key == "samples":
            _set(data, key, self._samples.value() or None)
        elif key == "validation_split":
            _set(data, key, round(self._split.value(), 4))
        elif key == "seed":
            _set(data, key, self._seed.value() if self._seed.value() >= 0 else None)
        elif key == "preprocessing":
            # Keep the section's own order (the order steps are applied in), new ones last.
            before = data.get(key, _DEFAULTS.preprocessing)
            before = [step for step in before if isinstance(step, str)] if isinstance(before, list) else []
            checked = [name for name, box in self._preprocessing.items() if box.isChecked()]
            kept = [step for step in before if step in checked or step not in self._preprocessing]
            _set(data, key, kept + [step for step in checked if step not in kept])
        elif key == "augmentation":
            # Entries with options ({"type": "rotation", "factor": 0.3}) keep them.
            before = data.get(key) if isinstance(data.get(key), list) else []
            checked = [name for name, box in self._augmentation.items() if box.isChecked()]
            kept = [entry for entry in before if _augmentation_name(entry) in checked
                    or _augmentation_name(entry) not in self._augmentation]
            names = {_augmentation_name(entry) for entry in kept}
            _set(data, key, kept + [name for name in checked if name not in names])
        elif key == "class_weights":
            _set(data, key, "balanced" if self._balanced.isChecked() else "none")
        return data

    # ---------------------------------------------------------------- showing data
    def _show_dataset(self, dataset) -> None:
        try:
            self._show_samples(dataset)
        except WorkbenchError as error:  # a stream that breaks while previewing
            self.sample_view.clear()
            self._show_error(str(error))
        self._show_histogram(dataset)
        self._show_info(dataset)
        self._update_warnings()

    def _show_samples(self, dataset) -> None:
        x, y = dataset.sample(SAMPLE_COUNT, "train")
        x = np.asarray(x)
        if not len(x):
            self.sample_view.clear()
            return
        labels, names = _labels_of(dataset, "train")
        if x.ndim == 2:  # a table: a scatter of (the first) two features of the training rows
            rows = np.asarray(dataset.x_train if dataset.x_train is not None else x)
            rows = rows.reshape(len(rows), -1).astype(float)
            if rows.shape[1] == 1:
                rows = np.column_stack([np.arange(len(rows)), rows[:, 0]])
                axes = ("sample", _feature_name(dataset, 0))
            else:
                axes = (_feature_name(dataset, 0), _feature_name(dataset, 1))
            classes = None if labels is None or len(labels) != len(rows) else labels
            if len(rows) > _SCATTER_LIMIT:  # enough to see the shape; more would stall the GUI
                keep = np.random.default_rng(0).choice(len(rows), _SCATTER_LIMIT, replace=False)
                rows, classes = rows[keep], None if classes is None else classes[keep]
            self.sample_view.show_scatter(rows[:, :2], classes, names, axes)
            return
        images = [to_qimage(image) for image in _display_range(x)]
        if labels is not None:
            texts = [_class_name(int(c), names) for c in labels[: len(x)]]
        elif dataset.task == "regression":
            texts = [_number_text(target) for target in np.asarray(y)]
        elif dataset.task == "segmentation":
            texts = [f"mask {100 * float(np.mean(np.asarray(m) > 0.5)):.0f}%" for m in np.asarray(y)]
        else:
            texts = [""] * len(images)
        self.sample_view.show_images(images, texts)

    def _show_histogram(self, dataset) -> None:
        if self.bars is not None:
            self.histogram.removeItem(self.bars)
            self.bars = None
        axis = self.histogram.getAxis("bottom")
        labels, names = _labels_of(dataset, "train")
        width = 0.8
        if labels is not None:
            count = max(int(dataset.num_classes or 0), len(names),
                        int(labels.max()) + 1 if labels.size else 0)
            heights = np.bincount(labels, minlength=count).astype(float)
            x = np.arange(len(heights), dtype=float)
            # Every class name when they fit; every k-th otherwise, so labels never overlap.
            step = max(1, math.ceil(len(heights) / _MAX_TICKS))
            axis.setTicks([[(i, _class_name(i, names)) for i in range(0, len(heights), step)]])
            title = "Training samples per class"
            axis.setLabel("")
        else:
            y = dataset.y_train
            values = None if y is None else np.asarray(y, dtype=float)
            if dataset.task == "segmentation" and values is not None:
                values = (values.reshape(len(values), -1) > 0.5).mean(axis=1)
                title, label = "Mask coverage of training samples", "share of pixels"
            elif dataset.task == "regression" and values is not None:
                values = values.reshape(len(values), -1)[:, 0]
                title, label = "Training targets", "target"
            else:  # an autoencoder has no labels: how its input values spread
                x_sample = dataset.sample(512, "train")[0]
                values = np.asarray(x_sample, dtype=float).reshape(-1)
                title, label = "Input values (sample)", "value"
            values = values[np.isfinite(values)]
            heights, edges = np.histogram(values, bins=20) if values.size else (np.zeros(1), [0, 1])
            x = (np.asarray(edges[:-1]) + np.asarray(edges[1:])) / 2
            width = float(edges[1] - edges[0]) * 0.9
            axis.setTicks(None)
            axis.setLabel(label)
        self.histogram.setTitle(title, color="#202124", size="10pt")
        self.bars = pg.BarGraphItem(x=x, height=heights, width=width, brush=pg.mkBrush("#4c8bf5"),
                                    pen=pg.mkPen("#2f6bd6"))
        self.histogram.addItem(self.bars)
        self.histogram.enableAutoRange()
        self.histogram.show()

    def _show_info(self, dataset) -> None:
        rows = []
        for name in ("x_train", "y_train", "x_val", "y_val"):
            array = getattr(dataset, name, None)
            if array is None:
                split = "train" if name.endswith("train") else "val"
                count = dataset.train_count if split == "train" else dataset.val_count
                what = ("streamed from disk" + (f", {count:,} samples" if count else "")
                        if name.startswith("x") and dataset.streamed else "none")
                rows.append(f"{name:<8} {what}")
                continue
            array = np.asarray(array)
            rows.append(f"{name:<8} {str(tuple(array.shape)):<22} {array.dtype}")
        rows.append(f"{'input':<8} {tuple(dataset.input_shape)} per sample")
        task = dataset.task
        if task == "classification":
            names = list(dataset.class_names or [])
            shown = ", ".join(names[:12]) + (", …" if len(names) > 12 else "")
            rows.append(f"{'task':<8} classification, {dataset.num_classes} classes"
                        + (f" ({shown})" if shown else ""))
        else:
            rows.append(f"{'task':<8} {task}")
        if dataset.class_weight:
            items = list(dataset.class_weight.items())
            shown = ", ".join(f"{k}: {v:.2f}" for k, v in items[:8])
            rows.append(f"{'weights':<8} {shown}" + (", …" if len(items) > 8 else ""))
        applied = dataset.extras.get("preprocessing")
        if applied:
            rows.append(f"{'prep':<8} {_applied_text(applied)}")
        if dataset.augmentation:
            rows.append(f"{'augment':<8} {', '.join(_layer_name(a) for a in dataset.augmentation)}")
        self.info.setText("\n".join(rows))
        self.description.setText(dataset.description or "")
        self.description.setVisible(bool(dataset.description))

    def model_input_shape(self) -> tuple | None:
        """The shape of one sample that the model's (first) Input takes, or None if unknown."""
        document = self._document
        if document is None or document.report is None:
            return None
        for input_id in document.graph.inputs:
            node = document.report.nodes.get(input_id)
            if node is not None and node.output is not None:
                return tuple(node.output.shape[1:])
        return None

    def _update_warnings(self) -> None:
        if self._dataset is None:
            self.warnings = []
        else:
            try:
                self.warnings = list(data_warnings(self._dataset, self.model_input_shape()))
            except Exception as error:  # a checker bug must not hide the data itself
                self.warnings = [f"the data could not be checked against the model ({error})"]
        if self.warnings:
            lines = "<br>".join(f"⚠ {html.escape(_sentence(w))}" for w in self.warnings)
            self.warnings_label.setText(f'<span style="color: {WARNING_COLOR}">{lines}</span>')
        self.warnings_label.setVisible(bool(self.warnings))

    def _update_stale_note(self) -> None:
        stale = self._dataset is not None and self._loaded_config != self._data()
        self.stale.setVisible(stale)

    def _show_error(self, text: str) -> None:
        self.error.setText(_sentence(text) if text else "")
        self.error.setVisible(bool(text))

    def _connections(self) -> list:
        document = self._document
        return [(document.section_changed, self._on_document_section_changed),
                (document.validated, self._on_document_validated)]

    # ---------------------------------------------------------------- events and slots
    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            # Only built-in sets load by themselves: a download or a big folder waits for Load.
            if (self._auto_load and self._dataset is None
                    and self._data().get("source", "digits") in BUILT_IN_SOURCES):
                self.load()

    def _on_field_edited(self, key: str) -> None:
        if self._document is None:
            return
        message = self._messages[key]
        before = self._data()
        try:
            data = self._edited_section(key)
            if data == before:
                message.hide()
                return
            DataConfig.from_dict(data)
        except FormatError as error:
            own = _key_of(error.where) == key
            # A source switch always goes through: the refreshed form then shows, under the
            # field to fill in, what the new source still needs (a path, say). Another key's
            # problem that was there before this edit must not block the edit either.
            if key != "source" and (own or _vets(before)):
                # The field's own problem reads best without its JSON path.
                _show_message(message, error.detail if own else str(error))
                return
        message.hide()
        self._document.push(SetSectionCommand(self._document, "data", data, key=key))

    def _on_source_combo_changed(self, _index: int) -> None:
        self._on_field_edited("source")

    def _on_image_size_spin_changed(self, _value: int) -> None:
        # Setting one side of an "auto" size makes a square: the usual case in one step.
        height, width = self._image_h.value(), self._image_w.value()
        if bool(height) != bool(width):
            other = self._image_w if height else self._image_h
            with QSignalBlocker(other):
                other.setValue(height or width)
        self._on_field_edited("image_size")

    def _on_browse_button_clicked(self) -> None:
        source = self._source.currentData()
        start = self._path.text().strip() or str(Path.home())
        if source == "folder":
            chosen = QFileDialog.getExistingDirectory(self, "Image folder", start)
        else:
            chosen, _ = QFileDialog.getOpenFileName(
                self, "Data file", start, f"{_FILE_FILTERS.get(source, '')};;All files (*)")
        if chosen:
            self._path.setText(chosen)
            self._on_field_edited("path")

    def _on_load_button_clicked(self) -> None:
        self.load()

    def _on_cancel_button_clicked(self) -> None:
        self.cancel()
        self.progress_text.setText("Cancelling…")

    def _on_document_section_changed(self, name: str) -> None:
        if name == "data":
            self._refresh()
            self._update_stale_note()

    def _on_document_validated(self, _report) -> None:
        # The model's Input shape may have changed: check the data against it again.
        if self._dataset is not None:
            self._update_warnings()

    def _on_runner_stepped(self, done: float, total, message: str) -> None:
        if total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * min(done / total, 1.0)))
        if message:
            self.progress_text.setText(message)

    def _on_runner_running_changed(self, running: bool) -> None:
        self.load_button.setEnabled(not running)
        self.cancel_button.setVisible(running)
        self.progress.setVisible(running)
        self.progress_text.setVisible(running)
        self._source.setEnabled(not running)

    def _on_runner_finished(self, dataset: Any) -> None:
        if dataset is None:  # cancelled: the previous data stays
            return
        if self._loading_document is not self._document:
            return  # loaded for a document that has been closed since (New, Open)
        self._dataset = dataset
        self._loaded_config = self._loading_config
        self._show_dataset(dataset)
        self._update_stale_note()
        self.dataset_loaded.emit(dataset)

    def _on_runner_failed(self, message: str) -> None:
        if self._loading_document is not self._document:
            return
        # The previous dataset and its views stay: only the new load failed.
        self._show_error(f"Could not load the data: {message}")


# ---------------------------------------------------------------------------- helpers
def _set(data: dict, key: str, value) -> None:
    """Set ``key``, or leave it out at its default, so the file keeps only what was chosen."""
    if value == getattr(_DEFAULTS, key):
        data.pop(key, None)
    else:
        data[key] = value


def _value(data: dict, key: str):
    """The section's value of ``key``, or DataConfig's default."""
    return data[key] if key in data else copy.deepcopy(getattr(_DEFAULTS, key))


def _form(parent: QWidget) -> QFormLayout:
    form = QFormLayout(parent)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    form.setVerticalSpacing(6)
    return form


def _text(value) -> str:
    return "" if value is None else str(value)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _vets(data: dict) -> bool:
    try:
        DataConfig.from_dict(data)
    except FormatError:
        return False
    return True


def _key_of(where: str | None) -> str:
    """The data key a FormatError path names: "data.preprocessing[1]" -> "preprocessing"."""
    if not where:
        return ""
    text = where.split("data.", 1)[1] if where.startswith("data.") else where
    return text.split(".", 1)[0].split("[", 1)[0]


def _show_message(label: QLabel, text: str) -> None:
    label.setText(_sentence(text))
    label.show()


def _sentence(text: str) -> str:
    text = str(text).strip()
    return text[:1].upper() + text[1:] if text else text


def _whole(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _augmentation_name(entry) -> str:
    """The long name of an augmentation entry: a name or a {"type": ..., options} dict."""
    name = entry.get("type") or entry.get("name") if isinstance(entry, dict) else entry
    return AUGMENTATION_ALIASES.get(str(name), str(name))


def _augmentation_names(entries) -> set[str]:
    return {_augmentation_name(e) for e in entries} if isinstance(entries, list) else set()


def _labels_of(dataset, split: str) -> tuple[np.ndarray | None, list[str]]:
    """Class indices of a split's samples and the class names, where the data have classes.

    Segmentation and autoencoder data may carry the classes behind their targets in
    ``extras`` ("labels_train"), which are shown as well.
    """
    if dataset.task == "classification":
        y = dataset.y_train if split == "train" else dataset.y_val
        names = list(dataset.class_names or [])
    else:
        y = dataset.extras.get(f"labels_{split}")
        names = list(dataset.extras.get("class_names") or [])
    if y is None:
        return None, names
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:  # one-hot rows
        return np.argmax(y, axis=1).astype(int), names
    if y.dtype.kind not in "iub":
        return None, names
    return y.reshape(len(y)).astype(int), names


def _class_name(index: int, names: list[str]) -> str:
    return str(names[index]) if 0 <= index < len(names) else str(index)


def _feature_name(dataset, index: int) -> str:
    names = dataset.extras.get("feature_names") or []
    return str(names[index]) if index < len(names) else f"feature {index}"


def _number_text(target) -> str:
    values = np.asarray(target, dtype=float).reshape(-1)
    return ", ".join(f"{v:.3g}" for v in values[:2]) + ("…" if values.size > 2 else "")


def _applied_text(applied) -> str:
    if isinstance(applied, (list, tuple)):
        return "; ".join(str(step) for step in applied)
    return str(applied)


def _layer_name(layer) -> str:
    return type(layer).__name__ if not isinstance(layer, (str, dict)) else str(layer)


def _display_range(x: np.ndarray) -> np.ndarray:
    """Images scaled to 0..255 together (standardized data has negative values)."""
    x = np.asarray(x, dtype=np.float32)
    finite = x[np.isfinite(x)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if high <= low:
        high = low + 1.0
    scaled = (np.nan_to_num(x, nan=low) - low) * (255.0 / (high - low))
    return np.clip(scaled, 0, 255).astype(np.uint8)


