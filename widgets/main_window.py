"""The main window. The model builder (canvas, palette, inspector) moves in with issue 4."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMainWindow

from widgets.backend_loader import BackendLoader
from workbench.experiment import Experiment


class MainWindow(QMainWindow):
    """Top-level window over one open experiment."""

    def __init__(self, experiment: Experiment):
        super().__init__()
        self.experiment = experiment
        self.setObjectName("mainWindow")
        self.setWindowTitle(f"{experiment.name} — Keras Workbench")
        nodes = len(experiment.graph)
        summary = QLabel(
            f"<h2>{experiment.name}</h2><p>{experiment.description}</p>"
            f"<p>{nodes} layers. The visual model builder arrives here next; meanwhile the "
            "<code>workbench</code> command validates, summarizes, imports and builds "
            "experiments.</p>"
        )
        summary.setObjectName("experimentSummary")
        summary.setAlignment(Qt.AlignmentFlag.AlignCenter)
        summary.setWordWrap(True)
        self.setCentralWidget(summary)
        self.loader = BackendLoader(self)
        self.loader.loaded.connect(self._on_loader_loaded)
        self.loader.failed.connect(self._on_loader_failed)
        self.statusBar().showMessage("Loading TensorFlow…")

    def start_backend(self) -> None:
        """Import TensorFlow in the background; call once the window is visible."""
        self.loader.start()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self.loader.wait()
        super().closeEvent(event)

    def _on_loader_loaded(self, description: str) -> None:
        self.statusBar().showMessage(f"Ready: {description}")

    def _on_loader_failed(self, message: str) -> None:
        self.statusBar().showMessage(message)
