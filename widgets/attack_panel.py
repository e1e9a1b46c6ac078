"""The Attack panel: small perturbations that fool the model, and how robust it is.

A validation sample is attacked (FGSM, BIM or PGD, L-inf or L2, untargeted or towards a class)
in the worker (``workbench.generate.adversarial``); the original, the amplified perturbation
and the adversarial picture are shown side by side with the top predictions before and after.
Sweep plots accuracy against epsilon for FGSM and PGD on validation samples; Saliency shows
the gradient map of the clean and the adversarial picture side by side.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from widgets.model_task_panel import ModelTaskPanel, model_choice
from widgets.pictures import to_pixmap

_TILE = 160
_SWEEP_SAMPLES = 200
SWEEP_POINTS = 9  # as many as the CLI's --sweep


class AttackPanel(ModelTaskPanel):
    """Adversarial examples for a trained classifier. See the module docstring.

    Signals:
        task_finished(str): "attack", "sweep", "saliency" or "failed".
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("attackPanel")
        self.result = None
        self.sweep = None
        self._build_ui()
        self._refresh()

    def set_model(self, model, dataset, label: str = "") -> None:
        self.model, self.dataset, self.result, self.sweep = model, dataset, None, None
        self.model_label.setText(f"<b>Model:</b> {label or 'the last trained model'}")
        self.target_field.clear()
        self.target_field.addItem("none (leave the true class)", None)
        classes = int(model.outputs[0].shape[-1] or 0) if model is not None else 0
        names = getattr(dataset, "class_names", None) or []
        for c in range(classes):
            self.target_field.addItem(f"{c}: {names[c]}" if c < len(names) else str(c), c)
        x, _ = self._samples() or (None, None)
        if x is not None:
            self.sample_field.setRange(0, len(x) - 1)
            # Epsilon is in the input's units: no change can exceed the data's whole range.
            low, high = self._range(x)
            self.eps_field.setMaximum(high - low)
            self.eps_field.setToolTip(f"The largest change, in the model's input units (the data "
                                      f"span {low:.3g} to {high:.3g})")
        self._refresh()

    def attack(self) -> bool:
        from workbench.generate.adversarial import AttackSettings, attack

        samples = self._samples()
        if not self._ready(samples):
            return False
        x, y = samples
        index = self.sample_field.value()
        settings = AttackSettings(method=self.method_field.currentData(), epsilon=self.eps_field.value(),
                                  norm=self.norm_field.currentData(), steps=self.steps_field.value(),
                                  target=self.target_field.currentData(), value_range=self._range(x))
        model, sample, label = self.model, x[index:index + 1], None if y is None else y[index:index + 1]
        return self._start("attack", lambda progress: attack(model, sample, label, settings, progress))

    def run_sweep(self) -> bool:
        from workbench.generate.adversarial import AttackSettings, robustness_sweep

        samples = self._samples()
        if not self._ready(samples):
            return False
        x, y = samples
        if y is None:
            self._show_status("The sweep needs labelled data", error=True)
            return False
        x, y = x[:_SWEEP_SAMPLES], y[:_SWEEP_SAMPLES]
        low, high = self._range(x)
        # From no change to the epsilon field's, as the CLI's --sweep does up to --eps.
        epsilons = [float(v) for v in np.linspace(0, self.eps_field.value(), SWEEP_POINTS)]
        settings = AttackSettings(norm=self.norm_field.currentData(), steps=self.steps_field.value(),
                                  value_range=(low, high))
        model = self.model
        return self._start("sweep", lambda progress: robustness_sweep(model, x, y, epsilons,
                                                                      settings=settings, progress=progress))

    def saliency(self) -> bool:
        if self.result is None:
            self._show_status("Attack a sample first", error=True)
            return False
        model, pair = self.model, np.concatenate([self.result.original, self.result.adversarial])
        classes = np.array([self.result.before[0], self.result.before[0]])

        def work(progress):
            from workbench.inspect.explain import explain

            return explain(model, pair, "gradient", class_index=classes).maps

        return self._start("saliency", work)

    def save_picture(self, path: str | Path | None = None) -> Path | None:
        """Save the attacked sample's original, change and adversarial picture, captioned, as
        PNG (asks where when no path is given)."""
        if self.result is None:
            self._show_status("Attack a sample first", error=True)
            return None
        names = getattr(self.dataset, "class_names", None) or ()
        return self._save_png(path, "attack.png", lambda: self.result.sheet(class_names=names))

    def shutdown(self) -> None:
        if self.running:
            self._runner.wait(cancel=True)

    # ------------------------------------------------------------------- UI
    def _build_ui(self) -> None:
        layout = QVBoxLayout(self)
        self.model_label = QLabel("<b>Model:</b> none yet: train one, or open a run in the Inspect tab")
        layout.addWidget(self.model_label)
        row = QHBoxLayout()
        self.sample_field = QSpinBox()
        self.sample_field.setObjectName("attackSample")
        self.method_field = QComboBox()
        self.method_field.setObjectName("attackMethod")
        for key, label in (("fgsm", "FGSM"), ("bim", "BIM"), ("pgd", "PGD")):
            self.method_field.addItem(label, key)
        self.method_field.setCurrentIndex(2)
        self.norm_field = QComboBox()
        for key, label in (("linf", "L-inf"), ("l2", "L2")):
            self.norm_field.addItem(label, key)
        self.eps_field = QDoubleSpinBox()
        self.eps_field.setObjectName("attackEpsilon")
        self.eps_field.setDecimals(3)
        self.eps_field.setRange(0.001, 1000)
        self.eps_field.setSingleStep(0.01)
        self.eps_field.setValue(0.1)
        self.eps_field.setToolTip("The largest change, in the model's input units")
        self.steps_field = QSpinBox()
        self.steps_field.setRange(1, 1000)
        self.steps_field.setValue(10)
        self.target_field = model_choice("attackTarget")
        for label, field in (("validation #", self.sample_field), ("method", self.method_field),
                             ("norm", self.norm_field), ("epsilon", self.eps_field),
                             ("steps", self.steps_field), ("target", self.target_field)):
            row.addWidget(QLabel(label))
            row.addWidget(field)
        row.addStretch(1)
        layout.addLayout(row)
        buttons = QHBoxLayout()
        self.attack_button = QPushButton("Attack")
        self.attack_button.setObjectName("attackButton")
        self.attack_button.clicked.connect(self.attack)
        self.sweep_button = QPushButton("Robustness sweep")
        self.sweep_button.setObjectName("sweepButton")
        self.sweep_button.setToolTip(f"Accuracy against epsilon for FGSM and PGD on up to "
                                     f"{_SWEEP_SAMPLES} validation samples, at {SWEEP_POINTS} "
                                     "epsilons from 0 to the epsilon above")
        self.sweep_button.clicked.connect(self.run_sweep)
        self.saliency_button = QPushButton("Saliency: clean vs adversarial")
        self.saliency_button.setObjectName("attackSaliencyButton")
        self.saliency_button.clicked.connect(self.saliency)
        self.save_button = QPushButton("Save picture…")
        self.save_button.setObjectName("attackSaveButton")
        self.save_button.setToolTip("The original, the change and the adversarial picture, "
                                    "captioned with the predictions, as PNG")
        self.save_button.clicked.connect(lambda: self.save_picture())
        for button in (self.attack_button, self.sweep_button, self.saliency_button, self.save_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self._make_status("attackStatus")
        layout.addWidget(self.status)
        body = QHBoxLayout()
        pictures = QGridLayout()
        self.views = {}
        for column, name in enumerate(("original", "perturbation", "adversarial")):
            view = QLabel()
            view.setObjectName(f"attack_{name}")
            view.setMinimumSize(_TILE, _TILE)
            view.setAlignment(Qt.AlignmentFlag.AlignCenter)
            caption = QLabel(name)
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            caption.setTextFormat(Qt.TextFormat.RichText)
            pictures.addWidget(view, 0, column)
            pictures.addWidget(caption, 1, column)
            self.views[name] = (view, caption)
        for column, name in enumerate(("clean saliency", "adversarial saliency")):
            view = QLabel()
            view.setAlignment(Qt.AlignmentFlag.AlignCenter)
            caption = QLabel("")
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            pictures.addWidget(view, 2, column)
            pictures.addWidget(caption, 3, column)
            self.views[name] = (view, caption)
        pictures.setRowStretch(4, 1)  # pictures and captions stay together at the top
        holder = QWidget()
        holder.setLayout(pictures)
        body.addWidget(holder, 1)
        self.sweep_plot = pg.PlotWidget(background="w")
        self.sweep_plot.setObjectName("sweepPlot")
        self.sweep_plot.setMinimumSize(320, 220)
        item = self.sweep_plot.getPlotItem()
        item.setLabel("bottom", "epsilon")
        item.getAxis("bottom").enableAutoSIPrefix(False)
        item.setLabel("left", "accuracy")
        item.setYRange(0, 1)
        item.showGrid(x=True, y=True, alpha=0.2)
        self.sweep_legend = item.addLegend(offset=(-10, 10))
        body.addWidget(self.sweep_plot, 1)
        layout.addLayout(body, 1)

    def _refresh(self) -> None:
        ready = self.model is not None and self._samples() is not None and not self.running
        for button in (self.attack_button, self.sweep_button):
            button.setEnabled(ready)
        self.saliency_button.setEnabled(ready and self.result is not None)
        self.save_button.setEnabled(self.result is not None and self.result.is_image())

    def _samples(self):
        return self.dataset.held_out() if self.dataset is not None else None

    @staticmethod
    def _range(x) -> tuple[float, float]:
        low, high = float(np.min(x)), float(np.max(x))
        return (low, high) if high > low else (0.0, 1.0)

    def _ready(self, samples) -> bool:
        if self.model is None or samples is None:
            self._show_status("Needs a model and its data: train one, or open a run in the Inspect tab",
                              error=True)
            return False
        return not self.running

    def _start(self, task: str, work) -> bool:
        self._task = task
        self._show_status({"attack": "Attacking…", "sweep": "Sweeping epsilon…",
                           "saliency": "Saliency…"}[task])
        self._runner.start(work)
        self._refresh()
        return True

    def _picture(self, name: str, image: np.ndarray, caption: str | None = None) -> None:
        from workbench.inspect.images import display_image

        view, label = self.views[name]
        picture = np.round(display_image(image) * 255).astype(np.uint8)
        view.setPixmap(to_pixmap(picture, least=_TILE))
        if label is not None and caption is not None:
            label.setText(caption)

    def _top(self, probabilities: np.ndarray) -> str:
        names = getattr(self.dataset, "class_names", None) or []
        order = np.argsort(probabilities)[::-1][:3]
        bars = []
        for c in order:
            share = float(probabilities[c])
            bar = "█" * max(1, round(12 * share)) if share >= 0.005 else ""
            bars.append(f"{names[c] if c < len(names) else c}: {share:.2f} {bar}")
        return "<br>".join(bars)

    # --------------------------------------------------------------- worker
    def _on_runner_finished(self, result) -> None:
        task, self._task = self._task, ""
        if task == "attack":
            self.result = result
            self._picture("original", result.original[0],
                          f"original<br><small>{self._top(result.probabilities_before[0])}</small>")
            self._picture("perturbation", result.amplified()[0],
                          f"perturbation (amplified)<br><small>L-inf {result.norms()['linf'][0]:.3g} · "
                          f"L2 {result.norms()['l2'][0]:.3g}</small>")
            self._picture("adversarial", result.adversarial[0],
                          f"adversarial<br><small>{self._top(result.probabilities_after[0])}</small>")
            worked = bool(result.success[0])
            notes = "".join(f"; {note}" for note in result.notes)
            self._show_status(f"{'Fooled' if worked else 'Not fooled'}: predicted {int(result.before[0])} "
                       f"({result.confidence_before[0]:.2f}) before, {int(result.after[0])} "
                       f"({result.confidence_after[0]:.2f}) after{notes}", error=not worked)
        elif task == "sweep":
            self.sweep = result
            item = self.sweep_plot.getPlotItem()
            item.clear()
            self.sweep_legend.clear()
            colors = {"fgsm": "#1f77b4", "bim": "#2ca02c", "pgd": "#d62728"}
            for method, values in result.accuracy.items():
                item.plot(result.epsilons[:len(values)], values, name=method.upper(),
                          pen=pg.mkPen(colors.get(method, "k"), width=2), symbol="o", symbolSize=6,
                          symbolBrush=colors.get(method, "k"))
            self._show_status(f"Accuracy on {result.samples} samples: clean {result.clean_accuracy:.2f}; "
                       + ", ".join(f"{m.upper()} {v[-1]:.2f}" for m, v in result.accuracy.items())
                       + f" at epsilon {result.epsilons[-1]:.3g}")
        elif task == "saliency":
            for name, heat in zip(("clean saliency", "adversarial saliency"), result):
                self._picture(name, np.repeat(np.asarray(heat)[..., None], 3, -1), name)
            self._show_status("Gradient saliency of the original class: clean (left) and adversarial (right)")
        self._refresh()
        self.task_finished.emit(task)
