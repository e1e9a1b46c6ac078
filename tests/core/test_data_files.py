"""Data from files: npz, HDF5, CSV and image folders, in memory and streamed, and every
malformed file giving a message that names the file and the problem."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from workbench.data import data_warnings, load_dataset
from workbench.errors import WorkbenchError
from workbench.tasks import RecordingProgress

RNG = np.random.default_rng(0)


def _npz(path: Path, **arrays) -> str:
    np.savez(path, **arrays)
    return str(path)


def _error(section: dict) -> str:
    with pytest.raises(WorkbenchError) as caught:
        load_dataset(section)
    return str(caught.value)


# ---------------------------------------------------------------------------- npz


def test_npz_images_with_labels(tmp_path):
    x = RNG.integers(0, 256, (100, 6, 6, 3), dtype=np.uint8)
    y = np.arange(100) % 4
    dataset = load_dataset({"source": "npz", "path": _npz(tmp_path / "d.npz", x=x, y=y)})
    assert dataset.x_train.shape == (80, 6, 6, 3) and dataset.x_train.dtype == np.float32
    assert dataset.x_train.max() <= 1.0 and dataset.x_train.max() > 0.9  # uint8 scaled by 255
    assert dataset.num_classes == 4 and dataset.class_names is None
    assert np.all(np.bincount(dataset.y_train) == 20) and np.all(np.bincount(dataset.y_val) == 5)
    assert dataset.description == "d.npz: 80 train / 20 validation, 6x6x3, 4 classes"


def test_npz_keras_layout_custom_keys_and_label_forms(tmp_path):
    x = RNG.normal(size=(60, 3)).astype(np.float32)
    path = _npz(tmp_path / "k.npz", x_train=x, y_train=np.arange(60) % 2, x_test=x[:10],
                y_test=np.arange(10) % 2)
    dataset = load_dataset({"source": "npz", "path": path})
    assert dataset.extras["x_test"].shape == (10, 3) and dataset.extras["y_test"].tolist() == [0, 1] * 5
    # Text labels become class indices with names; labels that skip numbers are renumbered.
    text = np.array(["cat", "dog", "emu"] * 20)
    named = load_dataset({"source": "npz", "path": _npz(tmp_path / "t.npz", inputs=x, labels=text),
                          "x_key": "inputs", "y_key": "labels"})
    assert named.class_names == ["cat", "dog", "emu"] and named.num_classes == 3
    skipping = load_dataset({"source": "npz", "path": _npz(tmp_path / "s.npz", x=x, y=np.tile([1, 5], 30))})
    assert skipping.class_names == ["1", "5"] and set(np.unique(skipping.y_train)) == {0, 1}
    one_hot = load_dataset({"source": "npz", "path": _npz(tmp_path / "o.npz", x=x,
                                                           y=np.eye(3)[np.arange(60) % 3])})
    assert one_hot.y_train.ndim == 1 and one_hot.num_classes == 3
    regression = load_dataset({"source": "npz", "path": _npz(tmp_path / "r.npz", x=x, y=x[:, 0] * 2),
                               "task": "regression"})
    assert regression.y_train.shape == (48, 1) and regression.y_train.dtype == np.float32
    assert regression.num_classes is None and "regression" in regression.description


def test_npz_segmentation_and_autoencoder(tmp_path):
    x = RNG.integers(0, 256, (20, 8, 8, 1), dtype=np.uint8)
    masks = (RNG.random((20, 8, 8)) > 0.5).astype(np.uint8)
    path = _npz(tmp_path / "m.npz", x=x, y=masks)
    dataset = load_dataset({"source": "npz", "path": path, "task": "segmentation"})
    assert dataset.y_train.shape == (16, 8, 8, 1) and dataset.y_train.dtype == np.float32
    auto = load_dataset({"source": "npz", "path": _npz(tmp_path / "a.npz", x=x), "target": "input"})
    assert auto.y_train is auto.x_train and auto.task == "reconstruction"


@pytest.mark.parametrize("arrays, section, words", [
    ({"x": np.zeros((5, 2)), "y": np.zeros(4)}, {}, "x has 5 samples but y has 4"),
    ({"inputs": np.zeros((5, 2)), "y": np.zeros(5)}, {},
     "has no array named 'x' (it holds: inputs, y); set data.x_key"),
    ({"x": np.zeros((5, 2)), "y": np.zeros(5)}, {"y_key": "labels"}, "has no array named 'labels'"),
    ({"x": np.zeros((0, 2)), "y": np.zeros(0)}, {}, "x is empty"),
    ({"x": np.zeros((4, 2)), "y": np.array([0, 1, np.nan, 1])}, {}, "label of sample 2 is nan"),
    ({"x": np.zeros((4, 2)), "y": np.array([0, 1.5, 2, 1])}, {}, "not whole numbers"),
    ({"x": np.array(["a", "b"]), "y": np.zeros(2)}, {}, "x holds text, not numbers"),
    ({"x": np.zeros((4, 2)), "y": np.zeros((4, 3, 3))}, {}, "labels have shape (4, 3, 3)"),
    ({"x": np.zeros((4, 2)), "y": np.array([0, 1, np.nan, 2])}, {"task": "regression"},
     "target of sample 2 is missing"),
    ({"x": np.zeros((4, 5, 5, 1)), "y": np.zeros((4, 6, 6))}, {"task": "segmentation"}, "one mask per image"),
])
def test_malformed_npz_contents(tmp_path, arrays, section, words):
    path = _npz(tmp_path / "bad.npz", **arrays)
    message = _error({"source": "npz", "path": path, **section})
    assert message.startswith(str(tmp_path / "bad.npz")) and words in message


def test_malformed_npz_files(tmp_path):
    assert "no such file" in _error({"source": "npz", "path": str(tmp_path / "missing.npz")})
    assert "is a folder" in _error({"source": "npz", "path": str(tmp_path)})
    good = tmp_path / "good.npz"
    np.savez(good, x=np.zeros((50, 50)), y=np.zeros(50))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    message = _error({"source": "npz", "path": str(truncated)})
    assert str(truncated) in message and "damaged or truncated" in message
    text = tmp_path / "text.npz"
    text.write_text("hello")
    message = _error({"source": "npz", "path": str(text)})
    assert "is not a NumPy .npz archive (neither a zip archive nor a .npy array)" in message
    assert "pickle" not in message and "numpy.savez" in message
    single = tmp_path / "single.npz"
    with open(single, "wb") as handle:
        np.save(handle, np.zeros(3))
    assert "a single array (a .npy file)" in _error({"source": "npz", "path": str(single)})
    objects = tmp_path / "objects.npz"
    np.savez(objects, x=np.zeros((2, 2)), y=np.array([{"a": 1}, None], dtype=object))
    assert "holds Python objects" in _error({"source": "npz", "path": str(objects)})


def test_samples_takes_a_stratified_subset(tmp_path):
    x = RNG.normal(size=(1000, 2))
    y = np.array([0] * 800 + [1] * 200)
    dataset = load_dataset({"source": "npz", "path": _npz(tmp_path / "d.npz", x=x, y=y), "samples": 100,
                            "preprocessing": []})
    assert len(dataset.x_train) + len(dataset.x_val) == 100
    assert np.bincount(np.concatenate([dataset.y_train, dataset.y_val])).tolist() == [80, 20]
    assert any("imbalanced" in w and "4.0 to 1" in w for w in data_warnings(dataset))


# ---------------------------------------------------------------------------- hdf5


def _h5(path: Path, **arrays) -> str:
    with h5py.File(path, "w") as handle:
        for name, values in arrays.items():
            handle[name.replace("__", "/")] = values
    return str(path)


def test_hdf5_nested_names_and_subsets(tmp_path):
    x = RNG.integers(0, 256, (300, 4, 4, 1), dtype=np.uint8)
    y = np.arange(300) % 3
    path = _h5(tmp_path / "d.h5", data__images=x, data__labels=y, other=np.zeros(3))
    dataset = load_dataset({"source": "hdf5", "path": path, "x_key": "data/images", "y_key": "data/labels"})
    assert dataset.x_train.shape == (240, 4, 4, 1) and dataset.x_train.max() <= 1.0
    subset = load_dataset({"source": "hdf5", "path": path, "x_key": "data/images", "y_key": "data/labels",
                           "samples": 30, "validation_split": 0.0})
    assert len(subset.x_train) == 30 and np.bincount(subset.y_train).tolist() == [10, 10, 10]
    # Each chosen row is a real row of the file, with its own label.
    for image, label in zip(subset.x_train, subset.y_train):
        row = np.flatnonzero(np.isclose(x.reshape(300, -1) / 255.0, image.reshape(-1), atol=1e-6).all(axis=1))
        assert row.size and y[row[0]] == label


def test_hdf5_errors_name_the_file_and_the_arrays(tmp_path):
    path = _h5(tmp_path / "d.h5", group__x=np.zeros((5, 2)), y=np.zeros(5))
    message = _error({"source": "hdf5", "path": path})
    assert message.startswith(path) and "has no array named 'x' (it holds: group/x, y)" in message
    message = _error({"source": "hdf5", "path": path, "x_key": "group/x", "y_key": "nope"})
    assert "no array named 'nope'" in message and "group/x, y" in message
    mismatched = _h5(tmp_path / "m.h5", x=np.zeros((5, 2)), y=np.zeros(6))
    assert "x has 5 samples but y has 6" in _error({"source": "hdf5", "path": mismatched})
    assert "x has 5 samples but y has 6" in _error({"source": "hdf5", "path": mismatched, "stream": True})
    not_hdf5 = tmp_path / "n.h5"
    not_hdf5.write_text("just text")
    assert "is not an HDF5 file" in _error({"source": "hdf5", "path": str(not_hdf5)})
    whole = Path(_h5(tmp_path / "w.h5", x=np.zeros((2000, 50)), y=np.zeros(2000)))
    truncated = tmp_path / "t.h5"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    message = _error({"source": "hdf5", "path": str(truncated)})
    assert str(truncated) in message and ("truncated" in message or "damaged" in message)


def test_hdf5_stream_reads_batches_with_training_statistics(tmp_path, keras):
    x = RNG.normal(5.0, 3.0, (500, 6)).astype(np.float32)
    y = np.arange(500) % 2
    path = _h5(tmp_path / "big.h5", x=x, y=y)
    progress = RecordingProgress()
    dataset = load_dataset({"source": "hdf5", "path": path, "stream": True, "batch_size": 64,
                            "preprocessing": ["standardize"], "class_weights": "balanced"}, progress)
    assert dataset.x_train is None and dataset.streamed and dataset.input_shape == (6,)
    assert dataset.train_count == 400 and dataset.val_count == 100
    assert np.bincount(dataset.y_train).tolist() == [200, 200] and dataset.class_weight == {0: 1.0, 1: 1.0}
    assert "streamed in batches of 64" in dataset.description
    everything = np.concatenate([b.numpy() for b, _ in dataset.train_stream])
    assert everything.shape == (400, 6)
    assert np.allclose(everything.mean(axis=0), 0, atol=1e-4)
    assert np.allclose(everything.std(axis=0), 1, atol=1e-3)
    assert any("measuring" in message for _, _, message in progress.steps)
    x_sample, y_sample = dataset.sample(10, "val")
    assert x_sample.shape == (10, 6) and y_sample.shape == (10,)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(**dataset.fit_arguments(50), epochs=1, verbose=0)  # rebatched to 50
    assert np.isfinite(history.history["val_loss"][0])


# ---------------------------------------------------------------------------- csv


def _csv(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_csv_numeric_features_and_named_targets(tmp_path):
    rows = "\n".join(f"{i},{i * 0.5},{'yes' if i % 3 else 'no'}" for i in range(30))
    path = _csv(tmp_path / "t.csv", "a,b,answer\n" + rows + "\n\n")
    dataset = load_dataset({"source": "csv", "path": path, "preprocessing": ["minmax"]})
    assert dataset.x_train.shape == (24, 2) and dataset.class_names == ["no", "yes"]
    assert dataset.extras["feature_names"] == ["a", "b"]
    assert dataset.x_train.min() == 0.0 and dataset.x_train.max() == 1.0
    message = _error({"source": "csv", "path": path, "target": "a", "task": "regression"})
    assert "column 'answer' is not numeric (line 2: 'no')" in message  # now a feature
    semicolons = _csv(tmp_path / "s.csv", "x;y;label\n" + "\n".join(f"{i};{-i};{i % 2}" for i in range(20)))
    assert load_dataset({"source": "csv", "path": semicolons}).num_classes == 2
    holes = _csv(tmp_path / "h.csv", "x,y,label\n" + "\n".join(
        f"{'' if i == 3 else i},{i},{i % 2}" for i in range(20)))
    dataset = load_dataset({"source": "csv", "path": holes, "validation_split": 0.0, "preprocessing": []})
    assert any("NaN or infinite values (in 1 samples)" in w for w in data_warnings(dataset))
    by_name = load_dataset({"source": "csv", "path": holes, "target": "y", "task": "regression"})
    assert by_name.y_train.shape == (16, 1) and by_name.input_shape == (2,)
    assert by_name.extras["feature_names"] == ["x", "label"]


def test_csv_without_a_header_keeps_its_first_row(tmp_path):
    path = _csv(tmp_path / "bare.csv", "\n".join(f"{i * 0.25},{-i},{i % 2}" for i in range(20)))
    dataset = load_dataset({"source": "csv", "path": path, "validation_split": 0.0,
                            "preprocessing": []})
    assert len(dataset.x_train) == 20 and dataset.num_classes == 2
    assert dataset.extras["feature_names"] == ["column 1", "column 2"]
    assert sorted(dataset.x_train[:, 0].tolist()) == [i * 0.25 for i in range(20)]
    by_name = load_dataset({"source": "csv", "path": path, "target": "column 1", "task": "regression"})
    assert by_name.extras["feature_names"] == ["column 2", "column 3"]


@pytest.mark.parametrize("text, section, words", [
    ("a,b\n1,2\n", {"target": "label"}, "has no column named 'label'; the columns are: a, b"),
    ("a,colour,label\n1,red,0\n2,blue,1\n", {}, "column 'colour' is not numeric (line 2: 'red')"),
    ("a,b,label\n1,2,0\n1,2\n", {}, "line 3 has 2 values but the header names 3 columns"),
    ("", {}, "is empty"),
    ("a,b,label\n", {}, "has a header but no rows"),
    ("a,b,label\n1,2,0\n3,4,\n", {}, "line 3: the target 'label' is empty"),
    ("a,b,label\n1,2,0.5\n3,4,1\n", {}, "not whole numbers"),
    ("a,b,price\n1,2,cheap\n", {"task": "regression"}, "a regression target must be numbers"),
    ("a,a,label\n1,2,0\n", {}, "names 'a' more than once"),
    ("label\n1\n2\n", {}, "has no feature columns"),
])
def test_malformed_csv(tmp_path, text, section, words):
    path = _csv(tmp_path / "bad.csv", text)
    message = _error({"source": "csv", "path": path, **section})
    assert message.startswith(path) and words in message


def test_csv_that_is_not_text(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00\x81" * 20)
    assert "is not a UTF-8 text file" in _error({"source": "csv", "path": str(path)})


# ---------------------------------------------------------------------------- folders


def _folder(root: Path, counts: dict[str, int], size=(12, 10), mode="RGB") -> str:
    rng = np.random.default_rng(1)
    for name, count in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            shape = size + ((3,) if mode == "RGB" else ())
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(root / name / f"{i}.png")
    return str(root)


def test_folder_in_memory_is_split_with_stratification(tmp_path):
    path = _folder(tmp_path / "pets", {"cats": 30, "dogs": 20})
    progress = RecordingProgress()
    dataset = load_dataset({"source": "folder", "path": path}, progress)
    assert dataset.x_train.shape == (40, 12, 10, 3) and 0.9 < dataset.x_train.max() <= 1.0
    assert dataset.class_names == ["cats", "dogs"]
    assert np.bincount(dataset.y_train).tolist() == [24, 16] and np.bincount(dataset.y_val).tolist() == [6, 4]
    assert any(message == "reading images: 50 of 50" for _, _, message in progress.steps)
    resized = load_dataset({"source": "folder", "path": path, "image_size": [6, 6]})
    assert resized.input_shape == (6, 6, 3)
    grey = load_dataset({"source": "folder", "path": _folder(tmp_path / "grey", {"a": 4, "b": 4}, mode="L")})
    assert grey.input_shape == (12, 10, 1)


def test_folder_stream(tmp_path, keras):
    path = _folder(tmp_path / "pets", {"cats": 30, "dogs": 20})
    dataset = load_dataset({"source": "folder", "path": path, "stream": True, "batch_size": 8,
                            "preprocessing": ["scale", "onehot"], "augmentation": ["flip"]})
    assert dataset.x_train is None and dataset.y_train.shape == (40, 2) and dataset.y_val.shape == (10, 2)
    assert dataset.train_count == 40 and dataset.input_shape == (12, 10, 3)
    x, y = dataset.sample(12)
    assert x.shape == (12, 12, 10, 3) and y.shape == (12, 2) and 0 <= x.min() and x.max() <= 1.0
    model = keras.Sequential([keras.Input((12, 10, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "categorical_crossentropy")
    history = model.fit(**dataset.fit_arguments(8), epochs=1, verbose=0)
    assert np.isfinite(history.history["val_loss"][0])


def test_a_large_folder_is_streamed_even_when_not_asked(tmp_path, monkeypatch):
    from workbench.data import folder

    monkeypatch.setattr(folder, "MEMORY_LIMIT", 10_000)
    dataset = load_dataset({"source": "folder", "path": _folder(tmp_path / "f", {"a": 10, "b": 10})})
    assert dataset.streamed and any("streamed from disk" in w for w in data_warnings(dataset))


def test_folder_errors(tmp_path):
    assert "no such folder" in _error({"source": "folder", "path": str(tmp_path / "nope")})
    loose = tmp_path / "loose"
    loose.mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(loose / "one.png")
    message = _error({"source": "folder", "path": str(loose)})
    assert "has no sub-folders; the images are directly in it" in message
    empty = tmp_path / "empty"
    (empty / "a").mkdir(parents=True)
    (empty / "a" / "notes.txt").write_text("hi")
    assert "holds no images" in _error({"source": "folder", "path": str(empty)})
    broken = Path(_folder(tmp_path / "broken", {"a": 3, "b": 3}))
    (broken / "b" / "bad.png").write_bytes(b"not a png at all")
    message = _error({"source": "folder", "path": str(broken)})
    assert message.startswith(str(broken / "b" / "bad.png")) and "cannot be read as an image" in message
