"""``data_warnings``: things about loaded data that will hurt training, found before it starts.

Each warning is one sentence that says what was found, in numbers, and what to do about it.
Streamed data are checked on a sample of their first batches.
"""

from __future__ import annotations

import numpy as np

from workbench.data.dataset import Dataset

IMBALANCE_RATIO = 3.0  # most common class / rarest class above this is worth a warning
UNSCALED_MAX = 10.0  # inputs beyond this magnitude train poorly without scaling
UNSCALED_MEAN = 5.0
TINY_VALIDATION = 20  # fewer validation samples than this give noisy validation metrics
_STREAM_SAMPLE = 256


def data_warnings(dataset: Dataset, model_input_shape: tuple | None = None) -> list[str]:
    """Problems with ``dataset`` (and with feeding it to a model taking ``model_input_shape``).

    Args:
        dataset: loaded data.
        model_input_shape: the shape of one sample the model's Input takes, such as (8, 8, 1);
            None entries match any size, and a leading None (the batch) is ignored.

    Returns:
        Sentences for people: the loader's own notes, then class imbalance, unscaled inputs,
        NaN or infinite values, an input shape the model does not take, classes missing from
        a split, and a validation split too small to trust.
    """
    warnings = list(dataset.notes)
    warnings += _shape_warnings(dataset, model_input_shape)
    x_train, y_train = _inputs(dataset, "train")
    x_val, y_val = _inputs(dataset, "val")
    warnings += _value_warnings(x_train, x_val, y_train, y_val, dataset)
    if dataset.task == "classification":
        warnings += _class_warnings(dataset)
    warnings += _validation_warnings(dataset)
    return warnings


def _inputs(dataset: Dataset, split: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The split's arrays, or a sample of a stream's."""
    x = dataset.x_train if split == "train" else dataset.x_val
    y = dataset.y_train if split == "train" else dataset.y_val
    if x is None and dataset.streamed:
        try:
            return dataset.sample(_STREAM_SAMPLE, split)
        except Exception:  # a broken file shows when training reads it; checks must not fail
            return None, None
    return x, y


def _shape_warnings(dataset: Dataset, model_shape: tuple | None) -> list[str]:
    if model_shape is None:
        return []
    model_shape = tuple(model_shape)
    data_shape = tuple(dataset.input_shape)
    if len(model_shape) == len(data_shape) + 1 and model_shape[0] is None:
        model_shape = model_shape[1:]
    fits = len(model_shape) == len(data_shape) and all(
        m is None or m == d for m, d in zip(model_shape, data_shape))
    if fits:
        return []
    return [f"the data's samples are shaped {_shape(data_shape)} but the model's Input takes "
            f"{_shape(model_shape)}: change the Input's shape to {_shape(data_shape)}"
            + (" or the data's image size" if len(data_shape) == 3 else "")]


def _value_warnings(x_train, x_val, y_train, y_val, dataset: Dataset) -> list[str]:
    warnings = []
    for name, array in (("training inputs", x_train), ("validation inputs", x_val),
                        ("training targets", y_train), ("validation targets", y_val)):
        if array is None or not np.issubdtype(np.asarray(array).dtype, np.number) or not np.size(array):
            continue
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        if bad:
            rows = np.asarray(array).reshape(len(array), -1)
            samples = int(np.count_nonzero(~np.isfinite(rows).all(axis=1)))
            warnings.append(f"the {name} contain {bad:,} NaN or infinite values (in {samples:,} samples); "
                            "a batch holding one can turn the loss into NaN: fill or drop those values")
    if x_train is not None and np.size(x_train):
        finite = np.asarray(x_train)[np.isfinite(x_train)]
        if finite.size:
            biggest, mean = float(np.abs(finite).max()), float(finite.mean())
            if biggest > UNSCALED_MAX or abs(mean) > UNSCALED_MEAN:
                warnings.append(f"the inputs look unscaled: values reach {biggest:,.4g} (mean {mean:,.4g}); "
                                "networks train best on values near -1..1: add scale (images), "
                                "minmax or standardize to the preprocessing")
    return warnings


def _class_warnings(dataset: Dataset) -> list[str]:
    labels = _class_indices(dataset.y_train)
    if labels is None or not labels.size:
        return []
    count = max(dataset.num_classes or 0, int(labels.max()) + 1)
    counts = np.bincount(labels, minlength=count)
    warnings = []
    missing = [_name(dataset, c) for c in np.flatnonzero(counts == 0)]
    if missing:
        warnings.append(f"{len(missing)} of {count} classes have no training samples "
                        f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''})")
    present = counts[counts > 0]
    if present.size > 1 and present.max() / present.min() > IMBALANCE_RATIO:
        common, rare = int(np.argmax(counts)), int(np.argmin(np.where(counts > 0, counts, counts.max() + 1)))
        hint = "" if dataset.class_weight else ": consider class_weights \"balanced\""
        warnings.append(f"the classes are imbalanced: {_name(dataset, common)} has {counts[common]:,} "
                        f"training samples but {_name(dataset, rare)} only {counts[rare]:,} "
                        f"({counts[common] / counts[rare]:.1f} to 1){hint}")
    val = _class_indices(dataset.y_val)
    if val is not None and val.size:
        absent = [_name(dataset, c) for c in np.flatnonzero(counts > 0)
                  if c not in set(np.unique(val).tolist())]
        if absent:
            warnings.append(f"{len(absent)} classes have no validation samples "
                            f"({', '.join(absent[:5])}{', ...' if len(absent) > 5 else ''}); "
                            "their validation accuracy cannot be measured")
    return warnings


def _validation_warnings(dataset: Dataset) -> list[str]:
    count = dataset.val_count
    if count is None:
        return []
    if count == 0:
        return ["there is no validation data (validation_split is 0): validation loss, early "
                "stopping and the best checkpoint need some"]
    if count < TINY_VALIDATION:
        return [f"the validation split holds only {count} samples: its metrics will be noisy; "
                "raise validation_split"]
    return []


def _class_indices(y) -> np.ndarray | None:
    if y is None:
        return None
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, axis=1)
    if y.ndim > 2 or y.dtype.kind not in "iub":
        return None
    return y.reshape(-1).astype(np.int64)


def _name(dataset: Dataset, index: int) -> str:
    names = dataset.class_names or []
    return repr(names[index]) if 0 <= index < len(names) else f"class {index}"


def _shape(shape: tuple) -> str:
    text = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({text},)" if len(shape) == 1 else f"({text})"
