"""Generative models: the Sampling layer, GAN training, previews and the generative presets.

Each preset is trained headless with short settings and its lesson is asserted: the
autoencoder beats the mean image, the denoising autoencoder cleans its noisy inputs, the VAE's
latent space separates the digits and decodes to a grid of images, the DCGAN's samples move
toward the data.

``_Session`` adds the two training-session hooks (``gan_model`` in ``_compile``,
``preview_callback`` in ``_callbacks``) unless ``TrainingSession`` already has them, so these
tests run before and after the session is wired.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from tests.conftest import ROOT
from workbench.errors import FormatError, WorkbenchError
from workbench.experiment import Experiment
from workbench.tasks import RecordingProgress

PRESETS = ROOT / "experiments" / "presets" / "generative"
MEMBERS = ["autoencoder", "denoising_autoencoder", "vae", "dcgan"]


@pytest.fixture(scope="module")
def digits():
    from workbench.data import load_dataset

    return {
        "autoencoder": load_dataset(Experiment.load(PRESETS / "autoencoder.json").data),
        "denoising": load_dataset(Experiment.load(PRESETS / "denoising_autoencoder.json").data),
        "plain": load_dataset(Experiment.load(PRESETS / "dcgan.json").data),
    }


def _session_class():
    from workbench.generative.gan import gan_model, gan_settings, is_gan
    from workbench.generative.previews import _callback_class, preview_callback
    from workbench.training import TrainingSession

    class _Session(TrainingSession):
        def _compile(self, dataset=None):
            model = super()._compile(dataset)
            gan = gan_settings(self.config.extra)
            if gan is not None and not is_gan(model):  # the session is not wired yet
                model = gan_model(model, gan, dataset.input_shape)
                model.compile(optimizer=self.config.make_optimizer())
            return model

        def _callbacks(self, relay, run, dataset):
            callbacks = super()._callbacks(relay, run, dataset)
            if not any(isinstance(c, _callback_class()) for c in callbacks):
                preview = preview_callback(self.config.extra, dataset, self.progress, self.experiment.data)
                if preview is not None:
                    callbacks.append(preview)
            return callbacks

    return _Session


def _train(name: str, dataset, epochs: int, store=None, **training):
    experiment = Experiment.load(PRESETS / f"{name}.json")
    experiment.training = {**experiment.training, **training}
    progress = RecordingProgress()
    result = _session_class()(experiment, dataset=dataset, progress=progress, epochs=epochs,
                              store=store).run()
    assert result.status == "finished", result.reason
    return result, progress


def _partials(progress, kind: str) -> list[dict]:
    return [p for p in progress.partials if isinstance(p, dict) and p.get("kind") == kind]


# ------------------------------------------------------------------ Sampling layer
def test_sampling_adds_its_kl_term_and_round_trips_in_safe_mode(keras, tmp_path):
    from workbench.generative.layers import sampling_class
    from workbench.modelio import load_model_file

    inputs = keras.Input((3,))
    z_mean = keras.layers.Dense(2, name="z_mean")(inputs)
    z_log_var = keras.layers.Dense(2, name="z_log_var")(inputs)
    code = sampling_class()(kl_weight=0.5, seed=1, name="sampling")([z_mean, z_log_var])
    model = keras.Model(inputs, keras.layers.Dense(3, name="out")(code))
    x = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)

    model(x)
    mean, log_var = (np.asarray(keras.Model(inputs, t)(x)) for t in (z_mean, z_log_var))
    kl = -0.5 * np.sum(1 + log_var - mean**2 - np.exp(log_var), axis=-1).mean()
    assert len(model.losses) == 1
    assert float(model.losses[0]) == pytest.approx(0.5 * kl, rel=1e-4)
    # Inference gives the mean (repeatable); training samples around it.
    sub = keras.Model(inputs, code)
    assert np.allclose(sub(x, training=False), mean)
    assert not np.allclose(sub(x, training=True), mean)
    # fit adds the KL term to the compiled loss.
    model.compile(optimizer="adam", loss="mse")
    assert model.evaluate(x, x, verbose=0) > float(np.mean((model.predict(x, verbose=0) - x) ** 2)) + 1e-4

    path = tmp_path / "vae.keras"
    model.save(path)
    loaded = load_model_file(path)  # safe mode: a registered class, no code in the file
    assert type(loaded.get_layer("sampling")).__name__ == "Sampling"
    assert loaded.get_layer("sampling").kl_weight == 0.5
    assert np.allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_sampling_is_a_catalog_layer_with_two_named_inputs(keras):
    from workbench.graph.catalog import layer_type, outline
    from workbench.graph.convert import build_model, from_keras

    entry = layer_type("Sampling")
    assert entry.category == "generative" and entry.curated
    assert (entry.inputs.style, entry.inputs.minimum, entry.inputs.maximum) == ("list", 2, 2)
    assert entry.inputs.port_name(1) == "z_log_var"
    assert entry.param("kl_weight").kind == "float" and entry.param("kl_weight").default == 1.0
    assert outline()["Sampling"].category == "generative"
    # Built from the preset's graph and imported back, the node keeps its type and weight.
    model = build_model(Experiment.load(PRESETS / "vae.json").graph).model
    graph, _ = from_keras(model)
    assert graph.nodes["sampling"].type == "Sampling"
    assert graph.nodes["sampling"].params == {"kl_weight": 0.02}
    assert [e.source for e in graph.in_edges("sampling")] == ["z_mean", "z_log_var"]


# ------------------------------------------------------------------ presets
def test_every_preset_loads_validates_and_builds(keras):
    from workbench.generative.gan import gan_model, gan_parts
    from workbench.graph.convert import build_model
    from workbench.graph.validate import Validator
    from workbench.presets import load_group
    from workbench.training.config import TrainingConfig

    group = load_group(PRESETS)
    assert group.member_names == ["autoencoder", "denoising-autoencoder", "vae", "dcgan"]
    for name in MEMBERS:
        experiment = Experiment.load(PRESETS / f"{name}.json")
        assert "What to look for" in experiment.description
        report = Validator(experiment.graph).validate()
        assert report.ok, (name, report.errors())
        TrainingConfig.from_dict(experiment.training).check()
        model = build_model(experiment.graph).model
        assert model.count_params() > 0
    dcgan = Experiment.load(PRESETS / "dcgan.json")
    model = build_model(dcgan.graph).model
    generator, discriminator = gan_parts(model, dcgan.training["gan"])
    assert generator.outputs[0].shape[1:] == (8, 8, 1) == discriminator.inputs[0].shape[1:]
    assert gan_model(model, dcgan.training["gan"], (8, 8, 1)).plain_model is model


# ------------------------------------------------------------------ autoencoders
def test_autoencoder_reconstructs_far_better_than_the_mean_image(digits):
    dataset = digits["autoencoder"]
    result, progress = _train("autoencoder", dataset, epochs=15)
    x_val = dataset.x_val
    baseline = float(np.mean((x_val - dataset.x_train.mean(axis=0)) ** 2))
    error = float(np.mean((result.model.predict(x_val, verbose=0) - x_val) ** 2))
    assert error < 0.5 * baseline, (error, baseline)
    assert result.history["val_loss"][-1] == pytest.approx(error, rel=1e-3)
    previews = _partials(progress, "reconstructions")
    assert [p["epoch"] for p in previews] == list(range(15))
    originals, noisy, outputs = previews[-1]["images"]
    assert noisy is None and originals.shape == outputs.shape == (8, 8, 8, 1)
    assert previews[-1]["grid"].shape == (2 * 8 + 1, 8 * 8 + 7)
    # The previews show the model learning: the last reconstructions beat the first.
    first = np.mean((previews[0]["images"][2] - originals) ** 2)
    assert np.mean((outputs - originals) ** 2) < 0.5 * first


def test_denoising_autoencoder_output_is_closer_to_the_clean_image_than_its_input(digits):
    from workbench.generative.previews import noisy_inputs

    dataset = digits["denoising"]
    experiment = Experiment.load(PRESETS / "denoising_autoencoder.json")
    result, progress = _train("denoising_autoencoder", dataset, epochs=15)
    clean = dataset.x_val
    noisy = noisy_inputs(clean, experiment.data, seed=3)
    assert noisy.shape == clean.shape
    input_error = float(np.mean((noisy - clean) ** 2))
    assert input_error == pytest.approx(0.3**2, rel=0.1)  # the preset's noise
    output_error = float(np.mean((result.model.predict(noisy, verbose=0) - clean) ** 2))
    assert output_error < 0.5 * input_error, (output_error, input_error)
    originals, shown_noisy, outputs = _partials(progress, "reconstructions")[-1]["images"]
    assert shown_noisy is not None and not np.allclose(shown_noisy, originals)
    assert _partials(progress, "reconstructions")[-1]["grid"].shape == (3 * 8 + 2, 8 * 8 + 7)
    assert np.mean((outputs - originals) ** 2) < np.mean((shown_noisy - originals) ** 2)


# ------------------------------------------------------------------ VAE
def test_vae_latent_space_separates_the_digits_and_decodes_a_grid(digits, tmp_path):
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    from workbench.generative.previews import decoded_grid, latent_scatter
    from workbench.runs import RunStore

    dataset = digits["autoencoder"]
    result, progress = _train("vae", dataset, epochs=20, store=RunStore(tmp_path))
    losses = result.history["loss"]
    assert losses[-1] < 0.8 * losses[0]
    points = latent_scatter(result.model, dataset.x_val)
    labels = dataset.extras["labels_val"]
    assert points.shape == (len(dataset.x_val), 2) and np.isfinite(points).all()
    accuracy = cross_val_score(KNeighborsClassifier(5), points, labels, cv=3).mean()
    assert accuracy > 0.45, accuracy  # chance is 0.1
    picture = decoded_grid(result.model, n=15, span=2.0)
    assert picture.shape == (15 * 8 + 14, 15 * 8 + 14)
    assert picture.min() >= 0.0 and picture.max() <= 1.0 and picture.std() > 0.05
    # Live: the scatter (with classes) and the grid come with every epoch's reconstructions.
    latent = _partials(progress, "latent")
    assert len(latent) == 20 and latent[-1]["points"].shape[1] == 2
    assert len(latent[-1]["labels"]) == len(latent[-1]["points"])
    assert _partials(progress, "decoded_grid")[-1]["images"].shape == picture.shape
    # The run's saved model (with its Sampling layer) loads in safe mode and decodes the same.
    saved = result.run.load_model("final")
    assert np.allclose(decoded_grid(saved), picture, atol=1e-5)


# ------------------------------------------------------------------ DCGAN
def _pixel_frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two image sets' pixels (FID without a
    feature network): falls as samples match the data's mean and its spread."""
    from scipy import linalg

    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    ridge = 1e-6 * np.eye(a.shape[1])  # pixels that are always 0 make the covariances singular
    ca, cb = np.cov(a, rowvar=False) + ridge, np.cov(b, rowvar=False) + ridge
    root = linalg.sqrtm(ca @ cb).real
    return float(np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(ca + cb - 2 * root))


