"""A mean curve with its min-max band: how runs of several seeds are drawn (Runs, Lessons)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor


def draw_band(plot, summary: dict, label: str, colour: str):
    """Draw ``workbench.runs.aggregate``'s ``summary`` on ``plot``: the mean as a line, the
    min-max range shaded under every line. Returns (curve, band), or None with nothing to draw."""
    epochs = np.asarray(summary["epoch"], dtype=float)
    if summary["runs"] == 0 or epochs.size == 0:
        return None
    mean, low, high = (np.asarray(summary[k], dtype=float) for k in ("mean", "min", "max"))
    finite = np.isfinite(mean) & np.isfinite(low) & np.isfinite(high)
    curve = plot.plot(epochs[finite], mean[finite], pen=pg.mkPen(colour, width=2.5), name=label)
    # The band's edges are invisible curves; FillBetweenItem shades between them.
    lower = pg.PlotDataItem(epochs[finite], low[finite], pen=pg.mkPen(None))
    upper = pg.PlotDataItem(epochs[finite], high[finite], pen=pg.mkPen(None))
    fill = QColor(colour)
    fill.setAlpha(60)
    band = pg.FillBetweenItem(lower, upper, brush=pg.mkBrush(fill))
    band.setZValue(-10)
    plot.addItem(band)
    return curve, band
