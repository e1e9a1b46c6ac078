"""What every in-memory source hands to the loader before splitting and preprocessing."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class Cancelled(Exception):
    """The progress object asked to stop; ``load_dataset`` returns None."""


@dataclass
class RawData:
    """All samples of a source, before the split.

    Attributes:
        x: inputs, (N, ...) with images as (N, H, W, C).
        y: targets as the source has them (class labels, masks, numbers), or None when the
            target is the input itself.
        label: the source for people ("scikit-learn digits", "data.npz").
        task: "classification", "segmentation" or "regression".
        class_names: names by class index, if known.
        known_max: what "scale" divides inputs by (16 for digits, 255 for 8-bit images), or None.
        per_sample: arrays aligned with ``x`` that follow it through subset and split
            ("boxes" becomes extras "boxes_train"/"boxes_val").
        test: a held-out test set the source ships (Keras' data sets), kept as extras.
        sized: True when ``samples`` was already applied (generated sets).
        extras: anything else for the dataset's extras (a CSV's feature names).
        notes: things people should know about these data (become warnings).
    """

    x: np.ndarray
    y: np.ndarray | None
    label: str
    task: str = "classification"
    class_names: list[str] | None = None
    known_max: float | None = None
    per_sample: dict[str, np.ndarray] = field(default_factory=dict)
    test: tuple[np.ndarray, np.ndarray | None] | None = None
    sized: bool = False
    extras: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def known_max_of(x: np.ndarray) -> float | None:
    """The largest value the input's type can hold, for "scale": 255 for uint8 images.

    Floats have no such maximum, except whole-number images from 0 to 255 (8-bit images
    saved as floats), which are common enough to recognise.
    """
    if x.dtype == np.uint8:
        return 255.0
    if x.dtype.kind == "u":
        return float(np.iinfo(x.dtype).max)
    if x.dtype.kind == "f" and x.ndim == 4 and x.size:
        probe = x[: min(len(x), 64)]
        if np.all(np.isfinite(probe)) and probe.min() >= 0 and 1 < probe.max() <= 255 \
                and np.all(probe == np.round(probe)):
            return 255.0
    return None


@dataclass
class StreamData:
    """A source read batch by batch from disk (a folder of images, an HDF5 file).

    Attributes:
        train, val: batched ``tf.data.Dataset``s of (inputs, targets), preprocessed; ``val`` is
            None without a validation split.
        y_train, y_val: the targets when they are one small value per sample (class labels),
            kept in memory for histograms and class weights; else None.
        n_train, n_val: sample counts.
        input_shape: the shape of one input sample.
        label, task, class_names, notes: as in ``RawData``.
        preprocessor: the fitted input map (``Preprocessor``).
        batch_size: the streams' batch size.
    """

    train: object
    val: object | None
    y_train: np.ndarray | None
    y_val: np.ndarray | None
    n_train: int
    n_val: int
    input_shape: tuple
    label: str
    task: str = "classification"
    class_names: list[str] | None = None
    preprocessor: object | None = None
    batch_size: int = 32
    notes: list[str] = field(default_factory=list)
