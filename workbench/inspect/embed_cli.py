"""The ``embed`` and ``evaluate`` commands, registered by ``add_commands`` into ``workbench``.

``workbench embed MODEL|RUN --layer L --method pca|tsne|umap [--samples N] -o OUT`` writes the
2-D map as ``.csv`` (points with label and prediction), ``.npy`` (coordinates) or ``.png``
(scatter plot coloured by label). ``workbench evaluate RUN -o DIR`` writes ``confusion.csv``,
``confusion_normalized.csv``, ``per_class.csv``, ``summary.json`` and ``confusion.png``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

import numpy as np

from workbench.errors import WorkbenchError
from workbench.fileio import write_atomic, write_text_atomic

EMBED_SUFFIXES = (".csv", ".npy", ".png")
SPLITS = ("all", "train", "val")
EVALUATE_SPLITS = ("val", "train", "test")
_TSNE_FLAGS = {"perplexity": "--perplexity", "learning_rate": "--learning-rate",
               "iterations": "--iterations", "init": "--init"}
_UMAP_FLAGS = {"n_neighbors": "--n-neighbors", "min_dist": "--min-dist"}
_METHOD_NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}


def add_commands(add) -> None:
    """Register ``embed`` and ``evaluate``; ``add(name, handler, help)`` returns a sub-parser
    that already has ``--json``."""
    from workbench.inspect.embedding import METHODS, REDUCTIONS

    unsafe_help = "allow models with Lambda layers (runs code from the file)"
    sub = add("embed", cmd_embed, "a 2-D map (PCA, t-SNE, UMAP) of a layer's activations for many samples")
    sub.add_argument("model", help="run folder, or model file (.keras, .h5) of a run")
    sub.add_argument("--layer", required=True, help="layer name or path (outer/inner in nested models)")
    sub.add_argument("--method", required=True, choices=METHODS, help="projection method")
    sub.add_argument("-o", "--output", required=True,
                     help="file to write: .csv (points, label, prediction), .npy (coordinates), "
                          ".png (scatter plot coloured by label)")
    sub.add_argument("--samples", type=int, help="how many samples (default: all of --split)")
    sub.add_argument("--split", choices=SPLITS, default="all",
                     help="which data: all (default), train or val")
    sub.add_argument("--reduce", choices=REDUCTIONS, default="pool",
                     help="how a spatial layer becomes one row per sample: global average pool "
                          "(default) or flatten")
    sub.add_argument("--perplexity", type=float, help="t-SNE: neighbours kept close (default 30)")
    sub.add_argument("--learning-rate", help="t-SNE: step size, a number or auto (default auto)")
    sub.add_argument("--iterations", type=int, help="t-SNE: gradient steps (default 500)")
    sub.add_argument("--init", choices=["pca", "random"], help="t-SNE: starting layout (default pca)")
    sub.add_argument("--n-neighbors", type=int, help="UMAP: neighbourhood size (default 15)")
    sub.add_argument("--min-dist", type=float, help="UMAP: how tightly points pack (default 0.1)")
    sub.add_argument("--seed", type=int, default=0, help="seed for the sample choice and the method")
    sub.add_argument("--checkpoint", choices=["best", "final"], default="best",
                     help="a run's model: best (default, else final) or final")
    sub.add_argument("--batch-size", type=int, default=256, help="samples per forward pass (default 256)")
    sub.add_argument("--unsafe", action="store_true", help=unsafe_help)

    sub = add("evaluate", cmd_evaluate,
              "confusion matrix, per-class precision/recall/F1, ROC and PR AUCs of a run's model")
    sub.add_argument("model", help="run folder (its experiment names the data)")
    sub.add_argument("-o", "--output", required=True, help="folder to write the tables and plots into")
    sub.add_argument("--split", choices=EVALUATE_SPLITS, default="val",
                     help="which data: val (default), train or test (when the source has one)")
    sub.add_argument("--checkpoint", choices=["best", "final"], default="best",
                     help="the run's model: best (default, else final) or final")
    sub.add_argument("--beta", type=float, default=1.0, help="also report F-beta with this beta")
    sub.add_argument("--top", type=int, default=10,
                     help="how many most confident errors (printed) and most uncertain predictions "
                          "(in summary.json) to list (default 10)")
    sub.add_argument("--batch-size", type=int, default=256, help="samples per forward pass (default 256)")
    sub.add_argument("--unsafe", action="store_true", help=unsafe_help)


# ------------------------------------------------------------------------ embed
def cmd_embed(args: argparse.Namespace) -> int:
    from workbench.inspect.embedding import Embedder, method_params, require_umap, sample_indices
    from workbench.inspect.source import open_model_source
    from workbench.tasks import ConsoleProgress

    output = Path(args.output)
    if output.suffix.lower() not in EMBED_SUFFIXES:
        raise WorkbenchError(f"{output}: the output's extension picks its format: "
                             f"{', '.join(EMBED_SUFFIXES)}")
    _check_folder(output.parent)
    params = _method_params(args)
    method_params(args.method, params)  # settings checked before any data is loaded
    if args.method == "umap":
        require_umap()
    if args.batch_size < 1:
        raise WorkbenchError(f"--batch-size must be at least 1 (got {args.batch_size})")
    source = open_model_source(args.model, allow_unsafe=args.unsafe, checkpoint=args.checkpoint)
    if source.experiment is None:
        raise WorkbenchError(f"{args.model}: a bare model file has no data to embed: give the run "
                             "folder it came from (made by `workbench train`)")
    progress = ConsoleProgress()
    try:
        dataset = source.dataset(progress)
        x, y, splits, index = _embed_samples(dataset, args.split, args.samples, args.seed, sample_indices)
        embedder = Embedder(source.model, x, y, batch_size=args.batch_size)
        embedding = embedder.project(args.method, args.layer, args.reduce, progress=progress, **params)
    finally:
        progress.close()
    if embedding is None:
        raise WorkbenchError("the embedding was cancelled")
    names = dataset.class_names
    suffix = output.suffix.lower()
    if suffix == ".npy":
        write_atomic(output, lambda tmp: np.save(tmp, embedding.coords))
    elif suffix == ".csv":
        write_text_atomic(output, _points_csv(embedding, names, splits, index))
    else:
        save_scatter_png(embedding, output, names)
    method = _METHOD_NAMES[args.method]
    data = {"output": str(output), "method": args.method, "layer": embedding.layer,
            "reduce": embedding.reduce, "points": int(len(embedding.coords)),
            "input_dims": embedding.input_dims, "params": embedding.params,
            "implementation": embedding.implementation, "seconds": round(embedding.seconds, 3),
            **embedding.info}
    text = (f"{method} of {embedding.layer} ({embedding.reduce}, {embedding.input_dims} dims) for "
            f"{len(embedding.coords)} samples in {embedding.seconds:.1f}s "
            f"[{embedding.implementation}]: {output}")
    print(json.dumps(data, indent=2, default=_json_default) if args.json else text)
    return 0


def _method_params(args: argparse.Namespace) -> dict:
    """The method's settings from the flags; a flag of another method is refused by name."""
    given = {"perplexity": args.perplexity, "learning_rate": args.learning_rate,
             "iterations": args.iterations, "init": args.init, "n_neighbors": args.n_neighbors,
             "min_dist": args.min_dist}
    own = {"tsne": _TSNE_FLAGS, "umap": _UMAP_FLAGS, "pca": {}}[args.method]
    stray = [flag for key, flag in {**_TSNE_FLAGS, **_UMAP_FLAGS}.items()
             if given[key] is not None and key not in own]
    if stray:
        raise WorkbenchError(f"{', '.join(stray)} does not apply to --method {args.method}")
    params = {key: given[key] for key in own if given[key] is not None}
    if args.method == "tsne" and "learning_rate" in params and params["learning_rate"] != "auto":
        try:
            params["learning_rate"] = float(params["learning_rate"])
        except ValueError:
            raise WorkbenchError(f"--learning-rate must be a number or auto "
                                 f"(got {params['learning_rate']!r})") from None
    return {**params, "seed": args.seed}


