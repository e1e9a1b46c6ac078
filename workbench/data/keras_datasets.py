"""Keras' downloadable data sets (MNIST, Fashion-MNIST, CIFAR-10, CIFAR-100) with a cache.

The files, addresses, checksums and cache layout are those of ``keras.datasets``, so a cache
filled by Keras serves the workbench and the other way round. The workbench downloads them
itself rather than through ``keras.datasets.*.load_data()`` because those cannot be told
where the cache is (Keras fixes it when it is imported), report no progress, cannot be
cancelled, and wait on a dead network for as long as the operating system lets them. Here
the cache is looked at first; a missing file is downloaded with a short socket timeout,
reported through ``progress.step`` and checked against its SHA-256 before it is kept
(written to a temporary name and renamed, so an interrupted download leaves nothing
half-written); and an offline machine gets a message that says which file to put where.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import socket
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.data.config import DataConfig
from workbench.data.raw import Cancelled, RawData
from workbench.errors import WorkbenchError
from workbench.tasks import Progress

DOWNLOAD_TIMEOUT = 15.0  # seconds a connection or a read may stall before the download fails
_CHUNK = 1 << 16
_KERAS_BASE = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set.

    Attributes:
        name: where it lies in the cache, relative to the datasets folder.
        url: where it is downloaded from.
        sha256: its checksum, or None where Keras has none either.
        aliases: other names under which the cache may hold it (older Keras versions, the
            download's own file name).
    """

    name: str
    url: str
    sha256: str | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class KerasDataset:
    """A downloadable data set: its files and what it holds."""

    title: str
    files: tuple[RemoteFile, ...]
    class_names: tuple[str, ...]
    extracted: str | None = None  # the folder an archive unpacks to, for CIFAR


_FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
            "Bag", "Ankle boot")
_CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

KERAS_DATASETS: dict[str, KerasDataset] = {
    "mnist": KerasDataset("MNIST", (RemoteFile(
        "mnist.npz", _KERAS_BASE + "mnist.npz",
        "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"),),
        tuple(str(i) for i in range(10))),
    "fashion_mnist": KerasDataset("Fashion-MNIST", tuple(
        RemoteFile(f"fashion-mnist/{name}", _KERAS_BASE + name) for name in (
            "train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")), _FASHION),
    "cifar10": KerasDataset("CIFAR-10", (RemoteFile(
        "cifar-10-batches-py-target_archive", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
        aliases=("cifar-10-python.tar.gz", "cifar-10-batches-py.tar.gz")),), _CIFAR10,
        extracted="cifar-10-batches-py"),
    "cifar100": KerasDataset("CIFAR-100", (RemoteFile(
        "cifar-100-python-target_archive", "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
        aliases=("cifar-100-python.tar.gz",)),), tuple(str(i) for i in range(100)),
        extracted="cifar-100-python"),
}


def default_cache_dir() -> Path:
    """Keras' datasets folder: ``$KERAS_HOME/datasets``, else ``~/.keras/datasets``.

    Read at each call (Keras reads it once at import), so tests and users can move it.
    """
    home = os.environ.get("KERAS_HOME")
    return (Path(home) if home else Path.home() / ".keras").expanduser() / "datasets"


def read_keras_dataset(config: DataConfig, progress: Progress, cache_dir: Path | None = None) -> RawData:
    """The data set's training part (to be split) with its test part as a test set."""
    spec = KERAS_DATASETS[config.source]
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    if spec.extracted:
        folder = _cifar_folder(spec, cache, progress)
        (x, y), (x_test, y_test), names = _read_cifar(folder, spec)
    else:
        paths = [ensure_file(spec, remote, cache, progress) for remote in spec.files]
        if config.source == "mnist":
            (x, y), (x_test, y_test) = _read_mnist(paths[0])
        else:
            (x, y), (x_test, y_test) = _read_fashion(paths)
        names = list(spec.class_names)
    return RawData(x, y, spec.title, class_names=names, known_max=255.0, test=(x_test, y_test))


