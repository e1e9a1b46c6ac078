"""A live plot's y range that moves only when the data leave it.

pyqtgraph's auto-range refits a view to its data after every change. On a live run the loss
reaches a new low almost every frame, so the range moves every frame: the axis is re-ticked
and, because auto-range runs lazily while the scene paints, the plot is painted twice. That is
more than half of what a live plot costs the GUI thread (measured with the epoch plot: 12 ms
per update with auto-range, 5 ms with a range that holds).

``LiveYRange`` chooses a range with some headroom and keeps it while the data stay inside;
it refits when they leave it (or come within 3% of an edge, where a curve looks cut off) or
come to fill less than a third of it. People keep control:
once they zoom or pan the view it is left alone, until they press the plot's auto-range
button ("A"), which hands the view back.
"""

from __future__ import annotations

import math

import pyqtgraph as pg

# Headroom on each side, as a share of the data's span: a falling loss crosses the lower
# edge a few times over a run, not every frame.
HEADROOM = 0.12
# Refit when the data fill less than this share of the range (a spike has scrolled away).
MIN_FILL = 1 / 3
# Data this close to an edge (a share of the range) count as leaving: a curve drawn on the
# axis itself looks cut off, and its points' markers would be.
EDGE = 0.03


class LiveYRange:
    """Keeps ``view``'s y range around data given by ``show(low, high)``."""

    def __init__(self, view: pg.ViewBox):
        self.view = view
        self.following = True
        self._range: tuple[float, float] | None = None
        view.sigRangeChangedManually.connect(self._on_view_range_changed_manually)

    def reset(self) -> None:
        """A new run: follow its data from scratch."""
        self.following = True
        self._range = None
        self.view.enableAutoRange(y=True)

    def show(self, low: float, high: float) -> None:
        """Make room for data from ``low`` to ``high`` (NaN or infinite: nothing to show)."""
        if self.view.autoRangeEnabled()[1] and self._range is not None:
            self.following = True  # the "A" button: the view is ours again
        if not self.following or not (math.isfinite(low) and math.isfinite(high)):
            return
        if self._range is not None:
            bottom, top = self._range
            edge = EDGE * (top - bottom)
            inside = bottom + edge <= low and high <= top - edge
            if inside and (high - low) >= MIN_FILL * (top - bottom):
                return
        span = high - low or abs(high) or 1.0
        self._range = (low - HEADROOM * span, high + HEADROOM * span)
        self.view.setYRange(*self._range, padding=0)  # also turns pyqtgraph's auto-range off

    def _on_view_range_changed_manually(self, _mask) -> None:
        self.following = False
