"""Train/validation splits, seeded subsets and balanced class weights.

Splits of classification data are stratified (scikit-learn's ``train_test_split`` with
``stratify``), so each class keeps its share in both parts to within one sample. Where a
class is too small to be split that way the split falls back to a plain shuffled one and says
so in a note rather than fail.
"""

from __future__ import annotations

import numpy as np


def split_indices(n: int, validation_split: float, seed: int | None,
                  labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Indices of the training and validation samples.

    Args:
        n: how many samples there are.
        validation_split: the share held out for validation.
        seed: the shuffle's seed (None: a new one).
        labels: class indices to stratify by, or None.

    Returns:
        (train indices, validation indices, a note for people when stratification was not
        possible, else None).
    """
    from sklearn.model_selection import train_test_split

    everything = np.arange(n)
    if validation_split <= 0 or n < 2:
        return np.random.default_rng(seed).permutation(n), np.zeros(0, dtype=np.int64), None
    note = None
    if labels is not None:
        try:
            train, val = train_test_split(everything, test_size=validation_split, random_state=seed,
                                          stratify=labels)
            return np.asarray(train), np.asarray(val), None
        except ValueError as error:  # a class with one sample, or fewer val samples than classes
            note = f"the validation split is not stratified ({_reason(error, labels)})"
    train, val = train_test_split(everything, test_size=validation_split, random_state=seed)
    return np.asarray(train), np.asarray(val), note


def subset_indices(n: int, count: int, seed: int | None, labels: np.ndarray | None = None) -> np.ndarray:
    """A seeded choice of ``count`` sample indices (stratified by ``labels``), in file order.

    File order keeps HDF5 reads sequential; the split shuffles afterwards anyway.
    """
    from sklearn.model_selection import train_test_split

    if count >= n:
        return np.arange(n)
    chosen = None
    if labels is not None:
        try:
            chosen, _ = train_test_split(np.arange(n), train_size=count, random_state=seed,
                                         stratify=labels)
        except ValueError:  # too few samples per class to stratify: a plain random choice
            chosen = None
    if chosen is None:
        chosen = np.random.default_rng(seed).choice(n, count, replace=False)
    return np.sort(np.asarray(chosen))


def balanced_class_weights(labels: np.ndarray, num_classes: int) -> dict[int, float]:
    """scikit-learn's "balanced" weights, n_samples / (n_classes * count), by class index.

    Classes missing from ``labels`` get 1.0: Keras wants a weight for every class index.
    """
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(labels)
    weights = compute_class_weight("balanced", classes=present, y=labels)
    result = {int(c): 1.0 for c in range(num_classes)}
    result.update({int(c): float(w) for c, w in zip(present, weights)})
    return result


def _reason(error: ValueError, labels: np.ndarray) -> str:
    counts = np.bincount(labels)
    smallest = int(np.argmin(np.where(counts > 0, counts, counts.max() + 1)))
    if counts[smallest] < 2:
        return f"class {smallest} has only {counts[smallest]} sample"
    return str(error).split(".")[0].lower()