def test_dcgan_trains_both_players_and_its_samples_move_toward_the_data(digits, keras, tmp_path, capfd):
    from workbench.generative.gan import gan_parts
    from workbench.generative.previews import fixed_noise, generate
    from workbench.graph.convert import build_model
    from workbench.runs import RunStore

    dataset = digits["plain"]
    experiment = Experiment.load(PRESETS / "dcgan.json")
    keras.utils.set_random_seed(0)
    untrained = build_model(experiment.graph).model
    noise = fixed_noise(16, 300, seed=5)
    before = _pixel_frechet(generate(untrained, noise), dataset.x_train)

    result, progress = _train("dcgan", dataset, epochs=8, store=RunStore(tmp_path))
    # TensorFlow's op fusion fails on the generator step and says so on stderr: it is off.
    assert "remapper failed" not in capfd.readouterr().err
    history = result.history
    for key in ("d_loss", "g_loss", "real_accuracy", "fake_accuracy", "val_d_loss", "val_g_loss"):
        assert len(history[key]) == 8 and np.isfinite(history[key]).all(), key
    assert 0.2 < history["d_loss"][-1] < 1.5  # neither player has won outright
    samples = generate(result.model, noise)
    after = _pixel_frechet(samples, dataset.x_train)
    assert after < 0.4 * before, (before, after)
    assert samples.std(axis=0).mean() > 0.1  # not one image for every noise (collapse)
    # The grid of the same noise every epoch.
    grids = _partials(progress, "samples")
    assert [g["epoch"] for g in grids] == list(range(8))
    assert grids[-1]["images"].shape == (4 * 8 + 3, 4 * 8 + 3) and grids[-1]["tiles"].shape == (16, 8, 8)
    assert not np.allclose(grids[0]["tiles"], grids[-1]["tiles"])
    # The trained model is the plain graph model (noise -> score) with both blocks inside.
    assert [layer.name for layer in result.model.layers][1:] == ["generator", "discriminator"]
    assert gan_parts(result.model)[0].count_params() > 0
    # The run saved the plain model: an ordinary Keras file whose generator makes the samples.
    saved = result.run.load_model("final")
    assert [layer.name for layer in saved.layers][1:] == ["generator", "discriminator"]
    assert np.allclose(generate(saved, noise), samples, atol=1e-5)


