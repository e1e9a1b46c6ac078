"""Experiment files: round trips, atomic saves, versions, errors that name the place."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from workbench import fileio
from workbench.errors import ExperimentFileError
from workbench.experiment import DEFAULT_EXPERIMENT, FORMAT, VERSION, Experiment


def test_save_and_load_round_trip_byte_identical(tmp_path):
    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    target = experiment.save(tmp_path / "copy.json")
    assert target.read_text() == DEFAULT_EXPERIMENT.read_text()
    again = Experiment.load(target)
    assert again.to_dict() == experiment.to_dict()
    assert again.name == "digits-cnn" and len(again.graph) == 7


def test_unknown_top_level_keys_survive_a_save(tmp_path):
    data = json.loads(DEFAULT_EXPERIMENT.read_text())
    data["notes"] = {"author": "me"}
    experiment = Experiment.from_dict(data)
    experiment.save(tmp_path / "e.json")
    assert json.loads((tmp_path / "e.json").read_text())["notes"] == {"author": "me"}


def test_a_failed_save_leaves_the_old_file_untouched(tmp_path, monkeypatch):
    target = tmp_path / "e.json"
    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    experiment.save(target)
    before = target.read_text()
    experiment.name = "changed"

    def crash(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio.os, "fsync", crash)
    with pytest.raises(ExperimentFileError, match="No space left"):
        experiment.save(target)
    assert target.read_text() == before
    assert os.listdir(tmp_path) == ["e.json"]  # no temporary file left behind


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("", "is empty"),
        ('{"format": "keras-workbench/experiment", "version": 1, "model": {"nod',
         "not valid JSON"),
        ("\x00\x01binary", "not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        ('{"format": "something-else", "version": 1}', "not a Keras Workbench experiment"),
        ('{"format": "keras-workbench/experiment", "version": 99}', "newer Keras Workbench"),
        ('{"format": "keras-workbench/experiment", "version": "1"}', "version: expected"),
        ('{"format": "keras-workbench/experiment", "version": 1, "model": {"nodes": [{"id": "a"}]}}',
         "model.nodes[0].type"),
        ('{"format": "keras-workbench/experiment", "version": 1, "model": {}, "training": []}',
         "training: expected an object"),
        ('{"format": "keras-workbench/experiment", "version": 1}', "model: missing"),
    ],
)
def test_bad_files_give_one_line_naming_file_and_place(tmp_path, content, fragment):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ExperimentFileError) as caught:
        Experiment.load(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and fragment in message and "\n" not in message


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ExperimentFileError, match="no such file"):
        Experiment.load(tmp_path / "nope.json")
    with pytest.raises(ExperimentFileError, match="is a folder"):
        Experiment.load(tmp_path)


def test_older_versions_are_migrated():
    data = json.loads(DEFAULT_EXPERIMENT.read_text())
    data["version"] = 0
    data["graph"] = data.pop("model")
    experiment = Experiment.from_dict(data)
    assert experiment.to_dict()["version"] == VERSION and len(experiment.graph) == 7
    assert experiment.to_dict()["format"] == FORMAT


def test_weights_are_stored_beside_the_experiment(tmp_path):
    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    experiment.path = tmp_path / "e.json"
    weights = {"conv_1": [np.ones((3, 3, 1, 16), "float32"), np.zeros(16, "float32")],
               "block/inner": [np.arange(4.0)]}
    experiment.save_weights(weights, tmp_path / "e.weights.npz")
    experiment.save()
    loaded = Experiment.load(tmp_path / "e.json")
    assert loaded.weights_file == "e.weights.npz"
    restored = loaded.load_weights()
    assert set(restored) == set(weights)
    for key, arrays in weights.items():
        for a, b in zip(arrays, restored[key]):
            np.testing.assert_array_equal(a, b)
    (tmp_path / "e.weights.npz").unlink()
    with pytest.raises(ExperimentFileError, match="missing"):
        loaded.load_weights()
