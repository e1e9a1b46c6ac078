"""One entry point for every explanation method, by name.

``explain(model, x, "grad_cam", class_index=2)`` runs a saliency or CAM method on a batch and
returns an ``Explanation`` (maps in [0, 1] plus the classes and scores explained). Method
options (``samples``, ``noise``, ``steps``, ``baseline``, ``max_channels``) pass through and are
checked against what the method takes.
"""

from __future__ import annotations

import inspect

from workbench.errors import WorkbenchError
from workbench.inspect import cam, saliency
from workbench.inspect.score import Explanation

METHODS = {
    "gradient": saliency.gradient,
    "smoothgrad": saliency.smoothgrad,
    "guided_backprop": saliency.guided_backprop,
    "integrated_gradients": saliency.integrated_gradients,
    "gradient_x_input": saliency.gradient_x_input,
    "grad_cam": cam.grad_cam,
    "grad_cam_plus_plus": cam.grad_cam_plus_plus,
    "guided_grad_cam": cam.guided_grad_cam,
    "score_cam": cam.score_cam,
}
ALIASES = {"saliency": "gradient", "vanilla": "gradient", "guided": "guided_backprop",
           "ig": "integrated_gradients", "gradcam": "grad_cam", "gradcam++": "grad_cam_plus_plus",
           "grad_cam++": "grad_cam_plus_plus", "scorecam": "score_cam",
           "input_x_gradient": "gradient_x_input"}
CAM_METHODS = ("grad_cam", "grad_cam_plus_plus", "guided_grad_cam", "score_cam")


def method_name(method: str) -> str:
    """The canonical name of a method ("Grad-CAM", "gradcam" -> "grad_cam").

    Raises:
        WorkbenchError: an unknown method, listing the known ones.
    """
    name = method.strip().lower().replace("-", "_").replace(" ", "_")
    name = ALIASES.get(name, ALIASES.get(name.replace("_", ""), name))
    if name not in METHODS:
        raise WorkbenchError(f"unknown explanation method {method!r}; choose one of {', '.join(METHODS)}")
    return name


def explain(model, x, method: str = "grad_cam", class_index=None, layer: str | None = None,
            output=None, batch_size: int = 32, **options) -> Explanation:
    """Explain a batch of inputs with ``method``.

    Args:
        model: a functional or Sequential Keras model (not changed).
        x: inputs shaped like the model's input, one or a batch.
        method: a name in ``METHODS`` (or an alias).
        class_index: None (each input's predicted class), a class, or one per input.
        layer: the layer CAM methods weigh (None: the last convolution); saliency methods
            take none.
        output: which model output (index or layer name); None: the first.
        options: the method's own settings (``samples``, ``noise``, ``seed``, ``steps``,
            ``baseline``, ``max_channels``).

    Raises:
        WorkbenchError: an unknown method or option, or any input the method refuses.
    """
    name = method_name(method)
    function = METHODS[name]
    accepted = set(inspect.signature(function).parameters) - {"model", "x"}
    if layer is not None:
        if "layer" not in accepted:
            raise WorkbenchError(f"{name} looks at the input, not a layer: leave the layer out, or "
                                 f"use a CAM method ({', '.join(CAM_METHODS)})")
        options["layer"] = layer
    unknown = sorted(set(options) - accepted)
    if unknown:
        allowed = sorted(accepted - {"class_index", "output", "batch_size", "layer"})
        raise WorkbenchError(f"{name} has no option {unknown[0]!r}"
                             + (f"; its options: {', '.join(allowed)}" if allowed else ""))
    return function(model, x, class_index=class_index, output=output, batch_size=batch_size,
                    **options)
