"""A whole exported script: the model in functional-API code, its compile and fit, its data.

The script is plain Keras that a person can read and run without the workbench:

    python NAME.py --no-train     build the model, load NAME.weights.h5, print its summary
    python NAME.py                train it as the experiment does and save NAME.keras
    python NAME.py --fine-tune    train from the exported weights

``build_model()`` is importable without running anything, which is how the export is
verified (in a subprocess: load the weights, compare outputs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from workbench.experiment import Experiment
from workbench.export.python_code import INDENT, model_code, py_value
from workbench.export.python_data import DataCode, data_code
from workbench.graph.graph import ModelGraph
from workbench.training.config import OPTIMIZERS, TrainingConfig

# The options training adds under the experiment's own (as TrainingSession does).
_EARLY_STOPPING = {"monitor": "val_loss", "patience": 5, "restore_best_weights": True}
_REDUCE_LR = {"monitor": "val_loss", "factor": 0.5, "patience": 3}


@dataclass
class Script:
    """An exported script's text and what the reader should know about it."""

    text: str
    notes: list[str] = field(default_factory=list)


def weights_path_for(script: str | Path) -> Path:
    """Where the weights of an exported script go: ``NAME.weights.h5`` beside ``NAME.py``."""
    script = Path(script)
    return script.with_name(script.stem + ".weights.h5")


def script_source(graph: ModelGraph, experiment: Experiment | None = None, *,
                  script_name: str = "model.py", origin: str | None = None) -> Script:
    """The text of an exported script for ``graph``.

    Args:
        graph: the model graph.
        experiment: gives the training config and the data section; without one the script
            compiles with the workbench's defaults and ``load_data`` is a TODO.
        script_name: the script's file name (the weights and the trained model are named
            after it).
        origin: where the model came from, for the header.

    Raises:
        GraphError: the graph has errors.
    """
    stem = Path(script_name).stem
    model = model_code(graph)
    notes = list(model.notes)
    training = TrainingConfig.from_dict(experiment.training if experiment else {})
    input_shape = _input_shape(graph)
    if experiment is not None and len(graph.inputs) == 1 and len(graph.outputs) == 1:
        data = data_code(experiment.data, input_shape, training.batch_size)
        if data.todo:
            notes.append(f"the {experiment.data.get('source')!r} data source has no standalone loader: "
                         "load_data() uses Keras Workbench (a TODO in the script)")
    else:
        data = _no_data(experiment, graph)
        notes.append("load_data() is a TODO: " + ("the model has several inputs or outputs"
                                                   if experiment else "there is no experiment"))
    title = experiment.name if experiment else graph.name
    imports = ["import argparse", "from pathlib import Path", ""]
    uses_numpy = any("np." in part for part in (data.source, *data.fit_head))
    imports += ["import keras", "import numpy as np"] if uses_numpy else ["import keras"]
    imports += ["from keras import layers"]
    if model.setup:
        imports += ["", *model.setup]
    constants = ['HERE = Path(__file__).resolve().parent',
                 f'WEIGHTS = HERE / "{stem}.weights.h5"  # the exported (trained) weights',
                 f'TRAINED = HERE / "{stem}.keras"  # where training saves the model',
                 f"EPOCHS = {training.epochs}", f"BATCH_SIZE = {training.batch_size}",
                 f"SEED = {training.seed!r}"]
    parts = [
        _header(title, experiment, stem, origin, training),
        "\n".join(imports),
        "\n".join(constants),
        model.source,
        _compile_function(training, experiment is not None),
        data.source,
        _main(training, data, stem),
        'if __name__ == "__main__":\n    main()',
    ]
    head = "\n\n".join(part.rstrip() for part in parts[:3])
    text = "\n\n\n".join([head, *(part.rstrip() for part in parts[3:])]) + "\n"
    return Script(text, notes)


def _input_shape(graph: ModelGraph) -> tuple:
    inputs = graph.inputs
    if not inputs:
        return ()
    return tuple(graph.nodes[inputs[0]].params.get("shape") or ())


def _header(title: str, experiment: Experiment | None, stem: str, origin: str | None,
            training: TrainingConfig) -> str:
    lines = [f'"""{title}: a Keras model exported by Keras Workbench.', ""]
    if experiment is not None and experiment.description:
        lines += [experiment.description, ""]
    if origin:
        lines += [f"Exported from {origin}."]
    lines += [
        "The model is written layer by layer with the functional API (names and parameters as",
        f"in the workbench); its weights are in {stem}.weights.h5 beside this file.",
        "",
        f"    python {stem}.py --no-train     build it, load the weights, print a summary",
        f"    python {stem}.py                train it as the experiment does, save {stem}.keras",
        f"    python {stem}.py --fine-tune    train starting from the exported weights",
        '"""',
    ]
    return "\n".join(lines)


