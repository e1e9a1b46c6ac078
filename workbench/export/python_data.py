"""The data-loading part of an exported script: ``load_data()`` for the experiment's source.

Standalone code (NumPy, scikit-learn, Keras, h5py) for the sources people bring or that are a
few lines long: digits, blobs, Keras' data sets, ``.npz``, HDF5, CSV and image folders. The
split and the preprocessing follow the experiment (stratified split, statistics from the
training part only), the same kind of split as the workbench's although not the same rows.
Sources the workbench generates itself (shapes, spirals) get a TODO naming the source and
code that loads them through Keras Workbench when it is installed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from workbench.data.config import DataConfig
from workbench.data.sources import DEFAULT_CLASSES, DEFAULT_NOISE, DEFAULT_SAMPLES
from workbench.export.python_code import py_value

_KERAS_SETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")
_COLOR_MODES = {1: "grayscale", 3: "rgb", 4: "rgba"}


@dataclass
class DataCode:
    """``load_data()`` and how ``main`` passes its result to ``fit``.

    Attributes:
        source: the functions (``load_data`` and, for arrays, ``prepare``).
        fit_head: the lines of ``main`` that load the data (and class weights) before fit.
        fit_args: the data arguments of ``model.fit`` (the caller adds epochs and the rest).
        todo: whether the source has no standalone loader (a TODO in the code).
    """

    source: str
    fit_head: list[str]
    fit_args: list[str]
    todo: bool = False


def data_code(data: dict, input_shape: tuple, batch_size: int) -> DataCode:
    """The data-loading code for an experiment's data section.

    Args:
        data: the experiment's "data" section.
        input_shape: the model's input shape without the batch dimension (folders read images
            at this size; statistics are per channel for images, per feature for tables).
        batch_size: the training batch size (folders are batched as they are read).
    """
    config = DataConfig.from_dict(data)
    if config.source == "folder":
        return _folder(config, input_shape, batch_size)
    reader = {"digits": _digits, "blobs": _blobs, "npz": _npz, "hdf5": _hdf5, "csv": _csv}.get(
        config.source)
    if config.source in _KERAS_SETS:
        reader = _keras_set
    if reader is None:
        return _workbench_fallback(config)
    body = reader(config)
    source = (f'def load_data():\n    """{_describe(config)}"""\n' + "\n".join(body)
              + "\n    return prepare(x, y, known_max)\n\n\n" + _prepare(config, input_shape))
    return _array_fit(config, source)


def _describe(config: DataConfig) -> str:
    where = f" ({config.path})" if config.path else ""
    return f"The experiment's data: the {config.source} source{where}, split and prepared."


# ----------------------------------------------------------------------- readers
def _digits(config: DataConfig):
    classes = config.classes or DEFAULT_CLASSES["digits"]
    return [
        "    from sklearn.datasets import load_digits",
        "",
        f"    digits = load_digits(n_class={classes})",
        '    x = digits.images.astype("float32")[..., None]  # (N, 8, 8, 1), values 0 to 16',
        '    y = digits.target.astype("int32")',
        "    known_max = 16.0",
    ]


def _blobs(config: DataConfig):
    samples = config.samples or DEFAULT_SAMPLES["blobs"]
    centres = config.classes or DEFAULT_CLASSES["blobs"]
    spread = DEFAULT_NOISE["blobs"] if config.noise is None else config.noise
    return [
        "    from sklearn.datasets import make_blobs",
        "",
        f"    x, y = make_blobs(n_samples={samples}, n_features=2, centers={centres}, "
        f"cluster_std={spread!r},",
        f"                      center_box=(-5.0, 5.0), random_state={config.seed!r})",
        '    x, y = x.astype("float32"), y.astype("int32")',
        "    known_max = None",
    ]


def _keras_set(config: DataConfig):
    lines = [
        f"    (x, y), _ = keras.datasets.{config.source}.load_data()  # downloads once, then cached",
        '    y = y.reshape(-1).astype("int32")',
    ]
    if config.source in ("mnist", "fashion_mnist"):
        lines.insert(1, "    x = x[..., None]  # one channel: (N, 28, 28, 1)")
    return lines + ["    known_max = 255.0"]


def _npz(config: DataConfig):
    x_key, y_key = _keys(config)
    lines = [
        f"    with np.load({json.dumps(config.path)}, allow_pickle=False) as archive:",
        f"        x_key = {x_key}",
        "        x = archive[x_key]",
    ]
    if not config.autoencoder:
        lines += [f"        y = archive[{y_key}]"]
    return lines + _finish_arrays(config)


def _hdf5(config: DataConfig):
    x_key, y_key = _keys(config)
    lines = [
        "    import h5py",
        "",
        f"    with h5py.File({json.dumps(config.path)}, \"r\") as handle:",
        f"        x_key = {x_key.replace('archive', 'handle')}",
        "        x = handle[x_key][()]",
    ]
    if not config.autoencoder:
        lines += [f"        y = handle[{y_key.replace('archive', 'handle')}][()]"]
    return lines + _finish_arrays(config)


def _keys(config: DataConfig) -> tuple[str, str]:
    """Expressions for the array names: the configured ones, or x/y, or Keras' x_train/y_train."""
    if config.x_key:
        x_key = json.dumps(config.x_key)
    else:
        x_key = '"x" if "x" in archive else "x_train"'
    y_key = json.dumps(config.y_key) if config.y_key else 'x_key.replace("x", "y", 1)'
    return x_key, y_key


