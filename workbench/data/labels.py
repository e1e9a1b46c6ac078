"""Labels as the rest of the engine wants them: class indices 0..K-1, or float targets.

Files hold labels in many forms (strings, floats that are whole numbers, one-hot rows, class
numbers that skip values); these helpers turn them into one form or say clearly why not.
"""

from __future__ import annotations

import numpy as np

from workbench.errors import WorkbenchError


def class_labels(y: np.ndarray, where: str) -> tuple[np.ndarray, list[str] | None]:
    """Class indices (int32, shape (N,)) and class names when the labels were not 0..K-1.

    Args:
        y: the labels as read: (N,) or (N, 1) numbers or strings, or (N, K) one-hot rows.
        where: names the file and array for messages ("data.npz: y").

    Raises:
        WorkbenchError: NaN labels, non-whole numbers, or a shape that is not one label per
            sample.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 2 and y.shape[1] > 1 and np.issubdtype(y.dtype, np.number) and _one_hot(y):
        return np.argmax(y, axis=1).astype(np.int32), None
    if y.ndim != 1:
        raise WorkbenchError(f"{where}: labels have shape {tuple(y.shape)}; classification needs one "
                             "label per sample (or one-hot rows); for other targets set the task to "
                             "regression or segmentation")
    if y.dtype.kind in "SUO":
        text = np.array([v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in y])
        names, indices = np.unique(text, return_inverse=True)
        return indices.astype(np.int32), [str(n) for n in names]
    if y.dtype.kind == "b":
        return y.astype(np.int32), None
    if y.dtype.kind not in "iuf":
        raise WorkbenchError(f"{where}: labels of type {y.dtype} cannot be class labels")
    if y.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(y))
        if bad.size:
            raise WorkbenchError(f"{where}: label of sample {int(bad[0])} is {y[bad[0]]}; "
                                 f"{bad.size:,} labels are missing (NaN or infinite)")
        if np.any(y != np.round(y)):
            sample = y[np.flatnonzero(y != np.round(y))[0]]
            raise WorkbenchError(f"{where}: labels such as {sample:g} are not whole numbers; classes "
                                 "need whole numbers or names (set the task to regression for "
                                 "numeric targets)")
    values = np.unique(y)
    if values.size and values[0] == 0 and values[-1] == values.size - 1:
        return y.astype(np.int32), None
    # Labels that skip numbers (1, 2, 5) or go negative become 0..K-1, named by their values.
    _, indices = np.unique(y, return_inverse=True)
    names = [f"{v:g}" if isinstance(v, float) else str(v) for v in values.tolist()]
    return indices.astype(np.int32), names


def float_targets(y: np.ndarray, where: str) -> np.ndarray:
    """Regression or mask targets as float32; NaN targets are refused."""
    y = np.asarray(y)
    if y.dtype.kind not in "iufb":
        raise WorkbenchError(f"{where}: targets of type {y.dtype} are not numbers")
    y = y.astype(np.float32)
    if y.ndim == 1:
        y = y[:, None]
    bad = ~np.isfinite(y)
    if bad.any():
        first = int(np.flatnonzero(bad.reshape(len(y), -1).any(axis=1))[0])
        raise WorkbenchError(f"{where}: the target of sample {first} is missing (NaN or infinite)")
    return y


def one_hot(y: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows of zeros with a one at each label (float32)."""
    rows = np.zeros((len(y), num_classes), dtype=np.float32)
    rows[np.arange(len(y)), y] = 1.0
    return rows


def _one_hot(y: np.ndarray) -> bool:
    return bool(np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1))
