"""The ``workbench`` command: the engine without a window.

Exit codes: 0 success, 1 the input is wrong (one readable line on stderr), 2 usage, 130
interrupted (Ctrl+C; ``train`` then stops after the batch under way and keeps the run).
Every command takes ``--json`` for machine-readable output on stdout.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from workbench import __version__
from workbench.errors import WorkbenchError
from workbench.experiment import Experiment
from workbench.graph.graph import ModelGraph
from workbench.modelio import MODEL_SUFFIXES

EXIT_OK, EXIT_INPUT, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # the shell's code for a command ended by Ctrl+C


class _Parser(argparse.ArgumentParser):
    """argparse with the project's usage exit code."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"workbench: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2) if args.json else text)


def _load_graph(path: str, allow_unsafe: bool) -> tuple[ModelGraph, dict, Experiment | None]:
    """A graph and its weights from an experiment (.json) or a model file (.keras/.h5)."""
    from workbench.graph.convert import from_keras
    from workbench.modelio import load_model_file

    if Path(path).suffix.lower() in MODEL_SUFFIXES:
        graph, weights = from_keras(load_model_file(path, allow_unsafe), layout=False)
        return graph, weights, None
    if allow_unsafe:
        from workbench.backend import allow_unsafe_deserialization

        allow_unsafe_deserialization()
    experiment = Experiment.load(path)
    return experiment.graph, experiment.load_weights(), experiment


# --------------------------------------------------------------------- commands
def _load_experiment(args: argparse.Namespace) -> Experiment:
    """The experiment named on the command line; a model file gets a pointer to the right
    command, and --unsafe is honoured before any layer is rebuilt."""
    path = Path(args.experiment)
    if path.suffix.lower() in MODEL_SUFFIXES:
        raise WorkbenchError(f"{path}: is a Keras model, not an experiment: use `workbench "
                             f"summary {path}` or `workbench import {path} -o EXPERIMENT.json`")
    if getattr(args, "unsafe", False):
        from workbench.backend import allow_unsafe_deserialization

        allow_unsafe_deserialization()
    return Experiment.load(path)


def cmd_validate(args: argparse.Namespace) -> int:
    from workbench.graph.validate import validate

    experiment = _load_experiment(args)
    report = validate(experiment.graph)
    errors = [{"node": n, "message": m} for n, m in report.errors()]
    warnings = [{"node": n, "message": m} for n, m in report.warnings()]
    lines = [f"{args.experiment}: {e['node'] + ': ' if e['node'] else ''}{e['message']}"
             for e in errors]
    lines += [f"{args.experiment}: warning: {w['node']}: {w['message']}" for w in warnings]
    if report.ok:
        lines.append(f"{args.experiment}: ok ({len(experiment.graph)} nodes, "
                     f"{report.total_params:,} parameters)")
    _emit(args, {"ok": report.ok, "errors": errors, "warnings": warnings,
                 "parameters": report.total_params}, "\n".join(lines))
    return EXIT_OK if report.ok else EXIT_INPUT


def summary_rows(graph: ModelGraph) -> tuple[list[dict], Any]:
    """One row per node in dependency order, with the validation report."""
    from workbench.graph.validate import topological_order, validate

    report = validate(graph)
    order, cyclic = topological_order(graph)
    rows = []
    for node_id in order + sorted(cyclic):
        node, info = graph.nodes[node_id], report.nodes[node_id]
        rows.append({
            "name": node_id,
            "type": f"{node.type} (shares {node.shares})" if node.shares else node.type,
            "output_shape": [list(t.shape) for t in info.outputs] if info.outputs else None,
            "parameters": info.params,
            "inputs": [e.source for e in graph.in_edges(node_id)],
            "errors": info.errors,
        })
    return rows, report


def _shape_text(shapes: list | None) -> str:
    from workbench.graph.describe import shape_text

    if shapes is None:
        return "?"
    texts = [shape_text(s) for s in shapes]
    return texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"


