"""The inspector shows the selected layer and turns edits into undoable commands."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QWidget,
)

from widgets.commands import RenameNodeCommand, SetParamCommand
from widgets.document import Document
from widgets.inspector import Inspector, format_value, parse_value, same_value
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment
from workbench.graph.catalog import catalog
from workbench.graph.graph import ModelGraph


@pytest.fixture
def inspector(qtbot, document):
    inspector = Inspector(document)
    qtbot.addWidget(inspector)
    inspector.resize(320, 700)
    inspector.show()
    qtbot.waitExposed(inspector)
    return inspector


def editor(inspector: Inspector, name: str, kind: type = QWidget):
    found = inspector.findChild(kind, f"param_{name}")
    assert found is not None, f"no editor for {name}"
    return found


def label(inspector: Inspector, name: str) -> QLabel:
    return inspector.findChild(QLabel, name)


def type_into(qtbot, widget: QWidget, text: str) -> None:
    """Replace a field's text as a user would and press Return."""
    line = widget.lineEdit() if hasattr(widget, "lineEdit") else widget
    line.selectAll()
    qtbot.keyClick(widget, Qt.Key.Key_Backspace)
    qtbot.keyClicks(widget, text)
    qtbot.keyClick(widget, Qt.Key.Key_Return)


def test_selecting_a_layer_shows_its_parameters(inspector, document):
    assert "Select one layer" in label(inspector, "inspectorHint").text()
    document.select(["conv_1"])
    assert editor(inspector, "filters", QSpinBox).value() == 16
    assert editor(inspector, "kernel_size", QLineEdit).text() == "3, 3"
    assert editor(inspector, "padding", QComboBox).currentData() == "same"
    assert editor(inspector, "activation", QComboBox).currentText() == "relu"
    assert editor(inspector, "use_bias", QCheckBox).isChecked()
    assert editor(inspector, "strides", QLineEdit).text() == "1, 1"  # the default shows
    assert inspector.findChild(QLineEdit, "nodeName").text() == "conv_1"
    assert "Conv2D" in label(inspector, "nodeType").text()
    assert label(inspector, "nodeHelp").text().startswith("2D convolution")
    summary = label(inspector, "nodeSummary").text()
    assert "(None, 8, 8, 16)" in summary and "160 params" in summary
    assert editor(inspector, "filters").toolTip()  # the Keras help as tooltip


def test_editing_filters_is_one_undo_step(qtbot, inspector, document):
    document.select(["conv_1"])
    spin = editor(inspector, "filters", QSpinBox)
    type_into(qtbot, spin, "8")
    assert document.graph.node("conv_1").params["filters"] == 8
    assert document.undo_stack.count() == 1
    document.undo_stack.undo()
    assert document.graph.node("conv_1").params["filters"] == 16
    assert editor(inspector, "filters", QSpinBox) is spin  # updated in place, not rebuilt
    assert spin.value() == 16


def test_arrows_step_within_the_range(inspector, document):
    document.select(["conv_1"])
    spin = editor(inspector, "filters", QSpinBox)
    spin.stepBy(1)
    assert document.graph.node("conv_1").params["filters"] == 17
    assert document.undo_stack.count() == 1
    document.graph.set_param("conv_1", "filters", 1)
    spin.stepBy(-1)  # the lowest allowed value: the arrow stays put
    assert spin.value() == 1 and document.undo_stack.count() == 1
    document.select(["dropout"])
    seed = editor(inspector, "seed", QSpinBox)
    seed.stepBy(1)  # from "default" to the first number
    assert document.graph.node("dropout").params["seed"] == 0


def test_input_shape_is_edited_as_text(qtbot, inspector, document):
    document.select(["image"])
    shape = editor(inspector, "shape", QLineEdit)
    assert shape.text() == "8, 8, 1"
    type_into(qtbot, shape, "None, 8, 1")
    assert document.graph.node("image").params["shape"] == [None, 8, 1]
    type_into(qtbot, shape, "")  # required: clearing is refused, not a silent default
    assert "required" in label(inspector, "param_shape_message").text()
    assert document.graph.node("image").params["shape"] == [None, 8, 1]


def test_out_of_range_value_is_refused_with_the_reason(qtbot, inspector, document):
    document.select(["conv_1"])
    spin = editor(inspector, "filters", QSpinBox)
    type_into(qtbot, spin, "0")
    message = label(inspector, "param_filters_message")
    assert message.isVisible() and ">= 1" in message.text()
    assert document.graph.node("conv_1").params["filters"] == 16
    assert document.undo_stack.count() == 0
    assert spin.value() == 16
    type_into(qtbot, spin, "4")  # a good value clears the message
    assert not message.isVisible()
    assert document.graph.node("conv_1").params["filters"] == 4


