"""``LayerPalette``: the catalog of layer types, to search, drag onto the canvas or add.

The tree is built from ``catalog.outline()``, which needs no Keras, so the palette is usable
the moment the window shows. The one-line help of each layer comes from the Keras docstrings
and is filled in by ``load_help()`` once the backend has loaded.
"""

from __future__ import annotations

import html
import re

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QKeyEvent, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from widgets.canvas.canvas import LAYER_MIME
from widgets.canvas.items import CATEGORY_COLOURS
from workbench.graph.catalog import CATEGORIES, layer_type, outline

# Item data: the layer class name (None on category rows) and its help sentence.
_NAME_ROLE = Qt.ItemDataRole.UserRole
_HELP_ROLE = Qt.ItemDataRole.UserRole + 1


_HINT = "Drag a layer onto the canvas, or double-click it to add it after the selection."


def first_sentence(text: str) -> str:
    """The first sentence of a docstring paragraph, without Markdown backticks."""
    text = " ".join(text.replace("`", "").split())
    return re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]


def _dot(colour: str) -> QIcon:
    """A small round swatch in the canvas colour of a category."""
    pixmap = QPixmap(10, 10)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(colour))
    painter.drawEllipse(1, 1, 8, 8)
    painter.end()
    return QIcon(pixmap)


