"""Augmentation: random transforms of training images, as Keras preprocessing layers.

``augmentation_layers`` gives the layers (for a model, or any pipeline); ``augment_batches``
maps them over a batched ``tf.data`` pipeline in training mode, which is how
``Dataset.fit_arguments`` applies them. For segmentation the geometric transforms (flip,
rotation, zoom, translation) must move the mask with the image, so both go through the same
layer call stacked as channels, and the mask is made binary again afterwards; contrast and
noise change the image only. An autoencoder's target follows the geometric transforms but not
contrast and noise, so it learns to give back the clean image (a denoising autoencoder).
"""

from __future__ import annotations

from workbench.backend import keras_module
from workbench.data.config import DataConfig

GEOMETRIC = ("flip", "rotation", "zoom", "translation")


def augmentation_layers(config: DataConfig | dict, seed: int | None = None) -> list:
    """Keras layers for the config's augmentation entries, in order.

    Args:
        config: a ``DataConfig`` or a data section.
        seed: seeds the layers (default: the config's seed), so a run repeats exactly.

    Returns:
        Layers such as ``RandomFlip``, ``RandomRotation``, ``RandomZoom``, ``RandomTranslation``,
        ``RandomContrast`` and ``GaussianNoise``; they transform only when called with
        ``training=True``.
    """
    config = DataConfig.from_dict(config) if isinstance(config, dict) else config
    keras = keras_module()
    seed = config.seed if seed is None else seed
    layers = []
    for index, spec in enumerate(config.augmentation_specs()):
        kind = spec["type"]
        layer_seed = None if seed is None else seed + index
        if kind == "flip":
            layer = keras.layers.RandomFlip(spec["mode"], seed=layer_seed)
        elif kind == "rotation":
            layer = keras.layers.RandomRotation(spec["factor"], seed=layer_seed)
        elif kind == "zoom":
            layer = keras.layers.RandomZoom(spec["factor"], seed=layer_seed)
        elif kind == "translation":
            layer = keras.layers.RandomTranslation(spec["factor"], spec["factor"], seed=layer_seed)
        elif kind == "contrast":
            layer = keras.layers.RandomContrast(spec["factor"], seed=layer_seed)
        else:
            layer = keras.layers.GaussianNoise(spec["stddev"], seed=layer_seed)
        layer.augmentation = kind  # lets the pipeline tell geometric from colour transforms
        layers.append(layer)
    return layers


def augment_batches(dataset, layers: list, segmentation: bool = False, autoencoder: bool = False):
    """Map the layers over a batched ``tf.data`` pipeline of (images, targets), training mode.

    Args:
        dataset: batched (x, y) pairs.
        layers: from ``augmentation_layers``.
        segmentation: y are masks that must follow the geometric transforms.
        autoencoder: y is x itself: the target is x after the geometric transforms only.
    """
    import tensorflow as tf

    geometric = [layer for layer in layers if layer.augmentation in GEOMETRIC]
    colour = [layer for layer in layers if layer.augmentation not in GEOMETRIC]

    def apply(x, y):
        if autoencoder:
            for layer in geometric:
                x = layer(x, training=True)
            target = x
            for layer in colour:
                x = layer(x, training=True)
            return x, target
        if segmentation:
            channels = tf.shape(x)[-1]
            for layer in layers:
                if layer.augmentation in GEOMETRIC:
                    both = layer(tf.concat([x, tf.cast(y, x.dtype)], axis=-1), training=True)
                    x, y = both[..., :channels], both[..., channels:]
                else:
                    x = layer(x, training=True)
            return x, tf.cast(y > 0.5, tf.float32)
        for layer in layers:
            x = layer(x, training=True)
        return x, y

    return dataset.map(apply, num_parallel_calls=tf.data.AUTOTUNE)
