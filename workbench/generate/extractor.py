"""Feature extractors for style transfer: VGG19 with ImageNet weights, or any convolutional model.

A ``FeatureExtractor`` maps a batch of RGB images in [0, 1] to the outputs of its content and
style layers. Two kinds exist:

* ``vgg19_extractor``: ``keras.applications.VGG19(include_top=False)`` with the ImageNet
  weights, the network of Gatys et al. The weights file is the one Keras downloads for
  ``VGG19(weights="imagenet")``, in Keras' own cache (``$KERAS_HOME/models``, else
  ``~/.keras/models``), so a cache filled by Keras serves the workbench and the other way round.
  The workbench fetches it itself, through the downloader of ``workbench.data.keras_datasets``,
  for the reasons given there: progress through ``progress.step``, cancel, a short network
  timeout, and, offline, a message naming the file to copy and the alternatives instead of a
  stack trace.
* ``model_extractor``: a model of the user's (a file or a run, see
  ``workbench.inspect.source``), reading chosen layers through
  ``workbench.inspect.layers.feature_model``. Its images are mapped from [0, 1] into the value
  range the model was trained on, and turned grey for a one-channel model.

Either way the extractor takes images of any size when the layers allow it (convolutions and
pooling do), else the model's own input size only (``size``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench.backend import keras_module
from workbench.errors import WorkbenchError
from workbench.tasks import NullProgress, Progress

VGG19_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
VGG19_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/" + VGG19_FILE
VGG19_MD5 = "253f8cb515780f3b799900260a226db6"  # Keras' own checksum of the file
# Gatys et al.: content from conv4_2, style from the first convolution of every block.
VGG19_CONTENT_LAYERS = ("block4_conv2",)
VGG19_STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
# every convolution of VGG19, input to output: the layers a user may pick without building it
VGG19_CONV_LAYERS = tuple(f"block{block}_conv{i}" for block, count in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
                          for i in range(1, count + 1))
_VGG_MEAN_BGR = (103.939, 116.779, 123.68)  # the "caffe" preprocessing of keras.applications.vgg19

_VGG_MODELS: dict[str, Any] = {}  # weights file -> the loaded VGG19: built once per process


@dataclass
class FeatureExtractor:
    """Content and style features of images.

    Attributes:
        model: a Keras model from a batch of prepared images to the features of
            ``layers`` (a list, in that order).
        layers: the distinct layer paths the model outputs.
        content_layers: the layers whose features the content loss compares.
        style_layers: the layers whose Gram matrices the style loss compares.
        name: "vgg19" or the user's model's name.
        channels: the channels the model takes (1 or 3).
        value_range: the input values the model expects for black and white.
        size: (height, width) when the model takes that size only, else None.
        caffe: VGG's preprocessing (RGB to BGR, ImageNet mean subtracted) instead of
            ``value_range``.
        notes: things the user should know (a fixed size, grey features of a colour image).
    """

    model: Any
    layers: list[str]
    content_layers: list[str]
    style_layers: list[str]
    name: str
    channels: int = 3
    value_range: tuple[float, float] = (0.0, 1.0)
    size: tuple[int, int] | None = None
    caffe: bool = False
    notes: list[str] = field(default_factory=list)

    def prepare(self, images):
        """RGB images (N, H, W, 3) in [0, 1] (a tensor or array) as the model's inputs."""
        ops = keras_module().ops
        if self.caffe:
            bgr = ops.flip(images, axis=-1) * 255.0
            return bgr - ops.convert_to_tensor(np.array(_VGG_MEAN_BGR, np.float32))
        if self.channels == 1:
            images = ops.mean(images, axis=-1, keepdims=True)
        low, high = self.value_range
        return images * (high - low) + low

    def features(self, images, model=None) -> tuple[list, list]:
        """The content layers' and style layers' outputs for RGB images in [0, 1] (through
        ``model`` when given: the same feature model, held elsewhere)."""
        outputs = (model or self.model)(self.prepare(images))
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        found = dict(zip(self.layers, outputs))
        return [found[p] for p in self.content_layers], [found[p] for p in self.style_layers]


