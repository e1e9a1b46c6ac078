"""The main window: menus, toolbar, the model canvas and its panels around one document."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QMimeData, QPointF, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QTabBar,
    QTabWidget,
    QToolBar,
)

from widgets.attack_panel import AttackPanel
from widgets.backend_loader import BackendLoader
from widgets.canvas.canvas import GraphCanvas
from widgets.commands import (
    AddNodeCommand,
    AutoLayoutCommand,
    ConnectCommand,
    DisconnectCommand,
    PasteCommand,
    RemoveNodesCommand,
)
from widgets.data_panel import DataPanel
from widgets.document import Document
from widgets.embed_panel import EmbedPanel
from widgets.evaluate_panel import EvaluatePanel
from widgets.export_dialog import ExportDialog
from widgets.inspect_panel import InspectPanel
from widgets.inspector import Inspector
from widgets.issues_panel import IssuesPanel
from widgets.lessons_panel import LessonsPanel
from widgets.lr_panel import LRPanel
from widgets.palette import LayerPalette
from widgets.recovery import RecoveryStore
from widgets.runs_panel import RunsPanel
from widgets.search_panel import SearchPanel
from widgets.style_panel import StylePanel
from widgets.summary_panel import ModelSummary
from widgets.train_panel import TrainPanel
from workbench.errors import UnsafeModelError, WorkbenchError
from workbench.experiment import Experiment, bundled_templates, is_bundled
from workbench.graph.catalog import outline
from workbench.graph.layout import COLUMN_WIDTH, ROW_HEIGHT, free_spot
from workbench.modelio import MODEL_SUFFIXES

FRAGMENT_MIME = "application/x-keras-workbench-fragment"
_MAX_RECENT = 8


class MainWindow(QMainWindow):
    """Top-level window over one open experiment (a ``Document``).

    Signals:
        document_replaced(Document): New, Open or Import put another document in place.
    """

    document_replaced = Signal(object)

    def __init__(self, experiment: Experiment, settings: QSettings | None = None,
                 recovery: RecoveryStore | None = None):
        super().__init__()
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)
        self.settings = settings or QSettings()
        self.recovery = recovery or RecoveryStore()
        self.document = Document(experiment, parent=self)
        self.canvas = GraphCanvas(self.document)
        self.runs_dir = Path(str(self.settings.value("runsDir", str(default_runs_dir()))))
        self.data_panel = DataPanel(self.document, auto_load=True)
        self.train_panel = TrainPanel(self.document, self.runs_dir)
        self.lr_panel = LRPanel(self.document)
        self.search_panel = SearchPanel(self.document, self.runs_dir)
        self.inspect_panel = InspectPanel()
        self.embed_panel = EmbedPanel()
        self.evaluate_panel = EvaluatePanel()
        self.style_panel = StylePanel()
        self.attack_panel = AttackPanel()
        self.runs_panel = RunsPanel(self.runs_dir)
        self.lessons_panel = LessonsPanel(self.runs_dir)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("activityTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.canvas, "Model")
        self._activity_tabs = {"model": 0}
        for name, widget, title in (
                ("data", self.data_panel, "Data"), ("train", self.train_panel, "Train"),
                ("lr", self.lr_panel, "LR finder"), ("search", self.search_panel, "Search"),
                ("inspect", self.inspect_panel, "Inspect"),
                ("embeddings", self.embed_panel, "Embeddings"),
                ("evaluate", self.evaluate_panel, "Evaluate"), ("style", self.style_panel, "Style"),
                ("attack", self.attack_panel, "Attack"), ("runs", self.runs_panel, "Runs"),
                ("lessons", self.lessons_panel, "Lessons")):
            # Scrollable pages: a wide activity page must not squeeze the builder's docks
            # (the tab widget is as wide as its widest page).
            scroller = QScrollArea()
            scroller.setWidgetResizable(True)
            scroller.setFrameShape(QScrollArea.Shape.NoFrame)
            scroller.setWidget(widget)
            self._activity_tabs[name] = self.tabs.addTab(scroller, title)
        self.setCentralWidget(self.tabs)
        self._pending_open: list[Path] = []
        self._make_docks()
        self._make_actions()
        self._make_menus()
        self._make_toolbar()
        self._make_activity_bar()  # a second toolbar row, under the main one
        self._status_counts = QLabel()
        self._status_counts.setObjectName("statusCounts")
        self.statusBar().addPermanentWidget(self._status_counts)
        self._connect_document()
        self.canvas.message.connect(self._on_canvas_message)
        self.canvas.layer_dropped.connect(self._on_canvas_layer_dropped)
        self.canvas.block_opened.connect(self._on_canvas_block_opened)
        self.palette.layer_requested.connect(self._on_palette_layer_requested)
        self.tabs.currentChanged.connect(self._on_tabs_current_changed)
        self.data_panel.dataset_loaded.connect(self.train_panel.set_dataset)
        self.data_panel.dataset_loaded.connect(self.lr_panel.set_dataset)
        self.data_panel.dataset_loaded.connect(self.search_panel.set_dataset)
        self.search_panel.runs_changed.connect(self.runs_panel.refresh)
        self.train_panel.run_finished.connect(self._on_train_panel_run_finished)
        self.runs_panel.model_requested.connect(self._on_runs_panel_model_requested)
        self.runs_panel.runs_dir_changed.connect(self._on_runs_panel_runs_dir_changed)
        self.lessons_panel.group_finished.connect(lambda _results: self.runs_panel.refresh())
        self.lessons_panel.open_requested.connect(self._on_lessons_panel_open_requested)
        self.inspect_panel.model_opened.connect(self._on_inspect_panel_model_opened)
        self.embed_panel.sample_requested.connect(self._on_embed_panel_sample_requested)
        self.evaluate_panel.sample_requested.connect(self._on_embed_panel_sample_requested)
        self._builder_docks_visible: dict[str, bool] = {}
        self.issues.node_activated.connect(self.canvas.centre_on_node)
        self.issues.count_changed.connect(self._on_issues_count_changed)
        self.loader = BackendLoader(self)
        self.loader.loaded.connect(self._on_loader_loaded)
        self.loader.failed.connect(self._on_loader_failed)
        self._autosave = QTimer(self)
        self._autosave.setInterval(30_000)
        self._autosave.timeout.connect(self.autosave)
        self._autosave.start()
        self.restore_window_state()
        self._update_title()
        QApplication.instance().installEventFilter(self)
        self.statusBar().showMessage("Loading TensorFlow…")

    # ------------------------------------------------------------ building
    def _make_docks(self) -> None:
        self.palette = LayerPalette()
        self.inspector = Inspector(self.document)
        self.summary = ModelSummary(self.document)
        self.issues = IssuesPanel(self.document)
        self.docks: dict[str, QDockWidget] = {}
        # The inspector gets the full height on the right (forms are tall); the summary
        # table and the issues list share the bottom, under the canvas.
        for name, title, widget, area in (
            ("palette", "Layers", self.palette, Qt.DockWidgetArea.LeftDockWidgetArea),
            ("inspector", "Inspector", self.inspector, Qt.DockWidgetArea.RightDockWidgetArea),
            ("summary", "Model summary", self.summary, Qt.DockWidgetArea.BottomDockWidgetArea),
            ("issues", "Issues", self.issues, Qt.DockWidgetArea.BottomDockWidgetArea),
        ):
            dock = QDockWidget(title, self)
            dock.setObjectName(f"{name}Dock")
            dock.setWidget(widget)
            self.addDockWidget(area, dock)
            self.docks[name] = dock
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.splitDockWidget(self.docks["summary"], self.docks["issues"],
                             Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["palette"], self.docks["inspector"]], [210, 320],
                         Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["summary"], self.docks["issues"]], [430, 300],
                         Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["summary"]], [190], Qt.Orientation.Vertical)

    def _action(self, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        return action

    def _make_actions(self) -> None:
        keys = QKeySequence.StandardKey
        stack = self.document.undo_stack
        self.actions_by_name = {
            "new": self._action("&New", self.new_document, keys.New, "Start an empty model"),
            "open": self._action("&Open…", self.open_dialog, keys.Open,
                                 "Open an experiment or a .keras/.h5 model"),
            "save": self._action("&Save", self.save, keys.Save),
            "save_as": self._action("Save &As…", self.save_as, keys.SaveAs),
            "import": self._action("&Import Keras model…", self.import_dialog, "Ctrl+I",
                                   "Open a .keras or .h5 model as an editable graph"),
            "export": self._action("&Export model…", self.export_dialog, "Ctrl+E",
                                   "Build the model and save it as .keras or .h5"),
            "quit": self._action("&Quit", self.close, keys.Quit),
            "cut": self._action("Cu&t", self.cut, keys.Cut),
            "copy": self._action("&Copy", self.copy, keys.Copy),
            "paste": self._action("&Paste", self.paste, keys.Paste),
            "duplicate": self._action("D&uplicate", self.duplicate, "Ctrl+D"),
            "delete": self._action("&Delete", self.delete_selection, keys.Delete),
            "select_all": self._action("Select &All", self.select_all, keys.SelectAll),
            "fit": self._action("&Fit to window", self.canvas.fit, "Ctrl+0"),
            "zoom_in": self._action("Zoom &in", lambda: self.canvas.zoom(1.25), keys.ZoomIn),
            "zoom_out": self._action("Zoom &out", lambda: self.canvas.zoom(0.8), keys.ZoomOut),
            "layout": self._action("&Auto-layout", self.auto_layout, "Ctrl+L",
                                   "Arrange the layers left to right"),
            "leave_block": self._action("&Leave block", self.canvas.leave_block, "Alt+Up",
                                        "Back from the inside of a nested block (Esc)"),
        }
        # The window owns Undo/Redo and points them at the open document's stack: actions
        # made by a stack die with it when another document is opened.
        self.undo_action = self._action("&Undo", lambda: self.document.undo_stack.undo(), keys.Undo)
        self.redo_action = self._action("&Redo", lambda: self.document.undo_stack.redo(), keys.Redo)
        self._bind_undo_actions(stack)
        self.actions_by_name["delete"].setShortcuts([QKeySequence(keys.Delete),
                                                     QKeySequence("Backspace")])
        self.actions_by_name["leave_block"].setEnabled(False)

    def _make_menus(self) -> None:
        a = self.actions_by_name
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(a["new"])
        templates = file_menu.addMenu("New from &template")
        templates.setObjectName("templatesMenu")
        for name, path in bundled_templates().items():
            templates.addAction(name.replace("_", " "), lambda p=path: self.open_path(
                p, as_template=True))
        file_menu.addAction(a["open"])
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        file_menu.addActions([a["save"], a["save_as"]])
        file_menu.addSeparator()
        file_menu.addActions([a["import"], a["export"]])
        file_menu.addSeparator()
        file_menu.addAction(a["quit"])
        edit = self.menuBar().addMenu("&Edit")
        edit.addActions([self.undo_action, self.redo_action])
        edit.addSeparator()
        edit.addActions([a["cut"], a["copy"], a["paste"], a["duplicate"], a["delete"]])
        edit.addSeparator()
        edit.addAction(a["select_all"])
        view = self.menuBar().addMenu("&View")
        view.addActions([a["fit"], a["zoom_in"], a["zoom_out"], a["layout"], a["leave_block"]])
        view.addSeparator()
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())

    def _make_activity_bar(self) -> None:
        """The activity tabs in a toolbar row of their own: it spans the whole window, where
        the tab widget's own bar is only as wide as the canvas between the docks (too narrow
        for twelve tabs at 1280 pixels). The tab widget keeps the pages and the index."""
        bar = QTabBar()
        bar.setObjectName("activityBar")
        bar.setDocumentMode(True)
        bar.setExpanding(False)
        bar.setDrawBase(False)
        for index in range(self.tabs.count()):
            bar.addTab(self.tabs.tabText(index))
        bar.currentChanged.connect(self.tabs.setCurrentIndex)
        self.tabs.currentChanged.connect(bar.setCurrentIndex)
        self.tabs.tabBar().hide()
        self.activity_bar = bar
        row = QToolBar("Activities")
        row.setObjectName("activityToolbar")
        row.setMovable(False)
        row.addWidget(bar)
        self.addToolBarBreak()
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, row)

    def _make_toolbar(self) -> None:
        bar = self.addToolBar("Main")
        bar.setObjectName("mainToolbar")
        bar.setMovable(False)
        a = self.actions_by_name
        bar.addActions([a["new"], a["open"], a["save"]])
        bar.addSeparator()
        bar.addActions([self.undo_action, self.redo_action])
        bar.addSeparator()
        bar.addActions([a["layout"], a["fit"]])
        bar.addSeparator()
        bar.addActions([a["import"], a["export"]])

    # -------------------------------------------------------------- document
    def _connect_document(self) -> None:
        self.document.dirty_changed.connect(self._on_document_dirty_changed)
        self.document.validated.connect(self._on_document_validated)

    def set_document(self, document: Document) -> None:
        """Replace the open document (after New, Open or Import)."""
        old = self.document
        old.close()
        self.document = document
        document.setParent(self)
        self._connect_document()
        for panel in (self.canvas, self.inspector, self.summary, self.issues, self.data_panel,
                      self.train_panel, self.lr_panel, self.search_panel):
            panel.set_document(document)
        self._bind_undo_actions(document.undo_stack)
        if self.loader.is_loaded:
            document.backend_ready()
        self._update_title()
        self.document_replaced.emit(document)
        old.deleteLater()

    def _bind_undo_actions(self, stack) -> None:
        """Point Undo/Redo at ``stack`` (the open document's), leaving the previous one."""
        previous = getattr(self, "_bound_stack", None)
        if previous is not None:
            for signal in (previous.indexChanged, previous.cleanChanged):
                try:
                    signal.disconnect(self._refresh_undo_actions)
                except (RuntimeError, TypeError):  # already gone with its document
                    pass
        self._bound_stack = stack
        stack.indexChanged.connect(self._refresh_undo_actions)
        stack.cleanChanged.connect(self._refresh_undo_actions)
        self._refresh_undo_actions()

    def _refresh_undo_actions(self, *_args) -> None:
        # Short, steady labels (the toolbar does not jump); the step's name is the tooltip.
        stack = self.document.undo_stack
        for action, can, text, verb in (
            (self.undo_action, stack.canUndo(), stack.undoText(), "Undo"),
            (self.redo_action, stack.canRedo(), stack.redoText(), "Redo"),
        ):
            action.setEnabled(can)
            action.setToolTip(f"{verb} {text}" if can else verb)
            action.setStatusTip(action.toolTip())

    def _update_title(self) -> None:
        name = self.document.title
        where = f" ({self.document.path.name})" if self.document.path else ""
        self.setWindowTitle(f"{name}{where}[*] — Keras Workbench")
        self.setWindowModified(self.document.dirty)

    # -------------------------------------------------------------- backend
    def start_backend(self) -> None:
        """Import TensorFlow in the background; call once the window is visible."""
        self.loader.start()

    def _on_loader_loaded(self, description: str) -> None:
        self.statusBar().showMessage(f"Ready: {description}", 8000)
        self.palette.load_help()
        self.document.backend_ready()
        pending, self._pending_open = self._pending_open, []
        for path in pending:
            self.open_path(path)

    def _on_loader_failed(self, message: str) -> None:
        self.statusBar().showMessage(message)
        QMessageBox.critical(self, "Keras Workbench", message)

    # ------------------------------------------------------------ file menu
    def confirm_discard(self) -> bool:
        """True when the current document may be replaced (saved, discarded or clean)."""
        if not self.document.dirty:
            return True
        answer = self.ask_save_changes()
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def ask_save_changes(self) -> QMessageBox.StandardButton:
        """Ask whether to save; a separate method so tests can answer it."""
        return QMessageBox.question(
            self, "Unsaved changes",
            f"Save the changes to {self.document.title} before closing it?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save,
        )

    def running_tabs(self) -> list[str]:
        """The tabs with work under way (a training run, a search...), by their titles."""
        running = []
        for index in self._activity_tabs.values():
            page = self.tabs.widget(index)
            panel = page.widget() if isinstance(page, QScrollArea) else page
            if getattr(panel, "running", False):
                running.append(self.tabs.tabText(index))
        return running

    def confirm_stop_work(self) -> bool:
        """True when nothing runs, or the user agrees to stop what does (closing stops it)."""
        running = self.running_tabs()
        return not running or self.ask_stop_work(running)

    def ask_stop_work(self, tabs: list[str]) -> bool:
        """Ask whether to stop the work of ``tabs`` and close; a separate method so tests can
        answer it."""
        answer = QMessageBox.question(
            self, "Work in progress",
            f"Still running: {', '.join(tabs)}. Stop and close the window?\n\n"
            "A training run is kept, marked stopped, with the model trained so far.",
            QMessageBox.StandardButton.Close | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Close

    def new_document(self) -> None:
        if not self.confirm_discard():
            return
        experiment = Experiment(name="untitled")
        experiment.graph.add_node("Input", {"shape": [8, 8, 1]}, "input")
        self.set_document(Document(experiment))

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open", str(self._last_folder()),
            "Experiments and models (*.json *.keras *.h5 *.hdf5);;All files (*)")
        if path:
            self.open_path(Path(path))

    def import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import Keras model", str(self._last_folder()),
                                              "Keras models (*.keras *.h5 *.hdf5)")
        if path:
            self.open_path(Path(path))

    def open_path(self, path: str | Path, as_template: bool = False) -> bool:
        """Open an experiment (.json) or import a model (.keras/.h5) into a new document.

        A file that cannot be read leaves the current document untouched and says why.
        """
        path = Path(path)
        if not self.confirm_discard():
            return False
        is_model = path.suffix.lower() in MODEL_SUFFIXES
        if is_model and not self.loader.is_loaded:
            self._pending_open.append(path)
            self.statusBar().showMessage(f"{path.name} opens as soon as TensorFlow is ready…")
            return False
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            document = self._read_document(path, is_model)
        except WorkbenchError as error:
            QApplication.restoreOverrideCursor()
            self.show_error("Cannot open", str(error))
            return False
        finally:
            if QApplication.overrideCursor() is not None:
                QApplication.restoreOverrideCursor()
        if document is None:
            return False
        if as_template or is_bundled(path):
            document.experiment.path = None  # a bundled file is a template: Save asks where
        else:
            self._add_recent(path)
        self.set_document(document)
        self.statusBar().showMessage(f"Opened {path.name}: {len(document.graph)} layers", 5000)
        return True

    def _read_document(self, path: Path, is_model: bool) -> Document | None:
        if not is_model:
            return Document(Experiment.load(path))
        from workbench.graph.convert import from_keras
        from workbench.modelio import load_model_file

        try:
            model = load_model_file(path)
        except UnsafeModelError as error:
            if not self.ask_allow_unsafe(str(error)):
                return None
            model = load_model_file(path, allow_unsafe=True)
        graph, weights = from_keras(model)
        experiment = Experiment(name=path.stem, graph=graph)
        return Document(experiment, weights)

    def ask_allow_unsafe(self, message: str) -> bool:
        """Ask before loading a model that runs code from the file (tests answer it)."""
        message = message.replace(" (--unsafe)", "")  # the CLI's flag means nothing here
        answer = QMessageBox.warning(
            self, "Model contains code", message + "\n\nLoad it anyway?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        return self._save_to(self.document.path)

    def save_as(self) -> bool:
        start = self.document.path or self._last_folder() / f"{self.document.title}.json"
        path, _ = QFileDialog.getSaveFileName(self, "Save experiment", str(start),
                                              "Experiments (*.json)")
        if not path:
            return False
        if not path.endswith(".json"):
            path += ".json"
        return self._save_to(Path(path))

    def _save_to(self, path: Path) -> bool:
        try:
            self.document.save(path)
        except WorkbenchError as error:
            self.show_error("Cannot save", str(error))
            return False
        self.recovery.clear()
        self._add_recent(path)
        self._update_title()
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def export_dialog(self) -> ExportDialog | None:
        """Export the model graph, or the last trained or opened model, in any format."""
        if not self.loader.is_loaded:
            self.show_error("Cannot export yet", "TensorFlow is still loading; try again shortly.")
            return None
        # A frozen copy: edits made while the export runs do not change it.
        experiment = Experiment.from_dict(self.document.experiment.to_dict(),
                                          path=self.document.experiment.path)
        weights = dict(self.document.weights or {})

        def from_graph():
            from workbench.export.source import ExportSource
            from workbench.graph.convert import build_model

            return ExportSource.from_model(build_model(experiment.graph, weights or None).model,
                                           experiment, trained=bool(weights))

        state = "imported weights" if weights else "untrained"
        sources = [(f"The model graph ({state})", from_graph)]
        trained = self.inspect_panel.model
        if trained is not None:
            label = self.inspect_panel.source_label or "the last trained model"
            # With the experiment it was trained from: its data calibrate int8 and check the
            # exported file, and the Python export writes its data and training code.
            trained_from, data = self.inspect_panel.experiment, self.inspect_panel.dataset

            def from_trained():
                from workbench.export.source import ExportSource

                return ExportSource.from_model(trained, trained_from, dataset=data)

            sources.insert(0, (f"Trained: {label}", from_trained))
        dialog = ExportDialog(sources, self.document.title, self._last_folder(), self)
        dialog.exported.connect(self._on_export_dialog_exported)
        dialog.show()
        return dialog

    def _on_export_dialog_exported(self, result) -> None:
        if result is not None:
            self.statusBar().showMessage(f"Exported {result.path}", 8000)

    def export_model(self, path: Path) -> bool:
        """Build the graph (with any imported weights) and save it as .keras or .h5."""
        if not self.loader.is_loaded:
            self.show_error("Cannot export yet", "TensorFlow is still loading; try again shortly.")
            return False
        from workbench.graph.convert import build_model
        from workbench.modelio import save_model_file

        try:
            result = build_model(self.document.graph, self.document.weights)
            save_model_file(result.model, path)
        except WorkbenchError as error:
            self.show_error("Cannot export", str(error))
            return False
        note = f" (fresh weights for {', '.join(result.skipped)})" if result.skipped else ""
        self.statusBar().showMessage(f"Exported {path.name}{note}", 8000)
        return True

    def show_error(self, title: str, message: str) -> None:
        """Show a readable error; a separate method so tests can collect it."""
        self.statusBar().showMessage(message, 10000)
        QMessageBox.warning(self, title, message)

    # --------------------------------------------------------------- editing
    def _on_palette_layer_requested(self, type_name: str) -> None:
        """Add after the selected node (inserted into its chain), or in the middle of the view."""
        selected = self.document.selection[-1] if self.document.selection else None
        if selected is not None:
            x, y = self.document.graph.nodes[selected].pos
            pos = (x + COLUMN_WIDTH / 2, y + ROW_HEIGHT)
        else:
            centre = self.canvas.visible_centre()
            pos = (centre.x(), centre.y())
        self.add_layer(type_name, free_spot(self.document.graph, pos), after=selected)

    def _on_canvas_layer_dropped(self, type_name: str, scene_pos: QPointF) -> None:
        self.add_layer(type_name, (scene_pos.x(), scene_pos.y()))

    def add_layer(self, type_name: str, pos: tuple[float, float], after: str | None = None) -> str:
        if self.canvas.read_only:
            self.statusBar().showMessage("Leave the block to edit the model", 4000)
            return ""
        entry = outline().get(type_name)
        params = dict(entry.initial) if entry else {}
        graph = self.document.graph
        command = AddNodeCommand(graph, type_name, params, pos, after)
        single_input = entry is not None and entry.inputs.maximum == 1
        # A layer added after one that feeds others goes in between (as in a Sequential
        # model), so adding BatchNormalization after a Conv2D keeps the chain whole.
        downstream = [e for e in graph.out_edges(after) if e.index == 0] if after else []
        stack = self.document.undo_stack
        stack.beginMacro(command.text())
        try:
            if single_input:
                for edge in downstream:
                    stack.push(DisconnectCommand(graph, edge))
            stack.push(command)
            if single_input:
                for edge in downstream:
                    stack.push(ConnectCommand(graph, command.node_id, edge.target, edge.port))
        finally:
            stack.endMacro()
        self.document.select([command.node_id])
        return command.node_id

    def copy(self) -> None:
        ids = self.document.selection
        if not ids:
            return
        fragment = self.document.graph.copy_fragment(ids)
        data = QMimeData()
        text = json.dumps(fragment)
        data.setData(FRAGMENT_MIME, QByteArray(text.encode()))
        data.setText(text)
        QApplication.clipboard().setMimeData(data)

    def cut(self) -> None:
        self.copy()
        self.delete_selection("Cut")

    def paste(self) -> None:
        data = QApplication.clipboard().mimeData()
        if data is None or not data.hasFormat(FRAGMENT_MIME) or self.canvas.read_only:
            return
        fragment = json.loads(bytes(data.data(FRAGMENT_MIME)).decode())
        self._paste_fragment(fragment, "Paste")

    def duplicate(self) -> None:
        if self.document.selection and not self.canvas.read_only:
            fragment = self.document.graph.copy_fragment(self.document.selection)
            self._paste_fragment(fragment, "Duplicate")

    def _paste_fragment(self, fragment: dict, text: str) -> None:
        command = PasteCommand(self.document.graph, fragment, (40.0, 40.0), text)
        try:
            self.document.push(command)
        except WorkbenchError as error:
            self.show_error(f"Cannot {text.lower()}", str(error))
            return
        self.document.select(command.new_ids)

    def delete_selection(self, text: str = "Delete") -> None:
        if self.canvas.read_only:
            return
        graph = self.document.graph
        nodes = list(self.document.selection)
        edges = [] if nodes else [
            e for item in self.canvas.selected_edges() for e in graph.edges
            if (e.source, e.target, e.port, e.index)
            == (item.source.node_id, item.target.node_id, item.port, item.index)
        ]
        if nodes:
            self.document.push(RemoveNodesCommand(graph, nodes, text if isinstance(
                text, str) else "Delete"))
        elif edges:
            stack = self.document.undo_stack
            stack.beginMacro("Disconnect")
            for edge in edges:
                stack.push(DisconnectCommand(graph, edge))
            stack.endMacro()

    def select_all(self) -> None:
        self.document.select(list(self.document.graph.nodes))

    def auto_layout(self) -> None:
        if not self.canvas.read_only:
            self.document.push(AutoLayoutCommand(self.document.graph))
            self.canvas.fit()

    # ------------------------------------------------------------- slots
    def _on_document_dirty_changed(self, dirty: bool) -> None:
        self.setWindowModified(dirty)

    def _on_document_validated(self, report) -> None:
        errors = len(report.errors())
        state = "ok" if report.ok else f"{errors} error{'s' if errors != 1 else ''}"
        self._status_counts.setText(
            f"{len(self.document.graph)} layers · {report.total_params:,} params · {state}")

    def _on_issues_count_changed(self, errors: int, warnings: int) -> None:
        total = errors + warnings
        self.docks["issues"].setWindowTitle(f"Issues ({total})" if total else "Issues")

    def show_activity(self, name: str) -> None:
        """Bring an activity tab to the front: model, data, train, lr, search, inspect,
        embeddings, evaluate, style, attack, runs or lessons."""
        self.tabs.setCurrentIndex(self._activity_tabs[name])

    def _on_tabs_current_changed(self, index: int) -> None:
        # The builder's docks only make sense next to the canvas: the other activities get
        # the whole window, and the docks come back as they were.
        builder = ("palette", "inspector", "summary", "issues")
        if index == 0:
            for name, visible in self._builder_docks_visible.items():
                self.docks[name].setVisible(visible)
            self._builder_docks_visible = {}
        elif not self._builder_docks_visible:
            self._builder_docks_visible = {n: self.docks[n].isVisible() for n in builder}
            for name in builder:
                self.docks[name].hide()

    def _on_train_panel_run_finished(self, result) -> None:
        self.runs_panel.refresh()
        if result.run is not None:
            self.statusBar().showMessage(f"Run {result.status}: {result.run.path}", 10000)
        if result.model is not None and not self.inspect_panel.running:
            label = f"run {result.run.id} (as trained)" if result.run is not None else "the last run"
            # The run's own data: the Data panel may not have loaded it (its tab never shown).
            dataset = result.dataset if result.dataset is not None else self.data_panel.dataset
            self.inspect_panel.set_model(result.model, dataset, label, _run_experiment(result.run))
            self._on_inspect_panel_model_opened(result.model, dataset, label)

    def _on_inspect_panel_model_opened(self, model, dataset, label: str) -> None:
        """The panels that look at a trained model follow the Inspect panel's."""
        for panel in (self.embed_panel, self.evaluate_panel, self.style_panel, self.attack_panel):
            if not panel.running:
                panel.set_model(model, dataset, label)

    def _on_embed_panel_sample_requested(self, index: int) -> None:
        """A sample clicked in the Embeddings or Evaluate tab opens in the Inspect tab."""
        self.inspect_panel.show_sample(index)
        self.show_activity("inspect")

    def _on_lessons_panel_open_requested(self, path: Path) -> None:
        """A lesson's member opens in the editor (as a template: Save asks where)."""
        if self.open_path(path):
            self.show_activity("model")

    def _on_runs_panel_model_requested(self, run) -> None:
        if self.inspect_panel.open_path(run.path):
            self.show_activity("inspect")
            self.statusBar().showMessage(f"Opening run {run.id} in the Inspect panel", 6000)

    def _on_runs_panel_runs_dir_changed(self, runs_dir: Path) -> None:
        """One runs folder for the whole window: the runs trained, searched or run as lessons
        from now on go where the Runs tab looks, and the next session starts there."""
        self.runs_dir = Path(runs_dir)
        self.settings.setValue("runsDir", str(self.runs_dir))
        for panel in (self.train_panel, self.search_panel, self.lessons_panel):
            panel.runs_dir = self.runs_dir
        self.statusBar().showMessage(f"Runs folder: {self.runs_dir} (new runs are saved there)",
                                     8000)

    def _on_canvas_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def _on_canvas_block_opened(self, node_id: str) -> None:
        self.actions_by_name["leave_block"].setEnabled(bool(node_id))

    # --------------------------------------------------- recent, state, close
    def _last_folder(self) -> Path:
        recent = self.recent_files()
        return Path(recent[0]).parent if recent else Path.home()

    def recent_files(self) -> list[str]:
        value = self.settings.value("recentFiles", [])
        if isinstance(value, str):
            value = [value]
        return [v for v in (value or []) if Path(v).exists()]

    def _add_recent(self, path: Path) -> None:
        items = [str(path.resolve())] + [p for p in self.recent_files()
                                         if p != str(path.resolve())]
        self.settings.setValue("recentFiles", items[:_MAX_RECENT])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_files()
        if not recent:
            self.recent_menu.addAction("(none)").setEnabled(False)
        for item in recent:
            self.recent_menu.addAction(item, lambda p=item: self.open_path(Path(p)))

    def restore_window_state(self) -> None:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)

    def restore_recovered(self, experiment: Experiment) -> None:
        """Show a document recovered after a crash, marked as unsaved."""
        document = Document(experiment)
        self.set_document(document)
        document.undo_stack.resetClean()  # it differs from what is on disk
        self._update_title()
        self.statusBar().showMessage("Recovered unsaved work: save it to keep it", 10000)

    def autosave(self) -> None:
        """Write the dirty document to the recovery file (restored after a crash)."""
        if self.document.dirty:
            self.recovery.write(self.document.experiment)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        if not self.confirm_stop_work() or not self.confirm_discard():
            event.ignore()
            return
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.recovery.clear()
        self._autosave.stop()
        self.train_panel.shutdown()
        self.lr_panel.shutdown()
        self.search_panel.shutdown()
        self.inspect_panel.shutdown()
        self.embed_panel.shutdown()
        self.evaluate_panel.shutdown()
        self.style_panel.shutdown()
        self.attack_panel.shutdown()
        self.lessons_panel.shutdown()
        self.data_panel.shutdown()
        self.loader.wait()
        QApplication.instance().removeEventFilter(self)
        super().closeEvent(event)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt override)
        # A text field keeps Ctrl+Z for its own typing; once it has nothing of its own to
        # undo (a value was just committed), Ctrl+Z and Ctrl+Shift+Z go to the model.
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(watched, QLineEdit):
            if ((event.matches(QKeySequence.StandardKey.Undo) and not watched.isUndoAvailable())
                    or (event.matches(QKeySequence.StandardKey.Redo)
                        and not watched.isRedoAvailable())):
                event.ignore()
                return True
        return super().eventFilter(watched, event)

    # --------------------------------------------------------- drag and drop
    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if event.mimeData().hasUrls() and any(
            Path(u.toLocalFile()).suffix.lower() in (".json", *MODEL_SUFFIXES)
            for u in event.mimeData().urls()
        ):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt override)
        for url in event.mimeData().urls():
            path = Path(url.toLocalFile())
            if path.suffix.lower() in (".json", *MODEL_SUFFIXES):
                self.open_path(path)
                break


def default_runs_dir() -> Path:
    """Where runs go unless the user chose a folder: one place for all experiments."""
    return Path.home() / "keras-workbench" / "runs"


def _run_experiment(run):
    """The experiment ``run`` trained (its frozen copy); None without a run or when its copy
    cannot be read (exports then do without it)."""
    if run is None:
        return None
    try:
        return run.experiment()
    except WorkbenchError:
        return None
