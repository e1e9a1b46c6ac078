"""What training in the Train panel costs against a plain ``model.fit``.

Trains the default experiment (the digits CNN) on the same data and epochs against a baseline:

* (a) plain ``model.fit(verbose=0)``: the baseline;
* (s) a ``TrainingSession`` with a run store and no GUI: what the engine's relay, run files,
  checkpoints and TensorBoard events cost by themselves;
* (b) the same session started from a live ``TrainPanel`` (offscreen ``QApplication``), with
  plots, progress and log updating;
* (a') a second plain ``fit``: the A/A control. Its ratio to (a) should be 1; how far it lands
  from 1 is how finely this machine can measure.

**Taking turns.** On a small shared machine the speed of the same ``fit`` drifts by 10-25%
between runs seconds apart and single epochs take twice as long at random (other tenants),
which buries a few per cent of overhead however often whole runs are repeated. So (a) and the
contender train at the same time in two threads of one process, taking turns an epoch each:
each waits at its epoch end until the other has done an epoch. Both are ordinary continuous
``fit`` calls; every contender epoch has a baseline epoch run right before it, under the same
conditions. The throughput ratio is the median over all such pairs of (a)'s epoch time over
the contender's (epoch 1, which traces the graph, left out).

**Rounds.** Taking turns removes the machine's drift, but not a difference that stays with a
``fit`` for its whole life: two identical plain fits taking turns differ by up to 10% in one
round, 0.88 to 1.09 over five (seen here), each round's pairs all leaning the same way. So the
contenders train in several rounds (12 by default), each with a fresh baseline, and the 90%
interval is a bootstrap over rounds, not over pairs: it says how far the next set of rounds
could land. With 8 rounds the panel's ratio ranged 0.968-1.006 over seven runs of this
benchmark; 12 narrow that by a fifth.

**Order.** Which fit is built first and takes the first turn is no detail. So the order
alternates: in even rounds (a) is built first and has the first turn, in odd rounds the
contender does; the second is built while the first waits, and neither trains before both
are built. Each ratio has as many rounds of each order (with an even ``--repeat``). Over seven
runs of 8 rounds the panel averaged 0.969 in the rounds (a) went first and 0.989 in those it
went first itself (the A/A control 0.999 either way); while (a) always went first, the panel
came out 0.952-0.985 over ten runs.

**Threads.** Every fit trains in a thread of its own, as the panel's worker does: on the main
thread the same plain ``fit`` came out at 0.987 of (a) on average (0.968-1.005, thirteen runs
of the A/A control, which trained there until then), in a thread at 1.000 (0.994-1.015, four
runs).

The GUI thread is held still during (a)'s turns, so that the panel's drawing happens during
(b)'s epochs, as it does in a run on its own: what (b) had sent it just before its turn ended
is drawn when its next turn begins. What the GUI thread did between (b)'s epoch end and the hold
taking effect (finishing a redraw under way) is added to (b)'s epoch, as if it had run on the
training's own core, which overstates it; the hold's own work (pausing the panel's timers,
0.4 ms of the GUI thread when it looked them up each time) is the benchmark's, and is neither
added nor counted in the GUI's share. Held still it costs (a) nothing; its idle timers would.
The panel paces its redraws by the clock, and (a)'s turns would double the time it sees pass
in each of (b)'s epochs, and so how often it draws per epoch. So for the panel time stands
still while it is held: its timers are stopped and resumed with the time they had left, and
the clocks its pacing reads (``time.monotonic``, ``time.perf_counter``) leave the held time
out. The GUI thread's share of a core during (b)'s turns is printed next to its share in a run
of (b) on its own, trained in the first rounds too: the two should match.
While the panel trains, Python's automatic garbage collection is off and the GUI thread
collects as each delivery of reports comes (``GuiThreadGarbage``), for both fits of the
process: held still, it would leave (a)'s garbage for (b)'s turns to collect. So while held it
looks every 100 ms and collects when the automatic collector would have, and (a) pays for its
own garbage, in its own turn.

* (b') a run of (b) on its own, while a 5 ms ``QTimer`` on the GUI thread records the gaps
  between its ticks: the longest gap is the longest the GUI could not respond. This probe is a
  run of its own because it perturbs what it measures (200 wake-ups a second). A second, idle
  process ticks every 5 ms at the same time: where it missed its ticks too, the whole machine
  stood still (this is a shared virtual machine), not the GUI. The goal is judged on the GUI's
  stalls less the part the idle process shared; the raw longest stall is printed next to it.

Goals: (b) at least 0.97 of (a)'s throughput; no GUI stall of 50 ms or more while training
(stalls while the worker builds the model are reported apart).

Run: ``python benchmarks/train_overhead.py [--epochs 30] [--repeat 12] [--probe-rounds 2] [--json]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RATIO_GOAL = 0.97
STALL_GOAL_MS = 50.0
TICK_MS = 5
BUILD_TIMEOUT_S = 300  # a side that never gets built must not hang the benchmark for ever
HELD_GC_CHECK_S = 0.1  # how often the held GUI thread collects (a)'s garbage (see above)


# The idle process of (b'): ticks every 5 ms until its stdin closes, then prints the tick
# times. time.perf_counter is CLOCK_MONOTONIC on Linux, one clock for both processes.
_WATCHDOG = """
import select, sys, time
ticks = []
while not select.select([sys.stdin], [], [], 0.005)[0]:
    ticks.append(time.perf_counter())
