"""GANs: the training section's ``"gan"`` option.

```json
"training": {..., "gan": {"d_learning_rate": 0.001, "label_smoothing": 0.1}}
```

The experiment's graph holds both networks as nested blocks: an ``Input`` of random noise
feeds a ``Block`` named ``generator`` (noise -> image), which feeds a ``Block`` named
``discriminator`` (image -> one score: a logit, or a probability when its last layer ends in
a sigmoid). The model output, discriminator(generator(noise)), is the discriminator's opinion
of generated images. The graph editor shows, validates and edits both blocks as usual.

``gan_model(model, settings, data_shape)`` wraps the built model in a Keras ``Model`` subclass
whose ``train_step`` follows the Keras DCGAN example: each batch of real images (the data
source's inputs; labels are ignored) first trains the discriminator to tell them from as many
generated images (binary cross-entropy, real labels softened by ``label_smoothing``), then
trains the generator, through the discriminator held still, to make images the discriminator
calls real. Each step reports ``d_loss``, ``g_loss``, ``real_accuracy`` and ``fake_accuracy``
(the discriminator's accuracy on each half) and ``loss`` = d_loss + g_loss, the sum the
training session watches for NaN (it measures nothing about quality). Validation runs the same
losses on held-out real images without updating anything.

The generator learns with the training section's optimizer (its learning rate, schedule and
ReduceLROnPlateau apply to it and are what the Train panel plots); the discriminator with a
copy of that optimizer whose rate is ``d_learning_rate`` (default: the same rate). The
compiled loss and metrics are not used. ``save`` writes the plain model (noise -> score), an
ordinary Keras file with both networks inside.

``check_gan`` checks the option (``FormatError`` at ``training.gan.<key>``) without Keras.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from workbench.errors import FormatError, WorkbenchError

DEFAULTS: dict[str, Any] = {"generator": "generator", "discriminator": "discriminator",
                            "latent_dim": None, "d_learning_rate": None, "label_smoothing": 0.1}


def check_gan(spec: Any, where: str = "training.gan") -> dict:
    """Check a ``"gan"`` training option; returns it with defaults filled in.

    Keys: ``generator`` and ``discriminator`` (the names of the two blocks in the graph;
    defaults "generator" and "discriminator"), ``latent_dim`` (the noise size; default: the
    generator's input size, and when given it must equal it), ``d_learning_rate`` (> 0;
    default: the training optimizer's rate), ``label_smoothing`` (in [0, 0.5): real images are
    labelled 1 - label_smoothing for the discriminator; default 0.1).

    Raises:
        FormatError: at ``<where>.<key>``, naming what is allowed.
    """
    if spec is True:
        spec = {}
    if not isinstance(spec, dict):
        raise FormatError(where, 'expected an object such as {"d_learning_rate": 0.001}, or true')
    unknown = sorted(set(spec) - set(DEFAULTS))
    if unknown:
        raise FormatError(f"{where}.{unknown[0]}", f"unknown option; known: {', '.join(DEFAULTS)}")
    settings = {**DEFAULTS, **spec}
    for key in ("generator", "discriminator"):
        if not isinstance(settings[key], str) or not settings[key]:
            raise FormatError(f"{where}.{key}", f"expected the name of a block in the graph "
                              f"(got {settings[key]!r})")
    if settings["generator"] == settings["discriminator"]:
        raise FormatError(f"{where}.discriminator", "must name another block than the generator")
    latent = settings["latent_dim"]
    if latent is not None and (isinstance(latent, bool) or not isinstance(latent, int) or latent < 1):
        raise FormatError(f"{where}.latent_dim", f"must be a whole number >= 1 (got {latent!r})")
    rate = settings["d_learning_rate"]
    if rate is not None and (not _real(rate) or rate <= 0):
        raise FormatError(f"{where}.d_learning_rate", f"must be a number > 0 (got {rate!r})")
    smoothing = settings["label_smoothing"]
    if not _real(smoothing) or not 0 <= smoothing < 0.5:
        raise FormatError(f"{where}.label_smoothing", f"must be a number from 0 up to (not "
                          f"including) 0.5 (got {smoothing!r})")
    return settings


def gan_settings(training_extra: dict | None) -> dict | None:
    """The checked ``"gan"`` option of a training section's extra keys, or None without one
    (absent, null or false); ``{}`` and ``true`` mean a GAN with the defaults.

    Raises:
        FormatError: bad settings, at ``training.gan.<key>``.
    """
    spec = (training_extra or {}).get("gan")
    if spec is None or spec is False:
        return None
    return check_gan(spec)


def gan_parts(model, settings: dict | None = None) -> tuple[Any, Any]:
    """The (generator, discriminator) nested models of a GAN graph's model, checked to fit.

    Raises:
        WorkbenchError: a block is missing, or the two do not fit together or with the data.
    """
    keras = _keras()
    settings = check_gan(settings or {})
    parts = []
    for key in ("generator", "discriminator"):
        name = settings[key]
        layer = next((layer for layer in model.layers if layer.name == name), None)
        if not isinstance(layer, keras.Model):
            blocks = [layer.name for layer in model.layers if isinstance(layer, keras.Model)]
            raise WorkbenchError(f"GAN training needs a block named {name!r} (the {key}) in the model; "
                                 f"its blocks are: {', '.join(blocks) or 'none'}")
        parts.append(layer)
    generator, discriminator = parts
    if len(generator.inputs) != 1 or len(generator.inputs[0].shape) != 2:
        raise WorkbenchError(f"the generator {generator.name!r} must take one noise vector per sample "
                             f"(an Input of shape [latent_dim])")
    made, wanted = tuple(generator.outputs[0].shape[1:]), tuple(discriminator.inputs[0].shape[1:])
    if made != wanted:
        raise WorkbenchError(f"the generator makes images of shape {list(made)} but the discriminator "
                             f"reads {list(wanted)}: make them agree")
    score = tuple(discriminator.outputs[0].shape[1:])
    if score not in ((), (1,)):
        raise WorkbenchError(f"the discriminator must give one score per image (a Dense(1) at the "
                             f"end); it gives shape {list(score)}")
    latent = settings["latent_dim"]
    if latent is not None and latent != generator.inputs[0].shape[-1]:
        raise WorkbenchError(f"training.gan.latent_dim is {latent} but the generator's input has "
                             f"{generator.inputs[0].shape[-1]} values: make them agree")
    return generator, discriminator


def latent_size(generator) -> int:
    """How many noise values the generator takes per sample."""
    return int(generator.inputs[0].shape[-1])


def gan_model(model, settings: dict, data_shape: tuple | None = None):
    """``model`` as a Keras model whose ``train_step`` trains its GAN blocks alternately.

    Args:
        model: the graph's functional model (noise -> generator -> discriminator); not changed,
            the result shares its layers and weights.
        settings: the ``"gan"`` option (checked here with ``check_gan``).
        data_shape: the shape of one real image (the dataset's input shape), checked against
            the generator's output; None skips the check.

    Returns:
        A model to compile and fit in place of ``model``, on the real images.

    Raises:
        FormatError: bad settings. WorkbenchError: the blocks are missing or do not fit.
    """
    settings = check_gan(settings)
    generator, discriminator = gan_parts(model, settings)
    made = tuple(generator.outputs[0].shape[1:])
    if data_shape is not None and tuple(data_shape) != made:
        raise WorkbenchError(f"the generator makes images of shape {list(made)} but the data's images "
                             f"have shape {list(data_shape)}: change the generator's last layers or "
                             "the data source")
    return _model_class()(inputs=model.inputs, outputs=model.outputs, name=model.name, plain=model,
                          generator=generator, discriminator=discriminator, gan=settings)


def is_gan(model) -> bool:
    """Whether ``model`` is a model made by ``gan_model``."""
    return hasattr(model, "_gan_settings")


def _keras():
    from workbench.backend import keras_module

    return keras_module()


@lru_cache(maxsize=1)
def _model_class() -> type:
    """The Keras model class, made on first use (Keras is imported only to train)."""
    keras = _keras()
    ops = keras.ops

    class GANModel(keras.Model):
        """A functional model whose ``train_step`` trains a discriminator, then a generator."""

        def __init__(self, *args, plain=None, generator=None, discriminator=None, gan=None, **kwargs):
            super().__init__(*args, **kwargs)
            # Plain attributes, not tracked by Keras: the functional model holds these layers
            # already, and tracking them again would list every weight twice.
            object.__setattr__(self, "_plain_model", plain)
            object.__setattr__(self, "_generator", generator)
            object.__setattr__(self, "_discriminator", discriminator)
            object.__setattr__(self, "_gan_settings", dict(gan))
            object.__setattr__(self, "_noise_seed", keras.random.SeedGenerator(None))
            object.__setattr__(self, "_from_logits", not _ends_in_sigmoid(discriminator))
            object.__setattr__(self, "_d_optimizer", None)
            self.trackers = {name: keras.metrics.Mean(name=name) for name in
                             ("loss", "d_loss", "g_loss", "real_accuracy", "fake_accuracy")}

        @property
        def plain_model(self):
            """The model this one was made from (same layers and weights)."""
            return self._plain_model

        @property
        def generator(self):
            return self._generator

        @property
        def discriminator(self):
            return self._discriminator

        @property
        def d_optimizer(self):
            """The discriminator's optimizer (the compiled one trains the generator)."""
            return self._d_optimizer

        @property
        def metrics(self):
            return list(self.trackers.values())

        def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
            """Compile with the generator's optimizer; ``loss`` and ``metrics`` are not used
            (the GAN's losses are fixed: binary cross-entropy on real vs generated)."""
            kept = ("run_eagerly", "jit_compile", "steps_per_execution")
            super().compile(optimizer=optimizer, **{k: v for k, v in kwargs.items() if k in kept})
            config = self.optimizer.get_config()
            rate = self._gan_settings["d_learning_rate"]
            if rate is not None:
                config["learning_rate"] = float(rate)
            config["name"] = "discriminator_" + config.get("name", "optimizer")
            d_optimizer = type(self.optimizer).from_config(config)
            # Built now: variables cannot be created inside the compiled training step.
            d_optimizer.build(self._discriminator.trainable_variables)
            object.__setattr__(self, "_d_optimizer", d_optimizer)

        def save(self, filepath, *args, **kwargs):
            """Save the plain model: an ordinary Keras file that loads without this module."""
            return self._plain_model.save(filepath, *args, **kwargs)

        def train_step(self, data):
            return self._step(data, update=True)

        def test_step(self, data):
            return self._step(data, update=False)

        def _step(self, data, update: bool):
            from workbench.generative.gradients import loss_and_gradients

            x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
            real = ops.cast(x, "float32")
            batch = ops.shape(real)[0]
            latent = latent_size(self._generator)
            smoothing = float(self._gan_settings["label_smoothing"])
            seen: dict[str, Any] = {}

            def d_loss():
                noise = keras.random.normal((batch, latent), seed=self._noise_seed)
                fake = ops.stop_gradient(self._generator(noise, training=update))
                real_score = self._discriminator(real, training=update)
                fake_score = self._discriminator(fake, training=update)
                seen["real"], seen["fake"] = real_score, fake_score
                real_loss = self._bce(ops.ones_like(real_score) * (1.0 - smoothing), real_score)
                fake_loss = self._bce(ops.zeros_like(fake_score), fake_score)
                return 0.5 * (real_loss + fake_loss)

            def g_loss():
                noise = keras.random.normal((batch, latent), seed=self._noise_seed)
                score = self._discriminator(self._generator(noise, training=update), training=update)
                return self._bce(ops.ones_like(score), score)

            if update:
                d_variables = self._discriminator.trainable_variables
                d_value, grads = loss_and_gradients(d_loss, d_variables)
                self._d_optimizer.apply_gradients(zip(grads, d_variables))
                g_variables = self._generator.trainable_variables
                g_value, grads = loss_and_gradients(g_loss, g_variables)
                self.optimizer.apply_gradients(zip(grads, g_variables))
            else:
                d_value, g_value = d_loss(), g_loss()
            threshold = 0.0 if self._from_logits else 0.5
            values = {
                "loss": d_value + g_value, "d_loss": d_value, "g_loss": g_value,
                "real_accuracy": ops.mean(ops.cast(seen["real"] > threshold, "float32")),
                "fake_accuracy": ops.mean(ops.cast(seen["fake"] <= threshold, "float32")),
            }
            for name, value in values.items():
                self.trackers[name].update_state(value)
            return {name: tracker.result() for name, tracker in self.trackers.items()}

        def _bce(self, labels, scores):
            scores = ops.cast(scores, "float32")
            return ops.mean(keras.losses.binary_crossentropy(
                ops.reshape(labels, (-1, 1)), ops.reshape(scores, (-1, 1)), from_logits=self._from_logits))

    return GANModel


def _ends_in_sigmoid(discriminator) -> bool:
    """Whether the discriminator's output is a probability (its last layer's activation is a
    sigmoid) rather than a logit."""
    layer = discriminator.outputs[0]._keras_history.operation
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None) == "sigmoid"


def _real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
