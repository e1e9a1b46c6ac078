"""Loading and saving Keras model files (``.keras``, ``.h5``) safely and atomically.

Models load with Keras' ``safe_mode``. A file whose config holds a ``Lambda`` layer (arbitrary
Python code) is refused before Keras sees it, for ``.h5`` files too, where Keras' own safe mode
does not apply; the user may opt in explicitly when they trust the file.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

from workbench.backend import allow_unsafe_deserialization, clean_keras_message, keras_module
from workbench.errors import ModelFileError, UnsafeModelError
from workbench.fileio import write_atomic

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")


def _read_config(path: Path) -> Any:
    """The model's architecture JSON, read without building anything."""
    try:
        if path.suffix == ".keras":
            with zipfile.ZipFile(path) as archive:
                return json.loads(archive.read("config.json"))
        import h5py

        with h5py.File(path, "r") as handle:
            raw = handle.attrs.get("model_config")
            if raw is None:
                raise ModelFileError(
                    f"{path}: holds weights only, no model architecture (save the whole model)"
                )
            return json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise ModelFileError(
            f"{path}: not a readable {path.suffix} model file ({clean_keras_message(error)})"
        ) from None


def _class_names(config: Any) -> set[str]:
    found = set()
    if isinstance(config, dict):
        if isinstance(config.get("class_name"), str):
            found.add(config["class_name"])
        for value in config.values():
            found |= _class_names(value)
    elif isinstance(config, list):
        for value in config:
            found |= _class_names(value)
    return found


def load_model_file(path: str | os.PathLike, allow_unsafe: bool = False):
    """Load a ``.keras`` or ``.h5`` model without compiling it.

    Args:
        path: the model file.
        allow_unsafe: load even if it contains a ``Lambda`` layer (runs code from the file).

    Raises:
        ModelFileError: missing, unreadable or unsupported file, with the reason.
        UnsafeModelError: the file needs arbitrary code and ``allow_unsafe`` is False.
    """
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: no such file")
    if path.is_dir():
        raise ModelFileError(
            f"{path}: is a folder; open a .keras or .h5 file (SavedModel folders cannot be "
            "edited as graphs)"
        )
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise ModelFileError(f"{path}: not a model file: expected a .keras or .h5 file")
    config = _read_config(path)
    if "Lambda" in _class_names(config) and not allow_unsafe:
        raise UnsafeModelError(
            f"{path}: contains a Lambda layer, whose Python code would run on loading; "
            "open it only if you trust its source (--unsafe)"
        )
    keras = keras_module()
    if allow_unsafe:
        # The user trusts this file: layers rebuilt from its graph later (validation, build)
        # need the same permission, so it holds for the rest of the session.
        allow_unsafe_deserialization()
    from workbench.generative.layers import register

    register()  # the workbench's own layers (Sampling) must be known before Keras reads a file
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=not allow_unsafe)
    except Exception as error:
        message = clean_keras_message(error)
        if "Could not locate" in message or "Unknown layer" in message:
            message += " (import the module that registers this custom layer)"
        raise ModelFileError(f"{path}: cannot load the model: {message}") from None


def save_model_file(model, path: str | os.PathLike) -> None:
    """Save a Keras model as ``.keras`` or ``.h5``, atomically."""
    path = Path(path)
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise ModelFileError(f"{path}: choose a file name ending in .keras or .h5")
    if not path.parent.exists():
        raise ModelFileError(f"{path}: the folder {path.parent} does not exist")

    def _save(tmp: str) -> None:
        os.remove(tmp)  # Keras refuses to write over the placeholder on some versions
        model.save(tmp)

    try:
        write_atomic(path, _save)
    except PermissionError:
        raise ModelFileError(f"{path}: cannot write here (permission denied)") from None
    except OSError as error:
        raise ModelFileError(f"{path}: cannot write: {error.strerror or error}") from None
