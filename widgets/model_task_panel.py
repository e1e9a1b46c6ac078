"""What the tabs that work on a trained model share (Inspect, Embeddings, Evaluate, Style,
Attack): one ``TaskRunner`` for their Keras work, a status line, and how a task that reports,
fails or ends is shown.

A subclass builds its widgets (its status line from ``_make_status``), starts work with
``self._runner.start`` (naming it in ``self._task`` when it has several kinds), and handles
``_on_runner_finished``; it overrides ``_on_runner_stepped`` or ``_on_runner_partials`` when
its reports say more than a line of text.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QLabel, QMenu, QPushButton, QWidget

from widgets.tasks import TaskRunner
from workbench.errors import WorkbenchError

STATUS_ERROR_COLOR = "#c0392b"
_CHOICE_MAX_WIDTH = 260  # a long layer name is cut, not the row it sits in widened


def open_model_button(text: str, tip: str, opened) -> QPushButton:
    """A button whose menu opens a run folder or a model file: ``opened(path)`` gets it."""
    button = QPushButton(text)
    button.setToolTip(tip)
    menu = QMenu(button)

    def run_folder():
        path = QFileDialog.getExistingDirectory(button, "Open a run folder")
        if path:
            opened(path)

    def model_file():
        path, _ = QFileDialog.getOpenFileName(button, "Open a model", "", "Keras models (*.keras *.h5)")
        if path:
            opened(path)

    menu.addAction("Run folder…", run_folder)
    menu.addAction("Model file (.keras, .h5)…", model_file)
    button.setMenu(menu)
    return button


def model_choice(name: str) -> QComboBox:
    """A drop-down filled from the model (its classes, its layers): as wide as its longest
    entry, up to a limit. Made empty before any model, it would otherwise stay as narrow as
    it was then and cut its entries ("predictec")."""
    field = QComboBox()
    field.setObjectName(name)
    field.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
    field.setMaximumWidth(_CHOICE_MAX_WIDTH)
    return field


class ModelTaskPanel(QWidget):
    """A panel running Keras work on ``model`` (and samples of ``dataset``) in a worker.

    Signals:
        task_finished(str): the task that ended ("failed" when it raised).
    """

    task_finished = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = None
        self.dataset = None
        self._task = ""
        self._runner = TaskRunner(self, keras_work=True)
        self._runner.stepped.connect(self._on_runner_stepped)
        self._runner.partials.connect(self._on_runner_partials)
        self._runner.finished.connect(self._on_runner_finished)
        self._runner.failed.connect(self._on_runner_failed)

    @property
    def running(self) -> bool:
        return self._runner.running

    def _make_status(self, name: str) -> QLabel:
        """The status line: what is happening, what came out, or in red what went wrong."""
        self.status = QLabel()
        self.status.setObjectName(name)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # A long error wraps: on one line it would widen the whole page past the window.
        self.status.setWordWrap(True)
        return self.status

    def _show_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {STATUS_ERROR_COLOR};" if error else "")

    def _save_png(self, path: str | Path | None, suggested: str, make_picture) -> Path | None:
        """Write ``make_picture()`` (an array ``save_picture`` takes) as PNG at ``path``, asking
        where when it is None (``suggested`` is the name offered). A bad folder or a picture
        that cannot be made is said on the status line; answers the file written, else None."""
        from workbench.inspect.images import save_picture

        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save picture", suggested, "PNG (*.png)")
            if not path:
                return None
        try:
            written = save_picture(path, make_picture())
        except WorkbenchError as error:
            self._show_status(str(error), error=True)
            return None
        self._show_status(f"Saved {written}")
        return written

    def _refresh(self) -> None:
        """Enable what can be done now (subclasses)."""

    def _on_runner_stepped(self, done: float, total, message: str) -> None:
        if message:
            self._show_status(message[:1].upper() + message[1:])

    def _on_runner_partials(self, partials: list) -> None:
        """Intermediate results (previews, coordinates); none by default."""

    def _on_runner_finished(self, result) -> None:
        raise NotImplementedError

    def _on_runner_failed(self, message: str) -> None:
        self._task = ""
        self._show_status(message, error=True)
        self._refresh()
        self.task_finished.emit("failed")
