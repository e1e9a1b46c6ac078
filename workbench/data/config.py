"""``DataConfig``: the experiment's "data" section, parsed and checked.

The section stays plain JSON data. Every problem is a ``FormatError`` at ``data.<key>`` that
names the allowed values, so a typo in a file reads as one clear line. Keys this version does
not know are kept (``extra``) so nothing is lost on save; ``load_dataset`` turns them into a
warning with a "did you mean" so a misspelt option is not silently ignored.
"""

from __future__ import annotations

import copy
import difflib
import math
from dataclasses import dataclass, field, fields
from typing import Any

from workbench.data.variations import check_append_channels, check_imbalance
from workbench.errors import FormatError

BUILT_IN_SOURCES = ("digits", "shapes", "spirals", "blobs")
KERAS_SOURCES = ("mnist", "fashion_mnist", "cifar10", "cifar100")
FILE_SOURCES = ("folder", "npz", "hdf5", "csv")
SOURCES = BUILT_IN_SOURCES + KERAS_SOURCES + FILE_SOURCES

PREPROCESSING = ("scale", "standardize", "minmax", "onehot")
TASKS = ("classification", "segmentation", "regression")
CLASS_WEIGHTS = ("none", "balanced")

# Augmentation names as the Data panel writes them, and the long forms Keras' layer names use.
AUGMENTATIONS = ("flip", "rotation", "zoom", "translation", "contrast", "noise")
AUGMENTATION_ALIASES = {"rotate": "rotation", "translate": "translation"}
# The options each augmentation takes besides its type, with their defaults.
AUGMENTATION_OPTIONS: dict[str, dict[str, Any]] = {
    "flip": {"mode": "horizontal"},
    "rotation": {"factor": 0.1},
    "zoom": {"factor": 0.1},
    "translation": {"factor": 0.1},
    "contrast": {"factor": 0.2},
    "noise": {"stddev": 0.05},
}
FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")

# Which sources read each source option; any other source refuses it rather than ignore it.
SOURCE_OPTIONS: dict[str, tuple[str, ...]] = {
    "path": FILE_SOURCES,
    "x_key": ("npz", "hdf5"),
    "y_key": ("npz", "hdf5"),
    "image_size": ("shapes", "folder"),
    # A folder is decoded by Keras as a whole; a subset would still read every image.
    "samples": tuple(s for s in SOURCES if s != "folder"),
    "classes": ("digits", "shapes", "spirals", "blobs"),
    "noise": ("shapes", "spirals", "blobs"),
    "stream": ("folder", "hdf5"),
    "batch_size": ("folder", "hdf5"),
}
# Which sources each task other than classification suits.
TASK_SOURCES = {
    "segmentation": ("shapes", "npz", "hdf5"),
    "regression": ("npz", "hdf5", "csv"),
}
# Sources whose samples are rows of numbers, never images (image transforms do not apply).
POINT_SOURCES = ("spirals", "blobs", "csv")
SHAPE_KINDS = ("square", "circle", "triangle", "cross", "diamond", "ring")
MAX_CLASSES = {"digits": 10, "shapes": len(SHAPE_KINDS), "spirals": 20, "blobs": 100}


