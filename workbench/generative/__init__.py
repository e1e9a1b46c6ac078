"""Generative models: autoencoders, variational autoencoders and GANs.

* ``layers``: ``Sampling``, the workbench's registered Keras layer (a VAE's latent sample and
  KL loss); the graph catalog registers it before it describes or builds a node.
* ``gan``: the training section's ``"gan"`` option: a graph with ``generator`` and
  ``discriminator`` blocks trained alternately (``gan_model``).
* ``previews``: live pictures for the Train panel (reconstructions, GAN samples, a VAE's latent
  scatter and decoded grid) and the functions behind them.
* ``gradients``: the package's one backend-specific module (the GAN's tapes).

Keras is imported lazily, inside the functions.
"""
