"""Snapshot ensembles (Huang et al. 2017): score the snapshots kept at each cycle's end."""

from __future__ import annotations

import numpy as np


def evaluate_snapshots(model, snapshots, dataset, progress) -> dict | None:
    """Score a snapshot ensemble on the validation data: the snapshots' averaged predictions
    against the final model's (the last snapshot). Leaves the model with its final weights.

    Returns {"snapshots": k, "ensemble_val_<score>": ..., "final_val_<score>": ...} with
    accuracy for classification and mean squared error otherwise; None without validation
    data in memory or with fewer than two snapshots.
    """
    if dataset.x_val is None or len(snapshots.snapshots) < 2:
        return None
    progress.step(0, None, f"scoring the ensemble of {len(snapshots.snapshots)} snapshots")
    final = model.get_weights()
    total = None
    try:
        for index in range(len(snapshots.snapshots)):
            snapshots.restore(index)
            predicted = np.asarray(model.predict(dataset.x_val, verbose=0), dtype=np.float64)
            total = predicted if total is None else total + predicted
    finally:
        model.set_weights(final)
    last = np.asarray(model.predict(dataset.x_val, verbose=0), dtype=np.float64)
    averaged = total / len(snapshots.snapshots)
    result: dict = {"snapshots": len(snapshots.snapshots)}
    if dataset.task == "classification":
        truth = np.asarray(dataset.y_val)
        truth = truth.argmax(-1) if truth.ndim > 1 and truth.shape[-1] > 1 else truth.reshape(-1)

        def accuracy(p):
            labels = p.argmax(-1) if p.shape[-1] > 1 else (p.reshape(-1) > 0.5).astype(int)
            return float(np.mean(labels == truth))

        result.update(ensemble_val_accuracy=accuracy(averaged), final_val_accuracy=accuracy(last))
    else:
        target = np.asarray(dataset.y_val, dtype=np.float64).reshape(last.shape)
        result.update(ensemble_val_mse=float(np.mean((averaged - target) ** 2)),
                      final_val_mse=float(np.mean((last - target) ** 2)))
    return result
