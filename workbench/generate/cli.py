"""The ``workbench style`` and ``workbench attack`` commands.

``add_commands(add)`` registers them on the main parser (``add(name, handler, help)`` returns a
sub-parser that already has ``--json``). Handlers return an exit code and raise
``WorkbenchError`` for bad input. ``-o`` takes its format from the extension: ``style`` writes
the picture (``.png``) or its array (``.npy``); ``attack`` writes original, amplified
perturbation and adversarial input side by side, captioned (``.png``), or the adversarial batch
(``.npy``),
and with ``--sweep`` accuracy against epsilon as a plot (``.png``) or a table (``.csv``,
``.json``). Loading a model or run, ``--sample``/``--input`` and the output helpers are those of
``workbench.inspect.cli``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from workbench.errors import WorkbenchError
from workbench.inspect.cli import (
    UNSAFE_HELP,
    _emit,
    _explained_input,
    _name,
    _output_path,
    _progress,
    _save_array,
    _source_arguments,
)

SWEEP_SUFFIXES = (".png", ".csv", ".json")


def add_commands(add) -> None:
    """Register ``style`` and ``attack``."""
    from workbench.generate.adversarial import METHODS, NORMS
    from workbench.generate.style import INITS, LONGEST_SIDE, OPTIMIZERS

    sub = add("style", cmd_style, "neural style transfer: the content of one image painted in "
                                  "the style of another (Gatys et al.)")
    sub.add_argument("--content", required=True, help="the content image (PNG, JPEG, ...)")
    sub.add_argument("--style", required=True, help="the style image")
    sub.add_argument("--extractor", default="vgg19",
                     help="vgg19 (ImageNet weights, downloaded once into Keras' cache) or a "
                          "convolutional model: a .keras/.h5 file or a run folder (default vgg19)")
    sub.add_argument("--layers", nargs="+",
                     help="style layers, e.g. block1_conv1 block2_conv1 (commas work too); default: "
                          "VGG19's first convolution of each block, or every convolution of a model")
    sub.add_argument("--content-layers", dest="content_layers", nargs="+",
                     help="content layers (default: block4_conv2 for VGG19, else the last convolution)")
    sub.add_argument("--layer-weights", dest="layer_weights",
                     help="one weight per style layer, e.g. 1,1,0.5 (default: equal)")
    sub.add_argument("--steps", type=int, default=200, help="optimisation steps (default 200)")
    sub.add_argument("--size", help=f"the picture's size as WIDTHxHEIGHT (default: the content "
                                    f"image's, its longer side at most {LONGEST_SIDE})")
    sub.add_argument("--content-weight", dest="content_weight", type=float, default=1.0,
                     help="weight of the content loss (default 1)")
    sub.add_argument("--style-weight", dest="style_weight", type=float, default=10.0,
                     help="weight of the style loss (default 10)")
    sub.add_argument("--tv-weight", dest="tv_weight", type=float, default=1.0,
                     help="weight of the total-variation (smoothness) loss (default 1)")
    sub.add_argument("--optimizer", choices=OPTIMIZERS, default="adam",
                     help="adam, or lbfgs (scipy's L-BFGS-B) (default adam)")
    sub.add_argument("--learning-rate", dest="learning_rate", type=float, default=0.02,
                     help="Adam's step size in pixel units, 0-1 (default 0.02)")
    sub.add_argument("--init", choices=INITS, default="content",
                     help="start from the content image or from noise (default content)")
    sub.add_argument("--seed", type=int, default=0, help="seed of the noise start (default 0)")
    sub.add_argument("--vgg-weights", dest="vgg_weights",
                     help="a VGG19 weights file (vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5) "
                          "instead of Keras' cache")
    sub.add_argument("--checkpoint", choices=["best", "final"], default="best",
                     help="which model of a run (default best, else final)")
    sub.add_argument("--range", nargs=2, type=float, metavar=("LOW", "HIGH"),
                     help="the input values a model extractor expects for black and white "
                          "(default: the run's training data, else 0 1)")
    sub.add_argument("--unsafe", action="store_true", help=UNSAFE_HELP)
    sub.add_argument("-o", "--output", dest="out", required=True,
                     help="where to write: .png (the picture) or .npy (its values, height x width x 3, 0-1)")

    sub = add("attack", cmd_attack, "adversarial examples (FGSM, BIM, PGD) and robustness sweeps "
                                    "of accuracy against epsilon")
    _source_arguments(sub)
    sub.add_argument("--method", choices=METHODS, default="pgd",
                     help="fgsm (one step), bim (steps), pgd (steps from a random start) (default pgd)")
    sub.add_argument("--eps", type=float, required=True,
                     help="the largest change, in the model's input units (with --sweep: the "
                          "largest epsilon of the sweep)")
    given = sub.add_mutually_exclusive_group()
    given.add_argument("--sample", type=int, help="attack sample I of the run's validation data")
    given.add_argument("--input", help="an image file to attack (resized to the model's input)")
    sub.add_argument("--target", type=int, help="a class to reach (a targeted attack)")
    sub.add_argument("--norm", choices=NORMS, default="linf", help="linf or l2 (default linf)")
    sub.add_argument("--steps", type=int, default=10, help="bim/pgd steps (default 10)")
    sub.add_argument("--step-size", dest="step_size", type=float,
                     help="bim/pgd step length (default 2.5 * eps / steps)")
    sub.add_argument("--no-random-start", dest="random_start", action="store_false",
                     help="pgd: start from the input itself")
    sub.add_argument("--seed", type=int, default=0, help="seed of pgd's random start (default 0)")
    sub.add_argument("--range", nargs=2, type=float, metavar=("LOW", "HIGH"),
                     help="the valid input values; results are clipped to them (default: the "
                          "run's training data, else 0 1)")
    sub.add_argument("--pixels", choices=["auto", "unit", "raw"], default="auto",
                     help="how --input pixels (0-255) reach the model, as for `workbench explain`")
    sub.add_argument("--sweep", action="store_true",
                     help="accuracy against epsilon for fgsm and pgd (and bim with --method bim) on "
                          "the run's test or validation data")
    sub.add_argument("--epsilons",
                     help="--sweep: the epsilons, e.g. 0,0.05,0.1 (default: 9 from 0 to --eps)")
    sub.add_argument("--count", type=int, default=500,
                     help="--sweep: how many inputs (default 500)")
    sub.add_argument("-o", "--output", dest="out", required=True,
                     help="where to write: .png (original, amplified perturbation, adversarial) or "
                          ".npy (the adversarial batch); with --sweep .png (plot), .csv or .json")


# ----------------------------------------------------------------------------- style
def cmd_style(args: argparse.Namespace) -> int:
    from workbench.generate.style import StyleSettings, style_transfer
    from workbench.inspect.images import load_unit_image, save_picture

    out = _output_path(args.out)
    content = load_unit_image(args.content)
    style = load_unit_image(args.style)
    notes: list[str] = []
    settings = StyleSettings(
        steps=_at_least(args.steps, 1, "--steps"), size=_size(args.size, content, notes),
        content_weight=_at_least(args.content_weight, 0, "--content-weight"),
        style_weight=_at_least(args.style_weight, 0, "--style-weight"),
        tv_weight=_at_least(args.tv_weight, 0, "--tv-weight"),
        style_layer_weights=_numbers(args.layer_weights, "--layer-weights"),
        optimizer=args.optimizer, learning_rate=_positive(args.learning_rate, "--learning-rate"),
        init=args.init, seed=args.seed, preview_every=0)
    progress = _progress()
    try:
        extractor = _extractor(args, notes, progress)
        result = style_transfer(content, style, extractor, settings, progress)
    finally:
        progress.close()
    if result.stopped:
        raise WorkbenchError("style transfer was cancelled")
    if out.suffix == ".npy":
        _save_array(out, result.image)
    else:
        save_picture(out, result.image)
    height, width = result.image.shape[:2]
    losses = {name: {"start": values[0], "end": values[-1]} for name, values in result.losses.items()}
    data = {"file": str(out), "width": width, "height": height, "steps": result.steps,
            "optimizer": args.optimizer, "extractor": extractor.name,
            "content_layers": result.content_layers, "style_layers": result.style_layers,
            "losses": losses, "notes": notes + result.notes}
    text = [f"styled a {width}x{height} picture in {result.steps} {args.optimizer} steps with "
            f"{extractor.name}: style loss {losses['style']['start']:.4g} -> "
            f"{losses['style']['end']:.4g}, content loss {losses['content']['start']:.4g} -> "
            f"{losses['content']['end']:.4g}"]
    text.append(f"content layers: {', '.join(result.content_layers)}; style layers: "
                f"{', '.join(result.style_layers)}")
    text += [f"note: {note}" for note in data["notes"]]
    text.append(f"wrote {out}")
    _emit(args, data, "\n".join(text))
    return 0


def _extractor(args, notes: list[str], progress):
    from workbench.generate.extractor import model_extractor, vgg19_extractor

    style_layers = _names(args.layers)
    content_layers = _names(args.content_layers)
    if args.extractor.lower() == "vgg19":
        if args.range:
            notes.append("--range is for a model extractor: VGG19 takes its own preprocessing")
        return vgg19_extractor(content_layers, style_layers, args.vgg_weights, progress)
    if args.vgg_weights:
        raise WorkbenchError("--vgg-weights goes with --extractor vgg19")
    from workbench.inspect.source import open_model_source

    source = open_model_source(args.extractor, args.unsafe, args.checkpoint)
    value_range = _value_range(args, source, notes, progress)
    return model_extractor(source.model, style_layers, content_layers, value_range)


def _size(text: str | None, content: np.ndarray, notes: list[str]) -> tuple[int, int]:
    """(width, height) from WIDTHxHEIGHT, else the content image's size, capped."""
    from workbench.generate.style import LONGEST_SIDE, capped_size

    if text:
        parts = text.lower().split("x")
        try:
            width, height = (int(p) for p in parts)
        except ValueError:
            raise WorkbenchError(f"--size takes WIDTHxHEIGHT in pixels, e.g. 256x192 "
                                 f"(got {text!r})") from None
        if width < 1 or height < 1:
            raise WorkbenchError(f"--size: width and height must be at least 1 (got {text!r})")
        return width, height
    width, height = capped_size(content.shape, LONGEST_SIDE)
    if (height, width) != content.shape[:2]:
        notes.append(f"the picture is {width}x{height}, the content image scaled down to "
                     f"{LONGEST_SIDE} pixels on its longer side (give --size to choose)")
    return width, height


