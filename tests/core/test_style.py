"""Style transfer on a small local convolutional extractor (nothing is downloaded).

The extractor is a seeded three-convolution network with random weights: random convolutional
features are enough to carry a texture (Ustyuzhaninov et al.), and they keep the test free of
training and of the network. VGG19's own path is checked offline: with an empty Keras cache and
no network it must fail at once with a message that names the file and the alternatives.
"""

from __future__ import annotations

import json
import socket
import sys

import numpy as np
import pytest
from PIL import Image

from workbench.errors import FormatError, WorkbenchError
from workbench.generate.extractor import VGG19_FILE, model_extractor, vgg19_extractor
from workbench.generate.style import StyleSettings, gram_matrix, style_transfer
from workbench.tasks import RecordingProgress

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "assets" / "samples"


def small_cnn(keras, channels: int = 3, size: int = 16):
    keras.utils.set_random_seed(3)
    inputs = keras.Input((size, size, channels))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_a")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_b")(x)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv_c")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="kind")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


@pytest.fixture(scope="module")
def extractor(keras):
    return model_extractor(small_cnn(keras))


@pytest.fixture(scope="module")
def pictures():
    content = np.asarray(Image.open(SAMPLES / "content.png").convert("RGB"), np.float32) / 255
    style = np.asarray(Image.open(SAMPLES / "style.png").convert("RGB"), np.float32) / 255
    return content, style


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_style_loss_falls_by_half_and_the_picture_is_valid(extractor, pictures, optimizer):
    content, style = pictures
    settings = StyleSettings(steps=40, size=(24, 16), optimizer=optimizer)
    result = style_transfer(content, style, extractor, settings)
    assert result.image.shape == (16, 24, 3)  # (height, width) of the requested WIDTHxHEIGHT
    assert result.image.dtype == np.float32
    assert np.isfinite(result.image).all()
    assert result.image.min() >= 0 and result.image.max() <= 1
    style_loss, content_loss = result.losses["style"], result.losses["content"]
    assert style_loss[-1] <= 0.5 * style_loss[0]
    assert content_loss[0] == pytest.approx(0.0, abs=1e-6)  # starts from the content image
    assert max(content_loss) < 1.0  # relative to the content features: bounded, not lost
    assert not result.stopped and result.steps == 40
    assert result.style_layers == ["conv_a", "conv_b", "conv_c"]
    assert result.content_layers == ["conv_c"]


def test_noise_start_and_chosen_layers(keras, pictures):
    content, style = pictures
    chosen = model_extractor(small_cnn(keras), style_layers=["conv_a", "conv_b"], content_layers=["conv_b"])
    settings = StyleSettings(steps=30, size=(16, 16), init="noise", seed=5,
                             style_layer_weights=[2.0, 1.0])
    first = style_transfer(content, style, chosen, settings)
    again = style_transfer(content, style, chosen, settings)
    assert first.losses["content"][0] > 0.1  # noise is far from the content
    assert first.losses["content"][-1] < first.losses["content"][0]
    assert first.losses["style"][-1] < first.losses["style"][0]
    np.testing.assert_array_equal(first.image, again.image)  # seeded
    with pytest.raises(WorkbenchError, match="2 style layer weights for 3"):
        style_transfer(content, style, model_extractor(small_cnn(keras)),
                       StyleSettings(steps=1, style_layer_weights=[1.0, 1.0]))


def test_previews_and_the_compiled_step_is_reused(extractor, pictures):
    from workbench.inspect.layers import model_cache

    content, style = pictures
    progress = RecordingProgress()
    settings = StyleSettings(steps=12, size=(16, 16), preview_every=4)
    style_transfer(content, style, extractor, settings, progress)
    previews = [p for p in progress.partials if p["kind"] == "preview"]
    assert [p["step"] for p in previews] == [4, 8, 12]
    assert previews[0]["image"].shape == (16, 16, 3)
    assert set(previews[0]["losses"]) == {"total", "content", "style", "tv"}
    assert progress.steps[-1][:2] == (12, 12)
    steps = [v for k, v in model_cache(extractor.model).items() if k[0] == "style_adam"]
    step = next(s for s in steps if s[1].shape == (1, 16, 16, 3))[0]
    style_transfer(content, style, extractor, settings)
    assert step.experimental_get_tracing_count() == 1