def test_choosing_the_default_padding_removes_the_key(inspector, document):
    document.select(["conv_1"])
    combo = editor(inspector, "padding", QComboBox)
    assert combo.itemText(combo.findData("valid")) == "valid (default)"
    combo.setCurrentIndex(combo.findData("valid"))
    assert "padding" not in document.graph.node("conv_1").params
    assert document.undo_stack.count() == 1
    combo.setCurrentIndex(combo.findData("same"))
    assert document.graph.node("conv_1").params["padding"] == "same"
    document.undo_stack.undo()
    assert "padding" not in document.graph.node("conv_1").params
    assert combo.currentData() == "valid"


def test_a_float_rate_is_editable_and_checked(qtbot, inspector, document):
    document.select(["dropout"])
    rate = editor(inspector, "rate", QLineEdit)
    assert rate.text() == "0.2"
    type_into(qtbot, rate, "0.001")
    assert document.graph.node("dropout").params["rate"] == 0.001
    type_into(qtbot, rate, "2")
    assert "between 0 and 1" in label(inspector, "param_rate_message").text()
    assert document.graph.node("dropout").params["rate"] == 0.001
    type_into(qtbot, rate, "fast")
    assert "must be a number" in label(inspector, "param_rate_message").text()
    assert document.undo_stack.count() == 1


def test_tuple_editor_takes_one_or_several_numbers(qtbot, inspector, document):
    document.select(["conv_1"])
    kernel = editor(inspector, "kernel_size", QLineEdit)
    type_into(qtbot, kernel, "5")
    assert document.graph.node("conv_1").params["kernel_size"] == 5
    type_into(qtbot, kernel, "5, 3")
    assert document.graph.node("conv_1").params["kernel_size"] == [5, 3]
    type_into(qtbot, kernel, "5, 5, 5")
    assert "must have 2 values" in label(inspector, "param_kernel_size_message").text()
    assert document.graph.node("conv_1").params["kernel_size"] == [5, 3]
    strides = editor(inspector, "strides", QLineEdit)
    type_into(qtbot, strides, "2")
    assert document.graph.node("conv_1").params["strides"] == 2
    type_into(qtbot, strides, "1")  # the same as the default [1, 1]: the key goes
    assert "strides" not in document.graph.node("conv_1").params


def test_optional_int_and_activation_can_go_back_to_default(qtbot, inspector, document):
    document.select(["dropout"])
    seed = editor(inspector, "seed", QSpinBox)
    assert seed.text() == "default"
    type_into(qtbot, seed, "42")
    assert document.graph.node("dropout").params["seed"] == 42
    type_into(qtbot, seed, "")
    assert "seed" not in document.graph.node("dropout").params
    document.select(["digit"])
    activation = editor(inspector, "activation", QComboBox)
    type_into(qtbot, activation, "tanh")
    assert document.graph.node("digit").params["activation"] == "tanh"
    activation.setCurrentIndex(activation.findText("default"))
    activation.activated.emit(activation.currentIndex())
    assert "activation" not in document.graph.node("digit").params


def test_json_fields_take_bare_strings_and_refuse_broken_json(qtbot, inspector, document):
    document.select(["digit"])
    regularizer = editor(inspector, "kernel_regularizer", QLineEdit)
    type_into(qtbot, regularizer, "l2")
    assert document.graph.node("digit").params["kernel_regularizer"] == "l2"
    type_into(qtbot, regularizer, '{"class_name": "L2"')
    assert "not valid JSON" in label(inspector, "param_kernel_regularizer_message").text()
    assert document.graph.node("digit").params["kernel_regularizer"] == "l2"


def test_leaving_fields_untouched_pushes_nothing(inspector, document):
    for node_id in document.graph.nodes:
        document.select([node_id])
        for line in inspector.findChildren(QLineEdit):
            line.editingFinished.emit()
    assert document.undo_stack.count() == 0


def test_every_catalog_value_reads_back_from_its_text(keras):
    for layer in catalog().values():
        values = [layer.initial.get(p.name, p.default) for p in layer.params]
        for spec, value in zip(layer.params, values):
            for candidate in (value, spec.default):
                text = format_value(spec, candidate)
                if candidate is None and spec.default is not None:
                    assert parse_value(spec, text) is None
                else:
                    parsed = parse_value(spec, text)
                    assert same_value(parsed, candidate), (layer.name, spec.name, text)


def test_rename_and_refused_names(qtbot, inspector, document):
    document.select(["conv_1"])
    name = inspector.findChild(QLineEdit, "nodeName")
    error = label(inspector, "nodeNameError")
    type_into(qtbot, name, "conv_2")
    assert "already exists" in error.text() and error.isVisible()
    assert name.text() == "conv_1" and "conv_1" in document.graph
    type_into(qtbot, name, "bad name")
    assert "not a valid layer name" in error.text()
    assert document.undo_stack.count() == 0
    type_into(qtbot, name, "first_conv")
    assert "first_conv" in document.graph and "conv_1" not in document.graph
    assert not error.isVisible() and document.undo_stack.count() == 1
    spin = editor(inspector, "filters", QSpinBox)
    type_into(qtbot, spin, "12")  # edits go to the renamed node
    assert document.graph.node("first_conv").params["filters"] == 12
    document.undo_stack.undo()
    document.undo_stack.undo()
    assert name.text() == "conv_1" and inspector.node_id == "conv_1"


