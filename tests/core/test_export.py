"""Export to every format, each read back with its own runtime and compared with the model.

The default experiment (digits CNN) is trained for one epoch into a run folder once per module;
every format is exported from that run and verified. Bad input: wrong or unwritable paths, an
untrained experiment, int8 without data, missing optional packages. The ``workbench export``
command runs through its handler on a parser built here the way ``workbench/cli.py`` builds
its own.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

import numpy as np
import pytest

from workbench.errors import WorkbenchError
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment
from workbench.export import (
    ExportSource,
    MissingDependencyError,
    export_model,
    format_for_path,
    open_export_source,
)
from workbench.export.formats import has_package

ONNX_READY = has_package("tf2onnx") and has_package("onnx")


def run_cli(argv: list[str]) -> int:
    """The ``workbench`` command, in this process: 0/1 exit codes, 2 for usage (SystemExit)."""
    from workbench.cli import main

    return main(argv)


@pytest.fixture(scope="module")
def run(keras, tmp_path_factory):
    """The default experiment trained for one epoch into a run folder."""
    from workbench.data import load_dataset
    from workbench.runs import RunStore
    from workbench.training import TrainingSession

    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    dataset = load_dataset(experiment.data)
    store = RunStore(tmp_path_factory.mktemp("runs"))
    result = TrainingSession(experiment, dataset=dataset, store=store, epochs=1).run()
    assert result.status == "finished", result.reason
    return result.run


@pytest.fixture(scope="module")
def source(run):
    return open_export_source(run.path)


@pytest.fixture
def out(tmp_path):
    return tmp_path


# ------------------------------------------------------------------- every format
@pytest.mark.parametrize("fmt, name", [
    ("keras", "digits.keras"), ("h5", "digits.h5"), ("savedmodel", "digits_savedmodel"),
    ("tflite", "digits.tflite"), ("python", "digits_cnn.py"),
])
def test_every_format_reloads_with_the_same_outputs(source, out, fmt, name):
    result = export_model(source, fmt, out / name)

    assert result.path.exists() and all(path.exists() for path in result.files)
    check = result.verification
    assert check.ok and check.runtime is not None, check.describe()
    assert check.samples == 32 and result.inputs_from == "data"  # the run's validation digits
    assert check.max_abs_diff < 1e-4
    assert check.top1_agreement == 1.0
    assert result.warnings == []  # a trained run: nothing to warn about
    if fmt == "python":
        assert [p.name for p in result.files] == ["digits_cnn.py", "digits_cnn.weights.h5"]
        text = (out / name).read_text()
        assert 'x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv_1")(image)' in text
        assert "def load_data():" in text and "load_digits(n_class=10)" in text
        assert "keras.optimizers.Adam(learning_rate=0.01)" in text
    # nothing temporary is left beside the export
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_saved_model_reloads_independently(source, out):
    import tensorflow as tf

    export_model(source, "savedmodel", out / "sm", verify=False)
    export_model(source, "savedmodel", out / "sm", verify=False)  # replacing an export works
    x = source.data_inputs()[:8]
    loaded = tf.saved_model.load(str(out / "sm"))  # kept: its functions need its variables
    served = np.asarray(loaded.serve(x))
    np.testing.assert_allclose(served, source.model.predict(x, verbose=0), atol=1e-5)


def test_tflite_float16_and_int8(source, out):
    plain = export_model(source, "tflite", out / "f32.tflite")
    half = export_model(source, "tflite", out / "f16.tflite", quantize="float16")
    int8 = export_model(source, "tflite", out / "i8.tflite", quantize="int8", samples=128)

    assert half.quantize == "float16" and half.verification.ok
    assert half.verification.max_abs_diff < 1e-2
    assert int8.verification.ok and int8.verification.top1_agreement >= 0.9, int8.verification.describe()
    size = {name: (out / name).stat().st_size for name in ("f32.tflite", "f16.tflite", "i8.tflite")}
    assert size["f16.tflite"] < 0.75 * size["f32.tflite"]
    assert size["i8.tflite"] < size["f16.tflite"]
    assert plain.quantize == "float32"

    import tensorflow as tf

    with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation note (LiteRT)
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(str(out / "i8.tflite"))
    kinds = {d["dtype"] for d in interpreter.get_tensor_details()}
    assert np.int8 in kinds  # weights and activations really are 8-bit


@pytest.mark.skipif(not ONNX_READY, reason="tf2onnx/onnx not installed (the onnx extra)")
def test_onnx_export_runs_in_onnxruntime(run, out):
    fresh = open_export_source(run.path)  # a model just loaded was never called: Keras' ONNX
    result = export_model(fresh, "onnx", out / "digits.onnx")  # exporter needs one call first
    if has_package("onnxruntime"):
        assert result.verification.runtime == "onnxruntime" and result.verification.ok
        assert result.verification.max_abs_diff < 1e-4
    else:
        assert "onnxruntime" in result.warnings[0]


def test_onnx_without_its_packages_names_the_extra(source, out, monkeypatch):
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # as if not installed
    with pytest.raises(MissingDependencyError) as caught:
        export_model(source, "onnx", out / "digits.onnx")
    message = str(caught.value)
    assert "tf2onnx" in message and 'pip install "keras-workbench[onnx]"' in message
    assert not (out / "digits.onnx").exists()


@pytest.mark.skipif(not ONNX_READY, reason="tf2onnx/onnx not installed (the onnx extra)")
def test_onnx_without_onnxruntime_is_written_but_not_verified(source, out, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    result = export_model(source, "onnx", out / "digits.onnx")
    assert (out / "digits.onnx").stat().st_size > 1000
    assert result.verification.runtime is None
    assert "not verified" in result.warnings[0] and "onnxruntime" in result.warnings[0]


# ----------------------------------------------------------------- other sources
def test_experiment_with_weights_exports_trained_model(source, out):
    from workbench.graph.convert import collect_weights

    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    experiment.path = out / "digits.json"
    experiment.save_weights(collect_weights(source.model), out / "digits.weights.npz")
    experiment.save()

    opened = open_export_source(out / "digits.json")
    assert opened.trained and opened.warnings == []
    result = export_model(opened, "keras", out / "model.keras")
    assert result.verification.ok and result.warnings == []
    x = source.data_inputs()[:16]
    np.testing.assert_allclose(opened.model.predict(x, verbose=0), source.model.predict(x, verbose=0),
                               atol=1e-6)


def test_untrained_experiment_exports_with_a_warning(keras, out):
    opened = open_export_source(DEFAULT_EXPERIMENT)
    result = export_model(opened, "h5", out / "fresh.h5")
    assert (out / "fresh.h5").exists() and result.verification.ok
    assert any("no trained weights" in w for w in result.warnings)


def test_model_in_memory_without_data_uses_random_inputs(source, out):
    bare = ExportSource.from_model(source.model)
    result = export_model(bare, "keras", out / "bare.keras")
    assert result.inputs_from == "random" and result.verification.ok
    assert any("random inputs" in note for note in result.notes)


def test_data_that_cannot_be_loaded_falls_back_to_random_inputs(source, out):
    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    experiment.data = {"source": "npz", "path": str(out / "moved.npz")}
    moved = ExportSource.from_model(source.model, experiment)
    result = export_model(moved, "keras", out / "m.keras")
    assert result.inputs_from == "random" and result.verification.ok
    assert any("could not be loaded" in note and "moved.npz" in note for note in result.notes)
    with pytest.raises(WorkbenchError, match="moved.npz: no such file"):  # int8 needs the data
        export_model(moved, "tflite", out / "q.tflite", quantize="int8")


# --------------------------------------------------------------------- bad input
def test_bad_paths_name_the_path_and_the_fix(source, out):
    with pytest.raises(WorkbenchError, match="does not exist: create it first"):
        export_model(source, "keras", out / "missing" / "model.keras")
    (out / "file.txt").write_text("x")
    with pytest.raises(WorkbenchError, match="is a file, not a folder"):
        export_model(source, "keras", out / "file.txt" / "model.keras")
    with pytest.raises(WorkbenchError, match=r"name it model\.tflite"):
        export_model(source, "tflite", out / "model.bin")
    with pytest.raises(WorkbenchError, match="is a file; a SavedModel is a folder"):
        export_model(source, "savedmodel", out / "file.txt")
    (out / "photos").mkdir()
    (out / "photos" / "cat.jpg").write_bytes(b"not a model")
    with pytest.raises(WorkbenchError, match="holding other files"):
        export_model(source, "savedmodel", out / "photos")
    assert (out / "photos" / "cat.jpg").exists()  # never replaced
    with pytest.raises(WorkbenchError, match="unknown export format 'pt'"):
        export_model(source, "pt", out / "model.pt")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_folder(source, out):
    locked = out / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(WorkbenchError, match="not writable"):
            export_model(source, "keras", locked / "model.keras")
    finally:
        locked.chmod(0o700)


def test_failed_write_keeps_the_previous_file(source, out, monkeypatch):
    target = out / "model.keras"
    target.write_bytes(b"previous export")
    model = source.model

    def broken_save(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(model, "save", broken_save)
    with pytest.raises(WorkbenchError, match="No space left on device"):
        export_model(source, "keras", target)
    assert target.read_bytes() == b"previous export"
    assert sorted(p.name for p in out.iterdir()) == ["model.keras"]  # no temporary left over


def test_int8_needs_data(source, out):
    bare = ExportSource.from_model(source.model)
    with pytest.raises(WorkbenchError, match="int8 quantization needs sample inputs.*--calibration"):
        export_model(bare, "tflite", out / "q.tflite", quantize="int8")
    assert not (out / "q.tflite").exists()
    calibration = [source.data_inputs("train")[:64]]
    result = export_model(bare, "tflite", out / "q.tflite", quantize="int8", calibration=calibration)
    assert result.verification.runtime == "tflite interpreter"
    with pytest.raises(WorkbenchError, match="one array per model input"):
        export_model(bare, "tflite", out / "q.tflite", quantize="int8", calibration=[])


def test_quantize_is_for_tflite_only(source, out):
    with pytest.raises(WorkbenchError, match="applies to TFLite exports only"):
        export_model(source, "keras", out / "m.keras", quantize="int8")


def test_format_from_the_file_name():
    assert [format_for_path(n) for n in ("a.keras", "a.H5", "a.tflite", "a.onnx", "a.py", "folder")] == [
        "keras", "h5", "tflite", "onnx", "python", "savedmodel"]
    assert format_for_path("a.bin") is None


# -------------------------------------------------------------------------- CLI
def test_cli_exports_a_run_as_int8_tflite(run, out, capsys):
    code = run_cli(["export", str(run.path), "--format", "tflite", "--quantize", "int8",
                    "-o", str(out / "digits.tflite"), "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["format"] == "tflite" and data["quantize"] == "int8"
    assert data["verification"]["top1_agreement"] >= 0.9
    assert (out / "digits.tflite").exists()


def test_cli_text_output_and_errors(run, out, capsys):
    assert run_cli(["export", str(run.path), "-o", str(out / "digits.h5")]) == 0
    text = capsys.readouterr().out
    assert "exported" in text and "verified with keras on 32 samples: max abs diff" in text

    assert run_cli(["export", str(run.path), "-o", str(out / "digits.bin")]) == 1
    assert "cannot be told from the name" in capsys.readouterr().err
    assert run_cli(["export", str(out / "nothing.keras"), "-o", str(out / "m.keras")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert run_cli(["export", str(run.path), "-o", str(out / "m.keras"), "--calibration", "x.npy"]) == 1
    assert "--quantize int8" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        run_cli(["export", str(run.path), "--format", "pt", "-o", str(out / "m.pt")])
    assert usage.value.code == 2