def ensure_file(spec: KerasDataset, remote: RemoteFile, cache: Path, progress: Progress) -> Path:
    """The cached file (under its name or an alias), downloaded first when it is missing."""
    for name in (remote.name, *remote.aliases):
        candidate = cache / name
        if candidate.is_file():
            if remote.sha256 and _sha256(candidate) != remote.sha256:
                raise WorkbenchError(f"{_shown(candidate)} is damaged or incomplete (its checksum is "
                                     f"wrong): delete it so {spec.title} is downloaded again, or "
                                     "replace it with a good copy")
            return candidate
    target = cache / remote.name
    try:
        _download(spec, remote, target, progress)
    except (urllib.error.URLError, OSError, ValueError) as error:
        wanted = Path(remote.aliases[0] if remote.aliases else remote.name).name
        where = cache / (remote.aliases[0] if remote.aliases else remote.name)
        raise WorkbenchError(
            f"{spec.title} is not in the cache ({_shown(where)}) and could not be downloaded: "
            f"{_network_reason(error)}. Copy {wanted} there, or pick another source") from None
    return target


def _download(spec: KerasDataset, remote: RemoteFile, target: Path, progress: Progress) -> None:
    """Fetch ``remote`` into ``target`` through a temporary file, checking its checksum."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(remote.url, timeout=DOWNLOAD_TIMEOUT) \
                as response:
            total = response.headers.get("Content-Length")
            total = int(total) if total and total.isdigit() else None
            done = 0
            progress.step(0, total, f"downloading {spec.title}")
            while True:
                if progress.cancelled():
                    raise Cancelled
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                progress.step(done, total, f"downloading {spec.title}: {_megabytes(done, total)}")
        if total is not None and done < total:
            raise OSError(f"the connection closed after {done:,} of {total:,} bytes")
        if remote.sha256 and digest.hexdigest() != remote.sha256:
            raise ValueError("the downloaded file's checksum is wrong")
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _cifar_folder(spec: KerasDataset, cache: Path, progress: Progress) -> Path:
    """The unpacked CIFAR folder: found in the cache, or unpacked from the (downloaded) archive."""
    remote = spec.files[0]
    # Keras 3 unpacks to "<name>-target/<folder>", older Keras to "<folder>" directly.
    unpacked = cache / remote.name.replace("_archive", "")
    for candidate in (unpacked / spec.extracted, cache / spec.extracted):
        if candidate.is_dir() and any(candidate.iterdir()):
            return candidate
    archive = ensure_file(spec, remote, cache, progress)
    progress.step(0, None, f"unpacking {spec.title}")
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=cache))
    try:
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
            if hasattr(tarfile, "data_filter"):  # refuses paths that leave the folder
                tar.extractall(staging, members=members, filter="data")
            else:  # pragma: no cover - Python without extraction filters
                tar.extractall(staging, members=[m for m in members if _inside(m.name)])
        if unpacked.exists():
            shutil.rmtree(unpacked)
        staging.rename(unpacked)
    except (tarfile.TarError, OSError, EOFError) as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise WorkbenchError(f"{_shown(archive)} cannot be unpacked ({error}): delete it so "
                             f"{spec.title} is downloaded again") from None
    folder = unpacked / spec.extracted
    if not folder.is_dir():
        raise WorkbenchError(f"{_shown(archive)} does not hold the {spec.extracted} folder of {spec.title}")
    return folder


def _read_mnist(path: Path):
    try:
        with np.load(path, allow_pickle=False) as archive:
            x, y = archive["x_train"], archive["y_train"]
            x_test, y_test = archive["x_test"], archive["y_test"]
    except (OSError, ValueError, KeyError, EOFError) as error:
        raise WorkbenchError(f"{_shown(path)} is not a readable MNIST archive ({error}): delete it so "
                             "it is downloaded again") from None
    return (x[..., None], y.astype(np.int32)), (x_test[..., None], y_test.astype(np.int32))


def _read_fashion(paths: list[Path]):
    def read(path: Path, offset: int) -> np.ndarray:
        try:
            with gzip.open(path, "rb") as handle:
                return np.frombuffer(handle.read(), np.uint8, offset=offset)
        except (OSError, EOFError, ValueError) as error:
            raise WorkbenchError(f"{_shown(path)} is damaged ({error}): delete it so it is downloaded "
                                 "again") from None

    y, x = read(paths[0], 8), read(paths[1], 16)
    y_test, x_test = read(paths[2], 8), read(paths[3], 16)
    for labels, images, path in ((y, x, paths[1]), (y_test, x_test, paths[3])):
        if images.size != len(labels) * 28 * 28:
            raise WorkbenchError(f"{_shown(path)} does not hold {len(labels):,} 28x28 images: delete "
                                 "it so it is downloaded again")
    return ((x.reshape(-1, 28, 28, 1), y.astype(np.int32)),
            (x_test.reshape(-1, 28, 28, 1), y_test.astype(np.int32)))


def _read_cifar(folder: Path, spec: KerasDataset):
    """CIFAR batches through Keras' own parser (a restricted unpickler: data only, no code)."""
    from workbench.backend import keras_module

    keras_module()
    from keras.src.datasets.cifar import load_batch

    def read(name: str, label_key: str = "labels"):
        path = folder / name
        if not path.is_file():
            raise WorkbenchError(f"{_shown(path)} is missing from the unpacked {spec.title}: delete "
                                 f"{_shown(folder.parent)} so it is unpacked again")
        try:
            data, labels = load_batch(str(path), label_key=label_key)
        except Exception as error:  # any unpickling failure means a damaged file
            raise WorkbenchError(f"{_shown(path)} cannot be read ({error}): delete {_shown(folder.parent)} "
                                 "so it is unpacked again") from None
        return data.transpose(0, 2, 3, 1), np.asarray(labels, dtype=np.int32).reshape(-1)

    if spec.extracted == "cifar-10-batches-py":
        parts = [read(f"data_batch_{i}") for i in range(1, 6)]
        x, y = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        test = read("test_batch")
        names = _meta_names(folder / "batches.meta", "label_names") or list(spec.class_names)
    else:
        x, y = read("train", "fine_labels")
        test = read("test", "fine_labels")
        names = _meta_names(folder / "meta", "fine_label_names") or list(spec.class_names)
    return (x, y), test, names


