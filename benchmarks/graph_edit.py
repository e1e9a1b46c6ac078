"""Benchmark: how long the workbench takes to re-validate a large imported graph after one edit.

For each model (ResNet50, and DenseNet121 as a deeper case), built with
``keras.applications.X(weights=None)`` so nothing is downloaded, it measures:

* the time Keras needs to build the model once (median of 3 builds);
* the import into a graph (``from_keras``);
* the first full validation (``Validator(graph).validate()``);
* the re-validation with the same ``Validator`` after one edit, median and max over
  ``--repeats`` edits of each kind:

  - ``filters`` of a Conv2D in the middle of the network, alternately changed and changed
    back (after the first two edits every result is in the validator's cache), and set to a
    value not seen before on every edit (nothing cached for the edited node);
  - ``units`` of the last Dense layer, in the same two ways;
  - a move of a node (its position only: nothing to compute).

It prints a table, each re-validation time as a ratio of the Keras build time, and whether
the goal "re-validation under 100 ms" is met: GOAL MET when every single timed re-validation
(the max of every row) is under 100 ms, GOAL MISSED otherwise. It is a benchmark, not a
test: it never fails on a slow result.

Run it from the repository root:

    python benchmarks/graph_edit.py
    python benchmarks/graph_edit.py --repeats 40 --models ResNet50
    python benchmarks/graph_edit.py --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Iterable
from typing import Any

from workbench.backend import keras_module
from workbench.graph.convert import from_keras
from workbench.graph.graph import ModelGraph
from workbench.graph.validate import ValidationReport, Validator

GOAL_MS = 100.0
BUILD_REPEATS = 3

# The Conv2D edited in each model. ResNet50: the 3x3 conv of the middle block of stage 4;
# a new filter count reaches only its BatchNorm, ReLU and the next 1x1 conv, whose output
# shape stays the same. DenseNet121: the growth conv of the middle block of stage 4; its
# output is concatenated, so a new filter count changes the shape of every layer after it
# up to the next transition (the expensive case).
EDITED_CONV = {
    "ResNet50": "conv4_block3_2_conv",
    "DenseNet121": "conv4_block12_2_conv",
}


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``action`` once.

    Returns:
        The seconds it took (``time.perf_counter``) and what it returned.
    """
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def keras_build(name: str, repeats: int = BUILD_REPEATS) -> tuple[float, Any]:
    """Build ``keras.applications.<name>(weights=None)`` ``repeats`` times.

    Returns:
        The median build time in seconds and the last model built.
    """
    keras = keras_module()
    builder = getattr(keras.applications, name)
    times, model = [], None
    for _ in range(repeats):
        keras.backend.clear_session()
        seconds, model = timed(lambda: builder(weights=None))
        times.append(seconds)
    return statistics.median(times), model


def reshaped_nodes(before: ValidationReport, after: ValidationReport) -> int:
    """How many nodes have other output shapes in ``after`` than in ``before``."""
    return sum(
        1 for node_id, report in after.nodes.items()
        if report.outputs != before.nodes[node_id].outputs
    )


def edit_row(
    graph: ModelGraph,
    validator: Validator,
    baseline: ValidationReport,
    label: str,
    node_id: str,
    key: str,
    values: Iterable[Any],
) -> dict:
    """Set ``graph.nodes[node_id].params[key]`` to each value and time one re-validation each.

    The parameter is set back to its original value (untimed) afterwards.

    Returns:
        A result row: the edit, the node, median and max in ms, the largest number of nodes
        whose output shape changed, and whether every report was free of errors.
    """
    original = graph.nodes[node_id].params[key]
    times, reshaped, all_ok = [], 0, True
    for value in values:
        graph.set_param(node_id, key, value)
        seconds, report = timed(validator.validate)
        times.append(seconds)
        reshaped = max(reshaped, reshaped_nodes(baseline, report))
        all_ok = all_ok and report.ok
    graph.set_param(node_id, key, original)
    validator.validate()
    return row(label, node_id, times, reshaped, all_ok)


def move_row(graph: ModelGraph, validator: Validator, node_id: str, repeats: int) -> dict:
    """Move ``node_id`` ``repeats`` times (position only) and time one re-validation each."""
    x, y = graph.nodes[node_id].pos
    times, all_ok = [], True
    for step in range(1, repeats + 1):
        graph.move(node_id, (x + 10.0 * step, y))
        seconds, report = timed(validator.validate)
        times.append(seconds)
        all_ok = all_ok and report.ok
    graph.move(node_id, (x, y))
    return row("move node", node_id, times, 0, all_ok)


