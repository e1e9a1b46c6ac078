"""What style transfer and PGD cost in the engine against plain eager code of the same algorithm.

Two measurements, each done two ways:

* style transfer, time per optimisation step (Adam on the picture, content + Gram style + total
  variation losses, clipping to [0, 1]):
  - (plain) written here the way a tutorial does: every step runs the extractor eagerly under a
    ``tf.GradientTape`` and applies a Keras Adam optimizer to a ``keras.Variable``;
  - (engine) ``workbench.generate.style.style_transfer``: one compiled step per iteration,
    cached per extractor and picture size; the step time is read from its progress reports.
  Extractors: the shapes CNN of the tests (three convolutions, untrained) at 64x64, and VGG19
  (random weights: timings do not depend on them, and nothing is downloaded) at 128x128.
* PGD, images per second (L-infinity, 10 steps, batches of 256 digits 8x8):
  - (plain) an eager loop of ``GradientTape`` steps on the model's cross-entropy;
  - (engine) ``workbench.generate.adversarial.attack``: all steps of a batch in one compiled
    loop.

Warm times: each way runs once before it is timed (tracing and optimizer slots excluded), then
the best of ``--repeat`` rounds counts. Goal: the engine at least 2x the plain code, for the
small CNN's style step and for PGD. VGG19 is reported beside it: its convolutions dominate the
step, so compiling saves less there.

Run: ``python benchmarks/generate.py [--steps 20] [--repeat 3] [--no-vgg] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

GOAL = 2.0
PGD_BATCH = 256
PGD_STEPS = 10
PGD_EPSILON = 0.1


def shapes_cnn(keras, size: int):
    """The test suite's shapes CNN, untrained."""
    layers = keras.layers
    inputs = keras.Input((size, size, 3), name="image")
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv_1")(inputs)
    x = layers.MaxPooling2D(name="pool_1")(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv_2")(x)
    x = layers.MaxPooling2D(name="pool_2")(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu", name="conv_3")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(3, activation="softmax", name="shape")(x)
    return keras.Model(inputs, outputs, name="shapes-cnn")


# ------------------------------------------------------------------ style transfer
def plain_style_steps(keras, extractor, content, style, settings, steps: int) -> list[float]:
    """Eager style transfer, as a tutorial writes it; returns the duration of each step."""
    import numpy as np
    import tensorflow as tf

    ops = keras.ops

    def gram(features):
        flat = tf.reshape(features, (features.shape[0], -1, features.shape[-1]))
        return tf.matmul(flat, flat, transpose_a=True) / float(flat.shape[1])

    def relative(value, target):
        return tf.reduce_mean(tf.square(value - target)) / (tf.reduce_mean(tf.square(target)) + 1e-8)

    content_targets, _ = extractor.features(content[None])
    _, style_features = extractor.features(style[None])
    style_targets = [gram(f) for f in style_features]
    layer_weight = 1.0 / len(style_targets)
    image = keras.Variable(content[None].copy())
    optimizer = keras.optimizers.Adam(settings.learning_rate)
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        with tf.GradientTape() as tape:
            content_features, style_features = extractor.features(image.value)
            content_loss = sum(relative(f, t) for f, t in zip(content_features, content_targets)) \
                / len(content_targets)
            style_loss = sum(layer_weight * relative(gram(f), t)
                             for f, t in zip(style_features, style_targets))
            tv = (tf.reduce_mean(tf.square(image.value[:, 1:] - image.value[:, :-1]))
                  + tf.reduce_mean(tf.square(image.value[:, :, 1:] - image.value[:, :, :-1])))
            total = (settings.content_weight * content_loss + settings.style_weight * style_loss
                     + settings.tv_weight * tv)
        grad = tape.gradient(total, image)
        optimizer.apply_gradients([(grad, image)])
        image.assign(ops.clip(image.value, 0.0, 1.0))
        float(style_loss)  # the engine reads the losses back every step too
        times.append(time.perf_counter() - started)
    assert np.isfinite(image.numpy()).all()
    return times


def engine_style_steps(extractor, content, style, settings) -> list[float]:
    """``style_transfer``'s steps, timed from its progress reports."""
    from workbench.generate.style import style_transfer
    from workbench.tasks import NullProgress

    class Clock(NullProgress):
        def __init__(self):
            super().__init__()
            self.times = []

        def step(self, done, total=None, message=""):
            self.times.append(time.perf_counter())

    clock = Clock()
    style_transfer(content, style, extractor, settings, clock)
    return [b - a for a, b in zip(clock.times, clock.times[1:])]


def style_round(keras, extractor, content, style, size, steps: int, repeat: int) -> dict:
    import numpy as np

    from workbench.generate.style import StyleSettings

    settings = StyleSettings(steps=steps, size=size, preview_every=0)
    # Both ways get the pictures at the working size already.
    content, style = (np.clip(keras.ops.convert_to_numpy(keras.ops.image.resize(
        image, (size[1], size[0]), antialias=True)), 0, 1) for image in (content, style))
    plain_style_steps(keras, extractor, content, style, settings, 3)  # warm-up
    engine_style_steps(extractor, content, style, StyleSettings(steps=3, size=size, preview_every=0))
    plain, engine = [], []
    for _ in range(repeat):
        plain.append(statistics.median(plain_style_steps(keras, extractor, content, style, settings,
                                                         steps)))
        engine.append(statistics.median(engine_style_steps(extractor, content, style, settings)))
    return {"plain_ms": 1000 * min(plain), "engine_ms": 1000 * min(engine),
            "ratio": min(plain) / min(engine)}


# ---------------------------------------------------------------------------- PGD
def plain_pgd(keras, model, x, y, epsilon: float, steps: int, step: float):
    """Eager PGD (L-infinity) from a uniform random start, clipped to [0, 1]."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x0 = tf.convert_to_tensor(x)
    adv = tf.clip_by_value(x0 + rng.uniform(-epsilon, epsilon, x.shape).astype(np.float32), 0.0, 1.0)
    for _ in range(steps):
        with tf.GradientTape() as tape:
            tape.watch(adv)
            loss = keras.losses.sparse_categorical_crossentropy(y, model(adv))
        grad = tape.gradient(loss, adv)
        adv = adv + step * tf.sign(grad)
        adv = tf.clip_by_value(tf.clip_by_value(adv, x0 - epsilon, x0 + epsilon), 0.0, 1.0)
    return adv.numpy()


def pgd_round(keras, repeat: int, batches: int) -> dict:
    import numpy as np

    from workbench.data import load_dataset
    from workbench.experiment import DEFAULT_EXPERIMENT, Experiment
    from workbench.generate.adversarial import AttackSettings, attack
    from workbench.graph.convert import build_model

    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    dataset = load_dataset(experiment.data)
    model = build_model(experiment.graph).model
    x = np.concatenate([dataset.x_train] * 2)[:PGD_BATCH * batches]
    y = np.concatenate([dataset.y_train] * 2)[:PGD_BATCH * batches]
    settings = AttackSettings(method="pgd", epsilon=PGD_EPSILON, steps=PGD_STEPS)
    step = settings.step_length

    def plain_run():
        for i in range(0, len(x), PGD_BATCH):
            plain_pgd(keras, model, x[i:i + PGD_BATCH], y[i:i + PGD_BATCH], PGD_EPSILON, PGD_STEPS, step)

    def engine_run():
        attack(model, x, y, settings, batch_size=PGD_BATCH)

    plain_run()  # warm-up: first calls of every kernel
    engine_run()  # warm-up: tracing
    plain, engine = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        plain_run()
        plain.append(len(x) / (time.perf_counter() - started))
        started = time.perf_counter()
        engine_run()
        engine.append(len(x) / (time.perf_counter() - started))
    # The engine's attack also predicts before and after (two more forward passes): counted.
    return {"images": len(x), "plain_images_per_s": max(plain), "engine_images_per_s": max(engine),
            "ratio": max(engine) / max(plain)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="style steps per timed run (default 20)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best counts (default 3)")
    parser.add_argument("--batches", type=int, default=4, help="PGD batches of 256 per round (default 4)")
    parser.add_argument("--no-vgg", dest="vgg", action="store_false", help="skip the VGG19 row")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()

    import numpy as np

    from workbench.backend import keras_module
    from workbench.generate.extractor import model_extractor, vgg19_extractor
    from workbench.inspect.images import load_image

    keras = keras_module()
    samples = Path(__file__).resolve().parents[1] / "assets" / "samples"
    content = (load_image(samples / "content.png") / 255).astype(np.float32)
    style = (load_image(samples / "style.png") / 255).astype(np.float32)

    keras.utils.set_random_seed(0)
    small = model_extractor(shapes_cnn(keras, 64))
    numbers = {"style_small_cnn_64x64": style_round(keras, small, content, style, (64, 64), args.steps,
                                                    args.repeat)}
    if args.vgg:
        import tempfile

        # Random weights through the engine's own loading path (a weights file), no download.
        weights = Path(tempfile.mkdtemp(prefix="vgg19-")) / "random.weights.h5"
        keras.applications.VGG19(weights=None, include_top=False).save_weights(weights)
        big = vgg19_extractor(weights=weights)
        numbers["style_vgg19_128x128"] = style_round(keras, big, content, style, (128, 128),
                                                     max(5, args.steps // 2), args.repeat)
    numbers["pgd_digits"] = pgd_round(keras, args.repeat, args.batches)
    met = numbers["style_small_cnn_64x64"]["ratio"] >= GOAL and numbers["pgd_digits"]["ratio"] >= GOAL
    rounded = {name: {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}
               for name, row in numbers.items()}
    if args.json:
        print(json.dumps({**rounded, "goal": GOAL, "goal_met": met}, indent=2))
        return
    print(f"warm timings, best of {args.repeat}; goal: engine >= {GOAL}x the plain eager code")
    for name, row in numbers.items():
        if name.startswith("style"):
            print(f"  {name:<24} plain {row['plain_ms']:8.2f} ms/step   engine {row['engine_ms']:8.2f} "
                  f"ms/step   ratio {row['ratio']:.2f}x")
    row = numbers["pgd_digits"]
    print(f"  {'pgd_digits (10 steps)':<24} plain {row['plain_images_per_s']:8.0f} images/s  engine "
          f"{row['engine_images_per_s']:8.0f} images/s  ratio {row['ratio']:.2f}x")
    print("GOAL MET" if met else "GOAL MISSED")


if __name__ == "__main__":
    main()