def _embed_samples(dataset, split: str, count: int | None, seed: int, sample_indices):
    """The chosen samples: inputs, labels, each one's split name and index within its split."""
    if count is not None and count < 1:
        raise WorkbenchError(f"--samples must be at least 1 (got {count})")
    names = ["train", "val"] if split == "all" else [split]
    if dataset.streamed:
        parts = []
        left = count
        for name in names:
            total = dataset.train_count if name == "train" else dataset.val_count
            if not total or left == 0:
                continue
            x, y = dataset.sample(total if left is None else min(left, total), name)
            parts.append((name, x, y, np.arange(len(x))))
            left = None if left is None else left - len(x)
    else:
        arrays = [(name, dataset.x_train if name == "train" else dataset.x_val,
                   dataset.y_train if name == "train" else dataset.y_val) for name in names]
        arrays = [(n, x, y) for n, x, y in arrays if x is not None and len(x)]
        sizes = [len(x) for _, x, _ in arrays]
        chosen = sample_indices(sum(sizes), count, seed)
        parts, offset = [], 0
        for (name, x, y), size in zip(arrays, sizes):
            local = chosen[(chosen >= offset) & (chosen < offset + size)] - offset
            offset += size
            if len(local):
                parts.append((name, x[local], None if y is None else y[local], local))
    if not parts:
        raise WorkbenchError(f"the data set has no {' or '.join(names)} samples: choose another --split")
    x = np.concatenate([p[1] for p in parts])
    labels = [p[2] for p in parts]
    y = None if any(v is None for v in labels) else np.concatenate(labels)
    splits = np.concatenate([[p[0]] * len(p[1]) for p in parts])
    index = np.concatenate([p[3] for p in parts])
    return x, y, splits, index


