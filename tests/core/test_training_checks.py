"""What is checked before a run: loss, metrics, labels and shapes fit together (refused with
advice, before any run folder), and Keras' own errors read as their reason."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.backend import clean_keras_message
from workbench.data import load_dataset
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment
from workbench.runs import RunStore
from workbench.training import TrainingConfig, TrainingSession
from workbench.training.compat import training_problem

ONE_HOT = {"source": "digits", "validation_split": 0.2, "preprocessing": ["scale", "onehot"]}


def experiment(data: dict | None = None, **training) -> Experiment:
    result = Experiment.load(DEFAULT_EXPERIMENT)
    result.training = {**result.training, **training}
    if data is not None:
        result.data = data
    return result


@pytest.fixture(scope="module")
def digits():
    return load_dataset(experiment().data)


@pytest.fixture(scope="module")
def one_hot_digits():
    return load_dataset(ONE_HOT)


def problem(dataset, **training) -> str | None:
    chosen = experiment(**training)
    return training_problem(chosen.graph, TrainingConfig.from_dict(chosen.training), dataset)


# ------------------------------------------------------------- Keras' messages
def _fit_error(keras, loss: str, metrics: list[str]) -> Exception:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss=loss, metrics=metrics)
    # 20 samples in batches of 8: the batch size is not fixed, so TensorFlow meets the
    # mismatch while it runs the compiled step (as with real data), not while tracing it.
    x = np.zeros((20, 4), np.float32)
    y = np.arange(20, dtype=np.int32) % 10
    with pytest.raises(Exception) as caught:
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    return caught.value


def test_a_graph_execution_error_keeps_tensorflows_reason(keras):
    error = _fit_error(keras, "mse", [])
    assert str(error).startswith("Graph execution error:")  # what Keras raises, stack and all
    message = clean_keras_message(error)
    assert message == "Incompatible shapes: [8] vs. [8,10]"


def test_a_node_dump_is_left_out_of_the_reason(keras):
    error = _fit_error(keras, "sparse_categorical_crossentropy", ["top_k_categorical_accuracy"])
    assert "{{node" in str(error)
    message = clean_keras_message(error)
    assert message.startswith("Shape must be rank 1 but is rank 0")
    assert "input shapes: [?,10]" in message
    assert "{{" not in message and "InTopKV2[" not in message


def test_a_layer_error_still_reads_as_its_own_sentence():
    error = ValueError("Exception encountered when calling Dense.call().\n\n"
                       "\x1b[1mInput 0 is incompatible with the layer\x1b[0m\n\n"
                       "Arguments received by Dense.call():\n  • inputs=tf.Tensor(shape=(2,))")
    assert clean_keras_message(error) == "Input 0 is incompatible with the layer"


# --------------------------------------------------------------- the checks
@pytest.mark.parametrize(("training", "says"), [
    ({"metrics": ["accuracy", "auc"]},
     "auc needs one-hot labels and one output per class: tick One-hot labels in the Data panel"),
    ({"metrics": ["precision"]}, "precision needs one-hot labels and one output per class"),
    ({"metrics": ["recall"]}, "and use categorical_crossentropy (or remove recall)"),
    ({"metrics": ["mae"]}, "mae needs one-hot labels"),
    ({"metrics": ["top_k_categorical_accuracy"]},
     "top_k_categorical_accuracy needs one-hot labels: use sparse_top_k_categorical_accuracy"),
    ({"loss": "mse"}, "mse with integer class labels compares each label with all 10 outputs of "
                      "'digit': use sparse_categorical_crossentropy"),
    ({"loss": "hinge"}, "hinge with integer class labels"),
    ({"loss": "categorical_crossentropy"},
     "categorical_crossentropy needs one-hot labels: tick One-hot labels in the Data panel"),
])
def test_combinations_keras_fails_on_are_refused_with_advice(digits, training, says):
    found = problem(digits, **training)
    assert found is not None and says in found


@pytest.mark.parametrize("training", [
    {},  # the default: sparse_categorical_crossentropy and accuracy
    {"metrics": ["accuracy", "sparse_top_k_categorical_accuracy", "sparse_categorical_accuracy"]},
])
def test_combinations_keras_handles_pass(digits, training):
    assert problem(digits, **training) is None


@pytest.mark.parametrize(("training", "says"), [
    ({}, "sparse_categorical_crossentropy needs class indices, but the labels are one-hot: "
         "untick One-hot labels"),
    ({"loss": "categorical_crossentropy", "metrics": ["sparse_categorical_accuracy"]},
     "needs class indices, but the labels are one-hot: use categorical_accuracy"),
])
def test_one_hot_labels_are_refused_where_class_indices_are_needed(one_hot_digits, training, says):
    found = problem(one_hot_digits, **training)
    assert found is not None and says in found


def test_the_output_must_have_a_unit_per_class(digits):
    chosen = experiment()
    chosen.graph.set_param("digit", "units", 4)
    config = TrainingConfig.from_dict(chosen.training)
    assert training_problem(chosen.graph, config, digits) == (
        "the model's output 'digit' has 4 units but the data have 10 classes: give it 10 units "
        "with softmax")


def test_data_shaped_unlike_the_input_is_refused_with_advice(digits):
    shapes = load_dataset({"source": "shapes", "samples": 64, "validation_split": 0.25})
    assert shapes.input_shape == (32, 32, 3)
    assert problem(shapes) == (
        "the data's samples are 32x32x3 but the model's Input 'image' expects 8x8x1: change the "
        "Input's shape on the canvas (or pick other data)")


def test_a_refused_start_leaves_no_run_folder(keras, tmp_path):
    result = TrainingSession(experiment(metrics=["accuracy", "auc"], epochs=1),
                             store=RunStore(tmp_path)).run()
    assert result.status == "failed" and result.run is None
    assert result.reason.startswith("auc needs one-hot labels and one output per class")
    assert list(tmp_path.iterdir()) == []


def test_one_hot_labels_train_with_auc_and_categorical_crossentropy(keras, one_hot_digits):
    chosen = experiment(ONE_HOT, loss="categorical_crossentropy",
                        metrics=["accuracy", "auc", "precision", "top_k_categorical_accuracy"],
                        epochs=1)
    result = TrainingSession(chosen, dataset=one_hot_digits).run()
    assert result.status == "finished", result.reason
    assert 0.5 < result.history["val_auc"][-1] <= 1.0
    assert result.history["val_top_k_categorical_accuracy"][-1] >= result.history["val_accuracy"][-1]
