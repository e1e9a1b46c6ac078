"""The inspector: name, output flag, validation and parameters of the one selected layer.

The form is generated from the layer type's parameter schema (``workbench.graph.catalog``),
one editor per parameter. The inspector keeps no copy of the graph: every edit is pushed as
an undo command, and the graph's own events put the new values back into the editors. A value
the schema refuses is never pushed; the reason is shown under its field instead.
"""

from __future__ import annotations

import copy
import json
import math
import re
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from widgets.commands import RenameNodeCommand, SetOutputsCommand, SetParamCommand
from widgets.document import Document
from widgets.form_fields import ScrollSafeComboBox, ScrollSafeSpinBox
from workbench.errors import GraphError
from workbench.graph.catalog import LayerType, ParamSpec, layer_type
from workbench.graph.graph import BLOCK, GraphEvent, Node, OutputRef
from workbench.graph.validate import ValidationReport

ERROR_COLOR = "#d32f2f"
WARNING_COLOR = "#e67700"
_MUTED_COLOR = "#808080"

# QSpinBox holds a C int; the lowest value stands for "not set" (None) where that is allowed.
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1

_NULL_WORDS = ("none", "null")
_DEFAULT_WORD = "default"
_TEXT_KINDS = ("float", "ints", "shape", "str")  # kinds edited as plain text
_COMBO_KINDS = ("activation", "initializer")  # editable combos: suggestions, free text allowed


class ParamError(ValueError):
    """Text in a parameter field that cannot be read as a value; the message is for people."""


# ---------------------------------------------------------------- text <-> value
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _parse_json(text: str) -> Any:
    """JSON, or the text itself when it is a bare word (``l2``, ``relu``)."""
    try:
        return json.loads(text)
    except ValueError as error:
        if text[:1] in '{["':  # clearly meant as JSON: say what is wrong with it
            raise ParamError(f"not valid JSON ({error.msg}, column {error.colno})") from None
        return text


def _is_bare_word(text: str) -> bool:
    """Whether a string can be shown without quotes and still read back as the same string."""
    return (
        bool(text) and text == text.strip() and text.lower() not in (*_NULL_WORDS, _DEFAULT_WORD)
        and _parse_json(text) == text
    )


def format_value(spec: ParamSpec, value: Any) -> str:
    """The text a field shows for ``value``; ``parse_value`` reads it back to the same value.

    Empty text stands for the default, so a value equal to a default of None shows as empty.
    """
    kind = spec.kind
    if value is None:
        return "" if spec.default is None else "None"
    if kind == "str" and isinstance(value, str):
        return value
    if kind == "ints":
        if _is_int(value):
            return str(value)
        if isinstance(value, list) and len(value) > 1 and all(_is_int(v) for v in value):
            return ", ".join(str(v) for v in value)
    if kind == "shape" and isinstance(value, list) and value and all(
        v is None or _is_int(v) for v in value
    ):
        return ", ".join("None" if v is None else str(v) for v in value)
    if isinstance(value, str) and _is_bare_word(value):
        return value
    return json.dumps(value)


def parse_value(spec: ParamSpec, text: str) -> Any:
    """Read the text of a parameter field. Empty text (or ``default``) gives the default.

    Raises:
        ParamError: the text is not a value of the parameter's kind; the message names it.
    """
    text = text.strip()
    kind = spec.kind
    if not text and spec.required:  # a required argument's "default" is only a suggestion
        return None
    if kind == "str":  # text is text: "123" or "null" in an einsum equation stays a string
        return text if text else copy.deepcopy(spec.default)
    if not text or text.lower() == _DEFAULT_WORD:
        return copy.deepcopy(spec.default)
    if text.lower() in _NULL_WORDS:
        return None
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise ParamError(f"{spec.name} must be a whole number (got {text!r})") from None
    if kind == "float":
        return _parse_number(spec, text)
    if kind == "bool":
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise ParamError(f"{spec.name} must be true or false (got {text!r})")
    if kind == "ints":
        return _parse_ints(spec, text)
    if kind == "shape":
        return _parse_shape(spec, text)
    try:
        value = _parse_json(text)
    except ParamError as error:
        raise ParamError(f"{spec.name}: {error}") from None
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        raise ParamError(f"{spec.name} must not contain NaN or infinity") from None
    return value