def _points_csv(embedding, class_names, splits, index) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["split", "index", "x", "y", "label", "prediction"])
    labels, predictions = embedding.labels, embedding.predictions
    for i, (px, py) in enumerate(embedding.coords):
        writer.writerow([splits[i], int(index[i]), f"{px:.6g}", f"{py:.6g}",
                         _class_name(labels, i, class_names), _class_name(predictions, i, class_names)])
    return buffer.getvalue()


def _class_name(values, i: int, names) -> str:
    if values is None:
        return ""
    value = int(values[i])
    return str(names[value]) if names and value < len(names) else str(value)


def save_scatter_png(embedding, path: str | Path, class_names: list[str] | None = None) -> None:
    """The embedding as a scatter plot coloured by label (misclassified points ringed)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    coords, labels = embedding.coords, embedding.labels
    figure = Figure(figsize=(7.5, 6.5), dpi=110)
    axes = figure.add_subplot()
    size = float(np.clip(6000 / max(len(coords), 1), 2.0, 30))
    if labels is None:
        axes.scatter(coords[:, 0], coords[:, 1], s=size, color="#1f77b4", linewidths=0)
    else:
        classes = int(labels.max()) + 1
        cmap = matplotlib.colormaps["tab10" if classes <= 10 else "tab20" if classes <= 20 else "turbo"]
        for c in range(classes):
            mask = labels == c
            if not mask.any():
                continue
            color = cmap(c % cmap.N if classes <= 20 else c / max(classes - 1, 1))
            name = class_names[c] if class_names and c < len(class_names) else str(c)
            axes.scatter(coords[mask, 0], coords[mask, 1], s=size, color=color, linewidths=0, label=name)
        if embedding.predictions is not None:
            wrong = embedding.predictions != labels
            if wrong.any():
                axes.scatter(coords[wrong, 0], coords[wrong, 1], s=size * 4, facecolors="none",
                             edgecolors="black", linewidths=0.6, label=f"misclassified ({int(wrong.sum())})")
        if classes <= 30:
            axes.legend(fontsize=7, markerscale=max(1.0, 20 / size) ** 0.5, loc="best", framealpha=0.8)
    axes.set_title(f"{_METHOD_NAMES[embedding.method]} of {embedding.layer} "
                   f"({len(coords)} samples, {embedding.reduce})", fontsize=9)
    axes.set_xticks([])
    axes.set_yticks([])
    figure.tight_layout()
    _save_figure(figure, Path(path))


# --------------------------------------------------------------------- evaluate
def cmd_evaluate(args: argparse.Namespace) -> int:
    from workbench.inspect.evaluation import evaluate, evaluate_batches
    from workbench.inspect.source import open_model_source
    from workbench.tasks import ConsoleProgress

    folder = Path(args.output)
    if folder.exists() and not folder.is_dir():
        raise WorkbenchError(f"{folder}: is a file; -o names the folder to write the results into")
    _check_folder(folder.parent if str(folder.parent) else Path("."))
    if args.top < 0 or args.batch_size < 1:
        raise WorkbenchError("--top must be 0 or more and --batch-size at least 1")
    if args.beta <= 0:
        raise WorkbenchError(f"--beta must be positive (got {args.beta})")
    source = open_model_source(args.model, allow_unsafe=args.unsafe, checkpoint=args.checkpoint)
    if source.experiment is None:
        raise WorkbenchError(f"{args.model}: a bare model file has no labelled data to evaluate "
                             "on: give the run folder it came from (made by `workbench train`)")
    progress = ConsoleProgress()
    try:
        dataset = source.dataset(progress)
        if dataset.task != "classification":
            raise WorkbenchError(f"{args.model}: evaluate scores classifiers; this experiment's task "
                                 f"is {dataset.task}")
        names = dataset.class_names
        if dataset.streamed and args.split != "test":
            stream = dataset.val_stream if args.split == "val" else dataset.train_stream
            if stream is None:
                raise WorkbenchError(_no_split(args.split))
            result = evaluate_batches(source.model, stream, names, progress)
        else:
            x, y = _evaluate_arrays(dataset, args.split)
            result = evaluate(source.model, x, y, names, args.batch_size, progress)
    finally:
        progress.close()
    if result is None:
        raise WorkbenchError("the evaluation was cancelled")
    folder.mkdir(exist_ok=True)
    names = result.class_names
    write_text_atomic(folder / "confusion.csv", _matrix_csv(result.confusion(), names, "{:d}"))
    write_text_atomic(folder / "confusion_normalized.csv",
                      _matrix_csv(np.nan_to_num(result.confusion("true")), names, "{:.6f}"))
    rows = result.per_class(1.0)
    if args.beta != 1:
        extra = result.per_class(args.beta)
        key = f"f{args.beta:g}"
        rows = [{**row, key: other[key]} for row, other in zip(rows, extra)]
    write_text_atomic(folder / "per_class.csv", _rows_csv(rows))
    summary = result.summary()
    summary.update({"split": args.split, "model": str(source.path), "checkpoint": source.checkpoint})
    if args.beta != 1:
        summary[f"macro_f{args.beta:g}"] = result.fbeta(args.beta)
    summary["most_confident_errors"] = _gallery(result, result.most_confident_errors(args.top))
    summary["most_uncertain"] = _gallery(result, result.most_uncertain(args.top))
    write_text_atomic(folder / "summary.json", json.dumps(summary, indent=2) + "\n")
    save_confusion_png(result, folder / "confusion.png")
    if args.json:
        print(json.dumps({**summary, "output": str(folder), "per_class": rows}, indent=2))
    else:
        print(_evaluation_text(result, rows, summary, folder))
    return 0


def _evaluate_arrays(dataset, split: str):
    if split == "test":
        x, y = dataset.extras.get("x_test"), dataset.extras.get("y_test")
    else:
        x, y = (dataset.x_val, dataset.y_val) if split == "val" else (dataset.x_train, dataset.y_train)
    if x is None or y is None or not len(x):
        raise WorkbenchError(_no_split(split))
    return x, y


def _no_split(split: str) -> str:
    hint = {"val": "set data.validation_split in the experiment, or use --split train",
            "test": "this data source ships no test set: use --split val",
            "train": "use --split val"}[split]
    return f"the data set has no {split} samples: {hint}"


def _matrix_csv(matrix: np.ndarray, names: list[str], number: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["true \\ predicted", *names])
    for name, row in zip(names, matrix):
        writer.writerow([name, *(number.format(int(v) if number == "{:d}" else float(v)) for v in row)])
    return buffer.getvalue()


def _rows_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else f"{v:.6g}" if isinstance(v, float) else v)
                         for k, v in row.items()})
    return buffer.getvalue()


def _gallery(result, indices: np.ndarray) -> list[dict]:
    names = result.class_names
    return [{"index": int(i), "label": names[result.labels[i]], "prediction": names[result.predictions[i]],
             "confidence": float(result.confidence[i])} for i in indices]


def _evaluation_text(result, rows: list[dict], summary: dict, folder: Path) -> str:
    width = max(8, *(len(r["class"]) for r in rows))
    lines = [f"{'class':<{width}}  precision  recall     f1  support  roc_auc"]
    for r in rows:
        auc = "      -" if r["roc_auc"] is None else f"{r['roc_auc']:7.4f}"
        lines.append(f"{r['class']:<{width}}  {r['precision']:9.4f}  {r['recall']:6.4f}  {r['f1']:5.3f}  "
                     f"{r['support']:7d}  {auc}")
    auc = "n/a" if summary["roc_auc"] is None else f"{summary['roc_auc']:.4f}"
    fbeta = next((f" · {key.replace('macro_f', 'macro F')} {value:.4f}" for key, value
                  in summary.items() if key.startswith("macro_f") and key != "macro_f1"), "")
    lines.append(f"accuracy {summary['accuracy']:.4f} · macro F1 {summary['macro_f1']:.4f}{fbeta} · "
                 f"ROC AUC ({summary['roc_auc_kind']}) {auc} · {summary['errors']} errors in "
                 f"{summary['samples']} {summary['split']} samples")
    errors = summary["most_confident_errors"]
    if errors:
        lines.append("most confident errors: " + ", ".join(
            f"#{e['index']} {e['label']} taken for {e['prediction']} ({e['confidence']:.2f})"
            for e in errors))
    lines.append(f"written to {folder}/: confusion.csv, confusion_normalized.csv, per_class.csv, "
                 "summary.json, confusion.png")
    return "\n".join(lines)


def save_confusion_png(result, path: str | Path) -> None:
    """The row-normalized confusion matrix as a heat map, with the counts written in."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    counts = result.confusion()
    shares = np.nan_to_num(result.confusion("true"))
    names = result.class_names
    n = len(names)
    side = float(np.clip(0.45 * n + 2.5, 4, 14))
    figure = Figure(figsize=(side + 1, side), dpi=110)
    axes = figure.add_subplot()
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the true class")
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if counts[i, j]:
                    axes.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                              color="white" if shares[i, j] > 0.5 else "black")
    ticks = range(n)
    axes.set_xticks(ticks, labels=names, rotation=90 if n > 10 else 0, fontsize=7)
    axes.set_yticks(ticks, labels=names, fontsize=7)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"confusion (accuracy {result.accuracy():.3f}, {len(result.labels)} samples)", fontsize=9)
    figure.tight_layout()
    _save_figure(figure, Path(path))


# ----------------------------------------------------------------------- shared
def _save_figure(figure, path: Path) -> None:
    try:
        write_atomic(path, lambda tmp: figure.savefig(tmp, format="png"))
    except OSError as error:
        raise WorkbenchError(f"{path}: cannot write the plot ({error.strerror or error})") from None


def _check_folder(folder: Path) -> None:
    if str(folder) and not folder.exists():
        raise WorkbenchError(f"{folder}: the folder does not exist")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(type(value).__name__)
