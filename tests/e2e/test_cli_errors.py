"""The command line on bad input: exit 1 with one readable line, never a traceback.

Most cases run in-process through ``workbench.cli.main`` (fast); a few run the real
``python -m workbench.cli`` as a subprocess, to prove end to end that nothing else (a
traceback, TensorFlow's start-up notes) reaches the terminal.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.experiment import DEFAULT_EXPERIMENT, Experiment

DEFAULT_TEXT = DEFAULT_EXPERIMENT.read_text(encoding="utf-8")
DEFAULT = json.loads(DEFAULT_TEXT)
PREFIX = "workbench: error: "


def _variant(edit) -> str:
    """The default experiment, edited by ``edit(document)``, as JSON text."""
    document = copy.deepcopy(DEFAULT)
    edit(document)
    return json.dumps(document, indent=1)


def _unknown_layer(doc: dict) -> None:
    doc["model"]["nodes"][2]["type"] = "NoSuchLayer"  # pool_1


def _shape_mismatch(doc: dict) -> None:
    # conv_1 gives (8, 8, 16); "side" turns it into (8, 8, 32); "merge" adds the two.
    model = doc["model"]
    model["nodes"] += [
        {"id": "side", "type": "Conv2D",
         "params": {"filters": 32, "kernel_size": [3, 3], "padding": "same"}, "pos": [240, 200]},
        {"id": "merge", "type": "Add", "params": {}, "pos": [360, 100]},
    ]
    model["edges"] = [e for e in model["edges"] if (e["from"], e["to"]) != ("conv_1", "pool_1")]
    model["edges"] += [
        {"from": "conv_1", "to": "side", "port": 0},
        {"from": "conv_1", "to": "merge", "port": 0},
        {"from": "side", "to": "merge", "port": 1},
        {"from": "merge", "to": "pool_1", "port": 0},
    ]


def _cycle(doc: dict) -> None:
    # conv_1 is fed by pool_1 instead of the image: conv_1 -> pool_1 -> conv_1.
    doc["model"]["edges"][0] = {"from": "pool_1", "to": "conv_1", "port": 0}


def _units_zero(doc: dict) -> None:
    doc["model"]["nodes"][6]["params"]["units"] = 0  # digit


@pytest.fixture(scope="module")
def folder(tmp_path_factory, keras) -> Path:
    """Every bad (and one good) input file, written once for the module."""
    root = tmp_path_factory.mktemp("cli")
    texts = {
        "good.json": DEFAULT_TEXT,
        "truncated.json": DEFAULT_TEXT[: len(DEFAULT_TEXT) // 2],
        "empty.json": "",
        "list.json": json.dumps([DEFAULT]),
        "wrong_format.json": _variant(lambda d: d.update(format="keras-workbench/model")),
        "future.json": _variant(lambda d: d.update(version=99)),
        "unknown_layer.json": _variant(_unknown_layer),
        "mismatch.json": _variant(_shape_mismatch),
        "cycle.json": _variant(_cycle),
        "units0.json": _variant(_units_zero),
    }
    for name, text in texts.items():
        (root / name).write_text(text, encoding="utf-8")
    (root / "binary.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x80")

    inputs = keras.Input((4,), name="numbers")
    doubled = keras.layers.Lambda(lambda x: x * 2.0, name="double")(inputs)
    outputs = keras.layers.Dense(2, name="head")(doubled)
    keras.Model(inputs, outputs, name="with_lambda").save(root / "lambda.keras")
    return root


@pytest.fixture
def cli(folder, monkeypatch, capsys):
    """Run ``workbench ARGS`` in-process in the files' folder; returns (code, out, err)."""
    monkeypatch.chdir(folder)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def assert_one_error_line(code: int, out: str, err: str, *expected: str) -> str:
    """Exit 1, nothing on stdout, one ``workbench: error:`` line holding ``expected``."""
    assert code == 1, (code, out, err)
    assert out == "", out
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith(PREFIX) and line[len(PREFIX):].strip(), line
    for text in expected:
        assert text in line, f"{text!r} not in {line!r}"
    return line


