"""The ``workbench export`` command.

``add_commands(add)`` registers it on the main parser (``add(name, handler, help)`` returns a
sub-parser that already has ``--json``). The handler returns an exit code and raises
``WorkbenchError`` for bad input. The format comes from ``--format`` or from the output's
name: ``.keras``, ``.h5``, ``.tflite``, ``.onnx``, ``.py``, or a folder name for a SavedModel.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from workbench.errors import WorkbenchError
from workbench.export.formats import FORMATS, QUANTIZATIONS

UNSAFE_HELP = "allow Lambda layers (runs Python code stored in the file)"


def add_commands(add) -> None:
    """Register ``export``."""
    sub = add("export", cmd_export,
              "write a model as .keras, .h5, SavedModel, TFLite, ONNX or a Python script, and check "
              "the export against the model")
    sub.add_argument("model", help="an experiment (.json, with its weights), a model file "
                                   "(.keras, .h5) or a run folder")
    sub.add_argument("--format", choices=FORMATS,
                     help="the export format (default: from the output's name; a name without "
                          "an extension is a SavedModel folder)")
    sub.add_argument("--quantize", choices=QUANTIZATIONS,
                     help="TFLite: float32 (default), float16 weights, or int8 (calibrated on the "
                          "experiment's data or --calibration)")
    sub.add_argument("--calibration", metavar="FILE",
                     help="int8: representative inputs, an .npy array (or an .npz with one array "
                          "per model input, in order)")
    sub.add_argument("--checkpoint", choices=["best", "final"], default="best",
                     help="which model of a run (default best, else final)")
    sub.add_argument("--samples", type=int, default=32,
                     help="how many inputs the export is compared on (default 32)")
    sub.add_argument("--no-verify", dest="verify", action="store_false",
                     help="write only: do not reload the export and compare outputs")
    sub.add_argument("--unsafe", action="store_true", help=UNSAFE_HELP)
    sub.add_argument("-o", "--output", dest="out", required=True,
                     help="the file (or SavedModel folder) to write; python also writes "
                          "NAME.weights.h5 beside NAME.py")


def cmd_export(args: argparse.Namespace) -> int:
    from workbench.export import export_model, format_for_path, open_export_source
    from workbench.tasks import ConsoleProgress

    fmt = args.format or format_for_path(args.out)
    if fmt is None:
        raise WorkbenchError(f"{args.out}: the format cannot be told from the name: give --format "
                             f"({', '.join(FORMATS)}) or end the name in .keras, .h5, .tflite, "
                             ".onnx or .py")
    if args.samples < 1:
        raise WorkbenchError(f"--samples must be at least 1 (got {args.samples})")
    if args.calibration and args.quantize != "int8":
        raise WorkbenchError("--calibration is for int8 quantization: add --quantize int8")
    calibration = _read_calibration(args.calibration) if args.calibration else None
    source = open_export_source(args.model, args.unsafe, args.checkpoint)
    progress = ConsoleProgress()
    try:
        result = export_model(source, fmt, args.out, quantize=args.quantize, verify=args.verify,
                              samples=args.samples, calibration=calibration,
                              allow_unsafe=args.unsafe, progress=progress)
    finally:
        progress.close()
    text = [f"exported {source.label} as {fmt}"
            + (f" ({result.quantize})" if result.quantize else "") + f": {result.path}"]
    text += [f"also wrote {path}" for path in result.files[1:]]
    if result.verification is not None:
        text.append(result.verification.describe())
    text += [f"warning: {warning}" for warning in result.warnings]
    text += [f"note: {note}" for note in result.notes]
    print(json.dumps(result.to_dict(), indent=2) if getattr(args, "json", False) else "\n".join(text))
    return 0


def _read_calibration(path: str) -> list[np.ndarray]:
    """Arrays from an .npy file (one input) or an .npz archive (one array per input)."""
    file = Path(path)
    if not file.is_file():
        raise WorkbenchError(f"{file}: no such file (the --calibration inputs)")
    if file.suffix.lower() not in (".npy", ".npz"):
        raise WorkbenchError(f"{file}: --calibration takes an .npy or .npz file")
    try:
        loaded = np.load(file, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise WorkbenchError(f"{file}: is not a readable NumPy file ({error})") from None
    if isinstance(loaded, np.ndarray):
        arrays = [loaded]
    else:
        with loaded:
            arrays = [loaded[name] for name in loaded.files]
    if not arrays or any(a.dtype.kind not in "biuf" or a.ndim < 2 or len(a) == 0 for a in arrays):
        raise WorkbenchError(f"{file}: --calibration needs arrays of numbers with one sample per row")
    return arrays
