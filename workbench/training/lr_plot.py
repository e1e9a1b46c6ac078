"""The LR range test's curve as a PNG (for ``workbench lr-find --plot``), drawn by matplotlib."""

from __future__ import annotations

from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.fileio import write_atomic
from workbench.training.lr_finder import RangeTestResult

_MARKERS = {"steepest": ("#d62728", "v"), "minimum": ("#2ca02c", "o"), "valley": ("#9467bd", "s"),
            "edge": ("#7f7f7f", "x")}


def save_lr_plot(result: RangeTestResult, path: str | Path) -> None:
    """Loss against learning rate (log axis), raw and smoothed, with the suggestions marked."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise WorkbenchError(f"{path}: the plot is written as PNG: name it *.png")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.2), dpi=110)
    axes = figure.add_subplot()
    axes.plot(result.lrs, result.losses, color="#1f77b4", alpha=0.3, linewidth=1, label="loss")
    axes.plot(result.lrs, result.smoothed, color="#1f77b4", linewidth=2, label="smoothed")
    for suggestion in result.suggestions:
        color, marker = _MARKERS.get(suggestion.method, ("black", "o"))
        axes.plot([suggestion.lr], [result.smoothed[suggestion.index]], marker=marker, color=color,
                  linestyle="none", markersize=8, label=f"{suggestion.label}: {suggestion.lr:.2e}")
    axes.set_xscale("log")
    axes.set_xlabel("learning rate")
    axes.set_ylabel("loss")
    finite = result.smoothed[result.smoothed == result.smoothed]
    if len(finite):  # the divergence at the end would squash the interesting part flat
        top = max(finite[0], finite.min()) * 1.5 if finite.min() > 0 else finite.max()
        axes.set_ylim(top=top, bottom=min(result.losses.min(), finite.min()) * 0.95)
    axes.set_title("LR range test" + (f" — stopped: {result.stopped}" if result.stopped else ""),
                   fontsize=9)
    axes.grid(True, which="both", alpha=0.2)
    axes.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    try:
        write_atomic(path, lambda tmp: figure.savefig(tmp, format="png"))
    except OSError as error:
        raise WorkbenchError(f"{path}: cannot write the plot ({error.strerror or error})") from None
