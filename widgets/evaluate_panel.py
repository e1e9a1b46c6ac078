"""The Evaluate panel: how well a trained classifier does on its validation data.

``Evaluate`` predicts the validation split (the training split when there is none, and says so)
in the panel's worker with ``workbench.inspect.evaluation.evaluate``; the panel then shows:

* the confusion matrix as a heat map (rows: true class, columns: predicted class), in counts or
  row-normalized (recall on the diagonal); clicking a cell shows those samples;
* precision, recall, F1 and support per class;
* one-vs-rest ROC (or precision-recall) curves, one per class with its AUC in the legend;
* galleries of the most confident errors and the most uncertain predictions.

Every gallery tile carries its true and predicted class; clicking one emits
``sample_requested(index)`` with the sample's index in the evaluated split, for the Inspect
panel to open.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from widgets.model_task_panel import ModelTaskPanel
from widgets.pictures import to_pixmap
from widgets.tables import read_only_table

_TILE = 56  # pixels on the longer side of a gallery tile
_MOST_TILES = 64  # a confusion cell shows at most this many samples
_WRONG = QColor("#c0392b")


class EvaluatePanel(ModelTaskPanel):
    """Score a classifier on labelled data. See the module docstring.

    Attributes:
        evaluation: the last ``Evaluation`` (None before the first, or after ``set_model``).
        split: "validation" or "training": the data the evaluation scored.
        gallery_indices: the sample indices shown in the gallery, tile by tile.

    Signals:
        sample_requested(int): a gallery tile was clicked; the index is in the evaluated split.
        task_finished(str): "evaluate" when an evaluation ended (or was stopped), "failed".
    """

    sample_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("evaluatePanel")
        self.source_label = ""
        self.evaluation = None
        self.split = ""
        self.gallery_indices: list[int] = []
        self._build_ui()
        self._refresh()

    # ------------------------------------------------------------------ API
    def set_model(self, model, dataset, label: str = "") -> None:
        """Evaluate ``model`` on ``dataset`` from now on (the last results are cleared)."""
        if self.running:  # results for the old model must not land on the new one
            self._runner.wait(cancel=True)
        self.model, self.dataset, self.source_label = model, dataset, label
        self.split = ""
        self._show_evaluation(None)
        problem = self._problem()
        if problem:
            self._show_status(problem, error=True)
        else:
            x, _ = self._data()
            self._show_status(f"Ready: Evaluate scores the {self._samples_text(len(x))}")
        self._refresh()

    def evaluate(self) -> bool:
        """Start the evaluation in the worker; False (with a message) when it cannot run."""
        if self.running:
            self._show_status("Busy: wait for the evaluation, or Stop it", error=True)
            return False
        problem = self._problem()
        if problem:
            self._show_status(problem, error=True)
            return False
        model = self.model
        x, y = self._data()
        names = list(self.dataset.class_names or [])

        def work(progress):
            from workbench.inspect.evaluation import evaluate

            evaluation = evaluate(model, x, y, names or None, progress=progress)
            if evaluation is not None:
                evaluation.summary()  # the curves are computed (and kept) here, off the GUI thread
            return evaluation

        self._show_status(f"Predicting the {self._samples_text(len(x))}…")
        self._runner.start(work)
        self._refresh()
        return True

    def stop(self) -> None:
        self._runner.cancel()

    def shutdown(self) -> None:
        """Cancel and wait for the worker (on window close)."""
        if self.running:
            self._runner.wait(cancel=True)

    def show_cell(self, row: int, column: int) -> None:
        """Show the samples of true class ``row`` predicted as ``column`` in the gallery."""
        ev = self.evaluation
        if ev is None:
            return
        hits = np.flatnonzero((ev.labels == row) & (ev.predictions == column))
        what = f"true {ev.class_names[row]}, predicted {ev.class_names[column]}"
        if not len(hits):
            self._fill_gallery([], f"No samples: {what}")
            return
        shown = hits[:_MOST_TILES]
        more = f" (the first {len(shown)} shown)" if len(shown) < len(hits) else ""
        self._fill_gallery(shown, f"{len(hits)} sample{'s' if len(hits) != 1 else ''}: {what}{more}")

    def show_errors(self) -> None:
        """The most confident errors, the most confident first."""
        ev = self.evaluation
        if ev is None:
            return
        shown = ev.most_confident_errors(self.count_field.value())
        errors = int((ev.predictions != ev.labels).sum())
        if not errors:
            self._fill_gallery([], "No errors: every sample is classified correctly")
            return
        self._fill_gallery(shown, f"{len(shown)} most confident errors (of {errors}), the most "
                                  "confident first")

    def show_uncertain(self) -> None:
        """The predictions with the smallest margin between the two best scores."""
        ev = self.evaluation
        if ev is None:
            return
        shown = ev.most_uncertain(self.count_field.value(), by="margin")
        self._fill_gallery(shown, f"{len(shown)} most uncertain predictions (smallest margin "
                                  "between the two best classes)")

    # ------------------------------------------------------------------- UI
    def _build_ui(self) -> None:
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.model_label = QLabel()
        self.model_label.setObjectName("evaluateModel")
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.setObjectName("evaluateButton")
        self.evaluate_button.setToolTip("Predict the validation data and score the predictions")
        self.evaluate_button.clicked.connect(self.evaluate)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        top.addWidget(self.model_label, 1)
        top.addWidget(self.evaluate_button)
        top.addWidget(self.stop_button)
        layout.addLayout(top)
        layout.addWidget(self._make_status("evaluateStatus"))
        self.status.setWordWrap(True)
        body = QGridLayout()
        body.addWidget(self._build_confusion_box(), 0, 0)
        body.addWidget(self._build_curves_box(), 0, 1)
        body.addWidget(self._build_per_class_box(), 1, 0)
        body.addWidget(self._build_gallery_box(), 1, 1)
        body.setColumnStretch(0, 1)
        body.setColumnStretch(1, 1)
        body.setRowStretch(0, 3)
        body.setRowStretch(1, 2)
        layout.addLayout(body, 1)

    def _build_confusion_box(self) -> QGroupBox:
        box = QGroupBox("Confusion matrix")
        column = QVBoxLayout(box)
        row = QHBoxLayout()
        hint = QLabel("rows: true class · columns: predicted · click a cell for its samples")
        hint.setWordWrap(True)
        self.normalize_field = QCheckBox("Row-normalized (recall)")
        self.normalize_field.setObjectName("normalizeConfusion")
        self.normalize_field.setToolTip("Each row divided by its count: the diagonal is each class's recall")
        self.normalize_field.toggled.connect(self._on_normalize_field_toggled)
        row.addWidget(hint, 1)
        row.addWidget(self.normalize_field)
        column.addLayout(row)
        self.confusion_table = QTableWidget(0, 0)
        self.confusion_table.setObjectName("confusionMatrix")
        self.confusion_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.confusion_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        # The heat-map colour stays visible under the selection: a frame marks the chosen cell.
        self.confusion_table.setStyleSheet(
            "QTableWidget#confusionMatrix::item:selected { border: 2px solid #e67e22; }")
        for header in (self.confusion_table.horizontalHeader(), self.confusion_table.verticalHeader()):
            header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
            header.setMinimumSectionSize(22)
            header.setHighlightSections(False)
        self.confusion_table.setMinimumSize(280, 200)
        self.confusion_table.cellClicked.connect(self.show_cell)
        column.addWidget(self.confusion_table, 1)
        return box

    def _build_per_class_box(self) -> QGroupBox:
        box = QGroupBox("Per class")
        column = QVBoxLayout(box)
        self.per_class_table = read_only_table(5, "perClassTable", self)
        self.per_class_table.setHorizontalHeaderLabels(["class", "precision", "recall", "F1", "support"])
        self.per_class_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.per_class_table.setMinimumHeight(140)
        column.addWidget(self.per_class_table)
        return box

    def _build_curves_box(self) -> QGroupBox:
        box = QGroupBox("Curves (one class against the rest)")
        column = QVBoxLayout(box)
        row = QHBoxLayout()
        self.curve_kind_field = QComboBox()
        self.curve_kind_field.setObjectName("curveKind")
        self.curve_kind_field.addItem("ROC", "roc")
        self.curve_kind_field.addItem("Precision-recall", "pr")
        self.curve_kind_field.currentIndexChanged.connect(self._draw_curves)
        row.addWidget(QLabel("curve"))
        row.addWidget(self.curve_kind_field)
        row.addStretch(1)
        column.addLayout(row)
        self.curves_plot = _CurvesPlot(background=self.palette().color(self.backgroundRole()).lighter(104))
        self.curves_plot.setObjectName("curvesPlot")
        self.curves_plot.setMinimumSize(280, 200)
        item = self.curves_plot.getPlotItem()
        item.showGrid(x=True, y=True, alpha=0.15)
        item.setMenuEnabled(False)
        self.legend = item.addLegend(offset=(-10, -10), labelTextSize="8pt", verSpacing=-6,
                                     brush=pg.mkBrush(255, 255, 255, 210), labelTextColor="#222222")
        self.legend.setZValue(10)
        self.curves: list[pg.PlotDataItem] = []  # one per class, in class order
        column.addWidget(self.curves_plot, 1)
        return box

    def _build_gallery_box(self) -> QGroupBox:
        box = QGroupBox("Samples")
        column = QVBoxLayout(box)
        row = QHBoxLayout()
        self.errors_button = QPushButton("Most confident errors")
        self.errors_button.setObjectName("errorsButton")
        self.errors_button.clicked.connect(self.show_errors)
        self.uncertain_button = QPushButton("Most uncertain")
        self.uncertain_button.setObjectName("uncertainButton")
        self.uncertain_button.clicked.connect(self.show_uncertain)
        self.count_field = QSpinBox()
        self.count_field.setObjectName("galleryCount")
        self.count_field.setRange(1, 256)
        self.count_field.setValue(16)
        self.count_field.setToolTip("How many samples the two buttons show")
        row.addWidget(self.errors_button)
        row.addWidget(self.uncertain_button)
        row.addWidget(QLabel("count"))
        row.addWidget(self.count_field)
        row.addStretch(1)
        column.addLayout(row)
        self.gallery_caption = QLabel("Click a confusion cell, or pick a gallery above")
        self.gallery_caption.setObjectName("galleryCaption")
        self.gallery_caption.setWordWrap(True)
        column.addWidget(self.gallery_caption)
        self.gallery = _Gallery()
        self.gallery.setObjectName("gallery")
        self.gallery.tile_clicked.connect(self._on_gallery_tile_clicked)
        scroller = QScrollArea()
        scroller.setWidgetResizable(True)
        scroller.setWidget(self.gallery)
        scroller.setMinimumHeight(150)
        column.addWidget(scroller, 1)
        return box

    def _refresh(self) -> None:
        has_model = self.model is not None
        self.model_label.setText(f"<b>Model:</b> {self.source_label or 'the last trained model'}"
                                 if has_model else "<b>Model:</b> none yet: train one, or open a run "
                                 "in the Inspect panel")
        self.evaluate_button.setEnabled(has_model and not self.running and not self._problem())
        self.stop_button.setEnabled(self.running)
        done = self.evaluation is not None
        for widget in (self.errors_button, self.uncertain_button):
            widget.setEnabled(done)

    # --------------------------------------------------------------- checks
    def _data(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The evaluated split's inputs and labels (sets ``split``)."""
        dataset = self.dataset
        if dataset is None:
            return None, None
        if dataset.x_val is not None and len(dataset.x_val):
            self.split = "validation"
            return dataset.x_val, dataset.y_val
        self.split = "training"
        return dataset.x_train, dataset.y_train

    def _samples_text(self, count: int) -> str:
        if self.split == "training":
            return f"{count} training samples (the data have no validation split)"
        return f"{count} {self.split} samples"

    def _problem(self) -> str:
        """Why this model cannot be evaluated on this data, for people; "" when it can."""
        if self.model is None:
            return "No model yet: train one, or open a run folder or a model file"
        dataset = self.dataset
        if dataset is None:
            return ("No labelled data for this model: evaluation needs its data set (train it here, "
                    "or open its run folder)")
        if dataset.task != "classification":
            return (f"The data set is for {dataset.task}, not classification: the Evaluate panel "
                    "scores classifiers (confusion matrix, ROC, per-class F1)")
        x, y = self._data()
        if x is None or y is None:
            return ("The data are streamed from disk: the panel needs them in memory to show samples. "
                    "Score streamed data with `workbench evaluate RUN -o FOLDER`")
        if not len(x):
            return "The data set has no samples to evaluate"
        outputs = getattr(self.model, "outputs", None) or []
        if len(outputs) != 1:
            return f"{self.model.name}: evaluation needs a model with one output (it has {len(outputs)})"
        shape = tuple(outputs[0].shape[1:])
        if len(shape) != 1:
            return (f"{self.model.name} gives an output of shape {shape} per sample, not one row of "
                    "class scores: evaluation needs a classifier")
        scores = int(shape[0] or 0)
        classes = max(2, scores)  # one sigmoid output reads as two classes
        wanted = dataset.num_classes or 0
        if wanted > classes:
            return (f"{self.model.name} gives {scores} score{'s' if scores != 1 else ''} per sample but "
                    f"the data have {wanted} classes: is it a regression model, or another data set's?")
        return ""

    # --------------------------------------------------------------- worker
    def _on_runner_stepped(self, done: float, total, message: str) -> None:
        if total:
            self._show_status(f"Predicting: {int(done)} of the {self._samples_text(int(total))}…")

    def _on_runner_finished(self, evaluation) -> None:
        if evaluation is None:
            self._show_status("Stopped: nothing evaluated")
        else:
            self._show_evaluation(evaluation)
            summary = evaluation.summary()
            auc = summary["roc_auc"]
            auc_text = "n/a" if auc is None else f"{auc:.3f}"
            self._show_status(
                f"<b>Accuracy {summary['accuracy']:.3f}</b> · macro F1 {summary['macro_f1']:.3f} · "
                f"ROC AUC ({summary['roc_auc_kind']}) {auc_text} · {summary['errors']} errors in "
                f"the {self._samples_text(summary['samples'])}")
        self._refresh()
        self.task_finished.emit("evaluate")

    # -------------------------------------------------------------- results
    def _show_evaluation(self, evaluation) -> None:
        self.evaluation = evaluation
        self._fill_confusion()
        self._fill_per_class()
        self._draw_curves()
        self._fill_gallery([], "Click a confusion cell, or pick a gallery above" if evaluation
                           else "")

    def _fill_confusion(self) -> None:
        from workbench.inspect.images import colorize

        table, ev = self.confusion_table, self.evaluation
        table.clear()
        if ev is None:
            table.setRowCount(0)
            table.setColumnCount(0)
            return
        n = ev.num_classes
        counts = ev.confusion()
        rates = ev.confusion("true")
        rates = np.nan_to_num(rates)  # a class absent from the labels: an empty (white) row
        shown = rates if self.normalize_field.isChecked() else counts
        colours = colorize(rates, "Blues")
        table.setRowCount(n)
        table.setColumnCount(n)
        table.setHorizontalHeaderLabels(ev.class_names)
        table.setVerticalHeaderLabels(ev.class_names)
        font = QFont(table.font())
        diagonal = QFont(font)
        diagonal.setBold(True)
        for r in range(n):
            for c in range(n):
                value = shown[r, c]
                text = f"{value:.2f}" if self.normalize_field.isChecked() else str(int(value))
                item = QTableWidgetItem("" if value == 0 and r != c else text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                red, green, blue = (float(v) for v in colours[r, c])
                item.setBackground(QBrush(QColor.fromRgbF(red, green, blue)))
                dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.55
                item.setForeground(QBrush(QColor("white" if dark else "black")))
                item.setFont(diagonal if r == c else font)
                item.setToolTip(f"true {ev.class_names[r]}, predicted {ev.class_names[c]}: "
                                f"{int(counts[r, c])} samples ({rates[r, c]:.1%} of the row)")
                table.setItem(r, c, item)

    def _fill_per_class(self) -> None:
        table, ev = self.per_class_table, self.evaluation
        table.setRowCount(0)
        if ev is None:
            return
        rows = ev.per_class()
        table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            cells = [row["class"], f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}",
                     str(row["support"])]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                table.setItem(r, c, item)

    def _draw_curves(self) -> None:
        item = self.curves_plot.getPlotItem()
        item.clear()  # also empties the legend
        self.curves = []
        ev = self.evaluation
        roc = self.curve_kind_field.currentData() == "roc"
        item.setLabel("bottom", "false positive rate" if roc else "recall")
        item.setLabel("left", "true positive rate" if roc else "precision")
        item.setXRange(0, 1, padding=0.02)
        item.setYRange(0, 1, padding=0.02)
        if ev is None:
            return
        # ROC curves hug the top left, PR curves the top right: the legend goes where they are not.
        self.legend.setOffset((-10, -10) if roc else (10, -10))
        self.legend.setColumnCount(1 if ev.num_classes <= 6 else 2)
        n = ev.num_classes
        if roc:
            item.plot([0, 1], [0, 1], pen=pg.mkPen("#999999", width=1, style=Qt.PenStyle.DashLine))
        label = "AUC" if roc else "AP"
        for index, curve in enumerate(ev.roc_curves() if roc else ev.pr_curves()):
            value = "n/a" if math.isnan(curve.auc) else f"{curve.auc:.3f}"
            name = f"{ev.class_names[index]}: {label} {value}"
            self.curves.append(item.plot(curve.x, curve.y, pen=pg.mkPen(_class_colour(index, n), width=2),
                                         name=name))

    # -------------------------------------------------------------- gallery
    def _fill_gallery(self, indices, caption: str) -> None:
        from workbench.inspect.images import display_image

        self.gallery_indices = [int(i) for i in indices]
        self.gallery_caption.setText(caption)
        ev = self.evaluation
        if ev is None or not self.gallery_indices:
            self.gallery.show_tiles([], [])
            return
        x, _ = self._data()
        tiles, captions = [], []
        for index in self.gallery_indices:
            picture = np.round(display_image(_as_picture(x[index])) * 255).astype(np.uint8)
            tile = to_pixmap(picture, least=_TILE)
            if max(tile.width(), tile.height()) > 2 * _TILE:  # big photos: thumbnails
                tile = tile.scaled(2 * _TILE, 2 * _TILE, Qt.AspectRatioMode.KeepAspectRatio,
                                   Qt.TransformationMode.SmoothTransformation)
            tiles.append(tile)
            true, predicted = int(ev.labels[index]), int(ev.predictions[index])
            captions.append((f"{ev.class_names[true]}→{ev.class_names[predicted]}", true != predicted,
                             f"sample {index}: true {ev.class_names[true]}, predicted "
                             f"{ev.class_names[predicted]} ({ev.confidence[index]:.1%})"))
        self.gallery.show_tiles(tiles, captions)

    def _on_gallery_tile_clicked(self, tile: int) -> None:
        if 0 <= tile < len(self.gallery_indices):
            self.sample_requested.emit(self.gallery_indices[tile])

    def _on_normalize_field_toggled(self, _checked: bool) -> None:
        selected = self.confusion_table.currentRow(), self.confusion_table.currentColumn()
        self._fill_confusion()
        if min(selected) >= 0 and self.evaluation is not None:
            self.confusion_table.setCurrentCell(*selected)


