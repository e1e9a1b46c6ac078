"""Live pictures of generative models, and the functions behind them.

During training, ``preview_callback`` sends through ``progress.partial`` (every ``every``
epochs and after the last one):

* autoencoders (data ``"target": "input"``)::

    {"kind": "reconstructions", "epoch": e, "images": (originals, noisy or None, outputs),
     "grid": picture}

  for a fixed set of validation images; ``noisy`` are those images after the data section's
  colour augmentations (noise, contrast), the inputs of a denoising autoencoder, made once
  with a fixed seed; ``grid`` stacks the rows (original / noisy / output) in one picture;
* variational autoencoders (a ``Sampling`` layer), besides the reconstructions::

    {"kind": "latent", "epoch": e, "points": (n, 2), "labels": (n,) or None}
    {"kind": "decoded_grid", "epoch": e, "images": picture}

* GANs (``training.gan``)::

    {"kind": "samples", "epoch": e, "images": picture, "tiles": (n, h, w[, c])}

  generated from the same noise every epoch, so the grids are comparable.

A preview that fails (a model the pictures do not fit) never ends the run: the callback sends
``{"kind": "preview_failed", "epoch": e, "reason": text}`` once and stops previewing. Data
that are not images (rows of numbers) get no previews.

Pictures are float32 in [0, 1] (the data's value range mapped there), single-channel images
as (H, W). The VAE parts are found by the ``Sampling`` layer, whatever the nodes are called:
its first input is ``z_mean`` (the encoder's output), its output feeds the decoder, which ends
at the model's output. ``latent_scatter`` and ``decoded_grid`` serve the panel and the tests
after training too.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from workbench.errors import WorkbenchError
from workbench.tasks import Progress

PREVIEW_COUNT = 8  # reconstructions shown
SAMPLE_COUNT = 16  # GAN samples shown (a 4 x 4 grid)
LATENT_POINTS = 500  # validation samples in the live latent scatter


# ------------------------------------------------------------------ VAE parts
def sampling_layer(model):
    """The model's ``Sampling`` layer (top level), or None when it is no VAE."""
    from workbench.generative.layers import sampling_class

    return next((layer for layer in model.layers if isinstance(layer, sampling_class())), None)


def vae_parts(model) -> tuple[Any, Any]:
    """(encoder, decoder) of a VAE: input -> z_mean, and latent code -> the model's output.

    Both share the model's layers and weights.

    Raises:
        WorkbenchError: the model has no ``Sampling`` layer.
    """
    from workbench.backend import keras_module

    keras = keras_module()
    layer = sampling_layer(model)
    if layer is None:
        raise WorkbenchError(f"model {model.name!r} has no Sampling layer: the latent space of a "
                             "VAE is read at the Sampling layer's z_mean input")
    z_mean = layer.input[0]
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    encoder = keras.Model(inputs, z_mean, name=f"{model.name}_encoder")
    decoder = keras.Model(layer.output, model.outputs[0], name=f"{model.name}_decoder")
    return encoder, decoder


