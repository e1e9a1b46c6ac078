"""What Grad-CAM and saliency maps cost in the engine against a plain per-call GradientTape.

On a batch of 32 images, each method runs two ways:

* (plain) what a tutorial writes: every call builds ``keras.Model(inputs, [conv.output,
  model.output])`` (Grad-CAM) or uses the model as it is (saliency) and runs it eagerly under a
  ``tf.GradientTape``; then the same NumPy reduction as the engine;
* (engine) ``workbench.inspect.cam.grad_cam`` / ``saliency.gradient``: a compiled function per
  (model, layer, method), traced on the first call and reused; the score is the class score
  before softmax (a linear copy of the head), so the engine also does a little more work.

"Cold" is the first call on a fresh copy of the model (sub-model building and tracing
included), "warm" the median of later calls. Times are per image. Goal: warm engine calls at
least 2x faster than warm plain calls, for both methods.

The model is the shapes CNN of the tests (three convolutions, global pooling, softmax), built
untrained (timings do not depend on the weights), or any ``.keras``/``.h5`` file (--model).

Run: ``python benchmarks/inspect_speed.py [--model FILE] [--repeat 20] [--json]``.
"""

from __future__ import annotations

import os
import sys

# (Not called inspect.py: Python puts the script's folder first on the path, where that name
# would hide the standard library's inspect module.)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

GOAL = 2.0
BATCH = 32


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


def fresh_copy(keras, model):
    """The same model as a new object: no cache of the engine knows it yet."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def plain_grad_cam(keras, tf, model, layer: str, x):
    import numpy as np

    grad_model = keras.Model(model.inputs, [model.get_layer(layer).output, model.output])
    with tf.GradientTape() as tape:
        features, predictions = grad_model([x])
        classes = tf.argmax(predictions, axis=1)
        score = tf.gather(predictions, classes, axis=1, batch_dims=1)
    grads = tape.gradient(score, features).numpy()
    features = features.numpy()
    cam = np.maximum(np.einsum("nhwk,nk->nhw", features, grads.mean(axis=(1, 2))), 0)
    cam = tf.image.resize(cam[..., None], x.shape[1:3]).numpy()[..., 0]
    return cam / np.maximum(cam.max(axis=(1, 2), keepdims=True), 1e-12)


def plain_saliency(tf, model, x):
    import numpy as np

    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        predictions = model(x)
        classes = tf.argmax(predictions, axis=1)
        score = tf.gather(predictions, classes, axis=1, batch_dims=1)
    maps = np.abs(tape.gradient(score, x).numpy()).max(axis=-1)
    return maps / np.maximum(maps.max(axis=(1, 2), keepdims=True), 1e-12)


def timed(function, repeat: int) -> tuple[float, float]:
    """(cold seconds, median warm seconds) of ``function()``."""
    start = time.perf_counter()
    function()
    cold = time.perf_counter() - start
    warm = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        warm.append(time.perf_counter() - start)
    return cold, statistics.median(warm)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a .keras/.h5 model (default: the shapes CNN, untrained)")
    parser.add_argument("--size", type=int, default=32, help="image size of the shapes CNN (default 32)")
    parser.add_argument("--repeat", type=int, default=20, help="warm calls per method (default 20)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    from workbench.backend import keras_module
    from workbench.inspect import cam, saliency
    from workbench.inspect.layers import find_layer, last_conv_layer
    from workbench.modelio import load_model_file

    keras = keras_module()
    model = load_model_file(args.model) if args.model else shapes_cnn(keras, args.size)
    layer = last_conv_layer(model)
    if "/" in layer:
        raise SystemExit(f"the plain version cannot reach {layer} inside a nested model; "
                         "benchmark a flat model")
    find_layer(model, layer)
    shape = tuple(model.inputs[0].shape[1:])
    x = np.random.default_rng(0).uniform(0, 1, (BATCH,) + shape).astype(np.float32)

    results = {}
    for name, plain, engine in (
        ("grad_cam", functools.partial(plain_grad_cam, keras, tf, layer=layer, x=x), cam.grad_cam),
        ("saliency", functools.partial(plain_saliency, tf, x=x), saliency.gradient),
    ):
        # Each side gets a model of its own that nothing has run yet: the first call is cold.
        plain_cold, plain_warm = timed(functools.partial(plain, model=fresh_copy(keras, model)),
                                       args.repeat)
        engine_cold, engine_warm = timed(functools.partial(engine, fresh_copy(keras, model), x),
                                         args.repeat)
        results[name] = {
            "plain_cold_ms_per_image": 1000 * plain_cold / BATCH,
            "plain_warm_ms_per_image": 1000 * plain_warm / BATCH,
            "engine_cold_ms_per_image": 1000 * engine_cold / BATCH,
            "engine_warm_ms_per_image": 1000 * engine_warm / BATCH,
            "warm_speedup": plain_warm / engine_warm,
            "cold_speedup": plain_cold / engine_cold,
        }
    met = all(r["warm_speedup"] >= GOAL for r in results.values())
    numbers = {"model": args.model or f"shapes CNN {args.size}x{args.size}", "layer": layer,
               "batch": BATCH, "repeat": args.repeat,
               "methods": {k: {n: round(v, 3) for n, v in r.items()} for k, r in results.items()},
               "goal_warm_speedup": GOAL, "goal_met": met}
    if args.json:
        print(json.dumps(numbers, indent=2))
        return
    print(f"{numbers['model']}, layer {layer}, batch {BATCH}; ms per image, warm = median of "
          f"{args.repeat} calls")
    print(f"  {'method':<10} {'plain cold':>11} {'plain warm':>11} {'engine cold':>12} "
          f"{'engine warm':>12} {'warm ratio':>11} {'cold ratio':>11}")
    for name, r in results.items():
        print(f"  {name:<10} {r['plain_cold_ms_per_image']:11.3f} {r['plain_warm_ms_per_image']:11.3f} "
              f"{r['engine_cold_ms_per_image']:12.3f} {r['engine_warm_ms_per_image']:12.3f} "
              f"{r['warm_speedup']:10.2f}x {r['cold_speedup']:10.2f}x")
    print(f"goal: warm engine calls at least {GOAL:g}x faster than warm plain calls")
    print("GOAL MET" if met else "GOAL MISSED")


if __name__ == "__main__":
    main()