def _parse_number(spec: ParamSpec, text: str) -> int | float:
    # A whole number stays an int so that "1" does not turn a file's 1 into 1.0.
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    try:
        value = float(text)
    except ValueError:
        raise ParamError(f"{spec.name} must be a number, such as 0.001 (got {text!r})") from None
    if not math.isfinite(value):
        raise ParamError(f"{spec.name} must be a finite number (got {text!r})")
    return value


def _parse_ints(spec: ParamSpec, text: str) -> Any:
    hint = (f"{spec.name}: write a whole number or whole numbers separated by commas, "
            "such as 3 or 3, 3")
    if text[0] in "[(":  # nested forms such as ((1, 1), (2, 2)) for cropping
        body = text.replace("(", "[").replace(")", "]")
        body = re.sub(r",\s*]", "]", body)
        try:
            return json.loads(body)
        except ValueError:
            raise ParamError(f"{hint} (got {text!r})") from None
    parts = [part.strip() for part in text.split(",")]
    if len(parts) > 1 and not parts[-1]:
        parts.pop()  # "3," is a one-element tuple in Python
    try:
        numbers = [int(part) for part in parts]
    except ValueError:
        raise ParamError(f"{hint} (got {text!r})") from None
    return numbers[0] if len(numbers) == 1 and "," not in text else numbers


def _parse_shape(spec: ParamSpec, text: str) -> list:
    body = text
    if body[:1] in "[(" and body[-1:] in "])":
        body = body[1:-1]
    parts = [part.strip() for part in body.split(",")]
    if parts and not parts[-1]:
        parts.pop()
    shape: list = []
    for part in parts:
        if part.lower() in _NULL_WORDS:
            shape.append(None)
            continue
        try:
            shape.append(int(part))
        except ValueError:
            raise ParamError(
                f"{spec.name}: write whole numbers separated by commas, such as 8, 8, 1 "
                f"(None for a size that varies) (got {text!r})"
            ) from None
    return shape


def same_value(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0 and a list equals a tuple, but True is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def is_default(spec: ParamSpec, value: Any) -> bool:
    """Whether ``value`` means what leaving the parameter out means (``3`` for ``[3, 3]``)."""
    if spec.required:
        return False
    if same_value(value, spec.default):
        return True
    default = spec.default
    return (spec.kind == "ints" and _is_int(value) and isinstance(default, list)
            and bool(default) and all(same_value(d, value) for d in default))


# ----------------------------------------------------------------------- editors
class _IntSpinBox(ScrollSafeSpinBox):
    """A spin box whose arrows keep to the schema's range but whose text accepts any whole
    number, so that a typed value outside the range reaches ``ParamSpec.check`` and the user
    reads why it is refused instead of seeing it silently clamped. The lowest value stands
    for None ("default") when the parameter's default is None."""

    def __init__(self, spec: ParamSpec):
        super().__init__()
        self.nullable = spec.default is None
        self._optional = self.nullable and not spec.required
        self._low = _INT_MIN + 1 if spec.minimum is None else max(math.ceil(spec.minimum),
                                                                  _INT_MIN + 1)
        self._high = _INT_MAX if spec.maximum is None else min(math.floor(spec.maximum), _INT_MAX)
        self.setRange(_INT_MIN, _INT_MAX)
        if self.nullable:
            self.setSpecialValueText(_DEFAULT_WORD if not spec.required else "not set")
        self.setKeyboardTracking(False)  # valueChanged on Return, focus-out and arrows only
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToPreviousValue)

    def validate(self, text: str, pos: int) -> object:  # noqa: D102 (Qt API)
        if self.nullable and text.strip() == "":  # clearing the field means "default"
            return QValidator.State.Acceptable, text, pos
        return super().validate(text, pos)

    def valueFromText(self, text: str) -> int:  # noqa: N802 (Qt API)
        if self.nullable and text.strip() in ("", self.specialValueText()):
            return self.minimum()
        return super().valueFromText(text)

    def stepBy(self, steps: int) -> None:  # noqa: N802 (Qt API)
        value = self.value()
        if self.nullable and value == self.minimum():
            if steps > 0:
                self.setValue(min(max(0, self._low), self._high))
            return
        target = value + steps * self.singleStep()
        if target < self._low:
            target = self.minimum() if self._optional else self._low
        self.setValue(min(target, self._high))
        self.selectAll()

    def stepEnabled(self) -> QAbstractSpinBox.StepEnabledFlag:  # noqa: N802 (Qt API)
        flags = QAbstractSpinBox.StepEnabledFlag.StepNone
        value = self.value()
        is_null = self.nullable and value == self.minimum()
        if not self.isReadOnly():
            if is_null or value < self._high:
                flags |= QAbstractSpinBox.StepEnabledFlag.StepUpEnabled
            if not is_null and (value > self._low or self._optional):
                flags |= QAbstractSpinBox.StepEnabledFlag.StepDownEnabled
        return flags


