"""Export: a model as ``.keras``, ``.h5``, SavedModel, TFLite/LiteRT, ONNX or readable Python.

``open_export_source(path)`` opens an experiment, a model file or a run folder;
``export_model(source, fmt, path, quantize=...)`` writes the export atomically, reloads it with
its own runtime and compares outputs (``ExportResult.verification``). ``script_source`` gives
the Python export's text for a graph. The ``workbench export`` command is in ``cli.py``.
"""

from __future__ import annotations

from workbench.export.exporter import ExportResult, export_model, sample_inputs
from workbench.export.formats import (
    FORMATS,
    ONNX_EXTRA,
    ONNX_PACKAGES,
    QUANTIZATIONS,
    MissingDependencyError,
    format_for_path,
)
from workbench.export.python_script import Script, script_source, weights_path_for
from workbench.export.source import ExportSource, open_export_source
from workbench.export.verify import Verification

__all__ = [
    "FORMATS",
    "ONNX_EXTRA",
    "ONNX_PACKAGES",
    "QUANTIZATIONS",
    "ExportResult",
    "ExportSource",
    "MissingDependencyError",
    "Script",
    "Verification",
    "export_model",
    "format_for_path",
    "open_export_source",
    "sample_inputs",
    "script_source",
    "weights_path_for",
]