# ---------------------------------------------------------------------------- attack
def cmd_attack(args: argparse.Namespace) -> int:
    from workbench.generate.adversarial import AttackSettings, attack
    from workbench.inspect.layers import model_inputs
    from workbench.inspect.source import open_model_source

    if args.sweep:
        out = _table_output_path(args.out)
        if args.sample is not None or args.input is not None:
            raise WorkbenchError("--sweep measures accuracy on the run's data: leave out "
                                 "--sample and --input (use --count)")
        if args.target is not None:
            raise WorkbenchError("--sweep measures untargeted attacks: leave out --target")
    else:
        if Path(args.out).suffix.lower() in (".csv", ".json"):
            raise WorkbenchError(f"{args.out}: tables (.csv, .json) are written by --sweep; one "
                                 "attack writes .png or .npy")
        out = _output_path(args.out)
        if args.sample is None and args.input is None:
            raise WorkbenchError("give the input to attack: --sample I (a run's validation sample) "
                                 "or --input IMAGE; or measure robustness with --sweep")
    if args.eps < 0:
        raise WorkbenchError(f"--eps must be >= 0 (got {args.eps})")
    _at_least(args.steps, 1, "--steps")
    if args.step_size is not None:
        _positive(args.step_size, "--step-size")
    source = open_model_source(args.model, args.unsafe, args.checkpoint)
    _read_data_once(source)
    inputs = model_inputs(source.model)
    if len(inputs) != 1:
        raise WorkbenchError(f"model {source.model.name!r} has {len(inputs)} inputs: attacks work "
                             "on models with one input")
    notes: list[str] = []
    progress = _progress()
    try:
        if args.sweep:
            return _sweep(args, source, out, notes, progress)
        x, shown, label, names, picked_notes = _explained_input(args, source)
        notes += picked_notes
        value_range = _value_range(args, source, notes, progress, x)
        settings = AttackSettings(method=args.method, epsilon=args.eps, norm=args.norm,
                                  steps=args.steps, step_size=args.step_size,
                                  random_start=args.random_start, target=args.target,
                                  value_range=value_range, seed=args.seed)
        result = attack(source.model, x[None], None if label is None else [label], settings, progress)
    finally:
        progress.close()
    if result.stopped:
        raise WorkbenchError("the attack was cancelled")
    if out.suffix == ".npy":
        _save_array(out, result.adversarial)
    else:
        _save_attack_picture(out, result, names)
    _report_attack(args, out, result, label, names, notes)
    return 0


