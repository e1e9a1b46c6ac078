"""``run.json``: a run's status and facts, versioned, and ``RunInfo``, what lists show of it.

The file carries a format name and version like every document the workbench writes; a
version newer than this program knows is refused with a clear message instead of half-read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.fileio import write_json_atomic

RUN_FORMAT = "keras-workbench/run"
RUN_VERSION = 1
RUN_FILE = "run.json"

RUNNING = "running"
ENDED = ("finished", "stopped", "failed")
INTERRUPTED = "interrupted"
UNREADABLE = "unreadable"
INTERRUPTED_REASON = "the process ended without closing the run"
# How a sentence says that a run ended early, by status.
_ENDINGS = {"failed": "failed", "stopped": "was stopped", "interrupted": "was interrupted"}

# MIGRATIONS[n] turns a version-n run.json into a version-(n+1) one (none yet).
MIGRATIONS: dict[int, Callable[[dict], dict]] = {}

# Fields a version-1 run.json must have, with the JSON types they may take.
_FIELDS: dict[str, tuple[type, ...]] = {
    "name": (str,), "experiment": (str,), "status": (str,), "started": (str,),
    "reason": (str, type(None)), "finished": (str, type(None)), "epochs": (int, type(None)),
    "final_metrics": (dict,), "seed": (int, type(None)), "device": (str, type(None)),
    "pid": (int, type(None)), "host": (str, type(None)), "process_started": (int, type(None)),
    "versions": (dict,), "weights_sha256": (str, type(None)),
}


@dataclass
class RunInfo:
    """What a list of runs shows about one run.

    Attributes:
        id: the folder name, unique in its store.
        path: the run folder.
        name: the run's name for people.
        experiment: the name of the experiment it trained (None when unreadable).
        status: "running", "finished", "stopped", "failed", "interrupted" (its process ended
            without closing it) or "unreadable" (``run.json`` missing or broken).
        reason: why it stopped, failed, was interrupted or cannot be read.
        started: ISO 8601 local time with offset.
        finished: ISO 8601, or None while running or when interrupted.
        epochs: epochs done (rows of ``history.csv`` until the run is closed).
        final_metrics: the last epoch's metrics (the latest so far while running).
        seed: the training seed.
        device: what it trained on ("gpu:0 (NVIDIA H100)", "cpu"), once known.
        versions: python, keras, tensorflow, numpy versions it ran with.
        weights_sha256: the digest of the weights file it started from, taken when the run
            was created (None without one, and in runs made before it was recorded).
    """

    id: str
    path: Path
    name: str | None = None
    experiment: str | None = None
    status: str = UNREADABLE
    reason: str | None = None
    started: str | None = None
    finished: str | None = None
    epochs: int = 0
    final_metrics: dict = field(default_factory=dict)
    seed: int | None = None
    device: str | None = None
    versions: dict = field(default_factory=dict)
    weights_sha256: str | None = None

    @property
    def trained(self) -> bool:
        """Whether an epoch finished: before that, any model the run saved is untrained."""
        return self.epochs > 0

    def model_notice(self) -> str | None:
        """What to know before using this run's model, for people; None for a run that
        finished its training (or cannot be read: then there is no model to use).

        A run that ended early still saves a model, and nothing in the file says that it is
        untrained (no epoch finished) or only part-trained.
        """
        if self.status == UNREADABLE or (self.status == "finished" and self.trained):
            return None
        if self.status == "finished":  # history.csv lost, or a run closed by hand
            return f"run {self.id} has no finished epoch: its model was never trained"
        epochs = f"{self.epochs} epoch{'s' if self.epochs != 1 else ''}"
        if self.status == RUNNING:
            return (f"run {self.id} is still running ({epochs} so far): its model is "
                    + ("not trained yet" if not self.trained else "from an unfinished training"))
        how = _ENDINGS.get(self.status, f"ended as {self.status}")
        # The reason may hold brackets of its own ("during epoch 5 (after 3 of 45 batches)").
        why = f" ({self.reason})" if self.reason and "(" not in self.reason else ""
        also = f"; {self.reason}" if self.reason and not why else ""
        if not self.trained:
            return (f"run {self.id} {how} before its first epoch finished{why}: "
                    f"its model was never trained{also}")
        return (f"run {self.id} {how} after {epochs}{why}: its model is from an unfinished "
                f"training{also}")

    def to_dict(self) -> dict:
        """JSON-safe form (for ``--json`` output and the GUI's tables)."""
        data = asdict(self)
        data["path"] = str(self.path)
        return data


def read_run_file(folder: Path) -> dict:
    """Read and check ``folder/run.json``.

    Raises:
        WorkbenchError: missing, not JSON, another format, a newer version, or a field of the
            wrong type; the message names the file and what is wrong.
    """
    path = Path(folder) / RUN_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WorkbenchError(f"{path}: missing (the run was not fully created)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise WorkbenchError(f"{path}: cannot be read ({error})") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError, ValueError) as error:
        detail = "is empty" if not text.strip() else f"is not valid JSON ({error})"
        raise WorkbenchError(f"{path}: {detail}") from None
    if not isinstance(data, dict) or data.get("format") != RUN_FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise WorkbenchError(f"{path}: format: expected {RUN_FORMAT!r}, found {found!r}")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise WorkbenchError(f"{path}: version: expected a whole number, found {version!r}")
    if version > RUN_VERSION:
        raise WorkbenchError(
            f"{path}: version {version} was written by a newer Keras Workbench; this one reads "
            f"runs up to version {RUN_VERSION}: please upgrade")
    while version < RUN_VERSION:
        if version not in MIGRATIONS:
            raise WorkbenchError(f"{path}: version {version} is not a known run version")
        data = MIGRATIONS[version](data)
        version += 1
    for key, types in _FIELDS.items():
        value = data.get(key)
        # bool is an int to Python, but "epochs": true is no count of epochs.
        if key in data and (not isinstance(value, types) or isinstance(value, bool)):
            raise WorkbenchError(f"{path}: {key}: unexpected value {data[key]!r}")
    for key in ("name", "experiment", "status", "started"):
        if key not in data:
            raise WorkbenchError(f"{path}: {key}: missing")
    return data


def write_run_file(folder: Path, data: dict) -> None:
    """Write ``folder/run.json`` atomically; NaN metrics become null (JSON has no NaN)."""
    data = {"format": RUN_FORMAT, "version": RUN_VERSION,
            **{k: v for k, v in data.items() if k not in ("format", "version")}}
    data["final_metrics"] = json_metrics(data.get("final_metrics") or {})
    write_json_atomic(Path(folder) / RUN_FILE, data)


def json_metrics(metrics: dict[str, Any]) -> dict[str, float | None]:
    """Metrics as JSON-safe floats: NaN and infinities (a diverged loss) become None."""
    clean: dict[str, float | None] = {}
    for key, value in metrics.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            clean[str(key)] = None
            continue
        clean[str(key)] = number if math.isfinite(number) else None
    return clean