def _compile_function(training: TrainingConfig, known: bool) -> str:
    name = training.optimizer.get("name", "adam").lower()
    options = {k: v for k, v in training.optimizer.items() if k != "name"}
    args = ", ".join(f"{k}={py_value(v)}" for k, v in options.items())
    lines = ["def compile_model(model):",
             '    """The experiment\'s optimizer, loss and metrics."""']
    if not known:
        lines.append("    # TODO: no experiment came with this model: these are Keras Workbench's defaults.")
    schedule = training.schedule
    if schedule and schedule.get("name", "constant") != "constant":
        lines += [f"    # TODO: the experiment sets the learning rate of every batch with a schedule "
                  f"({schedule['name']}),",
                  f"    # {json.dumps(schedule)}; here the rate stays at its peak."]
    lines += [
        "    model.compile(",
        f"        optimizer=keras.optimizers.{OPTIMIZERS[name][0]}({args}),",
        f"        loss={py_value(training.loss)},",
        f"        metrics={py_value(list(training.metrics))},",
        "    )",
    ]
    return "\n".join(lines)


def _callbacks(training: TrainingConfig, validation: bool, stem: str) -> list[str]:
    monitor = "val_loss" if validation else "loss"
    made = []
    if training.early_stopping:
        options = {**_EARLY_STOPPING, "monitor": monitor, **training.early_stopping}
        made.append(f"keras.callbacks.EarlyStopping({_kwargs(options)})")
    if training.reduce_lr:
        options = {**_REDUCE_LR, "monitor": monitor, **training.reduce_lr}
        made.append(f"keras.callbacks.ReduceLROnPlateau({_kwargs(options)})")
    if training.checkpoint_best:
        made.append(f'keras.callbacks.ModelCheckpoint(\n    HERE / "{stem}.best.keras", '
                    f'monitor="{monitor}", save_best_only=True\n)')
    return made


def _kwargs(options: dict) -> str:
    return ", ".join(f"{k}={py_value(v)}" for k, v in options.items())


def _main(training: TrainingConfig, data: DataCode, stem: str) -> str:
    validation = any(arg.startswith("validation_data") for arg in data.fit_args)
    body = [
        "parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])",
        'parser.add_argument("--no-train", action="store_true",',
        '                    help="build the model with the exported weights and print its summary")',
        'parser.add_argument("--fine-tune", action="store_true",',
        '                    help="start training from the exported weights")',
        'parser.add_argument("--epochs", type=int, default=EPOCHS, help=f"default {EPOCHS}")',
        "args = parser.parse_args(argv)",
        "",
    ]
    if training.seed is not None:
        body.append("keras.utils.set_random_seed(SEED)")
    if training.mixed_precision:
        body += ["if not args.no_train:  # the experiment trains in mixed precision (float16 compute)",
                 '    keras.config.set_dtype_policy("mixed_float16")']
    body += [
        "model = build_model()",
        "if args.no_train or args.fine_tune:",
        "    model.load_weights(WEIGHTS)",
        "if args.no_train:",
        "    model.summary()",
        "    return",
        "compile_model(model)",
        *data.fit_head,
    ]
    callbacks = _callbacks(training, validation, stem)
    fit_args = [*data.fit_args, "epochs=args.epochs"]
    if "*train" in data.fit_args:
        fit_args.append("batch_size=BATCH_SIZE")
    if callbacks:
        body.append("callbacks = [")
        for made in callbacks:  # continuation lines keep their indentation under the list's
            body += f"    {made},".replace("\n", "\n    ").split("\n")
        body.append("]")
        fit_args.append("callbacks=callbacks")
    body += ["model.fit(", *[f"    {arg}," for arg in fit_args], ")"]
    body += ["model.save(TRAINED)", 'print(f"saved the trained model as {TRAINED}")']
    lines = ["def main(argv=None):", '    """Build the model, and train it unless --no-train."""',
             *[INDENT + line if line else "" for line in body]]
    return "\n".join(lines)


def _no_data(experiment: Experiment | None, graph: ModelGraph) -> DataCode:
    why = ("the model has several inputs or outputs, which the workbench's data sources do not "
           "give" if experiment is not None else "the model came without an experiment")
    source = "\n".join([
        "def load_data():",
        '    """The training data: (x_train, y_train) and (x_val, y_val), or None for no validation."""',
        f"    # TODO: {why}.",
        f"    # Return arrays that fit the model's inputs ({', '.join(graph.inputs)}) and outputs.",
        '    raise NotImplementedError("load_data() is a TODO: see the comment above it")',
    ])
    return DataCode(source, ["train, validation = load_data()"],
                    ["*train", "validation_data=validation"], todo=True)
