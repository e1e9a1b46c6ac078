"""Looking inside trained networks: saliency, CAM, activations, kernels, activation maximization.

Nothing here changes the user's model: the tools re-run its graph with its own layer objects
(``layers.trace``), replacing a softmax/sigmoid head by a linear copy where a class score is
explained (``score``). Keras is imported lazily, inside functions; every gradient and compiled
function comes from ``gradients``, the one backend-specific module.

* ``layers``: layer paths (``backbone/conv2d``), candidates, the last convolution, ``trace``,
  ``feature_model``, per-model caches.
* ``score``: ``ScoreHead`` (scores before softmax/sigmoid, class choice), ``Explanation``.
* ``gradients``: ``tf.GradientTape``/``tf.function``: input and feature gradients, the
  guided-backpropagation gate.
* ``saliency``: gradient, SmoothGrad, guided backpropagation, integrated gradients,
  gradient x input.
* ``cam``: Grad-CAM, Grad-CAM++, guided Grad-CAM, Score-CAM.
* ``explain``: every method by name (``explain(model, x, "grad_cam")``).
* ``features``: activation maps, kernel tiles, dense templates.
* ``maximize``: activation maximization of units, filters and class scores.
* ``images``: [0, 1] scaling, fitting images to a model, colormaps, overlays, grids, PNGs.
* ``source``: a model file or a run folder (its best checkpoint and data).
* ``cli``: ``workbench explain`` and ``workbench filters``.
* ``embedding``, ``evaluation``, ``embed_cli``: embeddings of a layer and evaluation plots.
"""

from __future__ import annotations
