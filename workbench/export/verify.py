"""Reload an export with its own runtime and compare its outputs with the model's.

Each format is read back the way its users will read it: Keras for ``.keras``/``.h5``,
``tf.saved_model.load`` for a SavedModel, the TFLite (LiteRT) interpreter, onnxruntime when it
is installed, and the exported script run in a subprocess (``build_model()`` plus the weights
beside it). The result is the largest absolute difference of any output value and, for
classifier outputs, how often the top-1 class agrees (what matters after int8 quantization).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.errors import WorkbenchError
from workbench.export.formats import ONNX_RUNTIME, has_package, quiet

SCRIPT_TIMEOUT = 300  # seconds for the exported script's subprocess (TensorFlow starts slowly)
# Largest difference accepted, relative to the outputs' scale, by how the export stores numbers.
TOLERANCE = {"float32": 1e-4, "float16": 2e-2, "int8": 0.25}
INT8_AGREEMENT = 0.9


@dataclass
class Verification:
    """How an export compares with the model it came from.

    Attributes:
        runtime: what read the export back ("keras", "tf.saved_model", "tflite interpreter",
            "onnxruntime", "python subprocess"); None when it could not be checked.
        samples: how many inputs were compared.
        max_abs_diff: the largest absolute difference of any output value.
        top1_agreement: the share of samples whose top class agrees (classifier outputs:
            last axis longer than 1), the lowest over the outputs; None for other outputs.
        ok: within the tolerance for the format and quantization.
        note: why it was not checked, or what the numbers mean.
    """

    runtime: str | None
    samples: int = 0
    max_abs_diff: float | None = None
    top1_agreement: float | None = None
    ok: bool = True
    note: str = ""

    def to_dict(self) -> dict:
        return {"runtime": self.runtime, "samples": self.samples, "max_abs_diff": self.max_abs_diff,
                "top1_agreement": self.top1_agreement, "ok": self.ok, "note": self.note}

    def describe(self) -> str:
        """One line for people."""
        if self.runtime is None:
            return f"not verified: {self.note}"
        text = f"verified with {self.runtime} on {self.samples} samples: max abs diff {self.max_abs_diff:.3g}"
        if self.top1_agreement is not None:
            text += f", top-1 agreement {100 * self.top1_agreement:.1f}%"
        return text + ("" if self.ok else f" (outside the tolerance: {self.note})")


def predict(model, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The Keras model's outputs as a list of arrays (inference mode)."""
    with quiet():
        outputs = model.predict(inputs[0] if len(inputs) == 1 else inputs, verbose=0,
                                batch_size=max(len(inputs[0]), 1))
    return [np.asarray(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]


def verify_export(fmt: str, path: Path, reference: list[np.ndarray], inputs: list[np.ndarray],
                  input_names: list[str], quantize: str = "float32",
                  allow_unsafe: bool = False) -> Verification:
    """Run the export on ``inputs`` and compare with ``reference`` (the model's outputs).

    Raises:
        WorkbenchError: the export cannot be read back or run (with the runtime's reason).
    """
    if fmt == "onnx" and not has_package(ONNX_RUNTIME):
        return Verification(None, note="onnxruntime is not installed (pip install onnxruntime, "
                                       "or the keras-workbench[onnx] extra)")
    runners = {"keras": _run_keras, "h5": _run_keras, "savedmodel": _run_savedmodel,
               "tflite": _run_tflite, "onnx": _run_onnx, "python": _run_script}
    runtime = {"keras": "keras", "h5": "keras", "savedmodel": "tf.saved_model",
               "tflite": "tflite interpreter", "onnx": "onnxruntime",
               "python": "python subprocess"}[fmt]
    try:
        with quiet():
            outputs = runners[fmt](path, inputs, input_names, allow_unsafe)
    except WorkbenchError:
        raise
    except Exception as error:
        from workbench.backend import clean_keras_message

        raise WorkbenchError(f"{path}: was written but {runtime} cannot run it: "
                             f"{clean_keras_message(error)}") from None
    return compare(reference, outputs, runtime, quantize)


def compare(reference: list[np.ndarray], outputs: list[np.ndarray], runtime: str,
            quantize: str = "float32") -> Verification:
    """Compare outputs; ``ok`` by the tolerance of the quantization."""
    if len(outputs) != len(reference):
        return Verification(runtime, len(reference[0]), None, None, False,
                            f"{len(outputs)} outputs instead of {len(reference)}")
    diff, agreement, scale = 0.0, None, 1.0
    for ref, out in zip(reference, outputs):
        out = np.asarray(out, dtype=np.float64).reshape(ref.shape)
        ref = ref.astype(np.float64)
        diff = max(diff, float(np.max(np.abs(ref - out))) if ref.size else 0.0)
        scale = max(scale, float(np.max(np.abs(ref))) if ref.size else 0.0)
        if ref.ndim >= 2 and ref.shape[-1] > 1:
            agree = float(np.mean(np.argmax(ref, -1) == np.argmax(out, -1)))
            agreement = agree if agreement is None else min(agreement, agree)
    tolerance = TOLERANCE.get(quantize, TOLERANCE["float32"]) * scale
    ok = diff <= tolerance
    note = f"tolerance {tolerance:.3g}"
    if quantize == "int8" and agreement is not None:
        ok = agreement >= INT8_AGREEMENT
        note = f"int8 is judged by top-1 agreement (at least {100 * INT8_AGREEMENT:.0f}%)"
    return Verification(runtime, len(reference[0]) if reference else 0, diff, agreement, ok, note)


# ---------------------------------------------------------------------- runtimes
def _run_keras(path: Path, inputs, names, allow_unsafe: bool):
    from workbench.modelio import load_model_file

    return predict(load_model_file(path, allow_unsafe), inputs)


def _run_savedmodel(path: Path, inputs, names, allow_unsafe: bool):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    outputs = loaded.serve(inputs[0] if len(inputs) == 1 else list(inputs))
    return [np.asarray(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]


def _interpreter(path: Path):
    """LiteRT's interpreter when ``ai_edge_litert`` is installed, else TensorFlow's."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter  # noqa: N806 (a class, by either route)
    return Interpreter(model_path=str(path))


def _run_tflite(path: Path, inputs, names, allow_unsafe: bool):
    interpreter = _interpreter(path)
    runner = interpreter.get_signature_runner()
    details = runner.get_input_details()
    keys = list(details)
    by_name = {name: x for name, x in zip(names, inputs)}
    feed = {key: by_name.get(key, inputs[i]) for i, key in enumerate(keys)}
    results = []
    for start in range(len(inputs[0])):  # one sample at a time: the batch dimension may be fixed
        out = runner(**{key: value[start:start + 1].astype(details[key]["dtype"])
                        for key, value in feed.items()})
        results.append([out[key] for key in sorted(out, key=_output_rank)])
    return [np.concatenate([r[i] for r in results]) for i in range(len(results[0]))]


def _output_rank(key: str):
    """``output_10`` after ``output_2``: signature outputs sorted by their number."""
    stem, _, number = key.rpartition("_")
    return (stem, int(number)) if number.isdigit() else (key, 0)


def _run_onnx(path: Path, inputs, names, allow_unsafe: bool):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    wanted = session.get_inputs()
    by_name = {name: x for name, x in zip(names, inputs)}
    feed = {item.name: by_name.get(item.name, inputs[i]) for i, item in enumerate(wanted)}
    return [np.asarray(o) for o in session.run(None, feed)]


_RUNNER = textwrap.dedent("""
    import importlib.util, sys
    import numpy as np
    script, weights, given, wanted = sys.argv[1:5]
    spec = importlib.util.spec_from_file_location("exported_model", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.build_model()
    model.load_weights(weights)
    with np.load(given) as archive:
        inputs = [archive[f"x{i}"] for i in range(len(archive.files))]
    outputs = model.predict(inputs[0] if len(inputs) == 1 else inputs, verbose=0)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    np.savez(wanted, **{f"y{i}": np.asarray(o) for i, o in enumerate(outputs)})
""")


def _run_script(path: Path, inputs, names, allow_unsafe: bool):
    """Import the exported script in a fresh Python, build, load the weights, predict."""
    from workbench.export.python_script import weights_path_for

    path = Path(path).resolve()
    with tempfile.TemporaryDirectory(prefix="workbench-verify-") as folder:
        given, wanted = os.path.join(folder, "inputs.npz"), os.path.join(folder, "outputs.npz")
        np.savez(given, **{f"x{i}": x for i, x in enumerate(inputs)})
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONDONTWRITEBYTECODE="1")
        try:
            done = subprocess.run(
                [sys.executable, "-c", _RUNNER, str(path), str(weights_path_for(path)), given, wanted],
                capture_output=True, text=True, timeout=SCRIPT_TIMEOUT, env=env, cwd=str(path.parent))
        except subprocess.TimeoutExpired:
            raise WorkbenchError(f"{path}: the exported script did not build its model within "
                                 f"{SCRIPT_TIMEOUT} s") from None
        if done.returncode != 0:
            lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
            raise WorkbenchError(f"{path}: the exported script failed to build its model: "
                                 f"{lines[-1] if lines else f'exit code {done.returncode}'}")
        with np.load(wanted) as archive:
            return [archive[f"y{i}"] for i in range(len(archive.files))]