print(" ".join(map(repr, ticks)))
"""


class MachineWatchdog:
    """An idle process ticking beside the GUI: its gaps are the machine's own stalls."""

    def __init__(self):
        self.process: subprocess.Popen | None = None
        self.gaps: list[tuple[float, float]] = []

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", _WATCHDOG], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)

    def stop(self) -> None:
        out, _ = self.process.communicate("stop\n", timeout=30)
        ticks = [float(t) for t in out.split()]
        self.gaps = list(zip(ticks, ticks[1:]))

    def shared(self, start: float, end: float) -> float:
        """How long the idle process, too, missed its ticks during [start, end]."""
        return max((min(end, b) - max(start, a) for a, b in self.gaps
                    if b - a > 2 * TICK_MS / 1000 and a < end and b > start), default=0.0)


def thread_cpu_seconds(native_id: int) -> float | None:
    """CPU time of one thread of this process so far (Linux; None elsewhere)."""
    try:
        with open(f"/proc/self/task/{native_id}/schedstat") as file:
            return int(file.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


class Turns:
    """Two ``fit`` calls in two threads taking turns, an epoch each (see the module docstring).

    Side 0 is the baseline, side 1 the contender; ``first`` is the side that is built and
    trains first (see "Order" above). ``callback(side)`` is the Keras callback that makes a fit
    take its turns; it must be the last of the fit's callbacks, so that everything of an epoch
    is in its time. ``gui`` (optional, a ``GuiHold``) is held still while the baseline has its
    turn.
    """

    def __init__(self, keras, gui=None, first: int = 0):
        self.keras = keras
        self.gui = gui
        self.first = first
        self.times: dict[int, list[float]] = {0: [], 1: []}
        self.added: list[float] = []  # the GUI's time to be held, added to each contender epoch
        self.ready = {0: threading.Event(), 1: threading.Event()}  # built, waiting for a turn
        self._go = {0: threading.Event(), 1: threading.Event()}
        self._go[first].set()
        self._done = {0: False, 1: False}

    def callback(self, side: int):
        turns = self
        gui = self.gui if side == 1 else None

        class TakeTurns(self.keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                turns.ready[side].set()
                turns.ready[1 - side].wait(BUILD_TIMEOUT_S)  # no epoch beside the other's build
                turns._go[side].wait()
                self.started = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                seconds = time.perf_counter() - self.started
                if gui is not None:
                    turns.added.append(gui.hold())
                    seconds += turns.added[-1]
                turns.times[side].append(seconds)
                turns._pass(side)
                if gui is not None:
                    gui.release()
                self.started = time.perf_counter()

            def on_train_end(self, logs=None):
                turns._done[side] = True
                turns._go[1 - side].set()

        return TakeTurns()

    def _pass(self, side: int) -> None:
        if self._done[1 - side]:
            return
        self._go[side].clear()
        self._go[1 - side].set()
        self._go[side].wait()

    def ratios(self) -> list[float]:
        """(a)'s epoch time over the contender's, pair by pair, epoch 1 left out."""
        return [a / b for a, b in list(zip(self.times[0], self.times[1]))[1:]]

    def run_baseline(self, experiment, dataset):
        """Start (a) in a thread of its own; returns the thread. When (a) goes first, this
        returns once (a) is built; otherwise (a) is built once the contender is (the contender
        is started right after this returns)."""

        def baseline():
            if self.first == 1:
                self.ready[1].wait(BUILD_TIMEOUT_S)
            plain_fit(experiment, dataset, self.keras, [self.callback(0)])

        thread = threading.Thread(target=baseline)
        thread.start()
        if self.first == 0:
            self.ready[0].wait(BUILD_TIMEOUT_S)
        return thread


@contextlib.contextmanager
def session_callback(callback):
    """Every ``TrainingSession`` started inside gets ``callback`` as its last callback."""
    from workbench.training import TrainingSession

    original = TrainingSession._callbacks
    TrainingSession._callbacks = lambda self, *args: original(self, *args) + [callback]
    try:
        yield
    finally:
        TrainingSession._callbacks = original


def median_interval(rounds: list[list[float]], level: float = 0.9, resamples: int = 2000):
    """The median of all the rounds' ratios, and its ``level`` interval by a bootstrap over
    rounds: the ratios of one round are not independent (see "Rounds" above)."""
    rng = random.Random(0)
    pooled = [ratio for ratios in rounds for ratio in ratios]
    medians = sorted(median([r for ratios in rng.choices(rounds, k=len(rounds)) for r in ratios])
                     for _ in range(resamples))
    tail = (1 - level) / 2
    return median(pooled), medians[int(tail * resamples)], medians[int((1 - tail) * resamples) - 1]


def plain_fit(experiment, dataset, keras, callbacks: list) -> None:
    """(a): the experiment's model compiled as the session does, trained by ``fit`` alone."""
    from workbench.graph.convert import build_model
    from workbench.training import TrainingConfig

    config = TrainingConfig.from_dict(experiment.training)
    model = build_model(experiment.graph).model
    model.compile(optimizer=config.make_optimizer(), loss=config.loss, metrics=list(config.metrics))
    model.fit(**dataset.fit_arguments(config.batch_size), epochs=config.epochs, verbose=0,
              callbacks=callbacks)


def in_worker_thread(function, *args):
    """``function(*args)`` in a thread of its own, like (a) and the panel's worker (see
    "Threads" above); returns its result."""
    outcome: dict = {}

    def work():
        try:
            outcome["result"] = function(*args)
        except BaseException as error:  # raised again here, where the caller waits
            outcome["error"] = error

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def control_run(experiment, dataset, keras, first: int) -> Turns:
    """(a') against (a): the same plain ``fit`` on both sides."""
    turns = Turns(keras, first=first)
    baseline = turns.run_baseline(experiment, dataset)
    in_worker_thread(plain_fit, experiment, dataset, keras, [turns.callback(1)])
    baseline.join()
    return turns


def session_run(experiment, dataset, keras, runs: Path, first: int) -> Turns:
    """(s) against (a): the engine's session with a run store, reporting to nobody."""
    from workbench.runs import RunStore
    from workbench.tasks import NullProgress
    from workbench.training import TrainingSession

    turns = Turns(keras, first=first)
    baseline = turns.run_baseline(experiment, dataset)
    with session_callback(turns.callback(1)):
        session = TrainingSession(experiment, dataset=dataset, store=RunStore(runs),
                                  progress=NullProgress())
        result = in_worker_thread(session.run)
    baseline.join()
    if result.status != "finished":
        raise SystemExit(f"the session did not finish: {result.reason}")
    return turns


class HeldClock:
    """The ``time`` module as the panel sees it in (b): the clock stands still while the GUI
    thread is held (``held`` seconds so far), everything else is the real module's."""

    def __init__(self):
        self.held = 0.0

    def monotonic(self) -> float:
        return time.monotonic() - self.held

    def perf_counter(self) -> float:
        return time.perf_counter() - self.held

    def __getattr__(self, name: str):
        return getattr(time, name)


@contextlib.contextmanager
def panel_clock(clock):
    """The panel's pacing (``widgets.tasks``, ``widgets.train_panel``) reads ``clock``."""
    from widgets import tasks, train_panel

    modules = (tasks, train_panel)
    for module in modules:
        module.time = clock
    try:
        yield
    finally:
        for module in modules:
            module.time = time


def gui_hold(panel, clock: HeldClock):
    """A ``GuiHold``: holds the GUI thread still (in a slot that waits) between ``hold()``
    and ``release()``, both called from the training thread, and for ``panel`` time stands
    still meanwhile (its timers and ``clock``). Made on the GUI thread."""
    from PySide6.QtCore import QObject, QTimer, Signal

    from widgets.tasks import GuiThreadGarbage

    gui_thread = threading.main_thread().native_id

    class GuiHold(QObject):
        asked = Signal()

        def __init__(self):
            super().__init__()
            self.held = threading.Event()
            self.released = threading.Event()
            self.asked.connect(self._wait)  # queued: asked from the training thread
            self.turn_started: float | None = None
            self.turns_cpu: list[float] = []  # the GUI's CPU seconds in each of (b)'s turns
            self.periods: dict[int, int] = {}  # repeating timers resumed early: their period
            self.timers: list | None = None  # the panel's timers (looked up once: 0.4 ms)
            self.entry_cpu: float | None = None  # the GUI's CPU seconds when the hold began

        def _wait(self):  # on the GUI thread, between two of its events
            # Up to here the GUI did the panel's work; from here on, the hold's own.
            self.entry_cpu = thread_cpu_seconds(gui_thread)
            timers = self._stop_timers()
            started = time.perf_counter()
            self.held.set()
            deadline = started + 60  # a run that died leaves no GUI held for ever
            while not self.released.wait(HELD_GC_CHECK_S) and time.perf_counter() < deadline:
                GuiThreadGarbage.collect_young()  # (a)'s garbage, in (a)'s turn (see above)
            clock.held += time.perf_counter() - started
            self._resume_timers(timers)
            self.turn_started = thread_cpu_seconds(gui_thread)  # (b)'s turn: the panel's again

        def _stop_timers(self) -> list:
            stopped = []
            if self.timers is None:
                self.timers = panel.findChildren(QTimer)
            for timer in self.timers:
                if timer.isActive():
                    period = self.periods.get(id(timer), timer.interval())
                    stopped.append((timer, max(0, timer.remainingTime()), period))
                    timer.stop()
            return stopped

        def _resume_timers(self, stopped: list) -> None:
            """Each timer goes on with the time it had left; a repeating one gets its period
            back after that first timeout."""
            for timer, left, period in stopped:
                timer.start(left)
                if not timer.isSingleShot() and left != period:
                    if id(timer) not in self.periods:
                        timer.timeout.connect(lambda timer=timer: self._restore_period(timer))
                    self.periods[id(timer)] = period

        def _restore_period(self, timer) -> None:
            period = self.periods.pop(id(timer), None)
            if period is not None and timer.isActive() and timer.interval() != period:
                timer.setInterval(period)  # restarts it: the next timeout a period from now

        def hold(self) -> float:
            """Hold the GUI thread; answers the CPU seconds it spent on the panel's work from
            now until the hold began (the hold's own work is the benchmark's, not the panel's)."""
            before = thread_cpu_seconds(gui_thread)
            self.released.clear()
            self.held.clear()
            self.entry_cpu = None
            self.asked.emit()
            self.held.wait(5)
            entry = self.entry_cpu
            if self.turn_started is not None and entry is not None:
                self.turns_cpu.append(entry - self.turn_started)
            return 0.0 if before is None or entry is None else max(0.0, entry - before)

        def release(self) -> None:
            self.released.set()

    return GuiHold()


class EpochMarks:
    """The GUI thread's CPU seconds at each epoch end of a run on its own."""

    def __init__(self, keras):
        gui_thread = threading.main_thread().native_id
        self.marks: list[tuple[float, float | None]] = []
        marks = self.marks

        class Mark(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                marks.append((time.perf_counter(), thread_cpu_seconds(gui_thread)))

        self.callback = Mark()

    def gui_share(self) -> float:
        """The GUI thread's share of a core from the end of epoch 1 to the last."""
        (wall0, cpu0), (wall1, cpu1) = self.marks[0], self.marks[-1]
        if cpu0 is None or cpu1 is None or wall1 <= wall0:
            return float("nan")
        return (cpu1 - cpu0) / (wall1 - wall0)


def panel_run(app, experiment, dataset, runs: Path, keras, mode: str, first: int = 0):
    """Train clicked in a live panel: (b) against (a) (``mode`` "turns", ``first`` the side
    built and trained first), the probe (b') ("probe") or (b) on its own ("alone").

    Returns:
        the ``Turns`` (None unless "turns"); GUI tick gaps during training as (length, length
        less the machine's own stall) and before the first batch (length) (for the probe);
        batches drawn; the GUI thread's share of a core while its session trains (over (b)'s
        epochs 2..N; nan for the probe).
    """
    from PySide6.QtCore import Qt, QTimer

    from widgets import tasks
    from widgets.document import Document
    from widgets.train_panel import TrainPanel

    first_batch: list[float] = []
    original = tasks.QtProgress.partial

    def timed_partial(progress, result):  # runs in the training thread
        if not first_batch and result["kind"] == "batch":
            first_batch.append(time.perf_counter())
        original(progress, result)

    tasks.QtProgress.partial = timed_partial
    document = Document(experiment)
    document.backend_ready()
    panel = TrainPanel(document, runs)
    panel.resize(1000, 600)
    panel.show()
    panel.set_dataset(dataset)
    app.processEvents()

    ticks: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(TICK_MS)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    results = []
    panel.run_finished.connect(lambda result: (results.append(result), app.quit()))
    watchdog = MachineWatchdog()
    turns = baseline = hold = None
    marks = EpochMarks(keras)
    context = contextlib.ExitStack()
    if mode == "probe":
        watchdog.start()
        timer.start()
    elif mode == "alone":
        context.enter_context(session_callback(marks.callback))
    else:
        clock = HeldClock()
        hold = gui_hold(panel, clock)
        turns = Turns(keras, gui=hold, first=first)
        baseline = turns.run_baseline(experiment, dataset)
        context.enter_context(panel_clock(clock))
        context.enter_context(session_callback(turns.callback(1)))
    with context:
        panel.train_button.click()
        app.exec()
        if hold is not None:
            hold.release()
    timer.stop()
    if mode == "probe":
        watchdog.stop()
    if baseline is not None:
        baseline.join()
    tasks.QtProgress.partial = original
    result = results[0]
    if result.status != "finished":
        raise SystemExit(f"the panel's run did not finish: {result.reason}")
    gui_load = marks.gui_share() if mode == "alone" else float("nan")
    if hold is not None and hold.turns_cpu:  # from epoch 2 (the first turn is not released)
        gui_load = sum(hold.turns_cpu) / sum(turns.times[1][1:1 + len(hold.turns_cpu)])
    # Before the first batch the worker builds the model and traces the training step;
    # that phase is reported apart from training proper.
    training = [(b - a, b - a - watchdog.shared(a, b))
                for a, b in zip(ticks, ticks[1:]) if a >= first_batch[0]]
    setup = [b - a for a, b in zip(ticks, ticks[1:]) if a < first_batch[0]]
    drawn = panel.batch_count
    panel.shutdown()
    panel.deleteLater()
    return turns, training, setup, drawn, gui_load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30, help="epochs per run (default 30)")
    parser.add_argument("--repeat", type=int, default=12,
                        help="rounds of (a'), (s) and (b) against a fresh (a) (default 12; even: "
                        "as many rounds of each order)")
    parser.add_argument("--probe-rounds", type=int, default=2,
                        help="rounds that also run (b) on its own and (b') (default 2)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    if not 1 <= args.probe_rounds <= args.repeat:
        parser.error("--probe-rounds must be between 1 and --repeat")

    from PySide6.QtWidgets import QApplication

    from workbench.backend import keras_module
    from workbench.data import load_dataset
    from workbench.experiment import DEFAULT_EXPERIMENT, Experiment
    from workbench.tasks import NullProgress

    app = QApplication.instance() or QApplication([])
    keras = keras_module()
    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    experiment.training = {**experiment.training, "epochs": args.epochs}
    dataset = load_dataset(experiment.data, NullProgress())
    samples = len(dataset.x_train)
    folder = Path(tempfile.mkdtemp(prefix="train-overhead-"))

    pairs: dict[str, list[list[float]]] = {"control": [], "session": [], "panel": []}
    epochs: dict[str, list[float]] = {"plain": [], "session": [], "panel": []}
    gaps, setup_gaps, loads, alone_loads, drawn, hold_costs = [], [], [], [], 0, []
    for round_ in range(args.repeat):
        first = round_ % 2  # (a) first in even rounds, the contender in odd ones
        control = control_run(experiment, dataset, keras, first)
        session = session_run(experiment, dataset, keras, folder / f"session-{round_}", first)
        panel, _, _, drawn, load = panel_run(app, experiment, dataset, folder / f"panel-{round_}",
                                             keras, "turns", first)
        if round_ < args.probe_rounds:
            *_, alone_load = panel_run(app, experiment, dataset, folder / f"alone-{round_}", keras,
                                       "alone")
            _, round_gaps, round_setup, _, _ = panel_run(app, experiment, dataset,
                                                         folder / f"probe-{round_}", keras, "probe")
            alone_loads.append(alone_load)
            gaps += round_gaps
            setup_gaps += round_setup
        for name, turns in (("control", control), ("session", session), ("panel", panel)):
            pairs[name].append(turns.ratios())
            epochs["plain"] += turns.times[0][1:]
        epochs["session"] += session.times[1][1:]
        epochs["panel"] += panel.times[1][1:]
        hold_costs += panel.added[1:]
        loads.append(load)
    ratios = {name: median_interval(values) for name, values in pairs.items()}
    throughputs = {name: samples / median(times) for name, times in epochs.items()}
    gaps_ms = sorted(1000 * g for g, _ in gaps)
    raw_stall_ms = gaps_ms[-1] if gaps_ms else float("nan")
    stall_ms = max((1000 * own for _, own in gaps), default=float("nan"))
    p99_ms = gaps_ms[int(0.99 * (len(gaps_ms) - 1))] if gaps_ms else float("nan")
    gui_load = median(loads)
    setup_stall_ms = 1000 * max(setup_gaps) if setup_gaps else float("nan")
    ratio = ratios["panel"][0]
    met = ratio >= RATIO_GOAL and stall_ms < STALL_GOAL_MS
    numbers = {
        "epochs": args.epochs, "repeat": args.repeat, "train_samples": samples,
        "pairs_per_comparison": sum(map(len, pairs["panel"])), "batches_drawn": drawn,
        "panel_round_medians": [round(median(r), 3) for r in pairs["panel"]],
        "control_round_medians": [round(median(r), 3) for r in pairs["control"]],
        "samples_per_s": {name: round(value, 1) for name, value in throughputs.items()},
        "ratios": {name: {"median": round(m, 3), "interval_90": [round(low, 3), round(high, 3)]}
                   for name, (m, low, high) in ratios.items()},
        "panel_ratio": round(ratio, 3), "ratio_goal": RATIO_GOAL,
        "gui_longest_stall_ms": round(stall_ms, 1), "gui_longest_raw_stall_ms": round(raw_stall_ms, 1),
        "gui_p99_gap_ms": round(p99_ms, 1),
        "gui_setup_longest_stall_ms": round(setup_stall_ms, 1),
        "gui_thread_cpu_share": round(gui_load, 3),
        "gui_thread_cpu_share_alone": round(median(alone_loads), 3),
        "gui_work_before_hold_ms": round(1000 * median(hold_costs), 2),
        "stall_goal_ms": STALL_GOAL_MS, "goal_met": met,
    }
    if args.json:
        print(json.dumps(numbers, indent=2))
        return

    def ratio_text(name: str) -> str:
        middle, low, high = ratios[name]
        return f"{middle:.3f} (90% interval {low:.3f}-{high:.3f})"

    print(f"default experiment (digits CNN), {samples} training samples, batch "
          f"{experiment.training['batch_size']}; {args.repeat} rounds of {args.epochs} epochs, each "
          f"contender taking turns with (a) an epoch each: {numbers['pairs_per_comparison']} pairs "
          "per ratio; intervals by a bootstrap over rounds")
    print(f"  (a)  plain model.fit          {throughputs['plain']:10,.0f} samples/s (median epoch)")
    print(f"  (a') plain model.fit again    ratio to (a) {ratio_text('control')}  "
          "<- the A/A control: how finely this machine measures")
    print(f"  (s)  session, no GUI          {throughputs['session']:10,.0f} samples/s   "
          f"ratio to (a) {ratio_text('session')}")
    print(f"  (b)  session + live panel     {throughputs['panel']:10,.0f} samples/s   "
          f"ratio to (a) {ratio_text('panel')} (goal >= {RATIO_GOAL})")
    print("       round by round: (b) " + " ".join(f"{r:.2f}" for r in numbers["panel_round_medians"])
          + ";  (a') " + " ".join(f"{r:.2f}" for r in numbers["control_round_medians"]))
    print(f"  GUI thread busy {100 * gui_load:.1f}% of one core in (b)'s turns "
          f"({100 * numbers['gui_thread_cpu_share_alone']:.1f}% in a run of (b) on its own); its work "
          f"between (b)'s epoch end and being held, {numbers['gui_work_before_hold_ms']:.1f} ms "
          f"(median), is counted in (b)'s epoch; {drawn} batches drawn per run")
    print(f"  (b') GUI thread while training: longest stall {stall_ms:.1f} ms "
          f"(goal < {STALL_GOAL_MS:.0f} ms; {raw_stall_ms:.1f} ms with the machine's own stalls), "
          f"99th percentile gap {p99_ms:.1f} ms over {len(gaps_ms)} gaps of a {TICK_MS} ms timer")
    print(f"  (b') GUI thread before the first batch (model build, tracing): longest stall "
          f"{setup_stall_ms:.1f} ms")
    print("GOAL MET" if met else "GOAL MISSED")


if __name__ == "__main__":
    main()
