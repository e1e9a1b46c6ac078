"""The Search panel: hyperparameter search over the experiment's ``"search"`` section.

Left, the search space: a table of the hyperparameters to tune (target, type, range or
values, sampling) and a form below it to add, change or remove one. The form offers the
targets people tune (each node's key parameters from the layer catalog, the learning rate, the
optimizer, the batch size) with a range around the current value. Every edit is vetted by
``check_search(..., catalog=True)`` before it is pushed as one undoable ``SetSectionCommand``;
a refused one pushes nothing and says why in red. Entries that no longer fit the model (a
node renamed or deleted since) are shown in red with the reason, and Run refuses until they
are fixed. The settings (method, trials, objective) live in the same section.

Right, the run: ``run_search`` in a ``TaskRunner`` worker (every trial is a run in the
panel's runs folder), a progress bar "trial k of N" with the trial's epoch, a sortable table
filled as trials end, the score of each trial with the best so far, and the score against one
hyperparameter. "Apply best" writes the best trial's values into the experiment as one undo
step (``apply_values`` computes them, so the logic is the engine's).
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from widgets.axes import WholeNumberAxis
from widgets.commands import SetParamCommand, SetSectionCommand
from widgets.document import Document
from widgets.form_fields import ScrollSafeComboBox, ScrollSafeSpinBox
from widgets.tables import read_only_table, sortable_item
from widgets.tasks import TaskRunner
from widgets.train_panel import format_number, parse_number
from workbench.errors import FormatError, WorkbenchError
from workbench.experiment import Experiment
from workbench.scale.search_space import (
    METHODS,
    SAMPLINGS,
    TYPES,
    apply_values,
    check_search,
    default_objective,
    objective_direction,
)

ERROR_COLOR = "#c0392b"
DEFAULT_TRIALS = 10
_METHOD_LABELS = {"random": "random", "grid": "grid", "bayesian": "Bayesian optimisation",
                  "hyperband": "Hyperband"}
_REPORT_INTERVAL_S = 0.1  # the run shows a progress bar only: 10 updates a second are plenty
_SIZE_PARAMS = ("units", "filters")
_HINT = "Pick one to start from a range around its value, or type a target"
_OPTIMIZER_CHOICES = ("adam", "sgd", "rmsprop")
_ACTIVATION_CHOICES = ("relu", "tanh", "gelu", "elu")


# ------------------------------------------------------------------------ suggestions
@dataclass(frozen=True)
class Suggestion:
    """A target the Add form offers, with a starting entry around the current value.

    Attributes:
        target: ``model.nodes.<id>.<param>`` or ``training.<key>[.<option>]``.
        label: what it is, for people ("Conv2D conv_1 · filters, now 16").
        entry: a search-space entry for it (target, type, range or values).
    """

    target: str
    label: str
    entry: dict


def suggested_targets(experiment: Experiment, catalog: bool = True) -> list[Suggestion]:
    """The targets a person would tune in ``experiment``, each with a sensible range.

    Each top-level node offers its key parameters and the ones set in the file (numbers as
    ranges, activations and paddings as choices); the training offers the learning rate (a
    log range), the optimizer and the batch size. The output nodes' units, filters and
    activation are left out: the labels fix them. ``catalog=False`` (Keras not loaded yet)
    gives the training targets only.
    """
    found = []
    if catalog:
        from workbench.graph.catalog import INPUT, layer_type

        graph = experiment.graph
        for node in graph.nodes.values():
            if node.type == INPUT or node.block is not None or node.shares:
                continue
            described = layer_type(node.type)
            if described is None:
                continue
            output = graph.is_output(node.id)
            names = list(described.key_params) + [p for p in node.params
                                                  if p not in described.key_params]
            for name in names:
                spec = described.param(name)
                if spec is None or (output and (name in _SIZE_PARAMS or spec.kind == "activation")):
                    continue
                entry = _node_entry(spec, node.params.get(name, spec.default))
                if entry is not None:
                    target = f"model.nodes.{node.id}.{name}"
                    current = node.params.get(name, spec.default)
                    found.append(Suggestion(target, f"{node.type} {node.id} · {name}, now "
                                                    f"{format_value(current)}",
                                            {"target": target, **entry}))
    training = experiment.training
    optimizer = training.get("optimizer") if isinstance(training.get("optimizer"), dict) else {}
    rate = optimizer.get("learning_rate", 0.001)
    rate = rate if isinstance(rate, (int, float)) and not isinstance(rate, bool) and rate > 0 else 0.001
    found.append(Suggestion(
        "training.optimizer.learning_rate", f"learning rate, now {format_value(rate)}",
        {"target": "training.optimizer.learning_rate", "type": "float", "min": _tidy(rate / 10),
         "max": _tidy(min(rate * 10, 1.0)) if rate < 1.0 else _tidy(rate * 10), "sampling": "log"}))
    name = optimizer.get("name", "adam")
    names = _unique([name, *_OPTIMIZER_CHOICES])
    found.append(Suggestion("training.optimizer.name", f"optimizer, now {name}",
                            {"target": "training.optimizer.name", "type": "choice", "values": names}))
    batch = training.get("batch_size", 64)
    batch = batch if isinstance(batch, int) and not isinstance(batch, bool) and batch > 0 else 64
    sizes = sorted({max(1, batch // 2), batch, batch * 2})
    found.append(Suggestion("training.batch_size", f"batch size, now {batch}",
                            {"target": "training.batch_size", "type": "choice", "values": sizes}))
    return found


def _node_entry(spec, current: Any) -> dict | None:
    """A starting entry for one layer parameter, or None for kinds a search does not tune."""
    if spec.kind == "int" and isinstance(current, int) and not isinstance(current, bool):
        low = max(int(spec.minimum) if spec.minimum is not None else 1, current // 2, 1)
        high = max(current * 2, low + 1)
        if spec.maximum is not None:
            high = min(high, int(spec.maximum))
        return {"type": "int", "min": low, "max": high, "step": max(1, low)} if low < high else None
    if spec.kind == "float" and isinstance(current, (int, float)) and not isinstance(current, bool):
        if spec.minimum == 0 and spec.maximum == 1:  # a rate or a momentum
            if current >= 0.9:
                return {"type": "float", "min": 0.9, "max": 0.999}
            return {"type": "float", "min": 0.0, "max": min(0.9, max(0.5, _tidy(current * 2))),
                    "step": 0.1}
        if current > 0:
            return {"type": "float", "min": _tidy(current / 10), "max": _tidy(current * 10),
                    "sampling": "log"}
        return {"type": "float", "min": 0.0, "max": 1.0}
    if spec.kind == "ints":
        sizes = {"kernel_size": (3, 5), "pool_size": (2, 3)}.get(spec.name, (1, 2))
        if isinstance(current, list) and current and all(isinstance(v, int) for v in current):
            values = [current] + [[size] * len(current) for size in sizes]
        elif isinstance(current, int) and not isinstance(current, bool):
            values = [current, *sizes]
        else:
            return None
        values = sorted(_unique(values), key=lambda v: v[0] if isinstance(v, list) else v)
        return {"type": "choice", "values": values}
    if spec.kind == "activation":
        return {"type": "choice", "values": _unique([current or "linear", *_ACTIVATION_CHOICES])}
    if spec.kind == "choice" and spec.choices:
        values = [c for c in spec.choices if c is not None]
        return {"type": "choice", "values": values} if len(values) > 1 else None
    if spec.kind == "bool":
        return {"type": "bool"}
    return None


# --------------------------------------------------------------------- small helpers
def format_value(value: Any) -> str:
    """A value as the tables show it: ``0.001``, ``16``, ``adam``, ``[3, 3]``."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def format_values(values: list) -> str:
    """Choices as the form shows them: ``adam, sgd`` or ``[3, 3], [5, 5]``."""
    return ", ".join(v if isinstance(v, str) else json.dumps(v) for v in values)


