"""Fuzzing the experiment reader and the validator with mutated bundled experiments.

The bundled experiments (``experiments/default.json`` and the templates) are mutated at random
JSON paths (keys deleted, values replaced by JSON of other types, lists truncated, nodes
duplicated, node types and edge ends changed, version and format changed, keys added) and as
raw bytes (truncated, bytes flipped or inserted). Every mutated document is loaded and, when
that succeeds, validated and saved to JSON and read back. The property: the only exceptions
that escape are ``WorkbenchError``s, each one readable line; the file's ``ExperimentFileError``s
name the file; a document that loads comes back the same after a save.

An engine bug the fuzzer finds that cannot be fixed at once goes into ``KNOWN_BUGS`` (the fuzz
tests then let exactly that one through, so they keep looking for new ones) with a regression
test marked ``xfail(strict=True)``; the bugs found so far are fixed and their regression tests
below are plain tests.
"""

from __future__ import annotations

import copy
import json
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from workbench.errors import ExperimentFileError, WorkbenchError
from workbench.experiment import DEFAULT_EXPERIMENT, FORMAT, TEMPLATES_DIR, Experiment
from workbench.graph.validate import validate

SOURCES = [DEFAULT_EXPERIMENT, *sorted(TEMPLATES_DIR.glob("*.json"))]
RAW = {path.name: path.read_bytes() for path in SOURCES}
DOCUMENTS = {name: json.loads(raw) for name, raw in RAW.items()}
LABEL = "fuzz.json"

# ----------------------------------------------------------------- known bugs
# Each: (name, predicate on the escaped exception). Narrow on purpose: type, message and the
# engine function it comes from.


def _frames(error: BaseException) -> list[tuple[str, str]]:
    frames = traceback.extract_tb(error.__traceback__)
    return [(Path(frame.filename).as_posix(), frame.name) for frame in frames]


def _raised_in(error: BaseException, file_suffix: str, functions: set[str]) -> bool:
    return any(path.endswith(file_suffix) and name in functions for path, name in _frames(error))


KNOWN_BUGS: list[tuple[str, Callable[[BaseException], bool]]] = []


def _known_bug(error: BaseException) -> str | None:
    for name, matches in KNOWN_BUGS:
        if matches(error):
            return name
    return None


# ------------------------------------------------------------------ the check
def _check_error(error: WorkbenchError, label: str) -> None:
    message = str(error)
    assert message.strip(), f"{type(error).__name__} with an empty message"
    assert "\n" not in message, f"message is not one line: {message!r}"
    if isinstance(error, ExperimentFileError):
        assert message.startswith(label + ":"), f"message does not name the file: {message!r}"


def _check_validation(experiment: Experiment) -> None:
    report = validate(experiment.graph)
    errors = report.errors()
    assert report.ok == (not errors)
    assert set(report.nodes) == set(experiment.graph.nodes)
    for node_id, message in errors + report.warnings():
        assert node_id is None or node_id in experiment.graph.nodes, node_id
        assert isinstance(message, str) and message.strip(), (node_id, message)
        assert "\n" not in message, f"{node_id}: message is not one line: {message!r}"
    if report.ok:
        assert report.total_params >= report.trainable_params >= 0


def _check_round_trip(experiment: Experiment) -> None:
    document = experiment.to_dict()
    again = Experiment.from_dict(json.loads(experiment.to_json()), LABEL)
    assert again.to_dict() == document


def _load_and_validate(load: Callable[[], Experiment], label: str) -> None:
    """The property: load, validate, save and reload; only WorkbenchErrors (well-formed)
    escape."""
    try:
        experiment = load()
        _check_validation(experiment)
        _check_round_trip(experiment)
    except WorkbenchError as error:
        event(f"refused: {type(error).__name__}")
        _check_error(error, label)
    except Exception as error:  # noqa: BLE001 - the property is about exactly this
        bug = _known_bug(error)
        if bug is None:
            raise
        event(f"known engine bug: {bug}")
    else:
        event("loaded, validated, saved and reloaded")


