"""The Qt face of Keras Workbench (PySide6 + pyqtgraph) over the ``workbench`` engine."""
