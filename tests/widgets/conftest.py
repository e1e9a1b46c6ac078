"""Widget tests: fail any test that leaves a thread running."""

from __future__ import annotations

import threading

import pytest


@pytest.fixture(autouse=True)
def no_leftover_threads():
    before = {t.ident for t in threading.enumerate()}
    yield
    leftover = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()
                and not t.daemon]
    assert not leftover, f"test left threads running: {[t.name for t in leftover]}"


@pytest.fixture
def document(qtbot):
    """The default experiment as an open document, validated (Keras loaded)."""
    from widgets.document import Document
    from workbench.experiment import DEFAULT_EXPERIMENT, Experiment

    document = Document(Experiment.load(DEFAULT_EXPERIMENT))
    document.backend_ready()
    return document
