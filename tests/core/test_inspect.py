"""The inspection engine on a CNN the workbench trains on generated shapes.

One small CNN is trained once for the module (32x32 colour images of squares, circles and
triangles, with their bounding boxes); the tests check that the maps point at the objects, that
the explained score is the one before softmax, that nothing changes the user's model, and that
nested, Sequential and multi-output models work. The CLI tests use the same run folder.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from workbench.errors import WorkbenchError
from workbench.experiment import Experiment
from workbench.inspect import cam, features, images, layers, maximize, saliency, score
from workbench.inspect.explain import METHODS, explain
from workbench.inspect.source import open_model_source
from workbench.tasks import RecordingProgress

SIZE = 32


def _node(node_id: str, kind: str, **params) -> dict:
    return {"id": node_id, "type": kind, "params": params, "pos": [0, 0]}


def shapes_experiment() -> Experiment:
    nodes = [_node("image", "Input", shape=[SIZE, SIZE, 3]),
             _node("conv_1", "Conv2D", filters=16, kernel_size=3, padding="same", activation="relu"),
             _node("pool_1", "MaxPooling2D"),
             _node("conv_2", "Conv2D", filters=32, kernel_size=3, padding="same", activation="relu"),
             _node("pool_2", "MaxPooling2D"),
             _node("conv_3", "Conv2D", filters=64, kernel_size=3, padding="same", activation="relu"),
             _node("gap", "GlobalAveragePooling2D"),
             _node("shape", "Dense", units=3, activation="softmax")]
    ids = [n["id"] for n in nodes]
    return Experiment.from_dict({
        "format": "keras-workbench/experiment", "version": 1, "name": "shapes-cnn",
        "model": {"nodes": nodes, "edges": [{"from": a, "to": b, "port": 0} for a, b in zip(ids, ids[1:])],
                  "outputs": ["shape"]},
        "data": {"source": "shapes", "samples": 800, "image_size": SIZE, "classes": 3, "seed": 1,
                 "noise": 0.05, "validation_split": 0.25, "preprocessing": ["scale"]},
        "training": {"optimizer": {"name": "adam", "learning_rate": 0.003},
                     "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"],
                     "epochs": 10, "batch_size": 32, "seed": 1},
    })


@pytest.fixture(scope="module")
def trained(keras, tmp_path_factory):
    """(model, dataset, run) of the shapes CNN trained by a TrainingSession into a run folder."""
    from workbench.data import load_dataset
    from workbench.runs import RunStore
    from workbench.training import TrainingSession

    experiment = shapes_experiment()
    dataset = load_dataset(experiment.data)
    store = RunStore(tmp_path_factory.mktemp("runs"))
    result = TrainingSession(experiment, dataset=dataset, store=store).run()
    assert result.status == "finished", result.reason
    return result.model, dataset, result.run


@pytest.fixture(scope="module")
def correct(trained):
    """The validation images the model classifies correctly, their labels and boxes."""
    model, dataset, _ = trained
    predicted = np.argmax(model.predict(dataset.x_val, verbose=0), axis=1)
    ok = predicted == dataset.y_val
    assert ok.mean() > 0.9  # a model that has learnt the shapes, or the maps mean nothing
    return dataset.x_val[ok], dataset.y_val[ok], dataset.extras["boxes_val"][ok]


def box_masks(boxes: np.ndarray) -> np.ndarray:
    masks = np.zeros((len(boxes), SIZE, SIZE), bool)
    for mask, (x0, y0, x1, y1) in zip(masks, boxes):
        mask[y0:y1, x0:x1] = True
    return masks


# ------------------------------------------------------------------ maps on the object
def test_grad_cam_peak_lies_on_the_object(trained, correct):
    model, _, _ = trained
    x, y, boxes = correct
    result = cam.grad_cam(model, x)
    assert result.layer == "conv_3"  # found by itself: the last convolution
    assert np.array_equal(result.predicted, y) and np.array_equal(result.classes, y)
    peaks = [np.unravel_index(np.argmax(m), m.shape) for m in result.maps]
    inside = [x0 <= px < x1 and y0 <= py < y1 for (py, px), (x0, y0, x1, y1) in zip(peaks, boxes)]
    assert np.mean(inside) >= 0.8


def test_most_saliency_falls_on_the_object(trained, correct):
    model, _, _ = trained
    x, _, boxes = correct
    x, boxes = x[:96], boxes[:96]
    masks = box_masks(boxes)
    area = masks.mean()  # about a third of the image
    for method in ("integrated_gradients", "gradient_x_input", "guided_backprop"):
        maps = explain(model, x, method).maps
        share = (maps * masks).sum(axis=(1, 2)) / maps.sum(axis=(1, 2))
        assert share.mean() > 0.5, method
    for method in ("gradient", "smoothgrad"):  # plain gradients also light up edges outside
        maps = explain(model, x, method, **({"samples": 8} if method == "smoothgrad" else {})).maps
        share = (maps * masks).sum(axis=(1, 2)) / maps.sum(axis=(1, 2))
        assert share.mean() > 1.2 * area, method


def test_every_method_gives_maps_in_the_unit_range(trained):
    model, dataset, _ = trained
    x = dataset.x_val[:4]
    options = {"smoothgrad": {"samples": 4}, "integrated_gradients": {"steps": 8},
               "score_cam": {"max_channels": 16}}
    for method in METHODS:
        result = explain(model, x, method, **options.get(method, {}))
        assert result.maps.shape == (4, SIZE, SIZE), method
        assert np.isfinite(result.maps).all() and result.maps.min() >= 0 and result.maps.max() == 1
        assert result.method == method


def test_the_score_is_the_class_score_before_softmax(trained):
    model, dataset, _ = trained
    x = dataset.x_val[:8]
    head = score.score_head(model)
    logits, _ = head.logits(x)
    logits = np.asarray(logits)
    probabilities = model.predict(x, verbose=0)
    assert np.allclose(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), probabilities, atol=1e-5)
    gap = layers.feature_model(model, ["gap"]).predict(x, verbose=0)
    kernel, bias = model.get_layer("shape").get_weights()
    assert np.allclose(logits, gap @ kernel + bias, atol=1e-4)
    result = saliency.gradient(model, x, class_index=2)
    assert np.allclose(result.scores, logits[:, 2], atol=1e-4)


def test_the_chosen_class_changes_the_map(trained, correct):
    model, _, _ = trained
    x, y, _ = correct
    square = x[y == 0][:4]
    own, other = cam.grad_cam(model, square, class_index=0), cam.grad_cam(model, square, class_index=1)
    assert (own.classes == 0).all() and (other.classes == 1).all() and (own.predicted == 0).all()
    assert (own.scores > other.scores).all()
    assert np.abs(own.maps - other.maps).mean() > 0.05
    with pytest.raises(WorkbenchError, match="class 5 does not exist.*3 classes"):
        cam.grad_cam(model, square, class_index=5)


# ------------------------------------------------------------------ the user's model
def _fingerprint(model):
    config = json.dumps(model.get_config(), sort_keys=True, default=str)
    return ([w.copy() for w in model.get_weights()], config,
            [(layer.name, getattr(layer, "activation", None)) for layer in model.layers])


def test_the_users_model_is_unchanged(trained):
    model, dataset, _ = trained
    x = dataset.x_val[:4]
    weights, config, activations = _fingerprint(model)
    before = model.predict(x, verbose=0)
    for method in METHODS:
        explain(model, x, method, **({"max_channels": 4} if method == "score_cam" else {}))
    maximize.maximize(model, [0, 1], "conv_2", maximize.MaximizeSettings(steps=3))
    maximize.maximize(model, [1], None, maximize.MaximizeSettings(steps=3))
    features.activation_maps(model, x, "conv_1")
    after_weights, after_config, after_activations = _fingerprint(model)
    assert all(np.array_equal(a, b) for a, b in zip(weights, after_weights))
    assert after_config == config and after_activations == activations
    assert model.get_layer("shape").activation.__name__ == "softmax"
    assert np.array_equal(model.predict(x, verbose=0), before)


def test_a_retrained_head_is_explained_with_its_new_weights(keras):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    x = np.ones((1, 4), np.float32)
    first = saliency.gradient(model, x, class_index=0).scores
    kernel, bias = model.layers[0].get_weights()
    model.layers[0].set_weights([kernel * 2, bias])
    assert np.allclose(saliency.gradient(model, x, class_index=0).scores, 2 * first, atol=1e-5)


def _sequential_twin(keras, model):
    twin = keras.Sequential([keras.Input((SIZE, SIZE, 3))], name="twin")
    for layer in model.layers[1:]:
        twin.add(type(layer).from_config(layer.get_config()))
    twin.set_weights(model.get_weights())
    return twin


def test_sequential_and_functional_models_give_the_same_maps(keras, trained):
    model, dataset, _ = trained
    twin = _sequential_twin(keras, model)
    assert isinstance(twin, keras.Sequential) and not isinstance(model, keras.Sequential)
    x = dataset.x_val[:6]
    for method in ("grad_cam", "gradient", "guided_backprop", "grad_cam_plus_plus"):
        a, b = explain(model, x, method), explain(twin, x, method)
        assert np.allclose(a.maps, b.maps, atol=1e-5), method
        assert np.allclose(a.scores, b.scores, atol=1e-5) and a.layer == b.layer


def test_a_nested_backbone_works(keras, trained):
    model, dataset, _ = trained
    backbone = keras.Model(model.inputs, model.get_layer("conv_3").output, name="backbone")
    outer_input = keras.Input((SIZE, SIZE, 3))
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(backbone(outer_input))
    classes = keras.layers.Dense(3, activation="softmax", name="classes")(pooled)
    nested = keras.Model(outer_input, classes, name="nested")
    nested.get_layer("classes").set_weights(model.get_layer("shape").get_weights())
    x = dataset.x_val[:6]
    assert "backbone/conv_2" in layers.layer_names(nested)
    assert layers.last_conv_layer(nested) == "backbone/conv_3"
    flat, inside = cam.grad_cam(model, x), cam.grad_cam(nested, x)
    assert inside.layer == "backbone/conv_3" and np.allclose(flat.maps, inside.maps, atol=1e-5)
    assert np.allclose(explain(model, x, "guided_backprop").maps,
                       explain(nested, x, "guided_backprop").maps, atol=1e-5)
    reference = layers.feature_model(model, ["conv_2"]).predict(x, verbose=0)
    assert np.allclose(layers.feature_model(nested, ["backbone/conv_2"]).predict(x, verbose=0),
                       reference, atol=1e-5)
    assert np.allclose(features.activation_maps(nested, x, "conv_2"), reference, atol=1e-5)
    assert layers.find_layer(nested, "conv_2") is model.get_layer("conv_2")  # a bare name works


# ------------------------------------------------------------------ methods, exactly
def test_guided_backprop_gates_relu_gradients_forward_and_backward(keras):
    rng = np.random.default_rng(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(6, activation="relu"),
                              keras.layers.Dense(3)])
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()])
    x = rng.normal(size=(4, 5)).astype(np.float32)
    w1, b1, w2, _ = model.get_weights()
    z = x @ w1 + b1
    guided, _, _, _ = saliency.input_gradients(model, x, class_index=1, guided=True)
    plain, _, _, _ = saliency.input_gradients(model, x, class_index=1)
    expected_guided = ((z > 0) * np.maximum(w2[:, 1], 0)) @ w1.T
    expected_plain = ((z > 0) * w2[:, 1]) @ w1.T
    assert np.allclose(guided, expected_guided, atol=1e-5)
    assert np.allclose(plain, expected_plain, atol=1e-5)
    assert not np.allclose(guided, plain)


def test_guided_backprop_maps_are_non_negative_and_differ_from_gradients(trained):
    model, dataset, _ = trained
    x = dataset.x_val[:8]
    guided, plain = saliency.guided_backprop(model, x), saliency.gradient(model, x)
    assert guided.maps.min() >= 0 and guided.maps.max() == pytest.approx(1.0)
    assert np.abs(guided.maps - plain.maps).mean() > 0.01


def test_integrated_gradients_add_up_to_the_score_difference(keras):
    """Completeness: attributions sum to score(x) - score(baseline) (checked on the raw sum)."""
    rng = np.random.default_rng(1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="tanh"),
                              keras.layers.Dense(2, activation="softmax")])
    x = rng.normal(size=(3, 4)).astype(np.float32)
    head = score.score_head(model)
    total = np.zeros_like(x)
    steps = 64
    for alpha in (np.arange(steps) + 0.5) / steps:
        total += saliency.input_gradients(model, alpha * x, class_index=0)[0]
    attribution = (x * total / steps).sum(axis=1)
    logits = np.asarray(head.logits(x)[0])[:, 0] - np.asarray(head.logits(np.zeros_like(x))[0])[:, 0]
    assert np.allclose(attribution, logits, atol=1e-3)
    maps = saliency.integrated_gradients(model, x, class_index=0, steps=8).maps
    assert maps.shape == (3, 4) and maps.max() == pytest.approx(1.0)


def test_a_multi_output_model_explains_the_chosen_output(keras):
    inputs = keras.Input((12, 12, 1))
    trunk = keras.layers.Conv2D(4, 3, activation="relu", name="trunk")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(trunk)
    kind = keras.layers.Dense(3, activation="softmax", name="kind")(pooled)
    flag = keras.layers.Dense(1, activation="sigmoid", name="flag")(pooled)
    model = keras.Model(inputs, [kind, flag])
    x = np.random.default_rng(2).uniform(size=(2, 12, 12, 1)).astype(np.float32)
    first, second = cam.grad_cam(model, x, class_index=1), cam.grad_cam(model, x, output="flag")
    assert first.output == 0 and second.output == 1
    kind_probabilities, flag_probabilities = model.predict(x, verbose=0)
    logit = np.log(flag_probabilities[:, 0] / (1 - flag_probabilities[:, 0]))
    assert np.allclose(second.classes, (logit > 0).astype(int))
    assert np.allclose(second.scores, np.where(second.classes == 1, logit, -logit), atol=1e-4)
    negative = saliency.gradient(model, x, class_index=0, output=1)
    assert np.allclose(negative.scores, -logit, atol=1e-4)  # class 0 of one sigmoid unit
    logits = np.asarray(score.score_head(model, "kind").logits(x)[0])
    assert np.allclose(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), kind_probabilities, atol=1e-5)
    assert np.allclose(explain(model, x, "gradient", output=0, class_index=1).scores, logits[:, 1], atol=1e-5)
    with pytest.raises(WorkbenchError, match=r"output 2 does not exist.*0 \(kind\), 1 \(flag\)"):
        explain(model, x, "gradient", output=2)


# ------------------------------------------------------------------ bad input
def test_a_wrong_image_size_is_resized_with_a_notice_and_wrong_channels_refused(trained):
    model, _, _ = trained
    shape = tuple(model.inputs[0].shape[1:])
    picture = np.random.default_rng(0).uniform(0, 255, (50, 40, 3)).astype(np.float32)
    fitted, notes = images.fit_image(picture, shape)
    assert fitted.shape == (SIZE, SIZE, 3) and "resized from 40x50 to 32x32" in notes[0]
    grey, notes = images.fit_image(picture[..., 0], shape)
    assert grey.shape == (SIZE, SIZE, 3) and any("RGB" in note for note in notes)
    with pytest.raises(WorkbenchError, match="2 channels and the model takes 3"):
        images.fit_image(picture[..., :2], shape)
    with pytest.raises(WorkbenchError, match=r"\(50, 40, 3\) do not fit model.*takes \(32, 32, 3\)"):
        cam.grad_cam(model, picture[None])


def test_grad_cam_without_convolutions_says_why(keras):
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Flatten(name="flat"),
                              keras.layers.Dense(2, activation="softmax", name="out")], name="mlp")
    x = np.zeros((1, 6, 6, 1), np.float32)
    with pytest.raises(WorkbenchError, match="'mlp' has no 2-D convolutional layer.*saliency method"):
        cam.grad_cam(model, x)
    with pytest.raises(WorkbenchError, match="'flat' has output shape.*feature maps"):
        cam.grad_cam(model, x, layer="flat")
    assert saliency.gradient(model, x).maps.shape == (1, 6, 6)  # saliency still works
    unbuilt = keras.Sequential([keras.layers.Dense(2)], name="unbuilt")
    with pytest.raises(WorkbenchError, match="'unbuilt' has not been built"):
        saliency.gradient(unbuilt, np.zeros((1, 3), np.float32))


def test_a_missing_layer_lists_the_candidates(trained):
    model, dataset, _ = trained
    listed = r"no layer 'conv_9'; did you mean conv_3, conv_2, conv_1\? layers: conv_1, pool_1"
    with pytest.raises(WorkbenchError, match=listed):
        cam.grad_cam(model, dataset.x_val[:1], layer="conv_9")
    with pytest.raises(WorkbenchError, match="no layer 'nope'"):
        layers.feature_model(model, ["nope"])
    with pytest.raises(WorkbenchError, match="unknown explanation method 'sharp'; choose one of gradient"):
        explain(model, dataset.x_val[:1], "sharp")
    with pytest.raises(WorkbenchError, match="gradient looks at the input, not a layer"):
        explain(model, dataset.x_val[:1], "gradient", layer="conv_1")


# ------------------------------------------------------------------ layers, features
def test_layer_paths_and_feature_models(trained):
    model, dataset, _ = trained
    assert layers.layer_names(model) == ["conv_1", "pool_1", "conv_2", "pool_2", "conv_3", "gap", "shape"]
    assert layers.find_layer(model, "conv_2") is model.get_layer("conv_2")
    both = layers.feature_model(model, ["conv_1", "gap"])
    assert layers.feature_model(model, ["conv_1", "gap"]) is both  # built once
    conv, gap = both.predict(dataset.x_val[:2], verbose=0)
    assert conv.shape == (2, SIZE, SIZE, 16) and gap.shape == (2, 64)


def test_activation_maps_kernels_and_templates(keras, trained):
    model, dataset, _ = trained
    maps = features.activation_maps(model, dataset.x_val[:3], "conv_2")
    assert maps.shape == (3, 16, 16, 32) and maps.min() >= 0  # after ReLU
    tiles = features.channel_tiles(maps[0], limit=8)
    assert tiles.shape == (8, 16, 16) and tiles.max() <= 1
    kernels = features.kernel_tiles(model)  # the first convolution reads RGB: colour tiles
    assert kernels.shape == (16, 3, 3, 3) and 0 <= kernels.min() and kernels.max() <= 1
    assert features.kernel_tiles(model, "conv_2").shape == (32, 3, 3)  # 16 inputs: grey tiles
    linear = keras.Sequential([keras.Input((4, 5, 3)), keras.layers.Flatten(),
                               keras.layers.Dense(2, name="classes")])
    templates = features.dense_templates(linear)
    kernel = linear.get_layer("classes").get_weights()[0]
    assert templates.shape == (2, 4, 5, 3)
    assert np.allclose(templates[1], 0.5 + 0.5 * kernel[:, 1].reshape(4, 5, 3) / np.abs(kernel).max())
    with pytest.raises(WorkbenchError, match="reads 64 values but the input"):
        features.dense_templates(model)
    picture = images.grid(kernels, columns=4)
    assert picture.shape == (4 * 4 - 1, 4 * 4 - 1, 3)
    # The gutters are grey, seen between white tiles as between black ones.
    white = images.grid(np.ones((3, 2, 2)), columns=2)
    assert white.shape == (5, 5)
    assert np.all(white[2, :] == images.GUTTER) and np.all(white[:2, 2] == images.GUTTER)
    assert np.all(white[3:, 3:] == images.GUTTER)  # the missing fourth tile
    assert np.all(white[:2, :2] == 1)


def test_the_overlay_is_uint8_rgb_of_the_image_size():
    image = np.linspace(0, 255, 20 * 30).reshape(20, 30)
    heat = np.zeros((5, 6), np.float32)
    heat[2, 3] = 1
    mixed = images.overlay(image, heat, colormap="viridis", alpha=0.4)
    assert mixed.dtype == np.uint8 and mixed.shape == (20, 30, 3)
    assert np.array_equal(images.overlay(image, heat, alpha=0.0)[..., 0], np.round(image).astype(np.uint8))
    hot = images.overlay(np.zeros((8, 8, 3)), np.ones((8, 8)), colormap="jet", alpha=1.0)
    assert tuple(hot[0, 0]) == tuple(np.round(np.array(images.colorize(np.ones((1, 1)))[0, 0]) * 255))
    with pytest.raises(WorkbenchError, match="unknown colormap 'nosuch'"):
        images.overlay(image, heat, colormap="nosuch")


# ------------------------------------------------------------------ activation maximization
def test_activation_maximization_raises_the_target_and_repeats_with_a_seed(trained):
    model, _, _ = trained
    settings = maximize.MaximizeSettings(steps=30, seed=3, preview_every=10)
    progress = RecordingProgress()
    result = maximize.maximize_filters(model, "conv_2", count=6, settings=settings, progress=progress)
    assert result.images.shape == (6, SIZE, SIZE, 3) and 0 <= result.images.min() <= result.images.max() <= 1
    assert result.history.shape == (31, 6)
    live = result.history[0] + result.history[-1] > 0  # a dead filter has no gradient to follow
    assert live.sum() >= 4 and (result.history[-1][live] > result.history[0][live]).all()
    rising = result.history[:, live].mean(axis=1)
    assert rising[-1] > rising[15] > rising[0] and rising[-1] > 5 * rising[0]
    assert [p["step"] for p in progress.partials] == [10, 20, 30]
    assert progress.steps[-1][:2] == (30, 30)
    again = maximize.maximize_filters(model, "conv_2", count=6, settings=settings)
    assert np.array_equal(again.images, result.images)
    other = maximize.maximize_filters(model, "conv_2", count=6,
                                      settings=maximize.MaximizeSettings(steps=30, seed=4))
    assert not np.array_equal(other.images, result.images)
    scores = maximize.maximize(model, [2], None, maximize.MaximizeSettings(steps=20))
    assert scores.layer is None and scores.history[-1, 0] > scores.history[0, 0]


def test_activation_maximization_can_be_cancelled_and_checks_its_settings(trained):
    model, _, _ = trained
    progress = RecordingProgress()
    progress.step = lambda done, total=None, message="": progress.cancel() if done >= 3 else None
    result = maximize.maximize(model, [0], "conv_1", maximize.MaximizeSettings(steps=50), progress)
    assert result.stopped and len(result.history) == 4
    with pytest.raises(WorkbenchError, match="unit 40 does not exist: conv_1 has 16"):
        maximize.maximize(model, [40], "conv_1")
    with pytest.raises(WorkbenchError, match="steps"):
        maximize.MaximizeSettings(steps=0)
    config = maximize.MaximizeSettings(tv=0.1).get_config()
    assert maximize.MaximizeSettings.from_config(json.loads(json.dumps(config))).tv == 0.1


def test_a_filter_that_never_fires_is_named_in_a_note(keras):
    inputs = keras.Input((8, 8, 1))
    conv = keras.layers.Conv2D(2, 3, activation="relu", name="conv")
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(conv(inputs)))
    kernel, bias = conv.get_weights()
    kernel[..., 0], bias[0] = 0.1, 0.1  # filter 0: fires on any input in [0, 1]
    kernel[..., 1], bias[1] = 0.0, -1.0  # filter 1: below zero on any input, silent after ReLU
    conv.set_weights([kernel, bias])
    result = maximize.maximize(model, [0, 1], "conv", maximize.MaximizeSettings(steps=5))
    assert (result.history[:, 1] == 0).all()
    assert result.notes and result.notes[0].startswith("filter 1 never fired")
    scores = maximize.maximize(model, [1], None, maximize.MaximizeSettings(steps=2))
    assert scores.notes == []  # class scores below zero are no silent filter


# ------------------------------------------------------------------ model sources
def test_open_model_source_reads_files_and_runs(trained, tmp_path):
    model, _, run = trained
    source = open_model_source(run.path)
    assert source.checkpoint == "best" and source.experiment.name == "shapes-cnn"
    assert source.dataset().x_val.shape[1:] == (SIZE, SIZE, 3)
    assert open_model_source(run.path, checkpoint="final").checkpoint == "final"
    assert source.label == f"{run.path.name} (best model)"
    # A run's checkpoint file given directly is that run, with its experiment and data.
    final = open_model_source(run.checkpoint_path("final"))
    assert final.checkpoint == "final" and final.experiment.name == "shapes-cnn"
    from workbench.runs import RunStore

    stopped = RunStore(tmp_path / "runs").create(source.experiment)
    model.save(stopped.checkpoint_path("final"))
    for epoch in (1, 2):
        stopped.append_epoch(epoch, {"loss": 1.0 / epoch}, lr=1e-3)
    stopped.finish("stopped", reason="stopped by the user after epoch 2")
    assert open_model_source(stopped.path).label == (
        f"{stopped.path.name} (final model, stopped after 2 epochs)")  # part-trained: said so
    path = tmp_path / "model.keras"
    model.save(path)
    bare = open_model_source(path)
    assert bare.run is None and bare.experiment is None
    with pytest.raises(WorkbenchError, match="no experiment to take samples from"):
        bare.dataset()
    with pytest.raises(WorkbenchError, match="no such file or run folder"):
        open_model_source(tmp_path / "missing.keras")
    with pytest.raises(WorkbenchError, match="a folder without run.json"):
        open_model_source(tmp_path)


def test_compiled_functions_are_built_once_per_model_and_layer(trained):
    model, dataset, _ = trained
    x = dataset.x_val[:40]  # a batch of 32 and one of 8
    cam.grad_cam(model, x)
    cache = layers.model_cache(model)
    function = cache[("tap_gradient", 0, "conv_3")]
    traced = function.experimental_get_tracing_count()
    cam.grad_cam(model, x)
    cam.grad_cam(model, x[:5], class_index=1)
    assert cache[("tap_gradient", 0, "conv_3")] is function
    assert function.experimental_get_tracing_count() == traced <= 2
