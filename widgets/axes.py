"""Plot axes for counts: epochs, trials."""

from __future__ import annotations

import pyqtgraph as pg


class WholeNumberAxis(pg.AxisItem):
    """An axis of things counted (epochs, trials): ticks on whole numbers only.

    pyqtgraph ticks a short range at halves ("epoch 1.5"), which a count never is.
    """

    def tickValues(self, minVal, maxVal, size):  # noqa: N802,N803 (pyqtgraph API)
        levels = []
        seen: set[float] = set()
        for spacing, values in super().tickValues(minVal, maxVal, size):
            whole = [value for value in values if float(value).is_integer() and value not in seen]
            seen.update(whole)
            if whole:
                levels.append((max(1.0, spacing), whole))
        return levels