def _report_attack(args, out: Path, result, label, names, notes: list[str]) -> None:
    settings = result.settings
    norms = result.norms()

    def prediction(classes, confidence):
        return {"class": int(classes[0]), "name": _name(names, int(classes[0])),
                "confidence": float(confidence[0])}

    before = prediction(result.before, result.confidence_before)
    after = prediction(result.after, result.confidence_after)
    data = {"method": settings.method, "epsilon": settings.epsilon, "norm": settings.norm,
            "steps": settings.step_count, "step_size": settings.step_length,
            "target": settings.target, "label": label, "before": before, "after": after,
            "success": bool(result.success[0]), "linf": float(norms["linf"][0]),
            "l2": float(norms["l2"][0]), "value_range": list(settings.value_range),
            "notes": notes + result.notes, "file": str(out)}

    def shown(item):
        name = f" ({item['name']})" if item["name"] else ""
        return f"{item['class']}{name} at {100 * item['confidence']:.1f}%"

    goal = f"target {settings.target}" if settings.target is not None else "untargeted"
    text = [f"{settings.method} ({settings.norm}, epsilon {settings.epsilon:g}, {goal}): "
            f"{shown(before)} -> {shown(after)}: " + ("succeeded" if data["success"] else "failed"),
            f"perturbation: L-infinity {data['linf']:.4g}, L2 {data['l2']:.4g}"]
    if label is not None:
        text.append(f"true class: {label}" + (f" ({_name(names, label)})" if _name(names, label) else ""))
    text += [f"note: {note}" for note in data["notes"]]
    text.append(f"wrote {out}")
    _emit(args, data, "\n".join(text))


