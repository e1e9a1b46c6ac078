"""Whether a model, its data and its training settings fit together, checked before a run.

Keras finds a mismatch only inside ``fit``, in a TensorFlow op deep in the compiled step, and
says so in the op's terms ("Incompatible shapes: [32] vs. [32,10]") or not at all. The facts
it trips on are known before: the data's sample and target shapes, and the model's Input and
output shapes (from the validator). ``training_problem`` reads them and refuses a mismatch
with what to change. Combinations Keras handles itself pass: ``accuracy`` with class indices
or one-hot rows, class indices of shape () against one output unit, masks without a channel
axis against one channel.

The session checks before it creates the run folder (so a refused start leaves no failed
run); the Train panel checks before it starts a worker when it already has the data.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.graph.graph import ModelGraph
from workbench.training.config import TrainingConfig

ONE_HOT_ADVICE = 'tick One-hot labels in the Data panel (data.preprocessing "onehot")'

# Keras' longer names for the losses and metrics below.
_ALIASES = {
    "mean_squared_error": "mse", "mean_absolute_error": "mae", "kld": "kl_divergence",
    "kullback_leibler_divergence": "kl_divergence", "logcosh": "log_cosh",
    "mean_absolute_percentage_error": "mape", "mean_squared_logarithmic_error": "msle",
    "root_mean_squared_error": "rmse", "acc": "accuracy",
}
# Targets are class indices, one per sample (or per pixel), against one output per class.
_INDEX_LOSSES = {"sparse_categorical_crossentropy"}
_INDEX_METRICS = {"sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy",
                  "sparse_categorical_crossentropy"}
# Targets are one-hot rows.
_ONE_HOT = {"categorical_crossentropy", "categorical_accuracy", "top_k_categorical_accuracy",
            "categorical_focal_crossentropy", "categorical_hinge", "kl_divergence"}
# One-hot metrics whose sparse_ twin takes class indices.
_SPARSE_TWINS = {"categorical_accuracy", "top_k_categorical_accuracy", "categorical_crossentropy"}
# Targets are compared value by value with the output, so their shapes must be the same.
_ELEMENTWISE = _ONE_HOT | {
    "binary_crossentropy", "binary_focal_crossentropy", "binary_accuracy", "mse", "mae", "rmse",
    "huber", "hinge", "squared_hinge", "log_cosh", "mape", "msle", "poisson",
    "cosine_similarity", "auc", "precision", "recall",
}


@dataclass(frozen=True)
class ModelShapes:
    """Per-sample shapes (no batch axis) of a model's inputs and outputs, by node id."""

    inputs: list[tuple[str, tuple]]
    outputs: list[tuple[str, tuple]]


@dataclass(frozen=True)
class _Targets:
    """What the data give the loss to compare with the model's output."""

    shape: tuple  # per sample
    classes: int | None  # for class labels

    @property
    def indices(self) -> bool:
        return self.classes is not None and self.shape == ()

    @property
    def one_hot(self) -> bool:
        return self.classes is not None and self.shape == (self.classes,)


def model_shapes(graph: ModelGraph, report=None) -> ModelShapes | None:
    """The shapes of ``graph``'s inputs and outputs from a validation ``report`` (validated
    here when None); None when validation could not infer them (the build will say why)."""
    if report is None:
        from workbench.graph.validate import Validator

        try:
            report = Validator(graph).validate()
        except Exception:  # a check that cannot be made must not stop a run: the build says why
            return None
    inputs = [(node, _tensor_shape(report, node, 0)) for node in graph.inputs]
    outputs = [(ref.node, _tensor_shape(report, ref.node, ref.index)) for ref in graph.outputs]
    if not outputs or any(shape is None for _, shape in inputs + outputs):
        return None
    return ModelShapes(inputs, outputs)


def training_problem(graph: ModelGraph, config: TrainingConfig, dataset,
                     report=None) -> str | None:
    """Why training ``graph`` on ``dataset`` with ``config`` would fail, with what to change,
    or None when they fit (or when it cannot tell: no data yet, several inputs or outputs).

    ``report`` is the graph's validation report when the caller has one.
    """
    if dataset is None or config.extra.get("gan"):  # a GAN's input is noise, its losses its own
        return None
    shapes = model_shapes(graph, report)
    if shapes is None:
        return None
    problem = _input_problem(shapes, tuple(dataset.input_shape or ()))
    if problem is not None or len(shapes.outputs) != 1:
        return problem
    targets = _targets(dataset)
    if targets is None:
        return None
    name, output = shapes.outputs[0]
    problems = [_class_count_problem(name, output, targets),
                _loss_problem(_canonical(config.loss), name, output, targets)]
    problems += [_metric_problem(_canonical(metric), name, output, targets)
                 for metric in config.metrics]
    return next((problem for problem in problems if problem), None)


