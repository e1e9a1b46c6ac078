"""The workbench's own Keras layer for generative models: ``Sampling``.

A variational autoencoder's encoder ends in two tensors, the mean and the log-variance of a
Gaussian over the latent code; ``Sampling`` draws a code from it with the reparameterization
trick (z = mean + exp(log_var / 2) * eps, eps ~ N(0, 1)), so gradients flow through the mean
and variance, and adds the KL divergence of that Gaussian from N(0, I) to the model's losses
(``add_loss``), weighted by ``kl_weight``. Keras adds those losses to the compiled loss in
``fit`` and ``evaluate``, so a VAE is an ordinary functional model compiled with a
reconstruction loss.

The class is registered with Keras as ``workbench>Sampling``: importing this module makes it
known to the graph catalog (node type ``"Sampling"``) and to Keras' loader, so saved VAEs load
in safe mode (no code is deserialized: the layer is a class of this package, not a ``Lambda``).
"""

from __future__ import annotations

from functools import lru_cache

PACKAGE = "workbench"


@lru_cache(maxsize=1)
def sampling_class() -> type:
    """The registered ``Sampling`` layer class (made on first use: Keras loads lazily)."""
    from workbench.backend import keras_module

    keras = keras_module()
    ops = keras.ops

    @keras.saving.register_keras_serializable(package=PACKAGE, name="Sampling")
    class Sampling(keras.layers.Layer):
        """Draws a latent code from N(z_mean, exp(z_log_var)) and adds the KL term.

        Call it on ``[z_mean, z_log_var]`` (two tensors of the same shape). In training it
        samples (the reparameterization trick); in inference it returns ``z_mean``, so
        reconstructions and the decoded grid are repeatable.

        Args:
            kl_weight: weight of the KL divergence (summed over the latent dimensions,
                averaged over the batch) added to the model's loss; 0 turns the model into a
                plain autoencoder with a noisy code.
            seed: seed of the sampling noise (None: a random seed).
        """

        def __init__(self, kl_weight: float = 1.0, seed: int | None = None, **kwargs):
            super().__init__(**kwargs)
            self.kl_weight = float(kl_weight)
            self.seed = seed
            self.seed_generator = keras.random.SeedGenerator(seed)

        def call(self, inputs, training=None):
            z_mean, z_log_var = inputs
            kl = -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)
            self.add_loss(self.kl_weight * ops.mean(kl))
            if not training:
                return z_mean
            epsilon = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
            return z_mean + ops.exp(0.5 * z_log_var) * epsilon

        def compute_output_shape(self, input_shape):
            return tuple(input_shape[0])

        def get_config(self):
            return {**super().get_config(), "kl_weight": self.kl_weight, "seed": self.seed}

    return Sampling


def register() -> None:
    """Make the workbench's layers known to Keras (idempotent, cheap after the first call)."""
    sampling_class()
