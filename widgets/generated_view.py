"""What a generative model makes, live during training: an autoencoder's reconstructions, a
GAN's samples, a VAE's latent space and the pictures decoded from a grid of codes.

The pictures come as ``progress.partial`` reports from ``workbench.generative.previews``
(kinds "reconstructions", "samples", "latent", "decoded_grid"); the Train panel hands them
here and this strip appears with the first one.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from widgets.pictures import to_pixmap

KINDS = ("reconstructions", "samples", "latent", "decoded_grid")
_TILE = 180
_CAPTIONS = {
    "reconstructions": "Reconstructions (top: inputs{noisy}; bottom: outputs)",
    "samples": "Generator samples (the same noise every epoch)",
    "decoded_grid": "Decoded from a grid of 2-D codes",
    "latent": "Latent space (validation samples, by class)",
}


class FitLabel(QLabel):
    """A picture shown as large as the label allows, whole (a grid is never cut off)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._picture: QPixmap | None = None
        # Ignored: the label follows its box instead of growing to its pixmap.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)

    def set_picture(self, picture: QPixmap) -> None:
        self._picture = picture
        self._fit()

    def clear(self) -> None:
        self._picture = None
        super().clear()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if self._picture is not None:
            self.setPixmap(self._picture.scaled(max(self.width(), 16), max(self.height(), 16),
                                                Qt.AspectRatioMode.KeepAspectRatio,
                                                Qt.TransformationMode.FastTransformation))


class GeneratedView(QWidget):
    """Pictures of a generative model's progress. See the module docstring."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("generatedView")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.views: dict[str, FitLabel] = {}
        self.captions: dict[str, QLabel] = {}
        self.boxes: dict[str, QWidget] = {}
        for kind in ("reconstructions", "samples", "decoded_grid"):
            view = FitLabel()
            view.setObjectName(f"generated_{kind}")
            view.setAlignment(Qt.AlignmentFlag.AlignCenter)
            view.setMinimumSize(_TILE // 2, _TILE // 2)
            self.views[kind] = view
            self.boxes[kind] = self._box(kind, view)
            layout.addWidget(self.boxes[kind], 1)
        self.latent_plot = pg.PlotWidget(background="w")
        self.latent_plot.setObjectName("latentPlot")
        self.latent_plot.setMinimumSize(_TILE, _TILE)
        self.latent_plot.getPlotItem().setAspectLocked(True)
        self.latent_scatter = pg.ScatterPlotItem(size=5, pen=None)
        self.latent_plot.addItem(self.latent_scatter)
        self.boxes["latent"] = self._box("latent", self.latent_plot)
        layout.addWidget(self.boxes["latent"], 1)
        self.clear()

    def clear(self) -> None:
        """Forget the last run's pictures and hide (a new run starts)."""
        for kind, box in self.boxes.items():
            box.hide()
            if kind in self.views:
                self.views[kind].clear()
        self.latent_scatter.clear()
        self.hide()

    def show_previews(self, items: list[dict]) -> None:
        """Show the newest report of each kind among ``items``."""
        newest = {item["kind"]: item for item in items if item.get("kind") in KINDS}
        for kind, item in newest.items():
            epoch = item.get("epoch")
            caption = _CAPTIONS[kind].format(
                noisy="; middle: noisy inputs" if kind == "reconstructions"
                and item["images"][1] is not None else "")
            self.captions[kind].setText(f"{caption} · epoch {epoch + 1}" if epoch is not None else caption)
            if kind == "latent":
                self._draw_latent(np.asarray(item["points"]), item.get("labels"))
            else:
                picture = item.get("grid") if kind == "reconstructions" else item["images"]
                pixels = np.round(np.clip(np.asarray(picture, np.float32), 0, 1) * 255).astype(np.uint8)
                self.views[kind].set_picture(to_pixmap(pixels, least=_TILE))
            self.boxes[kind].show()
        if newest:
            self.show()

    def _box(self, kind: str, content: QWidget) -> QWidget:
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        caption = QLabel()
        caption.setWordWrap(True)
        caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.captions[kind] = caption
        column.addWidget(caption)
        column.addWidget(content, 1)
        return box

    def _draw_latent(self, points: np.ndarray, labels) -> None:
        if points.ndim != 2 or points.shape[1] < 2:
            return
        labels = np.zeros(len(points), int) if labels is None else np.asarray(labels).astype(int)
        colors = [pg.intColor(int(label), hues=max(10, int(labels.max()) + 1)) for label in labels]
        self.latent_scatter.setData(points[:, 0], points[:, 1], brush=colors)
