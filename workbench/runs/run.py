"""``Run``: one run folder, written while training and read back afterwards.

Layout of a run folder::

    experiment.json          the frozen experiment (weights in experiment.weights.npz, if any)
    run.json                 status, times, seed, device, library versions, final metrics
    history.csv              one row per finished epoch, written as it ends (fsync'ed)
    batches.csv              one row per batch, buffered (flushed about every second)
    best.keras, final.keras  checkpoints
    tensorboard/             TensorBoard event files of the epochs (see ``events``)
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.experiment import Experiment
from workbench.runs import machine
from workbench.runs.csvlog import LR, CsvLog, count_rows, read_csv_log
from workbench.runs.events import EpochEvents, tensorboard_available
from workbench.runs.runfile import (
    ENDED,
    INTERRUPTED,
    INTERRUPTED_REASON,
    RUN_FILE,
    RUNNING,
    UNREADABLE,
    RunInfo,
    json_metrics,
    read_run_file,
    write_run_file,
)

EXPERIMENT_FILE = "experiment.json"
WEIGHTS_FILE = "experiment.weights.npz"
HISTORY_FILE = "history.csv"
BATCHES_FILE = "batches.csv"
CHECKPOINTS = {"best": "best.keras", "final": "final.keras"}

_HISTORY_LEAD = ("epoch",)
_BATCHES_LEAD = ("step", "epoch")


class Run:
    """One run folder. ``RunStore.create`` makes one; ``RunStore.open`` reopens one.

    The writing methods are meant for the one training session that owns the run; the
    reading methods work from anywhere, on a run still training or one whose process died.

    Args:
        path: the run folder.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.id = self.path.name
        self._history = CsvLog(self.path / HISTORY_FILE, _HISTORY_LEAD, durable=True)
        # Batches come by the thousand: buffer them, and skip fsync (the OS keeps what a
        # killed process wrote; only a power cut could cost the last second of batch rows).
        self._batches = CsvLog(self.path / BATCHES_FILE, _BATCHES_LEAD, durable=False,
                               flush_rows=200, flush_seconds=1.0)
        self._events: EpochEvents | None = None  # opened on the first epoch

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # ------------------------------------------------------------- reading
    def info(self) -> RunInfo:
        """The run's facts as lists show them (never raises for a broken ``run.json``)."""
        return run_info(self.path)

    def history(self) -> dict[str, list[float]]:
        """Per-epoch columns: ``epoch``, each metric, ``lr``; empty cells are NaN."""
        return read_csv_log(self.path / HISTORY_FILE, _HISTORY_LEAD)

    def batches(self) -> dict[str, list[float]]:
        """Per-batch columns: ``step``, ``epoch``, each metric, ``lr`` (flushed rows only)."""
        return read_csv_log(self.path / BATCHES_FILE, _BATCHES_LEAD)

    def experiment(self) -> Experiment:
        """The experiment exactly as it was when the run started."""
        return Experiment.load(self.path / EXPERIMENT_FILE)

    def checkpoint_path(self, which: str) -> Path:
        """Where the "best" or "final" model of this run is (or will be) saved."""
        if which not in CHECKPOINTS:
            raise WorkbenchError(f"unknown checkpoint {which!r}: choose 'best' or 'final'")
        return self.path / CHECKPOINTS[which]

    def tensorboard_dir(self) -> Path:
        """The folder of the run's TensorBoard event files (made on the first epoch)."""
        return self.path / "tensorboard"

    def load_model(self, which: str = "final", allow_unsafe: bool = False):
        """Load the run's "best" or "final" model (Keras safe mode, not compiled).

        Raises:
            WorkbenchError: the checkpoint does not exist (with why that may be), or the file
                cannot be loaded.
        """
        path = self.checkpoint_path(which)
        if not path.exists():
            why = ("saving the best epoch was off, or no epoch finished" if which == "best"
                   else "the run ended before its model was saved")
            raise WorkbenchError(f"run {self.id} has no {which} model ({path.name}): {why}")
        from workbench.modelio import load_model_file  # imports Keras: only when asked

        return load_model_file(path, allow_unsafe=allow_unsafe)

    # ------------------------------------------------------------- writing
    def set_device(self, description: str) -> None:
        """Record what the run trains on ("gpu:0", "cpu", or a longer description)."""
        self._update(device=description)

    def append_epoch(self, epoch: int, logs: dict[str, float], lr: float | None) -> None:
        """Add a finished epoch (counted from 1) to ``history.csv``, where it is when this
        returns (a killed process keeps it; forced to the disk moments later), and to the
        TensorBoard event files (on disk within seconds)."""
        self._history.append({"epoch": int(epoch), **_metrics(logs, _HISTORY_LEAD), LR: lr})
        self._batches.flush()  # cheap, and an epoch boundary is a natural point to catch up
        if self._events is None and tensorboard_available():
            self._events = EpochEvents(self.tensorboard_dir())
        if self._events is not None:
            self._events.add(int(epoch), _metrics(logs, _HISTORY_LEAD), lr)

    def append_batch(self, step: int, epoch: int, logs: dict[str, float], lr: float | None) -> None:
        """Add a batch to ``batches.csv`` (buffered: written every ~1 s, 200 rows, or at finish)."""
        self._batches.append({"step": int(step), "epoch": int(epoch),
                              **_metrics(logs, _BATCHES_LEAD), LR: lr})

    def finish(self, status: str, reason: str | None = None,
               final_metrics: dict | None = None) -> None:
        """Close the run: flush the logs and record how it ended in ``run.json``.

        Args:
            status: "finished", "stopped" or "failed".
            reason: why it stopped or failed, for people.
            final_metrics: the last epoch's metrics; taken from ``history.csv`` when None.
        """
        if status not in ENDED:
            raise WorkbenchError(f"a run ends as {', '.join(ENDED)}, not {status!r}")
        problems = []
        for log in (self._history, self._batches):
            try:
                log.flush()
            except OSError as error:  # a full disk must not keep the run from being closed
                problems.append(f"{log.path.name} not fully written ({error.strerror or error})")
                continue
            try:
                log.sync()
            except OSError as error:
                problems.append(f"{log.path.name} is written but the disk did not confirm it "
                                f"(fsync: {error.strerror or error}); a power cut may lose it")
        if self._events is not None:
            self._events.close()
            if self._events.problem:
                problems.append(self._events.problem)
        if problems:
            reason = "; ".join(([reason] if reason else []) + problems)
        if final_metrics is None:
            final_metrics = _last_row(self.history())
        self._update(status=status, reason=reason, finished=now_iso(),
                     epochs=count_rows(self.path / HISTORY_FILE), final_metrics=final_metrics)

    def _update(self, **changes) -> None:
        data = read_run_file(self.path)
        data.update(changes)
        try:
            write_run_file(self.path, data)
        except OSError as error:
            raise WorkbenchError(f"{self.path / RUN_FILE}: cannot be written "
                                 f"({error.strerror or error})") from None


