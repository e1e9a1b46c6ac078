"""What a millisecond of other work costs training, and whether it matters where it runs.

The Train panel's GUI thread gets a budget (``GUI_BUDGET_OF_CORE`` in
``widgets/train_panel.py``): this measures what that budget must be. It trains the default
experiment (the digits CNN) with a plain ``model.fit`` while a background worker does a fixed
amount of work every period, and the epochs take turns between kinds of worker:

* ``none``: nothing runs beside the training (the baseline);
* ``gil``: a thread of this process running Python (it holds the GIL, as the GUI thread does
  while it handles reports and paints pyqtgraph's items);
* ``nogil``: a thread of this process in NumPy (no GIL: only the cores are shared);
* ``process``: another process running the same Python (nothing shared but the cores).

Each kind's epochs are spread over the whole run, so the machine's drift (a shared virtual
machine's speed moves by 10-25% within minutes) falls on all kinds alike. It prints, per kind,
the median epoch time, the slowdown against ``none``, the worker's CPU as a share of one core,
and the training time lost per millisecond of the worker's CPU.

Measured on the 2-core development VM (2026-11-25, 20% of a core asked, 300 epochs): in three
runs of four, training lost about 1 ms per ms of the GIL-holding thread's CPU (1.05-1.07),
0.75-0.8 ms per ms of the NumPy thread's, 0.5-0.7 ms per ms of the other process's; in the
fourth (a quiet machine, faster epochs) only the GIL-holding thread cost anything (0.24 ms).
The training keeps only about one of the two cores busy, yet other work costs it nearly its
own time: the training thread waits for the GIL, and the thread pool's ops wait for the thread
whose core was taken. So the GUI thread's budget is a share of one core, whatever the number
of cores.

Run: ``python benchmarks/background_cost.py [--epochs 300] [--burn-ms 10] [--period-ms 50]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import threading
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

KINDS = ("none", "gil", "nogil", "process")


def python_work(loops: int) -> int:
    total = 0
    for i in range(loops):
        total += i
    return total


def loops_for(milliseconds: float) -> int:
    """How many ``python_work`` loops take ``milliseconds`` on an idle core."""
    started = time.perf_counter()
    python_work(200_000)
    return max(1, int(200_000 * milliseconds / 1000 / (time.perf_counter() - started)))


def process_worker(on, loops: int, period: float) -> None:
    """The ``process`` kind: the same Python work in another process, while ``on`` is set."""
    while True:
        started = time.perf_counter()
        if on.value:
            python_work(loops)
        time.sleep(max(0.0, period - (time.perf_counter() - started)))


class ThreadWorker:
    """The ``gil`` and ``nogil`` kinds: a fixed amount of work every period, in a thread of
    this process. ``kind`` is switched by the training's callback; CPU time is kept per kind."""

    def __init__(self, loops: int, milliseconds: float, period: float):
        import numpy as np

        self.np = np
        self.kind = "none"
        self.loops, self.period = loops, period
        self.cpu = {kind: 0.0 for kind in KINDS}
        self.array = np.random.rand(200_000)
        self.out = np.empty_like(self.array)
        started = time.perf_counter()
        np.sin(self.array, out=self.out)
        self.numpy_reps = max(1, int(milliseconds / 1000 / (time.perf_counter() - started)))

    def run(self) -> None:
        while True:
            started, cpu = time.perf_counter(), time.thread_time()
            kind = self.kind
            if kind == "gil":
                python_work(self.loops)
            elif kind == "nogil":
                for _ in range(self.numpy_reps):
                    self.np.sin(self.array, out=self.out)  # NumPy's loops release the GIL
            self.cpu[kind] += time.thread_time() - cpu
            time.sleep(max(0.0, self.period - (time.perf_counter() - started)))


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of another process so far (Linux)."""
    with open(f"/proc/{pid}/stat") as file:
        fields = file.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--burn-ms", type=float, default=10.0, help="work per period, in ms of one idle core")
    parser.add_argument("--period-ms", type=float, default=50.0)
    args = parser.parse_args()
    period = args.period_ms / 1000
    loops = loops_for(args.burn_ms)

    on = multiprocessing.Value("i", 0)
    other = multiprocessing.Process(target=process_worker, args=(on, loops, period), daemon=True)
    other.start()
    worker = ThreadWorker(loops, args.burn_ms, period)
    threading.Thread(target=worker.run, daemon=True).start()

    import keras

    from workbench.data import load_dataset
    from workbench.experiment import DEFAULT_EXPERIMENT, Experiment
    from workbench.graph.convert import build_model
    from workbench.tasks import NullProgress
    from workbench.training import TrainingConfig

    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    dataset = load_dataset(experiment.data, NullProgress())
    config = TrainingConfig.from_dict(experiment.training)
    model = build_model(experiment.graph).model
    model.compile(optimizer=config.make_optimizer(), loss=config.loss, metrics=list(config.metrics))
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    other_cpu = {"start": 0.0, "total": 0.0}

    class TakeTurns(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == len(KINDS):  # the first round traces the graph: its work is not counted
                worker.cpu = dict.fromkeys(KINDS, 0.0)
                other_cpu["total"] = 0.0
            worker.kind = KINDS[epoch % len(KINDS)]
            on.value = int(worker.kind == "process")
            other_cpu["start"] = process_cpu_seconds(other.pid)
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self.started
            if worker.kind == "process":
                other_cpu["total"] += process_cpu_seconds(other.pid) - other_cpu["start"]
            if epoch >= len(KINDS):  # the first round traces the graph
                times[worker.kind].append(seconds)

    model.fit(**dataset.fit_arguments(config.batch_size), epochs=args.epochs, verbose=0,
              callbacks=[TakeTurns()])
    on.value = 0
    worker.cpu["process"] = other_cpu["total"]

    base = median(times["none"])
    print(f"default experiment, {args.epochs} epochs taking turns; worker: {args.burn_ms:g} ms of "
          f"work every {args.period_ms:g} ms; median epoch {1000 * base:.0f} ms with nothing beside")
    for kind in KINDS[1:]:
        epoch = median(times[kind])
        wall = sum(times[kind])
        share = worker.cpu[kind] / wall if wall else float("nan")
        lost = epoch - base
        per_ms = lost / (share * epoch) if share > 0 else float("nan")
        print(f"  {kind:8} slowdown {100 * (epoch / base - 1):+5.1f}%   worker {100 * share:4.1f}% "
              f"of a core   training lost {per_ms:.2f} ms per ms of the worker's CPU")


if __name__ == "__main__":
    main()