def parse_values(text: str) -> list:
    """Choices typed in the form: JSON values separated by commas, bare words as text.

    Raises:
        ValueError: nothing typed, or an empty item; the message is for people.
    """
    text = text.strip()
    if not text:
        raise ValueError("values: list the values to try, separated by commas (e.g. adam, sgd)")
    try:
        values = json.loads(f"[{text}]")
    except json.JSONDecodeError:
        values = []
        for item in text.split(","):
            item = item.strip()
            if not item:
                raise ValueError(f"values: an empty item in {text!r}") from None
            try:
                values.append(json.loads(item))
            except json.JSONDecodeError:
                values.append(item)  # a bare word: adam, relu, same
    return values


def _grid_note(method: str, search: dict, trials: int) -> str | None:
    if method != "grid":
        return None
    from workbench.scale.search import grid_note

    return grid_note(search["space"], trials)


def short_label(target: str) -> str:
    """A column header for a target: ``conv_1.filters``, ``learning_rate``, ``optimizer``."""
    parts = target.split(".")
    if parts[:2] == ["model", "nodes"] and len(parts) == 4:
        return f"{parts[2]}.{parts[3]}"
    if target == "training.optimizer.name":
        return "optimizer"
    return parts[-1] if parts[0] == "training" else target


def describe_range(entry: dict) -> str:
    """The range or values of an entry, as the space table shows them."""
    kind = entry.get("type")
    if kind == "choice":
        return format_values(entry.get("values") or [])
    if kind == "bool":
        return "true, false"
    text = f"{format_number(entry.get('min'))} – {format_number(entry.get('max'))}"
    return text + (f" step {format_number(entry['step'])}" if entry.get("step") is not None else "")


def objectives(experiment: Experiment) -> list[str]:
    """The metrics a search may optimise: each metric of the training, validation first."""
    metrics = experiment.training.get("metrics") or []
    names = [m for m in metrics if isinstance(m, str)] if isinstance(metrics, list) else []
    names = ["accuracy" if m == "acc" else m for m in names] + ["loss"]
    return _unique([f"val_{m}" for m in names] + names)


def log_ticks(low: float, high: float) -> list[list[tuple[float, str]]]:
    """Ticks for a log10 axis from ``low`` to ``high`` (both > 0), for ``AxisItem.setTicks``.

    Decades are labelled and 2…9 times them are unlabelled minor ticks; a range holding
    fewer than three decades labels 1, 2 and 5 times each (and its ends if fewer show).
    """
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    inside = [(k, k * 10.0 ** d) for d in range(first, last + 1) for k in range(1, 10)
              if low * (1 - 1e-9) <= k * 10.0 ** d <= high * (1 + 1e-9)]
    labelled = {1} if sum(1 for k, _ in inside if k == 1) >= 3 else {1, 2, 5}
    major = [(math.log10(v), f"{v:.3g}") for k, v in inside if k in labelled]
    if len(major) < 2:
        major = sorted({(math.log10(v), f"{v:.3g}") for v in (low, high)} | set(major))
    minor = [(math.log10(v), "") for k, v in inside if k not in labelled]
    return [major, minor]


def _unique(values: list) -> list:
    seen, kept = set(), []
    for value in values:
        key = json.dumps(value, sort_keys=True)
        if key not in seen:
            seen.add(key)
            kept.append(value)
    return kept


def _tidy(value: float) -> float:
    return float(f"{value:.3g}")


def _lookup(section: dict, target: str) -> Any:
    """The value a training target names in a training section (None when unset)."""
    value: Any = section
    for part in target.split(".")[1:]:
        value = value.get(part) if isinstance(value, dict) else None
    return value


