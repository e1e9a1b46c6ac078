"""``workbench explain`` and ``workbench filters`` through their handlers, on a tiny run.

The commands are registered on a parser built here the way ``workbench/cli.py`` builds its own
(``add(name, handler, help)`` adding ``--json``), so these tests need nothing from the main CLI.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from workbench.experiment import Experiment

SIZE = 16


def run_cli(argv: list[str]) -> int:
    """The ``workbench`` command, in this process: 0/1 exit codes, 2 for usage (SystemExit)."""
    from workbench.cli import main

    return main(argv)


@pytest.fixture(scope="module")
def run(keras, tmp_path_factory):
    from workbench.runs import RunStore
    from workbench.training import TrainingSession

    def node(node_id, kind, **params):
        return {"id": node_id, "type": kind, "params": params, "pos": [0, 0]}

    nodes = [node("image", "Input", shape=[SIZE, SIZE, 3]),
             node("conv_a", "Conv2D", filters=4, kernel_size=3, padding="same", activation="relu"),
             node("conv_b", "Conv2D", filters=6, kernel_size=3, padding="same", activation="relu"),
             node("gap", "GlobalAveragePooling2D"),
             node("kind", "Dense", units=2, activation="softmax")]
    ids = [n["id"] for n in nodes]
    experiment = Experiment.from_dict({
        "format": "keras-workbench/experiment", "version": 1, "name": "tiny-shapes",
        "model": {"nodes": nodes, "edges": [{"from": a, "to": b, "port": 0} for a, b in zip(ids, ids[1:])],
                  "outputs": ["kind"]},
        "data": {"source": "shapes", "samples": 64, "image_size": SIZE, "classes": 2, "seed": 0},
        "training": {"optimizer": {"name": "adam", "learning_rate": 0.01},
                     "loss": "sparse_categorical_crossentropy", "epochs": 1, "batch_size": 16, "seed": 0},
    })
    result = TrainingSession(experiment, store=RunStore(tmp_path_factory.mktemp("runs"))).run()
    assert result.status == "finished", result.reason
    return result.run


@pytest.fixture
def picture(tmp_path):
    path = tmp_path / "picture.png"
    pixels = np.random.default_rng(0).integers(0, 255, (24, 20, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_explain_a_run_sample_writes_a_picture(run, tmp_path, capsys):
    out = tmp_path / "cam.png"
    assert run_cli(["explain", str(run.path), "--sample", "2", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "grad_cam of class" in text and "layer: conv_b" in text and f"wrote {out}" in text
    with Image.open(out) as written:
        assert written.mode == "RGB" and written.width > 3 * written.height  # image | heat | overlay


def test_explain_writes_the_map_as_npy_with_json(run, tmp_path, capsys):
    out = tmp_path / "map.npy"
    code = run_cli(["explain", str(run.path), "--sample", "0", "--method", "smoothgrad", "--samples", "3",
                    "--class", "1", "-o", str(out), "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["method"] == "smoothgrad" and data["class"] == 1 and data["class_name"] == "circle"
    assert data["label"] in (0, 1) and data["layer"] is None
    heat = np.load(out)
    assert heat.shape == (SIZE, SIZE) and heat.min() >= 0 and heat.max() == pytest.approx(1.0)


def test_explain_an_image_file_for_a_model_file(run, picture, tmp_path, capsys):
    out = tmp_path / "gb.npy"
    model = run.checkpoint_path("final")
    code = run_cli(["explain", str(model), "--input", str(picture), "--method", "guided_backprop",
                    "-o", str(out), "--json"])
    assert code == 0
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert any("resized from 20x24 to 16x16" in note for note in notes)
    assert any("divided by 255" in note for note in notes)
    assert np.load(out).shape == (SIZE, SIZE)


@pytest.mark.parametrize("argv, message", [
    (["--sample", "0"], "no experiment to take samples from"),
    (["--input", "PICTURE", "--layer", "conv_z"],
     "no layer 'conv_z'; did you mean conv_b, conv_a? layers: conv_a, conv_b, gap, kind"),
    (["--input", "PICTURE", "--method", "magic"], "unknown explanation method 'magic'"),
    (["--input", "PICTURE", "--class", "4"], "class 4 does not exist"),
    (["--input", "PICTURE", "-o", "OUT.jpg"], "-o takes its format from the extension"),
    (["--input", "missing.png"], "no such image file"),
])
def test_explain_bad_input_is_one_readable_line(run, picture, tmp_path, capsys, argv, message):
    argv = [a.replace("PICTURE", str(picture)).replace("OUT", str(tmp_path / "x")) for a in argv]
    if "-o" not in argv:
        argv += ["-o", str(tmp_path / "x.png")]
    bare = tmp_path / "model.keras"  # a model file on its own: no run beside it
    shutil.copy(run.checkpoint_path("final"), bare)
    assert run_cli(["explain", str(bare)] + argv) == 1
    error = capsys.readouterr().err
    assert error.startswith("workbench: error: ") and message in error and error.count("\n") == 1


def test_explain_needs_an_input_or_a_sample(run, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(["explain", str(run.path), "-o", str(tmp_path / "x.png")])
    assert exit_info.value.code == 2


@pytest.mark.parametrize("argv, message", [
    (["explain", "RUN", "--sample", "0", "--class", "-1"], "--class: must be at least 0 (got -1)"),
    (["explain", "RUN", "--sample", "0", "--steps", "0"], "--steps: must be at least 1 (got 0)"),
    (["filters", "RUN", "--maximize", "--steps", "0"], "--steps: must be at least 1 (got 0)"),
])
def test_negative_classes_and_no_steps_are_usage_errors(run, tmp_path, capsys, argv, message):
    argv = [str(run.path) if a == "RUN" else a for a in argv] + ["-o", str(tmp_path / "x.png")]
    with pytest.raises(SystemExit) as exit_info:
        run_cli(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_filters_draws_kernels_and_maximized_inputs(run, tmp_path, capsys):
    kernels = tmp_path / "kernels.npy"
    assert run_cli(["filters", str(run.path), "-o", str(kernels)]) == 0
    assert np.load(kernels).shape == (4, 3, 3, 3)  # conv_a reads RGB: colour tiles
    assert run_cli(["filters", str(run.path), "--layer", "conv_b", "-o", str(tmp_path / "k.png")]) == 0
    assert (tmp_path / "k.png").exists()
    capsys.readouterr()
    out = tmp_path / "max.npy"
    code = run_cli(["filters", str(run.path), "--maximize", "--filters", "0,2", "--steps", "10",
                    "-o", str(out), "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["layer"] == "conv_b" and data["filters"] == [0, 2] and data["tile_shape"] == [SIZE, SIZE, 3]
    assert np.load(out).shape == (2, SIZE, SIZE, 3)
    assert run_cli(["filters", str(run.path), "--layer", "gap", "-o", str(tmp_path / "g.png")]) == 1
    assert "has no 2-D kernel to draw" in capsys.readouterr().err
    assert run_cli(["filters", str(run.path), "--maximize", "--filters", "9", "-o", str(out)]) == 1
    assert "filter 9 does not exist: the layer has 6" in capsys.readouterr().err


def test_filters_maximize_on_a_model_without_convolutions_shows_its_classes(keras, tmp_path, capsys):
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inputs))
    keras.Model(inputs, outputs).save(tmp_path / "mlp.keras")
    out = tmp_path / "classes.npy"
    assert run_cli(["filters", str(tmp_path / "mlp.keras"), "--maximize", "--steps", "5",
                    "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "inputs maximizing 3 class scores" in text and "has no convolution" in text
    assert np.load(out).shape == (3, 8, 8, 1)
