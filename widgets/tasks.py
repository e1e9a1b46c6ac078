"""Running engine work off the GUI thread, with throttled progress.

``TaskRunner`` runs one engine function at a time in a ``QThread`` and gives it a
``QtProgress``. The worker never touches widgets: progress reports go into a thread-safe
queue that a GUI-thread timer drains about 30 times a second, so a training run with
thousands of batches per second costs the GUI one update per frame, not one per batch.
Cancel sets a flag the engine polls (design rule 3); nothing kills a thread.
"""

from __future__ import annotations

import collections
import gc
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal

_FRAME_MS = 33


class QtProgress:
    """The engine's progress object for work running in a ``TaskRunner``."""

    def __init__(self) -> None:
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._partials: collections.deque = collections.deque()
        self._step: tuple[float, float | None, str] | None = None

    def step(self, done: float, total: float | None = None, message: str = "") -> None:
        with self._lock:
            self._step = (done, total, message)

    def partial(self, result: Any) -> None:
        self._partials.append(result)  # deque.append is thread-safe

    def cancel(self) -> None:
        self._cancel.set()

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def drain(self) -> tuple[tuple[float, float | None, str] | None, list]:
        """Take what arrived since the last call: the latest step and all partial results."""
        with self._lock:
            step, self._step = self._step, None
        partials = []
        while self._partials:
            partials.append(self._partials.popleft())
        return step, partials


class _Worker(QObject):
    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, function: Callable[[QtProgress], Any], progress: QtProgress):
        super().__init__()
        self.function = function
        self.progress = progress

    def run(self) -> None:
        try:
            result = self.function(self.progress)
        except Exception as error:  # reported to the panel, never a traceback dialog
            from workbench.errors import WorkbenchError

            message = str(error) if isinstance(error, WorkbenchError) else (
                f"{type(error).__name__}: {error}")
            self.failed.emit(message)
            return
        self.finished.emit(result)


class TaskRunner(QObject):
    """Runs one engine function at a time in a worker thread.

    Signals (all delivered on the GUI thread):
        stepped(done, total, message): the latest progress, at most ~30 per second.
        partials(list): intermediate results that arrived since the last update.
        finished(object): the function's return value.
        failed(str): the function raised; the message is for people.
        running_changed(bool)
    """

    stepped = Signal(float, object, str)
    # object, not list: a list signal copies every report through Qt's variant types on
    # each delivery (2 ms for a second of batch reports, a third of the Train panel's GUI
    # time); an object signal hands the list itself over.
    partials = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    running_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None, keras_work: bool = False):
        """``keras_work``: the tasks run Keras, so Python's collector is held on the GUI thread
        while one runs (see ``GuiThreadGarbage``)."""
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: _Worker | None = None
        self.progress: QtProgress | None = None
        self.keras_work = keras_work
        self._holding = False
        self._timer = QTimer(self)
        self._timer.setInterval(_FRAME_MS)
        self._timer.timeout.connect(self._on_timer_timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, function: Callable[[QtProgress], Any]) -> None:
        """Run ``function(progress)`` in a worker thread (one task at a time)."""
        if self.running:
            raise RuntimeError("a task is already running: cancel it first")
        self.progress = QtProgress()
        self._thread = QThread()
        self._worker = _Worker(function, self.progress)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.finished.connect(self._on_worker_finished)
        self._worker.failed.connect(self._on_worker_failed)
        if self.keras_work:
            GuiThreadGarbage.hold()
            self._holding = True
        self._timer.start()
        self._thread.start()
        self.running_changed.emit(True)

    def set_interval(self, seconds: float) -> None:
        """How often reports are delivered (default ~30 per second)."""
        milliseconds = max(1, round(1000 * seconds))
        if milliseconds != self._timer.interval():  # setInterval restarts a running timer
            self._timer.setInterval(milliseconds)

    def cancel(self) -> None:
        if self.progress is not None:
            self.progress.cancel()

    def wait(self, cancel: bool = True) -> None:
        """Block until the task ends (on shutdown); cancels it first by default."""
        if cancel:
            self.cancel()
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()

    def _flush(self) -> None:
        if self.progress is None:
            return
        step, partials = self.progress.drain()
        if step is not None:
            self.stepped.emit(step[0], step[1], step[2])
        if partials:
            self.partials.emit(partials)

    def _on_timer_timeout(self) -> None:
        self._flush()
        if self._holding:
            GuiThreadGarbage.collect_young()

    def _end(self) -> None:
        self._flush()
        self._timer.stop()
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
            self._thread.deleteLater()
        if self._worker is not None:
            self._worker.deleteLater()
        self._thread, self._worker = None, None
        if self._holding:  # the worker has ended: collection may run anywhere again
            self._holding = False
            GuiThreadGarbage.release()
        self.running_changed.emit(False)

    def _on_worker_finished(self, result: object) -> None:
        self._end()
        self.finished.emit(result)

    def _on_worker_failed(self, message: str) -> None:
        self._end()
        self.failed.emit(message)