# ----------------------------------------------------------------------------- VGG19
def vgg19_cache_dir() -> Path:
    """Keras' models folder: ``$KERAS_HOME/models``, else ``~/.keras/models`` (read at each call)."""
    home = os.environ.get("KERAS_HOME")
    return (Path(home) if home else Path.home() / ".keras").expanduser() / "models"


def vgg19_extractor(content_layers=None, style_layers=None, weights: str | Path | None = None,
                    progress: Progress | None = None) -> FeatureExtractor:
    """VGG19 with ImageNet weights (downloaded once into Keras' cache).

    Args:
        content_layers: VGG19 layer names; default ``block4_conv2``.
        style_layers: VGG19 layer names; default the first convolution of each block.
        weights: a VGG19 "notop" weights file to use instead of the cache.
        progress: told about a download; may cancel it.

    Raises:
        WorkbenchError: the weights are neither cached nor downloadable (offline), naming the
            file to copy where and the alternatives; a damaged file; unknown layer names.
    """
    path = Path(weights).expanduser() if weights is not None else _cached_vgg19(progress)
    key = str(path.resolve())
    if key not in _VGG_MODELS:
        keras = keras_module()
        if not path.is_file():
            raise WorkbenchError(f"{path}: no such weights file (give the VGG19 file "
                                 f"{VGG19_FILE})")
        model = keras.applications.VGG19(weights=None, include_top=False)
        try:
            model.load_weights(str(path))
        except Exception as error:  # h5py and Keras raise many kinds for a wrong file
            raise WorkbenchError(f"{path}: not the VGG19 ImageNet weights without the top layers "
                                 f"({str(error).splitlines()[0][:160]}); the file Keras uses is "
                                 f"{VGG19_FILE}") from None
        model.trainable = False
        _VGG_MODELS[key] = model
    model = _VGG_MODELS[key]
    return _extractor(model, list(content_layers or VGG19_CONTENT_LAYERS),
                      list(style_layers or VGG19_STYLE_LAYERS), name="vgg19", caffe=True)


def _cached_vgg19(progress: Progress | None) -> Path:
    """The cached weights file, downloaded first when missing."""
    from workbench.data.keras_datasets import KerasDataset, RemoteFile, ensure_file
    from workbench.data.raw import Cancelled

    cache = vgg19_cache_dir()
    target = cache / VGG19_FILE
    if target.is_file():
        if _md5(target) != VGG19_MD5:
            raise WorkbenchError(f"{target} is damaged or incomplete (its checksum is wrong): delete "
                                 "it so the VGG19 weights are downloaded again, or replace it with a "
                                 "good copy")
        return target
    spec = KerasDataset("the VGG19 ImageNet weights file", (RemoteFile(VGG19_FILE, VGG19_URL),), ())
    try:
        path = ensure_file(spec, spec.files[0], cache, progress or NullProgress())
    except Cancelled:
        raise WorkbenchError("the VGG19 weights download was cancelled") from None
    except WorkbenchError as error:
        raise WorkbenchError(
            f"{error}: a VGG19 weights file given directly (--vgg-weights FILE), or a "
            "convolutional model of your own, a .keras/.h5 file or a run folder "
            "(--extractor MODEL|RUN, with --layers naming its convolutions)") from None
    if _md5(path) != VGG19_MD5:
        path.unlink(missing_ok=True)
        raise WorkbenchError("the downloaded VGG19 weights file is damaged (its checksum is wrong): "
                             "try again")
    return path


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ----------------------------------------------------------------------- any model
def model_extractor(model, style_layers=None, content_layers=None,
                    value_range: tuple[float, float] = (0.0, 1.0)) -> FeatureExtractor:
    """A convolutional model of the user's as the feature extractor.

    Args:
        model: a functional or Sequential Keras model taking images (H, W, 1 or 3).
        style_layers: layer paths (nested models as ``backbone/conv``); default every 2-D
            convolution.
        content_layers: layer paths; default the last 2-D convolution.
        value_range: the input values the model was trained on (its black and white).

    Raises:
        WorkbenchError: the model does not take images, has no convolutions, a layer is unknown
            or has no spatial output.
    """
    from workbench.inspect.layers import conv_layers, model_inputs

    inputs = model_inputs(model)
    shape = tuple(inputs[0].shape[1:])
    if len(inputs) != 1 or len(shape) != 3 or shape[-1] not in (1, 3):
        raise WorkbenchError(f"model {model.name!r} takes inputs of shape "
                             f"{', '.join(str(tuple(t.shape[1:])) for t in inputs)}: a feature "
                             "extractor for style transfer takes one image (height x width x 1 or 3)")
    if value_range[0] >= value_range[1]:
        raise WorkbenchError(f"the value range must go from low to high (got {value_range})")
    found = conv_layers(model)
    if not found and (style_layers is None or content_layers is None):
        raise WorkbenchError(f"model {model.name!r} has no 2-D convolution to take features from: "
                             "give layers with spatial outputs (--layers), or another model")
    style = list(style_layers) if style_layers else found
    content = list(content_layers) if content_layers else found[-1:]
    extractor = _extractor(model, content, style, name=model.name, channels=int(shape[-1]),
                           value_range=tuple(float(v) for v in value_range))
    if extractor.channels == 1:
        extractor.notes.append(f"model {model.name!r} takes grey images: its features see the "
                               "colour images' brightness only")
    return extractor


