"""The Embeddings panel: how the network sees the data, one layer at a time.

Choose a layer, a method (PCA, t-SNE, UMAP) and its settings, then Compute: the layer's
activations for the validation samples are projected to 2-D in the worker
(``workbench.inspect.embedding.Embedder``, which caches activations, their PCA and each
embedding, so a new perplexity does not recompute the activations). Points are coloured by
true class; wrongly predicted samples are crosses. Hovering a point shows the sample, its label
and prediction; clicking it opens the sample in the Inspect panel (``sample_requested``); the
box selects a group of points whose samples appear in the gallery.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from widgets.model_task_panel import ModelTaskPanel, model_choice
from widgets.pictures import to_pixmap

# matplotlib's tab10, then tab20's lighter halves: distinct class colours
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94")
_GALLERY_LIMIT = 64


class EmbedPanel(ModelTaskPanel):
    """2-D embeddings of a layer's activations. See the module docstring.

    Signals:
        sample_requested(int): a point was clicked: its validation sample index.
        task_finished(str): "embed" or "failed".
    """

    sample_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("embedPanel")
        self.embedder = None
        self.embedding = None
        self.indices = np.empty(0, int)  # sample index of each point
        self.selected = np.empty(0, int)  # sample indices inside the selection box
        self._build_ui()
        self._refresh()

    # ------------------------------------------------------------------ API
    def set_model(self, model, dataset, label: str = "") -> None:
        """Embed ``model``'s layers for ``dataset``'s validation samples."""
        from workbench.inspect.layers import layer_names

        self.model, self.dataset, self.embedder, self.embedding = model, dataset, None, None
        self.model_label.setText(f"<b>Model:</b> {label or 'the last trained model'}")
        self.layer_field.clear()
        names = layer_names(model) if model is not None else []
        for name in names:
            self.layer_field.addItem(name, name)
        if len(names) > 1:
            self.layer_field.setCurrentIndex(len(names) - 2)  # the penultimate layer
        self._clear_plot()
        self._refresh()

    def compute(self) -> bool:
        """Project the chosen layer with the chosen method (Compute)."""
        samples = self._samples()
        if self.model is None or samples is None:
            self._show_status("Needs a model and its data: train one, or open a run in the Inspect tab",
                              error=True)
            return False
        if self.running:
            return False
        from workbench.inspect.embedding import Embedder, sample_indices

        x, labels = samples
        count = self.samples_field.value() or None
        indices = sample_indices(len(x), count, seed=self.seed_field.value())
        if self.embedder is None or not np.array_equal(indices, self.indices):
            self.embedder = Embedder(self.model, x[indices], None if labels is None else labels[indices])
        self.indices = indices
        embedder = self.embedder
        method, layer = self.method_field.currentData(), self.layer_field.currentData()
        params = self._params(method)

        def work(progress):
            return embedder.project(method, layer, progress=progress, **params)

        self._show_status(f"Computing {self.method_field.currentText()} of {layer}…")
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
        layout = QVBoxLayout(self)
        self.model_label = QLabel("<b>Model:</b> none yet: train one, or open a run in the Inspect tab")
        layout.addWidget(self.model_label)
        row = QHBoxLayout()
        self.layer_field = model_choice("embedLayer")
        self.layer_field.setMinimumContentsLength(14)
        self.method_field = QComboBox()
        self.method_field.setObjectName("embedMethod")
        for name, label in (("pca", "PCA"), ("tsne", "t-SNE"), ("umap", "UMAP")):
            self.method_field.addItem(label, name)
        if importlib.util.find_spec("umap") is None:  # optional: offered, with how to get it
            from workbench.inspect.embedding import UMAP_INSTALL

            index = self.method_field.findData("umap")
            self.method_field.setItemText(index, "UMAP (not installed)")
            self.method_field.model().item(index).setEnabled(False)
            self.method_field.setItemData(index, f"UMAP needs the optional package umap-learn: "
                                                 f"{UMAP_INSTALL}", Qt.ItemDataRole.ToolTipRole)
        self.method_field.setCurrentIndex(1)
        self.method_field.currentIndexChanged.connect(self._refresh)
        self.perplexity_field = QDoubleSpinBox()
        self.perplexity_field.setObjectName("perplexity")
        self.perplexity_field.setRange(2, 200)
        self.perplexity_field.setValue(30)
        self.iterations_field = QSpinBox()
        self.iterations_field.setRange(50, 10_000)
        self.iterations_field.setValue(500)
        self.neighbors_field = QSpinBox()
        self.neighbors_field.setRange(2, 200)
        self.neighbors_field.setValue(15)
        self.seed_field = QSpinBox()
        self.seed_field.setRange(0, 2**31 - 1)
        self.samples_field = QSpinBox()
        self.samples_field.setObjectName("embedSamples")
        self.samples_field.setRange(0, 10_000_000)
        self.samples_field.setSpecialValueText("all")
        self.samples_field.setToolTip("Samples to embed (all: every validation sample)")
        self._method_rows: dict[str, list[QWidget]] = {}
        for label, field, methods in (("layer", self.layer_field, None), ("method", self.method_field, None),
                                      ("perplexity", self.perplexity_field, ("tsne",)),
                                      ("iterations", self.iterations_field, ("tsne",)),
                                      ("neighbours", self.neighbors_field, ("umap",)),
                                      ("seed", self.seed_field, None), ("samples", self.samples_field, None)):
            text = QLabel(label)
            row.addWidget(text)
            row.addWidget(field)
            for method in methods or ():
                self._method_rows.setdefault(method, []).extend([text, field])
        self.compute_button = QPushButton("Compute")
        self.compute_button.setObjectName("embedButton")
        self.compute_button.clicked.connect(self._on_compute_button_clicked)
        row.addWidget(self.compute_button)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addWidget(self._make_status("embedStatus"))
        body = QHBoxLayout()
        self.plot = pg.PlotWidget(background="w")
        self.plot.setObjectName("embeddingPlot")
        self.plot.setMinimumSize(360, 260)
        self.plot.getPlotItem().hideAxis("left")
        self.plot.getPlotItem().hideAxis("bottom")
        # The class key sits in a column of its own right of the points: inside the view it
        # covered the points of a corner (ten classes make a tall key).
        self.legend = pg.LegendItem(labelTextSize="8pt", labelTextColor="#222222")
        self.legend.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        plot_layout = self.plot.getPlotItem().layout
        plot_layout.addItem(self.legend, 2, 3)
        plot_layout.setAlignment(self.legend, Qt.AlignmentFlag.AlignTop)
        self.scatter = pg.ScatterPlotItem(size=7, hoverable=True, pxMode=True)
        self.scatter.sigHovered.connect(self._on_scatter_hovered)
        self.scatter.sigClicked.connect(self._on_scatter_clicked)
        self.plot.addItem(self.scatter)
        self.box = pg.RectROI((0, 0), (1, 1), pen=pg.mkPen("#ff7f0e", width=2))
        self.box.sigRegionChangeFinished.connect(self._on_box_changed)
        self.box.hide()
        self.plot.addItem(self.box)
        body.addWidget(self.plot, 3)
        side = QVBoxLayout()
        self.hover_view = QLabel()
        self.hover_view.setObjectName("hoverSample")
        self.hover_view.setMinimumSize(120, 120)
        self.hover_view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hover_text = QLabel("Hover a point to see its sample;\nclick it to inspect it.")
        self.hover_text.setObjectName("hoverText")
        side.addWidget(self.hover_view)
        side.addWidget(self.hover_text)
        self.gallery_caption = QLabel("Drag the orange box (or its corner) over points to see them here.")
        self.gallery_caption.setWordWrap(True)
        self.gallery = QLabel()
        self.gallery.setObjectName("embedGallery")
        self.gallery.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        side.addWidget(self.gallery_caption)
        side.addWidget(self.gallery, 1)
        body.addLayout(side, 1)
        layout.addLayout(body, 1)

    def _params(self, method: str) -> dict:
        if method == "tsne":
            return {"perplexity": self.perplexity_field.value(), "iterations": self.iterations_field.value(),
                    "seed": self.seed_field.value()}
        if method == "umap":
            return {"n_neighbors": self.neighbors_field.value(), "seed": self.seed_field.value()}
        return {"seed": self.seed_field.value()}

    def _refresh(self) -> None:
        method = self.method_field.currentData()
        for name, widgets in self._method_rows.items():
            for widget in widgets:
                widget.setVisible(name == method)
        self.compute_button.setText("Stop" if self.running else "Compute")
        ready = self.model is not None and self._samples() is not None
        self.compute_button.setEnabled(self.running or ready)

    def _samples(self):
        return self.dataset.held_out() if self.dataset is not None else None

    # --------------------------------------------------------------- worker
    def _on_compute_button_clicked(self) -> None:
        if self.running:
            self.stop()
        else:
            self.compute()

    def _on_runner_stepped(self, done: float, total, message: str) -> None:
        if message:
            shown = f"{message} ({int(done)}/{int(total)})" if total else message
            self._show_status(shown[:1].upper() + shown[1:])

    def _on_runner_partials(self, partials: list) -> None:
        # t-SNE reports its coordinates as it goes: the layout settles on screen.
        coords = [p["coords"] for p in partials if isinstance(p, dict) and "coords" in p]
        if coords and self.embedder is not None:
            self._draw(np.asarray(coords[-1]), self.embedder.labels, None)

    def _on_runner_finished(self, embedding) -> None:
        self._refresh()
        if embedding is None:
            self._show_status("Stopped")
            self.task_finished.emit("failed")
            return
        self.embedding = embedding
        # Named on the plot: after a failed Compute the last good one stays, and must not
        # pass for what was asked.
        label = self.method_field.itemText(self.method_field.findData(embedding.method))
        self.plot.setTitle(f"{label} of {embedding.layer}", size="9pt")
        self._draw(embedding.coords, embedding.labels, embedding.predictions)
        wrong = self._wrong(embedding.labels, embedding.predictions)
        errors = f" · {int(wrong.sum())} misclassified (crosses)" if wrong is not None else ""
        self._show_status(f"{len(embedding.coords):,} samples · {embedding.layer} ({embedding.input_dims} "
                          f"dims seen) · {embedding.implementation} · {embedding.seconds:.1f}s{errors}")
        self._place_box(embedding.coords)
        self.task_finished.emit("embed")

    # ------------------------------------------------------------------ plot
    @staticmethod
    def _wrong(labels, predictions) -> np.ndarray | None:
        if labels is None or predictions is None:
            return None
        return np.asarray(labels) != np.asarray(predictions)

    def _clear_plot(self) -> None:
        self.scatter.clear()
        self.legend.clear()
        self.box.hide()
        self.gallery.clear()
        self.selected = np.empty(0, int)

    def _draw(self, coords: np.ndarray, labels, predictions) -> None:
        self.scatter.clear()
        self.legend.clear()
        classes = np.zeros(len(coords), int) if labels is None else np.asarray(labels, int)
        wrong = self._wrong(labels, predictions)
        names = getattr(self.dataset, "class_names", None) or []
        brushes = [pg.mkBrush(QColor(_PALETTE[c % len(_PALETTE)])) for c in range(classes.max() + 1)]
        spots = [{"pos": (float(x), float(y)), "data": i, "brush": brushes[c],
                  "pen": pg.mkPen(_PALETTE[c % len(_PALETTE)]) if wrong is not None and wrong[i] else None,
                  "symbol": "x" if wrong is not None and wrong[i] else "o"}
                 for i, ((x, y), c) in enumerate(zip(coords, classes))]
        self.scatter.addPoints(spots)
        if labels is not None:
            for c in np.unique(classes):
                sample = pg.ScatterPlotItem(size=8, brush=brushes[c], pen=None)
                self.legend.addItem(sample, names[c] if c < len(names) else str(c))

    def _place_box(self, coords: np.ndarray) -> None:
        low, high = coords.min(axis=0), coords.max(axis=0)
        span = np.maximum(high - low, 1e-6)
        self.box.setPos(tuple(low + 0.35 * span), update=False)
        self.box.setSize(tuple(0.3 * span), finish=False)
        self.box.show()
        self._on_box_changed()

    def _sample_picture(self, index: int) -> np.ndarray:
        from workbench.inspect.images import display_image

        x, _ = self._samples()
        return display_image(np.asarray(x[index]))

    def _on_scatter_hovered(self, _item, points, _event) -> None:
        if len(points) == 0 or self.embedding is None:
            return
        point = int(points[0].data())
        index = int(self.indices[point])
        picture = np.round(self._sample_picture(index) * 255).astype(np.uint8)
        self.hover_view.setPixmap(to_pixmap(picture, least=112))
        names = getattr(self.dataset, "class_names", None) or []

        def named(c):
            return f"{c} ({names[c]})" if c < len(names) and names[c] != str(c) else str(c)

        text = f"sample {index}"
        if self.embedding.labels is not None:
            text += f"\nlabel {named(int(self.embedding.labels[point]))}"
        if self.embedding.predictions is not None:
            text += f"\npredicted {named(int(self.embedding.predictions[point]))}"
        self.hover_text.setText(text)

    def _on_scatter_clicked(self, _item, points, _event=None) -> None:
        if len(points):
            self.sample_requested.emit(int(self.indices[int(points[0].data())]))

    def _on_box_changed(self) -> None:
        if self.embedding is None:
            return
        from workbench.inspect.images import grid

        x0, y0 = self.box.pos()
        width, height = self.box.size()
        coords = self.embedding.coords
        inside = ((coords[:, 0] >= x0) & (coords[:, 0] <= x0 + width)
                  & (coords[:, 1] >= y0) & (coords[:, 1] <= y0 + height))
        self.selected = self.indices[inside]
        shown = self.selected[:_GALLERY_LIMIT]
        more = f" (first {len(shown)} shown)" if len(self.selected) > len(shown) else ""
        self.gallery_caption.setText(f"{len(self.selected)} samples in the box{more}")
        if len(shown) == 0:
            self.gallery.clear()
            return
        picture = grid(np.stack([self._sample_picture(int(i)) for i in shown]), columns=8, gap=1)
        self.gallery.setPixmap(to_pixmap(np.round(picture * 255).astype(np.uint8), least=240))