# ------------------------------------------------------------------- the checks
def _input_problem(shapes: ModelShapes, sample: tuple) -> str | None:
    if len(shapes.inputs) != 1 or not sample:  # several inputs: the data say which goes where
        return None
    name, expected = shapes.inputs[0]
    if _matches(sample, expected):
        return None
    return (f"the data's samples are {_size_text(sample)} but the model's Input {name!r} expects "
            f"{_size_text(expected)}: change the Input's shape on the canvas (or pick other data)")


def _class_count_problem(name: str, output: tuple, targets: _Targets) -> str | None:
    units = output[-1] if output else 1
    binary = units == 1 and targets.classes == 2  # one sigmoid unit for two classes
    if not targets.indices or units is None or units >= targets.classes or binary:
        return None
    return (f"the model's output {name!r} has {units} unit{'s' if units != 1 else ''} but the "
            f"data have {targets.classes} classes: give it {targets.classes} units with softmax")


def _loss_problem(loss: str, name: str, output: tuple, targets: _Targets) -> str | None:
    if loss in _INDEX_LOSSES:
        if targets.one_hot:
            return (f"{loss} needs class indices, but the labels are one-hot: untick One-hot "
                    "labels in the Data panel, or use categorical_crossentropy")
        if targets.indices and output[-1:] == (1,):
            return (f"{loss} needs one output unit per class, and {name!r} has one: use "
                    "binary_crossentropy with a sigmoid unit, or give it 2 units with softmax")
        if not (_matches(targets.shape, output[:-1]) or _matches(targets.shape, output[:-1] + (1,))):
            return _shape_problem(loss, name, output, targets)
        return None
    if loss not in _ELEMENTWISE or _same_shape(targets.shape, output):
        return None
    if targets.indices and loss in _ONE_HOT:
        return f"{loss} needs one-hot labels: {ONE_HOT_ADVICE}, or use sparse_categorical_crossentropy"
    if targets.indices:
        return (f"{loss} with integer class labels compares each label with all {output[-1]} "
                f"outputs of {name!r}: use sparse_categorical_crossentropy for classes, or "
                f"{ONE_HOT_ADVICE}")
    return _shape_problem(loss, name, output, targets)


def _metric_problem(metric: str, name: str, output: tuple, targets: _Targets) -> str | None:
    if metric in _INDEX_METRICS and targets.one_hot:
        return (f"the metric {metric} needs class indices, but the labels are one-hot: use "
                f"{metric.removeprefix('sparse_')}, or untick One-hot labels in the Data panel")
    if metric not in _ELEMENTWISE or _same_shape(targets.shape, output):
        return None
    if targets.indices and metric in _SPARSE_TWINS:
        return (f"the metric {metric} needs one-hot labels: use sparse_{metric} with class "
                f"indices, or {ONE_HOT_ADVICE} and use categorical_crossentropy")
    if targets.indices:
        return (f"{metric} needs one-hot labels and one output per class: {ONE_HOT_ADVICE} and "
                f"use categorical_crossentropy (or remove {metric})")
    return _shape_problem(f"the metric {metric}", name, output, targets)


def _shape_problem(what: str, name: str, output: tuple, targets: _Targets) -> str:
    return (f"{what} compares the targets ({_size_text(targets.shape)} per sample) with the "
            f"model's output {name!r} ({_size_text(output)} per sample), and they differ: "
            "change the output layer to match the targets (or pick other data)")


# ------------------------------------------------------------------- helpers
def _targets(dataset) -> _Targets | None:
    """The targets' per-sample shape and class count; None when the data do not say."""
    if dataset.task == "reconstruction":  # an autoencoder's target is its input
        return _Targets(tuple(dataset.input_shape), None)
    y = dataset.y_train
    if y is None or not hasattr(y, "shape"):
        return None
    classes = dataset.num_classes if dataset.task == "classification" else None
    return _Targets(tuple(int(d) for d in y.shape[1:]), classes)


def _tensor_shape(report, node: str, index: int) -> tuple | None:
    found = report.nodes.get(node)
    if found is None or not found.outputs or index >= len(found.outputs):
        return None
    return tuple(found.outputs[index].shape[1:])


def _canonical(name: str) -> str:
    name = name.lower()
    return _ALIASES.get(name, name)


def _matches(given: tuple, expected: tuple) -> bool:
    """Same rank, and the same size on every axis the model fixes (None takes any)."""
    return len(given) == len(expected) and all(
        e is None or g is None or g == e for g, e in zip(given, expected))


def _same_shape(target: tuple, output: tuple) -> bool:
    """Whether Keras compares them value by value: equal, or one with an extra axis of 1
    (Keras squeezes it)."""
    return (_matches(target, output) or _matches(target + (1,), output)
            or _matches(target, output + (1,)))


def _size_text(shape: tuple) -> str:
    """(32, 32, 3) as "32x32x3"; None as "?"; () as "one value"."""
    if not shape:
        return "one value"
    return "x".join("?" if d is None else str(d) for d in shape)