def _extractor(model, content: list[str], style: list[str], **options) -> FeatureExtractor:
    """A ``FeatureExtractor`` reading ``content`` and ``style`` layers of ``model``."""
    from workbench.inspect.layers import feature_model, find_layer, layer_path, model_cache, output_shape

    if not style:
        raise WorkbenchError("style transfer needs at least one style layer")
    if not content:
        raise WorkbenchError("style transfer needs at least one content layer")
    content = [layer_path(model, name) for name in content]
    style = [layer_path(model, name) for name in style]
    for path in dict.fromkeys(content + style):
        shape = output_shape(find_layer(model, path))
        if shape is not None and len(shape) != 4:
            raise WorkbenchError(f"layer {path!r} of model {model.name!r} has output shape "
                                 f"{shape}: style transfer needs layers with feature maps "
                                 "(height x width x channels), such as convolutions")
    layers = list(dict.fromkeys(content + style))
    cache = model_cache(model)
    key = ("style_features", tuple(layers))
    if key not in cache:
        cache[key] = _flexible(feature_model(model, layers))
    features, size = cache[key]
    extractor = FeatureExtractor(features, layers, content, style, size=size, **options)
    if size is not None:
        extractor.notes.append(f"the layers of model {model.name!r} need its input size, "
                               f"{size[1]}x{size[0]} (width x height): the picture is made at "
                               "that size")
    return extractor


def _flexible(features) -> tuple[Any, tuple[int, int] | None]:
    """The feature model re-run on inputs of any height and width, when its layers allow it;
    else the model as it is with its fixed (height, width)."""
    from workbench.inspect.layers import model_inputs, trace

    keras = keras_module()
    shape = tuple(model_inputs(features)[0].shape[1:])
    if shape[:2] == (None, None):
        return features, None
    try:
        flexible = keras.Input(shape=(None, None, shape[-1]))
        outputs, _ = trace(features, [flexible])
        model = keras.Model(flexible, outputs if len(outputs) > 1 else outputs[0],
                            name=features.name + "_any_size")
        # Symbolic shapes let some size-bound layers through (a Dense after Flatten): a real
        # input of another size tells.
        model(np.zeros((1, shape[0] + 8, shape[1] + 8, shape[-1]), np.float32))
    except Exception:  # a layer that needs one size (Reshape, Dense on a map): keep the model's
        return features, (int(shape[0]), int(shape[1]))
    return model, None