_ComboBox = ScrollSafeComboBox


class _Field:
    """One parameter's editor and the message line under it.

    Subclasses build ``editor``, show values in it without emitting, and call ``on_commit``
    when the user has finished a change (``read`` then gives the new value).
    """

    def __init__(self, spec: ParamSpec, on_commit):
        self.spec = spec
        self.on_commit = on_commit
        self.value_shown: Any = None
        self.editor: QWidget = self._make_editor()
        self.editor.setObjectName(f"param_{spec.name}")
        self.editor.setToolTip(spec.help)
        self.editor.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.editor.setMinimumWidth(60)
        self.message = QLabel()
        self.message.setObjectName(f"param_{spec.name}_message")
        self.message.setWordWrap(True)
        self.message.setStyleSheet(f"color: {ERROR_COLOR};")
        self.message.hide()
        self.widget = QWidget()
        layout = QVBoxLayout(self.widget)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.editor)
        layout.addWidget(self.message)

    def _make_editor(self) -> QWidget:
        raise NotImplementedError

    def can_show(self, value: Any) -> bool:
        """Whether this editor can display ``value`` (else the form is rebuilt)."""
        return True

    def show_value(self, value: Any) -> None:
        self.value_shown = copy.deepcopy(value)
        self.editor.blockSignals(True)
        try:
            self._display(value)
        finally:
            self.editor.blockSignals(False)

    def _display(self, value: Any) -> None:
        raise NotImplementedError

    def read(self) -> Any:
        raise NotImplementedError

    def is_being_edited(self) -> bool:
        """Whether the user has typed something not yet committed (leave it alone)."""
        return False

    def refused(self) -> None:
        """A value was not accepted: show the graph's value again."""
        self.show_value(self.value_shown)

    def set_problem(self, text: str | None) -> None:
        self.message.setText(text or "")
        self.message.setVisible(bool(text))

    def set_read_only(self) -> None:
        # Disabled rather than read-only: every kind of editor then looks the same way.
        self.editor.setEnabled(False)


class _SpinField(_Field):
    def _make_editor(self) -> QWidget:
        spin = _IntSpinBox(self.spec)
        spin.valueChanged.connect(lambda _value: self.on_commit(self))
        return spin

    def can_show(self, value: Any) -> bool:
        return _is_int(value) and _INT_MIN < value <= _INT_MAX or (
            value is None and self.editor.nullable)

    def _display(self, value: Any) -> None:
        self.editor.setValue(self.editor.minimum() if value is None else value)

    def read(self) -> Any:
        value = self.editor.value()
        return None if self.editor.nullable and value == self.editor.minimum() else value

    def is_being_edited(self) -> bool:
        spin = self.editor
        return spin.hasFocus() and spin.text() != (
            spin.specialValueText() if spin.nullable and spin.value() == spin.minimum()
            else spin.textFromValue(spin.value()))



