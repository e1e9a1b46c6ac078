"""The ``workbench tune`` command: hyperparameter search over the experiment's ``"search"`` space.

::

    workbench tune EXPERIMENT --search random|grid|bayesian|hyperband --trials N
                   [--workers K] [--epochs E] [--runs-dir DIR] [--plot PNG] [--json]

Every trial is a run in ``--runs-dir``; the table lists each trial's values and score, the
best marked. Without ``--workers`` the search runs in this process.

``--workers K`` runs KerasTuner's distributed search on this machine: one chief process (the
oracle, serving trials over gRPC on a free loopback port) and K worker processes that train,
each with ``cores // K`` TensorFlow threads so that they do not fight over the cores. They
are this same command with the role in KerasTuner's environment variables; the workers'
results are merged into one table, and their logs are kept in
``<runs-dir>/.search/<search-id>/workers/``.

On a real cluster, run the command on every node by hand with a shared ``--runs-dir`` (a
shared file system) and the same ``--search-id``, and set KerasTuner's variables::

    KERASTUNER_TUNER_ID=chief   KERASTUNER_ORACLE_IP=<chief address>  KERASTUNER_ORACLE_PORT=8000
    KERASTUNER_TUNER_ID=tuner0  KERASTUNER_ORACLE_IP=<chief address>  KERASTUNER_ORACLE_PORT=8000
    ...                        (one tuner id per worker: tuner1, tuner2, ...)

The chief prints the whole table when every trial is done; each worker prints its own trials.
``--threads N`` limits a process's TensorFlow threads.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from workbench.backend import usable_cores
from workbench.errors import WorkbenchError
from workbench.experiment import Experiment

LOOPBACK = "127.0.0.1"
ROLE_VARIABLES = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
# Seconds the chief gets to leave by itself after the last worker; it has recorded every trial
# by then, but KerasTuner's chief may sleep 20 s before it notices that the search is over.
_CHIEF_GRACE = 0.5


def add_commands(add) -> None:
    """Register ``tune`` (``add(name, handler, help)`` returns a sub-parser with ``--json``)."""
    from workbench.scale.search_space import METHODS

    sub = add("tune", cmd_tune, "hyperparameter search (KerasTuner) over the experiment's "
                                "\"search\" space; every trial is a run")
    sub.add_argument("experiment", help="experiment file (.json) with a \"search\" section")
    sub.add_argument("--search", dest="method", choices=METHODS,
                     help="how to choose values: random, grid, bayesian or hyperband (default: "
                          "the search section's \"method\", else random)")
    sub.add_argument("--trials", type=int,
                     help="most trials (default: the search section's \"trials\", else 10)")
    sub.add_argument("--workers", type=int,
                     help="run a KerasTuner chief and this many worker processes on this machine")
    sub.add_argument("--epochs", type=int,
                     help="epochs per trial (Hyperband: the most epochs) (default: the experiment's)")
    sub.add_argument("--runs-dir", dest="runs_dir", default="runs",
                     help="where trial runs go (default: runs)")
    sub.add_argument("--plot", help="write the scores against trial and each value (.png)")
    sub.add_argument("--seed", type=int, default=0, help="seed of KerasTuner's choices (default 0)")
    sub.add_argument("--search-id", dest="search_id",
                     help="the search's name, shared by a chief and its workers (default: new)")
    sub.add_argument("--threads", type=int, help="TensorFlow threads of this process")


def cmd_tune(args: argparse.Namespace) -> int:
    from workbench.scale.search import grid_note, run_search, save_search_plot

    experiment = _load(args.experiment)
    search = experiment.search or {}
    method = args.method or search.get("method") or "random"
    trials = args.trials if args.trials is not None else search.get("trials") or 10
    for label, value in (("--trials", trials), ("--epochs", args.epochs),
                         ("--workers", args.workers), ("--threads", args.threads)):
        if value is not None and value < 1:
            raise WorkbenchError(f"{label} must be at least 1 (got {value})")
    if args.plot and Path(args.plot).suffix.lower() != ".png":
        raise WorkbenchError(f"{args.plot}: --plot writes PNG: name it *.png")
    if args.workers:
        if any(name in os.environ for name in ROLE_VARIABLES):
            raise WorkbenchError("--workers starts its own chief and workers: unset "
                                 f"{', '.join(ROLE_VARIABLES)} or leave out --workers")
        result = run_distributed(experiment, Path(args.experiment), method, trials, args.workers,
                                 args.runs_dir, args.epochs, args.seed, args.search_id)
    else:
        from workbench.tasks import ConsoleProgress

        if args.threads:
            limit_threads(args.threads)
        progress = ConsoleProgress()
        # KerasTuner prints now and then; stdout stays for the table or --json.
        with contextlib.redirect_stdout(sys.stderr):
            result = run_search(experiment, method=method, trials=trials, runs_dir=args.runs_dir,
                                progress=progress, epochs=args.epochs, seed=args.seed,
                                search_id=args.search_id)
        progress.close()
    if args.plot:
        save_search_plot(result, args.plot)
    data = result.to_dict()
    note = grid_note(experiment.search["space"], trials) if method == "grid" else None
    if args.json:
        print(json.dumps({**data, "note": note} if note else data, indent=2))
    else:
        print(results_text(result) + (f"\nplot: {args.plot}" if args.plot else "")
              + (f"\nnote: {note}" if note else ""))
    return 0 if result.best is not None else 1


def results_text(result) -> str:
    """The results table for people: one line per trial, the best marked with *."""
    rows = result.results_table()
    names = [t.removeprefix("model.nodes.").removeprefix("training.") for t in result.targets]
    header = ["trial", *names, result.objective, "status"]
    cells = [[("* " if r["best"] else "  ") + r["trial"],
              *(_cell(r[t]) for t in result.targets), _cell(r[result.objective]), r["status"]]
             for r in rows]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *cells)]
    lines = [f"{result.method} search {result.search_id}: {len(rows)} trials in "
             f"{result.seconds:.1f}s" + (" (stopped)" if result.status == "stopped" else "")]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)) for line in [header, *cells]]
    best = result.best
    if best is not None:
        lines.append(f"best: trial {best.id}, {result.objective} {best.score:.4f}, run {best.run}")
    else:
        lines.append("no trial completed" + "".join(
            f"\n  trial {t.id}: {t.message}" for t in result.trials[:3] if t.message))
    return "\n".join(lines)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else json.dumps(value) if not isinstance(value, str) else value


def _load(path: str) -> Experiment:
    from workbench.modelio import MODEL_SUFFIXES

    if Path(path).suffix.lower() in MODEL_SUFFIXES:
        raise WorkbenchError(f"{path}: is a Keras model, not an experiment: tune an experiment "
                             "file (.json) with a \"search\" section")
    experiment = Experiment.load(path)
    if experiment.search is None:
        raise WorkbenchError(f"{path}: has no \"search\" section: add one with an objective and "
                             "a space of values to try (see `workbench tune --help`)")
    return experiment


def limit_threads(threads: int) -> None:
    """Limit TensorFlow's thread pools in this process (before it runs its first op)."""
    for name in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS"):
        os.environ[name] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1" if threads < 4 else "2"
    from workbench.backend import keras_module

    keras_module()
    import tensorflow as tf

    with contextlib.suppress(RuntimeError):  # the runtime already started: too late, no harm
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(int(os.environ["TF_NUM_INTEROP_THREADS"]))