def test_gan_settings_are_checked_with_their_json_path():
    from workbench.generative.gan import check_gan, gan_settings

    assert check_gan({})["label_smoothing"] == 0.1
    assert check_gan(True)["generator"] == "generator"
    assert gan_settings({"gan": {}})["discriminator"] == "discriminator"
    assert gan_settings({}) is None and gan_settings({"gan": False}) is None
    for bad, where in [({"latent": 3}, "training.gan.latent"), ({"latent_dim": 0}, "training.gan.latent_dim"),
                       ({"d_learning_rate": -1}, "training.gan.d_learning_rate"),
                       ({"label_smoothing": 0.5}, "training.gan.label_smoothing"),
                       ({"generator": ""}, "training.gan.generator"),
                       ({"discriminator": "generator"}, "training.gan.discriminator"), ([1], "training.gan")]:
        with pytest.raises(FormatError) as caught:
            check_gan(bad)
        assert caught.value.where == where, bad


def test_gan_model_explains_missing_or_mismatched_blocks(keras):
    from workbench.generative.gan import gan_model
    from workbench.graph.convert import build_model

    experiment = Experiment.load(PRESETS / "dcgan.json")
    model = build_model(experiment.graph).model
    with pytest.raises(WorkbenchError, match="data's images have shape \\[28, 28, 1\\]"):
        gan_model(model, {}, (28, 28, 1))
    with pytest.raises(WorkbenchError, match="block named 'critic'.*generator, discriminator"):
        gan_model(model, {"discriminator": "critic"})
    with pytest.raises(WorkbenchError, match="latent_dim is 8"):
        gan_model(model, {"latent_dim": 8})
    classifier = Experiment.load(ROOT / "experiments" / "default.json")
    with pytest.raises(WorkbenchError, match="block named 'generator'"):
        gan_model(build_model(classifier.graph).model, {})
    broken = copy.deepcopy(experiment.to_dict())
    broken["model"]["nodes"][2]["graph"]["nodes"][-1]["params"]["units"] = 3
    with pytest.raises(WorkbenchError, match="one score per image"):
        gan_model(build_model(Experiment.from_dict(broken).graph).model, {})


