"""Keras Workbench engine: everything that runs without Qt.

Nothing below this package imports PySide6, pyqtgraph or ``widgets``; an import-linter
contract in ``pyproject.toml`` (checked by ``tests/core/test_architecture.py``) keeps it so.
"""

from __future__ import annotations

__version__ = "0.1.0"
