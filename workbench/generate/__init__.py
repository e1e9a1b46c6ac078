"""Generating inputs from a trained network: neural style transfer and adversarial examples.

* ``style``: Gatys et al.'s style transfer on VGG19 or any convolutional model
  (``extractor``);
* ``adversarial``: FGSM, BIM and PGD (L-infinity and L2), targeted or not, and robustness
  sweeps of accuracy against epsilon;
* ``adversarial_training``: the training section's ``"adversarial"`` option, a model whose
  training step mixes adversarial examples into each batch;
* ``gradients``: the one backend-specific module (tapes, compiled steps and loops);
* ``cli``: the ``style`` and ``attack`` commands.

Keras is imported lazily, inside the functions.
"""
