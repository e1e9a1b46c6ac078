"""``RunStore``: the folder of runs (``runs/`` by default): create, list, open, delete, group.

Each run is a folder named ``<YYYYmmdd-HHMMSS>-<experiment-slug>-<n>``, ``n`` counting up
from 1 so that runs started in the same second never share a folder. Folder creation is the
lock: ``mkdir`` fails for all but one of two processes racing for the same name.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import unicodedata
from datetime import datetime
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.experiment import Experiment
from workbench.fileio import sha256_of, write_atomic, write_json_atomic
from workbench.runs import machine
from workbench.runs.run import EXPERIMENT_FILE, WEIGHTS_FILE, Run, run_info
from workbench.runs.runfile import RUNNING, RunInfo, read_run_file, write_run_file

_RUN_ID = re.compile(r"^(\d{8}-\d{6})-.*-(\d+)$")
_SLUG_LENGTH = 40


def _now() -> datetime:
    """The local time with its offset (a function so that tests can fix the clock)."""
    return datetime.now().astimezone()


class RunStore:
    """The runs under one folder.

    Args:
        root: the folder holding one sub-folder per run; created by the first ``create``.
    """

    def __init__(self, root: Path):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"RunStore({str(self.root)!r})"

    def create(self, experiment: Experiment, name: str | None = None) -> Run:
        """Start a run of ``experiment``: a new folder with the frozen experiment and ``run.json``.

        Args:
            experiment: frozen as it is now (later edits do not change the run's copy); its
                weights file, if it names one, is copied in.
            name: the run's name for people; the folder name when None.

        Raises:
            WorkbenchError: the weights file is missing, or the folder cannot be written.
        """
        weights = experiment.weights_path()
        if weights is not None and not weights.is_file():
            raise WorkbenchError(f"{weights}: the weights file of experiment {experiment.name!r} "
                                 "is missing")
        started = _now()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            folder = self._new_folder(started, experiment.name)
        except OSError as error:
            raise WorkbenchError(f"{self.root}: cannot create a run folder here "
                                 f"({error.strerror or error})") from None
        try:
            frozen = experiment.to_dict()
            digests = []
            if weights is not None:
                # The digest is taken as the file is copied, in the training's thread: the
                # Runs tab compares starting weights by it without reading a big file itself.
                write_atomic(folder / WEIGHTS_FILE,
                             lambda tmp: digests.append(sha256_of(weights, copy_to=tmp)))
                frozen["weights"] = WEIGHTS_FILE
            write_json_atomic(folder / EXPERIMENT_FILE, frozen)
            # run.json comes last: a folder with one is a complete run.
            write_run_file(folder, {
                "id": folder.name, "name": name or folder.name, "experiment": experiment.name,
                "status": RUNNING, "reason": None,
                "started": started.isoformat(timespec="seconds"), "finished": None,
                "epochs": None, "final_metrics": {}, "seed": _seed(experiment), "device": None,
                "pid": os.getpid(), "host": machine.hostname(),
                "process_started": machine.process_start(os.getpid()),
                "versions": machine.library_versions(), "weights_sha256": digests[0] if digests else None,
            })
        except (OSError, ValueError, TypeError) as error:
            shutil.rmtree(folder, ignore_errors=True)
            detail = getattr(error, "strerror", None) or error
            raise WorkbenchError(f"{folder}: cannot write the run ({detail})") from None
        return Run(folder)

    def runs(self) -> list[RunInfo]:
        """Every run, newest first; a folder with a missing or broken ``run.json`` is listed
        with status "unreadable" and the reason, never raised."""
        if not self.root.is_dir():
            return []
        folders = [child for child in self.root.iterdir()
                   if not child.name.startswith(".") and child.is_dir() and not child.is_symlink()]
        return [run_info(folder) for folder in sorted(folders, key=_age_key, reverse=True)]

    def open(self, run_id: str) -> Run:
        """The run in folder ``run_id``.

        Raises:
            WorkbenchError: no such run, or its ``run.json`` is unreadable or too new.
        """
        folder = self._folder(run_id)
        if not folder.is_dir():
            raise WorkbenchError(f"no run {run_id!r} in {self.root}")
        read_run_file(folder)
        return Run(folder)

    def delete(self, run_id: str, force: bool = False) -> None:
        """Remove a run folder and everything in it.

        Args:
            run_id: the folder name; anything that is not a folder directly inside the root
                is refused.
            force: delete even a run whose process is still training.

        Raises:
            WorkbenchError: not a run of this store, still running, or not removable.
        """
        folder = self._folder(run_id)
        if folder.is_symlink() or not folder.is_dir():
            raise WorkbenchError(f"no run {run_id!r} in {self.root}")
        if not force and run_info(folder).status == RUNNING:
            raise WorkbenchError(f"run {run_id} is still running: stop it before deleting it")
        # Renaming first is atomic, so lists never show a half-deleted run; hidden names are
        # skipped by runs().
        doomed = folder.with_name(f".deleting-{run_id}")
        try:
            os.replace(folder, doomed)
            shutil.rmtree(doomed)
        except OSError as error:
            raise WorkbenchError(f"{folder}: cannot be deleted ({error.strerror or error})") from None

    def groups(self) -> dict[str, list[RunInfo]]:
        """Runs by experiment name (the seeds of one experiment), newest group and run first.

        Unreadable runs belong to no group.
        """
        groups: dict[str, list[RunInfo]] = {}
        for info in self.runs():
            if info.experiment is not None:
                groups.setdefault(info.experiment, []).append(info)
        return groups

    # ------------------------------------------------------------ internals
    def _folder(self, run_id: str) -> Path:
        refused = WorkbenchError(f"{run_id!r} is not a run of {self.root}: a run id is the name "
                                 "of a folder inside it")
        if (not isinstance(run_id, str) or not run_id or run_id.startswith(".")
                or "/" in run_id or "\\" in run_id or Path(run_id).is_absolute()):
            raise refused
        folder = self.root / run_id
        if folder.resolve().parent != self.root.resolve():  # a link or drive trick leading out
            raise refused
        return folder

    def _new_folder(self, started: datetime, experiment_name: str) -> Path:
        prefix = f"{started:%Y%m%d-%H%M%S}-{slugify(experiment_name)}"
        for n in itertools.count(1):
            folder = self.root / f"{prefix}-{n}"
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            return folder
        raise AssertionError("unreachable")


def slugify(text: str) -> str:
    """A file-name-safe lower-case form of a name: "My Net / v2!" -> "my-net-v2"."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:_SLUG_LENGTH].rstrip("-") or "experiment"


def _seed(experiment: Experiment) -> int | None:
    seed = experiment.training.get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def _age_key(folder: Path) -> tuple[str, int]:
    # The folder name holds the start time and a counter; a renamed folder falls back to its
    # modification time.
    match = _RUN_ID.match(folder.name)
    if match:
        return match.group(1), int(match.group(2))
    try:
        return f"{datetime.fromtimestamp(folder.stat().st_mtime):%Y%m%d-%H%M%S}", 0
    except OSError:
        return "", 0
