"""What the LR range test costs, next to one epoch of training on the same model and data.

Runs ``find_lr`` on the default experiment (digits CNN) with the default settings (1e-7 to 10
over 100 batches, stopping early on divergence), then trains the same freshly built model for
one epoch with plain ``model.fit``, and prints the test's batches and seconds against the
epoch's. The model build and the tracing of the training step count in both.

Run: ``python benchmarks/lr_find.py [--iterations 100] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=100, help="range test batches (default 100)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()

    from workbench.backend import keras_module
    from workbench.data import load_dataset
    from workbench.experiment import DEFAULT_EXPERIMENT, Experiment
    from workbench.graph.convert import build_model
    from workbench.tasks import NullProgress
    from workbench.training import TrainingConfig
    from workbench.training.lr_finder import RangeTestConfig, find_lr

    keras_module()
    experiment = Experiment.load(DEFAULT_EXPERIMENT)
    dataset = load_dataset(experiment.data, NullProgress())
    config = TrainingConfig.from_dict(experiment.training)

    started = time.perf_counter()
    result = find_lr(experiment, dataset, RangeTestConfig(iterations=args.iterations))
    test_seconds = time.perf_counter() - started

    started = time.perf_counter()
    model = build_model(experiment.graph).model
    model.compile(optimizer=config.make_optimizer(), loss=config.loss, metrics=list(config.metrics))
    model.fit(**dataset.fit_arguments(config.batch_size), epochs=1, verbose=0)
    epoch_seconds = time.perf_counter() - started
    epoch_batches = -(-len(dataset.x_train) // config.batch_size)

    numbers = {"test_batches": result.batches, "test_seconds": round(test_seconds, 2),
               "test_stopped": result.stopped, "epoch_batches": epoch_batches,
               "epoch_seconds": round(epoch_seconds, 2),
               "batches_ratio": round(result.batches / epoch_batches, 2),
               "seconds_ratio": round(test_seconds / epoch_seconds, 2),
               "suggestions": {s.method: s.lr for s in result.suggestions}}
    if args.json:
        print(json.dumps(numbers, indent=2))
        return
    print(f"default experiment (digits CNN), batch {config.batch_size}")
    print(f"  LR range test: {result.batches} batches in {test_seconds:.2f}s"
          + (f" (stopped: {result.stopped})" if result.stopped else ""))
    print(f"  one epoch:     {epoch_batches} batches in {epoch_seconds:.2f}s (with validation)")
    print(f"  the test costs {numbers['batches_ratio']}x an epoch's batches and "
          f"{numbers['seconds_ratio']}x its time")
    for suggestion in result.suggestions:
        print(f"  {suggestion.lr:10.3g}  {suggestion.label}")


if __name__ == "__main__":
    main()
