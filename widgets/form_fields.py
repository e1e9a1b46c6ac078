"""Small editors shared by the forms (inspector, train settings): they leave the mouse wheel
to the scrolling form unless they have focus, so scrolling never changes a value by accident."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QComboBox, QSpinBox


class ScrollSafe:
    """Mixin: wheel events go to the editor only when it has focus."""

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt API)
        if self.hasFocus():  # type: ignore[attr-defined]
            super().wheelEvent(event)  # type: ignore[misc]
        else:
            event.ignore()


class ScrollSafeComboBox(ScrollSafe, QComboBox):
    """A combo box for narrow forms: scroll-safe, and long choices do not widen it."""

    def __init__(self):
        super().__init__()
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(8)


class ScrollSafeSpinBox(ScrollSafe, QSpinBox):
    """A spin box that is scroll-safe."""
