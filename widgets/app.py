"""Start the desktop application: ``python main.py [EXPERIMENT] [--screenshot PNG]``."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment, is_bundled

ACTIVITIES = ("data", "train", "lr", "search", "inspect", "embeddings", "evaluate", "style", "attack",
              "runs", "lessons")
PANELS = ("palette", "inspector", "summary", "issues") + ACTIVITIES


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="keras-workbench", description="Keras Workbench")
    parser.add_argument("experiment", nargs="?",
                        help="experiment (.json) or Keras model (.keras, .h5) to open")
    parser.add_argument("--screenshot", metavar="PNG",
                        help="render the window once everything is loaded, save it, and exit")
    parser.add_argument("--panel", choices=PANELS,
                        help="with --screenshot: bring this panel to the front first")
    parser.add_argument("--select", metavar="NODE",
                        help="with --screenshot: select this layer first")
    parser.add_argument("--fit", action="store_true",
                        help="with --screenshot: zoom the canvas to show the whole model")
    parser.add_argument("--demo", action="store_true",
                        help="with --screenshot and --panel: first fill the panel as a user would "
                             "(train the experiment, then run the panel's action)")
    parser.add_argument("--size", default="1280x800", help="window size, WIDTHxHEIGHT")
    return parser.parse_args(argv)


def missing_gui_packages() -> list[str]:
    """The desktop app's packages (the "gui" extra) that are not installed."""
    return [name for name in ("PySide6", "pyqtgraph") if importlib.util.find_spec(name) is None]


def main(argv: Sequence[str] | None = None) -> int:
    """Open the main window on the given file, or on the default experiment."""
    args = parse_args(argv)
    missing = missing_gui_packages()
    if missing:
        print(f"The desktop app needs {' and '.join(missing)}, which come with the gui extra: "
              "pip install \"keras-workbench[gui]\" (in a checkout: pip install -e \".[gui]\"). "
              "The workbench command works without them.", file=sys.stderr)
        return 1
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from widgets.main_window import MainWindow
    from widgets.recovery import RecoveryStore

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Keras Workbench")
    app.setOrganizationName("Keras Workbench")
    target = Path(args.experiment) if args.experiment else None
    is_experiment = target is None or target.suffix.lower() == ".json"
    try:
        source = target if target and is_experiment else DEFAULT_EXPERIMENT
        experiment = Experiment.load(source)
    except WorkbenchError as error:
        print(f"keras-workbench: error: {error}", file=sys.stderr)
        return 1
    if is_bundled(source):
        experiment.path = None  # a template: Save asks where, the bundled file stays as it is
    if args.screenshot:
        # A screenshot must not depend on, or change, the user's saved layout and recovery.
        import tempfile

        from PySide6.QtCore import QSettings

        scratch = Path(tempfile.mkdtemp(prefix="workbench-shot-"))
        settings = QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat)
        settings.setValue("runsDir", str(scratch / "runs"))
        recovery = RecoveryStore(scratch / "recovery.json")
    else:
        settings, recovery = None, RecoveryStore()
    window = MainWindow(experiment, settings=settings, recovery=recovery)
    width, _, height = args.size.partition("x")
    window.resize(int(width), int(height))
    window.show()
    if not args.screenshot and recovery.exists():
        recovered = recovery.read()
        if recovered is not None and QMessageBox.question(
            window, "Recover unsaved work",
            f"Keras Workbench did not close properly. Restore the unsaved changes to "
            f"{recovered.name}?") == QMessageBox.StandardButton.Yes:
            window.restore_recovered(recovered)
        else:
            recovery.clear()
    if target is not None and not is_experiment:
        window.open_path(target)  # a model: opens as soon as TensorFlow is ready

    if args.screenshot:
        def _shoot() -> None:
            if args.panel in ACTIVITIES:
                window.show_activity(args.panel)
            elif args.panel:
                dock = window.docks[args.panel]
                dock.show()
                dock.raise_()
            window.canvas.show_start()
            if args.select:
                window.document.select([args.select])
                window.canvas.centre_on_node(args.select)
            if args.fit:
                window.canvas.fit()
            if args.demo and args.panel in ACTIVITIES:
                from widgets.demo import run_demo

                run_demo(window, args.panel, lambda: QTimer.singleShot(300, _save))
            else:
                QTimer.singleShot(200, _save)

        def _save() -> None:
            window.grab().save(args.screenshot)
            window.document.undo_stack.setClean()
            window.close()
            app.quit()

        def _when_loaded(_description: str) -> None:
            QTimer.singleShot(300, _shoot)  # let pending opens and validation finish

        window.loader.loaded.connect(_when_loaded)
        window.loader.failed.connect(lambda _m: _shoot())
    QTimer.singleShot(0, window.start_backend)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
