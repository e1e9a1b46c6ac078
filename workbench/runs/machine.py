"""This process and machine, as a run records them: identity, liveness, library versions.

A run folder outlives the process that writes it. To tell a run that is still training from
one whose process was killed, ``run.json`` records the writer's pid, host and (on Linux) the
process start time; a pid alone could have been reused by an unrelated process since.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
import sys


def hostname() -> str:
    """This machine's name, to tell whether a recorded pid is ours to check."""
    return socket.gethostname()


def process_start(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (Linux only; else None)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count fields after its end.
    fields = text[text.rfind(")") + 2:].split()
    try:
        return int(fields[19])  # field 22 of the whole line: starttime
    except (IndexError, ValueError):
        return None


def process_alive(pid: int, started: int | None = None) -> bool:
    """Whether process ``pid`` on this machine still runs (and is the one that started then).

    Args:
        pid: the process id.
        started: its start time from ``process_start``, when it was recorded; a different
            start time means the pid now belongs to another process.
    """
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return _alive_windows(pid)
    try:
        os.kill(pid, 0)  # signal 0 delivers nothing: it only checks that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    except OSError:
        return False
    if started is not None:
        now = process_start(pid)
        if now is not None and now != started:
            return False
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    # A killed child its parent has not reaped yet still answers signal 0, but it is dead.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return False
    state = text[text.rfind(")") + 2:].split()[:1]
    return state == ["Z"]


def _alive_windows(pid: int) -> bool:
    # os.kill(pid, 0) would terminate the process on Windows; ask the kernel instead.
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return kernel32.GetLastError() == 5  # access denied: it exists
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def library_versions() -> dict[str, str]:
    """Versions that decide how a run behaves: python, keras, tensorflow, numpy (and backend).

    Read from the installed packages' metadata when Keras is not imported yet, so creating or
    listing runs never costs TensorFlow's seconds-long import.
    """
    versions = {"python": platform.python_version()}
    for package in ("keras", "tensorflow", "numpy"):
        module = sys.modules.get(package)
        version = getattr(module, "__version__", None) if module is not None else None
        if version is None:
            try:
                version = importlib.metadata.version(package)
            except importlib.metadata.PackageNotFoundError:
                continue
        versions[package] = str(version)
    keras = sys.modules.get("keras")
    backend = getattr(getattr(keras, "backend", None), "backend", None)
    if callable(backend):
        versions["backend"] = backend()
    return versions