# ----------------------------------------------------------------------------- panel
class SearchPanel(QWidget):
    """Search space editor, settings, a live search, its results and "Apply best".

    Args:
        document: the document whose experiment is searched; ``set_document`` switches.
        runs_dir: where the trials' run folders go (the run store's folder).
        parent: the owning widget.

    Signals:
        search_finished(object): a search ended (its ``SearchResult``, or None on an error).
        runs_changed(): trial runs were written (the Runs tab should refresh).
    """

    search_finished = Signal(object)
    runs_changed = Signal()

    def __init__(self, document: Document, runs_dir: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("searchPanel")
        self.runs_dir = Path(runs_dir)
        self._document: Document | None = None
        self._dataset = None
        self.result = None
        self._problems: list[str | None] = []  # why each space entry cannot be searched
        self._catalog_checked = False  # the entries were checked against the layer catalog
        self._last_step: tuple[float, int, str] | None = None
        self._suggestions: list[Suggestion] = []
        self._trials: dict[str, dict] = {}  # trial id -> its latest report, in arrival order
        self._run_space: list[dict] = []
        self._objective = ""
        self._direction = "max"
        self._epochs_planned: int | None = None
        self._planned = 0  # trials the running or last search asked for
        self._searched: Document | None = None  # the document the running or last search read
        self._refresh_timer = QTimer(self)  # graph edits come in bursts: recheck once
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(0)
        self._refresh_timer.timeout.connect(self._refresh_space)
        self._runner = TaskRunner(self, keras_work=True)
        self._runner.set_interval(_REPORT_INTERVAL_S)
        self._runner.stepped.connect(self._on_runner_stepped)
        self._runner.partials.connect(self._on_runner_partials)
        self._runner.finished.connect(self._on_runner_finished)
        self._runner.failed.connect(self._on_runner_failed)
        self._build_ui()
        self.set_document(document)

    # ------------------------------------------------------------------ API
    @property
    def running(self) -> bool:
        return self._runner.running

    @property
    def space(self) -> list[dict]:
        """The search space of the document's experiment (empty without a search)."""
        search = self._search()
        return list(search.get("space") or []) if search else []

    @property
    def problems(self) -> list[str | None]:
        """Why each space entry cannot be searched now (None where it can)."""
        return list(self._problems)

    def set_document(self, document: Document | None) -> None:
        """Follow another document; a search in progress goes on with its own copy."""
        old = self._document
        if old is not None:
            try:
                old.section_changed.disconnect(self._on_document_section_changed)
                old.graph_changed.disconnect(self._on_document_graph_changed)
                old.validated.disconnect(self._on_document_validated)
            except (RuntimeError, TypeError):  # the old document is already destroyed
                pass
        self._document = document
        self._dataset = None
        if document is not None:
            document.section_changed.connect(self._on_document_section_changed)
            document.graph_changed.connect(self._on_document_graph_changed)
            document.validated.connect(self._on_document_validated)
        if not self.running:
            self.result = None
            self._trials = {}
            self._fill_results()
            self._draw()
            self.apply_status.setText("")
        self._load_settings(reset=True)
        self._refresh_space()
        self._refresh_buttons()

    def set_dataset(self, dataset) -> None:
        """Search on the Data panel's loaded data (dropped when the data section changes)."""
        self._dataset = dataset

    def suggestions(self) -> list[Suggestion]:
        """The targets the Add form offers now."""
        return list(self._suggestions)

    def add_entry(self, entry: dict) -> bool:
        """Add an entry to the space (one undo step); False, with the reason shown, if refused."""
        return self._push_space(self.space + [copy.deepcopy(entry)], len(self.space),
                                f"Add {short_label(str(entry.get('target', '')))} to the search")

    def update_entry(self, index: int, entry: dict) -> bool:
        """Replace entry ``index`` (one undo step); False, with the reason shown, if refused."""
        space = self.space
        if not 0 <= index < len(space):
            self._show_space_message("Select the hyperparameter to change in the table first")
            return False
        space[index] = copy.deepcopy(entry)
        return self._push_space(space, index, f"Change {short_label(str(entry.get('target', '')))} "
                                              "in the search")

    def remove_entry(self, index: int) -> bool:
        """Remove entry ``index`` (one undo step; the last one removes the search section)."""
        space = self.space
        if not 0 <= index < len(space):
            self._show_space_message("Select the hyperparameter to remove in the table first")
            return False
        removed = space.pop(index)
        return self._push_space(space, None, f"Remove {short_label(removed['target'])} from the search")

    def load_suggestion(self, target: str) -> bool:
        """Fill the form with the suggested entry for ``target``; False if none is offered."""
        for suggestion in self._suggestions:
            if suggestion.target == target:
                self._fill_form(suggestion.entry, suggestion.label)
                return True
        return False

    def form_entry(self) -> dict:
        """The entry the form describes.

        Raises:
            ValueError: a field is not a number or empty; the message is for people.
        """
        target = self.target_field.currentText().strip()
        if not target:
            raise ValueError("choose or type a hyperparameter first")
        kind = self.type_field.currentText()
        entry: dict[str, Any] = {"target": target, "type": kind}
        if kind == "choice":
            entry["values"] = parse_values(self.values_field.text())
        elif kind in ("float", "int"):
            for key, field in (("min", self.min_field), ("max", self.max_field),
                               ("step", self.step_field)):
                text = field.text().strip()
                if not text:
                    if key == "step":
                        continue
                    raise ValueError(f"{key}: type a number")
                value = parse_number(text, key)
                if kind == "int":
                    if not float(value).is_integer():
                        raise ValueError(f"{key} must be a whole number for an int range "
                                         f"(got {text})")
                    value = int(value)
                entry[key] = value
            sampling = self.sampling_field.currentText()
            if sampling != "linear":
                entry["sampling"] = sampling
        return entry

    def start_search(self) -> bool:
        """Start the search, as Run does; False (with the reason shown) if refused."""
        if self.running:
            return False
        problem = self._start_problem()
        if problem is not None:
            self._show_status(problem, error=True)
            return False
        from workbench.scale.search import run_search

        document = self._document
        assert document is not None
        try:
            # A frozen copy: edits made while it searches change the next search, not this one.
            experiment = Experiment.from_dict(document.experiment.to_dict(), path=document.experiment.path)
            search = check_search(experiment.search, experiment, catalog=True)
        except WorkbenchError as error:
            self._show_status(f"Cannot search: {error}", error=True)
            return False
        method = self.method_field.currentData()
        trials = self.trials_field.value()
        epochs = self.epochs_field.value() or None
        self._objective = search.get("objective") or default_objective(experiment)
        self._direction = objective_direction(search, self._objective)
        self._run_space = copy.deepcopy(search["space"])
        self._epochs_planned = epochs or experiment.training.get("epochs")
        self._trials = {}
        self._planned = trials
        self._last_step = None
        self.result = None
        self.apply_status.setText("")
        self._fill_results()
        self._draw()
        self._fill_param_choice()
        self.progress_bar.setRange(0, trials * 100)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat(f"trial 1 of {trials} · starting")
        self._show_status(f"Searching: {_METHOD_LABELS[method]}, {trials} trials"
                          + (f" of {epochs} epoch{'s' if epochs != 1 else ''}" if epochs else "")
                          + f", {self._objective} ({'higher' if self._direction == 'max' else 'lower'} "
                          f"is better). Every trial is a run in {self.runs_dir}."
                          + (f" Note: {note}." if (note := _grid_note(method, search, trials)) else ""))
        dataset, runs_dir = self._dataset, self.runs_dir
        self._searched = document
        self._runner.start(lambda progress: run_search(
            experiment, method, trials, runs_dir, progress, epochs=epochs, dataset=dataset))
        self._refresh_buttons()
        return True

    def stop(self) -> None:
        """Stop the search after the running trial stops; the finished trials are kept."""
        if self.running:
            self._runner.cancel()
            self._show_status("Stopping: the running trial stops at its next batch…")
            self.stop_button.setEnabled(False)

    def shutdown(self) -> None:
        """Stop a running search and wait for it (the window is closing)."""
        if self.running:
            self._runner.wait(cancel=True)
            self._refresh_buttons()

    def apply_best(self) -> bool:
        """Write the best trial's values into the experiment as one undo step."""
        document, result = self._document, self.result
        best = result.best if result is not None else None
        if document is None or best is None:
            self._show_apply("Run a search with at least one completed trial first", error=True)
            return False
        if document is not self._searched:
            self._show_apply("The search was run on another experiment: run it on this one first",
                             error=True)
            return False
        try:
            changed = apply_values(document.experiment, best.values)
        except WorkbenchError as error:  # e.g. a node deleted since the search
            self._show_apply(f"Cannot apply trial {best.id}: {error}", error=True)
            return False
        changes, model_targets = [], []
        for target in best.values:
            parts = target.split(".")
            if parts[0] == "model":
                before = document.graph.node(parts[2]).params.get(parts[3])
                after = changed.graph.node(parts[2]).params.get(parts[3])
                if before != after:
                    model_targets.append((parts[2], parts[3], after))
                    changes.append(f"{short_label(target)} {format_value(before)} → {format_value(after)}")
            else:
                before, after = _lookup(document.experiment.training, target), _lookup(changed.training,
                                                                                        target)
                if before != after:
                    changes.append(f"{short_label(target)} {format_value(before)} → {format_value(after)}")
        new_training = changed.training != document.experiment.training
        if not model_targets and not new_training:
            self._show_apply(f"The experiment already has the values of trial {best.id}")
            return False
        stack = document.undo_stack
        stack.beginMacro(f"Apply best trial {best.id}")
        try:
            for node_id, param, value in model_targets:  # each made after the last is applied
                document.push(SetParamCommand(document.graph, node_id, param, value))
            if new_training:
                document.push(SetSectionCommand(document, "training", changed.training))
        except WorkbenchError as error:
            stack.endMacro()
            stack.undo()  # take back what was applied: all of it or nothing
            self._show_apply(f"Cannot apply trial {best.id}: {error}", error=True)
            return False
        stack.endMacro()
        score = f" ({self._objective} {best.score:.4g})" if best.score is not None else ""
        self._show_apply(f"Applied trial {best.id}{score}: {' · '.join(changes)}. "
                         "Edit > Undo takes it back.")
        return True

    # ------------------------------------------------------------------- UI
    def _build_ui(self) -> None:
        layout = QHBoxLayout(self)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        column = QVBoxLayout(left)
        column.setContentsMargins(0, 0, 4, 0)
        column.addWidget(self._build_space_box(), 1)
        column.addWidget(self._build_settings_box())
        splitter.addWidget(left)
        splitter.addWidget(self._build_results())
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([470, 780])
        layout.addWidget(splitter)

    def _build_space_box(self) -> QGroupBox:
        box = QGroupBox("Search space")
        column = QVBoxLayout(box)
        self.space_table = read_only_table(4, "searchSpace", self)
        self.space_table.setHorizontalHeaderLabels(["hyperparameter", "type", "range / values",
                                                    "sampling"])
        self.space_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.space_table.horizontalHeader().setStretchLastSection(True)
        self.space_table.setMinimumHeight(110)
        self.space_table.itemSelectionChanged.connect(self._on_space_table_selection_changed)
        column.addWidget(self.space_table, 1)
        self.problems_label = QLabel()
        self.problems_label.setObjectName("searchProblems")
        self.problems_label.setWordWrap(True)
        self.problems_label.setStyleSheet(f"color: {ERROR_COLOR};")
        self.problems_label.hide()
        column.addWidget(self.problems_label)
        grid = QGridLayout()
        grid.setHorizontalSpacing(6)
        self.target_field = QComboBox()
        self.target_field.setObjectName("searchTarget")
        self.target_field.setEditable(True)
        self.target_field.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.target_field.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.target_field.setMinimumContentsLength(20)
        self.target_field.setToolTip("model.nodes.<node>.<parameter> or training.<key>[.<option>]: "
                                     "pick one to start from a range around its current value")
        self.target_field.currentIndexChanged.connect(self._on_target_field_changed)
        self.target_field.activated.connect(self._on_target_field_changed)
        self.target_hint = QLabel(_HINT)
        self.target_hint.setObjectName("searchTargetHint")
        self.target_hint.setStyleSheet("color: palette(mid);")
        self.type_field = ScrollSafeComboBox()
        self.type_field.setObjectName("searchType")
        self.type_field.addItems(list(TYPES))
        self.type_field.currentTextChanged.connect(self._on_type_field_changed)
        self.sampling_field = ScrollSafeComboBox()
        self.sampling_field.setObjectName("searchSampling")
        self.sampling_field.addItems(list(SAMPLINGS))
        self.sampling_field.setToolTip("log: every decade as likely (learning rates); reverse_log: "
                                       "values near max more likely (momentum)")
        self.min_field, self.max_field, self.step_field = (QLineEdit() for _ in range(3))
        for name, field in (("searchMin", self.min_field), ("searchMax", self.max_field),
                            ("searchStep", self.step_field)):
            field.setObjectName(name)
            field.setMinimumWidth(60)
        self.step_field.setPlaceholderText("any")
        self.values_field = QLineEdit()
        self.values_field.setObjectName("searchValues")
        self.values_field.setPlaceholderText("adam, sgd  or  [3, 3], [5, 5]")
        grid.addWidget(QLabel("hyperparameter"), 0, 0)
        grid.addWidget(self.target_field, 0, 1, 1, 5)
        grid.addWidget(self.target_hint, 1, 1, 1, 5)
        grid.addWidget(QLabel("type"), 2, 0)
        grid.addWidget(self.type_field, 2, 1)
        grid.addWidget(QLabel("sampling"), 2, 2)
        grid.addWidget(self.sampling_field, 2, 3, 1, 3)
        for col, (label, field) in enumerate((("min", self.min_field), ("max", self.max_field),
                                              ("step", self.step_field))):
            grid.addWidget(QLabel(label), 3, 2 * col)
            grid.addWidget(field, 3, 2 * col + 1)
        grid.addWidget(QLabel("values"), 4, 0)
        grid.addWidget(self.values_field, 4, 1, 1, 5)
        for col in (1, 3, 5):
            grid.setColumnStretch(col, 1)
        column.addLayout(grid)
        row = QHBoxLayout()
        self.add_button = QPushButton("Add")
        self.add_button.setObjectName("searchAddButton")
        self.add_button.setToolTip("Add the hyperparameter above to the search space (undoable)")
        self.add_button.clicked.connect(self._on_add_button_clicked)
        self.update_button = QPushButton("Update selected")
        self.update_button.setObjectName("searchUpdateButton")
        self.update_button.setToolTip("Replace the selected row with the hyperparameter above")
        self.update_button.clicked.connect(self._on_update_button_clicked)
        self.remove_button = QPushButton("Remove selected")
        self.remove_button.setObjectName("searchRemoveButton")
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        for button in (self.add_button, self.update_button, self.remove_button):
            row.addWidget(button)
        row.addStretch(1)
        column.addLayout(row)
        self.space_message = QLabel()
        self.space_message.setObjectName("searchSpaceMessage")
        self.space_message.setWordWrap(True)
        self.space_message.setStyleSheet(f"color: {ERROR_COLOR};")
        self.space_message.hide()
        column.addWidget(self.space_message)
        self._on_type_field_changed(self.type_field.currentText())
        return box

    def _build_settings_box(self) -> QGroupBox:
        box = QGroupBox("Search")
        column = QVBoxLayout(box)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.method_field = ScrollSafeComboBox()
        self.method_field.setObjectName("searchMethod")
        for method in METHODS:
            self.method_field.addItem(_METHOD_LABELS[method], method)
        self.method_field.setToolTip("random: independent draws; grid: every combination (give "
                                     "steps); Bayesian: learns which values score well; Hyperband: "
                                     "many short trials, the best trained longer")
        self.method_field.currentIndexChanged.connect(self._on_method_field_changed)
        self.trials_field = ScrollSafeSpinBox()
        self.trials_field.setObjectName("searchTrials")
        self.trials_field.setRange(1, 10_000)
        self.trials_field.setValue(DEFAULT_TRIALS)
        self.trials_field.setKeyboardTracking(False)
        self.trials_field.valueChanged.connect(self._on_trials_field_changed)
        self.epochs_field = ScrollSafeSpinBox()
        self.epochs_field.setObjectName("searchEpochs")
        self.epochs_field.setRange(0, 10_000)
        self.epochs_field.setMinimumWidth(self.fontMetrics().horizontalAdvance("as in training (10000)")
                                          + 40)
        self.epochs_field.setToolTip("Epochs of every trial (Hyperband: the most a trial gets); "
                                     "fewer make a quicker, rougher search")
        self.objective_field = ScrollSafeComboBox()
        self.objective_field.setObjectName("searchObjective")
        self.objective_field.currentTextChanged.connect(self._on_objective_field_changed)
        objective_row = QHBoxLayout()
        objective_row.addWidget(self.objective_field, 1)
        self.direction_label = QLabel()
        self.direction_label.setObjectName("searchDirection")
        objective_row.addWidget(self.direction_label)
        form.addRow("method", self.method_field)
        form.addRow("trials", self.trials_field)
        form.addRow("epochs per trial", self.epochs_field)
        form.addRow("objective", objective_row)
        column.addLayout(form)
        row = QHBoxLayout()
        self.run_button = QPushButton("Run search")
        self.run_button.setObjectName("searchButton")
        self.run_button.setToolTip("Train one run per trial with the values the method picks")
        self.run_button.clicked.connect(self.start_search)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("searchStopButton")
        self.stop_button.setToolTip("Stop the running trial and end the search; finished trials "
                                    "are kept")
        self.stop_button.clicked.connect(self.stop)
        row.addWidget(self.run_button)
        row.addWidget(self.stop_button)
        row.addStretch(1)
        column.addLayout(row)
        return box

    def _build_results(self) -> QWidget:
        panel = QWidget()
        column = QVBoxLayout(panel)
        column.setContentsMargins(4, 0, 0, 0)
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("searchProgress")
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFormat("no search yet")
        self.progress_bar.setValue(0)
        column.addWidget(self.progress_bar)
        self.status = QLabel("Add the hyperparameters to tune on the left, then Run search.")
        self.status.setObjectName("searchStatus")
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        column.addWidget(self.status)
        self.results_table = read_only_table(3, "searchResults", self)
        self.results_table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        self.results_table.setMinimumHeight(120)
        column.addWidget(self.results_table, 2)
        plots = QHBoxLayout()
        background = self.palette().color(self.backgroundRole()).lighter(104)
        self.plot = pg.PlotWidget(background=background,
                                  axisItems={"bottom": WholeNumberAxis("bottom")})
        self.plot.setObjectName("searchPlot")
        self.plot.setMinimumSize(260, 200)
        item = self.plot.getPlotItem()
        item.setLabel("bottom", "trial")
        item.getAxis("left").enableAutoSIPrefix(False)
        item.showGrid(x=True, y=True, alpha=0.15)
        # A title rather than a legend: no corner of this plot is reliably empty.
        item.setTitle("score of each trial · <span style='color:#d62728'>best so far</span>",
                      size="9pt")
        self.score_points = item.plot(pen=None, symbol="o", symbolSize=8, symbolBrush="#1f77b4",
                                      symbolPen=None)
        self.best_line = item.plot(pen=pg.mkPen("#d62728", width=2))
        plots.addWidget(self.plot, 1)
        right = QVBoxLayout()
        choice_row = QHBoxLayout()
        choice_row.addWidget(QLabel("score against"))
        self.param_field = QComboBox()
        self.param_field.setObjectName("searchParamChoice")
        self.param_field.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.param_field.setMinimumContentsLength(14)
        self.param_field.currentIndexChanged.connect(lambda _index: self._draw_param())
        choice_row.addWidget(self.param_field, 1)
        right.addLayout(choice_row)
        self.param_plot = pg.PlotWidget(background=background)
        self.param_plot.setObjectName("searchParamPlot")
        self.param_plot.setMinimumSize(260, 170)
        item = self.param_plot.getPlotItem()
        item.getAxis("left").enableAutoSIPrefix(False)
        item.getAxis("bottom").enableAutoSIPrefix(False)
        item.getAxis("bottom").setStyle(hideOverlappingLabels=False)  # the range's first tick
        item.showGrid(x=True, y=True, alpha=0.15)
        self.param_points = item.plot(pen=None, symbol="o", symbolSize=8, symbolBrush="#1f77b4",
                                      symbolPen=None)
        self.param_best = item.plot(pen=None, symbol="star", symbolSize=16, symbolBrush="#d62728",
                                    symbolPen=None)
        right.addWidget(self.param_plot, 1)
        plots.addLayout(right, 1)
        column.addLayout(plots, 3)
        row = QHBoxLayout()
        self.apply_button = QPushButton("Apply best")
        self.apply_button.setObjectName("applyBestButton")
        self.apply_button.setToolTip("Write the best trial's values into the experiment (one undo step)")
        self.apply_button.clicked.connect(self.apply_best)
        row.addWidget(self.apply_button)
        self.apply_status = QLabel()
        self.apply_status.setObjectName("searchApplyStatus")
        self.apply_status.setWordWrap(True)
        self.apply_status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        row.addWidget(self.apply_status, 1)
        column.addLayout(row)
        return panel

    # ------------------------------------------------------------- the space
    def _search(self) -> dict | None:
        return self._document.experiment.search if self._document is not None else None

    def _catalog_ready(self) -> bool:
        # The catalog imports Keras: on the GUI thread only once the loader has it ready.
        return self._document is not None and self._document.is_backend_ready

    def _push_space(self, space: list[dict], edited: int | None, text: str) -> bool:
        """Push ``space`` as the search section's, if it passes the check."""
        document = self._document
        if document is None:
            return False
        if not space:
            section = None
        else:
            section = copy.deepcopy(self._search() or self._settings_section())
            section["space"] = space
            problem = self._check(section, edited)
            if problem is not None:
                self._show_space_message(problem)
                return False
        self._show_space_message("")
        command = SetSectionCommand(document, "search", section)
        command.setText(text)
        document.push(command)
        return True

    def _check(self, section: dict, edited: int | None) -> str | None:
        """Why ``section`` may not be pushed, or None.

        Entries already in red (a node deleted since) are left out of the check, so they do
        not block the edits that fix them; the entry being edited is always checked.
        """
        broken = {_key(e) for e, problem in zip(self.space, self._problems) if problem}
        kept = [e for i, e in enumerate(section["space"]) if i == edited or _key(e) not in broken]
        if not kept:
            return None
        try:
            check_search({**section, "space": kept}, self._document.experiment,
                         catalog=self._catalog_ready())
        except FormatError as error:
            return self._readable(error, kept)
        return None

    @staticmethod
    def _readable(error: FormatError, space: list[dict]) -> str:
        """A check's message naming the hyperparameter rather than its index."""
        where = error.where or ""
        if where.startswith("search.space["):
            index, _, key = where[len("search.space["):].partition("]")
            try:
                target = space[int(index)].get("target", "")
            except (ValueError, IndexError, AttributeError):
                return str(error)
            key = key.lstrip(".")
            field = f" {key}" if key and key != "target" else ""
            return f"{short_label(str(target))}{field}: {error.detail}"
        if where.startswith("search."):
            return f"{where[len('search.'):]}: {error.detail}"
        return str(error)

    def _entry_problem(self, entry: dict) -> str | None:
        """Why one entry cannot be searched in the current experiment, or None."""
        try:
            check_search({"space": [entry]}, self._document.experiment, catalog=True)
        except FormatError as error:
            return self._readable(error, [entry])
        return None

    def _refresh_space(self) -> None:
        """Redraw the space table, marking in red the entries the experiment no longer fits."""
        space = self.space
        ready = self._catalog_ready()
        self._catalog_checked = ready
        self._problems = [self._entry_problem(e) if ready else None for e in space]
        selected = self._selected_index()
        self.space_table.setRowCount(len(space))
        red = QBrush(QColor(ERROR_COLOR))
        for row, entry in enumerate(space):
            problem = self._problems[row]
            sampling = entry.get("sampling", "linear") if entry.get("type") in ("float", "int") else ""
            cells = [short_label(entry["target"]), entry["type"], describe_range(entry), sampling]
            for col, text in enumerate(cells):
                item = sortable_item(text)
                tip = entry["target"] if col == 0 else text
                item.setToolTip(f"{tip}\n{problem}" if problem else tip)
                if problem:
                    item.setForeground(red)
                self.space_table.setItem(row, col, item)
        self.space_table.resizeColumnsToContents()
        if selected is not None and selected < len(space):
            self.space_table.selectRow(selected)
        broken = [p for p in self._problems if p]
        self.problems_label.setVisible(bool(broken))
        self.problems_label.setText("Cannot search until these are fixed or removed: "
                                    + "; ".join(broken) if broken else "")
        self._suggestions = suggested_targets(self._document.experiment, catalog=ready) \
            if self._document is not None else []
        self._fill_targets()
        self._refresh_buttons()

    def _fill_targets(self) -> None:
        text = self.target_field.currentText()
        with QSignalBlocker(self.target_field):
            self.target_field.clear()
            for suggestion in self._suggestions:
                self.target_field.addItem(suggestion.target)
                self.target_field.setItemData(self.target_field.count() - 1, suggestion.label,
                                              Qt.ItemDataRole.ToolTipRole)
            self.target_field.setCurrentIndex(-1)
            self.target_field.setEditText(text)
        # The hint says the parameter's current value: after an edit (Apply best) say the new one.
        current = next((g for g in self._suggestions if g.target == text), None)
        showing_problem = ERROR_COLOR in self.target_hint.styleSheet()
        if current is not None and self.target_hint.text() != _HINT and not showing_problem:
            self.target_hint.setText(current.label)

    def _fill_form(self, entry: dict, hint: str = "") -> None:
        with QSignalBlocker(self.target_field):
            self.target_field.setCurrentIndex(self.target_field.findText(entry.get("target", "")))
            self.target_field.setEditText(entry.get("target", ""))
        self.target_hint.setText(hint or _HINT)
        self.type_field.setCurrentText(entry.get("type", "float"))
        number = (lambda key: format_number(entry.get(key))) if entry.get("type") in ("float", "int") \
            else (lambda key: "")
        self.min_field.setText(number("min"))
        self.max_field.setText(number("max"))
        self.step_field.setText(number("step"))
        self.sampling_field.setCurrentText(entry.get("sampling", "linear"))
        self.values_field.setText(format_values(entry["values"]) if entry.get("type") == "choice" else "")

    def _selected_index(self) -> int | None:
        rows = self.space_table.selectionModel().selectedRows() if self.space_table.selectionModel() else []
        return rows[0].row() if rows else None

    def _show_space_message(self, text: str) -> None:
        self.space_message.setText(text)
        self.space_message.setVisible(bool(text))

    # ------------------------------------------------------------- settings
    def _settings_section(self) -> dict:
        """A new search section with the settings the fields show (the space comes next)."""
        return {"objective": self.objective_field.currentText()
                or default_objective(self._document.experiment),
                "method": self.method_field.currentData(), "trials": self.trials_field.value()}

    def _load_settings(self, reset: bool = False) -> None:
        """Show the search section's settings (the fields keep theirs while it has none)."""
        document = self._document
        search = self._search()
        experiment = document.experiment if document is not None else None
        names = objectives(experiment) if experiment is not None else []
        objective = (search or {}).get("objective") or (
            self.objective_field.currentText() if not reset else "") or (
            default_objective(experiment) if experiment is not None else "")
        with QSignalBlocker(self.objective_field):
            self.objective_field.clear()
            self.objective_field.addItems(_unique(names + [objective] if objective else names))
            self.objective_field.setCurrentText(objective)
        if search is not None or reset:
            with QSignalBlocker(self.method_field):
                index = self.method_field.findData((search or {}).get("method", "random"))
                self.method_field.setCurrentIndex(max(0, index))
            with QSignalBlocker(self.trials_field):
                self.trials_field.setValue(int((search or {}).get("trials", DEFAULT_TRIALS)))
        epochs = experiment.training.get("epochs") if experiment is not None else None
        self.epochs_field.setSpecialValueText(f"as in training ({epochs})" if epochs else "as in training")
        self._show_direction()

    def _show_direction(self) -> None:
        objective = self.objective_field.currentText()
        direction = objective_direction(self._search() or {}, objective) if objective else "max"
        self.direction_label.setText("higher is better" if direction == "max" else "lower is better")

    def _push_setting(self, key: str, value: Any) -> None:
        """Store one setting in the search section (one undo step per field, steps merged)."""
        search = self._search()
        self._show_direction()
        if search is None or self._document is None or search.get(key) == value:
            return  # no search yet: the first hyperparameter added takes the fields' settings
        section = copy.deepcopy(search)
        section[key] = value
        if key == "objective":
            section.pop("direction", None)  # inferred from the new metric's name
        problem = self._check(section, None)
        if problem is not None:
            self._show_space_message(problem)
            return
        self._document.push(SetSectionCommand(self._document, "search", section, key=f"search {key}"))

    # ----------------------------------------------------------------- run
    def _start_problem(self) -> str | None:
        document = self._document
        if document is None:
            return "Cannot search: no experiment is open"
        if not document.is_backend_ready:
            return "Keras is still loading…"
        if not self.space:
            return "Add a hyperparameter first: pick one under Search space and press Add"
        self._refresh_space()
        broken = [p for p in self._problems if p]
        if broken:
            return f"Cannot search: fix or remove the hyperparameters in red first ({broken[0]})"
        return None

    def _refresh_buttons(self) -> None:
        running = self.running
        self.run_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        has_rows = self.space_table.rowCount() > 0
        selected = self._selected_index() is not None
        self.update_button.setEnabled(has_rows and selected)
        self.remove_button.setEnabled(has_rows and selected)
        result = self.result
        self.apply_button.setEnabled(not running and result is not None and result.best is not None)

    def _show_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {ERROR_COLOR};" if error else "")

    def _show_apply(self, text: str, error: bool = False) -> None:
        self.apply_status.setText(text)
        self.apply_status.setStyleSheet(f"color: {ERROR_COLOR};" if error else "")

    def _end_run(self) -> None:
        self._refresh_buttons()
        self.runs_changed.emit()  # trial runs were written, however it ended

    # ------------------------------------------------------------- results
    def _rows(self) -> list[dict]:
        return list(self._trials.values())

    def _best_id(self) -> str | None:
        if self.result is not None:
            best = self.result.best
            return best.id if best is not None else None
        scored = [r for r in self._rows() if r["score"] is not None]
        if not scored:
            return None
        pick = max if self._direction == "max" else min
        return pick(scored, key=lambda r: r["score"])["trial"]

    def _fill_results(self) -> None:
        table = self.results_table
        targets = [e["target"] for e in self._run_space]
        columns = ["trial", "status", self._objective or "score"] + [short_label(t) for t in targets]
        rows = self._rows()
        best = self._best_id()
        table.setSortingEnabled(False)
        table.setColumnCount(len(columns))
        table.setHorizontalHeaderLabels(columns)
        table.setRowCount(len(rows))
        bold = QFont(table.font())
        bold.setBold(True)
        for row, trial in enumerate(rows):
            score = trial["score"]
            status = trial["status"] + (" ★ best" if trial["trial"] == best else "")
            items = [sortable_item(trial["trial"], _trial_key(trial["trial"]), align_right=True),
                     sortable_item(status, trial["status"]),
                     sortable_item(f"{score:.4f}" if score is not None else "–", score, align_right=True)]
            for target in targets:
                value = trial["values"].get(target)
                numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
                items.append(sortable_item(format_value(value) if value is not None else "",
                                           value if numeric else format_value(value),
                                           align_right=numeric))
            tip = trial.get("message") or (str(trial["run"]) if trial.get("run") else "")
            for col, item in enumerate(items):
                if tip:
                    item.setToolTip(tip)
                if trial["trial"] == best:
                    item.setFont(bold)
                if trial["status"] == "failed":
                    item.setForeground(QBrush(QColor(ERROR_COLOR)))
                table.setItem(row, col, item)
        table.setSortingEnabled(True)
        table.resizeColumnsToContents()

    def _fill_param_choice(self) -> None:
        current = self.param_field.currentData()
        with QSignalBlocker(self.param_field):
            self.param_field.clear()
            for entry in self._run_space:
                self.param_field.addItem(short_label(entry["target"]), entry["target"])
            index = self.param_field.findData(current)
            self.param_field.setCurrentIndex(index if index >= 0 else 0)

    def _draw(self) -> None:
        rows = self._rows()
        # x is the trial's number as the table shows it ("07" is 7), else its place in time.
        numbered = sorted((_trial_key(t["trial"]) if t["trial"].isdigit() else place, t["score"])
                          for place, t in enumerate(rows))
        xs, ys, best, running = [], [], [], None
        for number, score in numbered:
            if score is None or not math.isfinite(score):
                continue
            better = running is None or (score > running if self._direction == "max" else score < running)
            running = score if better else running
            xs.append(number)
            ys.append(score)
            best.append(running)
        self.score_points.setData(xs, ys)
        self.best_line.setData(xs, best)
        item = self.plot.getPlotItem()
        item.setLabel("left", self._objective or "score")
        # The whole search on the x axis, whole trials only: it fills as the trials end.
        count = max(self._planned, len(rows), 1)
        item.setXRange(-0.5, count - 0.5, padding=0)
        major = max(1, math.ceil(count / 10))
        item.getAxis("bottom").setTickSpacing(major, major)
        self._draw_param()

    def _draw_param(self) -> None:
        target = self.param_field.currentData()
        entry = next((e for e in self._run_space if e["target"] == target), None)
        item = self.param_plot.getPlotItem()
        axis = item.getAxis("bottom")
        if entry is None:
            self.param_points.setData([], [])
            self.param_best.setData([], [])
            axis.setTicks(None)
            return
        scored = [t for t in self._rows() if t["score"] is not None and target in t["values"]]
        categorical = entry["type"] in ("choice", "bool")
        log = entry.get("sampling", "linear") != "linear" and not categorical
        if categorical:
            labels = [format_value(v) for v in (entry.get("values") or [False, True])]
            xs = [labels.index(format_value(t["values"][target])) if format_value(t["values"][target])
                  in labels else -1 for t in scored]
            axis.setTicks([list(enumerate(labels))])
        elif log:
            # log10 of the values on a linear axis with ticks of our own: pyqtgraph's log mode
            # labels every minor tick, unreadable over a decade or two.
            xs = [math.log10(float(t["values"][target])) for t in scored]
            axis.setTicks(log_ticks(float(entry["min"]), float(entry["max"])))
        else:
            xs = [float(t["values"][target]) for t in scored]
            axis.setTicks(None)
        ys = [t["score"] for t in scored]
        self.param_points.setData(xs, ys)
        best = self._best_id()
        picked = [(x, t["score"]) for x, t in zip(xs, scored) if t["trial"] == best]
        self.param_best.setData([p[0] for p in picked], [p[1] for p in picked])
        item.setLabel("bottom", short_label(target) + (" (log scale)" if log else ""))
        item.setLabel("left", self._objective or "score")
        if categorical:
            item.setXRange(-0.5, len(labels) - 0.5, padding=0)
        else:  # the range searched, so where the trials fell in it shows
            low, high = float(entry["min"]), float(entry["max"])
            if log:
                low, high = math.log10(low), math.log10(high)
            item.setXRange(low, high, padding=0.08)

    # ------------------------------------------------------------------ slots
    def _on_document_section_changed(self, name: str) -> None:
        if name == "search":
            self._load_settings()
            self._refresh_space()
        elif name == "training":
            self._load_settings()
            self._refresh_space()  # a target's values are checked against the training
        elif name == "data":
            self._dataset = None  # loaded for the old data section

    def _on_document_graph_changed(self, _event) -> None:
        self._refresh_timer.start()

    def _on_document_validated(self, _report) -> None:
        # The first validation means Keras is ready: check against the layer catalog now.
        if not self._catalog_checked and self._catalog_ready():
            self._refresh_space()

    def _on_space_table_selection_changed(self) -> None:
        index = self._selected_index()
        space = self.space
        if index is not None and index < len(space):
            problem = self._problems[index] if index < len(self._problems) else None
            self._fill_form(space[index], problem or "")
            self.target_hint.setStyleSheet(f"color: {ERROR_COLOR};" if problem else "color: palette(mid);")
        self._refresh_buttons()

    def _on_target_field_changed(self, index: int) -> None:
        if 0 <= index < len(self._suggestions):
            suggestion = self._suggestions[index]
            self._fill_form(suggestion.entry, suggestion.label)
            self.target_hint.setStyleSheet("color: palette(mid);")

    def _on_type_field_changed(self, kind: str) -> None:
        ranged = kind in ("float", "int")
        for field in (self.min_field, self.max_field, self.step_field, self.sampling_field):
            field.setEnabled(ranged)
        self.values_field.setEnabled(kind == "choice")

    def _form_or_message(self) -> dict | None:
        try:
            return self.form_entry()
        except ValueError as error:
            self._show_space_message(str(error))
            return None

    def _on_add_button_clicked(self) -> None:
        entry = self._form_or_message()
        if entry is not None:
            self.add_entry(entry)

    def _on_update_button_clicked(self) -> None:
        entry = self._form_or_message()
        index = self._selected_index()
        if entry is not None:
            self.update_entry(-1 if index is None else index, entry)

    def _on_remove_button_clicked(self) -> None:
        index = self._selected_index()
        self.remove_entry(-1 if index is None else index)

    def _on_method_field_changed(self, _index: int) -> None:
        self._push_setting("method", self.method_field.currentData())

    def _on_trials_field_changed(self, value: int) -> None:
        self._push_setting("trials", value)

    def _on_objective_field_changed(self, text: str) -> None:
        if text:
            self._push_setting("objective", text)

    def _on_runner_stepped(self, done: float, total, message: str) -> None:
        if total:
            self._last_step = (done, int(total), message)
            self._show_progress()

    def _show_progress(self) -> None:
        """"trial k of N · epoch e/E · loss …" while a trial runs, "k of N trials done" after it."""
        if self._last_step is None:
            return
        done, total, message = self._last_step
        self.progress_bar.setRange(0, total * 100)
        self.progress_bar.setValue(int(round(done * 100)))
        head, _, detail = message.partition(": ")
        ended = len(self._trials)
        if head.removeprefix("trial ") in self._trials:  # the report of a trial that has ended
            text = f"{ended} of {total} trials done" + (f" · last {detail}" if detail else "")
        else:
            text = f"trial {min(ended + 1, total)} of {total}" + (f" · {detail}" if detail else "")
        self.progress_bar.setFormat(text)

    def _on_runner_partials(self, partials: list) -> None:
        ended = False
        for report in partials:
            if isinstance(report, dict) and report.get("kind") == "trial":
                self._trials[report["trial"]] = {
                    "trial": report["trial"], "values": dict(report.get("values") or {}),
                    "score": report.get("score"), "status": report.get("status", "completed"),
                    "run": report.get("run"), "message": None}
                ended = True
        if ended:
            self._fill_results()
            self._draw()
            self._show_progress()

    def _on_runner_finished(self, result) -> None:
        self.result = result
        self._objective, self._direction = result.objective, result.direction
        self._run_space = [dict(e) for e in result.space]
        self._trials = {t.id: {"trial": t.id, "values": dict(t.values), "score": t.score,
                               "status": t.status, "run": t.run, "message": t.message}
                        for t in result.trials}
        self._fill_param_choice()
        self._fill_results()
        self._draw()
        best = result.best
        done = sum(1 for t in result.trials if t.status == "completed")
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(1)
        self.progress_bar.setFormat(f"{done} of {len(result.trials)} trials completed in "
                                    f"{result.seconds:.0f}s")
        if best is None:
            reasons = _unique([t.message for t in result.trials if t.message])
            if result.status == "stopped":
                self._show_status("Stopped before a trial completed.", error=not result.trials)
            else:
                self._show_status("No trial completed" + (f": {reasons[-1]}" if reasons else "")
                                  + ". Check the ranges, or train the experiment once to see the error.",
                                  error=True)
        else:
            values = ", ".join(f"{short_label(k)} {format_value(v)}" for k, v in best.values.items())
            lead = ("Stopped: the finished trials are kept. " if result.status == "stopped"
                    else "Search finished. ")
            self._show_status(f"{lead}Best: trial {best.id}, {result.objective} {best.score:.4g} "
                              f"({values}). Apply best writes these values into the experiment.")
        self._end_run()
        self.search_finished.emit(result)

    def _on_runner_failed(self, message: str) -> None:
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("search failed")
        kept = f" The {len(self._trials)} trials that ended are kept in the table." if self._trials else ""
        self._show_status(f"The search failed: {message.rstrip('.')}.{kept}", error=True)
        self._end_run()
        self.search_finished.emit(None)


def _key(entry: dict) -> str:
    return json.dumps(entry, sort_keys=True)


def _trial_key(trial_id: str):
    """Trial ids sort as numbers ("2" before "10") when they are numbers."""
    return int(trial_id) if trial_id.isdigit() else trial_id