def _finish_arrays(config: DataConfig) -> list[str]:
    lines = ["    known_max = 255.0 if x.dtype == np.uint8 else None  # 8-bit images: scale by 255",
             '    x = x.astype("float32")']
    if config.autoencoder:
        lines.append("    y = None  # an autoencoder: the target is the input")
    elif config.task == "classification":
        lines.append("    _, y = np.unique(y, return_inverse=True)  # labels as class indices 0..K-1")
    else:
        lines.append('    y = y.astype("float32")')
    return lines


def _csv(config: DataConfig):
    lines = [
        "    import csv",
        "",
        f"    with open({json.dumps(config.path)}, newline=\"\", encoding=\"utf-8-sig\") as handle:",
        '        dialect = csv.Sniffer().sniff(handle.read(16384), delimiters=",;\\t|")',
        "        handle.seek(0)",
        "        rows = [row for row in csv.reader(handle, dialect) if any(c.strip() for c in row)]",
        "    try:  # a first line of numbers only is data: the table has no header",
        "        [float(value) for value in rows[0]]",
        '        header = [f"column {i + 1}" for i in range(len(rows[0]))]',
        "    except ValueError:",
        "        header, rows = [name.strip() for name in rows[0]], rows[1:]",
    ]
    if config.autoencoder:
        lines += ["    target = None  # an autoencoder: the target is the input"]
    else:
        column = json.dumps(config.target) if config.target else "header[-1]"
        lines += [f"    target = header.index({column})"]
    lines += [
        "    x = np.array([[float(v) if v.strip() else np.nan for i, v in enumerate(row) if i != target]",
        '                  for row in rows], dtype="float32")',
    ]
    if config.autoencoder:
        lines += ["    y = None"]
    elif config.task == "regression":
        lines += ['    y = np.array([float(row[target]) for row in rows], dtype="float32")']
    else:
        lines += [
            "    labels = [row[target].strip() for row in rows]",
            "    try:",
            "        labels = [float(v) for v in labels]  # numeric labels sort as numbers",
            "    except ValueError:",
            "        pass  # text labels sort alphabetically",
            "    _, y = np.unique(labels, return_inverse=True)",
        ]
    return lines + ["    known_max = None"]


