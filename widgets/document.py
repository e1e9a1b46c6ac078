"""The open document: one experiment, its undo stack, its file, its validation.

Every panel takes the ``Document`` and listens to it; none keeps a copy of the graph. Edits
reach the graph only through the undo commands in ``widgets.commands``; the graph's own
events tell the views what changed, and a coalescing timer revalidates once per burst of
edits (validation needs Keras, so it starts when the backend loader says Keras is ready).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from workbench.experiment import Experiment
from workbench.graph.graph import GraphEvent, ModelGraph
from workbench.graph.validate import ValidationReport, Validator


class Document(QObject):
    """An experiment being edited.

    Signals:
        graph_changed(event): re-emitted graph events (views redraw the one node or edge).
        validated(report): a fresh validation report.
        dirty_changed(bool): unsaved changes appeared or disappeared.
        selection_changed(list): node ids selected on the canvas or in a panel.
        section_changed(str): the experiment's "data", "training" or "search" section was
            replaced.
    """

    graph_changed = Signal(object)
    section_changed = Signal(str)
    validated = Signal(object)
    dirty_changed = Signal(bool)
    selection_changed = Signal(list)

    def __init__(self, experiment: Experiment, weights: dict | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.experiment = experiment
        self.weights = weights or {}
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._on_undo_stack_clean_changed)
        self.report: ValidationReport | None = None
        self.selection: list[str] = []
        self._validator = Validator(experiment.graph)
        self._backend_ready = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.validate_now)
        experiment.graph.subscribe(self._on_graph_event)

    # -------------------------------------------------------------- properties
    @property
    def graph(self) -> ModelGraph:
        return self.experiment.graph

    @property
    def validator(self) -> Validator:
        return self._validator

    @property
    def path(self) -> Path | None:
        return self.experiment.path

    @property
    def dirty(self) -> bool:
        return not self.undo_stack.isClean()

    @property
    def title(self) -> str:
        return self.experiment.name

    # ----------------------------------------------------------------- editing
    def push(self, command: QUndoCommand) -> None:
        """Run an edit through the undo stack."""
        self.undo_stack.push(command)

    def set_section(self, name: str, value: dict | None) -> None:
        """Replace the "data", "training" or "search" section (called by ``SetSectionCommand``);
        the search section may be None (no search)."""
        setattr(self.experiment, name, value)
        self.section_changed.emit(name)

    def select(self, node_ids: list[str]) -> None:
        """Make ``node_ids`` the selection, telling every view."""
        node_ids = [n for n in node_ids if n in self.graph]
        if node_ids != self.selection:
            self.selection = node_ids
            self.selection_changed.emit(list(node_ids))

    def close(self) -> None:
        """Stop listening to the graph (the document is being replaced)."""
        self.experiment.graph.unsubscribe(self._on_graph_event)
        self._timer.stop()

    # -------------------------------------------------------------- validation
    def backend_ready(self) -> None:
        """Keras can be used now: validate, and keep validating after edits."""
        self._backend_ready = True
        self.validate_now()

    @property
    def is_backend_ready(self) -> bool:
        return self._backend_ready

    def validate_now(self) -> None:
        if not self._backend_ready:
            return
        self.report = self._validator.validate()
        self.validated.emit(self.report)

    # ------------------------------------------------------------------ saving
    def save(self, path: str | Path | None = None) -> Path:
        """Save atomically (with the weights beside it, if any) and mark clean."""
        target = Path(path) if path is not None else self.experiment.path
        if target is not None and self.weights:
            self.experiment.path = target
            self.experiment.save_weights(self.weights,
                                         target.with_name(target.stem + ".weights.npz"))
        saved = self.experiment.save(target)
        self.undo_stack.setClean()
        return saved

    # --------------------------------------------------------------- internals
    def _on_graph_event(self, event: GraphEvent) -> None:
        self.graph_changed.emit(event)
        if event.kind == "node_removed" and event.node in self.selection:
            self.select([n for n in self.selection if n != event.node])
        if event.kind != "node_moved":  # a move changes no shape
            self._timer.start()

    def _on_undo_stack_clean_changed(self, clean: bool) -> None:
        self.dirty_changed.emit(not clean)