def _meta_names(path: Path, key: str) -> list[str] | None:
    """Class names from a CIFAR meta file, or None (the numbers will do)."""
    try:
        from keras.src.datasets.npz_utils import RestrictedUnpickler

        with open(path, "rb") as handle:
            meta = RestrictedUnpickler(handle, encoding="bytes").load()
        names = meta.get(key.encode()) or meta.get(key)
        return [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    except Exception:  # names are a nicety: a missing or odd meta file costs only the names
        return None


def _network_reason(error: BaseException) -> str:
    """Why a download failed, in words."""
    reason = getattr(error, "reason", error)
    if isinstance(error, urllib.error.HTTPError):
        return f"the server answered {error.code} {error.reason}"
    if isinstance(reason, socket.gaierror):
        return "no network"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"no answer within {DOWNLOAD_TIMEOUT:g} seconds"
    if isinstance(reason, ConnectionRefusedError):
        return "the connection was refused"
    text = str(reason).strip() or type(reason).__name__
    return text[0].lower() + text[1:] if text else "an unknown error"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _shown(path: Path) -> str:
    """A path with the home folder written as ~ (shorter, and what people type)."""
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home):] if home not in ("", "/") and text.startswith(home + os.sep) else text


def _megabytes(done: int, total: int | None) -> str:
    return f"{done / 1e6:.1f} / {total / 1e6:.1f} MB" if total else f"{done / 1e6:.1f} MB"


def _inside(name: str) -> bool:
    return not (name.startswith("/") or ".." in Path(name).parts)
