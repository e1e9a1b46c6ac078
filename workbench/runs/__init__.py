"""The run store: one folder per training run, written as it trains, read back afterwards.

``RunStore`` creates, lists, opens, deletes and groups runs; ``Run`` is one folder (frozen
experiment, ``run.json``, ``history.csv``, ``batches.csv``, checkpoints, TensorBoard events);
``aggregate`` summarises one metric across the seeds of an experiment; ``compare`` tells
runs apart by their frozen experiments' settings and finds the runs that differ only in the
seed. Nothing here imports Keras except ``Run.load_model``.
"""

from __future__ import annotations

from workbench.runs import compare
from workbench.runs.aggregate import aggregate
from workbench.runs.run import Run
from workbench.runs.runfile import RUN_FORMAT, RUN_VERSION, RunInfo
from workbench.runs.store import RunStore

__all__ = ["RUN_FORMAT", "RUN_VERSION", "Run", "RunInfo", "RunStore", "aggregate", "compare"]
