"""Shared test set-up: offscreen Qt, quiet TensorFlow, small helpers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def keras():
    from workbench.backend import keras_module

    return keras_module()


@pytest.fixture
def default_experiment_path() -> Path:
    return ROOT / "experiments" / "default.json"


_EXIT_STATUS = 0


def pytest_sessionfinish(session, exitstatus):
    global _EXIT_STATUS
    _EXIT_STATUS = int(exitstatus)


def pytest_unconfigure(config):
    # TensorFlow's and Qt's C++ teardown at interpreter exit can crash (a segfault after every
    # test has passed and the summary is printed), which would turn a green run red. All
    # results are reported by now, so leave without running those destructors.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_EXIT_STATUS)
