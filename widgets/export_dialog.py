"""The export dialog: a model out in any format, checked by reading it back.

Format (with TFLite's quantization), destination and "verify" are chosen here; the export runs
in a worker (``workbench.export.export_model``) with progress, and the dialog shows what was
written and how the export compares with the model: the runtime that read it back, the largest
output difference, top-1 agreement for classifiers, and any warning (untrained weights, a
missing optional package, a tolerance exceeded).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from widgets.tasks import TaskRunner

FORMAT_LABELS = {
    "keras": ("Keras (.keras)", ".keras"), "h5": ("Legacy HDF5 (.h5)", ".h5"),
    "savedmodel": ("TensorFlow SavedModel (folder)", ""), "tflite": ("TFLite / LiteRT (.tflite)", ".tflite"),
    "onnx": ("ONNX (.onnx)", ".onnx"), "python": ("Readable Python (.py)", ".py"),
}


class ExportDialog(QDialog):
    """Export a model.

    Args:
        sources: (label, make_source) pairs to choose from; ``make_source()`` runs in the
            worker and returns what to export (an ``ExportSource`` or a Keras model), so a
            model is built there, not on the GUI thread.
        name: the default file name (without suffix).
        folder: the default folder.

    Signals:
        exported(object): the ``ExportResult`` of a finished export (None when it failed).
    """

    exported = Signal(object)

    def __init__(self, sources: list, name: str, folder: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.setWindowTitle("Export model")
        self.sources = sources
        self.name = name
        self.result = None
        self._runner = TaskRunner(self, keras_work=True)
        self._runner.stepped.connect(self._on_runner_stepped)
        self._runner.finished.connect(self._on_runner_finished)
        self._runner.failed.connect(self._on_runner_failed)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.source_field = QComboBox()
        self.source_field.setObjectName("exportSource")
        for label, _ in sources:
            self.source_field.addItem(label)
        form.addRow("Model", self.source_field)
        self.format_field = QComboBox()
        self.format_field.setObjectName("exportFormat")
        for key, (label, _) in FORMAT_LABELS.items():
            self.format_field.addItem(label, key)
        self.format_field.currentIndexChanged.connect(self._on_format_changed)
        form.addRow("Format", self.format_field)
        self.quantize_field = QComboBox()
        self.quantize_field.setObjectName("exportQuantize")
        self.quantize_field.addItems(["float32", "float16", "int8"])
        self.quantize_field.setToolTip("int8 calibrates on the experiment's training data")
        form.addRow("Quantization", self.quantize_field)
        row = QHBoxLayout()
        self.path_field = QLineEdit(str(Path(folder) / f"{name}.keras"))
        self.path_field.setObjectName("exportPath")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._on_browse_clicked)
        row.addWidget(self.path_field, 1)
        row.addWidget(browse)
        form.addRow("Destination", row)
        self.verify_field = QCheckBox("Read the export back and compare its outputs with the model's")
        self.verify_field.setObjectName("exportVerify")
        self.verify_field.setChecked(True)
        form.addRow("", self.verify_field)
        layout.addLayout(form)
        self.progress = QProgressBar()
        self.progress.setObjectName("exportProgress")
        self.progress.setRange(0, 1)
        layout.addWidget(self.progress)
        self.report = QLabel("")
        self.report.setObjectName("exportReport")
        self.report.setWordWrap(True)
        self.report.setMinimumWidth(520)
        layout.addWidget(self.report)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.export_button = QPushButton("Export")
        self.export_button.setObjectName("exportButton")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start_export)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        buttons.addWidget(self.export_button)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        self._on_format_changed()

    @property
    def running(self) -> bool:
        return self._runner.running

    def start_export(self) -> bool:
        if self.running:
            return False
        from workbench.export.exporter import export_model

        fmt = self.format_field.currentData()
        path = self.path_field.text().strip()
        if not path:
            self._show("Choose where to write the export", error=True)
            return False
        quantize = self.quantize_field.currentText() if fmt == "tflite" else None
        verify = self.verify_field.isChecked()
        make_source = self.sources[self.source_field.currentIndex()][1]

        def work(progress):
            return export_model(make_source(), fmt, path, quantize=quantize, verify=verify,
                                progress=progress)

        self.export_button.setEnabled(False)
        self.progress.setRange(0, 0)
        self._show(f"Exporting to {path}…")
        self._runner.start(work)
        return True

    def shutdown(self) -> None:
        if self.running:
            self._runner.wait(cancel=True)

    def reject(self) -> None:  # Close or Escape: never leave a worker behind
        self.shutdown()
        super().reject()

    # ------------------------------------------------------------- internals
    def _on_format_changed(self) -> None:
        fmt = self.format_field.currentData()
        self.quantize_field.setEnabled(fmt == "tflite")
        suffix = FORMAT_LABELS[fmt][1]
        path = Path(self.path_field.text().strip() or self.name)
        known = {s for _, s in FORMAT_LABELS.values() if s}
        stem = path.with_suffix("") if path.suffix in known else path
        self.path_field.setText(str(stem.with_name(stem.name + suffix)) if suffix else str(stem))

    def _on_browse_clicked(self) -> None:
        fmt = self.format_field.currentData()
        if fmt == "savedmodel":
            path = QFileDialog.getExistingDirectory(self, "SavedModel folder (its parent)")
            if path:
                self.path_field.setText(str(Path(path) / self.name))
            return
        label, suffix = FORMAT_LABELS[fmt]
        path, _ = QFileDialog.getSaveFileName(self, "Export model", self.path_field.text(),
                                              f"{label} (*{suffix})")
        if path:
            self.path_field.setText(path)

    def _on_runner_stepped(self, done: float, total, message: str) -> None:
        if total:
            self.progress.setRange(0, int(total))
            self.progress.setValue(int(done))
        if message:
            self.progress.setFormat(message)

    def _on_runner_finished(self, result) -> None:
        self.result = result
        self.export_button.setEnabled(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        lines = [f"Wrote {', '.join(str(p) for p in result.files) or result.path}"]
        check = result.verification
        if check is not None and check.runtime is not None:
            numbers = []
            if check.max_abs_diff is not None:
                numbers.append(f"largest output difference {check.max_abs_diff:.2e}")
            if check.top1_agreement is not None:
                numbers.append(f"top-1 agreement {100 * check.top1_agreement:.1f}%")
            verdict = "matches" if check.ok else "DIFFERS"
            lines.append(f"Read back with {check.runtime}: {verdict} on {check.samples} inputs"
                         + (f" ({', '.join(numbers)})" if numbers else ""))
        lines += [f"Warning: {w}" for w in result.warnings]
        lines += result.notes
        self._show("<br>".join(_escape(line) for line in lines),
                   error=bool(result.warnings) or (check is not None and not check.ok))
        self.exported.emit(result)

    def _on_runner_failed(self, message: str) -> None:
        self.export_button.setEnabled(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self._show(f"Not exported: {message}", error=True)
        self.exported.emit(None)

    def _show(self, text: str, error: bool = False) -> None:
        self.report.setText(text)
        self.report.setStyleSheet("color: #c0392b;" if error else "")
        self.adjustSize()  # a longer report must not be cut off


def _escape(text: str) -> str:
    import html

    return html.escape(text)
