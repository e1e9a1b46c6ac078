"""Evaluation: every number equals scikit-learn's, curves and galleries, the ``evaluate`` command."""

from __future__ import annotations

import argparse
import csv
import json
import shutil

import numpy as np
import pytest
from sklearn import metrics

from workbench.errors import WorkbenchError
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment
from workbench.inspect.embed_cli import add_commands
from workbench.inspect.evaluation import Evaluation, evaluate, evaluate_batches
from workbench.tasks import NullProgress


@pytest.fixture(scope="module")
def trained(keras, tmp_path_factory):
    """The default digits CNN trained briefly into a run folder (a few errors to look at)."""
    from workbench.data import load_dataset
    from workbench.runs import RunStore
    from workbench.training import TrainingSession

    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    dataset = load_dataset(experiment.data, NullProgress())
    store = RunStore(tmp_path_factory.mktemp("runs"))
    result = TrainingSession(experiment, dataset=dataset, store=store, epochs=3).run()
    assert result.status == "finished"
    return result.model, dataset, result.run.path


def run_command(argv: list[str]) -> int:
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


def test_confusion_and_scores_equal_scikit_learn(trained):
    model, dataset, _ = trained
    result = evaluate(model, dataset.x_val, dataset.y_val, dataset.class_names, batch_size=64)
    scores = model.predict(dataset.x_val, verbose=0)
    predicted = scores.argmax(axis=1)
    y = dataset.y_val
    assert np.array_equal(result.predictions, predicted)
    assert np.array_equal(result.confusion(), metrics.confusion_matrix(y, predicted, labels=range(10)))
    for how in ("true", "pred", "all"):
        expected = metrics.confusion_matrix(y, predicted, labels=range(10), normalize=how)
        assert np.allclose(np.nan_to_num(result.confusion(how)), np.nan_to_num(expected))
    assert result.confusion().sum() == len(y)
    assert result.accuracy() == pytest.approx(metrics.accuracy_score(y, predicted))
    report = metrics.classification_report(y, predicted, output_dict=True, zero_division=0)
    rows = result.per_class()
    assert [r["class"] for r in rows] == dataset.class_names
    for i, row in enumerate(rows):
        reference = report[str(i)]
        assert row["precision"] == pytest.approx(reference["precision"])
        assert row["recall"] == pytest.approx(reference["recall"])
        assert row["f1"] == pytest.approx(reference["f1-score"])
        assert row["support"] == reference["support"]
        assert row["roc_auc"] == pytest.approx(metrics.roc_auc_score(y == i, scores[:, i]), abs=1e-6)
    for beta in (0.5, 2.0):
        assert result.fbeta(beta) == pytest.approx(metrics.fbeta_score(y, predicted, beta=beta,
                                                                        average="macro"))
    assert result.roc_auc() == pytest.approx(
        metrics.roc_auc_score(y, scores, multi_class="ovr", average="macro"), abs=1e-6)
    summary = result.summary()
    assert summary["macro_f1"] == pytest.approx(metrics.f1_score(y, predicted, average="macro"))
    assert summary["errors"] == int((predicted != y).sum())
    json.dumps(summary)  # JSON-safe


def test_binary_sigmoid_scores_and_curves():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    p = np.clip(0.35 * labels + rng.uniform(0, 0.65, 200), 0, 1)  # informative, imperfect
    result = Evaluation(labels, p[:, None], ["cat", "dog"])
    assert result.num_classes == 2
    assert result.roc_auc() == pytest.approx(metrics.roc_auc_score(labels, p))
    assert result.average_precision() == pytest.approx(metrics.average_precision_score(labels, p))
    roc = result.roc_curves()[1]
    fpr, tpr, _ = metrics.roc_curve(labels, p)
    assert np.array_equal(roc.x, fpr) and np.array_equal(roc.y, tpr)
    assert metrics.auc(roc.x, roc.y) == pytest.approx(roc.auc)
    pr = result.pr_curves()[1]
    assert pr.x[0] == 1.0 and pr.y[-1] == 1.0  # from full recall down to the last point
    assert np.array_equal(result.predictions, (p > 0.5).astype(int))
    assert result.summary()["roc_auc_kind"] == "binary"


