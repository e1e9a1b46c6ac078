"""The engine stays Qt-free: import-linter contract, and an import with Qt made impossible."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_import_linter_contract_holds():
    executable = shutil.which("lint-imports")
    if executable is None:
        pytest.fail("import-linter is not installed: pip install -e '.[test]'")
    result = subprocess.run([executable], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_engine_module_imports_with_qt_absent():
    script = r"""
import importlib, pkgutil, sys

class NoQt:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("PySide6", "pyqtgraph", "widgets", "superqt", "qtpy"):
            raise ImportError(f"{name} is blocked: the engine must not need it")

sys.meta_path.insert(0, NoQt())
import workbench
for module in pkgutil.walk_packages(workbench.__path__, "workbench."):
    importlib.import_module(module.name)
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr


def test_ruff_finds_nothing():
    executable = shutil.which("ruff")
    if executable is None:
        pytest.fail("ruff is not installed: pip install -e '.[test]'")
    result = subprocess.run([executable, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