# ------------------------------------------------------------- JSON mutations
# Numbers: small ones, and extremes past int64 (they fail fast). Mid-size integers (1e6 to
# 1e18) are left out: as a shape or unit count they make Keras really allocate the weights,
# which takes seconds (or all the memory) without telling anything about error handling.
_EXTREMES = st.sampled_from([2**63, -(2**63) - 1, 10**30, -(10**18)])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 40),
    _EXTREMES,
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.text(max_size=6), children, max_size=3),
    ),
    max_leaves=6,
)
TYPE_NAMES = st.one_of(
    st.sampled_from([
        "Input", "Block", "Dense", "Conv2D", "MaxPooling2D", "Add", "Concatenate", "Flatten",
        "Reshape", "Embedding", "MultiHeadAttention", "Bidirectional", "TimeDistributed",
        "Lambda", "Layer", "InputLayer", "RNN", "Functional", "Sequential", "Model",
        "__class__", "__init__", "dense", "", " Dense",
    ]),
    st.text(max_size=12),
)
INTERESTING_KEYS = st.sampled_from([
    "id", "type", "params", "pos", "call", "shares", "graph", "inputs", "outputs", "edges",
    "nodes", "from", "to", "port", "index", "node", "model", "graph", "weights", "name",
    "description", "data", "training", "version", "format", "shape", "units", "filters",
    "kernel_size", "strides", "padding", "activation", "rate", "axis", "batch_size", "dtype",
])
# Hypothesis favours the first entries (and shrinks towards them), so the mutations that keep a
# loadable document come first and are repeated: most examples should reach the validator
# rather than stop at the loader.
MUTATIONS = ("param", "node_type", "edge_end", "add_key", "duplicate", "replace", "delete",
             "truncate", "share", "block", "section", "version", "format", "param", "param",
             "node_type", "edge_end")

Path_ = tuple  # a JSON path: keys and indices from the document root


def _paths(doc) -> list[Path_]:
    """Every JSON path in ``doc``: the model's nodes first, then the rest, the root last."""

    def rank(path: Path_) -> int:
        return 0 if path[:2] == ("model", "nodes") else 1 if path[:1] == ("model",) else (
            3 if not path else 2)

    return sorted(_all_paths(doc), key=rank)


def _all_paths(value, prefix: Path_ = ()) -> list[Path_]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _all_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _all_paths(item, (*prefix, i))
    return found


def _get(doc, path: Path_):
    for step in path:
        doc = doc[step]
    return doc


def _node_ids(doc) -> list[str]:
    nodes = _section(doc, "nodes")
    ids = [n.get("id") for n in nodes or [] if isinstance(n, dict)]
    return [i for i in ids if isinstance(i, str)]


def _section(doc, key: str) -> list | None:
    model = doc.get("model") if isinstance(doc, dict) else None
    items = model.get(key) if isinstance(model, dict) else None
    return items if isinstance(items, list) else None


def _dicts_in(items: list | None) -> list[dict]:
    return [item for item in items or [] if isinstance(item, dict)]


