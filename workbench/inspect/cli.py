"""The ``workbench explain`` and ``workbench filters`` commands.

``add_commands(add)`` registers them on the main parser (``add(name, handler, help)`` returns a
sub-parser that already has ``--json``). Handlers return an exit code and raise
``WorkbenchError`` for bad input. ``-o`` takes its format from the extension: ``.png`` writes
a picture, ``.npy`` the array.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from workbench.errors import WorkbenchError

OUTPUT_SUFFIXES = (".png", ".npy")
UNSAFE_HELP = "allow Lambda layers (runs Python code stored in the file)"


def add_commands(add) -> None:
    """Register ``explain`` and ``filters``."""
    from workbench.cli import index_int, positive_int  # the main CLI imports this module
    from workbench.inspect.explain import METHODS

    sub = add("explain", cmd_explain,
              "heat map of what drives a class score: saliency (gradient, smoothgrad, ...) or CAM")
    _source_arguments(sub)
    sub.add_argument("--method", default="grad_cam",
                     help=f"one of {', '.join(METHODS)} (default grad_cam)")
    given = sub.add_mutually_exclusive_group(required=True)
    given.add_argument("--input", help="an image file to explain (resized to the model's input)")
    given.add_argument("--sample", type=int,
                       help="explain sample I of the run's validation data (run folders only)")
    sub.add_argument("--class", dest="class_index", type=index_int,
                     help="the class to explain (default: the predicted one)")
    sub.add_argument("--layer", help="the layer CAM methods weigh (default: the last convolution; "
                                     "nested layers as backbone/conv2d)")
    sub.add_argument("--model-output", dest="model_output",
                     help="which model output to explain, by index or layer name (default: the first)")
    sub.add_argument("--samples", type=int, help="smoothgrad: noisy copies (default 25)")
    sub.add_argument("--noise", type=float,
                     help="smoothgrad: noise as a share of the input range (default 0.15)")
    sub.add_argument("--steps", type=positive_int,
                     help="integrated_gradients: path steps (default 32)")
    sub.add_argument("--baseline", type=float,
                     help="integrated_gradients: the baseline value (default 0)")
    sub.add_argument("--colormap", default="jet", help="matplotlib colormap (default jet)")
    sub.add_argument("--alpha", type=float, default=0.5, help="heat map opacity 0-1 (default 0.5)")
    sub.add_argument("--pixels", choices=["auto", "unit", "raw"], default="auto",
                     help="how --input pixels (0-255) reach the model: unit divides by 255, raw "
                          "passes them as they are; auto prepares them like the run's data, or "
                          "divides by 255 unless the model starts with a Rescaling layer")
    sub.add_argument("-o", "--output", dest="out", required=True,
                     help="where to write: .png (image, heat map, overlay) or .npy (the map)")

    sub = add("filters", cmd_filters,
              "what a layer learnt: its kernels (or dense templates), or inputs maximizing its filters")
    _source_arguments(sub)
    sub.add_argument("--layer", help="the layer (default: the first convolution; with --maximize, "
                                     "the last, or the class scores of a model without one)")
    sub.add_argument("--maximize", action="store_true",
                     help="activation maximization: an input per filter, from noise")
    sub.add_argument("--count", type=int, default=16, help="how many filters (default 16)")
    sub.add_argument("--filters", help="which filters, e.g. 0,3,7 (default: the first --count)")
    sub.add_argument("--steps", type=positive_int, default=100,
                     help="--maximize: ascent steps (default 100)")
    sub.add_argument("--seed", type=int, default=0, help="--maximize: noise seed (default 0)")
    sub.add_argument("--range", nargs=2, type=float, metavar=("LOW", "HIGH"),
                     help="--maximize: the input values the model expects (default: the run's "
                          "training data, else 0 1)")
    sub.add_argument("-o", "--output", dest="out", required=True,
                     help="where to write: .png (a grid of tiles) or .npy (the tiles)")


def _source_arguments(sub) -> None:
    sub.add_argument("model", help="a model file (.keras, .h5) or a run folder")
    sub.add_argument("--checkpoint", choices=["best", "final"], default="best",
                     help="which model of a run (default best, else final)")
    sub.add_argument("--unsafe", action="store_true", help=UNSAFE_HELP)


# --------------------------------------------------------------------------- explain
def cmd_explain(args: argparse.Namespace) -> int:
    from workbench.inspect.explain import explain, method_name
    from workbench.inspect.images import colorize, display_image, enlarge, overlay, resize_maps
    from workbench.inspect.source import open_model_source

    out = _output_path(args.out)
    method = method_name(args.method)
    options = {key: value for key, value in (("samples", args.samples), ("noise", args.noise),
                                             ("steps", args.steps), ("baseline", args.baseline))
               if value is not None}
    source = open_model_source(args.model, args.unsafe, args.checkpoint)
    x, shown, label, names, notes = _explained_input(args, source)
    result = explain(source.model, x[None], method, class_index=args.class_index,
                     layer=args.layer, output=args.model_output, **options)
    heat = result.maps[0]
    if out.suffix == ".npy":
        _save_array(out, heat)
    else:
        from workbench.inspect.images import save_picture

        if heat.ndim != 2:
            raise WorkbenchError(f"the model's input is not an image, so there is no picture: "
                                 f"write {out.with_suffix('.npy').name} instead")
        image = enlarge(display_image(shown))
        big = resize_maps(heat[None], image.shape[:2])[0]
        panels = [image, colorize(big, args.colormap), overlay(image, big, args.colormap, args.alpha) / 255]
        gap = np.ones((image.shape[0], 4, 3), np.float32)
        save_picture(out, np.concatenate([panels[0], gap, panels[1], gap, panels[2]], axis=1))
    cls, predicted = int(result.classes[0]), int(result.predicted[0])
    data = {"method": method, "class": cls, "class_name": _name(names, cls),
            "score": float(result.scores[0]), "predicted": predicted,
            "predicted_name": _name(names, predicted), "label": label,
            "output": result.output, "layer": result.layer, "notes": notes + result.notes,
            "file": str(out)}
    text = [f"{method} of class {cls}{_named(names, cls)}: score {data['score']:.4g} before "
            f"softmax/sigmoid; predicted {predicted}{_named(names, predicted)}"
            + (f"; true {label}{_named(names, label)}" if label is not None else "")]
    if result.layer:
        text.append(f"layer: {result.layer}")
    text += [f"note: {note}" for note in data["notes"]]
    text.append(f"wrote {out}")
    _emit(args, data, "\n".join(text))
    return 0


def _explained_input(args, source):
    """The model input, the picture to show, the true label, class names and notes."""
    from workbench.inspect.images import fit_image, load_image, prepare_pixels
    from workbench.inspect.layers import model_inputs

    model = source.model
    inputs = model_inputs(model)
    if len(inputs) != 1:
        raise WorkbenchError(f"model {model.name!r} has {len(inputs)} inputs: explain "
                             "works on models with one input")
    input_shape = tuple(inputs[0].shape[1:])
    if args.sample is not None:
        dataset = source.dataset(_progress())
        x, y, split = dataset.x_val, dataset.y_val, "validation"
        notes = []
        if x is None or len(x) == 0:
            x, y, split = dataset.x_train, dataset.y_train, "training"
            notes.append("the run has no validation data: the sample is from the training data")
        if x is None:
            raise WorkbenchError("the run's data are streamed from disk: give an image file (--input)")
        if not 0 <= args.sample < len(x):
            raise WorkbenchError(f"--sample {args.sample} does not exist: the {split} data have "
                                 f"{len(x)} samples (0 to {len(x) - 1})")
        label = _label(None if y is None else y[args.sample])
        return x[args.sample], x[args.sample], label, dataset.class_names, notes
    image, notes = fit_image(load_image(args.input), input_shape)
    known = args.pixels == "auto" and source.experiment is not None
    dataset = source.dataset(_progress()) if known else None
    prepared, done, guessed = prepare_pixels(image, model, dataset, args.pixels)
    notes += done
    if guessed:
        notes.append("use --pixels raw if the model expects 0-255")
    names = dataset.class_names if dataset is not None else None
    return prepared, image, None, names, notes


def _label(y):
    if y is None:
        return None
    y = np.asarray(y)
    if y.ndim == 0:
        return int(y)
    if y.ndim == 1 and y.size > 1:
        return int(np.argmax(y))  # one-hot
    return None


# --------------------------------------------------------------------------- filters
def cmd_filters(args: argparse.Namespace) -> int:
    from workbench.inspect.images import enlarge, grid, save_picture
    from workbench.inspect.layers import conv_layers, find_layer, last_conv_layer, layer_path
    from workbench.inspect.source import open_model_source

    out = _output_path(args.out)
    if args.count < 1:
        raise WorkbenchError(f"--count must be at least 1 (got {args.count})")
    source = open_model_source(args.model, args.unsafe, args.checkpoint)
    model = source.model
    notes: list[str] = []
    if args.maximize:
        if args.layer:
            layer = layer_path(model, args.layer)
        elif conv_layers(model):
            layer = last_conv_layer(model)
        else:  # as the Inspect tab does: what each class looks like to the model
            layer = None
            notes.append("the model has no convolution: its class scores are maximized "
                         "(name a layer with --layer)")
        tiles, extra = _maximized(args, source, layer, notes)
    else:
        from workbench.inspect.features import dense_templates, kernel_tiles

        if args.layer is None and not conv_layers(model):
            layer, tiles = None, dense_templates(model)
        elif args.layer is not None and type(find_layer(model, args.layer)).__name__ == "Dense":
            layer, tiles = layer_path(model, args.layer), dense_templates(model, args.layer)
        else:
            layer = layer_path(model, args.layer) if args.layer else conv_layers(model)[0]
            tiles = kernel_tiles(model, layer)
        chosen = _chosen_filters(args, len(tiles))
        tiles, extra = tiles[chosen], {"filters": [int(i) for i in chosen]}
    if out.suffix == ".npy":
        _save_array(out, tiles)
    else:
        big = np.stack([enlarge(tile, 48) for tile in tiles])  # tiles of a few pixels: scale first
        save_picture(out, enlarge(grid(big, gap=2), 256))
    data = {"layer": layer, "maximize": args.maximize, "tiles": len(tiles),
            "tile_shape": list(tiles.shape[1:]), **extra, "notes": notes, "file": str(out)}
    what = "inputs maximizing" if args.maximize else "weights of"
    if args.maximize and layer is None:
        text = [f"inputs maximizing {len(tiles)} class scores"]
    else:
        text = [f"{what} {len(tiles)} filters of {layer or 'the first dense layer'}"]
    text += [f"note: {note}" for note in notes]
    text.append(f"wrote {out}")
    _emit(args, data, "\n".join(text))
    return 0


def _maximized(args, source, layer, notes):
    from workbench.inspect.layers import find_layer, output_shape
    from workbench.inspect.maximize import MaximizeSettings, maximize

    shape = output_shape(find_layer(source.model, layer)) if layer else source.model.outputs[0].shape
    available = int(shape[-1]) if shape else 0
    chosen = _chosen_filters(args, available)
    if args.range:
        value_range = tuple(args.range)
    elif source.experiment is not None:
        dataset = source.dataset(_progress())
        x = dataset.x_train if dataset.x_train is not None else None
        value_range = (float(x.min()), float(x.max())) if x is not None and x.size else (0.0, 1.0)
        notes.append(f"input range {value_range[0]:.3g} to {value_range[1]:.3g}, from the run's data")
    else:
        value_range = (0.0, 1.0)
        notes.append("input range 0 to 1 assumed (give --range LOW HIGH if the model expects another)")
    if value_range[0] >= value_range[1]:
        raise WorkbenchError(f"--range: LOW must be below HIGH (got {value_range[0]} {value_range[1]})")
    settings = MaximizeSettings(steps=args.steps, seed=args.seed, value_range=value_range)
    progress = _progress()
    result = maximize(source.model, chosen, layer, settings, progress)
    if hasattr(progress, "close"):
        progress.close()
    notes += result.notes
    gain = result.history[-1] - result.history[0]
    return result.images, {"filters": [int(i) for i in chosen],
                           "activation_start": [float(v) for v in result.history[0]],
                           "activation_end": [float(v) for v in result.history[-1]],
                           "activation_gain_mean": float(gain.mean())}


def _chosen_filters(args, available: int) -> np.ndarray:
    if args.filters:
        try:
            chosen = np.array([int(part) for part in args.filters.split(",") if part.strip()])
        except ValueError:
            raise WorkbenchError(f"--filters takes indices such as 0,3,7 (got {args.filters!r})") from None
        bad = [int(i) for i in chosen if not 0 <= i < available]
        if bad:
            raise WorkbenchError(f"filter {bad[0]} does not exist: the layer has {available} "
                                 f"(0 to {available - 1})")
        return chosen
    return np.arange(min(args.count, available))


# --------------------------------------------------------------------------- helpers
def _output_path(out: str) -> Path:
    path = Path(out)
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise WorkbenchError(f"{path}: -o takes its format from the extension: "
                             f"{' or '.join(OUTPUT_SUFFIXES)}")
    if not path.parent.exists():
        raise WorkbenchError(f"{path}: the folder {path.parent} does not exist")
    return path.with_suffix(path.suffix.lower())


def _save_array(path: Path, array: np.ndarray) -> None:
    from workbench.fileio import write_atomic

    def _write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.save(handle, np.asarray(array, np.float32))

    try:
        write_atomic(path, _write)
    except OSError as error:
        raise WorkbenchError(f"{path}: cannot write: {error.strerror or error}") from None


def _progress():
    from workbench.tasks import ConsoleProgress

    return ConsoleProgress()


def _name(names, index) -> str | None:
    return names[index] if names and index is not None and 0 <= index < len(names) else None


def _named(names, index) -> str:
    name = _name(names, index)
    return f" ({name})" if name else ""


def _emit(args, data, text: str) -> None:
    print(json.dumps(data, indent=2) if getattr(args, "json", False) else text)