def test_previews_stay_out_of_the_way(digits, keras):
    from workbench.generative.previews import noisy_inputs, preview_callback, reconstruction_previews

    assert preview_callback({}, digits["plain"], RecordingProgress()) is None  # a classifier
    assert noisy_inputs(digits["plain"].x_val[:4], {"source": "digits"}) is None
    with pytest.raises(WorkbenchError, match="every whole number"):
        preview_callback({}, digits["autoencoder"], RecordingProgress(), every=0)
    # Outputs that are no pictures: one report, then silence, and never an exception.
    progress = RecordingProgress()
    inputs = keras.Input((8, 8, 1))
    callback = reconstruction_previews(progress, digits["plain"].x_val[:4], every=2)
    callback.set_model(keras.Model(inputs, keras.layers.Flatten()(inputs)))
    callback.set_params({"epochs": 4})
    callback.on_train_begin()
    for epoch in range(4):
        callback.on_epoch_end(epoch)
    assert [(p["kind"], p["epoch"]) for p in progress.partials] == [("preview_failed", 1)]


def test_a_discriminator_ending_in_a_sigmoid_is_trained_on_probabilities(digits, keras):
    from workbench.generative.gan import gan_model
    from workbench.graph.convert import build_model

    document = Experiment.load(PRESETS / "dcgan.json").to_dict()
    document["model"]["nodes"][2]["graph"]["nodes"][-1]["params"]["activation"] = "sigmoid"
    model = gan_model(build_model(Experiment.from_dict(document).graph).model, {}, (8, 8, 1))
    assert model._from_logits is False
    model.compile(optimizer=keras.optimizers.Adam(0.002))
    history = model.fit(digits["plain"].x_train[:128], epochs=2, batch_size=32, verbose=0).history
    assert np.isfinite(history["d_loss"]).all() and np.isfinite(history["g_loss"]).all()
    assert all(0.0 <= v <= 1.0 for v in history["real_accuracy"] + history["fake_accuracy"])
