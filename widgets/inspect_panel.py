"""The Inspect panel: what a trained net looks at, what its layers respond to.

A model comes from the last training run, a run folder or a ``.keras``/``.h5`` file (opened in
a worker); a sample from the validation data (by index) or an image file (opened or dropped on
the panel). The top-5 prediction is shown next to the sample. Four tabs:

* Explain: the chosen saliency and CAM methods side by side as heat-map overlays, for the
  predicted class or any class, and (CAM) the last convolution or any layer;
* Activations: one layer's feature maps for the sample, one tile per channel;
* Kernels: the first convolution's kernels (RGB tiles), or a linear model's weight templates;
* Maximize: inputs grown from noise to excite filters or classes, with live previews.

All the work runs in one worker (``workbench.inspect`` functions, which never change the
model); every picture can be saved as PNG.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from widgets.model_task_panel import ModelTaskPanel, model_choice, open_model_button
from widgets.pictures import to_pixmap
from workbench.errors import WorkbenchError

# method name -> label, in the order shown
METHOD_LABELS = {
    "gradient": "Gradient", "smoothgrad": "SmoothGrad", "guided_backprop": "Guided backprop",
    "integrated_gradients": "Integrated gradients", "gradient_x_input": "Gradient × input",
    "grad_cam": "Grad-CAM", "grad_cam_plus_plus": "Grad-CAM++", "guided_grad_cam": "Guided Grad-CAM",
    "score_cam": "Score-CAM",
}
DEFAULT_METHODS = ("gradient", "smoothgrad", "grad_cam")
_TILE = 180  # pixels on the longer side of each shown picture
_IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp)"


class InspectPanel(ModelTaskPanel):
    """Look inside a trained model. See the module docstring.

    Signals:
        task_finished(str): a task ended: "open", "explain", "activations", "kernels",
            "maximize" (or "failed").
        model_opened(model, dataset, label): a run or model file was opened here (the other
            panels follow it).
    """

    model_opened = Signal(object, object, str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("inspectPanel")
        self.setAcceptDrops(True)
        self.source_label = ""
        self.experiment = None  # what the model was trained from, when known
        self._max_steps = 0  # of the activation maximization under way
        self.image: np.ndarray | None = None  # the sample, shaped like one model input
        self.pictures: dict[str, np.ndarray] = {}  # tab -> the picture shown, for Save
        self._build_ui()
        self._refresh()

    # ------------------------------------------------------------------ API
    def set_model(self, model, dataset=None, label: str = "", experiment=None) -> None:
        """Inspect ``model``; samples come from ``dataset``'s validation data when given.
        ``experiment``: the one it was trained from, when known (Export writes its data and
        training code, and calibrates with its data)."""
        self.model, self.dataset, self.source_label = model, dataset, label
        self.experiment = experiment
        self.image = None
        self.pictures.clear()
        self._fill_model_choices()
        if self._samples() is not None:
            self.sample_field.setRange(0, len(self._samples()) - 1)
            self._use_sample(self.sample_field.value())
        self._refresh()

    def show_sample(self, index: int) -> None:
        """Show validation sample ``index`` (clicked in another panel)."""
        self.sample_field.setValue(index)
        self._use_sample(index)

    def open_path(self, path: str | Path) -> bool:
        """Open a run folder or a model file in the worker (its data too, for a run)."""
        def work(progress):
            from workbench.inspect.source import open_with_data

            return open_with_data(path, progress)

        return self._start("open", work, f"Opening {path}…")

    def open_image(self, path: str | Path) -> bool:
        """Use an image file as the sample: resized to the model's input and prepared as its
        training data were (divided by 16 for digits, ...), with a notice of what was done."""
        from workbench.inspect.images import fit_image, load_image, prepare_pixels

        if self.model is None:
            self._show_status("Open a model first: the image is fitted to its input", error=True)
            return False
        try:
            image, notes = fit_image(load_image(path), tuple(self.model.inputs[0].shape[1:]))
            prepared, done, _ = prepare_pixels(image, self.model, self.dataset)
        except WorkbenchError as error:
            self._show_status(str(error), error=True)
            return False
        notes += done
        self._set_image(prepared, f"{Path(path).name}" + (f" ({'; '.join(notes)})" if notes else ""))
        return True

    def explain(self) -> bool:
        """Run the checked methods on the sample (Explain)."""
        methods = [name for name, box in self.method_boxes.items()
                   if box.isChecked() and box.isEnabled()]
        if not methods:
            self._show_status("Check at least one method" + (
                "" if self.method_boxes["grad_cam"].isEnabled() else
                " (the CAM methods need a convolution layer: this model has none)"), error=True)
            return False
        model, image = self.model, self.image
        class_index, layer = self.class_field.currentData(), self.layer_field.currentData()
        options = {"smoothgrad": {"samples": self.samples_field.value(), "noise": self.noise_field.value()},
                   "integrated_gradients": {"steps": self.steps_field.value()}}

        def work(progress):
            from workbench.inspect.explain import CAM_METHODS, explain

            results = []
            for done, method in enumerate(methods):
                if progress.cancelled():
                    break
                progress.step(done, len(methods), f"{METHOD_LABELS[method]}…")
                results.append(explain(model, image[None], method, class_index=class_index,
                                       layer=layer if method in CAM_METHODS else None,
                                       **options.get(method, {})))
            return results

        return self._start("explain", work, "Explaining…")

    def show_activations(self) -> bool:
        model, image, layer = self.model, self.image, self.activation_layer_field.currentData()
        limit = self.channels_field.value()
        if layer is None:
            self._show_status("This model has no layer with activation maps (height x width x "
                              "channels): its layers' activations are numbers", error=True)
            return False

        def work(progress):
            from workbench.inspect.features import activation_maps, channel_tiles
            from workbench.inspect.images import grid

            maps = activation_maps(model, image[None], layer)[0]
            return layer, maps.shape, grid(channel_tiles(maps, limit=limit))

        return self._start("activations", work, f"Activations of {layer}…")

    def show_kernels(self) -> bool:
        model = self.model

        def work(progress):
            from workbench.inspect.features import dense_templates, kernel_tiles
            from workbench.inspect.images import grid

            try:
                return "kernels of the first convolution", grid(kernel_tiles(model))
            except WorkbenchError:
                return "weight templates of the first dense layer", grid(dense_templates(model))

        return self._start("kernels", work, "Kernels…")

    def maximize(self) -> bool:
        from workbench.inspect.maximize import MaximizeSettings

        model, layer = self.model, self.max_layer_field.currentData()
        count = self.max_count_field.value()
        classes = self._class_count()
        settings = MaximizeSettings(steps=self.max_steps_field.value(), seed=0,
                                    value_range=self._value_range(), preview_every=5)
        self._max_steps = settings.steps

        def work(progress):
            from workbench.inspect.maximize import maximize, maximize_filters

            if layer is None:  # class scores
                return maximize(model, list(range(min(count, classes))), None, settings,
                                progress)
            return maximize_filters(model, layer, count=count, settings=settings, progress=progress)

        return self._start("maximize", work, "Growing inputs from noise…")

    def stop(self) -> None:
        self._runner.cancel()

    def shutdown(self) -> None:
        if self.running:
            self._runner.wait(cancel=True)

    def save_picture(self, path: str | Path | None = None) -> Path | None:
        """Save the current tab's picture as PNG (asks where when no path is given)."""
        from workbench.inspect.images import enlarge

        tab = self.tabs.tabText(self.tabs.currentIndex()).lower()
        picture = self.pictures.get(tab)
        if picture is None:
            self._show_status("Nothing to save on this tab yet", error=True)
            return None
        return self._save_png(path, f"{tab}.png", lambda: enlarge(picture))

    # ------------------------------------------------------------------- UI
    def _build_ui(self) -> None:
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.model_label = QLabel()
        self.model_label.setObjectName("inspectModel")
        open_button = open_model_button(
            "Open run or model", "A run folder (its best model and its data) or a .keras/.h5 file",
            self.open_path)
        top.addWidget(self.model_label, 1)
        top.addWidget(open_button)
        layout.addLayout(top)
        layout.addWidget(self._make_status("inspectStatus"))
        body = QHBoxLayout()
        body.addWidget(self._build_sample_box())
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_explain_tab(), "Explain")
        self.tabs.addTab(self._build_activations_tab(), "Activations")
        self.tabs.addTab(self._build_kernels_tab(), "Kernels")
        self.tabs.addTab(self._build_maximize_tab(), "Maximize")
        body.addWidget(self.tabs, 1)
        layout.addLayout(body, 1)
        bottom = QHBoxLayout()
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        save = QPushButton("Save picture…")
        save.setObjectName("savePictureButton")
        save.clicked.connect(lambda: self.save_picture())
        bottom.addStretch(1)
        bottom.addWidget(self.stop_button)
        bottom.addWidget(save)
        layout.addLayout(bottom)

    def _build_sample_box(self) -> QGroupBox:
        box = QGroupBox("Sample")
        box.setMaximumWidth(260)
        column = QVBoxLayout(box)
        row = QHBoxLayout()
        row.addWidget(QLabel("validation #"))
        self.sample_field = QSpinBox()
        self.sample_field.setObjectName("sampleIndex")
        self.sample_field.valueChanged.connect(self._use_sample)
        row.addWidget(self.sample_field, 1)
        column.addLayout(row)
        image_button = QPushButton("Open image…")
        image_button.setToolTip("Or drop an image file on the panel")
        image_button.clicked.connect(self._on_image_button_clicked)
        column.addWidget(image_button)
        self.sample_view = QLabel()
        self.sample_view.setObjectName("sampleView")
        self.sample_view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.sample_view.setMinimumSize(200, 200)
        column.addWidget(self.sample_view)
        self.sample_caption = QLabel()
        self.sample_caption.setWordWrap(True)
        column.addWidget(self.sample_caption)
        self.prediction = QLabel()
        self.prediction.setObjectName("topPredictions")
        self.prediction.setTextFormat(Qt.TextFormat.RichText)
        column.addWidget(self.prediction)
        column.addStretch(1)
        return box

    def _build_explain_tab(self) -> QWidget:
        page = QWidget()
        column = QVBoxLayout(page)
        methods = QGridLayout()
        self.method_boxes: dict[str, QCheckBox] = {}
        for i, (name, label) in enumerate(METHOD_LABELS.items()):
            box = QCheckBox(label)
            box.setObjectName(f"method_{name}")
            box.setChecked(name in DEFAULT_METHODS)
            self.method_boxes[name] = box
            methods.addWidget(box, i // 5, i % 5)
        column.addLayout(methods)
        row = QHBoxLayout()
        self.class_field = model_choice("explainClass")
        self.layer_field = model_choice("camLayer")
        self.samples_field = self._spin(1, 200, 25, "SmoothGrad: noisy copies averaged")
        self.noise_field = QDoubleSpinBox()
        self.noise_field.setRange(0.0, 1.0)
        self.noise_field.setSingleStep(0.05)
        self.noise_field.setValue(0.15)
        self.noise_field.setToolTip("SmoothGrad: noise as a fraction of the input range")
        self.steps_field = self._spin(2, 500, 32, "Integrated gradients: steps from the baseline (black)")
        self.alpha_field = QDoubleSpinBox()
        self.alpha_field.setRange(0.0, 1.0)
        self.alpha_field.setSingleStep(0.1)
        self.alpha_field.setValue(0.5)
        self.alpha_field.setToolTip("How strongly the heat map covers the image")
        self.alpha_field.valueChanged.connect(self._redraw_explanations)
        for label, field in (("class", self.class_field), ("CAM layer", self.layer_field),
                             ("samples", self.samples_field), ("noise", self.noise_field),
                             ("IG steps", self.steps_field), ("overlay", self.alpha_field)):
            row.addWidget(QLabel(label))
            row.addWidget(field)
        row.addStretch(1)
        column.addLayout(row)
        self.explain_button = QPushButton("Explain")
        self.explain_button.setObjectName("explainButton")
        self.explain_button.clicked.connect(self.explain)
        column.addWidget(self.explain_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.explain_grid = QGridLayout()
        holder = QWidget()
        holder.setLayout(self.explain_grid)
        scroller = QScrollArea()
        scroller.setWidgetResizable(True)
        scroller.setWidget(holder)
        column.addWidget(scroller, 1)
        self._explanations: list = []
        return page

    def _picture_page(self, controls: list[QWidget], button: QPushButton) -> tuple[QWidget, QLabel]:
        page = QWidget()
        column = QVBoxLayout(page)
        row = QHBoxLayout()
        for control in controls:
            row.addWidget(control)
        row.addWidget(button)
        row.addStretch(1)
        column.addLayout(row)
        picture = QLabel()
        picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        scroller = QScrollArea()
        scroller.setWidgetResizable(True)
        scroller.setWidget(picture)
        column.addWidget(scroller, 1)
        return page, picture

    def _build_activations_tab(self) -> QWidget:
        self.activation_layer_field = model_choice("activationLayer")
        self.channels_field = self._spin(1, 1024, 64, "Channels shown")
        button = QPushButton("Show activations")
        button.setObjectName("activationsButton")
        button.clicked.connect(self.show_activations)
        page, self.activations_view = self._picture_page(
            [QLabel("layer"), self.activation_layer_field, QLabel("channels"), self.channels_field], button)
        self.activations_view.setObjectName("activationsView")
        return page

    def _build_kernels_tab(self) -> QWidget:
        button = QPushButton("Show kernels")
        button.setObjectName("kernelsButton")
        button.clicked.connect(self.show_kernels)
        page, self.kernels_view = self._picture_page([], button)
        self.kernels_view.setObjectName("kernelsView")
        return page

    def _build_maximize_tab(self) -> QWidget:
        self.max_layer_field = model_choice("maximizeLayer")
        self.max_count_field = self._spin(1, 256, 16, "Filters (or classes) to grow an input for")
        self.max_steps_field = self._spin(1, 5000, 100, "Gradient-ascent steps")
        button = QPushButton("Maximize")
        button.setObjectName("maximizeButton")
        button.clicked.connect(self.maximize)
        page, self.maximize_view = self._picture_page(
            [QLabel("target"), self.max_layer_field, QLabel("count"), self.max_count_field,
             QLabel("steps"), self.max_steps_field], button)
        self.maximize_view.setObjectName("maximizeView")
        return page

    @staticmethod
    def _spin(low: int, high: int, value: int, tip: str) -> QSpinBox:
        field = QSpinBox()
        field.setRange(low, high)
        field.setValue(value)
        field.setToolTip(tip)
        return field

    # ------------------------------------------------------------- choices
    def _fill_model_choices(self) -> None:
        from workbench.inspect.explain import CAM_METHODS
        from workbench.inspect.layers import conv_layers, spatial_layers

        self.class_field.clear()
        self.layer_field.clear()
        self.activation_layer_field.clear()
        self.max_layer_field.clear()
        if self.model is None:
            return
        self.class_field.addItem("predicted class", None)
        names = getattr(self.dataset, "class_names", None) or []
        for index in range(self._class_count()):
            name = names[index] if index < len(names) else str(index)
            self.class_field.addItem(f"{index}: {name}", index)
        convs = conv_layers(self.model)
        # CAM methods weigh a convolution's feature maps: without one they cannot run.
        for name in CAM_METHODS:
            self.method_boxes[name].setEnabled(bool(convs))
            self.method_boxes[name].setToolTip("" if convs else
                                               "Needs a convolution layer: this model has none")
        self.layer_field.addItem("last convolution" if convs else "(no convolution)", None)
        for name in convs:
            self.layer_field.addItem(name, name)
        # Only layers whose activations are maps: a dense layer's are numbers, not pictures.
        for name in spatial_layers(self.model):
            self.activation_layer_field.addItem(name, name)
        if not self.activation_layer_field.count():
            self.activation_layer_field.addItem("(no layer with maps)", None)
        if convs:
            self.activation_layer_field.setCurrentIndex(self.activation_layer_field.findData(convs[0]))
        self.max_layer_field.addItem("class scores", None)
        for name in convs:
            self.max_layer_field.addItem(name, name)

    def _class_count(self) -> int:
        shape = self.model.outputs[0].shape if self.model is not None else (None, 0)
        return int(shape[-1] or 0)

    def _samples(self):
        held_out = self.dataset.held_out() if self.dataset is not None else None
        return held_out[0] if held_out is not None else None

    def _value_range(self) -> tuple[float, float]:
        samples = self._samples()
        if samples is None:
            return (0.0, 1.0)
        low, high = float(np.min(samples)), float(np.max(samples))
        return (low, high) if high > low else (0.0, 1.0)

    # -------------------------------------------------------------- sample
    def _use_sample(self, index: int) -> None:
        samples = self._samples()
        if samples is None or not 0 <= index < len(samples):
            return
        labels = self.dataset.held_out()[1]
        caption = f"validation sample {index}"
        if labels is not None and np.ndim(labels[index]) <= 1:
            label = int(np.argmax(labels[index])) if np.ndim(labels[index]) == 1 else int(labels[index])
            names = self.dataset.class_names or []
            caption += f" · label {label}" + (f" ({names[label]})" if label < len(names) else "")
        self._set_image(np.asarray(samples[index], np.float32), caption)

    def _set_image(self, image: np.ndarray, caption: str) -> None:
        from workbench.inspect.images import display_image

        self.image = image
        shown = np.round(display_image(image) * 255).astype(np.uint8)
        self.sample_view.setPixmap(to_pixmap(shown, least=_TILE))
        self.sample_caption.setText(caption)
        self._show_prediction()
        self._refresh()

    def _show_prediction(self) -> None:
        if self.model is None or self.image is None:
            self.prediction.setText("")
            return
        try:
            scores = np.asarray(self.model.predict(self.image[None], verbose=0))
        except Exception as error:  # a model refusing the sample: say so, keep the panel usable
            self.prediction.setText(f"cannot predict: {error}")
            return
        scores = scores.reshape(-1)
        names = getattr(self.dataset, "class_names", None) or []
        top = np.argsort(scores)[::-1][:5]
        rows = [f"{'<b>' if i == 0 else ''}{c}: {names[c] if c < len(names) else ''} "
                f"{scores[c]:.3f}{'</b>' if i == 0 else ''}" for i, c in enumerate(top)]
        self.prediction.setText("Top predictions:<br>" + "<br>".join(rows))

    # --------------------------------------------------------------- tasks
    def _start(self, task: str, work, message: str) -> bool:
        if self.running:
            self._show_status("Busy: wait for the current task, or Stop it", error=True)
            return False
        if task != "open" and self.model is None:
            self._show_status("Open a model first (a run folder or a .keras file), or train one",
                              error=True)
            return False
        if task in ("explain", "activations") and self.image is None:
            self._show_status("Pick a sample or open an image first", error=True)
            return False
        self._task = task
        self._show_status(message)
        self._runner.start(work)
        self._refresh()
        return True

    def _on_runner_partials(self, partials: list) -> None:
        previews = [p for p in partials if isinstance(p, dict) and p.get("kind") == "preview"]
        if previews and self._task == "maximize":
            from workbench.inspect.images import grid

            latest = previews[-1]
            self._show_picture("maximize", self.maximize_view, grid(latest["images"]))
            self._show_status(f"Maximizing: step {latest['step']} of {self._max_steps}")

    def _on_runner_finished(self, result) -> None:
        task, self._task = self._task, ""
        if task == "open":
            source, dataset = result
            self.set_model(source.model, dataset, source.label, source.experiment)
            self.model_opened.emit(source.model, dataset, source.label)
            self._show_status(f"Opened {source.path}"
                              + ("" if dataset is not None else ": open an image to inspect it"))
        elif task == "explain":
            self._explanations = result
            self._redraw_explanations()
            notes = sorted({note for explanation in result for note in explanation.notes})
            self._show_status("Explained." + (" " + " ".join(notes) if notes else ""))
        elif task == "activations":
            layer, shape, picture = result
            self._show_picture("activations", self.activations_view, picture)
            self._show_status(f"{layer}: output {tuple(shape)}")
        elif task == "kernels":
            what, picture = result
            self._show_picture("kernels", self.kernels_view, picture)
            self._show_status(what[:1].upper() + what[1:])
        elif task == "maximize":
            from workbench.inspect.images import grid

            self._show_picture("maximize", self.maximize_view, grid(result.images))
            gain = result.history[-1] - result.history[0]
            self._show_status(f"Maximized {len(result.units)} targets"
                              + (" (stopped)" if result.stopped else "")
                              + f": activation up by {float(np.mean(gain)):.3g} on average"
                              + "".join(f"; {note}" for note in result.notes))
        self._refresh()
        self.task_finished.emit(task)

    def _show_picture(self, tab: str, view: QLabel, picture: np.ndarray) -> None:
        picture = np.asarray(picture, np.float32)
        self.pictures[tab] = picture
        view.setPixmap(to_pixmap(np.round(np.clip(picture, 0, 1) * 255).astype(np.uint8), least=360))

    def _redraw_explanations(self) -> None:
        from workbench.inspect.images import captioned_grid, overlay

        while self.explain_grid.count():
            item = self.explain_grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        if not self._explanations or self.image is None:
            return
        pictures, captions = [], []
        columns = 4
        for index, explanation in enumerate(self._explanations):
            heat = explanation.maps[0]
            if heat.ndim != 2:  # a vector input: no picture to lay it on
                heat = heat.reshape(1, -1)
            mixed = overlay(self.image, heat, alpha=self.alpha_field.value()) if heat.shape[0] > 1 \
                else np.round(np.repeat(heat[..., None], 3, -1) * 255).astype(np.uint8)
            pictures.append(mixed.astype(np.float32) / 255)
            cell = QWidget()
            stack = QVBoxLayout(cell)
            view = QLabel()
            view.setPixmap(to_pixmap(mixed, least=_TILE))
            view.setObjectName(f"explanation_{explanation.method}")
            title = METHOD_LABELS.get(explanation.method, explanation.method)
            where = f" · {explanation.layer}" if explanation.layer else ""
            scored = f"class {int(explanation.classes[0])}, score {float(explanation.scores[0]):.3g}"
            captions.append(f"{title}{where} · {scored}")
            caption = QLabel(f"{title}{where}<br><small>{scored}</small>")
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            stack.addWidget(view, 0, Qt.AlignmentFlag.AlignCenter)
            stack.addWidget(caption)
            self.explain_grid.addWidget(cell, index // columns, index % columns,
                                        Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.explain_grid.setRowStretch(len(self._explanations) // columns + 1, 1)
        self.explain_grid.setColumnStretch(columns, 1)
        self.pictures["explain"] = captioned_grid(pictures, captions, columns)

    def _refresh(self) -> None:
        has_model = self.model is not None
        self.model_label.setText(f"<b>Model:</b> {self.source_label or 'the last trained model'}"
                                 if has_model else "<b>Model:</b> none yet: train one, or open a run "
                                 "folder or a .keras file")
        self.sample_field.setEnabled(self._samples() is not None)
        self.stop_button.setEnabled(self.running)
        self.explain_button.setEnabled(has_model and not self.running)

    # ------------------------------------------------------------ user input
    def _on_image_button_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an image", "", _IMAGE_FILTER)
        if path:
            self.open_image(path)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt API)
        for url in event.mimeData().urls():
            path = Path(url.toLocalFile())
            if path.suffix.lower() in (".keras", ".h5") or path.is_dir():
                self.open_path(path)
            else:
                self.open_image(path)
            break