class _TextField(_Field):
    """Numbers, tuples, shapes, text and JSON, typed in a line edit and read on
    editingFinished (Return or focus-out), never on every keystroke."""

    def _make_editor(self) -> QWidget:
        edit = QLineEdit()
        if self.spec.default is None:
            edit.setPlaceholderText("required" if self.spec.required else _DEFAULT_WORD)
        edit.editingFinished.connect(self._on_edit_editing_finished)
        self._shown_text = ""
        return edit

    def _display(self, value: Any) -> None:
        self._shown_text = format_value(self.spec, value)
        self.editor.setText(self._shown_text)
        self.editor.setCursorPosition(0)  # show the start of long JSON in a narrow dock

    def read(self) -> Any:
        return parse_value(self.spec, self.editor.text())

    def is_being_edited(self) -> bool:
        return self.editor.hasFocus() and self.editor.text() != self._shown_text

    def refused(self) -> None:
        pass  # keep the user's text to correct: the message under it says what is wrong

    def _on_edit_editing_finished(self) -> None:
        # Leaving an untouched field commits nothing, even where the text is not canonical.
        if self.editor.text() != self._shown_text:
            self.on_commit(self)



class _CheckField(_Field):
    def _make_editor(self) -> QWidget:
        check = QCheckBox()
        check.toggled.connect(lambda _checked: self.on_commit(self))
        return check

    def can_show(self, value: Any) -> bool:
        return isinstance(value, bool)

    def _display(self, value: Any) -> None:
        self.editor.setChecked(bool(value))

    def read(self) -> Any:
        return self.editor.isChecked()


class _ChoiceField(_Field):
    """A fixed list of choices; the default is marked, None reads "default" where it is the
    default. A value outside the list (from a file) is listed too so it shows as it is."""

    def _make_editor(self) -> QWidget:
        combo = _ComboBox()
        combo.currentIndexChanged.connect(lambda _index: self.on_commit(self))
        self._values: list = []
        return combo

    def can_show(self, value: Any) -> bool:
        return any(same_value(value, v) for v in self._values) or not self._values

    def _fill(self, extra: Any = None, with_extra: bool = False) -> None:
        combo = self.editor
        combo.clear()
        self._values = list(self.spec.choices or ())
        if with_extra:
            self._values.append(extra)
        for value in self._values:
            if value is None:
                text = _DEFAULT_WORD if self.spec.default is None else "None"
            else:
                text = value if isinstance(value, str) else json.dumps(value)
                if not self.spec.required and same_value(value, self.spec.default):
                    text += " (default)"
            combo.addItem(text, value if value is None or isinstance(value, str) else None)

    def _display(self, value: Any) -> None:
        if not self._values or not any(same_value(value, v) for v in self._values):
            self._fill(value, with_extra=not any(same_value(value, c)
                                                 for c in self.spec.choices or ()))
        index = next(i for i, v in enumerate(self._values) if same_value(value, v))
        self.editor.setCurrentIndex(index)

    def read(self) -> Any:
        index = self.editor.currentIndex()
        return copy.deepcopy(self._values[index]) if index >= 0 else None


class _ComboTextField(_Field):
    """Activations and initializers: the common names to pick from, any name (or a JSON
    config) to type."""

    def _make_editor(self) -> QWidget:
        combo = _ComboBox()
        combo.setEditable(True)
        combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        if self.spec.default is None:
            combo.addItem(_DEFAULT_WORD)
        combo.addItems([str(c) for c in self.spec.choices or ()])
        combo.lineEdit().setPlaceholderText(_DEFAULT_WORD)
        combo.activated.connect(lambda _index: self._on_combo_edited())
        combo.lineEdit().editingFinished.connect(self._on_combo_edited)
        self._shown_text = ""
        return combo

    def _display(self, value: Any) -> None:
        self._shown_text = (_DEFAULT_WORD if value is None and self.spec.default is None
                            else format_value(self.spec, value))
        index = self.editor.findText(self._shown_text, Qt.MatchFlag.MatchExactly)
        self.editor.setCurrentIndex(index)
        self.editor.setEditText(self._shown_text)

    def read(self) -> Any:
        return parse_value(self.spec, self.editor.currentText())

    def is_being_edited(self) -> bool:
        return self.editor.hasFocus() and self.editor.currentText() != self._shown_text

    def refused(self) -> None:
        pass  # keep the typed text to correct

    def _on_combo_edited(self) -> None:
        if self.editor.currentText() != self._shown_text:
            self.on_commit(self)