# ---------------------------------------------------------------- split, prepare
def _prepare(config: DataConfig, input_shape: tuple) -> str:
    seed = config.seed
    axis = {1: "0", 3: "(0, 1, 2)"}.get(len(input_shape), "None")
    classification = config.task == "classification" and not config.autoencoder
    lines = ["def prepare(x, y, known_max):",
             '    """Subset, split, preprocessing (fitted on the training part) and targets."""']
    if config.validation_split > 0:
        lines += ["    from sklearn.model_selection import train_test_split", ""]
    if config.samples is not None and config.source not in ("blobs",):
        lines += [f"    keep = np.random.default_rng({seed!r}).permutation(len(x))[:{config.samples}]",
                  "    x, y = x[keep], (None if y is None else y[keep])"]
    if "onehot" in config.preprocessing and classification:
        lines.append("    num_classes = int(y.max()) + 1")
    if config.validation_split > 0:
        options = f"test_size={config.validation_split!r}, random_state={seed!r}"
        if config.autoencoder:
            lines += [f"    x_train, x_val = train_test_split(x, {options})"]
        else:
            lines += [f"    x_train, x_val, y_train, y_val = train_test_split(x, y, {options},",
                      f"                                                      "
                      f"stratify={'y' if classification else 'None'})"]
    else:
        lines += ["    x_train, y_train = x, y  # no validation split"]
    val = config.validation_split > 0
    for step in config.preprocessing:
        if step == "scale":
            lines += ["    if known_max:  # scale: divide by the largest value the source can hold",
                      "        x_train = x_train / known_max"]
            lines += ["        x_val = x_val / known_max"] if val else []
        elif step == "standardize":
            lines += [f"    mean, std = x_train.mean(axis={axis}), x_train.std(axis={axis})",
                      "    std = np.where(std > 0, std, 1.0)",
                      "    x_train = (x_train - mean) / std"]
            lines += ["    x_val = (x_val - mean) / std"] if val else []
        elif step == "minmax":
            lines += [f"    low, high = x_train.min(axis={axis}), x_train.max(axis={axis})",
                      "    span = np.where(high > low, high - low, 1.0)",
                      "    x_train = (x_train - low) / span"]
            lines += ["    x_val = (x_val - low) / span"] if val else []
        elif step == "onehot" and classification:
            lines += ["    y_train = keras.utils.to_categorical(y_train, num_classes)"]
            lines += ["    y_val = keras.utils.to_categorical(y_val, num_classes)"] if val else []
    lines += ['    x_train = x_train.astype("float32")']
    lines += ['    x_val = x_val.astype("float32")'] if val else []
    if config.autoencoder:
        lines += ["    y_train = x_train  # an autoencoder reconstructs its input"]
        lines += ["    y_val = x_val"] if val else []
    lines += ["    return (x_train, y_train), (x_val, y_val)" if val else
              "    return (x_train, y_train), None"]
    return "\n".join(lines)


def _array_fit(config: DataConfig, source: str) -> DataCode:
    head = ["train, validation = load_data()"]
    args = ["*train"]
    if config.validation_split > 0:
        args.append("validation_data=validation")
    if config.class_weights == "balanced":
        head += _class_weight_lines("onehot" in config.preprocessing)
        args.append("class_weight=class_weight")
    head += _augmentation_todo(config)
    return DataCode(source, head, args)


def _class_weight_lines(one_hot: bool) -> list[str]:
    labels = "train[1].argmax(axis=-1)  # one-hot rows back to classes" if one_hot else "train[1]"
    return [f"labels = {labels}",
            "counts = np.bincount(labels)  # balanced class weights: rare classes weigh more",
            "class_weight = {i: len(labels) / (len(counts) * c) for i, c in enumerate(counts) if c}"]


def _augmentation_todo(config: DataConfig) -> list[str]:
    if not config.augmentation:
        return []
    kinds = ", ".join(spec["type"] for spec in config.augmentation_specs())
    return [f"# TODO: the experiment augments training images ({kinds}); Keras Workbench applies",
            "# keras.layers.Random* layers to each training batch. Add them to a tf.data pipeline",
            "# (dataset.map) or at the start of the model to train the same way."]


