"""Neural style transfer (Gatys et al.): a picture with one image's content in another's style.

The picture is optimised directly, pixel by pixel, to lower

    content_weight * content + style_weight * style + tv_weight * tv

* content: the mean squared difference between the picture's and the content image's features
  at the content layers;
* style: per style layer, the mean squared difference between the Gram matrices (channel
  correlations, averaged over positions) of the picture and the style image; the layers are
  weighed by ``style_layer_weights`` (equal by default, scaled to sum to 1);
* tv: total variation, the mean squared difference of neighbouring pixels (smoothness).

Each content and style term is divided by the mean square of its target (the content image's
features, the style image's Gram matrix), so the terms start near 1 whatever the extractor:
VGG19's activations run to the hundreds, a small digits CNN's to a few units, and the same
weights suit both.

The picture lives in [0, 1] RGB and is clipped to it after every step. Adam runs as one compiled
step per iteration (the step is cached per extractor and picture size, so a second run of the
same size starts at once); L-BFGS uses scipy's L-BFGS-B with the same compiled loss and gradient
and the [0, 1] bounds. Every step checks ``progress.cancelled()`` and reports; every
``preview_every`` steps a preview goes to ``progress.partial``.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field, replace

import numpy as np

from workbench.backend import keras_module
from workbench.errors import FormatError, WorkbenchError
from workbench.generate import gradients
from workbench.generate.extractor import FeatureExtractor
from workbench.settings import PlainSettings
from workbench.tasks import NullProgress, Progress

OPTIMIZERS = ("adam", "lbfgs")
LONGEST_SIDE = 256  # the default picture size caps the content image's longer side here (CPU time)
INITS = ("content", "noise")
_EPS = 1e-8  # keeps a target of zeros (a dead layer) from dividing by zero


@dataclass
class StyleSettings(PlainSettings):
    """How style transfer runs (plain data: ``get_config``/``from_config``).

    Attributes:
        steps: optimisation steps (Adam) or iterations (L-BFGS).
        size: the picture's (width, height); None: the content image's size.
        content_weight, style_weight, tv_weight: the loss terms' weights.
        style_layer_weights: one weight per style layer (scaled to sum to 1); None: equal.
        optimizer: "adam" or "lbfgs".
        learning_rate: Adam's step size, in [0, 1] pixel units.
        init: start from the "content" image or from seeded uniform "noise".
        seed: seeds the noise (None: a new draw).
        preview_every: report a preview every this many steps (0: never).
    """

    steps: int = 200
    size: tuple[int, int] | None = None
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 1.0
    style_layer_weights: list[float] | None = None
    optimizer: str = "adam"
    learning_rate: float = 0.02
    init: str = "content"
    seed: int | None = 0
    preview_every: int = 10

    def __post_init__(self) -> None:
        if self.size is not None:
            self.size = tuple(int(v) for v in self.size)
        if self.style_layer_weights is not None:
            self.style_layer_weights = [float(w) for w in self.style_layer_weights]
        checks = [
            ("steps", isinstance(self.steps, int) and self.steps >= 1, "a whole number >= 1"),
            ("size", self.size is None or (len(self.size) == 2 and min(self.size) >= 1),
             "[width, height] in pixels, each at least 1"),
            ("content_weight", self.content_weight >= 0, "a number >= 0"),
            ("style_weight", self.style_weight >= 0, "a number >= 0"),
            ("tv_weight", self.tv_weight >= 0, "a number >= 0"),
            ("style_layer_weights", self.style_layer_weights is None or (
                all(w >= 0 for w in self.style_layer_weights) and sum(self.style_layer_weights) > 0),
             "numbers >= 0, not all 0"),
            ("optimizer", self.optimizer in OPTIMIZERS, " or ".join(OPTIMIZERS)),
            ("learning_rate", self.learning_rate > 0, "a number > 0"),
            ("init", self.init in INITS, " or ".join(INITS)),
            ("preview_every", isinstance(self.preview_every, int) and self.preview_every >= 0,
             "a whole number >= 0"),
        ]
        for name, ok, wanted in checks:
            if not ok:
                raise FormatError(name, f"expected {wanted} (got {getattr(self, name)!r})")


@dataclass
class StyleResult:
    """A styled picture and how the losses went.

    Attributes:
        image: (H, W, 3) float32 RGB in [0, 1].
        losses: {"total", "content", "style", "tv"}: each term's value (unweighted; "total"
            is the weighted sum) before every step and at the end.
        steps: steps taken (fewer than asked when cancelled, or when L-BFGS converged).
        stopped: True when cancelled.
        content_layers, style_layers: the layers used.
        notes: things the user should know (a size imposed by the extractor, grey features).
    """

    image: np.ndarray
    losses: dict[str, list[float]]
    steps: int
    stopped: bool = False
    content_layers: list[str] = field(default_factory=list)
    style_layers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------- losses
def gram_matrix(features):
    """(N, H, W, C) feature maps -> (N, C, C) channel correlations averaged over positions."""
    ops = keras_module().ops
    shape = ops.shape(features)
    flat = ops.reshape(features, (shape[0], -1, shape[-1]))
    positions = ops.cast(ops.shape(flat)[1], features.dtype)
    return ops.matmul(ops.transpose(flat, (0, 2, 1)), flat) / positions


def total_variation(images):
    """The mean squared difference of vertically and horizontally neighbouring pixels."""
    ops = keras_module().ops
    return (ops.mean(ops.square(images[:, 1:] - images[:, :-1]))
            + ops.mean(ops.square(images[:, :, 1:] - images[:, :, :-1])))


def _relative(value, target):
    """Mean squared difference over the target's mean square: 1 for a picture of zeros."""
    ops = keras_module().ops
    return ops.mean(ops.square(value - target)) / (ops.mean(ops.square(target)) + _EPS)


