"""What keeps live plots cheap: redraws spread over the event loop, y ranges that hold."""

from __future__ import annotations

import math
import time

import pyqtgraph as pg
import pytest
from PySide6.QtCore import QCoreApplication, QTimer

from widgets.live_range import HEADROOM, LiveYRange
from widgets.tasks import DrawQueue, Pacer


# ------------------------------------------------------------------ Pacer
def test_a_pacer_runs_at_once_then_at_most_once_per_interval(qtbot):
    ran: list[float] = []
    pacer = Pacer(lambda: ran.append(time.monotonic()), interval=0.2)
    pacer.request()
    assert len(ran) == 1  # the first request runs at once
    for _ in range(5):  # requests within the interval: served once, when it is up
        pacer.request()
    assert len(ran) == 1
    qtbot.waitUntil(lambda: len(ran) == 2, timeout=2000)
    assert ran[1] - ran[0] >= 0.19
    qtbot.wait(300)
    assert len(ran) == 2  # nothing asked since: nothing runs


def test_a_pacer_runs_now_when_told_and_forgets_on_reset(qtbot):
    ran: list[str] = []
    pacer = Pacer(lambda: ran.append("draw"), interval=10.0)
    pacer.request()
    pacer.request()  # would wait 10 s
    pacer.run_now()  # a run ended: its last state at once
    assert ran == ["draw", "draw"]
    pacer.reset()  # a new run: its first request runs at once
    pacer.request()
    assert ran == ["draw", "draw", "draw"]
    pacer.request()
    pacer.reset()  # and a request waiting from the old run is dropped
    qtbot.wait(50)
    assert len(ran) == 3


# ------------------------------------------------------------------ DrawQueue
def test_queued_redraws_run_one_per_pass_of_the_event_loop(qtbot):
    queue = DrawQueue()
    ran: list[str] = []
    ticker = QTimer()  # marks each pass of the event loop in ``ran``
    ticker.setInterval(0)
    ticker.timeout.connect(lambda: ran.append("|"))
    ticker.start()
    queue.request("loss", lambda: ran.append("loss"))
    queue.request("lr", lambda: ran.append("lr"))
    queue.request("epochs", lambda: ran.append("epochs"))
    qtbot.waitUntil(lambda: "epochs" in ran, timeout=2000)
    ticker.stop()
    draws = [item for item in ran if item != "|"]
    assert draws == ["loss", "lr", "epochs"]
    # The loop got back to other work (the ticker) between any two redraws.
    assert "|" in ran[ran.index("loss"):ran.index("lr")]
    assert "|" in ran[ran.index("lr"):ran.index("epochs")]


def test_a_redraw_asked_again_runs_once_with_the_newest_data(qtbot):
    queue = DrawQueue()
    ran: list[int] = []
    for value in (1, 2, 3):
        queue.request("loss", lambda value=value: ran.append(value))
    qtbot.waitUntil(lambda: bool(ran), timeout=2000)
    QCoreApplication.processEvents()
    assert ran == [3]


def test_flush_runs_everything_now_and_clear_drops_it(qtbot):
    queue = DrawQueue()
    ran: list[str] = []
    queue.request("a", lambda: ran.append("a"))
    queue.request("b", lambda: ran.append("b"))
    queue.flush()
    assert ran == ["a", "b"]
    queue.request("c", lambda: ran.append("c"))
    queue.clear()
    qtbot.wait(20)
    assert ran == ["a", "b"]


# ------------------------------------------------------------------ LiveYRange
@pytest.fixture
def plot(qtbot):
    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    widget.resize(400, 300)
    widget.show()
    return widget


def y_range(plot) -> tuple[float, float]:
    low, high = plot.getPlotItem().vb.viewRange()[1]
    return low, high


def test_the_range_holds_while_the_data_stay_inside_it(plot):
    live = LiveYRange(plot.getPlotItem().vb)
    live.show(0.5, 2.3)
    first = y_range(plot)
    span = 2.3 - 0.5
    assert first == pytest.approx((0.5 - HEADROOM * span, 2.3 + HEADROOM * span))
    assert not plot.getPlotItem().vb.autoRangeEnabled()[1]  # pyqtgraph no longer refits
    live.show(0.4, 2.3)  # a new low, still inside the headroom: nothing moves
    assert y_range(plot) == first
    live.show(0.1, 2.3)  # out of the range: refit around the data
    low, high = y_range(plot)
    assert low < 0.1 and high > 2.3 and (low, high) != first


def test_data_on_the_edge_of_the_range_get_room_again(plot):
    live = LiveYRange(plot.getPlotItem().vb)
    live.show(0.5, 2.3)
    bottom, top = y_range(plot)
    live.show(bottom + 0.001, 2.3)  # inside, but drawn on the axis: looks cut off
    low, high = y_range(plot)
    assert low < bottom and (bottom + 0.001 - low) > 0.05 * (high - low)


def test_data_filling_little_of_the_range_get_a_closer_view(plot):
    live = LiveYRange(plot.getPlotItem().vb)
    live.show(0.0, 100.0)  # an early spike
    live.show(40.0, 60.0)  # the spike has left the data: a fifth of the range
    low, high = y_range(plot)
    assert 30 < low < 40 and 60 < high < 70


def test_no_finite_data_leaves_the_view_alone(plot):
    live = LiveYRange(plot.getPlotItem().vb)
    live.show(1.0, 2.0)
    before = y_range(plot)
    live.show(math.inf, -math.inf)
    live.show(math.nan, 3.0)
    assert y_range(plot) == before


def test_the_users_zoom_wins_until_they_press_auto_range(plot):
    view = plot.getPlotItem().vb
    live = LiveYRange(view)
    live.show(0.0, 1.0)
    view.sigRangeChangedManually.emit([True, True])  # what a wheel or drag emits
    view.setYRange(0.2, 0.3, padding=0)
    live.show(0.0, 5.0)
    assert y_range(plot) == pytest.approx((0.2, 0.3))
    assert not live.following
    view.enableAutoRange()  # the plot's "A" button
    live.show(0.0, 5.0)
    assert live.following
    low, high = y_range(plot)
    assert low < 0.0 and high > 5.0
    live.reset()
    assert view.autoRangeEnabled()[1] and live.following


@pytest.mark.parametrize("low, high", [(1, 8), (1, 3), (0, 250), (4.2, 4.8)])
def test_a_count_axis_ticks_whole_numbers_only(qtbot, low, high):
    from widgets.axes import WholeNumberAxis

    axis = WholeNumberAxis("bottom")
    levels = axis.tickValues(low, high, 600)
    values = [value for _, level in levels for value in level]
    assert all(float(value).is_integer() for value in values)
    assert len(values) == len(set(values))
    if high - low >= 1:  # a range that holds whole numbers shows some
        assert [value for value in values if low <= value <= high]


def test_pyqtgraph_alone_ticks_a_few_epochs_at_halves():
    # Why WholeNumberAxis exists: should pyqtgraph stop doing this, it can go.
    values = [v for _, level in pg.AxisItem("bottom").tickValues(1, 8, 600) for v in level]
    assert any(not float(value).is_integer() for value in values)