def row(label: str, node_id: str, times: list[float], reshaped: int, all_ok: bool) -> dict:
    """One result row, times in milliseconds."""
    return {
        "edit": label,
        "node": node_id,
        "median_ms": 1000 * statistics.median(times),
        "max_ms": 1000 * max(times),
        "reshaped_nodes": reshaped,
        "all_ok": all_ok,
    }


def bench_model(name: str, repeats: int) -> dict:
    """Run every measurement for one ``keras.applications`` model.

    Args:
        name: a key of ``EDITED_CONV``.
        repeats: edits timed per kind of edit.
    """
    build_s, model = keras_build(name)
    import_s, (graph, _weights) = timed(lambda: from_keras(model))
    validator = Validator(graph)
    validate_s, baseline = timed(validator.validate)

    conv = EDITED_CONV[name]
    dense = [n.id for n in graph.nodes.values() if n.type == "Dense"][-1]
    filters = graph.nodes[conv].params["filters"]
    units = graph.nodes[dense].params["units"]
    toggle_filters = [filters // 2 if i % 2 == 0 else filters for i in range(repeats)]
    toggle_units = [10 if i % 2 == 0 else units for i in range(repeats)]
    new_filters = [filters + i for i in range(1, repeats + 1)]
    new_units = [units + i for i in range(1, repeats + 1)]

    rows = [
        edit_row(graph, validator, baseline, "conv filters, toggle", conv, "filters",
                 toggle_filters),
        edit_row(graph, validator, baseline, "conv filters, new value", conv, "filters",
                 new_filters),
        edit_row(graph, validator, baseline, "dense units, toggle", dense, "units",
                 toggle_units),
        edit_row(graph, validator, baseline, "dense units, new value", dense, "units",
                 new_units),
        move_row(graph, validator, conv, repeats),
    ]
    for result in rows:
        result["ratio_to_build"] = result["median_ms"] / (1000 * build_s)
    return {
        "model": name,
        "nodes": len(graph.nodes),
        "edges": len(graph.edges),
        "params": baseline.total_params,
        "valid": baseline.ok,
        "keras_build_ms": 1000 * build_s,
        "import_ms": 1000 * import_s,
        "first_validation_ms": 1000 * validate_s,
        "edits": rows,
    }


def goal(results: list[dict]) -> dict:
    """Whether every timed re-validation took under ``GOAL_MS``; the rows that did not."""
    missed = [
        f"{result['model']} {edit['edit']} (max {edit['max_ms']:.1f} ms)"
        for result in results for edit in result["edits"] if edit["max_ms"] >= GOAL_MS
    ]
    return {"goal_ms": GOAL_MS, "met": not missed, "missed": missed}


def print_report(results: list[dict], verdict: dict) -> None:
    """Print the results as a small table, one block per model."""
    for result in results:
        print(
            f"\n{result['model']}: {result['nodes']} nodes, {result['edges']} edges, "
            f"{result['params']:,} params, valid={result['valid']}"
        )
        for label, ms in [
            (f"Keras build (median of {BUILD_REPEATS})", result["keras_build_ms"]),
            ("import (from_keras)", result["import_ms"]),
            ("first full validation", result["first_validation_ms"]),
        ]:
            print(f"  {label:<30} {ms:9.1f} ms")
        print(
            f"  {'re-validation after':<25} {'node':<22} {'median ms':>9} {'max ms':>8} "
            f"{'/ build':>8} {'reshaped':>8}"
        )
        for edit in result["edits"]:
            note = "" if edit["all_ok"] else "  (report had errors)"
            print(
                f"  {edit['edit']:<25} {edit['node']:<22} {edit['median_ms']:9.1f} "
                f"{edit['max_ms']:8.1f} {edit['ratio_to_build']:8.4f} "
                f"{edit['reshaped_nodes']:8d}{note}"
            )
    print("\n  / build: median re-validation / Keras build time; "
          "reshaped: nodes whose output shape changed")
    print()
    if verdict["met"]:
        print(f"GOAL MET: every re-validation under {GOAL_MS:.0f} ms")
    else:
        print(f"GOAL MISSED: re-validation under {GOAL_MS:.0f} ms failed for")
        for miss in verdict["missed"]:
            print(f"  {miss}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20,
                        help="edits timed per kind of edit (default 20)")
    parser.add_argument("--models", nargs="+", default=list(EDITED_CONV),
                        choices=list(EDITED_CONV), help="models to measure (default: all)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    results = [bench_model(name, args.repeats) for name in args.models]
    verdict = goal(results)
    if args.json:
        print(json.dumps({"repeats": args.repeats, "models": results, "goal": verdict},
                         indent=2))
    else:
        print_report(results, verdict)


if __name__ == "__main__":
    main()
