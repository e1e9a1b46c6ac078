"""The progress protocol every long operation takes.

Long engine functions (training, data downloads, the LR finder, t-SNE, ...) receive a
``progress`` object and call:

* ``progress.step(done, total, message)`` — how far along it is (``total`` may be None);
* ``progress.partial(result)`` — an intermediate result (a batch's logs, a preview image);
* ``progress.cancelled()`` — polled between steps; True means stop cleanly and return.

The engine never knows who listens: ``ConsoleProgress`` draws a bar on a terminal (plain lines
otherwise) for the CLI, and the GUI passes an object that emits queued Qt signals from its
worker thread. Nobody kills a thread: cancelling sets a flag that the work checks.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Protocol, TextIO


class Progress(Protocol):
    """What a long operation may report and ask."""

    def step(self, done: float, total: float | None = None, message: str = "") -> None: ...

    def partial(self, result: Any) -> None: ...

    def cancelled(self) -> bool: ...


class NullProgress:
    """Reports nowhere; can still be cancelled (``cancel()``) from another thread."""

    def __init__(self) -> None:
        self._cancel = threading.Event()

    def step(self, done: float, total: float | None = None, message: str = "") -> None:
        pass

    def partial(self, result: Any) -> None:
        pass

    def cancel(self) -> None:
        self._cancel.set()

    def cancelled(self) -> bool:
        return self._cancel.is_set()


class RecordingProgress(NullProgress):
    """Keeps every step and partial result (for tests and for callers that poll)."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[tuple[float, float | None, str]] = []
        self.partials: list[Any] = []

    def step(self, done: float, total: float | None = None, message: str = "") -> None:
        self.steps.append((done, total, message))

    def partial(self, result: Any) -> None:
        self.partials.append(result)


class ConsoleProgress(NullProgress):
    """A progress bar on a terminal, or a plain line now and then when output is a file.

    Args:
        stream: where to write (stderr by default, so stdout stays clean for ``--json``).
        interval: least seconds between two plain lines.
    """

    def __init__(self, stream: TextIO | None = None, interval: float = 2.0, width: int = 30):
        super().__init__()
        self.stream = stream or sys.stderr
        self.interval = interval
        self.width = width
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last = 0.0
        self._drawn = False

    def step(self, done: float, total: float | None = None, message: str = "") -> None:
        now = time.monotonic()
        finished = total is not None and done >= total
        if self._tty:
            if now - self._last < 0.1 and not finished:
                return
            self._last = now
            if total:
                filled = int(self.width * min(done / total, 1.0))
                bar = "█" * filled + "·" * (self.width - filled)
                text = f"\r{bar} {100 * done / total:5.1f}%  {message}"
            else:
                text = f"\r{message}"
            self.stream.write(text[:150].ljust(80))
            self._drawn = True
            if finished:
                self.stream.write("\n")
                self._drawn = False
            self.stream.flush()
            return
        if now - self._last >= self.interval or finished:
            self._last = now
            share = f"{100 * done / total:.0f}% " if total else ""
            self.stream.write(f"{share}{message}\n")
            self.stream.flush()

    def close(self) -> None:
        """End the bar's line (call when the work ends early)."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