def _loss_function(extractor: FeatureExtractor):
    """``loss(image, weights, layer_weights, content_targets, style_targets) -> (total, parts)``.

    The function lives in the extractor model's own cache, so it holds the model weakly: a
    strong reference would keep the model, and its cache, alive for ever.
    """
    model = weakref.ref(extractor.model)
    light = replace(extractor, model=None)

    def loss(image, weights, layer_weights, content_targets, style_targets):
        content_features, style_features = light.features(image, model())
        content = sum(_relative(f, t) for f, t in zip(content_features, content_targets)) \
            / len(content_targets)
        style = sum(layer_weights[i] * _relative(gram_matrix(f), t)
                    for i, (f, t) in enumerate(zip(style_features, style_targets)))
        tv = total_variation(image)
        total = weights[0] * content + weights[1] * style + weights[2] * tv
        return total, {"total": total, "content": content, "style": style, "tv": tv}

    return loss


# -------------------------------------------------------------------------- engine
def style_transfer(content: np.ndarray, style: np.ndarray, extractor: FeatureExtractor,
                   settings: StyleSettings | None = None,
                   progress: Progress | None = None) -> StyleResult:
    """Paint ``content`` in the style of ``style``.

    Args:
        content, style: images (H, W[, C]) with values in [0, 1]; grey is repeated into RGB
            and an alpha channel dropped. Both are resized to the picture's size.
        extractor: ``vgg19_extractor()`` or ``model_extractor(model, ...)``.
        settings: how to run (``StyleSettings`` defaults when None).
        progress: told each step; gets previews as ``{"kind": "preview", "step", "image",
            "losses"}``; may cancel (the picture so far is returned, ``stopped`` set).

    Raises:
        WorkbenchError: an image that is not one, a layer weight count that does not match.
    """
    settings = settings or StyleSettings()
    progress = progress or NullProgress()
    notes = list(extractor.notes)
    content = _rgb(content, "the content image")
    style = _rgb(style, "the style image")
    height, width = _picture_size(content, settings, extractor, notes)
    content = _resized(content, (height, width))
    style = _resized(style, (height, width))
    layer_weights = _layer_weights(settings, extractor)
    weights = np.array([settings.content_weight, settings.style_weight, settings.tv_weight], np.float32)
    content_targets, style_targets = _targets(extractor, content, style)
    if settings.init == "content":
        start = content.copy()
    else:
        start = np.random.default_rng(settings.seed).uniform(0, 1, content.shape).astype(np.float32)
    arguments = (weights, layer_weights, content_targets, style_targets)
    run = _run_adam if settings.optimizer == "adam" else _run_lbfgs
    image, history, steps, stopped = run(extractor, start[None], arguments, settings, progress)
    losses = {name: [float(v[name]) for v in history] for name in ("total", "content", "style", "tv")}
    return StyleResult(image=np.clip(image[0], 0, 1).astype(np.float32), losses=losses, steps=steps,
                       stopped=stopped, content_layers=list(extractor.content_layers),
                       style_layers=list(extractor.style_layers), notes=notes)


