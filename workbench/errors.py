"""The project's own error types.

Every failure caused by the user's input (a file, a parameter, a graph) is raised as a
``WorkbenchError`` whose message is one readable sentence naming the thing at fault and, where
possible, how to fix it. The CLI prints that line and exits 1; the GUI shows it in place.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base class of every error meant to be read by a person."""


class ExperimentFileError(WorkbenchError):
    """An experiment file cannot be read: missing, malformed, or a wrong version.

    Args:
        path: the file.
        message: what is wrong.
        where: the JSON path inside the file (``model.nodes[2].type``), if known.
    """

    def __init__(self, path: str, message: str, where: str | None = None):
        self.path = str(path)
        self.where = where
        location = f"{self.path}: {where}: " if where else f"{self.path}: "
        super().__init__(location + message)


class GraphError(WorkbenchError):
    """An edit or a build that the model graph cannot accept.

    Args:
        message: what is wrong.
        node: the id of the node at fault, if there is one.
    """

    def __init__(self, message: str, node: str | None = None):
        self.node = node
        super().__init__(f"{node}: {message}" if node else message)


class ModelFileError(WorkbenchError):
    """A Keras model file cannot be loaded or represented."""


class UnsafeModelError(ModelFileError):
    """A model file needs arbitrary Python code (a ``Lambda`` layer) to load."""


class FormatError(WorkbenchError):
    """Data that does not have the documented shape, at a JSON path such as ``nodes[2].id``."""

    def __init__(self, where: str, message: str):
        self.where = where
        self.detail = message
        super().__init__(f"{where}: {message}" if where else message)
