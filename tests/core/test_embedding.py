"""Embeddings: a trained model's t-SNE keeps neighbours, the cache chain reuses activations,
bounded-memory activations, cancel, and the ``embed`` command's files."""

from __future__ import annotations

import argparse
import csv
import shutil

import numpy as np
import pytest

from workbench.errors import WorkbenchError
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment
from workbench.inspect import embedding
from workbench.inspect.embed_cli import add_commands
from workbench.inspect.embedding import Embedder, compute_activations
from workbench.tasks import NullProgress, RecordingProgress


@pytest.fixture(scope="module")
def trained(keras, tmp_path_factory):
    """The default digits CNN trained a few epochs into a run folder, and its data."""
    from workbench.data import load_dataset
    from workbench.runs import RunStore
    from workbench.training import TrainingSession

    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    dataset = load_dataset(experiment.data, NullProgress())
    store = RunStore(tmp_path_factory.mktemp("runs"))
    result = TrainingSession(experiment, dataset=dataset, store=store, epochs=8).run()
    assert result.status == "finished"
    x = np.concatenate([dataset.x_train, dataset.x_val])
    y = np.concatenate([dataset.y_train, dataset.y_val])
    return result.model, x, y, result.run.path


def run_command(argv: list[str]) -> int:
    """The handlers as ``workbench`` calls them, through a parser built like cli.py's."""
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command")

    def add(name, handler, help_text):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--json", action="store_true")
        sub.set_defaults(handler=handler)
        return sub

    add_commands(add)
    args = parser.parse_args(argv)
    return args.handler(args)


def test_tsne_of_the_penultimate_layer_keeps_neighbours_and_classes(trained):
    from sklearn.manifold import trustworthiness
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    model, x, y, _ = trained
    progress = RecordingProgress()
    result = Embedder(model, x, y).project("tsne", "dropout", progress=progress)
    activations = compute_activations(model, x, "dropout").values
    assert result.coords.shape == (len(x), 2) and np.isfinite(result.coords).all()
    assert trustworthiness(activations, result.coords, n_neighbors=5) >= 0.9
    assert cross_val_score(KNeighborsClassifier(5), result.coords, y, cv=3).mean() >= 0.9
    assert result.input_dims == 32 and result.info["iterations"] == 500
    assert np.isfinite(result.info["kl_divergence"])
    # Progress ends at the last iteration, and intermediate layouts came along the way.
    assert progress.steps[-1][:2] == (500, 500)
    layouts = [p for p in progress.partials if p.get("method") == "tsne"]
    assert len(layouts) == 50 and layouts[-1]["coords"].shape == (len(x), 2)
    assert np.array_equal(layouts[-1]["coords"], result.coords)
    # Predictions come from the same pass: they are the model's own.
    assert np.array_equal(result.predictions, model.predict(x, verbose=0).argmax(axis=1))
    assert np.array_equal(result.labels, y)


def test_changing_perplexity_reuses_the_cached_activations(trained, monkeypatch):
    model, x, y, _ = trained
    calls = []

    def counting(*args, **kwargs):
        calls.append(args[2])
        return compute_activations(*args, **kwargs)

    monkeypatch.setattr(embedding, "compute_activations", counting)
    embedder = Embedder(model, x[:300], y[:300])
    first = embedder.project("tsne", "dropout", perplexity=30, iterations=100)
    second = embedder.project("tsne", "dropout", perplexity=10, iterations=100)
    assert calls == ["dropout"] and embedder.passes == 1
    assert not np.allclose(first.coords, second.coords)
    assert second.params["perplexity"] == 10
    # The same settings again come from the cache: the very same result.
    assert embedder.project("tsne", "dropout", perplexity=30, iterations=100) is first
    assert embedder.project("pca", "dropout").method == "pca"
    assert calls == ["dropout"]
    embedder.project("pca", "conv_2")
    assert calls == ["dropout", "conv_2"] and embedder.passes == 2


def test_wide_layers_go_through_pca_to_50_dimensions_and_pca_matches_scikit_learn(trained):
    from sklearn.decomposition import PCA

    model, x, y, _ = trained
    embedder = Embedder(model, x[:400], y[:400])
    pooled = embedder.activations("conv_2", "pool").values
    flat = embedder.activations("conv_2", "flatten").values
    assert pooled.shape == (400, 32) and flat.shape == (400, 4 * 4 * 32)
    assert np.allclose(flat.reshape(400, 4, 4, 32).mean(axis=(1, 2)), pooled, atol=1e-5)
    assert embedder.features("conv_2", "flatten").shape == (400, 50)
    result = embedder.project("tsne", "conv_2", "flatten", iterations=100)
    assert result.input_dims == 50

    result = embedder.project("pca", "conv_2", "flatten")
    reference = PCA(n_components=2).fit(flat)
    expected = reference.transform(flat)
    for k in range(2):  # components are defined up to their sign
        assert min(np.abs(result.coords[:, k] - expected[:, k]).max(),
                   np.abs(result.coords[:, k] + expected[:, k]).max()) < 1e-3
    assert np.allclose(result.info["explained_variance_ratio"], reference.explained_variance_ratio_,
                       atol=1e-5)


