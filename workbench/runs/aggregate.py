"""Summaries across runs: the mean and min-max band of one metric over a group of seeds."""

from __future__ import annotations

import math


def aggregate(histories: list[dict[str, list[float]]], key: str) -> dict:
    """Per-epoch mean, min and max of ``key`` across runs of possibly different lengths.

    At each epoch only the runs that reached it and have a finite value count, so a run
    stopped early narrows the band instead of dragging the mean towards zero.

    Args:
        histories: ``Run.history()`` of each run.
        key: the metric ("loss", "val_accuracy", ...); runs without it are left out.

    Returns:
        ``{"epoch": [1, 2, ...], "mean": [...], "min": [...], "max": [...], "count": [...],
        "runs": n}``: lists as long as the longest run, ``count`` the runs behind each
        epoch (NaN where it is 0), ``runs`` the histories that had ``key``.
    """
    columns = [history[key] for history in histories if history.get(key)]
    length = max((len(column) for column in columns), default=0)
    result: dict = {"epoch": [], "mean": [], "min": [], "max": [], "count": []}
    for index in range(length):
        values = [float(column[index]) for column in columns
                  if index < len(column) and _finite(column[index])]
        result["epoch"].append(index + 1)
        result["count"].append(len(values))
        result["mean"].append(math.fsum(values) / len(values) if values else math.nan)
        result["min"].append(min(values) if values else math.nan)
        result["max"].append(max(values) if values else math.nan)
    result["runs"] = len(columns)
    return result


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