def _run_adam(extractor, start, arguments, settings, progress):
    step, image, reset = _adam_step(extractor, start.shape)
    reset(start, settings.learning_rate)
    history, done, stopped = [], 0, False
    for index in range(settings.steps):
        if progress.cancelled():
            stopped = True
            break
        _, parts = step(*arguments)
        parts = gradients.to_numpy(parts)
        history.append(parts)
        done = index + 1
        _report(progress, done, settings, parts, lambda: np.asarray(image.numpy())[0])
    final = np.asarray(image.numpy())
    history.append(gradients.to_numpy(_evaluate(extractor, final, arguments)))
    return final, history, done, stopped


def _adam_step(extractor: FeatureExtractor, shape: tuple):
    """The compiled Adam step for pictures of ``shape``, its picture variable and a reset:
    built once per extractor and shape."""
    from workbench.inspect.layers import model_cache

    keras = keras_module()
    cache = model_cache(extractor.model)
    key = ("style_adam", tuple(shape), tuple(extractor.content_layers), tuple(extractor.style_layers),
           extractor.caffe, extractor.channels, extractor.value_range)
    if key not in cache:
        ops = keras.ops
        image = keras.Variable(np.zeros(shape, np.float32), trainable=True, name="style_picture")
        optimizer = keras.optimizers.Adam()
        kept = {id(v) for v in optimizer.variables}  # the step count and the rate
        step = gradients.descent_step(_loss_function(extractor), optimizer, image,
                                      constrain=lambda value: ops.clip(value, 0.0, 1.0))
        slots = [v for v in optimizer.variables if id(v) not in kept]

        def reset(start, learning_rate):
            image.assign(start)
            optimizer.iterations.assign(0)
            optimizer.learning_rate = learning_rate
            for slot in slots:
                slot.assign(ops.zeros_like(slot))

        cache[key] = (step, image, reset)
    return cache[key]


def _run_lbfgs(extractor, start, arguments, settings, progress):
    try:
        from scipy.optimize import minimize
    except ImportError:
        raise WorkbenchError("the lbfgs optimizer needs scipy (pip install scipy); or use adam") from None

    function = _value_and_gradient(extractor)
    history: list[dict] = [gradients.to_numpy(_evaluate(extractor, start, arguments))]
    state = {"done": 0, "stopped": False, "last": start.ravel().astype(np.float64)}

    class _Stop(Exception):
        pass

    def loss_and_gradient(flat):
        if progress.cancelled():
            state["stopped"] = True
            raise _Stop
        x = flat.reshape(start.shape).astype(np.float32)
        values, parts, grad = gradients.to_numpy(function(x, *arguments))
        state["parts"], state["last"] = parts, flat.copy()
        return float(values.sum()), grad.astype(np.float64).ravel()

    def after_iteration(flat):
        state["done"] += 1
        history.append(state["parts"])
        _report(progress, state["done"], settings, state["parts"],
                lambda: flat.reshape(start.shape)[0].astype(np.float32))

    try:
        result = minimize(loss_and_gradient, start.ravel().astype(np.float64), jac=True,
                          method="L-BFGS-B", bounds=[(0.0, 1.0)] * start.size, callback=after_iteration,
                          options={"maxiter": settings.steps, "maxfun": settings.steps * 3})
        final = result.x
    except _Stop:
        final = state["last"]
    final = final.reshape(start.shape).astype(np.float32)
    history.append(gradients.to_numpy(_evaluate(extractor, final, arguments)))
    return final, history, state["done"], state["stopped"]