def _field_class(spec: ParamSpec, value: Any) -> type[_Field]:
    kind = spec.kind
    # A file may hold a value the kind's own editor cannot show (a string where a number is
    # expected): it gets a text field, so it is shown as it is and can be corrected.
    if kind == "int" and (value is None or _is_int(value)):
        return _SpinField
    if kind == "bool" and isinstance(value, bool):
        return _CheckField
    if kind == "choice" and spec.choices:
        return _ChoiceField
    if kind in _COMBO_KINDS and (value is None or isinstance(value, str)):
        return _ComboTextField
    return _TextField


# ---------------------------------------------------------------------- the panel
class Inspector(QWidget):
    """Shows and edits the single selected node of a ``Document``.

    Args:
        document: the document to follow; None shows an empty panel until
            ``set_document``.
        parent: the Qt parent.
    """

    def __init__(self, document: Document | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("inspector")
        self._document: Document | None = None
        self._node_id: str | None = None
        self._fields: dict[str, _Field] = {}
        self._form_key: tuple | None = None
        self._build_ui()
        self.set_document(document)

    # --------------------------------------------------------------- public
    @property
    def node_id(self) -> str | None:
        """The id of the node shown, or None when the hint is shown."""
        return self._node_id

    def set_document(self, document: Document | None) -> None:
        """Follow another document (New, Open, Import), letting go of the old one."""
        old = self._document
        if old is not None:
            try:
                old.selection_changed.disconnect(self._on_document_selection_changed)
                old.graph_changed.disconnect(self._on_document_graph_changed)
                old.validated.disconnect(self._on_document_validated)
            except (RuntimeError, TypeError):  # the old document is already destroyed
                pass
        self._document = document
        if document is not None:
            document.selection_changed.connect(self._on_document_selection_changed)
            document.graph_changed.connect(self._on_document_graph_changed)
            document.validated.connect(self._on_document_validated)
        self._show_selection()

    # ------------------------------------------------------------- building
    def _build_ui(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self._stack = QStackedWidget()
        outer.addWidget(self._stack)

        self._hint = QLabel()
        self._hint.setObjectName("inspectorHint")
        self._hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._hint.setWordWrap(True)
        self._hint.setStyleSheet(f"color: {_MUTED_COLOR};")
        self._stack.addWidget(self._hint)

        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(8, 8, 8, 0)
        layout.setSpacing(4)
        self._name_edit = QLineEdit()
        self._name_edit.setObjectName("nodeName")
        self._name_edit.setToolTip("The layer's name in the Keras model; it must be unique.")
        font = self._name_edit.font()
        font.setBold(True)
        self._name_edit.setFont(font)
        self._name_edit.editingFinished.connect(self._on_name_edit_editing_finished)
        layout.addWidget(self._name_edit)
        self._name_error = self._label("nodeNameError", ERROR_COLOR)
        layout.addWidget(self._name_error)
        self._type_label = self._label("nodeType", _MUTED_COLOR)
        layout.addWidget(self._type_label)
        self._output_check = QCheckBox("Model output")
        self._output_check.setObjectName("outputCheck")
        self._output_check.setToolTip("Whether this layer's output is one of the model's outputs.")
        self._output_check.toggled.connect(self._on_output_check_toggled)
        layout.addWidget(self._output_check)
        self._errors_label = self._label("nodeErrors", ERROR_COLOR)
        layout.addWidget(self._errors_label)
        self._warnings_label = self._label("nodeWarnings", WARNING_COLOR)
        layout.addWidget(self._warnings_label)
        self._summary_label = self._label("nodeSummary")
        self._summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self._summary_label)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        layout.addWidget(line)
        self._scroll = QScrollArea()
        self._scroll.setObjectName("inspectorScroll")
        self._scroll.setWidgetResizable(True)
        self._scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout.addWidget(self._scroll, 1)
        self._stack.addWidget(page)
        self._page = page

    @staticmethod
    def _label(name: str, color: str | None = None) -> QLabel:
        label = QLabel()
        label.setObjectName(name)
        label.setWordWrap(True)
        if color:
            label.setStyleSheet(f"color: {color};")
        label.hide()
        return label

    def _build_body(self, node: Node) -> QWidget:
        """The scrolled part: a note, the help paragraph and the parameter form."""
        assert self._document is not None
        graph = self._document.graph
        body = QWidget()
        body.setObjectName("inspectorBody")
        layout = QVBoxLayout(body)
        layout.setContentsMargins(0, 4, 4, 8)
        layout.setSpacing(6)
        self._fields = {}
        note = QLabel()
        note.setObjectName("nodeNote")
        note.setWordWrap(True)
        note.hide()
        layout.addWidget(note)

        def show_note(text: str, color: str | None = None) -> None:
            note.setText(text)
            if color:
                note.setStyleSheet(f"color: {color};")
            note.show()

        owner = graph.nodes.get(node.shares) if node.shares else node
        if node.type == BLOCK:
            count = len(node.block) if node.block is not None else 0
            show_note(f"Nested model with {count} layers; double-click it on the canvas to "
                      "look inside.")
        elif owner is None:
            show_note(f"Shares the layer of {node.shares}, which does not exist.", ERROR_COLOR)
        elif not self._document.is_backend_ready:
            # layer_type() imports Keras; the form comes with the first validation.
            show_note("Loading layer details…", _MUTED_COLOR)
        else:
            spec = layer_type(owner.type)
            if spec is None:
                show_note(f"Unknown layer type {owner.type!r}: not a Keras layer nor a "
                          "registered custom layer. Its parameters are kept as they are:",
                          ERROR_COLOR)
                raw = QPlainTextEdit(json.dumps(owner.params, indent=2))
                raw.setObjectName("rawParams")
                raw.setReadOnly(True)
                layout.addWidget(raw)
            else:
                if node.shares:
                    note.setTextFormat(Qt.TextFormat.RichText)
                    note.linkActivated.connect(self._on_note_link_activated)
                    show_note(f"Shares the layer of <b>{owner.id}</b>: "
                              f"<a href=\"{owner.id}\">edit {owner.id}</a>")
                if spec.help:
                    help_label = QLabel(spec.help)
                    help_label.setObjectName("nodeHelp")
                    help_label.setWordWrap(True)
                    help_label.setTextInteractionFlags(
                        Qt.TextInteractionFlag.TextSelectableByMouse)
                    layout.addWidget(help_label)
                layout.addLayout(self._build_form(spec, owner, read_only=bool(node.shares)))
        layout.addStretch(1)
        return body

    def _build_form(self, spec: LayerType, owner: Node, read_only: bool) -> QFormLayout:
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        form.setHorizontalSpacing(8)
        form.setVerticalSpacing(4)
        for param in self._param_specs(spec, owner):
            value = owner.params.get(param.name, param.default)
            field = _field_class(param, value)(param, self._on_field_committed)
            field.show_value(value)
            if read_only:
                field.set_read_only()
            label = QLabel(param.name)
            label.setToolTip(param.help)
            label.setBuddy(field.editor)
            if param.required:  # a required argument has no default to fall back on
                font = label.font()
                font.setBold(True)
                label.setFont(font)
            form.addRow(label, field.widget)
            self._fields[param.name] = field
        return form

    @staticmethod
    def _param_specs(spec: LayerType, owner: Node) -> list[ParamSpec]:
        """The schema's parameters, then keys the node has that the schema lacks (a generic
        or newer layer), edited as JSON."""
        known = {p.name for p in spec.params}
        extras = [ParamSpec(name, "any", help="Not in this layer's signature: passed to Keras "
                                              "as it is.")
                  for name in owner.params if name not in known]
        return list(spec.params) + extras

    # ------------------------------------------------------------- showing
    def _show_selection(self) -> None:
        selection = self._document.selection if self._document is not None else []
        if len(selection) == 1 and selection[0] in self._document.graph:
            self._show_node(selection[0])
        else:
            self._show_hint("Select one layer to edit it" if not selection
                            else f"{len(selection)} layers selected")

    def _show_hint(self, text: str) -> None:
        self._node_id = None
        self._form_key = None
        self._fields = {}
        self._hint.setText(text)
        self._stack.setCurrentWidget(self._hint)
        self._replace_body(None)

    def _show_node(self, node_id: str) -> None:
        self._node_id = node_id
        self._name_error.hide()
        self._refresh_header()
        self._rebuild_body()
        self._refresh_report(self._document.report)
        self._stack.setCurrentWidget(self._page)

    def _rebuild_body(self) -> None:
        node = self._document.graph.node(self._node_id)
        self._replace_body(self._build_body(node))
        self._form_key = self._form_key_for(node)

    def _replace_body(self, body: QWidget | None) -> None:
        old = self._scroll.takeWidget()
        if old is not None:
            # Deferred: the edit that led here may be a signal from one of its editors.
            old.hide()
            old.setParent(None)
            old.deleteLater()
        if body is not None:
            self._scroll.setWidget(body)

    def _form_key_for(self, node: Node) -> tuple:
        """What the form's shape depends on; when it changes the form is built again."""
        graph = self._document.graph
        owner = graph.nodes.get(node.shares) if node.shares else node
        ready = self._document.is_backend_ready
        extras: tuple = ()
        if owner is not None and ready and owner.type != BLOCK:
            spec = layer_type(owner.type)
            known = {p.name for p in spec.params} if spec is not None else set()
            extras = tuple(sorted(set(owner.params) - known))
        return (node.type, node.shares, owner.type if owner else None, ready, extras)

    def _refresh_header(self, set_name: bool = True) -> None:
        graph = self._document.graph
        node = graph.node(self._node_id)
        if set_name:
            self._name_edit.setText(node.id)
        text = node.type
        if node.type != BLOCK and self._document.is_backend_ready:
            spec = layer_type(node.type)
            if spec is not None:
                text = f"{node.type} · {spec.category}"
        self._type_label.setText(text)
        self._type_label.show()
        self._refresh_output_check()

    def _refresh_output_check(self) -> None:
        self._output_check.blockSignals(True)
        self._output_check.setChecked(self._document.graph.is_output(self._node_id))
        self._output_check.blockSignals(False)

    def _refresh_report(self, report: ValidationReport | None) -> None:
        node_report = report.nodes.get(self._node_id) if report and self._node_id else None
        for label, lines in ((self._errors_label, node_report and node_report.errors),
                             (self._warnings_label, node_report and node_report.warnings)):
            lines = lines or []
            prefix = "• " if len(lines) > 1 else ""
            label.setText("\n".join(prefix + line for line in lines))
            label.setVisible(bool(lines))
        if node_report is None:
            self._summary_label.hide()
            return
        parts = []
        if node_report.outputs:
            shapes = ", ".join(str(t) for t in node_report.outputs)
            parts.append(("Outputs " if len(node_report.outputs) > 1 else "Output ") + shapes)
        elif node_report.waiting:
            parts.append("Output unknown until the error upstream is fixed")
        node = self._document.graph.nodes.get(self._node_id)
        if node is not None and node.shares:
            parts.append(f"weights shared with {node.shares}")
        elif node_report.outputs:
            count = f"{node_report.params:,} params"
            if node_report.trainable != node_report.params:
                count += f" ({node_report.trainable:,} trainable)"
            parts.append(count)
        self._summary_label.setText(" · ".join(parts))
        self._summary_label.setVisible(bool(parts))

    def _update_form(self) -> None:
        """Put the graph's values in the editors, keeping the form (and the field being
        typed in) unless the form's shape changed."""
        node = self._document.graph.nodes.get(self._node_id)
        if node is None:
            return
        if self._form_key_for(node) != self._form_key:
            self._rebuild_body()
            return
        owner = self._document.graph.nodes.get(node.shares) if node.shares else node
        if owner is None:
            return
        for name, field in self._fields.items():
            value = owner.params.get(name, field.spec.default)
            if same_value(value, field.value_shown) or field.is_being_edited():
                continue
            if not field.can_show(value):
                self._rebuild_body()
                return
            field.show_value(value)
            field.set_problem(None)

    # ------------------------------------------------------------- editing
    def _on_field_committed(self, field: _Field) -> None:
        if self._document is None or self._fields.get(field.spec.name) is not field:
            return  # an editor of a form already replaced (focus-out while rebuilding)
        graph = self._document.graph
        node = graph.nodes.get(self._node_id)
        if node is None or node.shares:
            return
        spec = field.spec
        try:
            value = field.read()
        except ParamError as error:
            field.set_problem(str(error))
            return
        problem = spec.check(value)
        if problem is None:
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError):
                problem = f"{spec.name} must be plain JSON data without NaN or infinity"
        if problem:
            field.set_problem(problem)
            field.refused()
            return
        field.set_problem(None)
        present = spec.name in node.params
        if present and same_value(value, node.params[spec.name]):
            command = None
        elif is_default(spec, value):
            # Leaving a default out keeps the file minimal and follows Keras' own default.
            command = (SetParamCommand(graph, node.id, spec.name, SetParamCommand.UNSET)
                       if present else None)
        else:
            command = SetParamCommand(graph, node.id, spec.name, value)
        if command is not None:
            self._document.push(command)
        node = graph.nodes.get(self._node_id)
        if node is not None and self._fields.get(spec.name) is field:
            field.show_value(node.params.get(spec.name, spec.default))

    def _rename_problem(self, old: str, new: str) -> str | None:
        # A command whose redo raises is left on the undo stack, so the graph's verdict is
        # asked of a copy first.
        trial = self._document.graph.clone()
        try:
            trial.rename_node(old, new)
        except GraphError as error:
            return str(error)
        return None

    # ---------------------------------------------------------------- slots
    def _on_name_edit_editing_finished(self) -> None:
        if self._document is None or self._node_id is None:
            return
        old, new = self._node_id, self._name_edit.text().strip()
        if new == old:
            self._name_edit.setText(old)
            self._name_error.hide()
            return
        problem = self._rename_problem(old, new)
        if problem:
            self._name_error.setText(problem)
            self._name_error.show()
            self._name_edit.setText(old)
            return
        self._name_error.hide()
        self._document.push(RenameNodeCommand(self._document.graph, old, new))

    def _on_output_check_toggled(self, checked: bool) -> None:
        if self._document is None or self._node_id is None:
            return
        graph, node_id = self._document.graph, self._node_id
        refs = list(graph.outputs)
        if checked and not graph.is_output(node_id):
            refs.append(OutputRef(node_id))
            text = f"Make {node_id} an output"
        elif not checked and graph.is_output(node_id):
            refs = [ref for ref in refs if ref.node != node_id]
            text = f"Make {node_id} no output"
        else:
            return
        self._document.push(SetOutputsCommand(graph, refs, text))

    def _on_note_link_activated(self, node_id: str) -> None:
        if self._document is not None:
            self._document.select([node_id])

    def _on_document_selection_changed(self, _selection: list) -> None:
        self._show_selection()

    def _on_document_graph_changed(self, event: GraphEvent) -> None:
        if self._node_id is None:
            return
        if event.kind == "node_renamed":
            if event.old == self._node_id:
                self._node_id = event.node
                self._name_error.hide()
                self._refresh_header()
            self._update_form()  # a shared layer's owner may have been renamed
        elif event.kind == "node_removed" and event.node == self._node_id:
            self._show_hint("Select one layer to edit it")
        elif event.kind == "node_changed":
            node = self._document.graph.nodes.get(self._node_id)
            if node is not None and event.node in (node.id, node.shares):
                self._update_form()
        elif event.kind == "outputs_changed":
            self._refresh_output_check()

    def _on_document_validated(self, report: ValidationReport) -> None:
        if self._node_id is None:
            return
        if self._form_key is not None and not self._form_key[3]:
            # The first validation means Keras is loaded: the form can be built now.
            self._refresh_header(set_name=False)  # the user may be typing a name
            self._rebuild_body()
        self._refresh_report(report)