def _mutate(data, doc):
    """Apply one random mutation; returns the (possibly new) document."""
    kind = data.draw(st.sampled_from(MUTATIONS), label="mutation")
    paths = _paths(doc)
    ids = _node_ids(doc) or ["image"]
    nodes, edges = _dicts_in(_section(doc, "nodes")), _dicts_in(_section(doc, "edges"))

    if kind == "delete" and len(paths) > 1:
        path = data.draw(st.sampled_from([p for p in paths if p]), label="delete at")
        del _get(doc, path[:-1])[path[-1]]
    elif kind == "truncate" and any(isinstance(_get(doc, p), list) for p in paths):
        path = data.draw(st.sampled_from([p for p in paths if isinstance(_get(doc, p), list)]),
                         label="truncate at")
        items = _get(doc, path)
        del items[data.draw(st.integers(0, len(items)), label="keep"):]
    elif kind == "duplicate" and any(_get(doc, p) and isinstance(_get(doc, p), list)
                                     for p in paths):
        lists = [p for p in paths if isinstance(_get(doc, p), list) and _get(doc, p)]
        # Nodes and edges are what duplication is mostly about: offer them first.
        preferred = [p for p in lists if p in (("model", "nodes"), ("model", "edges"))]
        path = data.draw(st.sampled_from(preferred + lists), label="duplicate in")
        items = _get(doc, path)
        item = items[data.draw(st.integers(0, len(items) - 1), label="item")]
        items.insert(data.draw(st.integers(0, len(items)), label="to"), copy.deepcopy(item))
    elif kind == "add_key" and any(isinstance(_get(doc, p), dict) for p in paths):
        dicts = [p for p in paths if isinstance(_get(doc, p), dict)]
        # The root, the model and the nodes are where optional keys (inputs, shares, call,
        # graph, weights) mean something: offer them first.
        preferred = [p for p in dicts if len(p) <= 1 or p[:2] == ("model", "nodes")]
        path = data.draw(st.sampled_from(sorted(preferred, key=len) + dicts), label="add key in")
        key = data.draw(st.one_of(INTERESTING_KEYS, st.text(max_size=8)), label="key")
        value = data.draw(st.one_of(JSON_VALUES, st.sampled_from(ids),
                                    st.lists(st.sampled_from(ids), max_size=3)), label="value")
        _get(doc, path)[key] = value
    elif kind == "node_type" and nodes:
        node = data.draw(st.sampled_from(nodes), label="node")
        node["type"] = data.draw(st.one_of(TYPE_NAMES, JSON_VALUES), label="type")
    elif kind == "share" and nodes:
        node = data.draw(st.sampled_from(nodes), label="node")
        blocks = [n["id"] for n in nodes if n.get("type") == "Block" and n.get("id") in ids]
        node["shares"] = data.draw(st.one_of(st.sampled_from(blocks + ids), JSON_VALUES),
                                   label="shares")
    elif kind == "block" and nodes:
        # Turn a node into a Block holding a whole (valid) model from the bundled experiments.
        node = data.draw(st.sampled_from(nodes), label="node")
        inner = data.draw(st.sampled_from(sorted(DOCUMENTS)), label="block model")
        node["type"], node["graph"] = "Block", copy.deepcopy(DOCUMENTS[inner]["model"])
    elif kind == "edge_end" and edges:
        edge = data.draw(st.sampled_from(edges), label="edge")
        end = data.draw(st.sampled_from(["from", "to", "port", "index"]), label="end")
        edge[end] = data.draw(
            st.one_of(st.sampled_from(ids), st.sampled_from(ids), st.just("ghost"),
                      st.integers(-2, 3), JSON_VALUES),
            label="new end",
        )
    elif kind == "param" and any(isinstance(n.get("params"), dict) for n in nodes):
        node = data.draw(st.sampled_from([n for n in nodes if isinstance(n.get("params"), dict)]),
                         label="node")
        params = node["params"]
        key = data.draw(st.one_of(st.sampled_from(sorted(params) or ["units"]), INTERESTING_KEYS,
                                  st.text(max_size=8)), label="param")
        params[key] = data.draw(JSON_VALUES, label="param value")
    elif kind == "section" and isinstance(doc, dict):
        # The free-form parts: data, training, a node's call arguments, unknown top-level keys.
        targets = [doc.setdefault("data", {}), doc.setdefault("training", {}), doc]
        targets += [n.setdefault("call", {}) for n in nodes]
        section = data.draw(st.sampled_from([t for t in targets if isinstance(t, dict)]),
                            label="section")
        key = data.draw(st.one_of(st.sampled_from(sorted(section) or ["x"]), st.text(max_size=8)),
                        label="key")
        section[key] = data.draw(st.one_of(st.floats(), JSON_VALUES), label="value")
    elif kind == "version" and isinstance(doc, dict):
        doc["version"] = data.draw(
            st.one_of(st.integers(-3, 3), st.sampled_from([99, 2**64, 1.0, True, "1"]),
                      JSON_VALUES),
            label="version",
        )
    elif kind == "format" and isinstance(doc, dict):
        doc["format"] = data.draw(
            st.one_of(st.sampled_from([FORMAT.upper(), FORMAT + " ", "keras-workbench/model",
                                       FORMAT + "/2"]), st.text(max_size=12), JSON_VALUES),
            label="format",
        )
    else:  # "replace", or a mutation that does not apply to what is left of the document
        path = data.draw(st.sampled_from(paths), label="replace at")
        value = data.draw(JSON_VALUES, label="replacement")
        if not path:
            return value
        _get(doc, path[:-1])[path[-1]] = value
    return doc


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_mutated_documents_fail_only_with_workbench_errors(keras, data):
    name = data.draw(st.sampled_from(sorted(DOCUMENTS)), label="experiment")
    doc = copy.deepcopy(DOCUMENTS[name])
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        doc = _mutate(data, doc)
    _load_and_validate(lambda: Experiment.from_dict(doc, LABEL), LABEL)


# -------------------------------------------------------------- text mutations
JSON_BYTES = st.sampled_from([c.encode() for c in '{}[]":,.-+0123456789eEtfnul\\ \n'])
ANY_BYTE = st.integers(0, 255).map(lambda b: bytes([b]))
TEXT_MUTATIONS = ("truncate", "flip", "insert", "insert_run", "delete_span")