def _value_and_gradient(extractor: FeatureExtractor):
    """The compiled ``f(image, *arguments) -> (total (1,), parts, d total / d image)``."""
    from workbench.inspect.layers import model_cache

    ops = keras_module().ops
    cache = model_cache(extractor.model)
    key = ("style_lbfgs", tuple(extractor.content_layers), tuple(extractor.style_layers),
           extractor.caffe, extractor.channels, extractor.value_range)
    if key not in cache:
        loss = _loss_function(extractor)

        def objective(image, *arguments):
            total, parts = loss(image, *arguments)
            return ops.reshape(total, (1,)), parts

        cache[key] = gradients.input_gradient(objective)
    return cache[key]


def _evaluate(extractor, image, arguments):
    """The loss terms of ``image`` (no step)."""
    return _loss_function(extractor)(keras_module().ops.convert_to_tensor(image), *arguments)[1]


def _report(progress, done, settings, parts, picture) -> None:
    progress.step(done, settings.steps, f"step {done}: style {float(parts['style']):.4g}, "
                                        f"content {float(parts['content']):.4g}")
    if settings.preview_every and done % settings.preview_every == 0:
        progress.partial({"kind": "preview", "step": done, "image": np.clip(picture(), 0, 1),
                          "losses": {k: float(v) for k, v in parts.items()}})


def _targets(extractor: FeatureExtractor, content: np.ndarray, style: np.ndarray):
    """The content image's features and the style image's Gram matrices (computed once)."""
    ops = keras_module().ops
    content_features, _ = extractor.features(ops.convert_to_tensor(content[None]))
    _, style_features = extractor.features(ops.convert_to_tensor(style[None]))
    return ([ops.convert_to_tensor(f) for f in content_features],
            [gram_matrix(f) for f in style_features])


def _layer_weights(settings: StyleSettings, extractor: FeatureExtractor) -> np.ndarray:
    count = len(extractor.style_layers)
    if settings.style_layer_weights is None:
        return np.full(count, 1.0 / count, np.float32)
    if len(settings.style_layer_weights) != count:
        raise WorkbenchError(f"{len(settings.style_layer_weights)} style layer weights for {count} "
                             f"style layers ({', '.join(extractor.style_layers)}): give one per layer")
    weights = np.asarray(settings.style_layer_weights, np.float32)
    return weights / weights.sum()


# -------------------------------------------------------------------------- images
def _rgb(image: np.ndarray, what: str) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1] from (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)."""
    image = np.asarray(image, np.float32)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in (1, 3, 4) or min(image.shape[:2]) < 1:
        raise WorkbenchError(f"{what} has shape {image.shape}: expected height x width with 1, 3 "
                             "or 4 channels")
    if not np.isfinite(image).all():
        raise WorkbenchError(f"{what} has values that are not finite numbers")
    if image.min() < 0 or image.max() > 1:
        raise WorkbenchError(f"{what} has values from {image.min():g} to {image.max():g}: give "
                             "values in [0, 1] (divide 8-bit pixels by 255)")
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return np.ascontiguousarray(image[..., :3])


def capped_size(shape: tuple, longest: int = LONGEST_SIDE) -> tuple[int, int]:
    """(width, height) of an image of ``shape`` (H, W, ...) scaled down, keeping its aspect, so
    that its longer side is at most ``longest`` pixels."""
    height, width = int(shape[0]), int(shape[1])
    if max(height, width) > longest:
        scale = longest / max(height, width)
        width, height = max(1, round(width * scale)), max(1, round(height * scale))
    return width, height


def _picture_size(content, settings, extractor, notes) -> tuple[int, int]:
    """(height, width) of the picture: the extractor's fixed size, else the settings', else
    the content image's."""
    wanted = (settings.size[1], settings.size[0]) if settings.size else tuple(content.shape[:2])
    if extractor.size is not None:
        if settings.size is not None and tuple(extractor.size) != wanted:
            notes.append(f"the size asked for, {wanted[1]}x{wanted[0]}, was replaced by the "
                         "extractor's")
        return tuple(extractor.size)
    return int(wanted[0]), int(wanted[1])


def _resized(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if image.shape[:2] == tuple(size):
        return image
    ops = keras_module().ops
    shrinking = image.shape[0] > size[0] or image.shape[1] > size[1]
    resized = ops.image.resize(image, size, interpolation="bilinear", antialias=shrinking)
    return np.clip(np.asarray(ops.convert_to_numpy(resized)), 0, 1).astype(np.float32)
