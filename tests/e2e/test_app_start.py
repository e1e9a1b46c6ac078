"""Start the real application the way a user does, and the CLI as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_main_py_renders_a_screenshot(tmp_path):
    shot = tmp_path / "window.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, "main.py", "--screenshot", str(shot)], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    import numpy as np
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1280, 800)
        assert len(np.unique(np.asarray(image.convert("L")))) > 10  # something was drawn


def test_main_py_refuses_a_broken_experiment_with_one_line(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, "main.py", str(broken)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "broken.json" in result.stderr and "Traceback" not in result.stderr


def test_workbench_command_validates_the_default_experiment():
    result = subprocess.run([sys.executable, "-m", "workbench.cli", "validate",
                             "experiments/default.json"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "ok (7 nodes" in result.stdout and result.stderr == ""