@dataclass
class DataConfig:
    """Where the data come from and what is done to them before training.

    Attributes:
        source: one of ``SOURCES``.
        validation_split: the share of the data held out for validation, 0 <= split < 1
            (stratified by class for classification).
        preprocessing: steps in the order they are applied: "scale" (divide by the source's
            known maximum: 16 for digits, 255 for 8-bit images; sources without one are left
            as they are), "standardize" (zero mean, unit variance), "minmax" (to [0, 1]) —
            all three computed on the training split only — and "onehot" (labels become
            one-hot rows, so the loss must be ``categorical_crossentropy`` rather than
            ``sparse_categorical_crossentropy``).
        seed: seeds the split, subsets and generated data; None gives a new draw each load.
        path: the file or folder of the folder/npz/hdf5/csv sources.
        x_key, y_key: array names in an npz or HDF5 file (default "x" and "y", or the
            x_train/y_train/x_test/y_test layout of Keras' own archives).
        target: the label column of a CSV file (default: the last column); "input" makes the
            target the input itself (autoencoders), for any source.
        image_size: (height, width) of generated shapes or of images read from a folder
            (default: 32 for shapes, the first image's size for folders).
        samples: how many samples to generate (shapes, spirals, blobs), or at most how many to
            use of the others (a seeded subset, stratified by class).
        classes: how many classes (digits: 2-10, shapes: kinds of object, spirals: arms,
            blobs: clusters).
        noise: background noise of shapes (0-1, share of the pixel range), spread of spirals
            and blobs.
        task: "classification", "segmentation" (the object's mask as target) or "regression".
        augmentation: random transforms of training images, each a name ("flip") or an object
            ({"type": "rotation", "factor": 0.2}); see ``AUGMENTATION_OPTIONS``.
        class_weights: "none" or "balanced" (rare classes weigh more in the loss).
        batch_size: batch size of streamed sources.
        stream: read a folder or HDF5 file batch by batch instead of into memory.
        append_channels: {"kind": "noise" or "zeros", "count": N}: N input channels more (table
            features, for rows of numbers), of noise in the inputs' range or of zeros; the
            model's Input must have them too (see ``variations.py``).
        imbalance: {"classes": [i, ...], "keep": share}: keep only that share of those
            classes' samples, in both splits (with "validation": false, in the training split
            only).
        extra: keys this version does not know, kept so nothing is lost on save.
    """

    source: str = "digits"
    validation_split: float = 0.2
    preprocessing: list = field(default_factory=lambda: ["scale"])
    seed: int | None = 0
    path: str | None = None
    x_key: str | None = None
    y_key: str | None = None
    target: str | None = None
    image_size: tuple[int, int] | None = None
    samples: int | None = None
    classes: int | None = None
    noise: float | None = None
    task: str = "classification"
    augmentation: list = field(default_factory=list)
    class_weights: str = "none"
    batch_size: int = 32
    stream: bool = False
    append_channels: dict | None = None
    imbalance: dict | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # 32 and [32, 32] mean the same size; one form keeps comparisons and checks simple.
        if self.image_size is not None:
            self.image_size = _image_size(self.image_size)
        if self.class_weights is None:
            self.class_weights = "none"

    # ------------------------------------------------------------------ JSON
    @classmethod
    def from_dict(cls, data: dict) -> DataConfig:
        """Parse and check a data section; raises ``FormatError`` at ``data.<key>``.

        A ``DataConfig`` is accepted too (checked, and copied so the caller's stays its own).
        """
        if isinstance(data, DataConfig):
            config = copy.deepcopy(data)
            config.check()
            return config
        if not isinstance(data, dict):
            raise FormatError("data", "expected an object such as {\"source\": \"digits\"}")
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {k: copy.deepcopy(v) for k, v in data.items() if k in known}
        config = cls(**values, extra={k: copy.deepcopy(v) for k, v in data.items() if k not in known})
        config.check()
        return config

    def to_dict(self) -> dict:
        """The section as JSON data; keys at their default value are left out."""
        defaults = DataConfig()
        data: dict[str, Any] = {"source": self.source}
        for item in fields(self):
            name = item.name
            if name in ("source", "extra"):
                continue
            value = getattr(self, name)
            if value == getattr(defaults, name):
                continue
            if name == "image_size":
                height, width = value
                value = height if height == width else [height, width]
            data[name] = copy.deepcopy(value)
        data.update(copy.deepcopy(self.extra))
        return data

    # The names the design's generic config round-trip test looks for.
    get_config = to_dict

    @classmethod
    def from_config(cls, data: dict) -> DataConfig:
        return cls.from_dict(data)

    # --------------------------------------------------------------- helpers
    @property
    def autoencoder(self) -> bool:
        """Whether the target is the input itself."""
        return self.target == "input"

    def unknown_key_notes(self) -> list[str]:
        """One line per key this version does not know, with a suggestion where one is close."""
        known = [f.name for f in fields(self) if f.name != "extra"]
        notes = []
        for key in self.extra:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            notes.append(f"data.{key} is not a data option and was ignored{hint}")
        return notes

    def augmentation_specs(self) -> list[dict]:
        """The augmentation entries as {"type": long name, option: value, ...} with defaults."""
        specs = []
        for entry in self.augmentation:
            options = dict(entry) if isinstance(entry, dict) else {"type": entry}
            name = options.pop("type", None) or options.pop("name", None)
            options.pop("name", None)
            kind = AUGMENTATION_ALIASES.get(name, name)
            specs.append({"type": kind, **AUGMENTATION_OPTIONS[kind], **options})
        return specs

    # ------------------------------------------------------------------ checks
    def check(self) -> None:
        """Raise ``FormatError`` naming the first bad value and what is allowed."""
        if self.source not in SOURCES:
            raise FormatError("data.source", f"unknown source {self.source!r}; choose one of "
                              f"{', '.join(SOURCES)}")
        split = self.validation_split
        if isinstance(split, bool) or not isinstance(split, (int, float)) or not (
                math.isfinite(split) and 0 <= split < 1):
            raise FormatError("data.validation_split",
                              f"must be a number from 0 up to (not including) 1, e.g. 0.2 (got {split!r})")
        self._check_preprocessing()
        if self.seed is not None:
            _whole(self.seed, "data.seed", 0)
        self._check_source_options()
        if self.task not in TASKS:
            raise FormatError("data.task", f"must be one of {', '.join(TASKS)} (got {self.task!r})")
        if self.task in TASK_SOURCES and self.source not in TASK_SOURCES[self.task]:
            raise FormatError("data.task", f"{self.task} needs a source with {_task_needs(self.task)}: "
                              f"{', '.join(TASK_SOURCES[self.task])} (got {self.source!r})")
        if self.target is not None:
            if not isinstance(self.target, str) or not self.target:
                raise FormatError("data.target", "expected a column name, or \"input\" for an autoencoder")
            if self.target != "input" and self.source != "csv":
                raise FormatError("data.target", "only \"input\" (the target is the input itself) "
                                  f"works with {self.source}; named columns are for csv")
        if self.autoencoder and self.task != "classification":
            raise FormatError("data.task", "leave the task out when the target is \"input\" "
                              "(an autoencoder reconstructs its input)")
        self._check_augmentation()
        if self.class_weights not in CLASS_WEIGHTS:
            raise FormatError("data.class_weights",
                              f"must be one of {', '.join(CLASS_WEIGHTS)} (got {self.class_weights!r})")
        if self.class_weights == "balanced" and (self.task != "classification" or self.autoencoder):
            raise FormatError("data.class_weights", "balanced class weights need a classification task")
        self._check_variations()

    def _check_variations(self) -> None:
        check_append_channels(self.append_channels)
        check_imbalance(self.imbalance)
        for key in ("append_channels", "imbalance"):
            if getattr(self, key) is not None and self.stream:
                raise FormatError(f"data.{key}", "needs the data in memory: leave out stream: true")
        if self.imbalance is not None and (self.task != "classification" or self.autoencoder):
            raise FormatError("data.imbalance", "makes some classes rare, so it needs a "
                              "classification task with class labels")

    def _check_preprocessing(self) -> None:
        steps = self.preprocessing
        if not isinstance(steps, list):
            raise FormatError("data.preprocessing",
                              f"expected a list of steps from {', '.join(PREPROCESSING)}")
        for index, step in enumerate(steps):
            if step not in PREPROCESSING:
                raise FormatError(f"data.preprocessing[{index}]",
                                  f"unknown step {step!r}; choose from {', '.join(PREPROCESSING)}")
            if step in steps[:index]:
                raise FormatError(f"data.preprocessing[{index}]", f"{step!r} is listed twice")
        if "onehot" in steps and (self.task != "classification" or self.autoencoder):
            what = "an autoencoder" if self.autoencoder else f"a {self.task} task"
            raise FormatError(f"data.preprocessing[{steps.index('onehot')}]",
                              f"onehot turns class labels into rows; {what} has no class labels")

    def _check_source_options(self) -> None:
        for key, sources in SOURCE_OPTIONS.items():
            value = getattr(self, key)
            if value in (None, False) or (key == "batch_size" and value == 32):
                continue
            if self.source not in sources:
                raise FormatError(f"data.{key}", f"is not an option of the {self.source} source "
                                  f"(it is for {', '.join(sources)})")
        if self.source in FILE_SOURCES and (not isinstance(self.path, str) or not self.path.strip()):
            raise FormatError("data.path", "missing: choose the "
                              + ("folder of images (one sub-folder per class)" if self.source == "folder"
                                 else f"{self.source} file"))
        for key in ("x_key", "y_key"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, str) or not value):
                raise FormatError(f"data.{key}", "expected the name of an array in the file")
        if self.samples is not None:
            _whole(self.samples, "data.samples", 1)
            if self.stream:
                raise FormatError("data.samples", "cannot be combined with stream: true")
        if self.classes is not None:
            _whole(self.classes, "data.classes", 2)
            most = MAX_CLASSES[self.source]
            if self.classes > most:
                raise FormatError("data.classes", f"{self.source} has at most {most} classes "
                                  f"(got {self.classes})")
        if self.noise is not None:
            noise = self.noise
            if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not (
                    math.isfinite(noise) and noise >= 0):
                raise FormatError("data.noise", f"must be a number >= 0 (got {noise!r})")
            if self.source == "shapes" and noise > 1:
                raise FormatError("data.noise", f"shapes noise is a share of the pixel range, 0 to 1 "
                                  f"(got {noise!r})")
        if self.image_size is not None and self.source == "shapes" and min(self.image_size) < 12:
            raise FormatError("data.image_size", f"shapes need at least 12x12 pixels (got "
                              f"{self.image_size[0]}x{self.image_size[1]})")
        _whole(self.batch_size, "data.batch_size", 1)
        if not isinstance(self.stream, bool):
            raise FormatError("data.stream", "expected true or false")

    def _check_augmentation(self) -> None:
        if not isinstance(self.augmentation, list):
            raise FormatError("data.augmentation", "expected a list such as [\"flip\", "
                              "{\"type\": \"rotation\", \"factor\": 0.1}]")
        names = AUGMENTATIONS + tuple(AUGMENTATION_ALIASES)
        for index, entry in enumerate(self.augmentation):
            where = f"data.augmentation[{index}]"
            options = dict(entry) if isinstance(entry, dict) else {"type": entry}
            name = options.pop("type", None) or options.pop("name", None)
            options.pop("name", None)
            if not isinstance(name, str) or name not in names:
                raise FormatError(where, f"unknown augmentation {name!r}; choose from "
                                  f"{', '.join(AUGMENTATIONS)}")
            kind = AUGMENTATION_ALIASES.get(name, name)
            if kind != "noise" and self.source in POINT_SOURCES:
                raise FormatError(where, f"{kind} transforms images, and {self.source} gives rows of "
                                  "numbers: only noise suits them")
            allowed = AUGMENTATION_OPTIONS[kind]
            for key, value in options.items():
                if key not in allowed:
                    raise FormatError(f"{where}.{key}", f"{kind} takes {', '.join(allowed)} (got {key!r})")
                if key == "mode":
                    if value not in FLIP_MODES:
                        raise FormatError(f"{where}.mode", f"must be one of {', '.join(FLIP_MODES)} "
                                          f"(got {value!r})")
                elif isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                        math.isfinite(value) and 0 <= value <= 1):
                    raise FormatError(f"{where}.{key}", f"must be a number from 0 to 1 (got {value!r})")


def _image_size(value: Any) -> tuple[int, int]:
    """32 or [32, 32] -> (32, 32); anything else is a FormatError."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        height, width = value
    else:
        height = width = value
    for side in (height, width):
        if isinstance(side, bool) or not isinstance(side, int) or not 1 <= side <= 4096:
            raise FormatError("data.image_size", "expected a size in pixels (e.g. 32) or [height, width], "
                              f"each from 1 to 4096 (got {value!r})")
    return (height, width)


def _task_needs(task: str) -> str:
    return {"segmentation": "masks", "regression": "numeric targets"}[task]


def _whole(value: Any, where: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise FormatError(where, f"must be a whole number >= {minimum} (got {value!r})")
