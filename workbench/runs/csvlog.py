"""CSV tables that a run appends to as it trains (``history.csv``, ``batches.csv``).

Columns are the lead columns (``epoch``, or ``step, epoch``), then the metric names sorted,
then ``lr``. Rows are appended in place, so a killed process leaves every row it had written;
the rare metric that appears only later (a callback adding one mid-run) makes the table be
rewritten atomically with the wider header, older rows left empty in the new column.

Readers skip a last line without its newline: that is a row the writer was killed in the
middle of, and it may hold a cut-off number.

A durable table is forced to the disk (``fsync``) after each write in a background thread:
the row is in the file when ``append`` returns (a killed process keeps it), and on the disk
moments later (a power cut keeps it). An fsync takes from a fraction of a millisecond to tens
of milliseconds (a busy disk, a network folder), and the training thread, which appends a
row at every epoch end, must not wait for it.
"""

from __future__ import annotations

import csv
import io
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from pathlib import Path

from workbench.fileio import write_text_atomic

LR = "lr"


class _Syncer:
    """A daemon thread that fsyncs the files asked for, in order (daemon: a program that
    ends does not wait for it; the rows are in their files already)."""

    def __init__(self):
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, path: Path) -> Future:
        future: Future = Future()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="csvlog-fsync", daemon=True)
                self._thread.start()
        self._requests.put((future, path))
        return future

    def _work(self) -> None:
        while True:
            future, path = self._requests.get()
            future.set_running_or_notify_cancel()
            try:
                _fsync(path)
            except OSError as error:
                future.set_exception(error)
            else:
                future.set_result(None)


_syncer = _Syncer()


class CsvLog:
    """One growing CSV table, buffered in memory up to a number of rows or seconds.

    Args:
        path: the CSV file (created with its header on the first flush).
        lead: the first columns, whole numbers (``("epoch",)``).
        durable: fsync after every flush (in the background; ``sync`` waits for it), so that
            not even a power cut loses a flushed row.
        flush_rows: flush when this many rows wait (1: every row at once).
        flush_seconds: flush when the oldest waiting row is this old (checked on append).
        clock: seconds from an arbitrary start; tests pass a fake one.
    """

    def __init__(self, path: Path, lead: tuple[str, ...], durable: bool = True, flush_rows: int = 1,
                 flush_seconds: float | None = None, clock: Callable[[], float] = time.monotonic):
        self.path = Path(path)
        self.lead = lead
        self.durable = durable
        self.flush_rows = max(1, flush_rows)
        self.flush_seconds = flush_seconds
        self._clock = clock
        self._pending: list[dict[str, float | int | None]] = []
        self._pending_since = 0.0
        self._columns: list[str] | None = None  # the file's header, once known
        self._sync: Future | None = None  # the newest background fsync asked for
        self._wrote = False  # whether this log has appended to the file yet

    def append(self, row: Mapping[str, float | int | None]) -> None:
        """Add a row (lead columns, metrics and ``lr`` by name); written when the buffer is due."""
        if not self._pending:
            self._pending_since = self._clock()
        self._pending.append(dict(row))
        if len(self._pending) >= self.flush_rows or (
                self.flush_seconds is not None
                and self._clock() - self._pending_since >= self.flush_seconds):
            self.flush()

    def flush(self) -> None:
        """Write the waiting rows to the file."""
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        names = {key for row in rows for key in row} - set(self.lead) - {LR}
        columns = self._file_columns()
        if columns is None:
            self._columns = [*self.lead, *sorted(names), LR]
            self._write_append(self._columns, rows, header=True)
        elif names - set(columns):
            metrics = sorted((set(columns) - set(self.lead) - {LR}) | names)
            self._rewrite([*self.lead, *metrics, LR], rows)
        else:
            self._write_append(columns, rows, header=False)

    def sync(self) -> None:
        """Wait until every flushed row is on the disk.

        Raises:
            OSError: the disk refused (the rows are in the file, but may not survive a crash).
        """
        pending, self._sync = self._sync, None
        if pending is not None:
            pending.result()

    # ------------------------------------------------------------ internals
    def _request_sync(self) -> None:
        if self._sync is not None and not self._sync.running() and not self._sync.done():
            return  # an fsync still waiting to start covers this write too
        if self._sync is not None and self._sync.done() and self._sync.exception() is not None:
            return  # failed before: ``sync`` reports it; the rows are in the file all the same
        self._sync = _syncer.submit(self.path)

    def _file_columns(self) -> list[str] | None:
        if self._columns is None and self.path.exists():
            header, _ = _read_rows(self.path)
            self._columns = header or None
        return self._columns

    def _write_append(self, columns: list[str], rows: list[dict], header: bool) -> None:
        text = _format(columns, rows, header)
        # A row cut short by an earlier kill would swallow the next one: start a fresh line.
        # Once this log has written, the file ends with its newline: no need to look again.
        if not header and not self._wrote and self.path.exists() and not _ends_with_newline(self.path):
            text = "\n" + text
        with open(self.path, "a", encoding="utf-8", newline="") as handle:
            handle.write(text)
        self._wrote = True
        if self.durable:
            self._request_sync()

    def _rewrite(self, columns: list[str], rows: list[dict]) -> None:
        header, old = _read_rows(self.path)
        kept = [dict(zip(header, values)) for values in old]
        write_text_atomic(self.path, _format(columns, kept, header=True) + _format(columns, rows, False))
        self._columns = columns


def read_csv_log(path: Path, lead: Iterable[str] = ()) -> dict[str, list[float]]:
    """Read a table back as columns; empty cells are NaN, lead columns whole numbers.

    Works on a file still being written or left by a killed process; a missing file reads as
    an empty table.
    """
    if not Path(path).exists():
        return {}
    header, rows = _read_rows(Path(path))
    lead = set(lead)
    columns: dict[str, list[float]] = {name: [] for name in header}
    for values in rows:
        for name, text in zip(header, values):
            columns[name].append(_parse(text, whole=name in lead))
    return columns


def count_rows(path: Path) -> int:
    """The number of complete data rows, without parsing them."""
    if not Path(path).exists():
        return 0
    return len(_read_rows(Path(path))[1])


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return [], []
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]  # drop the row the writer was killed in
    lines = list(csv.reader(io.StringIO(text)))
    if not lines:
        return [], []
    header = lines[0]
    return header, [row for row in lines[1:] if len(row) == len(header)]


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_WRONLY)  # write access: Windows will not flush otherwise
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() == 0:
            return True
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def _format(columns: list[str], rows: list[dict], header: bool) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(name)) for name in columns])
    return buffer.getvalue()


def _cell(value) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):  # a cell carried over from the file when rewriting
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    try:
        return repr(float(value))  # shortest text that reads back to the same float
    except (TypeError, ValueError):
        return ""


def _parse(text: str, whole: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        return math.nan
    if whole and value.is_integer():
        return int(value)
    return value
