"""The Style panel: paint a content picture in the style of another (Gatys et al.).

Content and style pictures come from files (Open, or dropped on their wells); the bundled
samples are there at the start. The feature extractor is VGG19 with its ImageNet weights (a
download of ~80 MB on first use, kept in Keras' cache) or a convolutional model of the user's:
the last trained one, a run folder or a model file. Offline without the VGG19 file, the panel
says so and offers the user's own models. Weights are log sliders; the picture and the loss
curve update live from the worker (``workbench.generate.style.style_transfer``); Stop keeps the
picture so far, and Save writes it as a PNG.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from widgets.model_task_panel import ModelTaskPanel, open_model_button
from widgets.pictures import to_pixmap
from workbench.errors import WorkbenchError

SAMPLES = Path(__file__).resolve().parents[1] / "assets" / "samples"
_IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp)"
_MODEL_SUFFIXES = (".keras", ".h5")
_WELL = 190
_VGG19 = "vgg19"
_LOSS_COLORS = {"total": "#222222", "content": "#1f77b4", "style": "#d62728", "tv": "#2ca02c"}


class PictureWell(QLabel):
    """A picture slot that takes an image file dropped on it.

    Signals:
        file_dropped(str): the path of a file dropped here.
    """

    file_dropped = Signal(str)

    def __init__(self, placeholder: str, parent: QWidget | None = None):
        super().__init__(placeholder, parent)
        self.setAcceptDrops(True)
        self.setMinimumSize(_WELL, _WELL)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setStyleSheet("QLabel { border: 1px dashed #999; color: #666; }")

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt API)
        urls = event.mimeData().urls()
        if urls:
            self.file_dropped.emit(urls[0].toLocalFile())
            event.acceptProposedAction()


class LogSlider(QWidget):
    """A slider over powers of ten, with the value shown beside it (loss weights span decades)."""

    def __init__(self, low: float, high: float, value: float, parent: QWidget | None = None):
        super().__init__(parent)
        self._low, self._steps_per_decade = math.log10(low), 10
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, round((math.log10(high) - self._low) * self._steps_per_decade))
        self.label = QLabel()
        self.label.setMinimumWidth(48)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.label)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.slider.valueChanged.connect(self._on_slider_value_changed)
        self.set_value(value)

    def value(self) -> float:
        return float(f"{10 ** (self._low + self.slider.value() / self._steps_per_decade):.3g}")

    def set_value(self, value: float) -> None:
        self.slider.setValue(round((math.log10(value) - self._low) * self._steps_per_decade))
        self._on_slider_value_changed()

    def _on_slider_value_changed(self, *_) -> None:
        self.label.setText(f"{self.value():g}")


class StylePanel(ModelTaskPanel):
    """Neural style transfer. See the module docstring.

    Signals:
        task_finished(str): "style", "open" or "failed".
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("stylePanel")
        self.setAcceptDrops(True)
        self.pictures: dict[str, np.ndarray | None] = {"content": None, "style": None}
        self.paths: dict[str, str] = {}
        self.models: dict[str, tuple] = {}  # extractor key -> (model, value range, label)
        self.result = None
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._build_ui()
        for kind in ("content", "style"):
            sample = SAMPLES / f"{kind}.png"
            if sample.exists():
                self.open_picture(kind, sample)
        self._fill_layers()
        if not self._vgg19_cached():
            self._show_status("VGG19's ImageNet weights (~80 MB) download on the first Paint. Offline, "
                       "train a model or open one of yours (Open model or run): it is used instead")
        self._refresh()

    # ------------------------------------------------------------------ API
    def set_model(self, model, dataset=None, label: str = "") -> None:
        """Offer ``model`` (the last trained or opened one) as the feature extractor, and pick it
        when VGG19's weights are not on this machine."""
        if model is None:
            return
        self._add_model("trained", model, dataset, f"trained model: {label or model.name}")
        if not self._vgg19_cached() and self.extractor_field.currentData() == _VGG19:
            self._select_extractor("trained")
        if not self.running:
            self._show_status(f"Features from {label or model.name} (the trained model); VGG19 is still "
                       "in the list")

    def open_picture(self, kind: str, path: str | Path) -> bool:
        """Use an image file as the content or the style picture."""
        from workbench.inspect.images import load_unit_image

        try:
            picture = load_unit_image(path)
        except WorkbenchError as error:
            self._show_status(str(error), error=True)
            return False
        if picture.shape[-1] == 4:
            picture = picture[..., :3]
        self.pictures[kind] = picture
        self.paths[kind] = str(path)
        well = self.content_well if kind == "content" else self.style_well
        self._draw(well, picture)
        well.setToolTip(str(path))
        self._show_status(f"{kind.capitalize()}: {Path(path).name} ({picture.shape[1]}x{picture.shape[0]})")
        self._refresh()
        return True

    def open_model(self, path: str | Path) -> bool:
        """Load a run folder or a model file (in the worker) as a feature extractor."""
        def work(progress):
            from workbench.inspect.source import open_with_data

            return open_with_data(path, progress)

        return self._start("open", work, f"Opening {path}…")

    def run_style(self) -> bool:
        """Start style transfer with the panel's settings."""
        if self.running:
            return False
        if self.pictures["content"] is None or self.pictures["style"] is None:
            self._show_status("Choose a content and a style picture first (Open, or drop files on them)",
                       error=True)
            return False
        from workbench.generate.style import StyleSettings, capped_size

        try:
            style_layers, content_layers = self._chosen_layers()
            settings = StyleSettings(
                steps=self.steps_field.value(), size=capped_size(self.pictures["content"].shape,
                                                                 self.size_field.value()),
                content_weight=self.weight_fields["content"].value(),
                style_weight=self.weight_fields["style"].value(),
                tv_weight=self.weight_fields["tv"].value(), optimizer=self.optimizer_field.currentData(),
                learning_rate=self.rate_field.value(), init=self.init_field.currentData(),
                preview_every=max(1, self.steps_field.value() // 50))
        except WorkbenchError as error:
            self._show_status(str(error), error=True)
            return False
        content, style = self.pictures["content"], self.pictures["style"]
        key = self.extractor_field.currentData()
        model = self.models.get(key)

        def work(progress):
            from workbench.generate.style import style_transfer

            extractor = _make_extractor(key, model, style_layers, content_layers, progress)
            return style_transfer(content, style, extractor, settings, progress)

        self.result = None
        for curve in self._curves.values():
            curve.setData([], [])
        return self._start("style", work, "Preparing the feature extractor…")

    def stop(self) -> None:
        self._runner.cancel()

    def save(self, path: str | Path | None = None) -> Path | None:
        """Write the styled picture as a PNG (asks where when ``path`` is None)."""
        if self.result is None:
            self._show_status("Nothing to save yet: run style transfer first", error=True)
            return None
        return self._save_png(path, "styled.png", lambda: self.result.image)

    def shutdown(self) -> None:
        if self.running:
            self._runner.wait(cancel=True)

    # ------------------------------------------------------------------- UI
    def _build_ui(self) -> None:
        layout = QHBoxLayout(self)
        layout.addWidget(self._build_settings(), 0, Qt.AlignmentFlag.AlignTop)
        right = QVBoxLayout()
        wells = QGridLayout()
        self.content_well = PictureWell("Content picture\n\ndrop an image here")
        self.content_well.setObjectName("styleContent")
        self.content_well.file_dropped.connect(lambda path: self.open_picture("content", path))
        self.style_well = PictureWell("Style picture\n\ndrop an image here")
        self.style_well.setObjectName("styleStyle")
        self.style_well.file_dropped.connect(lambda path: self.open_picture("style", path))
        self.result_view = QLabel("The styled picture appears here")
        self.result_view.setObjectName("styleResult")
        self.result_view.setMinimumSize(_WELL, _WELL)
        self.result_view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        for column, (view, kind) in enumerate(((self.content_well, "content"), (self.style_well, "style"),
                                               (self.result_view, None))):
            wells.addWidget(view, 0, column)
            if kind is not None:
                button = QPushButton(f"Open {kind}…")
                button.setObjectName(f"open{kind.capitalize()}Button")
                button.clicked.connect(lambda _=False, k=kind: self._on_open_picture_clicked(k))
                wells.addWidget(button, 1, column)
        self.save_button = QPushButton("Save picture…")
        self.save_button.setObjectName("styleSaveButton")
        self.save_button.clicked.connect(lambda: self.save())
        wells.addWidget(self.save_button, 1, 2)
        right.addLayout(wells)
        right.addWidget(self._make_status("styleStatus"))
        self.status.setWordWrap(True)
        self.loss_plot = pg.PlotWidget(background="w")
        self.loss_plot.setObjectName("styleLossPlot")
        self.loss_plot.setMinimumHeight(140)
        # It takes the height left over, and asks for none: its preferred 480 px made the tab
        # taller than the window at 1280x800, with a scroll bar for 46 px.
        self.loss_plot.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Ignored)
        item = self.loss_plot.getPlotItem()
        item.setLabel("bottom", "step")
        item.setLabel("left", "loss terms (unweighted)")
        item.setLogMode(y=True)
        item.showGrid(x=True, y=True, alpha=0.2)
        item.addLegend(offset=(-10, 10))
        for name, color in _LOSS_COLORS.items():
            self._curves[name] = item.plot([], [], name=name, pen=pg.mkPen(color, width=2),
                                           connect="finite")
        right.addWidget(self.loss_plot, 1)
        layout.addLayout(right, 1)

    def _build_settings(self) -> QWidget:
        holder = QWidget()
        holder.setMaximumWidth(340)
        form = QFormLayout(holder)
        self.extractor_field = QComboBox()
        self.extractor_field.setObjectName("styleExtractor")
        # Long names (a run folder) elide in the box; the full name is in the list and tooltip.
        self.extractor_field.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.extractor_field.setMinimumContentsLength(16)
        self.extractor_field.addItem(self._vgg19_label(), _VGG19)
        self.extractor_field.currentIndexChanged.connect(self._on_extractor_changed)
        form.addRow("Features from", self.extractor_field)
        open_row = QHBoxLayout()
        open_model = open_model_button(
            "Open model or run", "Use one of your convolutional models as the feature extractor "
            "(or drop a .keras/.h5 file or a run folder on the panel)", self.open_model)
        vgg_file = QPushButton("VGG19 weights file…")
        vgg_file.setToolTip("Use a copy of Keras' VGG19 'notop' weights file (no download)")
        vgg_file.clicked.connect(self._on_vgg_file_clicked)
        open_row.addWidget(open_model)
        open_row.addWidget(vgg_file)
        form.addRow(open_row)
        self.content_layer_field = QComboBox()
        self.content_layer_field.setObjectName("styleContentLayer")
        form.addRow("Content layer", self.content_layer_field)
        self.style_layers_field = QListWidget()
        self.style_layers_field.setObjectName("styleLayers")
        self.style_layers_field.setMaximumHeight(110)
        self.style_layers_field.setToolTip("Tick the layers whose Gram matrices make the style")
        form.addRow("Style layers", self.style_layers_field)
        self.weight_fields = {
            "content": LogSlider(1e-3, 1e3, 1.0), "style": LogSlider(1e-3, 1e3, 10.0),
            "tv": LogSlider(1e-3, 1e3, 1.0)}
        for name, label, tip in (
                ("content", "Content weight", "How much the picture keeps the content's shapes"),
                ("style", "Style weight", "How strongly the style's textures are painted in"),
                ("tv", "Smoothness (TV)", "Total variation: higher gives smoother, less noisy pictures")):
            self.weight_fields[name].setObjectName(f"style_{name}_weight")
            self.weight_fields[name].setToolTip(tip)
            form.addRow(label, self.weight_fields[name])
        self.steps_field = QSpinBox()
        self.steps_field.setObjectName("styleSteps")
        self.steps_field.setRange(1, 5000)
        self.steps_field.setValue(200)
        form.addRow("Steps", self.steps_field)
        self.optimizer_field = QComboBox()
        self.optimizer_field.addItem("Adam", "adam")
        self.optimizer_field.addItem("L-BFGS", "lbfgs")
        form.addRow("Optimizer", self.optimizer_field)
        self.rate_field = QDoubleSpinBox()
        self.rate_field.setDecimals(3)
        self.rate_field.setRange(0.001, 1.0)
        self.rate_field.setSingleStep(0.005)
        self.rate_field.setValue(0.02)
        self.rate_field.setToolTip("Adam's step, in pixel values from 0 to 1")
        form.addRow("Step size (Adam)", self.rate_field)
        self.init_field = QComboBox()
        self.init_field.addItem("the content picture", "content")
        self.init_field.addItem("noise", "noise")
        form.addRow("Start from", self.init_field)
        self.size_field = QSpinBox()
        self.size_field.setObjectName("styleSize")
        self.size_field.setRange(16, 1024)
        self.size_field.setValue(256)
        self.size_field.setSuffix(" px")
        self.size_field.setToolTip("The picture's longer side (the content picture is scaled to it); "
                                   "larger is slower")
        form.addRow("Longer side", self.size_field)
        buttons = QHBoxLayout()
        self.run_button = QPushButton("Paint")
        self.run_button.setObjectName("styleButton")
        self.run_button.clicked.connect(self.run_style)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("styleStopButton")
        self.stop_button.clicked.connect(self.stop)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.stop_button)
        form.addRow(buttons)
        holder.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        return holder

    def _refresh(self) -> None:
        busy = self.running
        ready = self.pictures["content"] is not None and self.pictures["style"] is not None
        self.run_button.setEnabled(ready and not busy)
        self.stop_button.setEnabled(busy and self._task == "style")
        self.save_button.setEnabled(self.result is not None and not busy)
        self.rate_field.setEnabled(self.optimizer_field.currentData() == "adam")

    def _draw(self, view: QLabel, picture: np.ndarray) -> None:
        pixels = np.round(np.clip(picture, 0, 1) * 255).astype(np.uint8)
        pixmap = to_pixmap(pixels, least=_WELL)
        view.setPixmap(pixmap.scaled(_WELL, _WELL, Qt.AspectRatioMode.KeepAspectRatio,
                                     Qt.TransformationMode.SmoothTransformation))

    # ------------------------------------------------------------ extractor
    @staticmethod
    def _vgg19_cached() -> bool:
        from workbench.generate.extractor import VGG19_FILE, vgg19_cache_dir

        return (vgg19_cache_dir() / VGG19_FILE).is_file()

    def _vgg19_label(self) -> str:
        return "VGG19, ImageNet" + (" (cached)" if self._vgg19_cached() else " (downloads ~80 MB)")

    def _add_model(self, key: str, model, dataset, label: str) -> None:
        from workbench.generate.adversarial_training import data_value_range

        value_range = data_value_range(dataset) if dataset is not None else None
        self.models[key] = (model, value_range or (0.0, 1.0), label)
        index = self.extractor_field.findData(key)
        if index < 0:
            self.extractor_field.addItem(label, key)
        else:
            self.extractor_field.setItemText(index, label)
            if index == self.extractor_field.currentIndex():
                self._fill_layers()

    def _select_extractor(self, key: str) -> None:
        self.extractor_field.setCurrentIndex(self.extractor_field.findData(key))

    def _fill_layers(self) -> None:
        """The chosen extractor's convolutions: content layer choices and style checkboxes, with
        the usual defaults (Gatys et al. for VGG19; the last convolution and all of them for a
        model of the user's)."""
        from workbench.generate.extractor import (
            VGG19_CONTENT_LAYERS,
            VGG19_CONV_LAYERS,
            VGG19_STYLE_LAYERS,
        )

        key = self.extractor_field.currentData()
        if key == _VGG19 or key is None:
            names, content, style = list(VGG19_CONV_LAYERS), VGG19_CONTENT_LAYERS[0], set(VGG19_STYLE_LAYERS)
        else:
            from workbench.inspect.layers import conv_layers

            names = conv_layers(self.models[key][0])
            content, style = (names[-1] if names else ""), set(names)
        self.content_layer_field.clear()
        self.content_layer_field.addItems(names)
        self.content_layer_field.setCurrentText(content)
        self.style_layers_field.clear()
        for name in names:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in style else Qt.CheckState.Unchecked)
            self.style_layers_field.addItem(item)
        if not names:
            self._show_status("This model has no 2-D convolution: style transfer needs feature maps; "
                       "choose another extractor", error=True)

    def _chosen_layers(self) -> tuple[list[str], list[str]]:
        style = [self.style_layers_field.item(i).text() for i in range(self.style_layers_field.count())
                 if self.style_layers_field.item(i).checkState() == Qt.CheckState.Checked]
        content = self.content_layer_field.currentText()
        if not style:
            raise WorkbenchError("Tick at least one style layer")
        if not content:
            raise WorkbenchError("Choose a content layer")
        return style, [content]

    # ------------------------------------------------------------ user input
    def _on_extractor_changed(self, _index: int) -> None:
        self.extractor_field.setToolTip(self.extractor_field.currentText())
        self._fill_layers()

    def _on_open_picture_clicked(self, kind: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, f"Open the {kind} picture", "", _IMAGE_FILTER)
        if path:
            self.open_picture(kind, path)

    def _on_vgg_file_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "VGG19 weights file", "", "HDF5 weights (*.h5)")
        if path:
            self.use_vgg19_file(path)

    def use_vgg19_file(self, path: str | Path) -> None:
        """Use a local copy of the VGG19 weights instead of Keras' cache."""
        key = f"{_VGG19}:{path}"
        if self.extractor_field.findData(key) < 0:
            self.extractor_field.addItem(f"VGG19, weights from {Path(path).name}", key)
        self._select_extractor(key)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt API)
        """A model or run dropped on the panel becomes the extractor; an image, the content."""
        urls = event.mimeData().urls()
        if not urls:
            return
        path = Path(urls[0].toLocalFile())
        if path.is_dir() or path.suffix.lower() in _MODEL_SUFFIXES:
            self.open_model(path)
        else:
            self.open_picture("content", path)

    # --------------------------------------------------------------- worker
    def _start(self, task: str, work, message: str) -> bool:
        if self.running:
            return False
        self._task = task
        self._show_status(message)
        self._runner.start(work)
        self._refresh()
        return True

    def _on_runner_partials(self, partials: list) -> None:
        previews = [p for p in partials if isinstance(p, dict) and p.get("kind") == "preview"]
        if not previews:
            return
        for preview in previews:
            for name, curve in self._curves.items():
                xs, ys = curve.getData()
                xs = [] if xs is None else list(xs)
                ys = [] if ys is None else list(ys)
                curve.setData(xs + [preview["step"]], ys + [_positive(preview["losses"][name])])
        self._draw(self.result_view, previews[-1]["image"])

    def _on_runner_finished(self, result) -> None:
        task, self._task = self._task, ""
        if task == "open":
            source, dataset = result
            key = f"file:{source.path}"
            self._add_model(key, source.model, dataset, source.label)
            self._select_extractor(key)
            self._show_status(f"Features from {source.label}: its convolutions are listed on the left")
        elif task == "style":
            self.result = result
            self._draw(self.result_view, result.image)
            steps = np.arange(len(result.losses["total"]))
            for name, curve in self._curves.items():
                curve.setData(steps, _positive(np.asarray(result.losses[name])))
            start, end = result.losses["style"][0], result.losses["style"][-1]
            verb = "Stopped" if result.stopped else "Done"
            notes = " ".join(f"Note: {note}." for note in result.notes)
            self._show_status(f"{verb} after {result.steps} steps: style loss {start:.3g} → {end:.3g}, "
                       f"content loss {result.losses['content'][-1]:.3g}. {notes}".strip())
        self._refresh()
        self.task_finished.emit(task)


def _positive(values):
    """Loss values for a log axis: a zero (the content term at the first step) is left out."""
    return np.where(np.asarray(values) > 0, values, np.nan)


def _make_extractor(key: str, model, style_layers, content_layers, progress):
    """The feature extractor for the panel's choice (runs in the worker: VGG19 may download)."""
    from workbench.generate.extractor import model_extractor, vgg19_extractor

    if key.startswith(_VGG19):
        weights = key.split(":", 1)[1] if ":" in key else None
        try:
            return vgg19_extractor(content_layers, style_layers, weights, progress)
        except WorkbenchError as error:
            if weights is not None:
                raise
            cause = str(error).split(". Copy ")[0].split(": a VGG19 weights file")[0]
            raise WorkbenchError(
                f"{cause[:1].upper()}{cause[1:]}. Use one of your own convolutional models instead "
                "(Open model or run, or train one: it is offered here), or point to a copy of the "
                "weights file (VGG19 weights file…)") from None
    network, value_range, _ = model
    return model_extractor(network, style_layers, content_layers, value_range)
