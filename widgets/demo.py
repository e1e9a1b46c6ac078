"""Screenshots with something in them: ``python main.py --screenshot PNG --panel P --demo``.

Before the picture is taken the window does what a user would do to fill the panel: it trains
the experiment (the panels that look at a trained model get it as after any run), then starts
the panel's own action (explain a sample, compute an embedding, evaluate, paint, attack, run
the LR range test) and waits for it. The user guide's pictures are made this way
(``docs/make_screenshots.py``), so they show the real application on the bundled experiment.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

# Panels whose picture needs a trained model first.
NEEDS_TRAINING = ("train", "inspect", "embeddings", "evaluate", "style", "attack", "runs")


def run_demo(window, panel: str, finished: Callable[[], None], style_steps: int = 150) -> None:
    """Fill ``panel`` of ``window`` (a ``MainWindow``) as a user would, then call ``finished``.

    Failures do not stop the screenshot: whatever the panel shows (an error message
    included) is what the picture gets.
    """
    def act() -> None:
        action = _ACTIONS.get(panel)
        if action is None:
            finished()
            return
        signal, start = action(window, style_steps)
        if signal is None:
            finished()
            return
        waiting = _OneShot(signal, finished)
        if not start():
            waiting.cancel()
            finished()

    if panel in NEEDS_TRAINING:
        waiting = _OneShot(window.train_panel.run_finished, act)
        if not window.train_panel.start_training():
            waiting.cancel()
            finished()
    else:
        act()


class _OneShot:
    """Calls ``then`` on the next emission of ``signal`` only."""

    waiting: set[_OneShot] = set()  # a connected bound method alone does not keep its object

    def __init__(self, signal, then: Callable[[], None]):
        self.signal, self.then = signal, then
        signal.connect(self._on_signal)
        self.waiting.add(self)

    def cancel(self) -> None:
        self.waiting.discard(self)
        try:
            self.signal.disconnect(self._on_signal)
        except (RuntimeError, TypeError):  # already disconnected
            pass

    def _on_signal(self, *_args) -> None:
        self.cancel()
        self.then()


def _style(window, steps: int):
    panel = window.style_panel
    panel.steps_field.setValue(steps)
    panel.size_field.setValue(192)
    panel.weight_fields["style"].set_value(100)
    return panel.task_finished, panel.run_style


class _Finished(QObject):
    """A signal for a demo made of several tasks in a row."""

    finished = Signal()


def _attack(window, _steps: int):
    """The robustness sweep, then one attack: the tab with both its plot and its pictures."""
    panel, done = window.attack_panel, _Finished(window)

    def attack_after_sweep() -> None:
        _OneShot(panel.task_finished, done.finished.emit)
        if not panel.attack():
            done.finished.emit()

    def start() -> bool:
        _OneShot(panel.task_finished, attack_after_sweep)
        return panel.run_sweep()

    return done.finished, start


def _search(window, _steps: int):
    """A small random search over the learning rate and the first convolution's filters (the
    experiment's own space when it has one)."""
    panel = window.search_panel
    if not panel.space:
        panel.add_entry({"target": "training.optimizer.learning_rate", "type": "float",
                         "min": 0.0005, "max": 0.05, "sampling": "log"})
        first_conv = next((node.id for node in window.document.graph.nodes.values()
                           if node.type == "Conv2D"), None)
        if first_conv is not None:
            panel.add_entry({"target": f"model.nodes.{first_conv}.filters", "type": "int",
                             "min": 4, "max": 32, "step": 4})
    panel.trials_field.setValue(8)
    panel.epochs_field.setValue(3)
    return panel.search_finished, panel.start_search


def _lessons(window, _steps: int):
    panel = window.lessons_panel
    panel.select_group("noise_channels")
    panel.seeds_field.setText("0, 1")
    return panel.group_finished, panel.run_group


def _runs(window, _steps: int):
    runs = window.runs_panel
    runs.refresh()
    if runs.table.rowCount():
        runs.table.selectRow(0)
    return None, None


# panel -> a function (window, style steps) -> (the signal that says it is done, the action)
_ACTIONS: dict[str, Callable] = {
    "lr": lambda window, _steps: (window.lr_panel.test_finished, window.lr_panel.start_test),
    "inspect": lambda window, _steps: (window.inspect_panel.task_finished, window.inspect_panel.explain),
    "embeddings": lambda window, _steps: (window.embed_panel.task_finished, window.embed_panel.compute),
    "evaluate": lambda window, _steps: (window.evaluate_panel.task_finished,
                                        window.evaluate_panel.evaluate),
    "style": _style,
    "attack": _attack,
    "runs": _runs,
    "lessons": _lessons,
    "search": _search,
}