# ------------------------------------------------------------- unreadable files
FILE_CASES = [
    ("missing.json", ["no such file"]),
    ("truncated.json", ["is not valid JSON", "line"]),
    ("binary.json", ["is not a text file"]),
    ("empty.json", ["is empty"]),
    ("list.json", ["must hold a JSON object"]),
    ("wrong_format.json", ["format", "keras-workbench/model", "not a Keras Workbench"]),
    ("future.json", ["version", "99", "upgrade"]),
]


@pytest.mark.parametrize("command", [["validate"], ["summary"], ["build", "-o", "out.keras"]],
                         ids=["validate", "summary", "build"])
@pytest.mark.parametrize("name,expected", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_an_unreadable_experiment_is_one_line_naming_the_file(cli, folder, command, name,
                                                              expected):
    code, out, err = cli(command[0], name, *command[1:])
    line = assert_one_error_line(code, out, err, *expected)
    assert line.startswith(f"{PREFIX}{name}: "), line
    assert not (folder / "out.keras").exists()


# ------------------------------------------------------------ validation errors
def _validate_lines(cli, name: str) -> list[str]:
    code, out, err = cli("validate", name)
    assert code == 1, (out, err)
    assert err == "", err
    assert "Traceback" not in out
    lines = out.splitlines()
    assert lines and all(line.startswith(f"{name}: ") for line in lines), out
    assert not any(": ok (" in line for line in lines), out
    return lines


def _errors_by_node(lines: list[str], name: str) -> dict[str, str]:
    errors = {}
    for line in lines:
        rest = line[len(name) + 2:]
        if not rest.startswith("warning: "):
            node, _, message = rest.partition(": ")
            errors[node] = message
    return errors


def test_an_unknown_layer_type_is_reported_on_its_node(cli):
    errors = _errors_by_node(_validate_lines(cli, "unknown_layer.json"), "unknown_layer.json")
    assert list(errors) == ["pool_1"], errors
    assert "unknown layer type 'NoSuchLayer'" in errors["pool_1"]


def test_a_shape_mismatch_is_reported_on_the_merge_node(cli):
    errors = _errors_by_node(_validate_lines(cli, "mismatch.json"), "mismatch.json")
    # Downstream nodes wait for the merge rather than failing in turn: one place to fix.
    assert list(errors) == ["merge"], errors
    assert "(None, 8, 8, 16)" in errors["merge"] and "(None, 8, 8, 32)" in errors["merge"]


def test_a_cycle_is_reported_on_the_nodes_in_it(cli):
    errors = _errors_by_node(_validate_lines(cli, "cycle.json"), "cycle.json")
    for node in ("conv_1", "pool_1"):
        assert "cycle" in errors.get(node, ""), errors


def test_a_cycle_is_reported_only_on_the_nodes_in_it(cli):
    errors = _errors_by_node(_validate_lines(cli, "cycle.json"), "cycle.json")
    assert sorted(n for n, m in errors.items() if "cycle" in m) == ["conv_1", "pool_1"], errors


def test_an_invalid_parameter_names_the_node_and_the_range(cli):
    errors = _errors_by_node(_validate_lines(cli, "units0.json"), "units0.json")
    assert list(errors) == ["digit"], errors
    assert ">= 1" in errors["digit"] and "units" in errors["digit"]


def test_validation_errors_as_json(cli):
    code, out, err = cli("validate", "--json", "mismatch.json")
    assert code == 1 and err == ""
    result = json.loads(out)
    assert result["ok"] is False
    assert [e["node"] for e in result["errors"]] == ["merge"]


@pytest.mark.parametrize("name,expected", [
    ("units0.json", ["digit: ", ">= 1"]),
    ("unknown_layer.json", ["pool_1: ", "NoSuchLayer"]),
    ("mismatch.json", ["merge: ", "(None, 8, 8, 32)"]),
    ("cycle.json", ["conv_1: ", "cycle"]),
], ids=["parameter", "unknown-layer", "shape-mismatch", "cycle"])
def test_building_an_invalid_experiment_names_the_node(cli, folder, name, expected):
    code, out, err = cli("build", name, "-o", "built.keras")
    assert_one_error_line(code, out, err, *expected)
    assert not (folder / "built.keras").exists()


def test_summary_of_an_invalid_experiment_marks_the_node(cli):
    code, out, err = cli("summary", "units0.json")
    assert code == 1 and err == "" and "Traceback" not in out
    digit_line = next(i for i, line in enumerate(out.splitlines()) if line.startswith("digit "))
    assert ">= 1" in out.splitlines()[digit_line + 1]


# ---------------------------------------------------------- model files (Lambda)
@pytest.mark.parametrize("command", [["summary"], ["import", "-o", "imported.json"]],
                         ids=["summary", "import"])
def test_a_lambda_model_is_refused_without_unsafe(cli, folder, command):
    code, out, err = cli(command[0], "lambda.keras", *command[1:])
    line = assert_one_error_line(code, out, err, "lambda.keras", "Lambda", "--unsafe")
    assert line.startswith(f"{PREFIX}lambda.keras: "), line
    assert not (folder / "imported.json").exists()


def test_summary_of_a_lambda_model_with_unsafe(cli):
    code, out, err = cli("summary", "--unsafe", "lambda.keras")
    assert (code, err) == (0, ""), out
    assert "double" in out and "Lambda" in out
    assert "Total params: 10" in out  # Dense(4 -> 2): 8 weights + 2 biases


def test_import_of_a_lambda_model_with_unsafe(cli, folder):
    code, out, err = cli("import", "--unsafe", "lambda.keras", "-o", "unsafe.json")
    assert (code, err) == (0, ""), err
    assert "imported 3 layers" in out
    experiment = Experiment.load(folder / "unsafe.json")
    assert experiment.graph.node("double").type == "Lambda"
    assert [a.shape for a in experiment.load_weights()["head"]] == [(4, 2), (2,)]


# ------------------------------------------------------------- output paths
def test_build_into_a_missing_folder(cli, folder):
    code, out, err = cli("build", "good.json", "-o", "nowhere/model.keras")
    assert_one_error_line(code, out, err, "nowhere/model.keras", "does not exist")
    assert not (folder / "nowhere").exists()


def test_build_with_a_wrong_extension(cli, folder):
    code, out, err = cli("build", "good.json", "-o", "model.txt")
    assert_one_error_line(code, out, err, "model.txt", ".keras")
    assert not (folder / "model.txt").exists()


def test_import_with_a_wrong_extension(cli, folder):
    code, out, err = cli("import", "lambda.keras", "-o", "imported.txt")
    assert_one_error_line(code, out, err, "imported.txt", ".json")


def test_summary_of_a_missing_model_file(cli):
    code, out, err = cli("summary", "missing.keras")
    assert_one_error_line(code, out, err, "missing.keras", "no such file")


# ------------------------------------------------------------------- usage
@pytest.mark.parametrize("args", [[], ["validate"], ["build", "good.json"], ["frobnicate"],
                                  ["train", "good.json", "--epochs", "0"],
                                  ["train", "good.json", "--epochs", "ten"]],
                         ids=["nothing", "no-file", "no-output", "unknown-command", "zero-epochs",
                              "epochs-not-a-number"])
def test_usage_errors_exit_2(cli, capsys, args):
    with pytest.raises(SystemExit) as stop:
        main(args)
    assert stop.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and "usage: workbench" in err and "workbench: error:" in err
    assert "Traceback" not in err


# ------------------------------------------------- the real command, end to end
def _run(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("WORKBENCH_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "workbench.cli", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args,expected", [
    (["validate", "missing.json"], ["missing.json", "no such file"]),
    (["summary", "lambda.keras"], ["lambda.keras", "Lambda", "--unsafe"]),
    # Loads TensorFlow and builds the model before the save fails: nothing of TensorFlow's
    # start-up chatter may reach stderr.
    (["build", "good.json", "-o", "nowhere/model.keras"], ["nowhere/model.keras",
                                                           "does not exist"]),
], ids=["missing-file", "lambda", "build-missing-folder"])
def test_subprocess_prints_one_line_and_no_traceback(folder, args, expected):
    result = _run(folder, *args)
    assert_one_error_line(result.returncode, result.stdout, result.stderr, *expected)


def test_subprocess_validation_errors_go_to_stdout(folder):
    result = _run(folder, "validate", "mismatch.json")
    assert result.returncode == 1
    assert result.stderr == "", result.stderr
    assert "Traceback" not in result.stdout
    errors = _errors_by_node(result.stdout.splitlines(), "mismatch.json")
    assert list(errors) == ["merge"], result.stdout


def test_subprocess_usage_error_exits_2(folder):
    result = _run(folder)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "usage: workbench" in result.stderr and "Traceback" not in result.stderr