def test_galleries_pick_confident_errors_and_close_calls():
    labels = np.array([0, 1, 2, 0, 1, 2])
    scores = np.array([
        [0.10, 0.85, 0.05],  # wrong, confident 0.85
        [0.05, 0.90, 0.05],  # right
        [0.33, 0.34, 0.33],  # nearly a three-way tie: the most uncertain
        [0.60, 0.30, 0.10],  # right
        [0.55, 0.40, 0.05],  # wrong, 0.55
        [0.02, 0.97, 0.01],  # wrong, the most confident error
    ])
    result = Evaluation(labels, scores)
    assert list(result.most_confident_errors(5)) == [5, 0, 4, 2]
    assert list(result.most_uncertain(2)) == [2, 4]
    assert result.most_uncertain(1, by="entropy")[0] == 2


def test_a_class_missing_from_the_labels_has_no_auc_and_bad_input_is_refused():
    labels = np.array([0, 0, 1, 1])
    scores = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]])
    result = Evaluation(labels, scores)
    summary = result.summary()
    assert summary["roc_auc_per_class"]["2"] is None
    present = [metrics.roc_auc_score(labels == c, scores[:, c]) for c in (0, 1)]  # 1.0 and 0.875
    assert summary["roc_auc"] == pytest.approx(np.mean(present))
    assert result.per_class()[2]["support"] == 0 and result.per_class()[2]["recall"] == 0
    with pytest.raises(WorkbenchError, match="outside the model's 3 classes"):
        Evaluation(np.array([0, 3]), scores[:2])
    with pytest.raises(WorkbenchError, match="must match"):
        Evaluation(labels[:3], scores)
    one_hot = np.eye(3)[labels]
    assert np.array_equal(Evaluation(one_hot, scores).labels, labels)


def test_batches_give_the_same_evaluation_as_arrays(trained):
    model, dataset, _ = trained
    x, y = dataset.x_val, dataset.y_val
    batches = [(x[i:i + 100], y[i:i + 100]) for i in range(0, len(x), 100)]
    streamed = evaluate_batches(model, batches, dataset.class_names)
    direct = evaluate(model, x, y, dataset.class_names)
    assert np.array_equal(streamed.confusion(), direct.confusion())
    assert streamed.roc_auc() == pytest.approx(direct.roc_auc())


def test_evaluate_command_writes_tables_summary_and_plot(trained, tmp_path, capsys):
    from PIL import Image

    model, dataset, run = trained
    out = tmp_path / "eval"
    assert run_command(["evaluate", str(run), "-o", str(out), "--beta", "2", "--top", "5"]) == 0
    text = capsys.readouterr().out
    assert "accuracy" in text and "macro F1" in text
    expected = evaluate(model, dataset.x_val, dataset.y_val, dataset.class_names)
    with (out / "confusion.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0][1:] == dataset.class_names
    assert np.array_equal(np.array([r[1:] for r in rows[1:]], int), expected.confusion())
    normalized = np.loadtxt(out / "confusion_normalized.csv", delimiter=",", skiprows=1,
                            usecols=range(1, 11))
    assert np.allclose(normalized, np.nan_to_num(expected.confusion("true")), atol=1e-6)
    per_class = list(csv.DictReader((out / "per_class.csv").open()))
    assert len(per_class) == 10 and "f2" in per_class[0] and "roc_auc" in per_class[0]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["accuracy"] == pytest.approx(expected.accuracy())
    assert summary["macro_f1"] == pytest.approx(expected.fbeta(1.0))
    assert summary["roc_auc"] == pytest.approx(expected.roc_auc())
    assert summary["macro_f2"] == pytest.approx(expected.fbeta(2.0))
    assert len(summary["most_confident_errors"]) == min(5, summary["errors"])
    assert len(summary["most_uncertain"]) == 5
    assert f"macro F2 {summary['macro_f2']:.4f}" in text
    for error in summary["most_confident_errors"]:  # listed on the console too
        assert f"#{error['index']} {error['label']} taken for {error['prediction']}" in text
    with Image.open(out / "confusion.png") as image:
        assert image.format == "PNG"

    assert run_command(["evaluate", str(run), "-o", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == len(dataset.x_val)


def test_evaluate_command_refuses_what_it_cannot_score(trained, tmp_path):
    _, _, run = trained
    with pytest.raises(WorkbenchError, match="no test samples"):
        run_command(["evaluate", str(run), "-o", str(tmp_path / "e"), "--split", "test"])
    bare = tmp_path / "model.keras"  # a model file on its own: no run beside it
    shutil.copy(run / "best.keras", bare)
    with pytest.raises(WorkbenchError, match="bare model file"):
        run_command(["evaluate", str(bare), "-o", str(tmp_path / "e")])
    (tmp_path / "file").write_text("x")
    with pytest.raises(WorkbenchError, match="is a file"):
        run_command(["evaluate", str(run), "-o", str(tmp_path / "file")])
