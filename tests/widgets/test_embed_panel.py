"""The Embeddings panel: a layer projected in the worker, points by class, hover, click, box."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from widgets.embed_panel import EmbedPanel
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment
from workbench.training import TrainingSession

TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def trained():
    from workbench.data import load_dataset

    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    experiment.training = {**experiment.training, "epochs": 3}
    dataset = load_dataset(experiment.data, None)
    result = TrainingSession(experiment, dataset=dataset).run()
    assert result.status == "finished", result.reason
    return result.model, dataset


@pytest.fixture
def panel(qtbot, trained):
    widget = EmbedPanel()
    qtbot.addWidget(widget)
    widget.resize(1100, 650)
    widget.show()
    widget.set_model(*trained, label="test")
    yield widget
    widget.shutdown()


def compute(qtbot, panel) -> str:
    with qtbot.waitSignal(panel.task_finished, timeout=TIMEOUT_MS) as done:
        assert panel.compute()
    return done.args[0]


def test_pca_then_tsne_reuse_the_activations_and_mark_errors(qtbot, panel, trained):
    _, dataset = trained
    panel.method_field.setCurrentIndex(panel.method_field.findData("pca"))
    assert compute(qtbot, panel) == "embed"
    assert len(panel.scatter.points()) == len(dataset.x_val)
    assert panel.embedder.passes == 1
    assert panel.plot.getPlotItem().titleLabel.text.startswith("PCA of ")
    panel.method_field.setCurrentIndex(panel.method_field.findData("tsne"))
    panel.iterations_field.setValue(250)
    assert compute(qtbot, panel) == "embed"
    assert panel.embedder.passes == 1  # the activations were cached
    embedding = panel.embedding
    wrong = embedding.labels != embedding.predictions
    symbols = [point.symbol() for point in panel.scatter.points()]
    assert symbols.count("x") == int(wrong.sum())
    assert "t-SNE" in panel.status.text() or "tsne" in panel.status.text().lower()
    # One key entry per class, beside the points, never over them.
    assert len(panel.legend.items) == len(np.unique(embedding.labels))
    panel.resize(900, 600)
    qtbot.waitUntil(lambda: panel.legend.sceneBoundingRect().width() > 0)
    view = panel.plot.getPlotItem().vb.sceneBoundingRect()
    assert panel.legend.sceneBoundingRect().left() >= view.right() - 1  # right of the view


def test_hover_click_and_the_box_gallery(qtbot, panel):
    panel.samples_field.setValue(200)
    panel.method_field.setCurrentIndex(panel.method_field.findData("pca"))
    assert compute(qtbot, panel) == "embed"
    point = panel.scatter.points()[7]
    panel._on_scatter_hovered(panel.scatter, [point], None)
    assert f"sample {panel.indices[7]}" in panel.hover_text.text()
    with qtbot.waitSignal(panel.sample_requested) as requested:
        panel._on_scatter_clicked(panel.scatter, [point])
    assert requested.args[0] == panel.indices[7]
    coords = panel.embedding.coords
    panel.box.setPos(tuple(coords.min(axis=0) - 1))
    panel.box.setSize(tuple(coords.max(axis=0) - coords.min(axis=0) + 2))  # everything
    assert len(panel.selected) == 200
    assert "200 samples in the box" in panel.gallery_caption.text()
    assert panel.gallery.pixmap() is not None and not panel.gallery.pixmap().isNull()
    np.testing.assert_array_equal(np.sort(panel.selected), panel.indices)


def test_without_data_the_panel_says_what_it_needs(qtbot, panel, trained):
    panel.set_model(trained[0], None)
    assert not panel.compute()
    assert "data" in panel.status.text()


def test_umap_is_offered_only_when_installed(panel):
    import importlib.util

    index = panel.method_field.findData("umap")
    installed = importlib.util.find_spec("umap") is not None
    assert panel.method_field.model().item(index).isEnabled() == installed
    if not installed:
        assert panel.method_field.itemText(index) == "UMAP (not installed)"
        assert "pip install umap-learn" in panel.method_field.itemData(index, Qt.ItemDataRole.ToolTipRole)