def latent_scatter(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The latent means (z_mean) of the inputs ``x``: (n, 2) points to scatter.

    Args:
        model: a VAE (with a ``Sampling`` layer) or an encoder whose output is the code.
        x: inputs.
        batch_size: prediction batch size.

    Returns:
        float32 (n, 2); a latent space with more than two dimensions is projected on its first
        two principal components.
    """
    encoder = vae_parts(model)[0] if sampling_layer(model) is not None else model
    points = _run(encoder, x, batch_size)
    points = points.reshape(len(points), -1)
    if points.shape[1] > 2:
        from workbench.inspect.embedding import pca

        points = pca(points)[0][:, :2]
    elif points.shape[1] < 2:
        points = np.concatenate([points, np.zeros_like(points)], axis=1)
    return points.astype(np.float32)


def decoded_grid(model, n: int = 15, span: float = 2.0, value_range: tuple[float, float] = (0.0, 1.0),
                 gap: int = 1) -> np.ndarray:
    """Images decoded from an ``n`` x ``n`` grid of codes from -span to span in a 2-D latent space.

    Rows run from +span (top) to -span on the second latent axis, columns from -span to +span
    on the first, as a scatter plot reads.

    Args:
        model: a VAE (its decoder is found from the ``Sampling`` layer) or a decoder taking
            2-D codes.
        n: codes per side.
        span: the grid's half width, in units of the prior's standard deviation.
        value_range: the data's (low, high), mapped to [0, 1].
        gap: pixels between tiles.

    Returns:
        float32 picture in [0, 1]: (n*h + (n-1)*gap, n*w + (n-1)*gap[, C]).

    Raises:
        WorkbenchError: the latent space is not 2-D, or bad n/span.
    """
    from workbench.inspect.images import grid

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise WorkbenchError(f"the decoded grid needs a whole number of codes per side >= 1 (got {n!r})")
    if not np.isfinite(span) or span <= 0:
        raise WorkbenchError(f"the decoded grid's span must be a number > 0 (got {span!r})")
    decoder = vae_parts(model)[1] if sampling_layer(model) is not None else model
    size = decoder.inputs[0].shape[-1]
    if size != 2:
        raise WorkbenchError(f"the decoded grid needs a 2-D latent space; this one has {size} dimensions")
    axis = np.linspace(-span, span, n, dtype=np.float32)
    codes = np.array([[x, y] for y in axis[::-1] for x in axis], np.float32)
    images = _run(decoder, codes)
    return grid(_tiles(images, value_range), columns=n, gap=gap)


# ------------------------------------------------------------------ GAN samples
def fixed_noise(latent_dim: int, count: int = SAMPLE_COUNT, seed: int = 0) -> np.ndarray:
    """The same generator inputs every time (standard normal, seeded)."""
    return np.random.default_rng(seed).standard_normal((count, latent_dim)).astype(np.float32)


def generate(model, noise: np.ndarray, settings: dict | None = None) -> np.ndarray:
    """The images a GAN's generator makes from ``noise`` (inference mode)."""
    from workbench.generative.gan import gan_parts

    generator = gan_parts(model, settings)[0]
    return _run(generator, noise)


def sample_grid(model, noise: np.ndarray, settings: dict | None = None,
                value_range: tuple[float, float] = (0.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """(picture, tiles): a GAN's samples from ``noise`` as one picture and as tiles in [0, 1]."""
    from workbench.inspect.images import grid

    tiles = _tiles(generate(model, noise, settings), value_range)
    return grid(tiles), tiles


# ------------------------------------------------------------------ callbacks
def preview_callback(training_extra: dict, dataset, progress: Progress, data_config: dict | None = None,
                     every: int = 1, seed: int = 0):
    """The preview callback that suits the experiment, or None (a classifier, streamed data).

    Args:
        training_extra: the training section's extra options (``TrainingConfig.extra``): a
            ``"gan"`` option makes GAN sample previews.
        dataset: the loaded ``Dataset``: reconstruction previews need in-memory data whose
            task is "reconstruction".
        progress: receives the ``partial`` reports.
        data_config: the experiment's data section, for the denoising autoencoder's noisy
            inputs (its colour augmentations); None shows no noisy row.
        every: preview every this many epochs (and after the last).
        seed: seeds the choice of images, the noise and the GAN's fixed inputs.
    """
    from workbench.generative.gan import gan_settings

    gan = gan_settings(training_extra)
    value_range = _value_range(dataset)
    if gan is not None:
        return sample_previews(progress, gan, every=every, seed=seed, value_range=value_range)
    if getattr(dataset, "task", None) != "reconstruction":
        return None
    held = dataset.held_out()
    if held is None or not len(held[0]) or not _image_shape(np.shape(held[0])[1:]):
        return None  # streamed data, or rows of numbers: nothing to draw
    x = held[0]
    labels = dataset.extras.get("labels_val" if dataset.x_val is not None else "labels_train")
    pick = np.random.default_rng(seed).choice(len(x), min(PREVIEW_COUNT, len(x)), replace=False)
    originals = x[np.sort(pick)]
    noisy = noisy_inputs(originals, data_config, seed) if data_config else None
    points = np.random.default_rng(seed + 1).choice(len(x), min(LATENT_POINTS, len(x)), replace=False)
    points.sort()
    return reconstruction_previews(progress, originals, noisy, every=every, value_range=value_range,
                                   latent_x=x[points], latent_labels=None if labels is None else
                                   np.asarray(labels)[points])


def noisy_inputs(x: np.ndarray, data_config: dict, seed: int = 0) -> np.ndarray | None:
    """``x`` after the data section's colour augmentations (noise, contrast), as a denoising
    autoencoder sees its inputs in training; None when it has none. Fresh layers with a fixed
    seed, so training's own random streams are not touched."""
    from workbench.data.augment import GEOMETRIC, augmentation_layers

    layers = [layer for layer in augmentation_layers(data_config, seed=seed)
              if layer.augmentation not in GEOMETRIC]
    if not layers:
        return None
    out = np.asarray(x, np.float32)
    for layer in layers:
        out = np.asarray(layer(out, training=True))
    return out


def reconstruction_previews(progress: Progress, originals: np.ndarray, noisy: np.ndarray | None = None,
                            every: int = 1, value_range: tuple[float, float] = (0.0, 1.0),
                            latent_x: np.ndarray | None = None, latent_labels: np.ndarray | None = None):
    """A Keras callback sending reconstructions (and a VAE's latent scatter and decoded grid).

    Args:
        progress: receives the reports.
        originals: the clean images to show.
        noisy: the inputs given to the model instead (a denoising autoencoder), or None.
        every: every this many epochs (and after the last).
        value_range: the data's (low, high), mapped to [0, 1] in the pictures.
        latent_x, latent_labels: inputs (and their classes) for a VAE's latent scatter.
    """
    return _callback_class()(progress, every, "reconstructions", {
        "originals": np.asarray(originals, np.float32),
        "noisy": None if noisy is None else np.asarray(noisy, np.float32),
        "value_range": value_range, "latent_x": latent_x, "latent_labels": latent_labels})


def sample_previews(progress: Progress, settings: dict | None = None, every: int = 1,
                    count: int = SAMPLE_COUNT, seed: int = 0,
                    value_range: tuple[float, float] = (0.0, 1.0)):
    """A Keras callback sending a grid of GAN samples from fixed noise (see the module doc)."""
    return _callback_class()(progress, every, "samples", {
        "settings": dict(settings or {}), "count": count, "seed": seed, "value_range": value_range})


@lru_cache(maxsize=1)
def _callback_class() -> type:
    """The callback class, made on first use (Keras is imported only to train)."""
    from workbench.backend import keras_module

    keras = keras_module()

    class PreviewCallback(keras.callbacks.Callback):
        """Sends pictures of the model in training through ``progress.partial``."""

        def __init__(self, progress, every: int, kind: str, options: dict):
            super().__init__()
            if isinstance(every, bool) or not isinstance(every, int) or every < 1:
                raise WorkbenchError(f"previews come every whole number >= 1 of epochs (got {every!r})")
            self.progress, self.every, self.kind, self.options = progress, every, kind, options
            self.noise = None
            self.vae = None  # (encoder, decoder) of a VAE
            self.stopped = False

        def on_train_begin(self, logs=None):
            model = getattr(self.model, "plain_model", None) or self.model
            try:
                if self.kind == "samples":
                    from workbench.generative.gan import gan_parts, latent_size

                    generator = gan_parts(model, self.options["settings"])[0]
                    if not _image_shape(generator.outputs[0].shape[1:]):
                        return self._give_up(-1, "the generator's outputs are not images")
                    self.noise = fixed_noise(latent_size(generator), self.options["count"],
                                             self.options["seed"])
                elif sampling_layer(model) is not None:
                    self.vae = vae_parts(model)
            except Exception as error:  # a preview must never end a training run
                self._give_up(-1, str(error))

        def on_epoch_end(self, epoch, logs=None):
            last = epoch + 1 >= (self.params or {}).get("epochs", 0)
            if self.stopped or ((epoch + 1) % self.every and not last):
                return
            try:
                self._send(epoch)
            except Exception as error:  # a preview must never end a training run
                self._give_up(epoch, str(error))

        def _give_up(self, epoch: int, reason: str) -> None:
            self.stopped = True
            self.progress.partial({"kind": "preview_failed", "epoch": epoch,
                                   "reason": f"previews stopped: {reason}"})

        def _send(self, epoch):
            model = getattr(self.model, "plain_model", None) or self.model
            if self.kind == "samples":
                picture, tiles = sample_grid(model, self.noise, self.options["settings"],
                                             self.options["value_range"])
                self.progress.partial({"kind": "samples", "epoch": epoch, "images": picture, "tiles": tiles})
                return
            self._reconstructions(model, epoch)
            if self.vae is not None:
                self._latent(epoch)

        def _reconstructions(self, model, epoch):
            originals, noisy = self.options["originals"], self.options["noisy"]
            low_high = self.options["value_range"]
            outputs = _run(model, originals if noisy is None else noisy)
            rows = [_tiles(originals, low_high)] + ([] if noisy is None else [_tiles(noisy, low_high)])
            rows.append(_tiles(outputs, low_high))
            from workbench.inspect.images import grid

            picture = grid(np.concatenate(rows), columns=len(originals))
            self.progress.partial({"kind": "reconstructions", "epoch": epoch,
                                   "images": (originals, noisy, outputs), "grid": picture})

        def _latent(self, epoch):
            encoder, decoder = self.vae
            x = self.options["latent_x"]
            if x is not None and len(x):
                points = latent_scatter(encoder, x)
                self.progress.partial({"kind": "latent", "epoch": epoch, "points": points,
                                       "labels": self.options["latent_labels"]})
            if decoder.inputs[0].shape[-1] == 2:
                picture = decoded_grid(decoder, value_range=self.options["value_range"])
                self.progress.partial({"kind": "decoded_grid", "epoch": epoch, "images": picture})

    return PreviewCallback


# ------------------------------------------------------------------ helpers
def _run(model, x, batch_size: int = 256) -> np.ndarray:
    """``model`` on ``x`` in inference mode, eagerly in batches: for the few hundred images of
    a preview this costs milliseconds, where ``predict`` traces a function per new model."""
    x = np.asarray(x, np.float32)
    parts = [np.asarray(model(x[i:i + batch_size], training=False)) for i in range(0, len(x), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0,), np.float32)


def _image_shape(shape) -> bool:
    """Whether one sample of this shape can be drawn: (h, w) or (h, w, 1|3|4)."""
    shape = tuple(shape)
    return len(shape) == 2 or (len(shape) == 3 and shape[-1] in (1, 3, 4))


def _value_range(dataset) -> tuple[float, float]:
    x = getattr(dataset, "x_train", None)
    if x is None or not np.size(x):
        return (0.0, 1.0)
    low, high = float(np.min(x)), float(np.max(x))
    return (low, high) if high > low else (low, low + 1.0)


def _tiles(images, value_range: tuple[float, float]) -> np.ndarray:
    """Images as display tiles in [0, 1]; one channel as (n, h, w)."""
    images = np.asarray(images, np.float32)
    low, high = value_range
    tiles = np.clip((images - low) / (high - low), 0.0, 1.0)
    if tiles.ndim == 4 and tiles.shape[-1] == 1:
        tiles = tiles[..., 0]
    return tiles
