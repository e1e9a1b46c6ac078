"""How well a classifier does on labelled data: confusion, per-class scores, curves, galleries.

``evaluate(model, x, y)`` predicts in batches and returns an ``Evaluation``;
``Evaluation(labels, probabilities)`` serves predictions made elsewhere. Every number comes from
scikit-learn's metrics, so they mean what scikit-learn documents. Binary models with one
sigmoid output are read as two classes (``[1 - p, p]``); one-hot labels as class indices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.errors import WorkbenchError

NORMALIZE = (None, "true", "pred", "all")


@dataclass
class Curve:
    """One ROC or precision-recall curve of one class against the rest.

    Attributes:
        x, y: false positive rate and true positive rate (ROC), or recall and precision (PR).
        thresholds: the score threshold of each point.
        auc: area under the ROC curve, or average precision for PR; NaN where undefined
            (a class with no example, or with nothing but examples, in the labels).
    """

    x: np.ndarray
    y: np.ndarray
    thresholds: np.ndarray
    auc: float


class Evaluation:
    """A classifier's scores on one labelled set.

    Args:
        labels: true classes, shape (N,) of class indices, or (N, C) one-hot rows.
        probabilities: scores, shape (N, C) (softmax or any per-class score), or (N,) / (N, 1)
            for a binary model with one sigmoid output.
        class_names: a name per class (default: "0", "1", ...).
    """

    def __init__(self, labels, probabilities, class_names: list[str] | None = None):
        self.probabilities = _as_class_scores(np.asarray(probabilities))
        self.labels = _as_class_indices(np.asarray(labels))
        n, classes = self.probabilities.shape
        if len(self.labels) != n:
            raise WorkbenchError(f"{len(self.labels)} labels for {n} predictions: they must match")
        if n == 0:
            raise WorkbenchError("nothing to evaluate: the data set has no samples")
        if self.labels.min() < 0 or self.labels.max() >= classes:
            raise WorkbenchError(f"a label ({int(self.labels.max())}) is outside the model's "
                                 f"{classes} classes: is this the model's data set?")
        names = list(class_names or [])
        self.class_names = [str(c) for c in names[:classes]] + [str(i) for i in range(len(names), classes)]
        self.predictions = self.probabilities.argmax(axis=1)

    @property
    def num_classes(self) -> int:
        return self.probabilities.shape[1]

    @property
    def confidence(self) -> np.ndarray:
        """The score of the predicted class, per sample."""
        return self.probabilities[np.arange(len(self.labels)), self.predictions]

    # ---------------------------------------------------------------- tables
    def confusion(self, normalize: str | None = None) -> np.ndarray:
        """The confusion matrix: rows are true classes, columns predicted classes.

        Args:
            normalize: None for counts; "true" (rows sum to 1: recall on the diagonal), "pred"
                (columns sum to 1: precision on the diagonal) or "all".
        """
        from sklearn.metrics import confusion_matrix

        if normalize not in NORMALIZE:
            raise WorkbenchError(f"normalize must be one of {', '.join(map(str, NORMALIZE))} "
                                 f"(got {normalize!r})")
        with np.errstate(invalid="ignore", divide="ignore"):
            return confusion_matrix(self.labels, self.predictions, labels=range(self.num_classes),
                                    normalize=normalize)

    def per_class(self, beta: float = 1.0) -> list[dict]:
        """Precision, recall, F-beta and support of each class, with its ROC AUC and AP.

        A class never predicted has precision 0, one never present recall 0 (scikit-learn's
        ``zero_division=0``); its AUCs are None.
        """
        from sklearn.metrics import precision_recall_fscore_support

        precision, recall, fscore, support = precision_recall_fscore_support(
            self.labels, self.predictions, beta=beta, labels=range(self.num_classes), zero_division=0)
        roc, pr = self.roc_curves(), self.pr_curves()
        key = "f1" if beta == 1 else f"f{beta:g}"
        return [{"class": name, "precision": float(precision[i]), "recall": float(recall[i]),
                 key: float(fscore[i]), "support": int(support[i]),
                 "roc_auc": _json_float(roc[i].auc), "average_precision": _json_float(pr[i].auc)}
                for i, name in enumerate(self.class_names)]

    def fbeta(self, beta: float = 1.0, average: str = "macro") -> float:
        """F-beta over all classes: ``average`` is "macro", "micro" or "weighted"."""
        from sklearn.metrics import fbeta_score

        if beta <= 0:
            raise WorkbenchError(f"beta must be positive (got {beta})")
        return float(fbeta_score(self.labels, self.predictions, beta=beta, average=average,
                                 labels=range(self.num_classes), zero_division=0))

    def accuracy(self) -> float:
        from sklearn.metrics import accuracy_score

        return float(accuracy_score(self.labels, self.predictions))

    # ---------------------------------------------------------------- curves
    def roc_curves(self) -> list[Curve]:
        """One ROC curve per class, that class against the rest (for two classes, the curve of
        class 1 is the usual binary ROC and class 0's is its mirror)."""
        if not hasattr(self, "_roc"):
            self._roc = [self._curve(c, "roc") for c in range(self.num_classes)]
        return self._roc

    def pr_curves(self) -> list[Curve]:
        """One precision-recall curve per class, that class against the rest; ``auc`` is the
        average precision."""
        if not hasattr(self, "_pr"):
            self._pr = [self._curve(c, "pr") for c in range(self.num_classes)]
        return self._pr

    def _curve(self, cls: int, kind: str) -> Curve:
        from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

        truth = self.labels == cls
        scores = self.probabilities[:, cls]
        positives = int(truth.sum())
        empty = np.zeros(0)
        if kind == "roc":
            if positives in (0, len(truth)):  # one-sided labels: no ROC to draw
                return Curve(empty, empty, empty, float("nan"))
            fpr, tpr, thresholds = roc_curve(truth, scores)
            return Curve(fpr, tpr, thresholds, float(roc_auc_score(truth, scores)))
        if positives == 0:
            return Curve(empty, empty, empty, float("nan"))
        precision, recall, thresholds = precision_recall_curve(truth, scores)
        return Curve(recall, precision, thresholds, float(average_precision_score(truth, scores)))

    def roc_auc(self) -> float:
        """The ROC AUC: binary for two classes, else the macro mean of one-vs-rest AUCs over the
        classes present (NaN when no class has both positives and negatives)."""
        curves = self.roc_curves()
        if self.num_classes == 2:
            return curves[1].auc
        values = [c.auc for c in curves if not np.isnan(c.auc)]
        return float(np.mean(values)) if values else float("nan")

    def average_precision(self) -> float:
        """Average precision: of class 1 for two classes, else the macro mean over classes."""
        curves = self.pr_curves()
        if self.num_classes == 2:
            return curves[1].auc
        values = [c.auc for c in curves if not np.isnan(c.auc)]
        return float(np.mean(values)) if values else float("nan")

    # -------------------------------------------------------------- galleries
    def most_confident_errors(self, count: int = 16) -> np.ndarray:
        """Indices of wrong predictions, the most confident first."""
        wrong = np.flatnonzero(self.predictions != self.labels)
        order = np.argsort(-self.confidence[wrong], kind="stable")
        return wrong[order][:count]

    def most_uncertain(self, count: int = 16, by: str = "margin") -> np.ndarray:
        """Indices of the least decided predictions, the most uncertain first.

        Args:
            count: how many.
            by: "margin" (smallest gap between the two best scores) or "entropy" (highest
                entropy of the normalized scores).
        """
        scores = self.probabilities
        if by == "margin":
            top2 = np.sort(scores, axis=1)[:, -2:]
            uncertainty = -(top2[:, 1] - top2[:, 0])
        elif by == "entropy":
            p = np.clip(scores / np.maximum(scores.sum(axis=1, keepdims=True), 1e-12), 1e-12, 1.0)
            uncertainty = -(p * np.log(p)).sum(axis=1)
        else:
            raise WorkbenchError(f"uncertainty is measured by 'margin' or 'entropy' (got {by!r})")
        return np.argsort(-uncertainty, kind="stable")[:count]

    # ---------------------------------------------------------------- summary
    def summary(self) -> dict:
        """JSON-safe headline numbers (undefined AUCs are None)."""
        return {
            "samples": int(len(self.labels)),
            "classes": self.num_classes,
            "accuracy": self.accuracy(),
            "macro_precision": _macro(self.per_class(), "precision"),
            "macro_recall": _macro(self.per_class(), "recall"),
            "macro_f1": self.fbeta(1.0, "macro"),
            "weighted_f1": self.fbeta(1.0, "weighted"),
            "roc_auc": _json_float(self.roc_auc()),
            "roc_auc_kind": "binary" if self.num_classes == 2 else "one-vs-rest macro",
            "average_precision": _json_float(self.average_precision()),
            "roc_auc_per_class": {name: _json_float(c.auc)
                                  for name, c in zip(self.class_names, self.roc_curves())},
            "errors": int((self.predictions != self.labels).sum()),
        }


def evaluate(model, x: np.ndarray, y: np.ndarray, class_names: list[str] | None = None,
             batch_size: int = 256, progress=None) -> Evaluation | None:
    """Predict ``x`` with ``model`` in batches and score the predictions against ``y``.

    Args:
        model: a Keras classifier with one output (softmax/scores per class, or one sigmoid).
        x, y: inputs and their labels (class indices or one-hot rows).
        class_names: a name per class.
        batch_size: samples per forward pass.
        progress: the progress protocol; ``cancelled()`` ends early.

    Returns:
        The evaluation, or None when cancelled.
    """
    from workbench.inspect.embedding import predict_in_batches

    if len(getattr(model, "outputs", None) or [None]) != 1:
        raise WorkbenchError(f"{model.name}: evaluation needs a model with one output "
                             f"(it has {len(model.outputs)})")
    scores = predict_in_batches(model, x, batch_size=batch_size, progress=progress,
                                message="predicting")
    if scores is None:
        return None
    return Evaluation(y, scores, class_names)


def evaluate_batches(model, batches, class_names: list[str] | None = None, progress=None,
                     total: int | None = None) -> Evaluation | None:
    """Like ``evaluate`` for data that come in (inputs, labels) batches (a ``tf.data`` stream):
    only the scores are kept, never the inputs.

    Args:
        total: the number of batches, for progress (None: unknown).
    """
    from workbench.tasks import NullProgress

    progress = progress or NullProgress()
    scores, labels = [], []
    try:
        for i, (x, y) in enumerate(batches):
            if progress.cancelled():
                return None
            scores.append(np.asarray(model.predict_on_batch(np.asarray(x))))
            labels.append(np.asarray(y))
            progress.step(i + 1, total, "predicting")
    except WorkbenchError:
        raise
    except Exception as error:  # a broken file met while streaming: say so, not a traceback
        raise WorkbenchError(f"the data could not be read: {str(error).strip().splitlines()[0]}") from None
    if not scores:
        raise WorkbenchError("nothing to evaluate: the data stream gave no batches")
    return Evaluation(np.concatenate(labels), np.concatenate(scores), class_names)


# ------------------------------------------------------------------- helpers
def _as_class_scores(scores: np.ndarray) -> np.ndarray:
    scores = scores.astype(np.float64, copy=False)
    if scores.ndim == 1 or (scores.ndim == 2 and scores.shape[1] == 1):
        p = scores.reshape(-1)
        return np.stack([1.0 - p, p], axis=1)
    if scores.ndim != 2:
        raise WorkbenchError(f"a classifier's output is one row of class scores per sample; this "
                             f"model gives shape {scores.shape[1:]} per sample")
    return scores


def _as_class_indices(labels: np.ndarray) -> np.ndarray:
    if labels.ndim == 2 and labels.shape[1] > 1:
        return labels.argmax(axis=1).astype(np.int64)
    labels = labels.reshape(len(labels), -1)
    if labels.shape[1] != 1:
        raise WorkbenchError(f"labels must be class indices or one-hot rows (got shape {labels.shape})")
    labels = labels[:, 0]
    if labels.size and not np.all(np.equal(np.mod(labels, 1), 0)):
        raise WorkbenchError("labels must be whole class indices: is this a classification data set?")
    return labels.astype(np.int64)


def _json_float(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _macro(rows: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))
