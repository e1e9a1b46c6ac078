"""The backend-specific part of ``workbench.generative``: the GAN's gradient tapes.

The training step writes its losses with ``keras.ops`` and asks this module for their
gradients (design rule 8), so a JAX or PyTorch backend needs a sibling of this module only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def loss_and_gradients(loss: Callable[[], Any], variables: list) -> tuple[Any, list]:
    """``(value, [d value / d v for v in variables])`` for ``loss() -> scalar``.

    Runs eagerly or inside a compiled Keras ``train_step`` alike: it compiles nothing itself.
    """
    from workbench.backend import keras_module

    keras = keras_module()
    if keras.backend.backend() != "tensorflow":
        from workbench.errors import WorkbenchError

        raise WorkbenchError(f"GAN training runs on the TensorFlow backend only (Keras uses "
                             f"{keras.backend.backend()!r}); set KERAS_BACKEND=tensorflow")
    import tensorflow as tf

    with tf.GradientTape() as tape:
        value = loss()
    return value, tape.gradient(value, variables)