class GuiBudget:
    """An update interval that keeps the GUI thread's share of one core near a budget.

    Live views of fast work (a small model trains hundreds of batches a second) cost the GUI
    thread a redraw per update, and the work waits for that thread: every millisecond it
    spends costs the work about a millisecond (``benchmarks/background_cost.py``).
    ``interval()`` measures the thread's CPU time over the last window of wall time and
    lengthens the interval while the share is over ``budget`` (in proportion, so a run's first
    second already settles it), shortens it again step by step once well under.

    The interval starts at ``start`` (default ``fastest``), and a new run starts at the pace
    the last one settled at: what a redraw costs depends on the machine, which has not changed.
    """

    def __init__(self, fastest: float = 0.1, slowest: float = 0.5, budget: float = 0.04,
                 window: float = 0.5, start: float | None = None):
        self.fastest, self.slowest, self.budget, self.window = fastest, slowest, budget, window
        self.current = fastest if start is None else min(slowest, max(fastest, start))
        self._mark: tuple[float, float] | None = None

    def restart(self) -> None:
        """A new run, or one resumed: measure afresh from now on (the time in between, idle or
        paused, says nothing of what updates cost), at the pace settled at before."""
        self._mark = None

    def interval(self) -> float:
        """The interval to use now, in seconds (call it once per update)."""
        now, cpu = time.perf_counter(), time.thread_time()
        if self._mark is None:
            self._mark = (now, cpu)
            return self.current
        wall = now - self._mark[0]
        if wall >= self.window:
            share = (cpu - self._mark[1]) / wall
            if share > self.budget:  # at once as slow as the share says (a run's first second)
                self.current = min(self.slowest, self.current * max(1.5, share / self.budget))
            elif share < self.budget / 2:
                self.current = max(self.fastest, self.current / 1.5)
            self._mark = (now, cpu)
        return self.current


class GuiThreadGarbage:
    """Keeps Python's cyclic garbage collection on the GUI thread while runs train.

    The collector runs in whichever thread happens to allocate, and training allocates a lot:
    left to itself it collects in the worker, where it may destroy an unreachable Qt object
    (a closed dialog, a replaced document) off the GUI thread. Qt then deadlocks or crashes
    (seen: the worker inside ``QObject::~QObject`` waiting for the GIL, the GUI thread
    waiting for Qt's lock). So while any run is active, automatic collection is off and the
    panels collect the young generations from a GUI-thread timer, as the collector would.
    """

    holds = 0
    was_enabled = True

    @classmethod
    def hold(cls) -> None:
        if cls.holds == 0:
            cls.was_enabled = gc.isenabled()
            gc.disable()
        cls.holds += 1

    @classmethod
    def release(cls) -> None:
        cls.holds = max(0, cls.holds - 1)
        if cls.holds == 0 and cls.was_enabled:
            gc.enable()

    @staticmethod
    def collect_young() -> None:
        """Collect generation 0 (and 1) when the automatic collector would have."""
        threshold0, threshold1, _ = gc.get_threshold()
        count0, count1, _ = gc.get_count()
        if count0 > threshold0:
            # Never generation 2 here: over TensorFlow's heap a full pass takes ~200 ms, a
            # GUI stall; it happens after the run, when automatic collection is back.
            gc.collect(1 if count1 > threshold1 else 0)


class Pacer(QObject):
    """Runs ``action`` at most once every ``interval`` seconds (a live plot's redraw).

    A request within the interval after the last run is served when the interval is up, so
    the newest state shows even when no request follows (a pause, the end of a run).
    """

    def __init__(self, action: Callable[[], None], interval: float, parent: QObject | None = None):
        super().__init__(parent)
        self.action = action
        self.interval = interval
        self._last = -math.inf
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        # Qt's default (coarse) timers may fire up to 5% early: "at most once per interval"
        # would not hold.
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._run)

    def request(self) -> None:
        wait = self.interval - (time.monotonic() - self._last)
        if wait <= 0:
            self._run()
        elif not self._timer.isActive():
            self._timer.start(max(1, math.ceil(1000 * wait)))

    def run_now(self) -> None:
        """Run at once, whatever the interval (a run has ended: show its last state)."""
        self._timer.stop()
        self._run()

    def reset(self) -> None:
        """Forget the last run (a new run starts): the next request runs at once."""
        self._timer.stop()
        self._last = -math.inf

    def _run(self) -> None:
        self._last = time.monotonic()
        self.action()


class DrawQueue(QObject):
    """Redraws run one per pass of the event loop, never several back to back.

    A live run changes several plots at once, and Qt repaints each plot's scene as soon as it
    has taken its changes, before the loop looks at input again: three plots updated in one
    slot keep the GUI thread busy for all three repaints in a row (20-30 ms on a small
    machine, twice that while training competes for the cores). Queued here, each redraw and
    its repaint get a pass of their own, and clicks, keys and timers are served in between.

    A redraw requested again before it ran runs once, with the newest data.
    """

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._pending: dict[str, Callable[[], None]] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._on_timer_timeout)

    def request(self, name: str, draw: Callable[[], None]) -> None:
        self._pending[name] = draw
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Run every pending redraw now (a run has ended: show its last state at once)."""
        self._timer.stop()
        while self._pending:
            self._run_next()

    def clear(self) -> None:
        self._timer.stop()
        self._pending.clear()

    def _run_next(self) -> None:
        name = next(iter(self._pending))
        self._pending.pop(name)()

    def _on_timer_timeout(self) -> None:
        if self._pending:
            self._run_next()
        if self._pending:
            self._timer.start()
