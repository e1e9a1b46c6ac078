"""Keras' downloadable data sets: the cache, downloads with progress (from a local server),
checksums, and the offline message. Nothing here reaches the network."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import http.server
import io
import pickle
import socket
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from workbench.data import keras_datasets, load_dataset
from workbench.data.keras_datasets import KERAS_DATASETS, RemoteFile
from workbench.errors import WorkbenchError
from workbench.tasks import RecordingProgress


def _fake_mnist(path: Path, train: int = 60, test: int = 20) -> bytes:
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 256, (train, 28, 28), dtype=np.uint8),
             y_train=(np.arange(train) % 10).astype(np.uint8),
             x_test=rng.integers(0, 256, (test, 28, 28), dtype=np.uint8),
             y_test=(np.arange(test) % 10).astype(np.uint8))
    return path.read_bytes()


def _use_file(monkeypatch, source: str, url: str | None = None, content: bytes | None = None,
              index: int = 0) -> None:
    """Point a data set's file at ``url`` and/or the checksum of ``content``."""
    spec = KERAS_DATASETS[source]
    remote = spec.files[index]
    changes = {}
    if url is not None:
        changes["url"] = url
    if content is not None:
        changes["sha256"] = hashlib.sha256(content).hexdigest()
    files = list(spec.files)
    files[index] = dataclasses.replace(remote, **changes)
    monkeypatch.setitem(KERAS_DATASETS, source, dataclasses.replace(spec, files=tuple(files)))