def test_output_checkbox_toggles_the_model_outputs(inspector, document):
    document.select(["pool_2"])
    check = inspector.findChild(QCheckBox, "outputCheck")
    assert not check.isChecked()
    check.click()
    assert [r.node for r in document.graph.outputs] == ["digit", "pool_2"]
    check.click()
    assert [r.node for r in document.graph.outputs] == ["digit"]
    document.undo_stack.undo()
    assert check.isChecked()


def test_hints_for_no_several_and_nested_selections(inspector, document):
    hint = label(inspector, "inspectorHint")
    document.select(["conv_1", "conv_2", "digit"])
    assert hint.isVisible() and hint.text() == "3 layers selected"
    inner = ModelGraph("backbone")
    inner.add_node("Input", {"shape": [8, 8, 16]}, "x")
    inner.add_node("Flatten", {}, "flat")
    document.graph.add_node("Block", node_id="backbone", block=inner)
    document.select(["backbone"])
    note = label(inspector, "nodeNote").text()
    assert "Nested model with 2 layers" in note and "double-click" in note
    assert inspector.findChild(QSpinBox) is None and inspector.findChild(QComboBox) is None
    document.select([])
    assert hint.text() == "Select one layer to edit it"


def test_validation_errors_show_at_the_top(inspector, document):
    document.select(["digit"])
    errors = label(inspector, "nodeErrors")
    assert not errors.isVisible()
    document.graph.set_param("digit", "units", 0)
    document.validate_now()
    assert errors.isVisible() and "units" in errors.text()
    assert editor(inspector, "units", QSpinBox).value() == 0  # the external edit shows too


def test_a_shared_layer_is_shown_read_only(inspector, document):
    graph = document.graph
    graph.add_node("Conv2D", node_id="conv_again", shares="conv_1")
    document.select(["conv_again"])
    note = label(inspector, "nodeNote")
    assert "Shares the layer of" in note.text() and "edit conv_1" in note.text()
    spin = editor(inspector, "filters", QSpinBox)
    assert spin.value() == 16 and not spin.isEnabled()
    document.push(SetParamCommand(graph, "conv_1", "filters", 24))
    assert spin.value() == 24
    note.linkActivated.emit("conv_1")
    assert inspector.node_id == "conv_1"


def test_an_unknown_type_shows_its_raw_parameters(inspector, document):
    document.graph.add_node("NoSuchLayer", {"size": 3}, "mystery")
    document.select(["mystery"])
    assert "Unknown layer type" in label(inspector, "nodeNote").text()
    raw = inspector.findChild(QPlainTextEdit, "rawParams")
    assert raw.isReadOnly() and '"size": 3' in raw.toPlainText()


def test_parameters_outside_the_schema_are_editable_as_json(qtbot, inspector, document):
    document.graph.set_param("digit", "custom_flag", {"a": 1})
    document.select(["digit"])
    extra = editor(inspector, "custom_flag", QLineEdit)
    assert extra.text() == '{"a": 1}'
    type_into(qtbot, extra, "[1, 2]")
    assert document.graph.node("digit").params["custom_flag"] == [1, 2]


def test_the_form_waits_for_keras(qtbot):
    document = Document(Experiment.load(DEFAULT_EXPERIMENT))
    inspector = Inspector(document)
    qtbot.addWidget(inspector)
    document.select(["conv_1"])
    assert label(inspector, "nodeNote").text() == "Loading layer details…"
    assert inspector.findChild(QSpinBox, "param_filters") is None
    document.backend_ready()
    assert inspector.findChild(QSpinBox, "param_filters").value() == 16


def test_graph_events_keep_the_shown_node_current(inspector, document):
    document.select(["conv_2"])
    spin = editor(inspector, "filters", QSpinBox)
    document.push(RenameNodeCommand(document.graph, "conv_2", "conv_b"))
    assert inspector.findChild(QLineEdit, "nodeName").text() == "conv_b"
    assert editor(inspector, "filters", QSpinBox) is spin
    document.graph.remove_node("conv_b")
    assert label(inspector, "inspectorHint").isVisible()
    assert inspector.node_id is None


def test_switching_documents_lets_go_of_the_old_one(inspector, document):
    other = Document(Experiment.load(DEFAULT_EXPERIMENT))
    other.backend_ready()
    inspector.set_document(other)
    document.select(["conv_1"])  # the old document no longer drives the panel
    assert inspector.node_id is None
    other.select(["digit"])
    assert editor(inspector, "units", QSpinBox).value() == 10