def _save_attack_picture(out: Path, result, names) -> None:
    """Original | amplified perturbation | adversarial, side by side, captioned."""
    from workbench.inspect.images import save_picture

    if not result.is_image():
        raise WorkbenchError(f"the model's input is not an image, so there is no picture: write "
                             f"{out.with_suffix('.npy').name} instead")
    save_picture(out, result.sheet(class_names=names or ()))


def _sweep(args, source, out: Path, notes: list[str], progress) -> int:
    from workbench.generate.adversarial import AttackSettings, robustness_sweep

    if args.count < 1:
        raise WorkbenchError(f"--count must be at least 1 (got {args.count})")
    dataset = source.dataset(progress)
    x, y, split = _test_batch(dataset)
    x, y = x[:args.count], y[:args.count]
    value_range = _value_range(args, source, notes, progress, x)
    epsilons = _numbers(args.epsilons, "--epsilons") if args.epsilons else \
        [float(v) for v in np.linspace(0, args.eps, 9)]
    methods = ["fgsm", "pgd"] + (["bim"] if args.method == "bim" else [])
    settings = AttackSettings(method=args.method, epsilon=args.eps, norm=args.norm, steps=args.steps,
                              step_size=args.step_size, random_start=args.random_start,
                              value_range=value_range, seed=args.seed)
    result = robustness_sweep(source.model, x, y, epsilons, methods, settings, progress)
    if result.stopped:
        raise WorkbenchError("the sweep was cancelled")
    rows = result.rows()
    if out.suffix == ".png":
        save_sweep_plot(result, out)
    elif out.suffix == ".csv":
        from workbench.fileio import write_text_atomic
        from workbench.inspect.embed_cli import _rows_csv

        write_text_atomic(out, _rows_csv(rows))
    else:
        from workbench.fileio import write_json_atomic

        write_json_atomic(out, {"norm": result.norm, "steps": result.steps, "samples": result.samples,
                                "split": split, "clean_accuracy": result.clean_accuracy, "rows": rows})
    data = {"file": str(out), "samples": result.samples, "split": split, "norm": result.norm,
            "steps": result.steps, "clean_accuracy": result.clean_accuracy, "rows": rows,
            "notes": notes}
    text = [f"accuracy on {result.samples} {split} inputs ({result.norm}; clean "
            f"{result.clean_accuracy:.3f}):", "  epsilon  " + "  ".join(f"{m:>6}" for m in methods)]
    text += [f"  {row['epsilon']:<7.4g}  " + "  ".join(f"{row[m + '_accuracy']:6.3f}" for m in methods)
             for row in rows]
    text += [f"note: {note}" for note in notes]
    text.append(f"wrote {out}")
    _emit(args, data, "\n".join(text))
    return 0


