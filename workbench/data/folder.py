"""Folders of images, one sub-folder per class, read with Keras'
``image_dataset_from_directory``: into memory when they fit, else streamed in batches.

Before Keras sees the folder, the common mistakes get their own message (no such folder,
images directly in the folder instead of in class sub-folders, no images at all), and a
picture that cannot be decoded is named by its path instead of TensorFlow's anonymous
"Unknown image file format".
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

from workbench.backend import keras_module
from workbench.data.config import DataConfig
from workbench.data.preprocess import Preprocessor, StatsAccumulator
from workbench.data.raw import Cancelled, RawData, StreamData
from workbench.errors import WorkbenchError
from workbench.tasks import Progress

# What Keras' image_dataset_from_directory reads.
IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
# Folders whose decoded float32 pixels would take more than this are streamed instead.
MEMORY_LIMIT = 1 << 30
STATS_IMAGES = 2048  # how many training images standardize/minmax statistics of a stream use
_READ_BATCH = 128


def index_folder(path: str) -> tuple[Path, list[str], list[Path]]:
    """The folder, its class names (sub-folders) and its image files, checked.

    Raises:
        WorkbenchError: no such folder, a file, no class sub-folders, or no images.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise WorkbenchError(f"{root}: no such folder (the image folder named by data.path)")
    if not root.is_dir():
        raise WorkbenchError(f"{root}: is a file; the folder source needs a folder with one "
                             "sub-folder of images per class")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        loose = any(p.suffix.lower() in IMAGE_SUFFIXES for p in root.iterdir())
        hint = "the images are directly in it; " if loose else ""
        raise WorkbenchError(f"{root}: has no sub-folders; {hint}put the images of each class in a "
                             f"sub-folder named after the class (e.g. {root / 'cats'})")
    images = [p for name in classes for p in sorted((root / name).rglob("*"))
              if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    if not images:
        raise WorkbenchError(f"{root}: holds no images ({', '.join(IMAGE_SUFFIXES)}) in its "
                             f"sub-folders {', '.join(classes[:5])}{'...' if len(classes) > 5 else ''}")
    return root, classes, images


def image_format(first: Path, config: DataConfig) -> tuple[tuple[int, int], str, int]:
    """(height, width), Keras colour mode and channel count: the config's size or the first
    image's, and grayscale when the first image is."""
    from PIL import Image

    try:
        with Image.open(first) as image:
            width, height = image.size
            mode = image.mode
    except (OSError, ValueError) as error:
        raise WorkbenchError(f"{first}: cannot be read as an image ({error})") from None
    grey = mode in ("1", "L", "LA", "I", "I;16", "F")
    return config.image_size or (height, width), "grayscale" if grey else "rgb", 1 if grey else 3


def too_big(count: int, size: tuple[int, int], channels: int) -> bool:
    """Whether ``count`` decoded images would pass ``MEMORY_LIMIT``."""
    return count * size[0] * size[1] * channels * 4 > MEMORY_LIMIT


def read_folder(config: DataConfig, progress: Progress) -> RawData:
    """Every image of the folder in memory, in file order (the loader splits them)."""
    root, classes, images = index_folder(config.path)
    size, colour, _ = image_format(images[0], config)
    dataset = _keras_directory(root, colour, size, batch_size=_READ_BATCH, shuffle=False)
    count = len(dataset.file_paths)
    xs, ys = [], []
    try:
        for batch, (x, y) in enumerate(dataset):
            if progress.cancelled():
                raise Cancelled
            xs.append(x.numpy())
            ys.append(y.numpy())
            done = min((batch + 1) * _READ_BATCH, count)
            progress.step(done, count, f"reading images: {done:,} of {count:,}")
    except Cancelled:
        raise
    except Exception as error:  # TensorFlow's decode errors do not say which file
        raise _decode_error(dataset.file_paths, error) from None
    return RawData(np.concatenate(xs).astype(np.float32, copy=False), np.concatenate(ys).astype(np.int32),
                   f"image folder {root.name}", class_names=classes, known_max=255.0)


def stream_folder(config: DataConfig, progress: Progress, reason: str | None = None) -> StreamData:
    """The folder as batched, prefetched ``tf.data`` pipelines split by Keras with the seed."""
    import tensorflow as tf

    root, classes, images = index_folder(config.path)
    size, colour, channels = image_format(images[0], config)
    seed = config.seed if config.seed is not None else int(np.random.default_rng().integers(1 << 30))
    options = {"batch_size": config.batch_size, "seed": seed}
    progress.step(0, None, f"indexing {len(images):,} images")
    try:
        if config.validation_split > 0:
            train, val = _keras_directory(root, colour, size, validation_split=config.validation_split,
                                          subset="both", **options)
        else:
            train, val = _keras_directory(root, colour, size, shuffle=True, **options), None
    except ValueError as error:  # e.g. a split too small to hold a single image
        raise WorkbenchError(f"{root}: {error}") from None
    y_train = _labels_of(train.file_paths, root, classes)
    y_val = _labels_of(val.file_paths, root, classes) if val is not None else None
    stats = None
    if any(step in ("standardize", "minmax") for step in config.preprocessing):
        stats = _stream_stats(train, progress)
    pre = Preprocessor.from_stats(config.preprocessing, stats, 255.0)
    notes = [reason] if reason else []
    if stats is not None and len(y_train) > STATS_IMAGES:
        notes.append(f"preprocessing statistics were estimated from {STATS_IMAGES:,} of the "
                     f"{len(y_train):,} training images")
    num_classes = len(classes)
    onehot = "onehot" in config.preprocessing

    def prepare(x, y):
        x = pre.transform(x)
        if config.autoencoder:
            return x, x
        return x, (tf.one_hot(y, num_classes) if onehot else y)

    def pipeline(dataset):
        return dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    return StreamData(
        pipeline(train), pipeline(val) if val is not None else None,
        None if config.autoencoder else y_train, None if config.autoencoder or y_val is None else y_val,
        len(y_train), 0 if y_val is None else len(y_val), (*size, channels), f"image folder {root.name}",
        class_names=classes, preprocessor=pre, batch_size=config.batch_size, notes=notes)


def _keras_directory(root: Path, colour: str, size: tuple[int, int], **options):
    keras = keras_module()
    # Keras prints "Found N files" even with verbose=False in some versions; stdout carries
    # the CLI's JSON, so it is kept clean.
    with contextlib.redirect_stdout(io.StringIO()):
        return keras.utils.image_dataset_from_directory(
            str(root), labels="inferred", label_mode="int", color_mode=colour, image_size=size,
            verbose=False, **options)


def _labels_of(paths: list[str], root: Path, classes: list[str]) -> np.ndarray:
    """Class indices of files from the class folder each lies in."""
    index = {name: i for i, name in enumerate(classes)}
    return np.array([index[Path(p).relative_to(root).parts[0]] for p in paths], dtype=np.int32)


def _stream_stats(train, progress: Progress):
    """Raw statistics of up to ``STATS_IMAGES`` training images."""
    accumulator = StatsAccumulator()
    seen = 0
    progress.step(0, None, "measuring the training images for preprocessing")
    for x, _ in train:
        accumulator.add(x.numpy())
        seen += len(x)
        if seen >= STATS_IMAGES:
            break
    return accumulator.stats(3)


def _decode_error(paths: list[str], error: Exception) -> WorkbenchError:
    """Find the file TensorFlow could not decode (it does not say) and name it."""
    from PIL import Image

    for path in paths:
        try:
            with Image.open(path) as image:
                image.load()
        except Exception as problem:  # Pillow raises many kinds for broken files
            return WorkbenchError(f"{path}: cannot be read as an image ({type(problem).__name__}: "
                                  f"{problem}); remove or replace it")
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return WorkbenchError(f"the images could not be read: {message}")

