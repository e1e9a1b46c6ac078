"""HDF5 files larger than memory, streamed batch by batch through ``tf.data``.

Only the labels (one small value per sample) are read whole, to split and stratify; inputs
(and masks) are read a batch at a time, each batch's rows in increasing order (HDF5 reads
those fastest), in a new order every epoch. Preprocessing statistics are gathered in one
sequential pass over the file.
"""

from __future__ import annotations

import math

import numpy as np

from workbench.data.config import DataConfig
from workbench.data.files import (
    choose_keys,
    existing_file,
    hdf5_arrays,
    hdf5_dataset,
    open_hdf5,
    read_hdf5_array,
)
from workbench.data.labels import class_labels, float_targets
from workbench.data.preprocess import Preprocessor, StatsAccumulator
from workbench.data.raw import Cancelled, StreamData, known_max_of
from workbench.data.split import split_indices
from workbench.errors import WorkbenchError
from workbench.tasks import Progress

_BLOCK = 1024  # rows per read of the statistics pass


def stream_hdf5(config: DataConfig, progress: Progress) -> StreamData:
    """An HDF5 file as batched, prefetched ``tf.data`` pipelines of preprocessed batches."""
    path = existing_file(config.path, "hdf5")
    notes = []
    with open_hdf5(path) as handle:
        x_key, y_key, test_keys = choose_keys(hdf5_arrays(handle), config, str(path))
        if test_keys:
            notes.append(f"{path.name}: the test arrays {test_keys[0]} are not used when streaming")
        inputs = hdf5_dataset(handle, x_key, path)
        if not inputs.shape or inputs.shape[0] == 0:
            raise WorkbenchError(f"{path}: {x_key} is empty: there are no samples")
        if inputs.dtype.kind not in "biuf":
            raise WorkbenchError(f"{path}: {x_key} holds values of type {inputs.dtype}, not numbers")
        count = inputs.shape[0]
        sample_shape = tuple(inputs.shape[1:]) or (1,)
        known_max = known_max_of(inputs[: min(count, 64)])
        streamed_y = config.task == "segmentation"
        targets, names = None, None
        if y_key is not None:
            item = hdf5_dataset(handle, y_key, path)
            if len(item) != count:
                raise WorkbenchError(f"{path}: {x_key} has {count:,} samples but {y_key} has "
                                     f"{len(item):,}; they must have one target per sample")
            if streamed_y:
                y_shape = tuple(item.shape[1:]) + ((1,) if item.ndim == 3 else ())
                if len(y_shape) != 3 or y_shape[:2] != sample_shape[:2]:
                    raise WorkbenchError(f"{path}: {y_key} has shape {tuple(item.shape)}; segmentation "
                                         f"needs one mask per image, shaped (N, {sample_shape[0]}, "
                                         f"{sample_shape[1] if len(sample_shape) > 1 else '?'}, 1)")
            else:
                targets = read_hdf5_array(handle, y_key, path)
                if config.task == "classification":
                    targets, names = class_labels(targets, f"{path}: {y_key}")
                else:
                    targets = float_targets(targets, f"{path}: {y_key}")
        labels = targets if config.task == "classification" and targets is not None else None
        train, val, note = split_indices(count, config.validation_split, config.seed, labels)
        if note:
            notes.append(note)
        stats = None
        if any(step in ("standardize", "minmax") for step in config.preprocessing):
            stats = _file_stats(inputs, train, count, len(sample_shape), progress)
    pre = Preprocessor.from_stats(config.preprocessing, stats, known_max)
    num_classes = len(names) if names else (int(labels.max()) + 1 if labels is not None else None)
    onehot = "onehot" in config.preprocessing
    rng = np.random.default_rng(config.seed)

    def reader(indices: np.ndarray, shuffle: bool):
        def generate():
            import h5py

            order = rng.permutation(indices) if shuffle else indices
            with h5py.File(path, "r") as file:
                xs = file[x_key]
                ys = file[y_key] if streamed_y else None
                for start in range(0, len(order), config.batch_size):
                    rows = np.sort(order[start:start + config.batch_size])
                    x = pre.transform(xs[rows].reshape((len(rows), *sample_shape)), in_place=True)
                    if config.autoencoder:
                        yield x, x
                    elif streamed_y:
                        yield x, ys[rows].astype(np.float32).reshape((len(rows), *y_shape))
                    elif onehot:
                        yield x, np.eye(num_classes, dtype=np.float32)[targets[rows]]
                    else:
                        yield x, targets[rows]
        return generate

    if config.autoencoder:
        y_spec = (np.float32, sample_shape)
    elif streamed_y:
        y_spec = (np.float32, y_shape)
    elif onehot:
        y_spec = (np.float32, (num_classes,))
    else:
        y_spec = (targets.dtype, tuple(targets.shape[1:]))

    def pipeline(indices: np.ndarray, shuffle: bool):
        import tensorflow as tf

        signature = (tf.TensorSpec((None, *sample_shape), tf.float32),
                     tf.TensorSpec((None, *y_spec[1]), tf.as_dtype(y_spec[0])))
        dataset = tf.data.Dataset.from_generator(reader(indices, shuffle), output_signature=signature)
        # A known length lets Keras count batches and show epoch progress.
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(
            math.ceil(len(indices) / config.batch_size)))
        return dataset.prefetch(tf.data.AUTOTUNE)

    def kept(indices):
        return None if targets is None or config.autoencoder else targets[indices]

    return StreamData(
        pipeline(train, True), pipeline(val, False) if len(val) else None, kept(train),
        kept(val) if len(val) else None, len(train), len(val), sample_shape, path.name,
        task=config.task, class_names=names, preprocessor=pre, batch_size=config.batch_size, notes=notes)


def _file_stats(inputs, train: np.ndarray, count: int, rank: int, progress: Progress):
    """Statistics of the training rows, read in sequential blocks (validation rows skipped)."""
    in_train = np.zeros(count, dtype=bool)
    in_train[train] = True
    accumulator = StatsAccumulator()
    for start in range(0, count, _BLOCK):
        if progress.cancelled():
            raise Cancelled
        stop = min(start + _BLOCK, count)
        rows = inputs[start:stop][in_train[start:stop]]
        accumulator.add(rows[:, None] if rows.ndim == 1 else rows)
        progress.step(stop, count, f"measuring the training inputs: {stop:,} of {count:,}")
    return accumulator.stats(rank)
