"""``load_dataset``: read a source, subset, split, preprocess, weigh classes, describe.

The order matters and is the same for every source: the split comes before preprocessing, and
the preprocessing statistics (standardize, minmax) are computed on the training split only and
then applied to both, so nothing about the validation data leaks into training.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workbench.data.config import DataConfig
from workbench.data.dataset import Dataset
from workbench.data.labels import one_hot
from workbench.data.preprocess import Preprocessor
from workbench.data.raw import Cancelled, RawData, StreamData
from workbench.data.split import balanced_class_weights, split_indices, subset_indices
from workbench.data.variations import append_channels, imbalanced_indices, input_range
from workbench.errors import FormatError, WorkbenchError
from workbench.tasks import NullProgress, Progress

_STEPS = 4  # read, split, preprocess, finish: the loader's own progress steps


def load_dataset(config: DataConfig | dict, progress: Progress | None = None,
                 cache_dir: Path | None = None) -> Dataset | None:
    """Load the data an experiment's "data" section describes.

    Args:
        config: a ``DataConfig`` or the section itself (checked: ``FormatError`` at
            ``data.<key>``).
        progress: told how far loading is (downloads and folders take a while) and asked
            whether to stop.
        cache_dir: where Keras' downloadable data sets are cached (default
            ``$KERAS_HOME/datasets`` or ``~/.keras/datasets``).

    Returns:
        The dataset, or None when ``progress.cancelled()`` asked to stop.

    Raises:
        WorkbenchError: a message for people naming the file or option at fault.
    """
    config = DataConfig.from_dict(config)
    progress = progress or NullProgress()
    try:
        return _load(config, progress, cache_dir)
    except Cancelled:
        return None
    except MemoryError:
        raise WorkbenchError(
            f"the {config.source} data do not fit in memory: use fewer samples (data.samples)"
            + (", or stream: true to read it batch by batch" if config.source in ("folder", "hdf5") else "")
        ) from None


def _load(config: DataConfig, progress: Progress, cache_dir: Path | None) -> Dataset:
    progress.step(0, _STEPS, f"loading {config.source}")
    stream_reason = _stream_reason(config)
    if config.stream or stream_reason:
        for key in ("append_channels", "imbalance"):
            if getattr(config, key) is not None:
                raise FormatError(f"data.{key}", f"needs the data in memory, but {stream_reason}: "
                                  "use fewer samples or a smaller image_size")
        if config.source == "folder":
            from workbench.data.folder import stream_folder

            data = stream_folder(config, progress, stream_reason)
        else:
            from workbench.data.streams import stream_hdf5

            data = stream_hdf5(config, progress)
        return _from_stream(data, config)
    from workbench.data.sources import read_source

    raw = read_source(config, progress, cache_dir)
    if progress.cancelled():
        raise Cancelled
    return _from_raw(raw, config, progress)


def _stream_reason(config: DataConfig) -> str | None:
    """Why a folder that was not asked to stream is streamed anyway (too big), or None."""
    if config.source != "folder" or config.stream:
        return None
    from workbench.data.folder import MEMORY_LIMIT, image_format, index_folder, too_big

    _, _, images = index_folder(config.path)
    size, _, channels = image_format(images[0], config)
    if not too_big(len(images), size, channels):
        return None
    return (f"{len(images):,} images of {size[0]}x{size[1]} would take more than "
            f"{MEMORY_LIMIT / 2 ** 30:g} GiB in memory, so they are streamed from disk")


# ------------------------------------------------------------------------ in memory
def _from_raw(raw: RawData, config: DataConfig, progress: Progress) -> Dataset:
    notes = list(raw.notes) + config.unknown_key_notes()
    x, y, per_sample = raw.x, raw.y, dict(raw.per_sample)
    task = raw.task
    if config.autoencoder:
        task = "reconstruction"
        if y is not None and raw.task == "classification":
            per_sample["labels"] = y  # kept for colouring embeddings, not as a target
        y = None
    classification = task == "classification"
    strata = y if classification else per_sample.get("labels")
    if config.samples is not None and not raw.sized and config.samples < len(x):
        keep = subset_indices(len(x), config.samples, config.seed, strata)
        x, y, strata = x[keep], None if y is None else y[keep], None if strata is None else strata[keep]
        per_sample = {name: values[keep] for name, values in per_sample.items()}

    if config.append_channels is not None:
        x = append_channels(x, config.append_channels, config.seed, input_range(x, raw.known_max))

    progress.step(1, _STEPS, "splitting into training and validation data")
    train, val, note = split_indices(len(x), config.validation_split, config.seed, strata)
    if note:
        notes.append(note)
    if config.imbalance is not None and classification:
        classes = max(int(y.max()) + 1 if len(y) else 0, len(raw.class_names or ()))
        train = imbalanced_indices(train, y, config.imbalance, config.seed, classes)
        if config.imbalance.get("validation", True):
            val = imbalanced_indices(val, y, config.imbalance, config.seed, classes, stream=1)
    x_train, x_val = x[train], x[val]
    del x  # the source's full array can go before the float32 copies are made

    progress.step(2, _STEPS, "preprocessing")
    pre = Preprocessor.fit(config.preprocessing, x_train, raw.known_max)
    x_train = pre.transform(x_train, in_place=True)
    x_val = pre.transform(x_val, in_place=True)
    extras = dict(raw.extras)
    for name, values in per_sample.items():
        extras[f"{name}_train"], extras[f"{name}_val"] = values[train], values[val]

    num_classes = None
    class_weight = None
    if classification:
        labels = [y] + ([raw.test[1]] if raw.test is not None and raw.test[1] is not None else [])
        highest = max(int(part.max()) for part in labels if len(part)) + 1
        num_classes = max(highest, len(raw.class_names or ()))
        y_train, y_val = y[train].astype(np.int32), y[val].astype(np.int32)
        if config.class_weights == "balanced":
            class_weight = balanced_class_weights(y_train, num_classes)
        if "onehot" in config.preprocessing:
            y_train, y_val = one_hot(y_train, num_classes), one_hot(y_val, num_classes)
    elif task == "reconstruction":
        y_train, y_val = x_train, x_val  # the same arrays: no second copy
    else:
        y_train, y_val = y[train], y[val]
    if raw.test is not None:
        x_test = raw.test[0]
        if config.append_channels is not None:  # the model's inputs have the extra channels
            x_test = append_channels(x_test, config.append_channels, config.seed,
                                     input_range(x_test, raw.known_max), stream=1)
        extras["x_test"] = pre.transform(x_test)
        y_test = raw.test[1]
        if task == "reconstruction":
            if y_test is not None:
                extras["labels_test"] = y_test
            y_test = extras["x_test"]
        elif y_test is not None and classification and "onehot" in config.preprocessing:
            y_test = one_hot(y_test, num_classes)
        if y_test is not None:
            extras["y_test"] = y_test
    extras["preprocessing"] = pre.applied

    progress.step(3, _STEPS, "finishing")
    input_shape = tuple(int(d) for d in x_train.shape[1:])
    if not classification and raw.class_names and "labels" in per_sample:
        extras["class_names"] = raw.class_names  # the kinds behind labels_train/labels_val
    dataset = Dataset(
        x_train, y_train, x_val, y_val, class_names=raw.class_names if classification else None,
        task=task, input_shape=input_shape, num_classes=num_classes,
        description=describe(raw.label, len(x_train), len(x_val), input_shape, task, num_classes),
        extras=extras, class_weight=class_weight, preprocessor=pre, notes=notes,
        augmentation=_augmentation(config, input_shape), seed=config.seed)
    progress.step(_STEPS, _STEPS, dataset.description)
    return dataset


# ------------------------------------------------------------------------ streamed
def _from_stream(data: StreamData, config: DataConfig) -> Dataset:
    classification = data.task == "classification" and not config.autoencoder
    task = "reconstruction" if config.autoencoder else data.task
    num_classes = None
    class_weight = None
    y_train, y_val = data.y_train, data.y_val
    if classification and y_train is not None:
        num_classes = max(len(data.class_names or ()), int(y_train.max()) + 1 if len(y_train) else 0)
        if config.class_weights == "balanced":
            class_weight = balanced_class_weights(y_train, num_classes)
        if "onehot" in config.preprocessing:
            y_train = one_hot(y_train, num_classes)
            y_val = None if y_val is None else one_hot(y_val, num_classes)
    description = describe(data.label, data.n_train, data.n_val, data.input_shape, task, num_classes,
                           streamed=data.batch_size)
    return Dataset(
        None, y_train, None, y_val, class_names=data.class_names if classification else None, task=task,
        input_shape=data.input_shape, num_classes=num_classes, description=description,
        extras={"train_count": data.n_train, "val_count": data.n_val,
                "preprocessing": data.preprocessor.applied},
        class_weight=class_weight, train_stream=data.train, val_stream=data.val,
        preprocessor=data.preprocessor, notes=list(data.notes) + config.unknown_key_notes(),
        augmentation=_augmentation(config, data.input_shape), seed=config.seed,
        stream_batch_size=data.batch_size)


# ------------------------------------------------------------------------ shared
def _augmentation(config: DataConfig, input_shape: tuple) -> list:
    """The augmentation layers, refused with a reason when the inputs are not images."""
    if not config.augmentation:
        return []
    if len(input_shape) != 3:
        kinds = [spec["type"] for spec in config.augmentation_specs() if spec["type"] != "noise"]
        if kinds:
            raise FormatError("data.augmentation", f"{kinds[0]} transforms images (height, width, "
                              f"channels), but these inputs are shaped {input_shape}; only noise "
                              "suits other data")
    from workbench.data.augment import augmentation_layers

    return augmentation_layers(config)


def describe(label: str, n_train: int, n_val: int, input_shape: tuple, task: str,
             num_classes: int | None, streamed: int | None = None) -> str:
    """One line for people: "scikit-learn digits: 1,437 train / 360 validation, 8x8x1, 10 classes"."""
    if len(input_shape) == 1:
        shape = f"{input_shape[0]} feature{'s' if input_shape[0] != 1 else ''}"
    else:
        shape = "x".join(str(d) for d in input_shape)
    parts = [f"{n_train:,} train / {n_val:,} validation", shape]
    parts.append({
        "classification": f"{num_classes} classes",
        "segmentation": "segmentation masks",
        "regression": "regression targets",
        "reconstruction": "autoencoder (the target is the input)",
    }[task])
    if streamed:
        parts.append(f"streamed in batches of {streamed}")
    return f"{label}: " + ", ".join(parts)