class CancelAfter(RecordingProgress):
    def __init__(self, steps: int):
        super().__init__()
        self.after = steps

    def cancelled(self) -> bool:
        return len(self.steps) >= self.after


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_cancel_stops_within_one_step(extractor, pictures, optimizer):
    content, style = pictures
    progress = CancelAfter(3)
    result = style_transfer(content, style, extractor,
                            StyleSettings(steps=50, size=(16, 16), optimizer=optimizer), progress)
    assert result.stopped
    assert result.steps == 3 and len(progress.steps) == 3
    assert result.image.shape == (16, 16, 3) and np.isfinite(result.image).all()


def test_grey_and_fixed_size_models(keras, pictures):
    content, style = pictures
    grey = model_extractor(small_cnn(keras, channels=1), value_range=(0.0, 16.0))
    assert any("grey" in note for note in grey.notes)
    result = style_transfer(content, style, grey, StyleSettings(steps=5, size=(20, 12)))
    assert result.image.shape == (12, 20, 3)

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv_a")(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(8 * 8 * 2)(x)
    x = keras.layers.Reshape((8, 8, 2))(x)
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv_b")(x)
    fixed = model_extractor(keras.Model(inputs, x, name="fixed"))
    assert fixed.size == (8, 8)
    result = style_transfer(content, style, fixed, StyleSettings(steps=3, size=(20, 12)))
    assert result.image.shape == (8, 8, 3)
    assert any("8x8" in note for note in result.notes)


def test_bad_extractors_and_images_are_named(keras, extractor):
    dense = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(WorkbenchError, match="takes one image"):
        model_extractor(dense)
    with pytest.raises(WorkbenchError, match="has no layer 'conv_z'"):
        model_extractor(small_cnn(keras), style_layers=["conv_z"])
    with pytest.raises(WorkbenchError, match="feature maps"):
        model_extractor(small_cnn(keras), style_layers=["kind"])
    with pytest.raises(WorkbenchError, match="values from 0 to 255"):
        style_transfer(np.linspace(0, 255, 192).reshape(8, 8, 3), np.zeros((8, 8, 3)), extractor,
                       StyleSettings(steps=1))
    with pytest.raises(WorkbenchError, match="shape"):
        style_transfer(np.zeros((8, 8, 2)), np.zeros((8, 8, 3)), extractor, StyleSettings(steps=1))


def test_settings_are_plain_data():
    settings = StyleSettings(steps=7, size=(30, 20), optimizer="lbfgs", style_layer_weights=[1, 2])
    config = settings.get_config()
    assert json.loads(json.dumps(config)) == config
    assert StyleSettings.from_config(config) == settings
    with pytest.raises(FormatError, match="optimizer"):
        StyleSettings(optimizer="sgd")
    with pytest.raises(FormatError, match="steps"):
        StyleSettings(steps=0)
    with pytest.raises(FormatError, match="colour"):
        StyleSettings.from_config({"colour": 1})


def test_gram_matrix_is_averaged_over_positions(keras):
    features = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    gram = np.asarray(keras.ops.convert_to_numpy(gram_matrix(keras.ops.convert_to_tensor(features))))
    flat = features.reshape(2, 12, 5)
    np.testing.assert_allclose(gram, np.einsum("npc,npd->ncd", flat, flat) / 12, rtol=1e-6)