# ----------------------------------------------------------------------- folders
def _folder(config: DataConfig, input_shape: tuple, batch_size: int) -> DataCode:
    height, width = (input_shape[0], input_shape[1]) if len(input_shape) == 3 else (
        config.image_size or (256, 256))
    channels = input_shape[-1] if len(input_shape) == 3 else 3
    mode = _COLOR_MODES.get(channels, "rgb")
    labels = "categorical" if "onehot" in config.preprocessing else "int"
    split = config.validation_split > 0
    options = (f"{json.dumps(config.path)}, image_size=({height}, {width}), color_mode=\"{mode}\",\n"
               f"        label_mode=\"{labels}\", batch_size={config.batch_size or batch_size}, "
               f"seed={config.seed!r}")
    lines = ["def load_data():",
             f'    """{_describe(config)}"""']
    if split:
        lines += ["    train, validation = keras.utils.image_dataset_from_directory(",
                  f"        {options},",
                  f'        validation_split={config.validation_split!r}, subset="both",',
                  "    )"]
    else:
        lines += ["    train = keras.utils.image_dataset_from_directory(",
                  f"        {options},", "    )", "    validation = None"]
    for step in config.preprocessing:
        if step == "scale":
            lines += ["    scale = layers.Rescaling(1 / 255)  # scale: 8-bit pixels to 0-1"]
            lines += _map_both("scale(x)", split)
        elif step == "standardize":
            lines += ["    normalize = layers.Normalization(axis=-1)  # standardize per channel",
                      "    normalize.adapt(train.map(lambda x, y: x))  # statistics of the training images"]
            lines += _map_both("normalize(x)", split)
        elif step == "minmax":
            lines += ["    # TODO: minmax (to 0-1 with the training images' per-channel minimum and",
                      "    # maximum) is not written out for folders: compute them and map them here."]
    if config.autoencoder:
        lines += ["    train = train.map(lambda x, y: (x, x))  # an autoencoder reconstructs its input"]
        lines += ["    validation = validation.map(lambda x, y: (x, x))"] if split else []
    lines += ["    return train, validation"]
    head = ["train, validation = load_data()"] + _augmentation_todo(config)
    args = ["train"] + (["validation_data=validation"] if split else [])
    if config.class_weights == "balanced":
        head += ["# TODO: the experiment uses balanced class weights: count the images per class",
                 "# folder and pass class_weight={class: total / (classes * count)} to fit."]
    return DataCode("\n".join(lines), head, args)


def _map_both(expression: str, split: bool) -> list[str]:
    lines = [f"    train = train.map(lambda x, y: ({expression}, y))"]
    if split:
        lines.append(f"    validation = validation.map(lambda x, y: ({expression}, y))")
    return lines


# ---------------------------------------------------------------------- fallback
def _workbench_fallback(config: DataConfig) -> DataCode:
    section = config.to_dict()
    section.setdefault("source", config.source)
    source = "\n".join([
        "def load_data():",
        f'    """{_describe(config)}"""',
        f"    # TODO: the {config.source!r} source is generated by Keras Workbench itself and has no",
        "    # standalone loader here: write your own, or, with Keras Workbench installed, this",
        "    # loads exactly the experiment's data:",
        "    from workbench.data import load_dataset",
        "",
        f"    data = load_dataset({py_value(section)})",
        "    validation = (data.x_val, data.y_val) if data.x_val is not None and len(data.x_val) else None",
        "    return (data.x_train, data.y_train), validation",
    ])
    head = ["train, validation = load_data()"]
    args = ["*train", "validation_data=validation"]
    if config.class_weights == "balanced":
        head += _class_weight_lines("onehot" in config.preprocessing)
        args.append("class_weight=class_weight")
    head += _augmentation_todo(config)
    return DataCode(source, head, args, todo=True)
