"""GuiBudget: live views slow down when they cost the GUI thread too much, and recover; the
runner hands reports over without copying them."""

from __future__ import annotations

import widgets.tasks as tasks
from widgets.tasks import GuiBudget


class FakeClock:
    def __init__(self):
        self.wall = 0.0
        self.cpu = 0.0

    def perf_counter(self):
        return self.wall

    def thread_time(self):
        return self.cpu


def test_the_interval_follows_the_gui_threads_share_of_a_core(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(tasks, "time", clock)
    budget = GuiBudget(fastest=0.1, slowest=0.5, budget=0.04, window=1.0)
    assert budget.interval() == 0.1
    for _ in range(10):  # 20% of a core: slower, up to the slowest
        clock.wall += 1.0
        clock.cpu += 0.2
        budget.interval()
    assert budget.interval() == 0.5
    for _ in range(10):  # 1%: back to the fastest
        clock.wall += 1.0
        clock.cpu += 0.01
        budget.interval()
    assert budget.interval() == 0.1
    clock.wall += 0.5  # less than a window: no new measurement
    clock.cpu += 0.5
    assert budget.interval() == 0.1
    budget.restart()
    assert budget.current == 0.1


def test_a_new_run_starts_at_the_pace_the_last_one_settled_at(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(tasks, "time", clock)
    budget = GuiBudget(fastest=0.1, slowest=2.0, budget=0.01, window=0.5, start=1.0)
    assert budget.interval() == 1.0  # the first run starts at ``start``
    clock.wall += 1.0
    clock.cpu += 0.05  # 5% of a core: five times the budget
    assert budget.interval() == 2.0
    budget.restart()  # the next run
    clock.wall += 60.0  # idle in between: no measurement
    assert budget.interval() == 2.0
    clock.wall += 1.0
    clock.cpu += 0.001  # 0.1%: cheap now, step by step faster
    assert budget.interval() == 2.0 / 1.5


def test_reports_reach_the_gui_as_sent_not_copied(qtbot):
    # A list signal would copy every report through Qt's variant types at each delivery
    # (milliseconds for a second of batch reports): the reports must arrive as they were sent.
    sent = [{"kind": "batch", "step": 1, "logs": {"loss": 0.5}}, {"kind": "epoch", "epoch": 0}]
    runner = tasks.TaskRunner()
    received = []
    runner.partials.connect(received.extend)

    def task(progress):
        for report in sent:
            progress.partial(report)

    with qtbot.waitSignal(runner.running_changed, check_params_cb=lambda running: not running):
        runner.start(task)
    assert len(received) == 2 and all(got is report for got, report in zip(received, sent))