# ------------------------------------------------------------------------ VGG19
@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty Keras cache and no network (name lookups fail at once)."""
    def no_lookup(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path / "keras" / "models"


def test_vgg19_offline_is_a_clear_error_naming_the_alternatives(offline):
    import time

    started = time.monotonic()
    with pytest.raises(WorkbenchError) as caught:
        vgg19_extractor()
    message = str(caught.value)
    assert time.monotonic() - started < 10
    assert f"~/keras/models/{VGG19_FILE}" in message  # where to put it ($KERAS_HOME, under ~ here)
    assert "no network" in message
    assert "--vgg-weights" in message and "--extractor MODEL|RUN" in message
    assert not (offline / VGG19_FILE).exists()  # nothing half-written is left


def test_a_damaged_cached_vgg19_file_is_named(offline):
    offline.mkdir(parents=True)
    (offline / VGG19_FILE).write_bytes(b"not weights")
    with pytest.raises(WorkbenchError, match="damaged"):
        vgg19_extractor()


def test_a_wrong_vgg19_weights_file_is_named(tmp_path):
    wrong = tmp_path / "other.h5"
    wrong.write_bytes(b"not an HDF5 file")
    with pytest.raises(WorkbenchError, match="not the VGG19 ImageNet weights"):
        vgg19_extractor(weights=wrong)


# ------------------------------------------------------------------------ samples
def test_the_sample_pictures_are_made_by_the_project(tmp_path):
    sys.path.insert(0, str(SAMPLES))
    try:
        from make_samples import make_samples
    finally:
        sys.path.remove(str(SAMPLES))
    made = make_samples(tmp_path)
    for path in made:
        bundled = np.asarray(Image.open(SAMPLES / path.name))
        np.testing.assert_array_equal(np.asarray(Image.open(path)), bundled)
    assert Image.open(SAMPLES / "content.png").size == (256, 192)
    assert Image.open(SAMPLES / "style.png").size == (256, 256)
    assert "make_samples.py" in (SAMPLES / "README.md").read_text()


# ---------------------------------------------------------------------------- CLI
def run_cli(argv: list[str]) -> int:
    """The ``workbench`` command, in this process: 0/1 exit codes, 2 for usage (SystemExit)."""
    from workbench.cli import main

    return main(argv)


def test_style_command_with_a_model_file(keras, tmp_path, capsys):
    model_path = tmp_path / "small.keras"
    small_cnn(keras).save(model_path)
    out = tmp_path / "styled.png"
    code = run_cli(["style", "--content", str(SAMPLES / "content.png"), "--style",
                    str(SAMPLES / "style.png"), "--extractor", str(model_path), "--layers",
                    "conv_a,conv_b", "--steps", "15", "--size", "24x16", "--json", "-o", str(out)])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert Image.open(out).size == (24, 16)
    assert data["style_layers"] == ["conv_a", "conv_b"] and data["content_layers"] == ["conv_c"]
    assert data["losses"]["style"]["end"] < data["losses"]["style"]["start"]
    assert any("0 to 1 assumed" in note for note in data["notes"])

    out = tmp_path / "styled.npy"
    assert run_cli(["style", "--content", str(SAMPLES / "content.png"), "--style",
                    str(SAMPLES / "style.png"), "--extractor", str(model_path), "--steps", "3",
                    "--optimizer", "lbfgs", "-o", str(out)]) == 0
    picture = np.load(out)
    assert picture.shape == (192, 256, 3) and 0 <= picture.min() and picture.max() <= 1


@pytest.mark.parametrize("extra, message", [
    (["--size", "wide"], "WIDTHxHEIGHT"),
    (["--steps", "0"], "--steps must be at least 1"),
    (["--extractor", "nowhere.keras"], "no such file"),
    (["--layer-weights", "a,b"], "numbers separated by commas"),
])
def test_style_command_errors_are_one_line(tmp_path, capsys, extra, message):
    code = run_cli(["style", "--content", str(SAMPLES / "content.png"), "--style",
                    str(SAMPLES / "style.png"), "-o", str(tmp_path / "x.png"), *extra])
    assert code == 1
    assert message in capsys.readouterr().err


def test_style_command_offline_vgg19(offline, tmp_path, capsys):
    code = run_cli(["style", "--content", str(SAMPLES / "content.png"), "--style",
                    str(SAMPLES / "style.png"), "-o", str(tmp_path / "x.png")])
    assert code == 1
    err = capsys.readouterr().err
    assert VGG19_FILE in err and "--extractor MODEL|RUN" in err and "Traceback" not in err
