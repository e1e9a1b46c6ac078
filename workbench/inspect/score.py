"""The score the inspection tools explain: a class score before softmax or sigmoid.

Probabilities saturate (a confident softmax has almost no gradient) and couple the classes, so
the tools explain the output layer's pre-activation value. ``ScoreHead`` re-runs the model with
its output layer replaced: by a linear copy of it when the activation is fused into it
(``Dense(activation="softmax")``), or by nothing when it is a separate ``Activation`` or
``Softmax`` layer. The copy takes the layer's current weights before every use, so a model that
trains on keeps being explained as it is now.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np

from workbench.backend import keras_module
from workbench.errors import WorkbenchError
from workbench.inspect import gradients
from workbench.inspect.layers import model_cache, output_index, output_layer_path, trace, walk

SQUASHING = ("softmax", "sigmoid", "log_softmax")
_SEPARATE_ACTIVATIONS = ("Activation", "Softmax")


@dataclass
class Explanation:
    """Maps explaining a batch of inputs, with the classes and scores they explain.

    Attributes:
        maps: (N, H, W) heat maps in [0, 1] for image inputs ((N, features) for vectors).
        classes: (N,) the explained class of each input.
        scores: (N,) the explained score (before softmax/sigmoid) of each input.
        predicted: (N,) the predicted class of each input.
        method: the method's name.
        layer: the layer whose feature maps were weighed (CAM methods), else None.
        output: the index of the model output explained.
        notes: things the user should know (an image resized, a fallback taken).
    """

    maps: np.ndarray
    classes: np.ndarray
    scores: np.ndarray
    predicted: np.ndarray
    method: str
    layer: str | None = None
    output: int = 0
    notes: list[str] = field(default_factory=list)


def activation_name(layer) -> str:
    """The name of a layer's activation function ("relu", "softmax", ...), or ""."""
    function = getattr(layer, "activation", None)
    return getattr(function, "__name__", "") if function is not None else ""


def is_relu(layer) -> bool:
    """Whether a layer ends in a ReLU (fused activation, ``ReLU`` or ``Activation("relu")``)."""
    return type(layer).__name__ == "ReLU" or activation_name(layer) == "relu"


class ScoreHead:
    """The pre-activation scores of one model output.

    Args:
        model: the model (not changed).
        output: which output (index or name of the layer producing it); None: the first.
    """

    def __init__(self, model, output: int | str | None = None):
        # A weak reference: heads live in the model's own cache, which must not keep it alive.
        self._model = weakref.ref(model)
        self.output = output_index(model, output)
        self.path = output_layer_path(model, self.output)
        self.layer = dict(walk(model))[self.path]
        self.activation = activation_name(self.layer)
        self.replace: dict = {}
        self._copy = None
        if self.activation in SQUASHING:
            if type(self.layer).__name__ in _SEPARATE_ACTIVATIONS:
                self.replace[self.path] = lambda x, *args, **kwargs: x
            else:
                self._copy = _linear_copy(self.layer)
                self.replace[self.path] = self._copy
        elif type(self.layer).__name__ == "Softmax":
            self.replace[self.path] = lambda x, *args, **kwargs: x
        shape = model.outputs[self.output].shape
        self.units = int(shape[-1]) if len(shape) > 1 and shape[-1] is not None else 1

    @property
    def model(self):
        return self._model()

    def sync(self) -> None:
        """Give the linear copy the output layer's current weights."""
        if self._copy is not None:
            for mine, theirs in zip(self._copy.weights, self.layer.weights):
                mine.assign(theirs)

    def logits(self, x, guided: bool = False, taps=()):
        """Scores (N, units) for inputs ``x`` (a tensor, real or symbolic), and the tapped
        layers' outputs as a dict. ``guided`` gates the gradients after every ReLU."""
        keras = keras_module()
        after = _guided_gate if guided else None
        outputs, found = trace(self.model, [x], taps=taps, replace=self.replace, after=after)
        scores = outputs[self.output]
        if len(scores.shape) > 2:  # per-pixel outputs: a class's score is its mean over pixels
            scores = keras.ops.mean(keras.ops.reshape(scores, (-1, int(np.prod(scores.shape[1:-1])),
                                                               self.units)), axis=1)
        return scores, found

    def select(self, scores, classes):
        """Each sample's score for its class; a negative class means the predicted one.

        A single-unit output (binary sigmoid) scores class 1 as the logit, class 0 as its
        negative. Returns (values (N,), classes used (N,), predicted (N,)).
        """
        ops = keras_module().ops
        if self.units == 1:
            logit = scores[:, 0]
            predicted = ops.cast(logit > 0, "int32")
            used = ops.where(classes < 0, predicted, classes)
            return ops.where(used == 1, logit, -logit), used, predicted
        predicted = ops.cast(ops.argmax(scores, axis=-1), "int32")
        used = ops.where(classes < 0, predicted, classes)
        values = ops.take_along_axis(scores, ops.expand_dims(used, -1), axis=-1)[:, 0]
        return values, used, predicted

    def check_class(self, class_index: int | None) -> None:
        """Refuse a class that the output does not have."""
        count = 2 if self.units == 1 else self.units
        if class_index is not None and not 0 <= int(class_index) < count:
            raise WorkbenchError(f"class {class_index} does not exist: output {self.path!r} has "
                                 f"{count} classes (0 to {count - 1})")


def score_head(model, output: int | str | None = None) -> ScoreHead:
    """The ``ScoreHead`` of a model output, built once per model and output."""
    index = output_index(model, output)
    cache = model_cache(model)
    key = ("score_head", index)
    if key not in cache:
        cache[key] = ScoreHead(model, index)
    head = cache[key]
    head.sync()
    return head


def class_array(class_index, count: int) -> np.ndarray:
    """The class of each of ``count`` inputs: None -> predicted (-1), an int, or one per input."""
    if class_index is None:
        return np.full(count, -1, np.int32)
    array = np.asarray(class_index, np.int32).reshape(-1)
    if array.size == 1:
        return np.full(count, int(array[0]), np.int32)
    if array.size != count:
        raise WorkbenchError(f"{array.size} classes given for {count} inputs: give one, or one per input")
    return array


def _linear_copy(layer):
    """The same layer with a linear activation, built like the original."""
    config = {**layer.get_config(), "activation": "linear", "name": f"{layer.name}_logits"}
    copy = type(layer).from_config(config)
    try:
        shape = layer.input.shape
    except (AttributeError, ValueError):
        raise WorkbenchError(f"layer {layer.name!r} is used at several places, so its score "
                             "before the activation cannot be taken") from None
    copy.build(shape)
    if len(copy.weights) != len(layer.weights):
        raise WorkbenchError(f"layer {layer.name!r} ({type(layer).__name__}) could not be copied "
                             "without its activation")
    return copy


def _guided_gate(path, layer, outputs):
    return gradients.positive_gradient_gate(outputs) if is_relu(layer) else outputs
