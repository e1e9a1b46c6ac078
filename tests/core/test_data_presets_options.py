"""The data options the classic-experiment presets need: appended channels and class imbalance."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.data import DataConfig, load_dataset
from workbench.data.variations import append_channels, imbalanced_indices
from workbench.errors import FormatError, WorkbenchError


def digits(**options) -> dict:
    return {"source": "digits", "validation_split": 0.5, **options}


# ------------------------------------------------------------------ append_channels
def test_noise_channels_are_appended_in_the_inputs_range_and_scaled_with_them():
    plain = load_dataset(digits())
    noisy = load_dataset(digits(append_channels={"kind": "noise", "count": 3}))
    assert noisy.input_shape == (8, 8, 4) and plain.input_shape == (8, 8, 1)
    # The real channel and the split are untouched: the noise uses its own random stream.
    np.testing.assert_array_equal(noisy.x_train[..., :1], plain.x_train)
    np.testing.assert_array_equal(noisy.y_val, plain.y_val)
    noise = noisy.x_train[..., 1:]
    # Drawn in digits' raw range 0-16, then "scale" divides everything by 16: [0, 1).
    assert noise.min() >= 0 and noise.max() < 1 and 0.45 < noise.mean() < 0.55
    assert abs(np.corrcoef(noise[..., 0].ravel(), noise[..., 1].ravel())[0, 1]) < 0.05
    again = load_dataset(digits(append_channels={"kind": "noise", "count": 3}))
    np.testing.assert_array_equal(again.x_train, noisy.x_train)  # seeded: the same noise
    other = load_dataset(digits(append_channels={"kind": "noise", "count": 3}, seed=1))
    assert not np.array_equal(other.x_train[..., 1:], noise[: len(other.x_train)])


def test_zero_channels_stay_zero_even_when_standardized():
    data = load_dataset(digits(append_channels={"kind": "zeros", "count": 2},
                               preprocessing=["standardize"]))
    assert data.input_shape == (8, 8, 3)
    assert np.all(data.x_train[..., 1:] == 0) and np.all(data.x_val[..., 1:] == 0)
    assert np.all(np.isfinite(data.x_train))


def test_rows_of_numbers_get_extra_features():
    data = load_dataset({"source": "blobs", "samples": 100, "append_channels": {"kind": "noise", "count": 5}})
    assert data.input_shape == (7,)
    low, high = data.x_train[:, :2].min(), data.x_train[:, :2].max()
    # Without a known maximum the noise spans the inputs' own range.
    assert data.x_train[:, 2:].min() >= low - 1e-6 and data.x_train[:, 2:].max() <= high + 1e-6


def test_append_channels_refuses_inputs_without_a_feature_axis():
    with pytest.raises(FormatError, match="append_channels"):
        append_channels(np.zeros(10, np.float32), {"kind": "zeros", "count": 1}, 0, (0.0, 1.0))


@pytest.mark.parametrize("value, where, words", [
    ([1], "data.append_channels", "expected an object"),
    ({"kind": "gaussian"}, "data.append_channels.kind", "noise, zeros"),
    ({"kind": "noise", "count": 0}, "data.append_channels.count", "from 1"),
    ({"kind": "noise", "count": True}, "data.append_channels.count", "whole number"),
    ({"kind": "zeros", "n": 2}, "data.append_channels.n", "kind and count"),
])
def test_bad_append_channels_are_named(value, where, words):
    with pytest.raises(FormatError) as error:
        DataConfig.from_dict(digits(append_channels=value))
    assert error.value.where == where and words in str(error.value)


def test_append_channels_needs_data_in_memory():
    with pytest.raises(FormatError, match="in memory"):
        DataConfig.from_dict({"source": "hdf5", "path": "x.h5", "stream": True,
                              "append_channels": {"kind": "zeros", "count": 1}})


def test_the_option_round_trips_and_defaults_stay_out_of_the_file():
    section = digits(append_channels={"kind": "noise", "count": 2},
                     imbalance={"classes": [3], "keep": 0.2})
    config = DataConfig.from_dict(section)
    assert config.to_dict() == section
    assert "append_channels" not in DataConfig.from_dict(digits()).to_dict()
    assert config.unknown_key_notes() == []


# ------------------------------------------------------------------ imbalance
def test_imbalance_thins_the_named_classes_in_both_splits():
    plain = load_dataset(digits())
    rare = load_dataset(digits(imbalance={"classes": [3, 8], "keep": 0.1}, class_weights="balanced"))
    before, after = np.bincount(plain.y_train, minlength=10), np.bincount(rare.y_train, minlength=10)
    for cls in (3, 8):
        assert after[cls] == round(0.1 * before[cls])
    others = [c for c in range(10) if c not in (3, 8)]
    np.testing.assert_array_equal(after[others], before[others])
    val_before, val_after = np.bincount(plain.y_val, minlength=10), np.bincount(rare.y_val, minlength=10)
    assert val_after[3] == round(0.1 * val_before[3]) and val_after[5] == val_before[5]
    # Class weights are computed on the thinned training split: the rare classes weigh ~10x.
    assert rare.class_weight[3] > 8 * rare.class_weight[0]
    assert rare.num_classes == 10


def test_imbalance_can_leave_the_validation_split_whole():
    plain = load_dataset(digits())
    rare = load_dataset(digits(imbalance={"classes": [0], "keep": 0.5, "validation": False}))
    np.testing.assert_array_equal(rare.y_val, plain.y_val)
    assert np.bincount(rare.y_train)[0] == round(0.5 * np.bincount(plain.y_train)[0])


def test_imbalance_keeps_at_least_one_sample_and_is_seeded():
    train = np.arange(100)
    labels = np.repeat(np.arange(2), 50)
    spec = {"classes": [1], "keep": 0.001}
    kept = imbalanced_indices(train, labels, spec, seed=0, num_classes=2)
    assert np.sum(labels[kept] == 1) == 1 and np.sum(labels[kept] == 0) == 50
    np.testing.assert_array_equal(kept, imbalanced_indices(train, labels, spec, seed=0, num_classes=2))
    assert np.all(np.diff(kept) > 0)  # original order


@pytest.mark.parametrize("value, where, words", [
    ("3", "data.imbalance", "expected an object"),
    ({"keep": 0.1}, "data.imbalance.classes", "class indices"),
    ({"classes": [3, -1], "keep": 0.1}, "data.imbalance.classes[1]", ">= 0"),
    ({"classes": [3, 3], "keep": 0.1}, "data.imbalance.classes[1]", "twice"),
    ({"classes": [3], "keep": 0}, "data.imbalance.keep", "above 0"),
    ({"classes": [3], "keep": 1.5}, "data.imbalance.keep", "at most 1"),
    ({"classes": [3], "keep": 0.5, "validation": "no"}, "data.imbalance.validation", "true"),
    ({"classes": [3], "keep": 0.5, "share": 1}, "data.imbalance.share", "classes, keep"),
])
def test_bad_imbalance_is_named(value, where, words):
    with pytest.raises(FormatError) as error:
        DataConfig.from_dict(digits(imbalance=value))
    assert error.value.where == where and words in str(error.value)


def test_imbalance_needs_class_labels():
    with pytest.raises(FormatError, match="classification"):
        DataConfig.from_dict(digits(target="input", imbalance={"classes": [1], "keep": 0.5}))


def test_imbalance_of_a_class_the_data_lack_is_refused_when_loading():
    with pytest.raises(WorkbenchError, match=r"classes 0 to 4 \(got 7\)"):
        load_dataset(digits(classes=5, imbalance={"classes": [7], "keep": 0.5}))
