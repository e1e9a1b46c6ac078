"""The data engine: config checks, built-in sources, splits, preprocessing, weights, warnings."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.data import DataConfig, Dataset, augmentation_layers, data_warnings, load_dataset
from workbench.data.config import SHAPE_KINDS
from workbench.data.preprocess import Preprocessor, StatsAccumulator, compute_stats
from workbench.data.split import split_indices
from workbench.errors import FormatError, WorkbenchError
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment, bundled_templates
from workbench.tasks import RecordingProgress

# ---------------------------------------------------------------------------- config


def test_defaults_and_bundled_sections_parse():
    config = DataConfig.from_dict({})
    assert (config.source, config.validation_split, config.preprocessing, config.seed) == (
        "digits", 0.2, ["scale"], 0)
    for path in [DEFAULT_EXPERIMENT, *bundled_templates().values()]:
        section = Experiment.load(path).data
        assert DataConfig.from_dict(section).source == section["source"]


@pytest.mark.parametrize("section", [
    {"source": "digits"},
    {"source": "shapes", "task": "segmentation", "image_size": 32, "validation_split": 0.2},
    {"source": "shapes", "image_size": [24, 40], "samples": 50, "classes": 6, "noise": 0.2},
    {"source": "blobs", "preprocessing": ["standardize", "onehot"], "class_weights": "balanced",
     "seed": 7, "future_option": {"kept": True}},
    {"source": "digits", "augmentation": ["flip", {"type": "rotation", "factor": 0.3}, "translate"]},
    {"source": "hdf5", "path": "big.h5", "x_key": "images", "y_key": "labels", "stream": True,
     "batch_size": 128},
    {"source": "csv", "path": "t.csv", "target": "price", "task": "regression", "preprocessing": []},
])
def test_to_dict_keeps_only_what_differs_and_round_trips(section):
    config = DataConfig.from_dict(section)
    data = config.to_dict()
    assert DataConfig.from_dict(data) == config
    assert DataConfig.from_config(config.get_config()) == config
    defaults = DataConfig()
    for key, value in data.items():
        if key not in ("source", "future_option"):
            assert value != getattr(defaults, key), key
    assert data.get("future_option") == section.get("future_option")


def test_to_dict_of_the_default_is_tiny():
    assert DataConfig.from_dict({"source": "digits", "validation_split": 0.2,
                                 "preprocessing": ["scale"]}).to_dict() == {"source": "digits"}
    assert DataConfig.from_dict({"source": "shapes", "image_size": [32, 32]}).to_dict() == {
        "source": "shapes", "image_size": 32}


@pytest.mark.parametrize("section, where, words", [
    ({"source": "mnst"}, "data.source", "digits, shapes"),
    ({"validation_split": 1.0}, "data.validation_split", "from 0 up to"),
    ({"validation_split": "0.2"}, "data.validation_split", "number"),
    ({"preprocessing": "scale"}, "data.preprocessing", "scale, standardize, minmax, onehot"),
    ({"preprocessing": ["scale", "normalise"]}, "data.preprocessing[1]", "scale, standardize"),
    ({"preprocessing": ["scale", "scale"]}, "data.preprocessing[1]", "twice"),
    ({"seed": -1}, "data.seed", ">= 0"),
    ({"seed": 1.5}, "data.seed", "whole number"),
    ({"source": "npz"}, "data.path", "missing"),
    ({"source": "folder", "path": ""}, "data.path", "folder of images"),
    ({"source": "digits", "path": "x.npz"}, "data.path", "folder, npz, hdf5, csv"),
    ({"source": "digits", "image_size": 16}, "data.image_size", "shapes, folder"),
    ({"source": "shapes", "image_size": [32]}, "data.image_size", "[height, width]"),
    ({"source": "shapes", "image_size": 8}, "data.image_size", "at least 12x12"),
    ({"source": "shapes", "classes": 9}, "data.classes", "at most 6"),
    ({"source": "digits", "classes": 1}, "data.classes", ">= 2"),
    ({"source": "spirals", "noise": -0.1}, "data.noise", ">= 0"),
    ({"source": "spirals", "samples": 0}, "data.samples", ">= 1"),
    ({"source": "folder", "path": "f", "samples": 10}, "data.samples", "not an option of the folder"),
    ({"source": "digits", "task": "segmentation"}, "data.task", "shapes, npz, hdf5"),
    ({"source": "digits", "task": "clustering"}, "data.task", "classification, segmentation, regression"),
    ({"source": "digits", "target": "label"}, "data.target", "named columns are for csv"),
    ({"source": "shapes", "task": "segmentation", "preprocessing": ["onehot"]},
     "data.preprocessing[0]", "no class labels"),
    ({"augmentation": ["blur"]}, "data.augmentation[0]", "flip, rotation, zoom, translation"),
    ({"augmentation": [{"type": "rotation", "angle": 3}]}, "data.augmentation[0].angle", "factor"),
    ({"augmentation": [{"type": "flip", "mode": "diagonal"}]}, "data.augmentation[0].mode",
     "horizontal, vertical"),
    ({"augmentation": [{"type": "zoom", "factor": 2}]}, "data.augmentation[0].factor", "0 to 1"),
    ({"class_weights": "auto"}, "data.class_weights", "none, balanced"),
    ({"source": "csv", "path": "t.csv", "task": "regression", "class_weights": "balanced"},
     "data.class_weights", "classification"),
    ({"source": "hdf5", "path": "a.h5", "stream": "yes"}, "data.stream", "true or false"),
    ({"source": "hdf5", "path": "a.h5", "stream": True, "samples": 5}, "data.samples", "stream"),
    ({"source": "npz", "path": "a.npz", "stream": True}, "data.stream", "folder, hdf5"),
])
def test_bad_values_name_the_key_and_the_allowed_values(section, where, words):
    with pytest.raises(FormatError) as caught:
        DataConfig.from_dict(section)
    assert caught.value.where == where
    assert words in str(caught.value)


def test_load_dataset_checks_the_section_too():
    with pytest.raises(FormatError, match="data.source"):
        load_dataset({"source": "nope"})
    with pytest.raises(FormatError, match="data.validation_split"):
        load_dataset(DataConfig(validation_split=2.0))
    assert DataConfig(source="shapes", image_size=16).image_size == (16, 16)


def test_an_unknown_key_is_kept_and_warned_about_with_a_suggestion():
    dataset = load_dataset({"source": "spirals", "validaton_split": 0.5})
    assert dataset.val_count == 120  # the default split: the misspelt key did nothing...
    assert any("data.validaton_split" in w and "'validation_split'" in w for w in data_warnings(dataset))


# ---------------------------------------------------------------------------- digits


def _class_counts(y, k):
    return np.bincount(y, minlength=k)


def test_digits_are_8x8_images_split_with_stratification():
    progress = RecordingProgress()
    dataset = load_dataset({"source": "digits"}, progress)
    assert dataset.x_train.shape == (1437, 8, 8, 1) and dataset.x_val.shape == (360, 8, 8, 1)
    assert dataset.x_train.dtype == np.float32 and dataset.y_train.dtype == np.int32
    assert dataset.x_train.min() == 0.0 and dataset.x_train.max() == 1.0  # scaled by 16
    assert dataset.input_shape == (8, 8, 1) and dataset.num_classes == 10
    assert dataset.class_names == [str(i) for i in range(10)] and dataset.task == "classification"
    assert dataset.description == "scikit-learn digits: 1,437 train / 360 validation, 8x8x1, 10 classes"
    from sklearn.datasets import load_digits

    everything = np.bincount(load_digits().target)
    for counts, share in ((_class_counts(dataset.y_train, 10), 0.8), (_class_counts(dataset.y_val, 10), 0.2)):
        assert np.all(np.abs(counts - everything * share) <= 1)
    assert progress.steps[-1][0] == progress.steps[-1][1]  # finished
    assert data_warnings(dataset, (8, 8, 1)) == []


def test_the_same_seed_gives_the_same_split_and_another_seed_another():
    first, again = load_dataset({"seed": 3}), load_dataset({"seed": 3})
    other = load_dataset({"seed": 4})
    assert np.array_equal(first.x_train, again.x_train) and np.array_equal(first.y_val, again.y_val)
    assert not np.array_equal(first.x_train, other.x_train)


def test_digits_options_classes_samples_and_autoencoder():
    three = load_dataset({"classes": 3, "samples": 100, "validation_split": 0.25})
    assert three.num_classes == 3 and set(np.unique(three.y_train)) == {0, 1, 2}
    assert len(three.x_train) == 75 and len(three.x_val) == 25
    auto = load_dataset({"source": "digits", "target": "input"})
    assert auto.task == "reconstruction" and auto.num_classes is None
    assert auto.y_train is auto.x_train  # no second copy
    assert auto.extras["labels_train"].shape == (1437,)
    arguments = auto.fit_arguments(32)
    assert arguments["y"] is auto.x_train and arguments["validation_data"][1] is auto.x_val


# ---------------------------------------------------------------------------- shapes


def test_shapes_boxes_hold_exactly_the_objects_pixels():
    from workbench.data.shapes import make_shapes

    made = make_shapes(300, (32, 32), 6, 0.05, seed=1)
    assert made.images.shape == (300, 32, 32, 3) and made.images.dtype == np.float32
    assert 0 <= made.images.min() and made.images.max() <= 255
    assert set(np.unique(made.labels)) == set(range(6))
    for image, mask, box in zip(made.images, made.masks, made.boxes):
        assert mask.any()
        x0, y0, x1, y1 = box
        ys, xs = np.nonzero(mask)
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x0, y0, x1, y1)  # tight
        assert not mask[:, :x0].any() and not mask[:, x1:].any()
        assert not mask[:y0].any() and not mask[y1:].any()
        # The object is brighter than the background where the mask says it is.
        assert image[mask].max(axis=-1).mean() > image[~mask].max(axis=-1).mean() + 40


def test_shapes_dataset_classification_and_segmentation_agree():
    section = {"source": "shapes", "samples": 200, "seed": 5}
    labels = load_dataset(section)
    masks = load_dataset({**section, "task": "segmentation"})
    assert labels.class_names == list(SHAPE_KINDS[:4]) and labels.num_classes == 4
    assert labels.x_train.shape == (160, 32, 32, 3) and labels.x_train.max() <= 1.0
    assert np.array_equal(labels.x_train, masks.x_train)  # same images, same split
    assert masks.y_train.shape == (160, 32, 32, 1) and masks.y_train.dtype == np.float32
    assert set(np.unique(masks.y_train)) == {0.0, 1.0}
    assert np.array_equal(masks.extras["labels_train"], labels.y_train)
    for mask, box in zip(masks.y_train[..., 0], masks.extras["boxes_train"]):
        x0, y0, x1, y1 = box
        assert mask[y0:y1, x0:x1].sum() == mask.sum() > 0
    assert masks.task == "segmentation" and masks.num_classes is None
    assert "segmentation masks" in masks.description
    again = load_dataset(section)
    assert np.array_equal(again.x_train, labels.x_train)


def test_shapes_size_and_noise():
    quiet = load_dataset({"source": "shapes", "samples": 40, "image_size": [16, 24], "noise": 0.0})
    assert quiet.input_shape == (16, 24, 3)
    image = quiet.x_train[0]
    x0, y0, x1, y1 = quiet.extras["boxes_train"][0]
    background = np.ones(image.shape[:2], bool)
    background[y0:y1, x0:x1] = False
    assert np.ptp(image[background], axis=0).max() == 0  # no noise: one flat background colour


# ---------------------------------------------------------------------------- tabular


def test_spirals_and_blobs_are_2d_with_balanced_classes():
    spirals = load_dataset({"source": "spirals", "classes": 4, "samples": 400})
    assert spirals.x_train.shape == (320, 2) and spirals.num_classes == 4
    assert np.all(np.bincount(spirals.y_train) == 80)
    assert np.abs(spirals.x_train).max() < 1.6
    # Arms interleave: at any radius every class is present (the classes are not blobs).
    radius = np.hypot(*spirals.x_train.T)
    ring = (radius > 0.5) & (radius < 0.7)
    assert set(np.unique(spirals.y_train[ring])) == {0, 1, 2, 3}
    blobs = load_dataset({"source": "blobs", "classes": 5, "samples": 500, "noise": 0.3, "seed": 2})
    assert blobs.x_train.shape == (400, 2) and blobs.class_names == [f"blob {i}" for i in range(5)]
    centres = np.array([blobs.x_train[blobs.y_train == c].mean(axis=0) for c in range(5)])
    spread = np.array([blobs.x_train[blobs.y_train == c].std(axis=0).mean() for c in range(5)])
    assert np.all(spread < 0.45)
    assert np.abs(centres).max() <= 5.5


# ---------------------------------------------------------------------------- preprocessing


def test_standardize_and_minmax_use_training_statistics_only():
    standard = load_dataset({"source": "blobs", "preprocessing": ["standardize"]})
    assert np.allclose(standard.x_train.mean(axis=0), 0, atol=1e-5)
    assert np.allclose(standard.x_train.std(axis=0), 1, atol=1e-4)
    assert not np.allclose(standard.x_val.mean(axis=0), 0, atol=1e-3)  # not refitted on validation
    raw = load_dataset({"source": "blobs", "preprocessing": []})
    mean, std = raw.x_train.mean(axis=0), raw.x_train.std(axis=0)
    assert np.allclose(standard.x_val, (raw.x_val - mean) / std, atol=1e-4)
    minmax = load_dataset({"source": "blobs", "preprocessing": ["minmax"]})
    assert np.allclose(minmax.x_train.min(axis=0), 0) and np.allclose(minmax.x_train.max(axis=0), 1)
    low, high = raw.x_train.min(axis=0), raw.x_train.max(axis=0)
    assert np.allclose(minmax.x_val, (raw.x_val - low) / (high - low), atol=1e-5)
    # New inputs go through the same fitted map.
    assert np.allclose(minmax.preprocessor.transform(raw.x_val), minmax.x_val)


def test_steps_compose_in_order_and_images_get_per_channel_statistics():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (50, 4, 4, 3)) * np.array([1.0, 0.5, 0.1])
    pre = Preprocessor.fit(["scale", "minmax"], images, 255.0)
    out = pre.transform(images)
    assert out.dtype == np.float32
    assert np.allclose(out.min(axis=(0, 1, 2)), 0, atol=1e-6)
    assert np.allclose(out.max(axis=(0, 1, 2)), 1, atol=1e-6)
    assert pre.applied[0] == "scale: divided by 255"
    stats = compute_stats(images)
    accumulator = StatsAccumulator()
    for part in np.array_split(images, 7):
        accumulator.add(part)
    streamed = accumulator.stats(3)
    assert np.allclose(streamed.mean, stats.mean) and np.allclose(streamed.std, stats.std)
    assert np.allclose(stats.mean, images.reshape(-1, 3).mean(axis=0))
    constant = Preprocessor.fit(["standardize"], np.ones((10, 2)), None)
    assert np.all(np.isfinite(constant.transform(np.ones((3, 2)))))
    unknown = Preprocessor.fit(["scale"], np.full((3, 2), 50.0), None)
    assert unknown.identity and "no known maximum" in unknown.applied[0]


def test_onehot_labels_and_balanced_class_weights():
    dataset = load_dataset({"source": "blobs", "preprocessing": ["onehot"], "class_weights": "balanced"})
    assert dataset.y_train.shape == (480, 3) and dataset.y_train.dtype == np.float32
    assert np.all(dataset.y_train.sum(axis=1) == 1)
    assert dataset.fit_arguments(16)["class_weight"] == dataset.class_weight
    from sklearn.utils.class_weight import compute_class_weight

    from workbench.data.split import balanced_class_weights

    labels = np.array([0] * 50 + [1] * 10 + [2] * 5)
    expected = compute_class_weight("balanced", classes=np.array([0, 1, 2]), y=labels)
    weights = balanced_class_weights(labels, 4)
    assert [weights[i] for i in range(3)] == pytest.approx(expected.tolist())
    assert weights[3] == 1.0  # a class missing from the training data still gets a weight


def test_split_falls_back_when_a_class_is_too_small_to_stratify():
    labels = np.array([0] * 30 + [1] * 30 + [2])
    train, val, note = split_indices(len(labels), 0.2, 0, labels)
    assert len(train) + len(val) == 61 and len(set(train) | set(val)) == 61
    assert note and "class 2 has only 1 sample" in note
    train, val, note = split_indices(10, 0.0, 0, None)
    assert len(train) == 10 and len(val) == 0 and note is None


# ---------------------------------------------------------------------------- warnings


def _dataset(x_train, y_train, x_val=None, y_val=None, **options) -> Dataset:
    x_val = x_train[::4] if x_val is None else x_val
    y_val = y_train[::4] if y_val is None else y_val
    return Dataset(x_train, y_train, x_val, y_val, **options)


def test_warnings_for_crafted_data():
    rng = np.random.default_rng(0)
    balanced = rng.normal(size=(120, 4)).astype(np.float32)
    labels = np.arange(120) % 3
    assert data_warnings(_dataset(balanced, labels, num_classes=3)) == []

    skewed = np.array([0] * 100 + [1] * 20)
    (warning,) = data_warnings(_dataset(balanced, skewed, num_classes=2, class_names=["cat", "dog"]))
    assert "imbalanced" in warning and "'cat' has 100" in warning and "'dog' only 20" in warning
    assert "5.0 to 1" in warning and "balanced" in warning

    unscaled = balanced * 100
    (warning,) = data_warnings(_dataset(unscaled, labels, num_classes=3))
    assert "unscaled" in warning and "minmax or standardize" in warning
    shifted = balanced + 40
    assert any("unscaled" in w for w in data_warnings(_dataset(shifted, labels, num_classes=3)))

    holes = balanced.copy()
    holes[5, 1] = np.nan
    holes[7, 0] = np.inf
    found = data_warnings(_dataset(holes, labels, x_val=balanced[:30], num_classes=3))
    assert any("training inputs contain 2 NaN or infinite values (in 2 samples)" in w for w in found)

    tiny = data_warnings(_dataset(balanced, labels, x_val=balanced[:6], y_val=labels[:6], num_classes=3))
    assert any("only 6 samples" in w for w in tiny)
    none = data_warnings(_dataset(balanced, labels, x_val=balanced[:0], y_val=labels[:0], num_classes=3))
    assert any("no validation data" in w for w in none)

    missing = data_warnings(_dataset(balanced, labels, x_val=balanced[:30], y_val=np.zeros(30, int),
                                     num_classes=3))
    assert any("2 classes have no validation samples" in w for w in missing)
    absent = data_warnings(_dataset(balanced, labels, num_classes=4))
    assert any("1 of 4 classes have no training samples (class 3)" in w for w in absent)


def test_warning_names_both_shapes_when_the_model_input_differs():
    dataset = load_dataset({"source": "digits"})
    assert data_warnings(dataset, (8, 8, 1)) == []
    assert data_warnings(dataset, (None, 8, 8, 1)) == []  # with the batch dimension
    assert data_warnings(dataset, (None, None, 1)) == []  # any image size
    (warning,) = data_warnings(dataset, (28, 28, 1))
    assert "(8, 8, 1)" in warning and "(28, 28, 1)" in warning
    (warning,) = data_warnings(dataset, (64,))
    assert "(64,)" in warning


# ---------------------------------------------------------------------------- training


def test_fit_arguments_train_a_model(keras):
    dataset = load_dataset({"source": "spirals", "samples": 120, "class_weights": "balanced"})
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    arguments = dataset.fit_arguments(32)
    assert arguments["batch_size"] == 32 and arguments["x"] is dataset.x_train
    history = model.fit(**arguments, epochs=1, verbose=0)
    assert np.isfinite(history.history["val_loss"][0])


def test_augmentation_layers_and_augmented_training(keras):
    layers = augmentation_layers({"augmentation": [
        "flip", {"type": "rotate", "factor": 0.2}, "zoom", {"name": "translation", "factor": 0.3},
        "contrast", {"type": "noise", "stddev": 0.1}]})
    assert [type(layer).__name__ for layer in layers] == [
        "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast", "GaussianNoise"]
    assert layers[1].factor == (-0.2, 0.2) and layers[3].height_factor == 0.3
    dataset = load_dataset({"source": "digits", "samples": 200, "augmentation": ["rotation", "noise"]})
    arguments = dataset.fit_arguments(50)
    x, y = next(iter(arguments["x"]))
    assert tuple(x.shape) == (50, 8, 8, 1) and tuple(y.shape) == (50,)
    # Augmented batches differ from every original image (rotated and noisy).
    originals = dataset.x_train.reshape(len(dataset.x_train), -1)
    distances = np.abs(originals[None] - x.numpy().reshape(50, 1, -1)).sum(axis=-1).min(axis=1)
    assert np.all(distances > 0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(**arguments, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0]) and "val_loss" in history.history


def test_segmentation_masks_follow_the_geometric_augmentation(keras):
    dataset = load_dataset({"source": "shapes", "task": "segmentation", "samples": 64, "image_size": 16,
                            "augmentation": [{"type": "flip", "mode": "horizontal_and_vertical"},
                                             {"type": "rotation", "factor": 0.25}, "contrast"],
                            "noise": 0.0, "seed": 1})
    x, y = next(iter(dataset.fit_arguments(64)["x"]))
    x, y = x.numpy(), y.numpy()
    assert set(np.unique(y)) <= {0.0, 1.0} and y.shape == (len(dataset.x_train), 16, 16, 1)
    # Where the mask is, the pixels are the bright object; elsewhere the darker background.
    inside = (x.max(axis=-1) * y[..., 0]).sum() / y.sum()
    outside = (x.max(axis=-1) * (1 - y[..., 0])).sum() / (1 - y).sum()
    assert inside > outside + 0.2


def test_augmentation_needs_images(tmp_path):
    with pytest.raises(FormatError, match="flip transforms images, and spirals gives rows"):
        DataConfig.from_dict({"source": "spirals", "augmentation": ["noise", "flip"]})
    path = tmp_path / "rows.npz"
    np.savez(path, x=np.zeros((10, 3)), y=np.arange(10) % 2)
    with pytest.raises(WorkbenchError, match=r"zoom transforms images .* shaped \(3,\)"):
        load_dataset({"source": "npz", "path": str(path), "augmentation": ["zoom"]})
    noisy = load_dataset({"source": "npz", "path": str(path), "augmentation": ["noise"]})
    assert [type(layer).__name__ for layer in noisy.augmentation] == ["GaussianNoise"]


def test_cancelling_returns_none():
    progress = RecordingProgress()
    progress.cancel()
    assert load_dataset({"source": "digits"}, progress) is None
