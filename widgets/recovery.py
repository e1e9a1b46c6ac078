"""The autosave recovery file: the open document, written while it has unsaved changes.

On a clean exit the file is removed; if the app crashed, the next start finds it and offers
to restore the work. Writes are atomic, like every save.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QStandardPaths

from workbench.errors import WorkbenchError
from workbench.experiment import Experiment
from workbench.fileio import write_json_atomic


def default_recovery_path() -> Path:
    folder = Path(QStandardPaths.writableLocation(
        QStandardPaths.StandardLocation.AppDataLocation) or Path.home() / ".keras-workbench")
    return folder / "recovery.json"


class RecoveryStore:
    """Reads and writes one recovery file."""

    def __init__(self, path: Path | None = None):
        self.path = path or default_recovery_path()

    def write(self, experiment: Experiment) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.path, {
            "saved_path": str(experiment.path) if experiment.path else None,
            "experiment": experiment.to_dict(),
        })

    def exists(self) -> bool:
        return self.path.exists()

    def read(self) -> Experiment | None:
        """The recovered experiment, or None if the file is unreadable (then it is removed)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            experiment = Experiment.from_dict(data["experiment"], self.path)
            saved = data.get("saved_path")
            experiment.path = Path(saved) if saved else None
            return experiment
        except (OSError, ValueError, KeyError, TypeError, WorkbenchError):
            self.clear()
            return None

    def clear(self) -> None:
        if self.path.exists():
            self.path.unlink()
