"""Deliberate changes to the data, for experiments that teach something about them.

* ``append_channels``: extra input channels of noise or of zeros (Chollet's "noise channels"
  experiment: features that carry nothing but noise hurt generalization, zeros do not).
* ``imbalance``: keep only a share of some classes' samples, so that the effect of class
  weights can be seen. The validation split is thinned the same way (real rare classes are
  rare there too, which is why accuracy hides them), unless ``"validation": false`` keeps it
  whole so the rare classes are judged on more samples.

Both are plain data in the experiment's "data" section (checked by ``check_append_channels`` and
``check_imbalance``, called from ``DataConfig.check``) and are applied by ``load_dataset`` to
data in memory: channels before the split, the imbalance to each split after it (so the split
stays stratified).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from workbench.errors import FormatError

CHANNEL_KINDS = ("noise", "zeros")
MAX_APPENDED_CHANNELS = 4096
# A different stream of the data seed than the split's, so that asking for noise channels
# does not change which samples are held out.
_NOISE_STREAM = 0x6E6F
_IMBALANCE_STREAM = 0x696D


# ------------------------------------------------------------------------ checks
def check_append_channels(spec: Any, where: str = "data.append_channels") -> None:
    """Raise ``FormatError`` unless ``spec`` is {"kind": "noise"|"zeros", "count": N}."""
    if spec is None:
        return
    if not isinstance(spec, dict):
        raise FormatError(where, 'expected an object such as {"kind": "noise", "count": 1}')
    unknown = sorted(set(spec) - {"kind", "count"})
    if unknown:
        raise FormatError(f"{where}.{unknown[0]}", "append_channels takes kind and count")
    kind = spec.get("kind")
    if kind not in CHANNEL_KINDS:
        raise FormatError(f"{where}.kind", f"must be one of {', '.join(CHANNEL_KINDS)} (got {kind!r})")
    count = spec.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_APPENDED_CHANNELS:
        raise FormatError(f"{where}.count", f"must be a whole number from 1 to {MAX_APPENDED_CHANNELS} "
                          f"(got {count!r})")


def check_imbalance(spec: Any, where: str = "data.imbalance") -> None:
    """Raise ``FormatError`` unless ``spec`` is {"classes": [i, ...], "keep": share in (0, 1]}
    with an optional "validation": true/false."""
    if spec is None:
        return
    if not isinstance(spec, dict):
        raise FormatError(where, 'expected an object such as {"classes": [3, 8], "keep": 0.1}')
    unknown = sorted(set(spec) - {"classes", "keep", "validation"})
    if unknown:
        raise FormatError(f"{where}.{unknown[0]}", "imbalance takes classes, keep and validation")
    if not isinstance(spec.get("validation", True), bool):
        raise FormatError(f"{where}.validation", "expected true (thin the validation split too, the "
                          "default) or false (only the training split)")
    classes = spec.get("classes")
    if not isinstance(classes, list) or not classes:
        raise FormatError(f"{where}.classes",
                          "expected a list of the class indices to make rare, e.g. [3, 8]")
    for index, value in enumerate(classes):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise FormatError(f"{where}.classes[{index}]", f"must be a class index >= 0 (got {value!r})")
        if value in classes[:index]:
            raise FormatError(f"{where}.classes[{index}]", f"class {value} is listed twice")
    keep = spec.get("keep")
    if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not (
            math.isfinite(keep) and 0 < keep <= 1):
        raise FormatError(f"{where}.keep", "must be the share of those classes' training samples to "
                          f"keep, above 0 and at most 1, e.g. 0.1 (got {keep!r})")


# ------------------------------------------------------------------------ transforms
def append_channels(x: np.ndarray, spec: dict, seed: int | None, value_range: tuple[float, float],
                    stream: int = 0) -> np.ndarray:
    """``x`` with ``spec["count"]`` channels more on its last axis (features, for tables).

    Args:
        x: the inputs, (N, ..., C) or (N, F).
        spec: {"kind": "noise" or "zeros", "count": N}.
        seed: the data seed (noise is drawn once, so every epoch sees the same noise, like a
            feature of the sample).
        value_range: (low, high) of the noise: the range of the real inputs, so that the
            noise channels look like data to the network and go through preprocessing alike.
        stream: tells apart the draws of different arrays (training set, test set).

    Raises:
        FormatError: the inputs have no axis to append to (one number per sample).
    """
    if x.ndim < 2:
        raise FormatError("data.append_channels", "needs inputs with a feature or channel axis "
                          f"(these are shaped {x.shape[1:] or 'one number per sample'})")
    shape = x.shape[:-1] + (int(spec.get("count", 1)),)
    dtype = x.dtype if x.dtype.kind == "f" else np.float32
    if spec["kind"] == "zeros":
        extra = np.zeros(shape, dtype)
    else:
        rng = np.random.default_rng(None if seed is None else [seed, _NOISE_STREAM, stream])
        low, high = value_range
        extra = rng.uniform(low, high if high > low else low + 1.0, shape).astype(dtype)
    return np.concatenate([x.astype(dtype, copy=False), extra], axis=-1)


def input_range(x: np.ndarray, known_max: float | None) -> tuple[float, float]:
    """The range noise channels are drawn from: [0, the source's maximum) when it has one
    (16 for digits, 255 for 8-bit images), else the inputs' own finite minimum and maximum."""
    if known_max:
        return 0.0, float(known_max)
    finite = x[np.isfinite(x)] if x.size else x
    if not finite.size:
        return 0.0, 1.0
    return float(finite.min()), float(finite.max())


def imbalanced_indices(indices: np.ndarray, labels: np.ndarray, spec: dict, seed: int | None,
                       num_classes: int, stream: int = 0) -> np.ndarray:
    """``indices`` with only ``keep`` of the named classes' samples left (at least one each, a
    seeded choice), in their original order.

    Args:
        indices: indices of one split.
        labels: class labels of every sample (indexed by ``indices``).
        spec: {"classes": [...], "keep": share}.
        seed: the data seed.
        num_classes: how many classes the data have (a class beyond them is refused).
        stream: tells apart the draws of different splits.

    Raises:
        FormatError: a class the data do not have.
    """
    classes = list(spec["classes"])
    for index, value in enumerate(classes):
        if value >= num_classes:
            raise FormatError(f"data.imbalance.classes[{index}]",
                              f"the data have classes 0 to {num_classes - 1} (got {value})")
    rng = np.random.default_rng(None if seed is None else [seed, _IMBALANCE_STREAM, stream])
    split_labels = labels[indices]
    drop = np.zeros(len(indices), dtype=bool)
    for value in classes:
        members = np.flatnonzero(split_labels == value)
        if not len(members):
            continue
        kept = max(1, int(round(spec["keep"] * len(members))))
        dropped = rng.choice(members, len(members) - kept, replace=False)
        drop[dropped] = True
    return indices[~drop]