class _PaletteTree(QTreeWidget):
    """The tree of layer types; drags carry the class name under ``LAYER_MIME``.

    Signals:
        layer_activated(str): Enter was pressed or a layer row double-clicked.
    """

    layer_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("paletteTree")
        self.setHeaderHidden(True)
        self.setColumnCount(1)
        # Narrow docks: a small indentation leaves room for the names, and long help text
        # lives in tooltips rather than in a horizontal scroll bar.
        self.setIndentation(14)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setUniformRowHeights(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        # Double-click belongs to "add this layer"; categories toggle on a single click.
        self.setExpandsOnDoubleClick(False)
        self.itemDoubleClicked.connect(self._on_self_item_double_clicked)
        self.itemClicked.connect(self._on_self_item_clicked)

    # ------------------------------------------------------------- Qt overrides
    def mimeTypes(self) -> list[str]:  # noqa: N802 (Qt override)
        return [LAYER_MIME]

    def mimeData(self, items) -> QMimeData:  # noqa: N802 (Qt override)
        data = QMimeData()
        names = [item.data(0, _NAME_ROLE) for item in items if item.data(0, _NAME_ROLE)]
        if names:
            data.setData(LAYER_MIME, names[0].encode())
            # Plain text too, so a drop into a text editor gives something sensible.
            data.setText(names[0])
        return data

    def supportedDropActions(self) -> Qt.DropAction:  # noqa: N802 (Qt override)
        return Qt.DropAction.CopyAction

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        item = self.currentItem()
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and item is not None:
            name = item.data(0, _NAME_ROLE)
            if name:
                self.layer_activated.emit(name)
            else:
                item.setExpanded(not item.isExpanded())
            event.accept()
            return
        super().keyPressEvent(event)

    # ------------------------------------------------------------------ slots
    def _on_self_item_double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        name = item.data(0, _NAME_ROLE)
        if name:
            self.layer_activated.emit(name)

    def _on_self_item_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        if not item.data(0, _NAME_ROLE):
            item.setExpanded(not item.isExpanded())


class LayerPalette(QWidget):
    """The layer palette: a search box over the layer types grouped by category.

    Signals:
        layer_requested(str): the user asked to add a layer of this class (double-click,
            Enter on a row, or Enter in the search box for the first match).
    """

    layer_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("layerPalette")
        self.search = QLineEdit()
        self.search.setObjectName("paletteSearch")
        self.search.setPlaceholderText("Search layers…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._on_search_text_changed)
        self.search.returnPressed.connect(self._on_search_return_pressed)
        self.search.installEventFilter(self)
        self.tree = _PaletteTree()
        self.tree.layer_activated.connect(self.layer_requested)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        # The help of the current row, for readers who do not hover for tooltips.
        self.help = QLabel(_HINT)
        self.help.setObjectName("paletteHelp")
        self.help.setWordWrap(True)
        self.help.setTextFormat(Qt.TextFormat.RichText)
        self.help.setStyleSheet("color: #5f6368;")
        self.help.setMinimumHeight(self.fontMetrics().height() * 3)
        self.help.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.tree.currentItemChanged.connect(self._on_tree_current_item_changed)
        layout.addWidget(self.search)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.help)
        self._categories: dict[str, QTreeWidgetItem] = {}
        self._layers: dict[str, QTreeWidgetItem] = {}
        self._build()

    # ---------------------------------------------------------------- public
    def layer_item(self, name: str) -> QTreeWidgetItem | None:
        """The row of layer class ``name``, or None when the palette does not offer it."""
        return self._layers.get(name)

    def visible_layers(self) -> list[str]:
        """Class names of the rows the current search leaves visible, in display order."""
        return [
            category.child(i).data(0, _NAME_ROLE)
            for category in self._categories.values() if not category.isHidden()
            for i in range(category.childCount()) if not category.child(i).isHidden()
        ]

    def load_help(self) -> None:
        """Add each layer's one-line help from Keras (call once the backend is ready)."""
        for name, item in list(self._layers.items()):
            spec = layer_type(name)
            if spec is None:
                # This Keras version lacks the layer: offering it would only fail on drop.
                item.parent().removeChild(item)
                del self._layers[name]
                continue
            help_text = first_sentence(spec.help)
            item.setData(0, _HELP_ROLE, help_text)
            item.setToolTip(0, self._tooltip(name, help_text))
        # The help is searchable too, so a search typed before Keras loaded may match more.
        self._apply_filter(self.search.text())
        self._on_tree_current_item_changed(self.tree.currentItem(), None)

    # ------------------------------------------------------------- internals
    def _build(self) -> None:
        layers = outline()
        bold = QFont(self.tree.font())
        bold.setBold(True)
        for category in CATEGORIES:
            members = [entry for entry in layers.values() if entry.category == category]
            if not members:
                continue
            row = QTreeWidgetItem([category.capitalize()])
            row.setFont(0, bold)
            row.setForeground(0, QBrush(QColor("#3c4043")))
            # Enabled only: a category is neither a drag source nor something to add.
            row.setFlags(Qt.ItemFlag.ItemIsEnabled)
            row.setData(0, _HELP_ROLE, "")
            self.tree.addTopLevelItem(row)
            self._categories[category] = row
            icon = _dot(CATEGORY_COLOURS.get(category, "#777777"))
            for entry in members:
                item = QTreeWidgetItem([entry.name])
                item.setIcon(0, icon)
                item.setData(0, _NAME_ROLE, entry.name)
                item.setData(0, _HELP_ROLE, "")
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                              | Qt.ItemFlag.ItemIsDragEnabled)
                key = ", ".join(entry.key_params)
                item.setToolTip(0, self._tooltip(entry.name, f"Key parameters: {key}" if key
                                                 else ""))
                row.addChild(item)
                self._layers[entry.name] = item
            row.setExpanded(True)

    @staticmethod
    def _tooltip(name: str, line: str) -> str:
        # Docstrings may hold "<" or "&": escape them for the rich-text label and tooltip.
        line = html.escape(line)
        return f"<b>{name}</b><br>{line}" if line else f"<b>{name}</b>"

    def _apply_filter(self, text: str) -> None:
        needle = text.strip().lower()
        first: QTreeWidgetItem | None = None
        for category, row in self._categories.items():
            category_matches = needle in category
            shown = 0
            for i in range(row.childCount()):
                item = row.child(i)
                visible = (not needle or category_matches
                           or needle in item.data(0, _NAME_ROLE).lower()
                           or needle in (item.data(0, _HELP_ROLE) or "").lower())
                item.setHidden(not visible)
                shown += visible
                if visible and first is None:
                    first = item
            row.setHidden(shown == 0)
            if needle and shown:
                row.setExpanded(True)
        # Mark the first match: it is what Enter in the search box adds.
        if needle and first is not None:
            self.tree.setCurrentItem(first)
            self.tree.scrollToItem(first)
        elif needle:
            self.tree.setCurrentItem(None)
            self.help.setText(f"No layer matches “{html.escape(text.strip())}”.")

    # ------------------------------------------------------------------ slots
    def _on_search_text_changed(self, text: str) -> None:
        self._apply_filter(text)

    def _on_tree_current_item_changed(self, current: QTreeWidgetItem | None, _previous) -> None:
        name = current.data(0, _NAME_ROLE) if current is not None else None
        if not name:
            self.help.setText(_HINT)
            return
        help_text = current.data(0, _HELP_ROLE)
        self.help.setText(self._tooltip(name, help_text))

    def _on_search_return_pressed(self) -> None:
        visible = self.visible_layers()
        needle = self.search.text().strip().lower()
        if needle and visible:
            # A name match beats a match in the help text: "add" means Add, not GaussianNoise.
            visible.sort(key=lambda name: (name.lower() != needle,
                                           not name.lower().startswith(needle),
                                           needle not in name.lower()))
            self.layer_requested.emit(visible[0])

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt override)
        # Down arrow in the search box walks on into the results, as in a combo box.
        if (watched is self.search and event.type() == event.Type.KeyPress
                and event.key() == Qt.Key.Key_Down):
            self.tree.setFocus()
            if self.tree.currentItem() is None or self.tree.currentItem().isHidden():
                visible = self.visible_layers()
                if visible:
                    self.tree.setCurrentItem(self._layers[visible[0]])
            return True
        return super().eventFilter(watched, event)
