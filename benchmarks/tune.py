"""Distributed hyperparameter search: one KerasTuner worker against a chief and two workers.

Runs the same random search (default 8 trials of the digits CNN, its learning rate, optimizer,
filters and dropout searched) as ``workbench tune`` processes, each timed from start to exit
(TensorFlow's start-up in every process included):

* (1) ``--workers 1``: a chief and one worker;
* (2) ``--workers 2``: a chief and two workers, each with half the cores' threads;
* (0) no ``--workers``: the search in one process, for reference.

Goal: (2) faster than (1), i.e. the ratio time(1) / time(2) above 1. Small models gain most:
one training process uses a core for Python and Keras' per-batch work however many threads
TensorFlow has, so a second worker puts the other core to use. Against that stands the start
of one more TensorFlow process (several seconds on 2 cores), so the trials must be long enough
to pay for it.

(1) and (2) alternate ``--repeat`` times and each keeps its fastest time: on a shared machine
other work only ever adds time.

Run: ``python benchmarks/tune.py [--trials 8] [--epochs 10] [--samples 1797] [--repeat 2] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SPACE = [
    {"target": "training.optimizer.learning_rate", "type": "float", "min": 1e-3, "max": 3e-2,
     "sampling": "log"},
    {"target": "training.optimizer.name", "type": "choice", "values": ["adam", "sgd", "rmsprop"]},
    {"target": "model.nodes.conv_1.filters", "type": "int", "min": 8, "max": 32, "step": 8},
    {"target": "model.nodes.dropout.rate", "type": "float", "min": 0.0, "max": 0.5, "step": 0.1},
]


def experiment_file(folder: Path, epochs: int, samples: int) -> Path:
    from workbench.experiment import DEFAULT_EXPERIMENT

    data = json.loads(DEFAULT_EXPERIMENT.read_text())
    data["data"]["samples"] = samples
    data["training"]["epochs"] = epochs
    data["search"] = {"objective": "val_accuracy", "space": SPACE}
    path = folder / "tuned.json"
    path.write_text(json.dumps(data))
    return path


def timed_search(path: Path, runs: Path, trials: int, workers: int | None) -> dict:
    command = [sys.executable, "-m", "workbench.scale.tune_cli", str(path), "--trials", str(trials),
               "--runs-dir", str(runs), "--json"]
    if workers:
        command += ["--workers", str(workers)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"workers={workers}: exit {done.returncode}\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout)
    pids = set()
    for trial in result["trials"]:
        if trial["run"]:
            pids.add(json.loads((Path(trial["run"]) / "run.json").read_text())["pid"])
    return {"workers": workers or 0, "seconds": round(seconds, 2), "trials": len(result["trials"]),
            "completed": sum(t["status"] == "completed" for t in result["trials"]),
            "training_processes": len(pids),
            "best": result["best"]["score"] if result["best"] else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--samples", type=int, default=1797)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-local", dest="local", action="store_false",
                        help="skip the in-process reference run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        path = experiment_file(folder, args.epochs, args.samples)
        times: dict[int, list[dict]] = {1: [], 2: []}
        for attempt in range(args.repeat):
            for workers in (1, 2):
                times[workers].append(timed_search(path, folder / f"{workers}-{attempt}",
                                                   args.trials, workers))
        rows = [min(times[1], key=lambda r: r["seconds"]), min(times[2], key=lambda r: r["seconds"])]
        for row in rows:
            row["all_seconds"] = [r["seconds"] for r in times[row["workers"]]]
        if args.local:
            rows.append(timed_search(path, folder / "local", args.trials, None))
    ratio = rows[0]["seconds"] / rows[1]["seconds"]
    report = {"cores": os.cpu_count(), "load_average": os.getloadavg()[0], "trials": args.trials,
              "epochs": args.epochs, "samples": args.samples, "runs": rows,
              "ratio_one_over_two": round(ratio, 2), "goal": "ratio > 1"}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"random search, {args.trials} trials x {args.epochs} epochs on {args.samples} digits, "
          f"{os.cpu_count()} cores (load average now {os.getloadavg()[0]:.1f})")
    labels = {1: "(1) chief + 1 worker ", 2: "(2) chief + 2 workers", 0: "(0) one process      "}
    for row in rows:
        print(f"{labels[row['workers']]}  {row['seconds']:7.1f} s  {row['completed']}/{row['trials']} "
              f"trials completed in {row['training_processes']} training process(es)"
              + (f"  (all: {row['all_seconds']})" if "all_seconds" in row else ""))
    print(f"time(1) / time(2) = {ratio:.2f}  (goal: above 1) -> {'met' if ratio > 1 else 'NOT met'}")


if __name__ == "__main__":
    main()
