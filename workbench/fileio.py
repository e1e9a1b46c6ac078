"""Atomic file writes: a crash mid-save never leaves a half-written file behind."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_atomic(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Write a file through a temporary sibling, then rename it over the target.

    Args:
        path: the destination.
        write: called with the temporary file's path; it must write the whole content there.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    # The temporary name keeps the real suffix: Keras picks the format from it.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.tmp-", suffix=path.suffix, dir=directory)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp makes the file private (0600); a saved file gets the usual permissions.
        os.chmod(tmp, _default_mode(path))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _default_mode(path: Path) -> int:
    """The mode an ordinary new file gets (0666 less the umask), or the existing file's."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def sha256_of(path: str | os.PathLike, copy_to: str | os.PathLike | None = None) -> str:
    """The SHA-256 of a file's bytes, read a megabyte at a time (weights files can be big);
    with ``copy_to``, the bytes are written there too, in the same pass.

    Raises:
        OSError: the file cannot be read (or the copy written).
    """
    hasher = hashlib.sha256()
    with open(path, "rb") as file, (open(copy_to, "wb") if copy_to else contextlib.nullcontext()) as copy:
        for block in iter(lambda: file.read(1 << 20), b""):
            hasher.update(block)
            if copy is not None:
                copy.write(block)
    return hasher.hexdigest()


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""

    def _write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    write_atomic(path, _write)


def dumps_readable(data: Any, width: int = 100, indent: int = 0) -> str:
    """JSON indented by two spaces, with every object or list that fits on a line kept on
    one line: a node reads as one line instead of twenty."""
    compact = json.dumps(data, allow_nan=False)
    if indent + len(compact) <= width or not isinstance(data, (dict, list)) or not data:
        return compact
    pad = " " * (indent + 2)
    if isinstance(data, dict):
        items = [f"{pad}{json.dumps(k)}: {dumps_readable(v, width, indent + 2).lstrip()}"
                 for k, v in data.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [pad + dumps_readable(v, width, indent + 2).lstrip() for v in data]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as readable JSON to ``path`` atomically."""
    write_text_atomic(path, dumps_readable(data) + "\n")
