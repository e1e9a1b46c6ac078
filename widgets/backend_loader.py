"""Import TensorFlow/Keras in a worker thread once the window is on screen."""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QThread, Signal

from workbench.backend import keras_module


class _ImportWorker(QObject):
    finished = Signal(str)  # what was loaded: "Keras 3.x on tensorflow"
    failed = Signal(str)

    def run(self) -> None:
        try:
            keras = keras_module()
        except Exception as error:  # a broken TensorFlow install: tell the user, keep the window
            self.failed.emit(f"TensorFlow could not be loaded: {error}")
            return
        self.finished.emit(f"Keras {keras.__version__} on {keras.backend.backend()}")


class BackendLoader(QObject):
    """Loads Keras off the GUI thread; emits ``loaded(description)`` or ``failed(message)``."""

    loaded = Signal(str)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._thread = QThread(self)
        self._worker = _ImportWorker()
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.finished.connect(self._on_worker_finished)
        self._worker.failed.connect(self._on_worker_failed)
        self.is_loaded = False

    def start(self) -> None:
        if not self._thread.isRunning() and not self.is_loaded:
            self._thread.start()

    def wait(self) -> None:
        """Block until the import is over (used on shutdown)."""
        self._thread.quit()
        self._thread.wait()

    def _on_worker_finished(self, description: str) -> None:
        self._thread.quit()
        self._thread.wait()
        # TensorFlow brings hundreds of thousands of long-lived objects; a full garbage
        # collection over them takes ~250 ms. Collect once now and move them out of the
        # collector's reach, so later collections (during training) stay short.
        gc.collect()
        gc.freeze()
        self.is_loaded = True
        self.loaded.emit(description)

    def _on_worker_failed(self, message: str) -> None:
        self._thread.quit()
        self._thread.wait()
        self.failed.emit(message)
