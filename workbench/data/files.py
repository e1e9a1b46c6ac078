"""Data files: NumPy ``.npz`` archives, HDF5 files and CSV tables, read into ``RawData``.

Every problem with a file is a ``WorkbenchError`` that starts with the file's path and says
what is wrong in words: a missing file, a damaged archive, an array name that is not there
(with the names that are), x and y of different lengths, ragged CSV rows, text in a numeric
column, missing labels.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np

from workbench.data.config import DataConfig
from workbench.data.labels import class_labels, float_targets
from workbench.data.raw import RawData, known_max_of
from workbench.data.split import subset_indices
from workbench.errors import WorkbenchError

_DELIMITERS = ",;\t|"


# ---------------------------------------------------------------------------- shared
def existing_file(path: str, kind: str) -> Path:
    """``path`` as a Path, or a WorkbenchError when it is missing or a folder."""
    resolved = Path(path).expanduser()
    if not resolved.exists():
        raise WorkbenchError(f"{resolved}: no such file (the {kind} file named by data.path)")
    if resolved.is_dir():
        raise WorkbenchError(f"{resolved}: is a folder; the {kind} source needs a file")
    return resolved


def choose_keys(available: list[str], config: DataConfig, where: str,
                ) -> tuple[str, str | None, tuple[str, str | None] | None]:
    """The x and y array names to read, and the (x, y) names of a test set if the file has one.

    Without names in the config, "x" and "y" are read, or Keras' own layout: x_train/y_train
    (and x_test/y_test as a test set).
    """
    listing = ", ".join(available) if available else "nothing"
    keras_layout = config.x_key is None and "x" not in available and "x_train" in available
    x_key = config.x_key or ("x_train" if keras_layout else "x")
    if x_key not in available:
        hint = "" if config.x_key else "; set data.x_key to the inputs' name"
        raise WorkbenchError(f"{where}: has no array named {x_key!r} (it holds: {listing}){hint}")
    y_key = None
    if not config.autoencoder:
        y_key = config.y_key or ("y_train" if keras_layout else "y")
        if y_key not in available:
            hint = "" if config.y_key else "; set data.y_key to the labels' name"
            raise WorkbenchError(f"{where}: has no array named {y_key!r} (it holds: {listing}){hint}")
    test = None
    if keras_layout and "x_test" in available:
        test = ("x_test", "y_test" if y_key and "y_test" in available else None)
    return x_key, y_key, test


def finish_arrays(x: np.ndarray, y: np.ndarray | None, config: DataConfig, where: str,
                  x_name: str = "x", y_name: str = "y") -> tuple[np.ndarray, np.ndarray | None]:
    """Check inputs and targets read from a file and put them in the forms the engine uses."""
    if x.dtype.kind not in "biuf":
        raise WorkbenchError(f"{where}: {x_name} holds {_kind(x.dtype)}, not numbers")
    if x.ndim == 0:
        raise WorkbenchError(f"{where}: {x_name} is a single value, not an array of samples")
    if len(x) == 0:
        raise WorkbenchError(f"{where}: {x_name} is empty: there are no samples")
    if x.ndim == 1:
        x = x[:, None]  # one feature per sample
    if y is not None and len(y) != len(x):
        raise WorkbenchError(f"{where}: {x_name} has {len(x):,} samples but {y_name} has {len(y):,}; "
                             "they must have one target per sample")
    if y is not None and config.task == "segmentation":
        y = float_targets(y, f"{where}: {y_name}")
        if y.ndim == 3:
            y = y[..., None]
        if y.ndim != 4 or y.shape[1:3] != x.shape[1:3]:
            raise WorkbenchError(f"{where}: {y_name} has shape {tuple(y.shape)}; segmentation needs "
                                 f"one mask per image, shaped (N, {x.shape[1]}, "
                                 f"{x.shape[2] if x.ndim > 2 else '?'}, 1)")
    elif y is not None and config.task == "regression":
        y = float_targets(y, f"{where}: {y_name}")
    return x, y


def classify(y: np.ndarray, y_test: np.ndarray | None, where: str,
             ) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """Class indices of the training and test labels, encoded together so they agree."""
    if y_test is None:
        labels, names = class_labels(y, where)
        return labels, None, names
    labels, names = class_labels(np.concatenate([np.asarray(y), np.asarray(y_test)]), where)
    return labels[: len(y)], labels[len(y):], names


def _kind(dtype: np.dtype) -> str:
    return {"U": "text", "S": "text", "O": "Python objects", "c": "complex numbers"}.get(
        dtype.kind, f"values of type {dtype}")


# ---------------------------------------------------------------------------- npz
def read_npz(config: DataConfig) -> RawData:
    """Arrays of a NumPy archive (never unpickled: object arrays are refused)."""
    path = existing_file(config.path, "npz")
    try:
        archive = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, EOFError) as error:
        raise WorkbenchError(f"{path}: is damaged or truncated ({error}); save it again") from None
    except (OSError, ValueError) as error:
        # NumPy takes a file that is neither a zip archive nor a .npy array for a pickle,
        # and its message is about allowing pickles: advice not to follow here.
        reason = "neither a zip archive nor a .npy array" if "pickle" in str(error) else _first_line(error)
        raise WorkbenchError(f"{path}: is not a NumPy .npz archive ({reason}); save the data with "
                             "numpy.savez(path, x=..., y=...)") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise WorkbenchError(f"{path}: holds a single array (a .npy file), not an .npz archive with "
                             "inputs and labels; save it with numpy.savez(path, x=..., y=...)")
    with archive:
        x_key, y_key, test_keys = choose_keys(list(archive.files), config, str(path))
        x = _npz_array(archive, x_key, path)
        y = _npz_array(archive, y_key, path) if y_key else None
        test = None
        if test_keys:
            test = (_npz_array(archive, test_keys[0], path),
                    _npz_array(archive, test_keys[1], path) if test_keys[1] else None)
    return _from_arrays(x, y, test, config, str(path), (x_key, y_key, test_keys))


def _npz_array(archive, key: str, path: Path) -> np.ndarray:
    try:
        return archive[key]
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise WorkbenchError(f"{path}: array {key!r} holds Python objects, which are not loaded "
                                 "for safety; save numbers (or text labels as a string array)") from None
        raise WorkbenchError(f"{path}: array {key!r} cannot be read ({_first_line(error)})") from None
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise WorkbenchError(f"{path}: array {key!r} is damaged or truncated ({_first_line(error)}); "
                             "save the file again") from None


def _from_arrays(x, y, test, config: DataConfig, where: str, keys) -> RawData:
    x_key, y_key, test_keys = keys
    x, y = finish_arrays(x, y, config, where, x_key, y_key or "y")
    known_max = known_max_of(x)
    names = None
    if test is not None:
        x_test, y_test = finish_arrays(test[0], test[1], config, where, test_keys[0], test_keys[1] or "y")
        if x_test.shape[1:] != x.shape[1:]:
            raise WorkbenchError(f"{where}: {test_keys[0]} samples are {x_test.shape[1:]} but "
                                 f"{x_key} samples are {x.shape[1:]}")
        test = (x_test, y_test)
    if y is not None and config.task == "classification":
        y_test = test[1] if test is not None else None
        y, y_test, names = classify(y, y_test, f"{where}: {y_key}")
        if test is not None:
            test = (test[0], y_test)
    return RawData(x, y, Path(where).name, task=config.task, class_names=names, known_max=known_max,
                   test=test)


# ---------------------------------------------------------------------------- hdf5
def open_hdf5(path: Path):
    """An open ``h5py.File``, or a WorkbenchError saying why not."""
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as error:
        text = str(error)
        reason = "is damaged or truncated" if "truncated" in text else "is not an HDF5 file"
        raise WorkbenchError(f"{path}: {reason} ({_first_line(error)})") from None


def hdf5_arrays(handle) -> list[str]:
    """The names of every array (dataset) in an HDF5 file, nested ones as "group/name"."""
    import h5py

    names: list[str] = []
    handle.visititems(lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None)
    return names


def read_hdf5(config: DataConfig) -> RawData:
    """Arrays of an HDF5 file; with ``samples`` only the chosen rows are read."""
    path = existing_file(config.path, "hdf5")
    with open_hdf5(path) as handle:
        x_key, y_key, test_keys = choose_keys(hdf5_arrays(handle), config, str(path))
        y = read_hdf5_array(handle, y_key, path) if y_key else None
        rows = None
        if config.samples is not None:
            shape = hdf5_dataset(handle, x_key, path).shape
            if not shape:
                raise WorkbenchError(f"{path}: {x_key} is a single value, not an array of samples")
            labels = None
            if y is not None and config.task == "classification" and len(y) == shape[0]:
                labels = class_labels(y, f"{path}: {y_key}")[0]
            rows = subset_indices(shape[0], config.samples, config.seed, labels)
            y = y[rows] if y is not None and len(y) == shape[0] else y
        x = read_hdf5_array(handle, x_key, path, rows)
        test = None
        if test_keys:
            test = (read_hdf5_array(handle, test_keys[0], path),
                    read_hdf5_array(handle, test_keys[1], path) if test_keys[1] else None)
    raw = _from_arrays(x, y, test, config, str(path), (x_key, y_key, test_keys))
    raw.sized = rows is not None
    return raw


def hdf5_dataset(handle, name: str, path: Path):
    """The array ``name`` of an open file; a group of that name is refused with the arrays listed."""
    import h5py

    item = handle[name]
    if not isinstance(item, h5py.Dataset):
        raise WorkbenchError(f"{path}: {name!r} is a group, not an array; name one of: "
                             f"{', '.join(hdf5_arrays(handle))}")
    return item


def read_hdf5_array(handle, name: str, path: Path, rows: np.ndarray | None = None) -> np.ndarray:
    """One array (or some of its rows, in increasing order) read into memory."""
    item = hdf5_dataset(handle, name, path)
    try:
        if rows is not None:
            return item[rows] if len(rows) < item.shape[0] else item[()]
        return item[()]
    except (OSError, TypeError, ValueError) as error:
        raise WorkbenchError(f"{path}: array {name!r} cannot be read ({_first_line(error)})") from None


# ---------------------------------------------------------------------------- csv
def read_csv(config: DataConfig) -> RawData:
    """A table with a header row: numeric feature columns and a target column.

    The delimiter (comma, semicolon, tab or bar) is detected. A first line of numbers only is
    data, not a header: the columns are then "column 1", "column 2"... and the last one is
    the target unless ``target`` names another. Empty feature cells become NaN,
    which ``data_warnings`` reports; a missing target is an error.
    """
    path = existing_file(config.path, "csv")
    header, rows, lines = _csv_rows(path)
    columns = list(zip(*rows))
    if config.autoencoder:
        target = None
    else:
        target = config.target or header[-1]
        if target not in header:
            raise WorkbenchError(f"{path}: has no column named {target!r}; the columns are: "
                                 f"{', '.join(header)}")
    features = [name for name in header if name != target]
    if not features:
        raise WorkbenchError(f"{path}: has no feature columns besides the target {target!r}")
    x = np.stack([_numbers(columns[header.index(name)], name, path, lines) for name in features], axis=1)
    y = None
    names = None
    if target is not None:
        values = columns[header.index(target)]
        empty = [i for i, v in enumerate(values) if not v.strip()]
        if empty:
            raise WorkbenchError(f"{path}: line {lines[empty[0]]}: the target {target!r} is empty "
                                 f"({len(empty):,} rows have no target)")
        if config.task == "regression":
            y = float_targets(_numbers(values, target, path, lines, "target"), f"{path}: {target}")
        else:
            try:
                labels = np.array([float(v) for v in values])
            except ValueError:
                labels = np.array([v.strip() for v in values])
            y, names = class_labels(labels, f"{path}: column {target!r}")
    return RawData(x.astype(np.float32), y, path.name, task=config.task, class_names=names,
                   extras={"feature_names": features})


def _csv_rows(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """The header, the rows, and the line each row ends on (for messages)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            sample = handle.read(16384)
            handle.seek(0)
            if not sample.strip():
                raise WorkbenchError(f"{path}: is empty")
            try:
                dialect = csv.Sniffer().sniff(sample, delimiters=_DELIMITERS)
            except csv.Error:  # one column, or too little text to tell: commas
                dialect = csv.excel
            reader = csv.reader(handle, dialect)
            first = next(reader)
            rows, lines = [], []
            if all(_is_number(cell) for cell in first):
                # No header: the first line is a sample, not names (a table saved without
                # its header would silently lose a row and be labelled by its values).
                header = [f"column {i + 1}" for i in range(len(first))]
                rows.append(first)
                lines.append(reader.line_num)
            else:
                header = [name.strip() for name in first]
                header = [name or f"column {i + 1}" for i, name in enumerate(header)]
            repeated = sorted({name for name in header if header.count(name) > 1})
            if repeated:
                raise WorkbenchError(f"{path}: the header names {repeated[0]!r} more than once")
            for row in reader:
                if not row or not any(cell.strip() for cell in row):
                    continue  # blank lines (a trailing newline) are not samples
                if len(row) != len(header):
                    raise WorkbenchError(f"{path}: line {reader.line_num} has {len(row)} values but the "
                                         f"header names {len(header)} columns")
                rows.append(row)
                lines.append(reader.line_num)
    except UnicodeDecodeError:
        raise WorkbenchError(f"{path}: is not a UTF-8 text file (expected a CSV table)") from None
    except csv.Error as error:
        raise WorkbenchError(f"{path}: is not a readable CSV table ({error})") from None
    except OSError as error:
        raise WorkbenchError(f"{path}: cannot be read ({error.strerror})") from None
    if not rows:
        raise WorkbenchError(f"{path}: has a header but no rows of data")
    return header, rows, lines


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _numbers(values, name: str, path: Path, lines: list[int], role: str = "feature") -> np.ndarray:
    """A column as float64; empty cells are NaN; text is refused with the line it is on."""
    text = np.char.strip(np.asarray(values, dtype=str))
    text = np.where(text == "", "nan", text)  # np.where widens the type: "nan" is not cut to "n"
    try:
        return text.astype(np.float64)
    except ValueError:
        for index, value in enumerate(text):
            try:
                float(value)
            except ValueError:
                advice = ("feature columns must hold numbers: encode it as numbers or remove the column"
                          if role == "feature" else "a regression target must be numbers")
                raise WorkbenchError(f"{path}: column {name!r} is not numeric (line {lines[index]}: "
                                     f"{str(value)!r}); {advice}") from None
        raise


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