class _CurvesPlot(pg.PlotWidget):
    """A plot that asks for a modest size: pyqtgraph's preferred 600x480 would make the page
    taller than a 1280x800 window (the scroll area sizes the page by its preferred height)."""

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(420, 280)


class _Gallery(QLabel):
    """Sample tiles in rows, each with a "true→predicted" caption (red when wrong); a click on a
    tile emits its position in the list."""

    tile_clicked = Signal(int)

    _GAP = 6
    _TEXT = 16

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setMouseTracking(True)
        self._cell = (0, 0)  # tile width, height in pixels
        self._columns = 1
        self._tips: list[str] = []

    def show_tiles(self, tiles: list[QPixmap], captions: list[tuple[str, bool, str]]) -> None:
        """Lay ``tiles`` out, each with (caption, wrong, tooltip)."""
        self._tips = [tip for _, _, tip in captions]
        if not tiles:
            self._cell = (0, 0)
            self.clear()
            return
        width = max(_TILE, max(t.width() for t in tiles))
        height = max(t.height() for t in tiles)
        self._cell = (width, height)
        self._columns = max(1, min(len(tiles), 8))
        rows = math.ceil(len(tiles) / self._columns)
        picture = QPixmap(self._columns * (width + self._GAP), rows * (height + self._TEXT + self._GAP))
        picture.fill(QColor("white"))
        painter = QPainter(picture)
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1))
        painter.setFont(font)
        for k, (tile, (caption, wrong, _)) in enumerate(zip(tiles, captions)):
            rect = self.tile_rect(k)
            painter.drawPixmap(rect.x() + (width - tile.width()) // 2, rect.y(), tile)
            painter.setPen(_WRONG if wrong else QColor("#333333"))
            text = painter.fontMetrics().elidedText(caption, Qt.TextElideMode.ElideRight, width)
            painter.drawText(QRect(rect.x(), rect.y() + height, width, self._TEXT),
                             Qt.AlignmentFlag.AlignCenter, text)
        painter.end()
        self.setPixmap(picture)

    def tile_rect(self, k: int) -> QRect:
        """Where tile ``k`` (its picture and caption) lies in the label."""
        width, height = self._cell
        row, column = divmod(k, self._columns)
        return QRect(column * (width + self._GAP), row * (height + self._TEXT + self._GAP),
                     width, height + self._TEXT)

    def tile_at(self, point: QPoint) -> int | None:
        width, height = self._cell
        if not width or point.x() < 0 or point.y() < 0:
            return None
        column = point.x() // (width + self._GAP)
        row = point.y() // (height + self._TEXT + self._GAP)
        k = row * self._columns + column
        if column >= self._columns or k >= len(self._tips) or not self.tile_rect(k).contains(point):
            return None
        return int(k)

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt API)
        tile = self.tile_at(event.position().toPoint())
        if tile is not None and event.button() == Qt.MouseButton.LeftButton:
            self.tile_clicked.emit(tile)
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 (Qt API)
        tile = self.tile_at(event.position().toPoint())
        self.setCursor(Qt.CursorShape.PointingHandCursor if tile is not None else Qt.CursorShape.ArrowCursor)
        if tile is not None:
            QToolTip.showText(event.globalPosition().toPoint(),
                              self._tips[tile] + " · click to open it in Inspect", self)
        else:
            QToolTip.hideText()
        super().mouseMoveEvent(event)


def _as_picture(sample: np.ndarray) -> np.ndarray:
    """One input sample as something ``display_image`` takes: images stay, vectors become a row."""
    sample = np.asarray(sample, np.float32)
    if sample.ndim == 3 or sample.ndim == 2:
        return sample
    return sample.reshape(1, -1)


def _class_colour(index: int, count: int):
    """Matplotlib's tab10 for up to ten classes, evenly spread hues beyond."""
    if count <= 10:
        import matplotlib

        red, green, blue, _ = matplotlib.colormaps["tab10"](index)
        return QColor.fromRgbF(red, green, blue)
    return pg.intColor(index, hues=count)

