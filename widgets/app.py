"""Start the desktop application: ``python main.py [EXPERIMENT]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from workbench.errors import WorkbenchError
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="keras-workbench", description="Keras Workbench")
    parser.add_argument("experiment", nargs="?", help="experiment file to open (.json)")
    parser.add_argument("--screenshot", metavar="PNG",
                        help="render the window, save it as PNG and exit")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Open the main window on the given experiment, or on the default one."""
    args = parse_args(argv)
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from widgets.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Keras Workbench")
    app.setOrganizationName("Keras Workbench")
    try:
        experiment = Experiment.load(args.experiment or DEFAULT_EXPERIMENT)
    except WorkbenchError as error:
        print(f"keras-workbench: error: {error}", file=sys.stderr)
        return 1
    window = MainWindow(experiment)
    window.resize(1280, 800)
    window.show()
    if args.screenshot:
        def _shoot() -> None:
            window.grab().save(args.screenshot)
            window.close()
            app.quit()

        QTimer.singleShot(300, _shoot)
    else:
        QTimer.singleShot(0, window.start_backend)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
