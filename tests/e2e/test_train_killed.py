"""A training process killed with SIGKILL loses nothing it had finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_sigkill_leaves_every_finished_epoch_and_a_loadable_checkpoint(tmp_path):
    experiment = json.loads((ROOT / "experiments" / "default.json").read_text())
    experiment["training"]["epochs"] = 500  # far more than will run before the kill
    path = tmp_path / "long.json"
    path.write_text(json.dumps(experiment))
    runs = tmp_path / "runs"
    process = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "train", str(path), "--runs-dir", str(runs)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        history = None
        while time.monotonic() < deadline:
            found = list(runs.glob("*/history.csv"))
            if found and len(found[0].read_text().splitlines()) >= 4:  # header + 3 epochs
                history = found[0]
                break
            time.sleep(0.2)
        assert history is not None, "training never wrote three epochs"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)
    from workbench.runs import RunStore

    (info,) = RunStore(runs).runs()
    assert info.status == "interrupted"
    run = RunStore(runs).open(info.id)
    rows = run.history()["loss"]
    assert len(rows) >= 3 and all(value == value for value in rows)  # no NaN, no torn row
    best = run.load_model("best")
    assert best.count_params() == 5130


@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="needs POSIX signals")
def test_ctrl_c_stops_like_the_stop_button_and_keeps_the_run(tmp_path):
    experiment = json.loads((ROOT / "experiments" / "default.json").read_text())
    experiment["training"]["epochs"] = 500
    path = tmp_path / "long.json"
    path.write_text(json.dumps(experiment))
    runs = tmp_path / "runs"
    process = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "train", str(path), "--runs-dir", str(runs)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(
                len(h.read_text().splitlines()) >= 2 for h in runs.glob("*/history.csv")):
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)  # what Ctrl+C sends
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    assert "stopping after this batch" in err and "Traceback" not in err
    assert out.startswith("stopped: ") and "run folder: " in out
    from workbench.runs import RunStore

    (info,) = RunStore(runs).runs()
    assert info.status == "stopped"
    run = RunStore(runs).open(info.id)
    assert run.load_model("final").count_params() == 5130
