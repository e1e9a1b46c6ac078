"""The built-in sources (scikit-learn digits, generated shapes, spirals and blobs) and the one
function that reads any in-memory source into ``RawData``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workbench.data.config import SHAPE_KINDS, DataConfig
from workbench.data.raw import RawData
from workbench.tasks import Progress

DEFAULT_SAMPLES = {"shapes": 1000, "spirals": 600, "blobs": 600}
DEFAULT_CLASSES = {"digits": 10, "shapes": 4, "spirals": 3, "blobs": 3}
DEFAULT_NOISE = {"shapes": 0.05, "spirals": 0.08, "blobs": 1.0}
SHAPES_SIZE = 32


def read_source(config: DataConfig, progress: Progress, cache_dir: Path | None = None) -> RawData:
    """Every sample of the configured source, in memory (``samples`` applied to generated sets)."""
    source = config.source
    if source == "digits":
        return digits(config)
    if source == "shapes":
        return shapes(config)
    if source == "spirals":
        return spirals(config)
    if source == "blobs":
        return blobs(config)
    if source in ("npz", "hdf5", "csv"):
        from workbench.data import files

        return {"npz": files.read_npz, "hdf5": files.read_hdf5, "csv": files.read_csv}[source](config)
    if source == "folder":
        from workbench.data.folder import read_folder

        return read_folder(config, progress)
    from workbench.data.keras_datasets import read_keras_dataset

    return read_keras_dataset(config, progress, cache_dir)


def digits(config: DataConfig) -> RawData:
    """scikit-learn's 8x8 digits (values 0-16), as (N, 8, 8, 1) images."""
    from sklearn.datasets import load_digits

    classes = config.classes or DEFAULT_CLASSES["digits"]
    bunch = load_digits(n_class=classes)
    x = bunch.images.astype(np.float32)[..., None]
    return RawData(x, bunch.target.astype(np.int32), "scikit-learn digits",
                   class_names=[str(c) for c in range(classes)], known_max=16.0)


def shapes(config: DataConfig) -> RawData:
    """Generated RGB shapes; labels are the kinds, or masks for the segmentation task."""
    from workbench.data.shapes import make_shapes

    classes = config.classes or DEFAULT_CLASSES["shapes"]
    noise = DEFAULT_NOISE["shapes"] if config.noise is None else config.noise
    size = config.image_size or (SHAPES_SIZE, SHAPES_SIZE)
    made = make_shapes(config.samples or DEFAULT_SAMPLES["shapes"], size, classes, noise, config.seed)
    per_sample = {"boxes": made.boxes}
    if config.task == "segmentation":
        y = made.masks[..., None].astype(np.float32)
        per_sample["labels"] = made.labels
    else:
        y = made.labels
    return RawData(made.images, y, "generated shapes", task=config.task,
                   class_names=list(SHAPE_KINDS[:classes]), known_max=255.0, per_sample=per_sample,
                   sized=True)


def spirals(config: DataConfig) -> RawData:
    """Interleaved spiral arms in the plane, one class per arm, radius up to about 1."""
    rng = np.random.default_rng(config.seed)
    arms = config.classes or DEFAULT_CLASSES["spirals"]
    noise = DEFAULT_NOISE["spirals"] if config.noise is None else config.noise
    n = config.samples or DEFAULT_SAMPLES["spirals"]
    labels = np.arange(n) % arms
    t = rng.uniform(0, 1, n)
    radius = 0.1 + 0.9 * t
    angle = 2 * np.pi * labels / arms + 3 * np.pi * t  # a turn and a half per arm
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    x += rng.normal(0, noise, x.shape)
    order = rng.permutation(n)
    return RawData(x[order].astype(np.float32), labels[order].astype(np.int32), "generated spirals",
                   class_names=[f"arm {i}" for i in range(arms)], sized=True)


def blobs(config: DataConfig) -> RawData:
    """scikit-learn's Gaussian blobs in the plane, one class per blob."""
    from sklearn.datasets import make_blobs

    centres = config.classes or DEFAULT_CLASSES["blobs"]
    spread = DEFAULT_NOISE["blobs"] if config.noise is None else config.noise
    # Centres within +-5 keep the values in a range networks like without any scaling.
    x, y = make_blobs(n_samples=config.samples or DEFAULT_SAMPLES["blobs"], n_features=2,
                      centers=centres, cluster_std=spread, center_box=(-5.0, 5.0),
                      random_state=config.seed)
    return RawData(x.astype(np.float32), y.astype(np.int32), "generated blobs",
                   class_names=[f"blob {i}" for i in range(centres)], sized=True)
