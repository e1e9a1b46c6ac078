"""``export_model``: write a model in one format, read it back, compare, report.

The steps are the same for every format: check the target before any work (name, folder,
permissions), write atomically, reload the export with its own runtime and compare its
outputs with the model's on sample inputs (the experiment's validation data when there are
any, else seeded random inputs). Problems a user should know about (untrained weights, a
comparison outside the tolerance, a runtime that is not installed) are warnings on the
result; bad input is a ``WorkbenchError`` naming the path and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workbench.errors import WorkbenchError
from workbench.export.formats import (
    FORMATS,
    ONNX_EXTRA,
    ONNX_PACKAGES,
    QUANTIZATIONS,
    check_target,
    require,
    write_model,
    write_weights,
)
from workbench.export.source import ExportSource
from workbench.export.verify import Verification, predict, verify_export
from workbench.tasks import NullProgress, Progress

SAMPLES = 32  # inputs compared by the verification


@dataclass
class ExportResult:
    """What an export wrote and how it compares with the model.

    Attributes:
        format: one of ``FORMATS``.
        path: the export (a file, or the SavedModel folder).
        files: every path written (a script and its weights file for "python").
        quantize: the TFLite quantization, None for other formats.
        verification: the comparison, None when verification was turned off.
        warnings: what the user should know (untrained weights, tolerance exceeded, ...).
        notes: smaller facts (where the samples came from, fallbacks in the script).
        inputs_from: "data" (the experiment's) or "random".
    """

    format: str
    path: Path
    files: list[Path] = field(default_factory=list)
    quantize: str | None = None
    verification: Verification | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    inputs_from: str | None = None

    def to_dict(self) -> dict:
        return {"format": self.format, "path": str(self.path), "files": [str(p) for p in self.files],
                "quantize": self.quantize,
                "verification": self.verification.to_dict() if self.verification else None,
                "warnings": list(self.warnings), "notes": list(self.notes),
                "inputs_from": self.inputs_from}


def export_model(source: ExportSource | object, fmt: str, path: str | Path, *,
                 quantize: str | None = None, verify: bool = True, samples: int = SAMPLES,
                 calibration: list[np.ndarray] | None = None, allow_unsafe: bool = False,
                 progress: Progress | None = None) -> ExportResult:
    """Export a model and verify the export.

    Args:
        source: an ``ExportSource`` (see ``open_export_source``), or a Keras model.
        fmt: one of ``FORMATS``: keras, h5, savedmodel, tflite, onnx, python.
        path: the file (or SavedModel folder) to write; a Python export writes ``NAME.py``
            and ``NAME.weights.h5`` beside it.
        quantize: TFLite only: float32 (default), float16 or int8.
        verify: reload the export and compare outputs.
        samples: how many inputs to compare.
        calibration: int8 only: representative inputs, one array per model input (default:
            the experiment's training data).
        allow_unsafe: reload models with ``Lambda`` layers for the verification.
        progress: told about each step.

    Raises:
        WorkbenchError: a bad format, quantization or path, a missing optional package, int8
            without data to calibrate on, or a writer or runtime refusing the model.
    """
    if not isinstance(source, ExportSource):
        source = ExportSource.from_model(source)
    progress = progress or NullProgress()
    path = check_target(fmt, path)
    quantize = _check_quantize(fmt, quantize)
    if fmt == "onnx":
        require(ONNX_PACKAGES, "ONNX export", ONNX_EXTRA)
    result = ExportResult(fmt, path, quantize=quantize, warnings=list(source.warnings))
    steps = 3 if verify else 2
    progress.step(0, steps, "preparing the export")
    model = source.model
    if quantize == "int8":
        calibration = _calibration(source, calibration, progress)
    inputs = None
    if verify:
        inputs, result.inputs_from = sample_inputs(source, samples, progress, result.notes)
    progress.step(1, steps, f"writing {path.name}")
    if fmt == "python":
        result.files, notes = _write_python(source, path)
        result.notes += notes
    else:
        result.files = write_model(model, fmt, path, quantize or "float32", calibration)
    if verify:
        progress.step(2, steps, f"checking {path.name} with its runtime")
        reference = predict(model, inputs)
        names = [str(t.name) for t in model.inputs]  # the Input layers' names
        result.verification = verify_export(fmt, path, reference, inputs, names, quantize or "float32",
                                            allow_unsafe)
        if result.verification.runtime is None:
            result.warnings.append(f"{path.name} was written but not verified: {result.verification.note}")
        elif not result.verification.ok:
            result.warnings.append(f"{path.name} differs from the model more than expected: "
                                   + result.verification.describe())
    progress.step(steps, steps, f"wrote {path}")
    return result


def _check_quantize(fmt: str, quantize: str | None) -> str | None:
    if quantize is None:
        return "float32" if fmt == "tflite" else None
    if quantize not in QUANTIZATIONS:
        raise WorkbenchError(f"unknown quantization {quantize!r}: choose one of {', '.join(QUANTIZATIONS)}")
    if fmt != "tflite":
        if quantize == "float32":
            return None
        raise WorkbenchError(f"quantization ({quantize}) applies to TFLite exports only: use "
                             "--format tflite, or leave --quantize out")
    return quantize


def sample_inputs(source: ExportSource, count: int, progress: Progress | None = None,
                  notes: list[str] | None = None) -> tuple[list[np.ndarray], str]:
    """Inputs to compare on: the experiment's validation data when they fit the model, else
    seeded random values (uniform in [0, 1) for floats, small whole numbers for integer
    inputs, which suits token ids and embeddings).

    Args:
        notes: told why random inputs were used.

    Returns:
        One array per model input, and "data" or "random".
    """
    count = max(1, int(count))
    notes = notes if notes is not None else []
    try:
        x = source.data_inputs("val", progress)
    except WorkbenchError as error:  # the export itself does not need the data
        x = None
        notes.append(f"the experiment's data could not be loaded ({error}): compared on seeded "
                     "random inputs")
    else:
        if x is None:
            notes.append("compared on seeded random inputs (no data that fit the model came with it)")
    if x is not None:
        return [x[:count].astype(np.float32)], "data"
    rng = np.random.default_rng(0)
    arrays = []
    for tensor in source.model.inputs:
        shape = (count,) + tuple(1 if d is None else int(d) for d in tensor.shape[1:])
        dtype = str(tensor.dtype)
        if "int" in dtype:
            arrays.append(rng.integers(0, 10, size=shape).astype(dtype))
        else:
            arrays.append(rng.random(shape).astype(np.float32))
    return arrays, "random"


def _calibration(source: ExportSource, given: list[np.ndarray] | None, progress: Progress,
                 ) -> list[np.ndarray]:
    """Representative inputs for int8: given ones, else the experiment's training data."""
    model = source.model
    if given is not None:
        given = [np.asarray(x, dtype=np.float32) for x in given]
        if len(given) != len(model.inputs):
            raise WorkbenchError(f"int8 calibration needs one array per model input: the model has "
                                 f"{len(model.inputs)}, {len(given)} were given")
        for x, tensor in zip(given, model.inputs):
            expected = tuple(tensor.shape[1:])
            if x.ndim != len(expected) + 1 or any(e is not None and e != d
                                                  for e, d in zip(expected, x.shape[1:])):
                raise WorkbenchError(f"int8 calibration inputs have shape {x.shape[1:]} per sample but "
                                     f"the model expects {expected}")
        return given
    x = source.data_inputs("train", progress)
    if x is None:
        why = ("the model came without an experiment" if source.experiment is None else
               "the experiment's data do not fit the model's inputs")
        raise WorkbenchError(
            f"int8 quantization needs sample inputs to measure value ranges, and {why}: export a "
            "run or an experiment (its data are used), or give sample inputs from the command line: "
            "workbench export ... --calibration FILE.npy")
    order = np.random.default_rng(0).permutation(len(x))
    return [x[order]]


def _write_python(source: ExportSource, path: Path) -> tuple[list[Path], list[str]]:
    """Write the script and the weights beside it; return the paths and the script's notes."""
    from workbench.export.python_script import script_source, weights_path_for
    from workbench.fileio import write_text_atomic
    from workbench.graph.convert import build_model, collect_weights

    built_from_graph = source.graph is not None  # an experiment: the model was built from it
    graph = source.model_graph()
    # The script rebuilds the graph, so its weights come from a model built the same way (a
    # nested Sequential, say, becomes functional: the weights file must match the script).
    script_model = (source.model if built_from_graph
                    else build_model(graph, collect_weights(source.model)).model)
    script = script_source(graph, source.experiment, script_name=path.name,
                           origin=str(source.path) if source.path else None)
    weights = weights_path_for(path)
    write_weights(script_model, weights)
    try:
        write_text_atomic(path, script.text)
    except OSError as error:
        raise WorkbenchError(f"{path}: cannot write: {error.strerror or error}; "
                             "choose another place") from None
    return [path, weights], script.notes


__all__ = ["FORMATS", "QUANTIZATIONS", "ExportResult", "export_model", "sample_inputs"]
