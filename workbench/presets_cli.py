"""The ``lessons`` and ``lesson`` commands, registered by ``add_commands`` into ``workbench``.

``workbench lessons`` lists the bundled preset groups (``workbench.presets``) with their lesson.
``workbench lesson GROUP`` trains every member of a group with every seed, prints the lesson and
a table (the compared metric's final value over the seeds, the focus classes' scores when the
group evaluates, a snapshot ensemble against its final model) and can write the curves as a PNG
(``--plot``), every epoch of every run as CSV (``--csv``) and everything as JSON (``--json``).

Ctrl+C asks the training to stop after the current batch: the runs finished so far stay in the
run store and are reported, and the command exits 130. A second Ctrl+C quits at once.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import shutil
import signal
import sys
import textwrap
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.fileio import write_atomic, write_text_atomic

EXIT_INTERRUPTED = 130
_GROUP_FILE = "group.json"


def add_commands(add) -> None:
    """Register ``lessons`` and ``lesson``; ``add(name, handler, help)`` returns a sub-parser
    that already has ``--json``."""
    add("lessons", cmd_lessons, "the bundled lessons: preset groups of experiments to compare")

    sub = add("lesson", cmd_lesson,
              "train every member of a lesson with every seed and compare them (curves with bands)")
    sub.add_argument("group", metavar="GROUP",
                     help="a bundled lesson's key (see `workbench lessons`) or a folder with a group.json")
    sub.add_argument("--seeds", help="training seeds, e.g. 0,1,2 (default: the lesson's own)")
    sub.add_argument("--epochs", type=int, help="override every member's number of epochs")
    sub.add_argument("--members", help="train only these members, e.g. zeros,noise (names or file names)")
    sub.add_argument("--runs-dir", default="runs", help="where run folders go (default: runs)")
    sub.add_argument("--plot", help="write the compared metric's curves, one band per member (.png)")
    sub.add_argument("--csv", help="write every epoch of every run as a table (.csv)")


# ---------------------------------------------------------------------- lessons
def cmd_lessons(args: argparse.Namespace) -> int:
    from workbench.presets import bundled_presets

    groups = bundled_presets()
    if args.json:
        print(json.dumps([group_info(group) for group in groups], indent=2))
        return 0
    width = _text_width()
    blocks = []
    for group in groups:
        info = group_info(group)
        lines = [f"{group.key}: {group.name}"]
        for label, text in (("members", ", ".join(m["name"] for m in info["members"])),
                            ("compares", _compare_text(info["compare"]))):
            lines += textwrap.wrap(f"{label}: {text}", width, initial_indent="  ",
                                   subsequent_indent="    ", break_on_hyphens=False)
        lines += textwrap.wrap(group.lesson, width, initial_indent="  ", subsequent_indent="  ")
        blocks.append("\n".join(lines))
    blocks.append(f"{len(groups)} lessons; run one with `workbench lesson KEY` "
                  "(e.g. --seeds 0 --epochs 3 for a quick look)")
    print("\n\n".join(blocks))
    return 0


def group_info(group) -> dict:
    """A preset group as plain data: key, name, folder, lesson, members, compare."""
    compare = group.compare
    return {"key": group.key, "name": group.name, "path": str(group.path) if group.path else None,
            "lesson": group.lesson,
            "members": [{"name": m.name, "file": m.path.name if m.path else None,
                         "description": m.description} for m in group.members],
            "compare": {"metric": compare.metric, "metrics": list(compare.metrics),
                        "seeds": list(compare.seeds), "evaluate": compare.evaluate,
                        "focus_classes": list(compare.focus_classes)}}


def _compare_text(compare: dict) -> str:
    text = compare["metric"]
    more = [m for m in compare["metrics"] if m != compare["metric"]]
    if more:
        text += f" (also {', '.join(more)})"
    seeds = compare["seeds"]
    text += f" over seed{'s' if len(seeds) != 1 else ''} {', '.join(map(str, seeds))}"
    if compare["evaluate"]:
        focus = compare["focus_classes"]
        text += "; per-class scores" + (f" of classes {', '.join(map(str, focus))}" if focus else "")
    return text


# ----------------------------------------------------------------------- lesson
def cmd_lesson(args: argparse.Namespace) -> int:
    from workbench.presets import parse_seeds, run_group, summarize

    group = open_group(args.group)
    try:
        seeds = parse_seeds(args.seeds) if args.seeds is not None else list(group.compare.seeds)
    except WorkbenchError as error:
        raise WorkbenchError(f"--seeds: {error}") from None
    if args.epochs is not None and args.epochs < 1:
        raise WorkbenchError(f"--epochs must be at least 1 (got {args.epochs})")
    members = _chosen_members(group, args.members)
    plot = _output(args.plot, ".png", "--plot") if args.plot else None
    table = _output(args.csv, ".csv", "--csv") if args.csv else None
    if not args.json:
        print(f"{group.name} ({group.key})\n\n{_wrapped(group.lesson)}\n", flush=True)
    progress = _progress()
    try:
        with _stop_on_interrupt(progress):
            runs = run_group(group, seeds=seeds, epochs=args.epochs, runs_dir=args.runs_dir,
                             progress=progress, members=members)
    finally:
        progress.close()
    planned = len(members) * len(seeds)
    interrupted = progress.cancelled()
    # A run cut short by Ctrl+C is kept on disk (status "stopped") but left out of the numbers.
    cut = [run for member_runs in runs.values() for run in member_runs if run.result.status == "stopped"]
    if interrupted:
        runs = {name: [run for run in member_runs if run.result.status != "stopped"]
                for name, member_runs in runs.items()}
    summary = summarize(group, runs)
    summary.update(seeds=seeds, epochs=args.epochs, runs_dir=str(args.runs_dir),
                   interrupted=interrupted, planned_runs=planned,
                   plot=str(plot) if plot else None, csv=str(table) if table else None)
    if plot:
        save_curves_png(group, runs, plot)
    if table:
        write_text_atomic(table, runs_csv(group, runs))
    if args.json:
        print(json.dumps(_json_safe(summary), indent=2))
    else:
        print(summary_text(summary))
    if interrupted:
        done = sum(len(member_runs) for member_runs in runs.values())
        note = f" (the cut run is kept as stopped: {cut[0].member}, seed {cut[0].seed})" if cut else ""
        print(f"workbench: interrupted after {done} of {planned} runs; the finished runs are kept in "
              f"{args.runs_dir}{note}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def open_group(text: str):
    """A bundled group by key or name, or a group folder (or its group.json) by path."""
    from workbench.presets import find_preset, load_group

    path = Path(text)
    if path.name == _GROUP_FILE and path.is_file():
        return load_group(path.parent)
    if path.is_dir() or len(path.parts) > 1:
        if not path.exists():
            raise WorkbenchError(f"{path}: no such folder: give a folder with a {_GROUP_FILE} or a "
                                 "bundled lesson's key (see `workbench lessons`)")
        return load_group(path)
    return find_preset(text)


def _chosen_members(group, text: str | None) -> list[str]:
    if text is None:
        return group.member_names
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise WorkbenchError(f"--members takes member names separated by commas; the members are "
                             f"{', '.join(group.member_names)}")
    chosen = [group.member(name).name for name in names]  # an unknown name lists the members
    return list(dict.fromkeys(chosen))


def _output(text: str, suffix: str, flag: str) -> Path:
    path = Path(text)
    if path.suffix.lower() != suffix:
        raise WorkbenchError(f"{path}: {flag} takes its format from the extension: name it *{suffix}")
    if str(path.parent) and not path.parent.is_dir():
        raise WorkbenchError(f"{path}: the folder {path.parent} does not exist")
    return path


def _progress():
    from workbench.tasks import ConsoleProgress

    return ConsoleProgress()


@contextmanager
def _stop_on_interrupt(progress):
    """While the group trains, the first Ctrl+C cancels ``progress`` (training stops after the
    current batch and the finished runs are kept); a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _handle(signum, frame):
        if progress.cancelled():
            raise KeyboardInterrupt
        progress.cancel()
        print(("\n" if sys.stderr.isatty() else "")  # end the progress bar's line first
              + "workbench: stopping after the current batch (Ctrl+C again to quit now)",
              file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, _handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# ---------------------------------------------------------------------- summary
def summary_text(summary: dict) -> str:
    """The summary as an aligned table for a terminal, with notes on failed runs."""
    metric = summary["metric"]
    members = summary["members"]
    header = ["member", "seeds", f"final {metric}", "min..max"]
    focus_labels = []
    if summary["focus_classes"] and members:
        focus_labels = [f"class {f['label']}" if f["label"] == str(f["class"]) else f["label"]
                        for f in members[0]["focus"]]
        for label in focus_labels:
            header += [f"{label} recall", f"{label} precision", f"{label} F1"]
    ensemble_keys = sorted({k for m in members for k in m["ensemble"] if k.startswith("ensemble_")})
    for key in ensemble_keys:
        score = key[len("ensemble_"):]
        header += [f"ensemble {score}", f"final model {score}"]
    rows = []
    for member in members:
        final = member["final"]
        row = [member["name"], str(len(member["runs"])), _mean_std(final),
               "–" if final["min"] is None else f"{final['min']:.4g}..{final['max']:.4g}"]
        for scores in member["focus"]:
            row += [_number(scores[key]) for key in ("recall", "precision", "f1")]
        for key in ensemble_keys:
            row += [_number(member["ensemble"].get(key)),
                    _number(member["ensemble"].get("final_" + key[len("ensemble_"):]))]
        rows.append(row)
    widths = [max(len(cells[i]) for cells in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                       for i, (cell, width) in enumerate(zip(cells, widths))).rstrip()
             for cells in [header, *rows]]
    lines.insert(1, "-" * len(lines[0]))
    if focus_labels:
        lines.append("focus classes: per-class scores on the validation data, mean over the seeds")
    for member in members:
        for run in member["runs"]:
            if run["status"] == "failed":
                lines.append(f"failed: {member['name']}, seed {run['seed']}: {run['reason']}")
    done = sum(len(m["runs"]) for m in members)
    lines.append(f"{done} run{'s' if done != 1 else ''} kept in {summary['runs_dir']}")
    for key in ("plot", "csv"):
        if summary.get(key):
            lines.append(f"{key}: {summary[key]}")
    return "\n".join(lines)


def _mean_std(stats: dict) -> str:
    if stats["mean"] is None:
        return "–"
    if stats["count"] == 1:
        return f"{stats['mean']:.4g}"
    return f"{stats['mean']:.4g} ± {stats['std']:.2g}"


def _number(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def _wrapped(text: str) -> str:
    return "\n".join(textwrap.wrap(text, _text_width()))


def _text_width() -> int:
    return max(40, min(100, shutil.get_terminal_size((100, 24)).columns - 1))


# ---------------------------------------------------------------------- outputs
def runs_csv(group, runs: dict[str, list]) -> str:
    """One row per member, seed and epoch: every history key as a column, the compared ones first."""
    found = {key for member_runs in runs.values() for run in member_runs for key in run.history}
    keys = [k for k in group.compare.keys if k in found] + sorted(found - set(group.compare.keys))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["member", "seed", "status", "epoch", *keys])
    for name, member_runs in runs.items():
        for run in member_runs:
            epochs = max((len(column) for column in run.history.values()), default=0)
            for epoch in range(epochs):
                writer.writerow([name, run.seed, run.result.status, epoch + 1,
                                 *(_cell(run.history.get(key), epoch) for key in keys)])
    return buffer.getvalue()


def _cell(column, epoch: int) -> str:
    if not column or epoch >= len(column):
        return ""
    return f"{float(column[epoch]):.6g}"


def save_curves_png(group, runs: dict[str, list], path: str | Path) -> None:
    """Each member's mean curve of the compared metric per epoch, with its min-max band over
    the seeds, titled with the group's name."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from workbench.presets import curves

    metric = group.compare.metric
    figure = Figure(figsize=(7.5, 4.5), dpi=110)
    axes = figure.add_subplot()
    colours = matplotlib.colormaps["tab10"]
    drawn = 0
    for index, (name, band) in enumerate(curves(runs, metric).items()):
        if not band["epoch"]:
            continue
        colour = colours(index % colours.N)
        seeds = band["runs"]
        axes.plot(band["epoch"], band["mean"], color=colour, linewidth=2, marker="o", markersize=3,
                  label=f"{name} ({seeds} seed{'s' if seeds != 1 else ''})")
        if seeds > 1:
            axes.fill_between(band["epoch"], band["min"], band["max"], color=colour, alpha=0.2, linewidth=0)
        drawn += 1
    if drawn:
        axes.legend(fontsize=8, loc="best")
    else:
        axes.text(0.5, 0.5, f"no run recorded {metric}", ha="center", va="center", transform=axes.transAxes)
    axes.set_xlabel("epoch")
    axes.set_ylabel(metric)
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.grid(True, alpha=0.25)
    axes.set_title(group.name, fontsize=10)
    figure.tight_layout()
    path = Path(path)
    try:
        write_atomic(path, lambda tmp: figure.savefig(tmp, format="png"))
    except OSError as error:
        raise WorkbenchError(f"{path}: cannot write the plot ({error.strerror or error})") from None


def _json_safe(value: Any) -> Any:
    """NaN and infinity become null: the JSON stays readable by strict parsers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return _json_safe(value.item())
    return value