@pytest.fixture
def no_network(monkeypatch):
    """Name lookups fail at once, as on an offline machine (and nothing can leave this one)."""
    def offline(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", offline)


@pytest.fixture
def server(tmp_path):
    """A local HTTP server for a folder (the "internet" of these tests)."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_offline_with_an_empty_cache_says_what_to_copy_where(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    start = time.monotonic()
    with pytest.raises(WorkbenchError) as caught:
        load_dataset({"source": "mnist"})
    assert time.monotonic() - start < 5
    assert str(caught.value) == (
        "MNIST is not in the cache (~/.keras/datasets/mnist.npz) and could not be downloaded: no "
        "network. Copy mnist.npz there, or pick another source")
    assert not list((tmp_path / ".keras" / "datasets").glob("*"))  # no half-written file left


def test_keras_home_and_cache_dir_move_the_cache(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    with pytest.raises(WorkbenchError, match=str(tmp_path / "kh" / "datasets" / "cifar-10-python.tar.gz")):
        load_dataset({"source": "cifar10"})
    with pytest.raises(WorkbenchError, match="Copy train-labels-idx1-ubyte.gz there"):
        load_dataset({"source": "fashion_mnist"}, cache_dir=tmp_path / "elsewhere")


def test_a_refused_connection_fails_fast_with_its_reason(tmp_path, monkeypatch):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _use_file(monkeypatch, "mnist", url=f"http://127.0.0.1:{port}/mnist.npz")
    with pytest.raises(WorkbenchError, match="could not be downloaded: the connection was refused"):
        load_dataset({"source": "mnist"}, cache_dir=tmp_path)


def test_download_reports_progress_checks_the_checksum_and_fills_the_cache(tmp_path, monkeypatch, server):
    folder, url = server
    content = _fake_mnist(folder / "mnist.npz")
    _use_file(monkeypatch, "mnist", url=f"{url}/mnist.npz", content=content)
    monkeypatch.setattr(keras_datasets, "_CHUNK", 4096)  # several steps for a small file
    cache = tmp_path / "cache"
    progress = RecordingProgress()
    dataset = load_dataset({"source": "mnist", "samples": 50}, progress, cache_dir=cache)
    downloads = [(done, total) for done, total, message in progress.steps if "downloading MNIST" in message]
    assert len(downloads) > 3 and downloads[-1] == (len(content), len(content))
    assert all(a[0] <= b[0] for a, b in zip(downloads, downloads[1:]))
    assert (cache / "mnist.npz").read_bytes() == content
    assert dataset.x_train.shape == (40, 28, 28, 1) and dataset.x_train.max() <= 1.0
    assert dataset.num_classes == 10 and dataset.class_names[3] == "3"
    assert dataset.extras["x_test"].shape == (20, 28, 28, 1) and dataset.extras["y_test"].shape == (20,)
    assert dataset.description.startswith("MNIST: 40 train / 10 validation, 28x28x1")
    (folder / "mnist.npz").unlink()  # the "internet" is gone: the cache serves
    again = load_dataset({"source": "mnist", "samples": 50}, cache_dir=cache)
    assert np.array_equal(again.x_train, dataset.x_train)


def test_a_download_with_a_wrong_checksum_is_not_kept(tmp_path, monkeypatch, server):
    folder, url = server
    _fake_mnist(folder / "mnist.npz")
    _use_file(monkeypatch, "mnist", url=f"{url}/mnist.npz", content=b"something else")
    with pytest.raises(WorkbenchError, match="checksum is wrong"):
        load_dataset({"source": "mnist"}, cache_dir=tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_damaged_cached_file_is_named(tmp_path, monkeypatch, no_network):
    (tmp_path / "mnist.npz").write_bytes(b"half a file")
    with pytest.raises(WorkbenchError) as caught:
        load_dataset({"source": "mnist"}, cache_dir=tmp_path)
    assert str(tmp_path / "mnist.npz") in str(caught.value) and "damaged or incomplete" in str(caught.value)


def test_cancelling_a_download_leaves_nothing(tmp_path, monkeypatch, server):
    folder, url = server
    content = _fake_mnist(folder / "mnist.npz")
    _use_file(monkeypatch, "mnist", url=f"{url}/mnist.npz", content=content)
    monkeypatch.setattr(keras_datasets, "_CHUNK", 1024)
    progress = RecordingProgress()
    original = progress.step

    def step(done, total=None, message=""):
        original(done, total, message)
        if done > 5000:
            progress.cancel()

    progress.step = step
    assert load_dataset({"source": "mnist"}, progress, cache_dir=tmp_path / "cache") is None
    assert list((tmp_path / "cache").iterdir()) == []


def test_fashion_mnist_from_the_cache(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    for prefix, count in (("train", 40), ("t10k", 10)):
        labels = (np.arange(count) % 10).astype(np.uint8)
        images = rng.integers(0, 256, count * 28 * 28, dtype=np.uint8)
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(8) + labels.tobytes()))
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(16) + images.tobytes()))
    dataset = load_dataset({"source": "fashion_mnist", "validation_split": 0.25}, cache_dir=tmp_path)
    assert dataset.x_train.shape == (30, 28, 28, 1) and dataset.class_names[9] == "Ankle boot"
    assert dataset.extras["x_test"].shape == (10, 28, 28, 1)
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(16) + bytes(100)))
    with pytest.raises(WorkbenchError, match="does not hold 10 28x28 images"):
        load_dataset({"source": "fashion_mnist"}, cache_dir=tmp_path)


def _cifar_archive(path: Path, per_batch: int = 6) -> bytes:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        def add(name: str, value) -> None:
            data = pickle.dumps(value)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            add(name, {b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                       b"labels": [i % 10 for i in range(per_batch)]})
        add("batches.meta", {b"label_names": [n.encode() for n in KERAS_DATASETS["cifar10"].class_names]})
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def test_cifar10_is_unpacked_from_the_cached_archive(tmp_path, monkeypatch, no_network, keras):
    content = _cifar_archive(tmp_path / "cifar-10-python.tar.gz")
    _use_file(monkeypatch, "cifar10", content=content)
    dataset = load_dataset({"source": "cifar10", "validation_split": 0.2}, cache_dir=tmp_path)
    assert dataset.x_train.shape == (24, 32, 32, 3) and dataset.extras["x_test"].shape == (6, 32, 32, 3)
    assert dataset.class_names[0] == "airplane" and dataset.num_classes == 10
    assert (tmp_path / "cifar-10-batches-py-target" / "cifar-10-batches-py" / "test_batch").is_file()
    (tmp_path / "cifar-10-python.tar.gz").unlink()  # unpacked once: the archive is not needed again
    assert load_dataset({"source": "cifar10"}, cache_dir=tmp_path).x_train.shape == (24, 32, 32, 3)


def test_a_cached_archive_that_is_not_one_is_named(tmp_path, monkeypatch, no_network):
    content = b"not a tar archive"
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(content)
    _use_file(monkeypatch, "cifar10", content=content)
    with pytest.raises(WorkbenchError, match="cifar-10-python.tar.gz cannot be unpacked"):
        load_dataset({"source": "cifar10"}, cache_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar-10-python.tar.gz"]


def test_the_table_matches_keras_own_loaders(keras):
    import inspect

    from keras.src.datasets import cifar10, mnist

    assert KERAS_DATASETS["mnist"].files[0].sha256 in inspect.getsource(mnist)
    assert KERAS_DATASETS["cifar10"].files[0].sha256 in inspect.getsource(cifar10)
    assert isinstance(KERAS_DATASETS["mnist"].files[0], RemoteFile)
