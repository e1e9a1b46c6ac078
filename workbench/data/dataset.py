"""``Dataset``: loaded data ready for ``model.fit``, with what people and checks need to know."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.errors import WorkbenchError

SPLITS = ("train", "val")


@dataclass
class Dataset:
    """Training and validation data, in memory or streamed.

    Attributes:
        x_train, y_train, x_val, y_val: the arrays of in-memory sources (inputs float32;
            labels int32 class indices, float32 one-hot rows with "onehot", float32 masks or
            targets otherwise). For streamed sources x_* are None and y_* hold the class
            labels when there are any (for histograms and class weights), else None.
        class_names: names by class index, if the source knows them.
        task: "classification", "segmentation", "regression" or "reconstruction" (autoencoder:
            the target is the input).
        input_shape: the shape of one input sample, e.g. (8, 8, 1).
        num_classes: how many classes (classification only).
        description: one line for people.
        extras: more arrays and facts: "boxes_train"/"boxes_val" (shapes: x0, y0, x1, y1 in
            pixels, x1 and y1 exclusive), "labels_train"/"labels_val" (class labels where the
            target is something else), "x_test"/"y_test" (a test set the source ships),
            "feature_names" (CSV columns).
        class_weight: Keras' class_weight dict when balanced class weights were asked for.
        train_stream, val_stream: batched ``tf.data.Dataset``s for streamed sources.
        preprocessor: the fitted input preprocessing (``Preprocessor``), to prepare new inputs
            the same way (``dataset.preprocessor.transform(x)``).
        notes: warnings found while loading (a split that could not be stratified, ignored
            options); ``data_warnings`` reports them with its own checks.
        augmentation: Keras layers applied to training batches by ``fit_arguments``.
        seed: seeds the training shuffle of pipelines built here.
        stream_batch_size: the batch size the streams were built with.
    """

    x_train: np.ndarray | None = None
    y_train: np.ndarray | None = None
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    class_names: list[str] | None = None
    task: str = "classification"
    input_shape: tuple = ()
    num_classes: int | None = None
    description: str = ""
    extras: dict = field(default_factory=dict)
    class_weight: dict | None = None
    train_stream: Any = None
    val_stream: Any = None
    preprocessor: Any = None
    notes: list[str] = field(default_factory=list)
    augmentation: list = field(default_factory=list)
    seed: int | None = None
    stream_batch_size: int | None = None

    def __post_init__(self) -> None:
        if not self.input_shape and self.x_train is not None:
            self.input_shape = tuple(int(d) for d in np.shape(self.x_train)[1:])
        self.input_shape = tuple(self.input_shape)

    # ------------------------------------------------------------------ facts
    @property
    def streamed(self) -> bool:
        """Whether the inputs are read from disk batch by batch."""
        return self.train_stream is not None

    @property
    def train_count(self) -> int | None:
        if self.x_train is not None:
            return len(self.x_train)
        return self.extras.get("train_count")

    @property
    def val_count(self) -> int | None:
        if self.x_val is not None:
            return len(self.x_val)
        return self.extras.get("val_count")

    # ---------------------------------------------------------------- samples
    def held_out(self) -> tuple | None:
        """(x, y) to look at a trained model with: the validation arrays, the training ones
        when there is no validation split, None for streamed data."""
        if self.x_val is not None:
            return self.x_val, self.y_val
        if self.x_train is not None:
            return self.x_train, self.y_train
        return None

    def sample(self, n: int, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
        """Up to ``n`` examples (inputs, targets) of a split, for previews and checks.

        In-memory data give the first ``n``; streams give the first ``n`` their pipeline yields.
        """
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)} (got {split!r})")
        x = self.x_train if split == "train" else self.x_val
        y = self.y_train if split == "train" else self.y_val
        stream = self.train_stream if split == "train" else self.val_stream
        if x is not None or stream is None:
            if x is None:
                return np.zeros((0, *self.input_shape), np.float32), np.zeros((0,), np.float32)
            return x[:n], (x[:n] if y is None else y[:n])
        xs, ys, seen = [], [], 0
        try:
            for x_batch, y_batch in stream:
                xs.append(np.asarray(x_batch)[: n - seen])
                ys.append(np.asarray(y_batch)[: n - seen])
                seen += len(xs[-1])
                if seen >= n:
                    break
        except Exception as error:  # a broken file met while streaming: say so, not a traceback
            raise WorkbenchError(f"the data could not be read: {str(error).strip().splitlines()[0]}") \
                from None
        if not xs:
            return np.zeros((0, *self.input_shape), np.float32), np.zeros((0,), np.float32)
        return np.concatenate(xs), np.concatenate(ys)

    # --------------------------------------------------------------- training
    def fit_arguments(self, batch_size: int) -> dict:
        """Keyword arguments for ``model.fit``: data, validation data, batch size, class weights.

        In-memory data without augmentation are passed as arrays (Keras shuffles them each
        epoch). Augmented data and streams are passed as ``tf.data`` pipelines, shuffled by the
        pipeline, batched with ``batch_size`` and prefetched.
        """
        if self.streamed:
            train, val = self.train_stream, self.val_stream
            if batch_size != self.stream_batch_size:
                train = _rebatch(train, batch_size, self.train_count)
                val = None if val is None else _rebatch(val, batch_size, self.val_count)
            arguments: dict[str, Any] = {"x": self._augmented(train), "shuffle": False}
            if val is not None:
                arguments["validation_data"] = val
        elif self.augmentation:
            import tensorflow as tf

            y = self.x_train if self.y_train is None else self.y_train
            train = tf.data.Dataset.from_tensor_slices((self.x_train, y))
            train = train.shuffle(len(self.x_train), seed=self.seed, reshuffle_each_iteration=True)
            train = self._augmented(train.batch(batch_size)).prefetch(tf.data.AUTOTUNE)
            arguments = {"x": train, "shuffle": False}
            if self.x_val is not None and len(self.x_val):
                arguments["validation_data"] = (self.x_val, self.x_val if self.y_val is None else self.y_val)
        else:
            arguments = {"x": self.x_train, "y": self.x_train if self.y_train is None else self.y_train,
                         "batch_size": batch_size, "shuffle": True}
            if self.x_val is not None and len(self.x_val):
                arguments["validation_data"] = (self.x_val, self.x_val if self.y_val is None else self.y_val)
        if self.class_weight:
            arguments["class_weight"] = dict(self.class_weight)
        return arguments

    def _augmented(self, batches):
        if not self.augmentation:
            return batches
        from workbench.data.augment import augment_batches

        return augment_batches(batches, self.augmentation, segmentation=self.task == "segmentation",
                               autoencoder=self.task == "reconstruction")


def _rebatch(dataset, batch_size: int, count: int | None):
    """A batched pipeline regrouped into batches of ``batch_size``."""
    import tensorflow as tf

    dataset = dataset.unbatch().batch(batch_size)
    if count:  # unbatching forgets the length; Keras needs it to count steps per epoch
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(math.ceil(count / batch_size)))
    return dataset.prefetch(tf.data.AUTOTUNE)