def _test_batch(dataset):
    """Inputs and class labels to measure robustness on: the source's test set, else the
    validation data, else the training data."""
    candidates = [(dataset.extras.get("x_test"), dataset.extras.get("y_test"), "test"),
                  (dataset.x_val, dataset.y_val, "validation"),
                  (dataset.x_train, dataset.y_train, "training")]
    for x, y, split in candidates:
        if x is not None and y is not None and len(x):
            return np.asarray(x, np.float32), np.asarray(y), split
    raise WorkbenchError("the run's data have no labelled inputs in memory to measure accuracy on "
                         "(streamed data are not supported by --sweep)")


def save_sweep_plot(result, path: str | Path) -> None:
    """Accuracy against epsilon, one line per attack, as a PNG (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from workbench.inspect.embed_cli import _save_figure

    figure = Figure(figsize=(6, 4), dpi=110)
    axes = figure.add_subplot()
    for method, values in result.accuracy.items():
        axes.plot(result.epsilons[:len(values)], values, marker="o", label=method.upper())
    axes.axhline(result.clean_accuracy, color="#7f7f7f", linestyle="--", linewidth=1,
                 label=f"clean {result.clean_accuracy:.3f}")
    axes.set_xlabel(f"epsilon ({'L-infinity' if result.norm == 'linf' else 'L2'})")
    axes.set_ylabel("accuracy")
    axes.set_ylim(-0.02, 1.02)
    axes.set_title(f"accuracy under attack, {result.samples} inputs", fontsize=9)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    _save_figure(figure, Path(path))


# --------------------------------------------------------------------------- helpers
def _value_range(args, source, notes: list[str], progress, x: np.ndarray | None = None):
    """The model's valid input values: --range, else the run's training data's, else 0-1
    (0-255 when the input at hand goes past 1)."""
    if args.range:
        low, high = (float(v) for v in args.range)
        if low >= high:
            raise WorkbenchError(f"--range: LOW must be below HIGH (got {low:g} {high:g})")
        return low, high
    if source.experiment is not None:
        from workbench.generate.adversarial_training import data_value_range

        found = data_value_range(source.dataset(progress))
        if found is not None:
            notes.append(f"input range {found[0]:.4g} to {found[1]:.4g}, from the run's training data")
            return found
    if x is not None and x.size and float(np.max(x)) > 1:
        notes.append("input range 0 to 255 assumed (give --range LOW HIGH if the model expects another)")
        return 0.0, 255.0
    notes.append("input range 0 to 1 assumed (give --range LOW HIGH if the model expects another)")
    return 0.0, 1.0


def _read_data_once(source) -> None:
    """Make ``source.dataset()`` load the data on its first call only: the samples and the
    value range both need them."""
    load, kept = source.dataset, []

    def dataset(progress=None):
        if not kept:
            kept.append(load(progress))
        return kept[0]

    source.dataset = dataset


def _table_output_path(out: str) -> Path:
    path = Path(out)
    if path.suffix.lower() not in SWEEP_SUFFIXES:
        raise WorkbenchError(f"{path}: with --sweep, -o takes its format from the extension: "
                             f"{', '.join(SWEEP_SUFFIXES)}")
    if not path.parent.exists():
        raise WorkbenchError(f"{path}: the folder {path.parent} does not exist")
    return path.with_suffix(path.suffix.lower())


def _names(values: list[str] | None) -> list[str] | None:
    """Layer names from ``a b`` or ``a,b`` (or both)."""
    if not values:
        return None
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def _numbers(text: str | None, flag: str) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise WorkbenchError(f"{flag} takes numbers separated by commas, e.g. 0,0.05,0.1 "
                             f"(got {text!r})") from None


def _at_least(value, least, flag: str):
    if value < least:
        raise WorkbenchError(f"{flag} must be at least {least} (got {value})")
    return value


def _positive(value: float, flag: str) -> float:
    if not value > 0:
        raise WorkbenchError(f"{flag} must be above 0 (got {value})")
    return value
