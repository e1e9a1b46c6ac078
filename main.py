"""Keras Workbench: ``python main.py [EXPERIMENT] [--screenshot PNG]``."""

import sys

from widgets.app import main

if __name__ == "__main__":
    sys.exit(main())