def run_info(folder: Path) -> RunInfo:
    """Read a run folder's facts, tolerating a missing or broken ``run.json``.

    A run still marked "running" whose process is gone from this machine is reported as
    "interrupted"; its epochs and latest metrics come from ``history.csv``.
    """
    folder = Path(folder)
    try:
        data = read_run_file(folder)
    except WorkbenchError as error:
        return RunInfo(id=folder.name, path=folder, status=UNREADABLE, reason=str(error),
                       epochs=count_rows(folder / HISTORY_FILE))
    status, reason = data["status"], data.get("reason")
    if status == RUNNING and not _writer_alive(data):
        status, reason = INTERRUPTED, INTERRUPTED_REASON
    epochs, final = data.get("epochs"), data.get("final_metrics") or {}
    if status not in ENDED or epochs is None:
        history = read_csv_log(folder / HISTORY_FILE, _HISTORY_LEAD)
        epochs = len(history.get("epoch", []))
        final = final or _last_row(history)
    return RunInfo(id=folder.name, path=folder, name=data["name"], experiment=data["experiment"],
                   status=status, reason=reason, started=data["started"],
                   finished=data.get("finished"), epochs=epochs, final_metrics=final,
                   seed=data.get("seed"), device=data.get("device"),
                   versions=data.get("versions") or {},
                   weights_sha256=data.get("weights_sha256"))


def now_iso() -> str:
    """Local time with its UTC offset, to the second: readable and unambiguous."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _writer_alive(data: dict) -> bool:
    pid, host = data.get("pid"), data.get("host")
    if pid is None or host != machine.hostname():
        return True  # written on another machine (a shared drive): nothing here can tell
    return machine.process_alive(pid, data.get("process_started"))


def _metrics(logs: dict, lead: tuple[str, ...]) -> dict:
    # Lead columns and lr come from the arguments; a metric of the same name would clash.
    return {str(k): v for k, v in (logs or {}).items() if k not in lead and k != LR}


def _last_row(history: dict[str, list[float]]) -> dict[str, float | None]:
    return json_metrics({k: v[-1] for k, v in history.items() if k not in _HISTORY_LEAD and v})