def cmd_summary(args: argparse.Namespace) -> int:
    graph, _, _ = _load_graph(args.model, args.unsafe)
    rows, report = summary_rows(graph)
    total, trainable = report.total_params, report.trainable_params
    data = {"name": graph.name, "layers": rows, "total_parameters": total,
            "trainable_parameters": trainable, "non_trainable_parameters": total - trainable,
            "errors": [{"node": n, "message": m} for n, m in report.errors()]}
    width = max([len(r["name"]) for r in rows] + [10])
    type_width = max([len(r["type"]) for r in rows] + [10])
    lines = [f'Model "{graph.name}"', f"{'Layer':<{width}}  {'Type':<{type_width}}  "
             f"{'Output shape':<24}  {'Params':>12}"]
    lines.append("-" * len(lines[-1]))
    for r in rows:
        lines.append(f"{r['name']:<{width}}  {r['type']:<{type_width}}  "
                     f"{_shape_text(r['output_shape']):<24}  {r['parameters']:>12,}")
        lines += [f"{'':<{width}}  ! {e}" for e in r["errors"]]
    lines += [f"Total params: {total:,}", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {total - trainable:,}"]
    lines += [f"error: {problem}" for problem in report.problems]
    _emit(args, data, "\n".join(lines))
    return EXIT_OK if report.ok else EXIT_INPUT


def cmd_import(args: argparse.Namespace) -> int:
    from workbench.graph.convert import from_keras, weight_count
    from workbench.modelio import load_model_file

    output = Path(args.output)
    if output.suffix.lower() != ".json":
        raise WorkbenchError(f"{output}: the experiment file name must end in .json")
    model = load_model_file(args.model, args.unsafe)
    graph, weights = from_keras(model)
    graph.name = model.name
    experiment = Experiment(name=args.name or Path(args.model).stem, graph=graph, path=output)
    weights_path = output.with_name(output.stem + ".weights.npz")
    if weights:
        experiment.save_weights(weights, weights_path)
    experiment.save(output)
    data = {"experiment": str(output), "layers": len(graph),
            "weights": str(weights_path) if weights else None,
            "weight_values": weight_count(weights)}
    text = f"imported {len(graph)} layers from {args.model} into {output}"
    if weights:
        text += f"; {weight_count(weights):,} weight values in {weights_path}"
    _emit(args, data, text)
    return EXIT_OK


def cmd_build(args: argparse.Namespace) -> int:
    from workbench.graph.convert import build_model
    from workbench.modelio import save_model_file

    output = Path(args.output)
    if output.suffix.lower() not in MODEL_SUFFIXES:
        raise WorkbenchError(f"{output}: the model file name must end in .keras or .h5")
    if not output.parent.exists():
        raise WorkbenchError(f"{output}: the folder {output.parent} does not exist")
    experiment = _load_experiment(args)
    result = build_model(experiment.graph, experiment.load_weights())
    save_model_file(result.model, output)
    params = int(result.model.count_params())
    data = {"model": str(output), "parameters": params, "fresh_weights": result.skipped}
    text = f"built {experiment.name} ({params:,} parameters) into {output}"
    if result.skipped:
        text += "\nnote: fresh weights for " + ", ".join(result.skipped) + " (their shape changed)"
    _emit(args, data, text)
    return EXIT_OK


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (else a usage error, exit 2)."""
    return _whole_number(text, 1)


def index_int(text: str) -> int:
    """An argparse type: a whole number of at least 0, an index (else a usage error, exit 2)."""
    return _whole_number(text, 0)


def _whole_number(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be at least {least} (got {value})")
    return value


@contextmanager
def _ctrl_c_stops(session):
    """The first Ctrl+C stops ``session`` after its current batch, as the Train panel's Stop
    does (the run is kept, marked stopped, with its model); a second one quits at once."""
    if threading.current_thread() is not threading.main_thread():
        yield []  # signal handlers can only be set from the main thread
        return
    asked = []

    def on_interrupt(signum, frame):
        if asked:
            raise KeyboardInterrupt
        asked.append(True)
        print("\nworkbench: stopping after this batch (Ctrl+C again to quit at once)",
              file=sys.stderr, flush=True)
        session.stop()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield asked
    finally:
        signal.signal(signal.SIGINT, previous)


def cmd_train(args: argparse.Namespace) -> int:
    from workbench.runs import RunStore
    from workbench.tasks import ConsoleProgress
    from workbench.training import TrainingSession

    experiment = _load_experiment(args)
    progress = ConsoleProgress()
    session = TrainingSession(experiment, store=RunStore(Path(args.runs_dir)), progress=progress,
                              weights=experiment.load_weights(), epochs=args.epochs)
    with _ctrl_c_stops(session) as interrupted:
        result = session.run()
    progress.close()
    metrics = result.final_metrics
    data = {"status": result.status, "reason": result.reason,
            "run": str(result.run.path) if result.run else None, "final_metrics": metrics}
    shown = " · ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k != "lr")
    text = f"{result.status}: {experiment.name}" + (f" ({shown})" if shown else "")
    if result.reason:
        text += f"\n{result.reason}"
    if result.run is not None:
        text += f"\nrun folder: {result.run.path}"
    _emit(args, data, text)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if result.status == "finished" else EXIT_INPUT


def cmd_lr_find(args: argparse.Namespace) -> int:
    from workbench.tasks import ConsoleProgress
    from workbench.training.lr_finder import RangeTestConfig, find_lr

    experiment = _load_experiment(args)
    settings = {k: v for k, v in {"start": args.start, "end": args.end, "iterations": args.iterations,
                                  "mode": args.mode, "seed": args.seed}.items() if v is not None}
    config = RangeTestConfig.from_dict(settings)
    if args.plot and Path(args.plot).suffix.lower() != ".png":
        raise WorkbenchError(f"{args.plot}: --plot writes PNG: name it *.png")
    progress = ConsoleProgress()
    result = find_lr(experiment, config=config, progress=progress, weights=experiment.load_weights())
    progress.close()
    if args.plot:
        from workbench.training.lr_plot import save_lr_plot

        save_lr_plot(result, args.plot)
    lines = [f"LR range test on {experiment.name}: {result.batches} batches in {result.seconds:.1f}s"
             + (f" ({result.stopped})" if result.stopped else "")]
    lines += [f"  {s.lr:10.3g}  {s.label}" for s in result.suggestions]
    if not result.suggestions:
        lines.append("  no suggestion: the loss did not fall; try a wider range (--start, --end)")
    if args.plot:
        lines.append(f"plot: {args.plot}")
    _emit(args, result.to_dict(), "\n".join(lines))
    return EXIT_OK


# ------------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="workbench", description="Keras Workbench from the command line.")
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    def add(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--json", action="store_true", help="print machine-readable JSON")
        sub.set_defaults(handler=handler)
        return sub

    unsafe_help = "allow Lambda layers (runs Python code stored in the file)"
    sub = add("validate", cmd_validate, "check an experiment: errors per node; exit 1 if any")
    sub.add_argument("experiment", help="experiment file (.json)")
    sub.add_argument("--unsafe", action="store_true", help=unsafe_help)

    sub = add("summary", cmd_summary, "layers, output shapes and parameter counts")
    sub.add_argument("model", help="experiment (.json) or model file (.keras, .h5)")
    sub.add_argument("--unsafe", action="store_true",
                     help="allow models with Lambda layers (runs code from the file)")

    sub = add("import", cmd_import, "turn a .keras/.h5 model into an editable experiment")
    sub.add_argument("model", help="model file (.keras, .h5)")
    sub.add_argument("-o", "--output", required=True, help="experiment file to write (.json)")
    sub.add_argument("--name", help="experiment name (default: the model file's name)")
    sub.add_argument("--unsafe", action="store_true",
                     help="allow models with Lambda layers (runs code from the file)")

    sub = add("build", cmd_build, "build the experiment's model and save it as .keras or .h5")
    sub.add_argument("experiment", help="experiment file (.json)")
    sub.add_argument("-o", "--output", required=True, help="model file to write (.keras, .h5)")
    sub.add_argument("--unsafe", action="store_true", help=unsafe_help)
    sub = add("train", cmd_train, "train the experiment's model; every run is kept in a folder")
    sub.add_argument("experiment", help="experiment file (.json)")
    sub.add_argument("--epochs", type=positive_int,
                     help="override the experiment's number of epochs")
    sub.add_argument("--runs-dir", default="runs", help="where run folders go (default: runs)")

    sub = add("lr-find", cmd_lr_find, "LR range test: loss against a rising learning rate, with suggestions")
    sub.add_argument("experiment", help="experiment file (.json)")
    sub.add_argument("--plot", help="write the curve as a picture (.png)")
    sub.add_argument("--start", type=float, help="first learning rate (default 1e-7)")
    sub.add_argument("--end", type=float, help="last learning rate (default 10)")
    sub.add_argument("--iterations", type=int, help="mini-batches from start to end (default 100)")
    sub.add_argument("--mode", choices=["exponential", "linear"],
                     help="how the rate rises (default exponential)")
    sub.add_argument("--seed", type=int, help="seed for batches and dropout (default 0)")
    sub.add_argument("--unsafe", action="store_true", help=unsafe_help)

    from workbench import presets_cli as presets_commands
    from workbench.export import cli as export_commands
    from workbench.generate import cli as generate_commands
    from workbench.inspect import cli as inspect_commands
    from workbench.inspect import embed_cli as embed_commands
    from workbench.scale import k8s_cli as k8s_commands
    from workbench.scale import tune_cli as tune_commands

    inspect_commands.add_commands(add)  # explain, filters
    embed_commands.add_commands(add)  # embed, evaluate
    export_commands.add_commands(add)  # export
    generate_commands.add_commands(add)  # style, attack
    k8s_commands.add_commands(add)  # k8s
    tune_commands.add_commands(add)  # tune
    presets_commands.add_commands(add)  # lessons, lesson
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except WorkbenchError as error:
        print(f"workbench: error: {error}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError:
        print("workbench: error: out of memory", file=sys.stderr)
        return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
