"""Writing a Keras model in each export format, atomically.

Files go through a temporary sibling and a rename (``workbench.fileio.write_atomic``; ``.keras``
and ``.h5`` through ``modelio.save_model_file``), so a crash or a full disk never leaves half a
file where a good one was. Keras picks formats and
checks names by the file name (``.weights.h5`` must end just so), so where the temporary name
matters the file is written under its real name in a temporary sibling folder and then moved.
A SavedModel is a folder: it is written beside the target and swapped in.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from workbench.backend import clean_keras_message
from workbench.errors import WorkbenchError

FORMATS = ("keras", "h5", "savedmodel", "tflite", "onnx", "python")
QUANTIZATIONS = ("float32", "float16", "int8")
# The file name endings each format writes (a SavedModel is a folder: any name).
SUFFIXES: dict[str, tuple[str, ...]] = {
    "keras": (".keras",), "h5": (".h5", ".hdf5"), "savedmodel": (), "tflite": (".tflite",),
    "onnx": (".onnx",), "python": (".py",),
}
ONNX_EXTRA = "onnx"
ONNX_PACKAGES = ("tf2onnx", "onnx")
ONNX_RUNTIME = "onnxruntime"
CALIBRATION_SAMPLES = 200  # representative inputs for int8: enough for stable ranges, fast


class MissingDependencyError(WorkbenchError):
    """An optional package that a format needs is not installed."""


def format_for_path(path: str | Path) -> str | None:
    """The format a file name asks for by its ending (a name without one: a SavedModel)."""
    suffix = Path(path).suffix.lower()
    if not suffix:
        return "savedmodel"
    return next((fmt for fmt, endings in SUFFIXES.items() if suffix in endings), None)


def check_target(fmt: str, path: str | Path) -> Path:
    """Check that ``path`` suits ``fmt`` and can be written, before any work is done.

    Raises:
        WorkbenchError: an unknown format, a wrong file ending, a missing or unwritable folder,
            or a SavedModel target that is a file or a folder holding something else.
    """
    if fmt not in FORMATS:
        raise WorkbenchError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    path = Path(path)
    endings = SUFFIXES[fmt]
    if endings and path.suffix.lower() not in endings:
        raise WorkbenchError(f"{path}: a {fmt} export is a file ending in {' or '.join(endings)}: "
                             f"name it {path.stem or 'model'}{endings[0]}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise WorkbenchError(f"{path}: the folder {parent} does not exist: create it first, or "
                             "choose another place")
    if not parent.is_dir():
        raise WorkbenchError(f"{path}: {parent} is a file, not a folder: choose another place")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise WorkbenchError(f"{path}: the folder {parent} is not writable (permission denied): "
                             "choose another place")
    if fmt == "savedmodel" and path.exists():
        if not path.is_dir():
            raise WorkbenchError(f"{path}: is a file; a SavedModel is a folder: choose a new name")
        if any(path.iterdir()) and not (path / "saved_model.pb").exists():
            raise WorkbenchError(f"{path}: is a folder holding other files, which a SavedModel "
                                 "would replace: choose a new folder name")
    elif path.is_dir():
        raise WorkbenchError(f"{path}: is a folder: give a file name")
    return path


def require(packages: tuple[str, ...], what: str, extra: str) -> None:
    """Import ``packages`` or raise ``MissingDependencyError`` naming the extra to install."""
    missing = []
    for name in packages:
        try:
            with quiet():
                importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise MissingDependencyError(
            f"{what} needs the optional package{'s' if len(missing) > 1 else ''} "
            f"{' and '.join(missing)}: install the {extra} extra with "
            f"pip install \"keras-workbench[{extra}]\" (or pip install {' '.join(missing)})")


def has_package(name: str) -> bool:
    """Whether an optional package can be imported."""
    try:
        with quiet():
            importlib.import_module(name)
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def quiet():
    """Keras and the converters print progress and deprecation notes: keep the CLI's output
    to our own lines (WORKBENCH_DEBUG=1 shows them)."""
    from workbench.backend import quiet_native_stderr  # the converters log from C++ too

    if os.environ.get("WORKBENCH_DEBUG"):
        yield
        return
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), quiet_native_stderr():
        warnings.simplefilter("ignore")
        yield


# ---------------------------------------------------------------------- writers
def write_model(model, fmt: str, path: Path, quantize: str = "float32",
                calibration: list[np.ndarray] | None = None) -> list[Path]:
    """Write ``model`` as ``fmt`` (not "python", see ``python_code``); return the paths written.

    Raises:
        WorkbenchError: the file cannot be written, a dependency is missing, or the converter
            refuses the model (with its reason).
    """
    if fmt == "keras" or fmt == "h5":
        from workbench.modelio import save_model_file  # atomic, with its own messages

        _run_writer(path, lambda target: save_model_file(model, target), str(path))
    elif fmt == "savedmodel":
        _save_folder(path, lambda tmp: model.export(tmp, format="tf_saved_model", verbose=False))
    elif fmt == "tflite":
        options = tflite_options(quantize, calibration)
        _save_file(path, lambda tmp: model.export(tmp, format="litert", verbose=False, **options))
    elif fmt == "onnx":
        require(ONNX_PACKAGES, "ONNX export", ONNX_EXTRA)
        _ensure_called(model)
        _save_file(path, lambda tmp: model.export(tmp, format="onnx", verbose=False))
    else:
        raise WorkbenchError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    return [path]


def _ensure_called(model) -> None:
    """Keras' ONNX exporter refuses a model that was never called (one just loaded from a
    file): run it once on zeros."""
    if getattr(model, "_called", True):
        return
    inputs = [np.zeros((1,) + tuple(1 if d is None else int(d) for d in t.shape[1:]), dtype=str(t.dtype))
              for t in model.inputs]
    with quiet():
        model(inputs[0] if len(inputs) == 1 else inputs, training=False)


def write_weights(model, path: Path) -> None:
    """Save the model's weights as ``NAME.weights.h5`` (Keras' own weights format)."""
    _save_file(path, model.save_weights, keep_name=True)


def tflite_options(quantize: str, calibration: list[np.ndarray] | None) -> dict:
    """TFLite converter settings for a quantization.

    float16 stores the weights as float16 (computed in float32 where the hardware lacks float16);
    int8 quantizes weights and activations from a representative data set, with float inputs
    and outputs so the file drops in where the float model was.
    """
    import tensorflow as tf

    if quantize == "float32":
        return {}
    if quantize == "float16":
        return {"optimizations": [tf.lite.Optimize.DEFAULT],
                "target_spec": {"supported_types": [tf.float16]}}
    if quantize != "int8":
        raise WorkbenchError(f"unknown quantization {quantize!r}: choose one of {', '.join(QUANTIZATIONS)}")
    if not calibration or any(len(x) == 0 for x in calibration):
        raise WorkbenchError(
            "int8 quantization needs sample inputs to measure value ranges: export a run or an "
            "experiment (its data are used), or give sample inputs from the command line: "
            "workbench export ... --calibration FILE.npy")
    count = min(len(calibration[0]), CALIBRATION_SAMPLES)
    arrays = [np.asarray(x[:count], dtype=np.float32) for x in calibration]

    def representative():
        for i in range(count):
            yield [x[i:i + 1] for x in arrays]

    return {"optimizations": [tf.lite.Optimize.DEFAULT], "representative_dataset": representative,
            "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                              tf.lite.OpsSet.TFLITE_BUILTINS]}}


def _save_file(path: Path, write: Callable[[str], None], keep_name: bool = False) -> None:
    """Write a file through ``write_atomic``.

    Args:
        keep_name: ``write`` needs the real file name (Keras checks ``.weights.h5``), so it
            writes in a temporary folder and the file is moved onto the temporary sibling.
    """
    from workbench.fileio import write_atomic

    def _write(tmp: str) -> None:
        os.remove(tmp)  # some Keras writers refuse to overwrite the empty placeholder
        if not keep_name:
            _run_writer(path, write, tmp)
            return
        with tempfile.TemporaryDirectory(prefix=f".{path.name}.tmp-", dir=Path(tmp).parent) as folder:
            named = os.path.join(folder, path.name)
            _run_writer(path, write, named)
            os.replace(named, tmp)

    try:
        write_atomic(path, _write)
    except OSError as error:
        raise _write_error(path, error) from None


def _save_folder(path: Path, write: Callable[[str], None]) -> None:
    """Write a folder beside ``path`` and swap it in (the old one is removed only after)."""
    parent = path.parent if str(path.parent) else Path(".")
    try:
        folder = tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=parent)
    except OSError as error:
        raise _write_error(path, error) from None
    old = None
    try:
        os.rmdir(folder)  # the exporter creates the folder itself
        _run_writer(path, write, folder)
        if path.exists():
            old = tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=parent)
            os.rmdir(old)
            os.replace(path, old)
        os.replace(folder, path)
    except OSError as error:
        if old is not None and not path.exists():
            os.replace(old, path)  # put the previous export back
            old = None
        raise _write_error(path, error) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _run_writer(path: Path, write: Callable[[str], None], tmp: str) -> None:
    try:
        with quiet():
            write(tmp)
    except (WorkbenchError, OSError):
        raise
    except Exception as error:  # a converter refusing the model: say which and why
        raise WorkbenchError(f"{path}: the model cannot be written in this format: "
                             f"{clean_keras_message(error)}") from None


def _write_error(path: Path, error: OSError) -> WorkbenchError:
    if isinstance(error, PermissionError):
        return WorkbenchError(f"{path}: cannot write here (permission denied): choose another place")
    reason = error.strerror or str(error)
    return WorkbenchError(f"{path}: cannot write: {reason}; check the disk and the folder, or "
                          "choose another place")
