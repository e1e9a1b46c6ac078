"""The workbench command, in process: results and exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from workbench.cli import main
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment, bundled_templates
from workbench.graph.convert import to_keras


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_ok_and_json(capsys):
    code, out, _ = run(capsys, "validate", str(DEFAULT_EXPERIMENT))
    assert code == 0 and "ok (7 nodes, 5,130 parameters)" in out
    code, out, _ = run(capsys, "validate", str(DEFAULT_EXPERIMENT), "--json")
    data = json.loads(out)
    assert code == 0 and data["ok"] and data["errors"] == [] and data["parameters"] == 5130


def test_validate_reports_the_broken_node(capsys, tmp_path):
    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    experiment.graph.set_param("conv_2", "filters", -3)
    path = experiment.save(tmp_path / "broken.json")
    code, out, _ = run(capsys, "validate", str(path), "--json")
    data = json.loads(out)
    assert code == 1 and not data["ok"]
    assert data["errors"] == [{"node": "conv_2", "message": "filters must be >= 1 (got -3)"}]


@pytest.mark.parametrize("path", [DEFAULT_EXPERIMENT, *bundled_templates().values()],
                         ids=lambda p: p.stem)
def test_summary_counts_equal_keras(capsys, keras, path):
    code, out, _ = run(capsys, "summary", str(path), "--json")
    data = json.loads(out)
    model = to_keras(Experiment.load(path).graph)
    assert code == 0
    assert data["total_parameters"] == model.count_params()
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert data["trainable_parameters"] == trainable
    assert len(data["layers"]) == len(model.layers)


def test_import_then_build_carries_the_weights(capsys, keras, tmp_path):
    source = to_keras(Experiment.load(bundled_templates()["resnet"]).graph)
    model_path = tmp_path / "trained.keras"
    source.save(model_path)
    code, out, _ = run(capsys, "summary", str(model_path))
    assert code == 0 and f"Total params: {source.count_params():,}" in out
    code, out, _ = run(capsys, "import", str(model_path), "-o", str(tmp_path / "exp.json"))
    assert code == 0 and (tmp_path / "exp.weights.npz").exists()
    code, out, _ = run(capsys, "build", str(tmp_path / "exp.json"), "-o",
                       str(tmp_path / "rebuilt.h5"), "--json")
    assert code == 0 and json.loads(out)["fresh_weights"] == []
    rebuilt = keras.saving.load_model(tmp_path / "rebuilt.h5", compile=False)
    x = np.random.default_rng(0).random((3, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(source.predict(x, verbose=0), rebuilt.predict(x, verbose=0),
                               atol=1e-5)


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as caught:
        main([])
    assert caught.value.code == 2
    with pytest.raises(SystemExit) as caught:
        main(["build", str(DEFAULT_EXPERIMENT)])  # -o missing
    assert caught.value.code == 2