# ------------------------------------------------------------------------- distributed
def free_port() -> int:
    """A TCP port on the loopback that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def run_distributed(experiment: Experiment, path: Path, method: str, trials: int, workers: int,
                    runs_dir: str | os.PathLike, epochs: int | None = None, seed: int = 0,
                    search_id: str | None = None, progress=None):
    """A KerasTuner chief and ``workers`` workers on the loopback, each a ``tune`` process.

    Returns the merged ``SearchResult`` of the workers.

    Raises:
        WorkbenchError: the chief or a worker failed (with the last line of its log).
    """
    from workbench.scale.search import SEARCH_DIR, new_search_id
    from workbench.tasks import ConsoleProgress

    progress = progress or ConsoleProgress()
    search_id = search_id or new_search_id(experiment)
    logs = Path(runs_dir) / SEARCH_DIR / search_id / "workers"
    logs.mkdir(parents=True, exist_ok=True)
    threads = max(1, usable_cores() // workers)
    command = [sys.executable, "-m", "workbench.scale.tune_cli", str(path), "--search", method,
               "--trials", str(trials), "--runs-dir", str(runs_dir), "--search-id", search_id,
               "--seed", str(seed), "--threads", str(threads), "--json"]
    if epochs is not None:
        command += ["--epochs", str(epochs)]
    port = str(free_port())
    children: dict[str, subprocess.Popen] = {}
    started = time.monotonic()
    try:
        for role in ["chief"] + [f"tuner{i}" for i in range(workers)]:
            env = {**os.environ, "KERASTUNER_TUNER_ID": role, "KERASTUNER_ORACLE_IP": LOOPBACK,
                   "KERASTUNER_ORACLE_PORT": port, "TF_CPP_MIN_LOG_LEVEL": "2"}
            with open(logs / f"{role}.json", "wb") as out, open(logs / f"{role}.log", "wb") as err:
                children[role] = subprocess.Popen(command, env=env, stdout=out, stderr=err,
                                                  stdin=subprocess.DEVNULL)
        _wait(children, logs, trials, progress, Path(runs_dir), search_id)
    finally:
        for child in children.values():
            if child.poll() is None:
                child.terminate()
        for child in children.values():
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if hasattr(progress, "close"):
            progress.close()
    return _merge(experiment, method, logs, workers, search_id, runs_dir,
                  time.monotonic() - started)


def _wait(children: dict, logs: Path, trials: int, progress, runs_dir: Path, search_id: str) -> None:
    from workbench.runs.runfile import ENDED
    from workbench.scale.search import _trial_runs

    chief = children["chief"]
    workers = {role: child for role, child in children.items() if role != "chief"}
    last_poll = 0.0
    while any(child.poll() is None for child in workers.values()):
        if chief.poll() is not None and chief.returncode != 0:
            raise WorkbenchError(f"the KerasTuner chief failed: {_last_line(logs / 'chief.log')}")
        if time.monotonic() - last_poll > 2.0:
            last_poll = time.monotonic()
            done = sum(status in ENDED for _, status in _trial_runs(runs_dir, search_id).values())
            progress.step(done, trials, f"{done} trials done by {len(workers)} workers")
        if progress.cancelled():
            raise KeyboardInterrupt
        time.sleep(0.2)
    deadline = time.monotonic() + _CHIEF_GRACE
    while chief.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    failed = [role for role, child in workers.items() if child.returncode not in (0, 1)]
    if failed:
        raise WorkbenchError(f"worker {failed[0]} failed: {_last_line(logs / (failed[0] + '.log'))} "
                             f"(logs in {logs})")


def _merge(experiment: Experiment, method: str, logs: Path, workers: int, search_id: str,
           runs_dir, seconds: float):
    from workbench.scale.search import SearchResult, TrialResult

    result = None
    trials: dict[str, TrialResult] = {}
    for i in range(workers):
        try:
            data = json.loads((logs / f"tuner{i}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise WorkbenchError(f"worker tuner{i} failed: {_last_line(logs / f'tuner{i}.log')}") from None
        if result is None:
            from workbench.scale.search_space import check_search

            space = check_search(experiment.search, experiment, catalog=False)["space"]
            result = SearchResult(search_id, method, data["objective"], data["direction"],
                                  space=space, directory=Path(data["directory"]), seconds=seconds)
        if data.get("status") == "stopped":
            result.status = "stopped"
        for item in data["trials"]:
            trials[item["trial"]] = TrialResult(item["trial"], item["values"], item["score"],
                                                item["status"],
                                                Path(item["run"]) if item["run"] else None,
                                                item.get("message"))
    assert result is not None
    result.trials = [trials[key] for key in sorted(trials)]
    return result


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
                 if line.strip()]
    except OSError:
        return "no log"
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or ["no output"])[-1].strip().removeprefix("workbench: error: ")


# --------------------------------------------------------------------------- entry
def main(argv: list[str] | None = None) -> int:
    """``python -m workbench.scale.tune_cli ...``: the tune command on its own (the chief and
    workers of ``--workers`` run this way)."""
    parser = argparse.ArgumentParser(prog="workbench tune")
    commands = parser.add_subparsers(dest="command")

    def add(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--json", action="store_true", help="print machine-readable JSON")
        sub.set_defaults(handler=handler)
        return sub

    add_commands(add)
    args = parser.parse_args(["tune", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.handler(args)
    except WorkbenchError as error:
        print(f"workbench: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