def test_a_flattened_layer_too_big_for_memory_is_reduced_while_computed(trained):
    model, x, _, _ = trained
    # 8 * 8 * 16 values a sample: 1797 samples take 1.8 MB flattened; allow 200 KB.
    found = compute_activations(model, x, "conv_1", "flatten", batch_size=128, memory_limit=200_000)
    assert found.values.shape == (len(x), 50) and found.components == 50
    direct = compute_activations(model, x, "conv_1", "flatten").values
    # Incremental PCA's projection keeps nearly all of the variance the exact top-50 keeps.
    from sklearn.decomposition import PCA

    exact = PCA(n_components=50).fit(direct)
    assert found.variance_ratio.sum() >= 0.97 * exact.explained_variance_ratio_.sum()
    assert np.allclose(found.values.var(axis=0).sum(), exact.explained_variance_.sum(), rtol=0.05)


def test_cancel_returns_none_and_caches_nothing(trained):
    model, x, y, _ = trained

    class CancelAfter(RecordingProgress):
        def cancelled(self):
            return len(self.steps) >= 5

    embedder = Embedder(model, x[:300], y[:300])
    assert embedder.project("tsne", "dropout", progress=CancelAfter(), iterations=200) is None
    progress = RecordingProgress()
    result = embedder.project("tsne", "dropout", progress=progress, iterations=200)
    assert result is not None and progress.steps[-1][:2] == (200, 200)


def test_bad_settings_are_readable_errors(trained, monkeypatch):
    model, x, y, _ = trained
    embedder = Embedder(model, x[:20], y[:20])
    with pytest.raises(WorkbenchError, match="perplexity"):
        embedder.project("tsne", "dropout", perplexity=30)
    with pytest.raises(WorkbenchError, match="no layer 'dense_9'"):
        embedder.project("pca", "dense_9")
    with pytest.raises(WorkbenchError, match="no setting perplexity"):
        embedder.project("pca", "dropout", perplexity=5)
    with pytest.raises(WorkbenchError, match="unknown embedding method"):
        embedder.project("isomap", "dropout")
    monkeypatch.setitem(__import__("sys").modules, "umap", None)  # umap-learn missing
    with pytest.raises(WorkbenchError, match="pip install umap-learn"):
        embedder.project("umap", "dropout")
    assert embedder.passes == 0  # refused before any forward pass


def test_embed_command_writes_csv_npy_and_png(trained, tmp_path, capsys):
    from PIL import Image

    _, _, _, run = trained
    out = tmp_path / "points.csv"
    assert run_command(["embed", str(run), "--layer", "dropout", "--method", "tsne", "--samples", "300",
                        "--perplexity", "20", "--iterations", "150", "-o", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 300 and set(rows[0]) == {"split", "index", "x", "y", "label", "prediction"}
    assert {r["split"] for r in rows} == {"train", "val"}
    assert all(r["label"] in "0123456789" and r["prediction"] in "0123456789" for r in rows)
    agree = np.mean([r["label"] == r["prediction"] for r in rows])
    assert agree > 0.8
    assert "t-SNE of dropout" in capsys.readouterr().out

    out = tmp_path / "coords.npy"
    assert run_command(["embed", str(run), "--layer", "conv_2", "--method", "pca", "--split", "val",
                        "-o", str(out), "--json"]) == 0
    coords = np.load(out)
    assert coords.shape == (360, 2) and np.isfinite(coords).all()
    assert '"explained_variance_ratio"' in capsys.readouterr().out

    out = tmp_path / "map.png"
    assert run_command(["embed", str(run), "--layer", "dropout", "--method", "pca", "-o", str(out)]) == 0
    with Image.open(out) as image:
        assert image.format == "PNG" and image.width > 300


def test_embed_command_refuses_bad_input_by_name(trained, tmp_path):
    _, _, _, run = trained
    base = ["embed", str(run), "--layer", "dropout"]
    with pytest.raises(WorkbenchError, match=r"\.csv, \.npy, \.png"):
        run_command(base + ["--method", "pca", "-o", str(tmp_path / "out.txt")])
    with pytest.raises(WorkbenchError, match="--perplexity does not apply to --method pca"):
        run_command(base + ["--method", "pca", "--perplexity", "5", "-o", str(tmp_path / "o.npy")])
    with pytest.raises(WorkbenchError, match="does not exist"):
        run_command(base + ["--method", "pca", "-o", str(tmp_path / "missing" / "o.npy")])
    bare = tmp_path / "model.keras"  # a model file on its own: no run beside it
    shutil.copy(run / "best.keras", bare)
    with pytest.raises(WorkbenchError, match="bare model file"):
        run_command(["embed", str(bare), "--layer", "dropout", "--method", "pca",
                     "-o", str(tmp_path / "o.npy")])