def _mutate_bytes(data, raw: bytearray) -> bytearray:
    kind = data.draw(st.sampled_from(TEXT_MUTATIONS), label="text mutation")
    pos = data.draw(st.integers(0, len(raw)), label="position")
    if kind == "truncate":
        del raw[pos:]
    elif kind == "flip" and pos < len(raw):
        raw[pos:pos + 1] = data.draw(st.one_of(JSON_BYTES, ANY_BYTE), label="byte")
    elif kind == "insert_run":
        # A long run of one character: deep nesting, a huge number, a long string.
        char = data.draw(st.sampled_from([b"[", b"{", b"9", b"0", b"-", b'"', b"\xff", b" "]),
                         label="run of")
        raw[pos:pos] = char * data.draw(st.integers(1, 6000), label="length")
    elif kind == "delete_span":
        del raw[pos:pos + data.draw(st.integers(1, 40), label="span")]
    else:
        inserted = data.draw(st.one_of(st.sampled_from([b"NaN", b"Infinity", b"-Infinity",
                                                        b"1e999", b"null", b"\\u0000"]),
                                       st.binary(min_size=1, max_size=4),
                                       st.text(min_size=1, max_size=4).map(
                                           lambda t: t.encode("utf-8", "surrogatepass")),
                                       JSON_BYTES), label="inserted")
        raw[pos:pos] = inserted
    return raw


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_mutated_files_fail_only_with_workbench_errors(keras, fuzz_dir, data):
    name = data.draw(st.sampled_from(sorted(RAW)), label="experiment")
    raw = bytearray(RAW[name])
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        raw = _mutate_bytes(data, raw)
    path = fuzz_dir / LABEL
    path.write_bytes(bytes(raw))
    _load_and_validate(lambda: Experiment.load(path), str(path))


# ------------------------------------------------- regression tests (known bugs)
def _default() -> dict:
    return copy.deepcopy(DOCUMENTS[DEFAULT_EXPERIMENT.name])


def test_unhashable_inputs_entry_is_a_format_error():
    doc = _default()
    doc["model"]["inputs"] = [["image"]]
    with pytest.raises(ExperimentFileError, match=r"model\.inputs"):
        Experiment.from_dict(doc, LABEL)


def test_node_sharing_a_block_is_reported_on_the_node():
    doc = _default()
    doc["model"]["nodes"] += [
        {"id": "blk", "type": "Block", "graph": {
            "nodes": [{"id": "x", "type": "Input", "params": {"shape": [32]}}],
            "edges": [], "outputs": ["x"]}},
        {"id": "again", "type": "Dense", "shares": "blk"},
    ]
    doc["model"]["edges"] += [{"from": "dropout", "to": "blk", "port": 0},
                              {"from": "blk", "to": "again", "port": 0}]
    doc["model"]["outputs"] = ["again"]
    experiment = Experiment.from_dict(doc, LABEL)
    report = validate(experiment.graph)
    assert report.nodes["blk"].output.shape == (None, 32), report.errors()
    # Either sharing a Block is refused on the sharing node, or it is a second call of it.
    again = report.nodes["again"]
    assert any(node == "again" for node, _ in report.errors()) or (
        again.output is not None and again.output.shape == (None, 32))


def test_huge_integer_literal_is_an_experiment_file_error(tmp_path):
    # Found by the text fuzzer: json.loads raises a plain ValueError past 4300 digits.
    path = tmp_path / "big.json"
    text = RAW[DEFAULT_EXPERIMENT.name].decode()
    path.write_text(text.replace('"version": 1', '"version": 1' + "0" * 5000))
    with pytest.raises(ExperimentFileError, match="big.json"):
        Experiment.load(path)


def test_nan_outside_params_is_refused_on_load_or_saved(tmp_path):
    path = tmp_path / "nan.json"
    text = RAW[DEFAULT_EXPERIMENT.name].decode()
    path.write_text(text.replace('"validation_split": 0.2', '"validation_split": NaN'))
    try:
        experiment = Experiment.load(path)
    except ExperimentFileError as error:  # refusing it on load is a fine fix too
        assert "nan.json: data" in str(error)
        return
    saved = experiment.save(tmp_path / "saved.json")
    assert Experiment.load(saved).to_dict() == experiment.to_dict()


def test_every_bundled_experiment_loads_and_validates_unmutated():
    # The fuzzers start from these: they must be valid, or every mutation starts broken.
    for path in SOURCES:
        experiment = Experiment.load(path)
        report = validate(experiment.graph)
        assert report.ok, (path.name, report.errors())
        assert report.total_params > 0
